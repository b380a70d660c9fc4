//! Timestamps (ISO-8601 <-> UTC ns), durations ("1 hour") and calendar truncation in
//! UTC or any IANA zone.

use chrono::{
    DateTime, Datelike, Duration as CDuration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

pub const NS_PER_SEC: i64 = 1_000_000_000;

/// Parses an ISO-8601 instant (the forms of [`arrayq_storage::time::parse_unix_ns`],
/// the one timestamp parser).
pub fn parse_instant(s: &str) -> Option<i64> {
    arrayq_storage::time::parse_unix_ns(s).ok()
}

/// Formats UTC ns with the one timestamp formatter: `2023-01-01T00:00:00Z`,
/// fractional seconds only when present, trailing zeros trimmed.
pub fn format_instant(ns: i64) -> String {
    arrayq_storage::time::format_unix_ns(ns)
}

/// Parses a step: `'1 hour'`, `'15 minutes'`, `'1 day'`, `'30 s'`, `'PT15M'`.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    if let Some(iso) = s.strip_prefix("pt") {
        let (num, unit) = iso.split_at(iso.len().checked_sub(1)?);
        let n: f64 = num.parse().ok()?;
        let u = match unit {
            "h" => 3600,
            "m" => 60,
            "s" => 1,
            _ => return None,
        };
        return Some((n * (u * NS_PER_SEC) as f64).round() as i64);
    }
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num = num.trim();
    let n: f64 = if num.is_empty() {
        1.0
    } else {
        num.parse().ok()?
    };
    let unit_ns: i64 = match unit.trim() {
        "ns" | "nanosecond" | "nanoseconds" => 1,
        "us" | "microsecond" | "microseconds" => 1_000,
        "ms" | "millisecond" | "milliseconds" => 1_000_000,
        "s" | "sec" | "secs" | "second" | "seconds" => NS_PER_SEC,
        "m" | "min" | "mins" | "minute" | "minutes" => 60 * NS_PER_SEC,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600 * NS_PER_SEC,
        "d" | "day" | "days" => 86400 * NS_PER_SEC,
        "w" | "week" | "weeks" => 7 * 86400 * NS_PER_SEC,
        _ => return None,
    };
    let v = (n * unit_ns as f64).round();
    (v > 0.0 && v < 9.0e18).then_some(v as i64)
}

/// Calendar units of `date_trunc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TruncUnit {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl TruncUnit {
    pub fn parse(s: &str) -> Option<TruncUnit> {
        Some(match s.to_ascii_lowercase().as_str() {
            "minute" => TruncUnit::Minute,
            "hour" => TruncUnit::Hour,
            "day" => TruncUnit::Day,
            "week" => TruncUnit::Week,
            "month" => TruncUnit::Month,
            "year" => TruncUnit::Year,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            TruncUnit::Minute => "minute",
            TruncUnit::Hour => "hour",
            TruncUnit::Day => "day",
            TruncUnit::Week => "week",
            TruncUnit::Month => "month",
            TruncUnit::Year => "year",
        }
    }
}

fn trunc_naive(t: NaiveDateTime, unit: TruncUnit) -> NaiveDateTime {
    let d = t.date();
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).unwrap();
    match unit {
        TruncUnit::Minute => d.and_hms_opt(t.hour(), t.minute(), 0).unwrap(),
        TruncUnit::Hour => d.and_hms_opt(t.hour(), 0, 0).unwrap(),
        TruncUnit::Day => midnight(d),
        TruncUnit::Week => midnight(d - CDuration::days(d.weekday().num_days_from_monday() as i64)),
        TruncUnit::Month => midnight(NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap()),
        TruncUnit::Year => midnight(NaiveDate::from_ymd_opt(d.year(), 1, 1).unwrap()),
    }
}

/// The start (UTC ns) of the calendar bucket holding `ns`, in UTC or in `tz`.
/// Weeks start on Monday. In a zone, a bucket starts at the first instant of its
/// local start (local midnight that does not exist because of DST moves forward).
pub fn date_trunc(ns: i64, unit: TruncUnit, tz: Option<Tz>) -> i64 {
    let utc = DateTime::<Utc>::from_timestamp_nanos(ns);
    match tz {
        None => trunc_naive(utc.naive_utc(), unit)
            .and_utc()
            .timestamp_nanos_opt()
            .unwrap_or(ns),
        Some(tz) => {
            let local = utc.with_timezone(&tz).naive_local();
            let start = trunc_naive(local, unit);
            // Sub-hour and hour buckets may be ambiguous (DST fall back): keep the
            // bucket of the actual instant by flooring in UTC for those.
            if matches!(unit, TruncUnit::Minute | TruncUnit::Hour) {
                let step = if unit == TruncUnit::Minute { 60 } else { 3600 } * NS_PER_SEC;
                let off = local.and_utc().timestamp_nanos_opt().unwrap_or(ns) - ns;
                return (ns + off).div_euclid(step) * step - off;
            }
            local_to_utc(&tz, start).unwrap_or(ns)
        }
    }
}

fn local_to_utc(tz: &Tz, mut t: NaiveDateTime) -> Option<i64> {
    for _ in 0..48 {
        match tz.from_local_datetime(&t) {
            chrono::LocalResult::Single(x) => return x.timestamp_nanos_opt(),
            chrono::LocalResult::Ambiguous(a, _) => return a.timestamp_nanos_opt(),
            chrono::LocalResult::None => t += CDuration::minutes(30),
        }
    }
    None
}

pub fn parse_tz(s: &str) -> Option<Tz> {
    s.parse::<Tz>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants() {
        let a = parse_instant("2023-01-01T00:00:00Z").unwrap();
        assert_eq!(a, 1_672_531_200 * NS_PER_SEC);
        assert_eq!(parse_instant("2023-01-01"), Some(a));
        assert_eq!(parse_instant("2023-01-01 01:00:00+01:00"), Some(a));
        assert_eq!(parse_instant("2023-01-01T01:00:00+01:00"), Some(a));
        assert_eq!(format_instant(a), "2023-01-01T00:00:00Z");
        assert_eq!(parse_instant("nope"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1 hour"), Some(3600 * NS_PER_SEC));
        assert_eq!(parse_duration("15 minutes"), Some(900 * NS_PER_SEC));
        assert_eq!(parse_duration("PT15M"), Some(900 * NS_PER_SEC));
        assert_eq!(parse_duration("0 s"), None);
    }

    #[test]
    fn local_days_around_dst() {
        let tz = parse_tz("Europe/Amsterdam").unwrap();
        // 2023-03-26 local day: 2023-03-25T23:00Z .. 2023-03-26T22:00Z (23 h).
        let t = parse_instant("2023-03-26T12:00:00Z").unwrap();
        let d = date_trunc(t, TruncUnit::Day, Some(tz));
        assert_eq!(format_instant(d), "2023-03-25T23:00:00Z");
        let t = parse_instant("2023-03-26T22:30:00Z").unwrap();
        assert_eq!(
            format_instant(date_trunc(t, TruncUnit::Day, Some(tz))),
            "2023-03-26T22:00:00Z"
        );
        let w = parse_instant("2023-01-04T10:00:00Z").unwrap();
        assert_eq!(
            format_instant(date_trunc(w, TruncUnit::Week, None)),
            "2023-01-02T00:00:00Z"
        );
        assert_eq!(
            format_instant(date_trunc(w, TruncUnit::Month, None)),
            "2023-01-01T00:00:00Z"
        );
    }
}
