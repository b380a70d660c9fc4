//! Timestamp text of the client (coordinates in tables, CSV and JSON; commit times
//! and change events in the shell): ISO-8601 UTC with a `Z`, fractional seconds only
//! when non-zero, trailing zeros trimmed (`2024-05-01T12:00:00Z`,
//! `2024-05-01T12:00:00.25Z`).

/// Unix nanoseconds as ISO-8601 UTC text.
pub fn format_unix_ns(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        // 2024-05-01T12:00:00Z = 19844 days * 86400 s + 12 h after the epoch.
        let noon = (19_844 * 86_400 + 12 * 3600) * 1_000_000_000i64;
        assert_eq!(format_unix_ns(noon), "2024-05-01T12:00:00Z");
        assert_eq!(
            format_unix_ns(noon + 250_000_000),
            "2024-05-01T12:00:00.25Z"
        );
        assert_eq!(format_unix_ns(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix_ns(-1), "1969-12-31T23:59:59.999999999Z");
        // 2000-02-29 (a leap day of a century leap year) is day 11016.
        assert_eq!(
            format_unix_ns(11_016 * 86_400 * 1_000_000_000),
            "2000-02-29T00:00:00Z"
        );
    }
}
