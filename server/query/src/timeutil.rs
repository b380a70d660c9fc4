//! Timestamps (ISO-8601 <-> UTC ns), durations ("1 hour") and calendar truncation in
//! UTC or any IANA zone.

use chrono::{
    DateTime, Datelike, Duration as CDuration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

pub use arrayq_storage::time::NS_PER_SEC;

/// The metadata of a column showing a time dimension's coordinates as int64 UTC
/// nanoseconds: the dimension's own descriptions, with `units` saying what the
/// numbers are (whatever units the dimension was loaded with).
pub fn time_column_metadata(dim: &arrayq_storage::MetadataMap) -> arrayq_storage::MetadataMap {
    let mut m = dim.clone();
    m.insert("units".into(), arrayq_storage::time::UNIX_NS_UNITS.into());
    m.insert("calendar".into(), "proleptic_gregorian".into());
    m
}

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

/// A duration as text in its largest whole unit: `1 hour`, `30 days`, `15 minutes`,
/// `90 seconds`, else `N ns` (what [`parse_duration`] reads back).
pub fn format_duration(ns: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (7 * 86400 * 1_000_000_000, "week"),
        (86400 * 1_000_000_000, "day"),
        (3600 * 1_000_000_000, "hour"),
        (60 * 1_000_000_000, "minute"),
        (1_000_000_000, "second"),
    ];
    for (u, name) in UNITS {
        if ns % u == 0 {
            let n = ns / u;
            return format!("{n} {name}{}", if n == 1 { "" } else { "s" });
        }
    }
    format!("{ns} ns")
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

/// The start (UTC ns) of the `stride`-long bin holding `ns`, bins counted from
/// `origin` (PostgreSQL's `date_bin`). In a zone the bins are counted on the local
/// wall clock (`origin` is then a wall-clock reading, as ns since the epoch) and a
/// bin starts at the first instant of its local start, as `date_trunc` does.
pub fn date_bin(ns: i64, stride: i64, origin: i64, tz: Option<Tz>) -> i64 {
    // i128: a bin far from its origin must not overflow.
    let floor = |t: i64| {
        let (t, o, s) = (t as i128, origin as i128, stride as i128);
        (o + (t - o).div_euclid(s) * s).clamp(i64::MIN as i128, i64::MAX as i128) as i64
    };
    match tz {
        None => floor(ns),
        Some(tz) => {
            let utc = DateTime::<Utc>::from_timestamp_nanos(ns);
            let wall = utc.with_timezone(&tz).naive_local().and_utc();
            let start = floor(wall.timestamp_nanos_opt().unwrap_or(ns));
            local_to_utc(
                &tz,
                DateTime::<Utc>::from_timestamp_nanos(start).naive_utc(),
            )
            .unwrap_or(ns)
        }
    }
}

/// Whether an ISO-8601 timestamp says its offset (`Z`, `+01:00`, `-0500`) rather than
/// being a wall-clock reading.
pub fn has_offset(s: &str) -> bool {
    let s = s.trim();
    // The time of day starts after the date (10 characters, then 'T' or ' ').
    s.get(11..)
        .is_some_and(|t| t.ends_with(['Z', 'z']) || t.contains(['+', '-']))
}

/// Calendar components of `extract(field FROM time)`, as PostgreSQL numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Year,
    Quarter,
    Month,
    /// ISO week of the year (1..53).
    Week,
    /// Day of the month (1..31).
    Day,
    /// Day of the year (1..366).
    Doy,
    /// Day of the week, Sunday = 0 .. Saturday = 6.
    Dow,
    /// Day of the week, Monday = 1 .. Sunday = 7.
    IsoDow,
    Hour,
    Minute,
}

impl Field {
    pub const NAMES: [&'static str; 10] = [
        "year", "quarter", "month", "week", "day", "doy", "dow", "isodow", "hour", "minute",
    ];

    pub fn parse(s: &str) -> Option<Field> {
        let k = Field::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s.trim()))?;
        Some(
            [
                Field::Year,
                Field::Quarter,
                Field::Month,
                Field::Week,
                Field::Day,
                Field::Doy,
                Field::Dow,
                Field::IsoDow,
                Field::Hour,
                Field::Minute,
            ][k],
        )
    }

    pub fn name(self) -> &'static str {
        Field::NAMES[self as usize]
    }
}

/// The calendar component `field` of the instant `ns`, in UTC or on the wall clock
/// of `tz`.
pub fn extract(ns: i64, field: Field, tz: Option<Tz>) -> i64 {
    let utc = DateTime::<Utc>::from_timestamp_nanos(ns);
    let t = match tz {
        None => utc.naive_utc(),
        Some(tz) => utc.with_timezone(&tz).naive_local(),
    };
    (match field {
        Field::Year => return t.year() as i64,
        Field::Quarter => (t.month() - 1) / 3 + 1,
        Field::Month => t.month(),
        Field::Week => t.iso_week().week(),
        Field::Day => t.day(),
        Field::Doy => t.ordinal(),
        Field::Dow => t.weekday().num_days_from_sunday(),
        Field::IsoDow => t.weekday().number_from_monday(),
        Field::Hour => t.hour(),
        Field::Minute => t.minute(),
    }) as i64
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

    #[test]
    fn bins_and_components() {
        let o = parse_instant("2023-01-01T00:00:00Z").unwrap();
        let h3 = parse_duration("3 hours").unwrap();
        let t = parse_instant("2023-01-01T05:59:00Z").unwrap();
        assert_eq!(
            format_instant(date_bin(t, h3, o, None)),
            "2023-01-01T03:00:00Z"
        );
        let before = parse_instant("2022-12-31T23:00:00Z").unwrap();
        assert_eq!(
            format_instant(date_bin(before, h3, o, None)),
            "2022-12-31T21:00:00Z"
        );
        // Local 3-hour bins in Amsterdam (UTC+1 in winter): 05:59Z is 06:59 local, in
        // the bin from local 06:00, which is 05:00Z.
        let tz = parse_tz("Europe/Amsterdam").unwrap();
        assert_eq!(
            format_instant(date_bin(t, h3, o, Some(tz))),
            "2023-01-01T05:00:00Z"
        );
        assert!(has_offset("2023-01-01T00:00:00Z") && has_offset("2023-01-01 00:00+01:00"));
        assert!(!has_offset("2023-01-01T00:00:00") && !has_offset("2023-01-01"));
        // 2023-01-01 is a Sunday.
        assert_eq!(extract(t, Field::Dow, None), 0);
        assert_eq!(extract(t, Field::IsoDow, None), 7);
        assert_eq!(extract(t, Field::Week, None), 52);
        assert_eq!(extract(t, Field::Hour, Some(tz)), 6);
        let d = parse_instant("2024-12-31T12:00:00Z").unwrap();
        assert_eq!(extract(d, Field::Doy, None), 366);
        assert_eq!(extract(d, Field::Quarter, None), 4);
        assert_eq!(Field::parse("DOY"), Some(Field::Doy));
    }
}
