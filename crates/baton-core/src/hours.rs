//! Business hours of a queue: an IANA time zone, weekly opening intervals and holidays.
//!
//! Local times are interpreted in the zone with jiff's bundled tz database, so daylight-saving
//! changes are handled: "09:00" is 09:00 on the wall clock on both sides of a transition. An
//! opening time that falls in a spring-forward gap opens at the first valid instant after it.

use crate::time::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a calendar was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CalendarError {
    /// The offending field, e.g. `weekly.mon[0]` or `tz`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// The wire form: `{"tz": "Europe/Berlin", "weekly": {"mon": [["09:00", "17:00"]]}, "holidays": ["2025-12-25"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarSpec {
    /// IANA time zone name.
    pub tz: String,
    /// Opening intervals per weekday (`mon`..`sun`), `["HH:MM", "HH:MM"]`, end exclusive;
    /// `"24:00"` means midnight at the end of the day. Missing days are closed.
    #[serde(default)]
    pub weekly: BTreeMap<String, Vec<[String; 2]>>,
    /// Dates (`YYYY-MM-DD`, local) when the queue is closed all day.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// A validated calendar.
#[derive(Debug, Clone)]
pub struct Calendar {
    spec: CalendarSpec,
    tz: TimeZone,
    /// Per weekday (Monday = 0), sorted, non-overlapping (start, end) in seconds of the day.
    weekly: [Vec<(i32, i32)>; 7],
    holidays: Vec<Date>,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_hm(s: &str) -> Option<i32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m) || (h == 24 && m == 0))
        .then_some(h * 3600 + m * 60)
}

fn err<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, CalendarError> {
    Err(CalendarError {
        field: field.into(),
        message: message.into(),
    })
}

impl Calendar {
    /// Validates a spec: known zone, known weekdays, `HH:MM` times with start < end,
    /// non-overlapping intervals, `YYYY-MM-DD` holidays.
    pub fn new(spec: CalendarSpec) -> Result<Calendar, CalendarError> {
        let tz = match TimeZone::get(&spec.tz) {
            Ok(tz) => tz,
            Err(_) => return err("tz", format!("unknown IANA time zone '{}'", spec.tz)),
        };
        let mut weekly: [Vec<(i32, i32)>; 7] = Default::default();
        for (day, intervals) in &spec.weekly {
            let Some(d) = DAYS.iter().position(|x| x == day) else {
                return err(
                    format!("weekly.{day}"),
                    "unknown weekday, expected mon, tue, wed, thu, fri, sat or sun",
                );
            };
            for (i, [a, b]) in intervals.iter().enumerate() {
                let field = format!("weekly.{day}[{i}]");
                let (Some(s), Some(e)) = (parse_hm(a), parse_hm(b)) else {
                    return err(
                        field,
                        format!("times must be HH:MM (00:00 to 24:00), got [{a:?}, {b:?}]"),
                    );
                };
                if s >= e {
                    return err(
                        field,
                        format!(
                            "opening {a} must be before closing {b} (split overnight hours over two days)"
                        ),
                    );
                }
                weekly[d].push((s, e));
            }
            weekly[d].sort_unstable();
            if weekly[d].windows(2).any(|w| w[0].1 > w[1].0) {
                return err(format!("weekly.{day}"), "intervals overlap");
            }
        }
        let mut holidays = Vec::with_capacity(spec.holidays.len());
        for (i, h) in spec.holidays.iter().enumerate() {
            match h.parse::<Date>() {
                Ok(d) => holidays.push(d),
                Err(_) => {
                    return err(
                        format!("holidays[{i}]"),
                        format!("expected a date YYYY-MM-DD, got {h:?}"),
                    );
                }
            }
        }
        holidays.sort_unstable();
        Ok(Calendar {
            spec,
            tz,
            weekly,
            holidays,
        })
    }

    /// Parses and validates the JSON form.
    pub fn parse(json: &str) -> Result<Calendar, CalendarError> {
        let spec: CalendarSpec = serde_json::from_str(json).map_err(|e| CalendarError {
            field: "/".into(),
            message: e.to_string(),
        })?;
        Calendar::new(spec)
    }

