//! Input every route refuses alike: the NUL character. PostgreSQL cannot store it in text or
//! JSON (it would answer 500) and SQLite would keep it, so both backends refuse it up front with
//! a 422, whether it comes in a JSON body (`\u0000`) or in the URL (`%00`).

use crate::error::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

fn refused(where_: &str) -> ApiError {
    ApiError::invalid(
        "nul_character",
        format!("{where_} must not contain the NUL character (\\u0000)"),
    )
}

/// Whether any string or key of `value` holds a NUL.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// Whether a JSON text decodes to something holding a NUL. Only texts with the escape are
/// parsed; one that does not parse is left to the route (which answers its own 400).
fn json_holds_nul(bytes: &[u8]) -> bool {
    const ESCAPE: &[u8] = b"\\u0000";
    bytes.windows(ESCAPE.len()).any(|w| w == ESCAPE)
        && serde_json::from_slice::<Value>(bytes).is_ok_and(|v| holds_nul(&v))
}

/// Why a body could not be read: too large (`413`), stalled (`408`), or cut off (`400`).
pub fn body_error(e: &axum::Error) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return ApiError::PayloadTooLarge(crate::BODY_LIMIT);
        }
        if s.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::RequestTimeout;
        }
        source = s.source();
    }
    ApiError::BadRequest {
        code: "unreadable_body",
        message: format!("the request body could not be read: {e}"),
    }
}

/// The middleware: 422 `nul_character` for a NUL in the path, the query or a JSON body.
pub async fn refuse_nul(req: Request, next: Next) -> Response {
    let uri = req.uri();
    let in_url = |s: &str| {
        s.as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%00"))
    };
    if in_url(uri.path()) || uri.query().is_some_and(in_url) {
        return refused("the URL").into_response();
    }
    let json = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let ct = ct.to_ascii_lowercase();
            ct.starts_with("application/json") || ct.contains("+json")
        });
    if !json {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, crate::BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return body_error(&e).into_response(),
    };
    if json_holds_nul(&bytes) {
        return refused("text").into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

pub use baton_engine::wire::integral;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_decoded_nul_counts() {
        assert!(json_holds_nul(br#"{"text": "a\u0000b"}"#));
        assert!(json_holds_nul(br#"{"a": [{"b\u0000": 1}]}"#));
        assert!(
            !json_holds_nul(br#"{"text": "a\\u0000b"}"#),
            "an escaped backslash"
        );
        assert!(!json_holds_nul(br#"{"text": "plain"}"#));
    }

    #[derive(Debug, serde::Deserialize)]
    struct Counted {
        #[serde(deserialize_with = "integral::exact")]
        level: u8,
        #[serde(default, deserialize_with = "integral::optional")]
        capacity: Option<u32>,
    }

    #[test]
    fn integers_may_be_written_with_a_zero_fraction() {
        let parse = |s: &str| serde_json::from_str::<Counted>(s);
        let c = parse(r#"{"level": 5.0, "capacity": 50.0}"#).unwrap();
        assert_eq!((c.level, c.capacity), (5, Some(50)));
        let c = parse(r#"{"level": 7}"#).unwrap();
        assert_eq!((c.level, c.capacity), (7, None));
        assert_eq!(
            parse(r#"{"level": 1, "capacity": null}"#).unwrap().capacity,
            None
        );
        assert!(parse(r#"{"level": 5.5}"#).is_err());
        assert!(parse(r#"{"level": 256}"#).is_err());
        assert!(parse(r#"{"level": 256.0}"#).is_err());
        assert!(parse(r#"{"level": -1.0}"#).is_err());
        assert!(parse(r#"{"level": "5"}"#).is_err());
        assert!(parse(r#"{"level": 1e300}"#).is_err());
    }
}
