//! The one text form of timestamps (UTC nanoseconds since the Unix epoch).
//!
//! Formatting gives RFC 3339 in UTC with a `Z`: `2024-05-01T12:00:00Z`, with a
//! fractional second only when it is non-zero, trimmed of trailing zeros
//! (`2024-05-01T12:00:00.25Z`, `…:00.000000001Z`). Parsing accepts that form, any RFC
//! 3339 offset, and the shorter forms people type (see [`parse_unix_ns`]).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use thiserror::Error;

pub const NS_PER_SEC: i64 = 1_000_000_000;

/// The CF `units` of a result column whose int64 values are timestamps (a time
/// dimension shown as a column: `SELECT time`, the rows of `ORDER BY`): renderers
/// show such a column as timestamps, the Postgres door sends it as `timestamptz`,
/// and CF readers (xarray, netCDF tools) decode it as time.
pub const UNIX_NS_UNITS: &str = "nanoseconds since 1970-01-01 00:00:00";

/// True when a column's `units` say its int64 values are UTC nanoseconds.
pub fn is_unix_ns_units(units: Option<&str>) -> bool {
    units == Some(UNIX_NS_UNITS)
}

/// Formats UTC nanoseconds: `2024-05-01T12:00:00Z`, `2024-05-01T12:00:00.25Z`.
pub fn format_unix_ns(ns: i64) -> String {
    let t = DateTime::<Utc>::from_timestamp_nanos(ns);
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = ns.rem_euclid(NS_PER_SEC);
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// A text that is no timestamp, or one outside the representable range
/// (1677-09-21 .. 2262-04-11).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("'{0}' is not a timestamp (expected ISO-8601 such as 2024-05-01T12:00:00Z, 2024-05-01 12:00 or 2024-05-01)")]
pub struct TimestampError(pub String);

/// Parses a timestamp to UTC nanoseconds: RFC 3339 (`2024-05-01T12:00:00.25Z`,
/// `2024-05-01T14:00:00+02:00`), a space instead of `T`, no zone (then UTC), minute
/// or hour precision (`2024-05-01T12:00`, `2024-05-01T12`), or a bare date (midnight
/// UTC).
pub fn parse_unix_ns(text: &str) -> Result<i64, TimestampError> {
    parse(text.trim()).ok_or_else(|| TimestampError(text.to_string()))
}

fn parse(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt();
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return t.timestamp_nanos_opt();
    }
    let naive = s.strip_suffix(['Z', 'z']).unwrap_or(s);
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, fmt) {
            return t.and_utc().timestamp_nanos_opt();
        }
    }
    // chrono needs minutes in a time; an hour alone is a date plus hours.
    if let Some((date, hour)) = naive.split_once('T') {
        let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        let h: u32 = (hour.len() == 2).then(|| hour.parse().ok())??;
        return d.and_hms_opt(h, 0, 0)?.and_utc().timestamp_nanos_opt();
    }
    let d = NaiveDate::parse_from_str(naive, "%Y-%m-%d").ok()?;
    d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_nanos_opt()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected instants: seconds since the epoch computed by hand
    // (2024-05-01 is day 19844: 54 years of 365 days + 13 leap days + 121 days).
    const MAY_1_2024_NOON_NS: i64 = (19_844 * 86_400 + 12 * 3600) * NS_PER_SEC;

    #[test]
    fn formats_utc_with_trimmed_fraction() {
        assert_eq!(format_unix_ns(0), "1970-01-01T00:00:00Z");
        assert_eq!(MAY_1_2024_NOON_NS, 1_714_564_800_000_000_000);
        assert_eq!(format_unix_ns(MAY_1_2024_NOON_NS), "2024-05-01T12:00:00Z");
        assert_eq!(
            format_unix_ns(MAY_1_2024_NOON_NS + 250_000_000),
            "2024-05-01T12:00:00.25Z"
        );
        assert_eq!(
            format_unix_ns(MAY_1_2024_NOON_NS + 1),
            "2024-05-01T12:00:00.000000001Z"
        );
        assert_eq!(format_unix_ns(-1), "1969-12-31T23:59:59.999999999Z");
        // 2000-02-29 is day 11016.
        assert_eq!(
            format_unix_ns(11_016 * 86_400 * NS_PER_SEC),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(format_unix_ns(i64::MIN), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(format_unix_ns(i64::MAX), "2262-04-11T23:47:16.854775807Z");
    }

    #[test]
    fn parses_what_it_formats_and_what_people_type() {
        for ns in [0, -1, MAY_1_2024_NOON_NS + 250_000_000, i64::MIN, i64::MAX] {
            assert_eq!(parse_unix_ns(&format_unix_ns(ns)), Ok(ns));
        }
        let noon = MAY_1_2024_NOON_NS;
        for text in [
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00.000Z",
            "2024-05-01T14:00:00+02:00",
            "2024-05-01 14:00:00+02:00",
            "2024-05-01T12:00:00",
            "2024-05-01 12:00:00",
            "2024-05-01T12:00",
            "2024-05-01 12:00Z",
            "2024-05-01T12",
            " 2024-05-01T12:00:00z ",
        ] {
            assert_eq!(parse_unix_ns(text), Ok(noon), "{text}");
        }
        assert_eq!(
            parse_unix_ns("2024-05-01"),
            Ok(noon - 12 * 3600 * NS_PER_SEC)
        );
    }

    #[test]
    fn bad_text_is_named() {
        for text in ["", "yesterday", "2024-13-01", "2024-05-01T25", "2300-01-01"] {
            let e = parse_unix_ns(text).unwrap_err();
            assert!(e
                .to_string()
                .starts_with(&format!("'{text}' is not a timestamp")));
        }
    }
}