    /// A calendar that is always open, in UTC.
    pub fn always_open() -> Calendar {
        let weekly = DAYS
            .iter()
            .map(|d| {
                (
                    d.to_string(),
                    vec![["00:00".to_string(), "24:00".to_string()]],
                )
            })
            .collect();
        Calendar::new(CalendarSpec {
            tz: "UTC".into(),
            weekly,
            holidays: vec![],
        })
        .unwrap_or_else(|_| unreachable!("static calendar is valid"))
    }

    /// The spec it was built from.
    pub fn spec(&self) -> &CalendarSpec {
        &self.spec
    }

    fn day_index(w: Weekday) -> usize {
        w.to_monday_zero_offset() as usize
    }

    fn zoned(&self, t: Timestamp) -> Option<jiff::Zoned> {
        let ts = jiff::Timestamp::from_millisecond(t.millis()).ok()?;
        Some(ts.to_zoned(self.tz.clone()))
    }

    /// Whether the queue is open at `t`.
    pub fn is_open(&self, t: Timestamp) -> bool {
        let Some(z) = self.zoned(t) else { return false };
        let date = z.date();
        if self.holidays.binary_search(&date).is_ok() {
            return false;
        }
        let tm = z.time();
        let secs = tm.hour() as i32 * 3600 + tm.minute() as i32 * 60 + tm.second() as i32;
        self.weekly[Self::day_index(date.weekday())]
            .iter()
            .any(|&(s, e)| s <= secs && secs < e)
    }

