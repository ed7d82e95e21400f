//! The API's wire forms that the engine writes too (bot webhook payloads, the brief, bot
//! settings): one time format, the longest message, and integers as JSON Schema reads them.
//! The server's `dto` and `input` use these.

use baton_core::Timestamp;
use serde_json::Value;

/// Longest message text accepted, in characters.
pub const MAX_TEXT: usize = 20_000;

/// Formats a timestamp as RFC 3339 UTC with millisecond precision.
pub fn rfc3339(ts: Timestamp) -> String {
    let nanos = i128::from(ts.millis()) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// Rewrites core timestamps (integer milliseconds under keys `at` or `*_at`) inside a JSON
/// document as RFC 3339 strings, the API's one time format.
pub fn times_to_rfc3339(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::Number(n) if key == "at" || key.ends_with("_at") => {
                        if let Some(ms) = n.as_i64() {
                            *v = Value::String(rfc3339(Timestamp::from_millis(ms)));
                        }
                    }
                    _ => times_to_rfc3339(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(times_to_rfc3339),
        _ => {}
    }
}

/// Integer request fields that also accept an integral number written with a fraction
/// (`5.0`): JSON Schema's `integer` allows it, and a client computing in floating point may
/// send it. A fraction (`5.5`) or a value out of the field's range is still refused.
/// Use with `#[serde(deserialize_with = "crate::wire::integral::exact")]`, or `::optional`
/// (with `#[serde(default)]`) for an `Option`.
pub mod integral {
    use serde::de::{Deserializer, Error, Unexpected, Visitor};
    use std::fmt;
    use std::marker::PhantomData;

    struct Integral<T>(PhantomData<T>);

    impl<T: TryFrom<i64> + TryFrom<u64>> Visitor<'_> for Integral<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer in range")
        }

        fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
        }

        fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
        }

        fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
            // Exactly representable integers only; 2^63 and beyond fit no field here.
            if v.fract() == 0.0 && v.abs() < 9.2e18 {
                #[allow(clippy::cast_possible_truncation)]
                self.visit_i64(v as i64)
            } else {
                Err(E::invalid_value(Unexpected::Float(v), &self))
            }
        }
    }

    /// An integer, `5` or `5.0`.
    pub fn exact<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i64> + TryFrom<u64>,
    {
        deserializer.deserialize_any(Integral(PhantomData))
    }

    struct OptionalIntegral<T>(PhantomData<T>);

    impl<'de, T: TryFrom<i64> + TryFrom<u64>> Visitor<'de> for OptionalIntegral<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer in range or null")
        }

        fn visit_none<E: Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_unit<E: Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
            exact(d).map(Some)
        }
    }

    /// An optional integer, `5`, `5.0` or `null`.
    pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<i64> + TryFrom<u64>,
    {
        deserializer.deserialize_option(OptionalIntegral(PhantomData))
    }
}