    /// The local instant `secs` after midnight of `date`, DST-resolved (gaps move forward).
    fn instant(&self, date: Date, secs: i32) -> Option<Timestamp> {
        let (d, secs) = if secs >= 86_400 {
            (date.tomorrow().ok()?, secs - 86_400)
        } else {
            (date, secs)
        };
        let time = Time::new((secs / 3600) as i8, ((secs % 3600) / 60) as i8, 0, 0).ok()?;
        let dt = d.to_datetime(time);
        let later = dt.to_zoned(self.tz.clone()).ok()?;
        let at = Timestamp::from_millis(later.timestamp().as_millisecond());
        if later.datetime() == dt {
            return Some(at);
        }
        // `dt` is in a spring-forward gap: open at the first instant after the gap, found by
        // bisection between the instants just before and after it.
        let before = self.tz.to_ambiguous_zoned(dt).earlier().ok()?;
        let (mut lo, mut hi) = (before.timestamp().as_millisecond(), at.millis());
        while hi - lo > 1000 {
            let mid = lo + (hi - lo) / 2;
            if self.is_open(Timestamp::from_millis(mid)) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(Timestamp::from_millis(hi - hi.rem_euclid(1000)))
    }

    /// Milliseconds of opening time between `from` and `to` (0 when `to` is not after `from`):
    /// a wait that spans a night counts only the open hours on either side.
    pub fn open_millis_between(&self, from: Timestamp, to: Timestamp) -> i64 {
        if to <= from {
            return 0;
        }
        let (Some(start), Some(end)) = (self.zoned(from), self.zoned(to)) else {
            return 0;
        };
        let (mut date, last) = (start.date(), end.date());
        let mut total = 0;
        while date <= last {
            if self.holidays.binary_search(&date).is_err() {
                for &(s, e) in &self.weekly[Self::day_index(date.weekday())] {
                    if let (Some(open), Some(close)) =
                        (self.instant(date, s), self.instant(date, e))
                    {
                        let (a, b) = (open.max(from), close.min(to));
                        if b > a {
                            total += b.millis_since(a);
                        }
                    }
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        total
    }

    /// Local midnight starting `date` (`YYYY-MM-DD`) in the calendar's zone.
    pub fn start_of_day(&self, date: &str) -> Option<Timestamp> {
        let date: Date = date.parse().ok()?;
        let z = date.to_zoned(self.tz.clone()).ok()?;
        Some(Timestamp::from_millis(z.timestamp().as_millisecond()))
    }

    /// Local midnight ending `date` (the start of the next day), so a range "to" a date
    /// includes that whole day, 23 or 25 hours long on DST days.
    pub fn end_of_day(&self, date: &str) -> Option<Timestamp> {
        let date: Date = date.parse().ok()?;
        self.start_of_day(&date.tomorrow().ok()?.to_string())
    }

    /// The local day of `t` in the calendar's zone, `YYYY-MM-DD`.
    pub fn local_day(&self, t: Timestamp) -> String {
        self.zoned(t)
            .map(|z| z.date().to_string())
            .unwrap_or_default()
    }

    /// Every local day from the day of `from` to the day of `to` (inclusive; at most 3660).
    pub fn local_days(&self, from: Timestamp, to: Timestamp) -> Vec<String> {
        let (Some(start), Some(end)) = (self.zoned(from), self.zoned(to)) else {
            return vec![];
        };
        let (mut date, last) = (start.date(), end.date());
        let mut out = vec![];
        while date <= last && out.len() < 3660 {
            out.push(date.to_string());
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        out
    }

    /// The next instant at or after `t` when the queue is open (`t` itself if open), looking
    /// up to a year ahead; `None` if it never opens in that time.
    pub fn next_open(&self, t: Timestamp) -> Option<Timestamp> {
        if self.is_open(t) {
            return Some(t);
        }
        let z = self.zoned(t)?;
        let mut date = z.date();
        for _ in 0..=366 {
            if self.holidays.binary_search(&date).is_err() {
                for &(s, _) in &self.weekly[Self::day_index(date.weekday())] {
                    if let Some(at) = self.instant(date, s)
                        && at > t
                        && self.is_open(at)
                    {
                        return Some(at);
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::from_millis(s.parse::<jiff::Timestamp>().unwrap().as_millisecond())
    }

    fn berlin() -> Calendar {
        Calendar::parse(
            r#"{"tz": "Europe/Berlin",
                "weekly": {"mon": [["09:00","17:00"]], "tue": [["09:00","17:00"]], "wed": [["09:00","12:00"],["13:00","17:00"]],
                           "thu": [["09:00","17:00"]], "fri": [["09:00","17:00"]], "sun": [["01:00","04:00"]]},
                "holidays": ["2025-12-25"]}"#,
        )
        .unwrap()
    }

    #[test]
    fn weekly_hours_and_lunch_break() {
        let c = berlin();
        // Monday 2025-01-06, 09:30 in Berlin (CET, UTC+1) is 08:30Z.
        assert!(c.is_open(ts("2025-01-06T08:30:00Z")));
        assert!(!c.is_open(ts("2025-01-06T07:59:00Z")));
        assert!(
            !c.is_open(ts("2025-01-06T16:00:00Z")),
            "17:00 local: closing is exclusive"
        );
        // Wednesday lunch.
        assert!(!c.is_open(ts("2025-01-08T11:30:00Z")));
        assert_eq!(
            c.next_open(ts("2025-01-08T11:30:00Z")),
            Some(ts("2025-01-08T12:00:00Z"))
        );
        // Saturday: next is Sunday 01:00.
        assert!(!c.is_open(ts("2025-01-11T10:00:00Z")));
        assert_eq!(
            c.next_open(ts("2025-01-11T10:00:00Z")),
            Some(ts("2025-01-12T00:00:00Z"))
        );
    }

    #[test]
    fn holidays_are_closed() {
        let c = berlin();
        // Thursday 2025-12-25 10:00 local.
        assert!(!c.is_open(ts("2025-12-25T09:00:00Z")));
        assert_eq!(
            c.next_open(ts("2025-12-25T09:00:00Z")),
            Some(ts("2025-12-26T08:00:00Z"))
        );
    }

    #[test]
    fn berlin_spring_forward() {
        let c = berlin();
        // Sunday 2025-03-30: 02:00 CET jumps to 03:00 CEST. Open 01:00-04:00 local.
        // 01:30 local is CET (00:30Z); 03:30 local is CEST (01:30Z); the day has only 2 open hours.
        assert!(c.is_open(ts("2025-03-30T00:30:00Z")));
        assert!(c.is_open(ts("2025-03-30T01:30:00Z")));
        assert!(
            !c.is_open(ts("2025-03-30T02:00:00Z")),
            "04:00 CEST is closing time"
        );
        // Monday after: 09:00 CEST is 07:00Z (it was 08:00Z the week before).
        assert!(c.is_open(ts("2025-03-31T07:00:00Z")));
        assert!(!c.is_open(ts("2025-03-24T07:00:00Z")));
        assert_eq!(
            c.next_open(ts("2025-03-31T06:00:00Z")),
            Some(ts("2025-03-31T07:00:00Z"))
        );
    }

    #[test]
    fn opening_in_a_dst_gap_moves_forward() {
        let c =
            Calendar::parse(r#"{"tz": "Europe/Berlin", "weekly": {"sun": [["02:30","05:00"]]}}"#)
                .unwrap();
        // 02:30 does not exist on 2025-03-30; the queue opens at 03:00 CEST = 01:00Z.
        assert_eq!(
            c.next_open(ts("2025-03-29T12:00:00Z")),
            Some(ts("2025-03-30T01:00:00Z"))
        );
    }

    #[test]
    fn new_york_fall_back() {
        let c = Calendar::parse(r#"{"tz": "America/New_York", "weekly": {"sun": [["00:00","03:00"]], "mon": [["09:00","17:00"]]}}"#).unwrap();
        // Sunday 2025-11-02: 02:00 EDT falls back to 01:00 EST, so 00:00-03:00 lasts 4 hours:
        // 04:00Z (00:00 EDT) to 08:00Z (03:00 EST).
        assert!(c.is_open(ts("2025-11-02T04:00:00Z")));
        assert!(c.is_open(ts("2025-11-02T05:30:00Z")), "01:30 EDT");
        assert!(
            c.is_open(ts("2025-11-02T06:30:00Z")),
            "01:30 EST, the repeated hour"
        );
        assert!(c.is_open(ts("2025-11-02T07:59:00Z")));
        assert!(!c.is_open(ts("2025-11-02T08:00:00Z")));
        // Monday 09:00 EST = 14:00Z.
        assert_eq!(
            c.next_open(ts("2025-11-02T08:00:00Z")),
            Some(ts("2025-11-03T14:00:00Z"))
        );
    }

    #[test]
    fn validation_points_at_the_field() {
        let e = Calendar::parse(r#"{"tz": "Mars/Olympus"}"#).unwrap_err();
        assert_eq!(e.field, "tz");
        let e = Calendar::parse(r#"{"tz": "UTC", "weekly": {"mon": [["17:00","09:00"]]}}"#)
            .unwrap_err();
        assert_eq!(e.field, "weekly.mon[0]");
        let e = Calendar::parse(r#"{"tz": "UTC", "weekly": {"monday": []}}"#).unwrap_err();
        assert_eq!(e.field, "weekly.monday");
        let e =
            Calendar::parse(r#"{"tz": "UTC", "weekly": {"mon": [["9:00","10:00"]]}}"#).unwrap_err();
        assert_eq!(e.field, "weekly.mon[0]");
        let e = Calendar::parse(
            r#"{"tz": "UTC", "weekly": {"mon": [["09:00","12:00"],["11:00","13:00"]]}}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("overlap"));
        let e = Calendar::parse(r#"{"tz": "UTC", "holidays": ["25/12/2025"]}"#).unwrap_err();
        assert_eq!(e.field, "holidays[0]");
    }

    #[test]
    fn always_open_and_never_open() {
        assert!(Calendar::always_open().is_open(ts("2025-06-01T03:00:00Z")));
        let closed = Calendar::parse(r#"{"tz": "UTC"}"#).unwrap();
        assert!(!closed.is_open(ts("2025-06-01T03:00:00Z")));
        assert_eq!(closed.next_open(ts("2025-06-01T03:00:00Z")), None);
    }
}
