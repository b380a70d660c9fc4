//! CF time axes: `<unit> since <instant>` in a calendar without gaps, the same
//! for NetCDF variables and Zarr arrays.

use arrayq_format::time::parse_unix_ns;

/// A CF time axis: `<unit> since <instant>` in a calendar without gaps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeUnits {
    pub unit_ns: i64,
    pub epoch_ns: i64,
}

impl TimeUnits {
    /// Parses `units` (`hours since 1900-01-01 00:00:00.0`, `seconds since
    /// 1970-01-01`, `days since 2023-01-01T00:00:00Z`) for `calendar`.
    pub fn parse(units: &str, calendar: Option<&str>) -> Result<TimeUnits, String> {
        match calendar.map(|c| c.to_ascii_lowercase()) {
            None => {}
            Some(c) if ["standard", "gregorian", "proleptic_gregorian"].contains(&c.as_str()) => {}
            Some(c) => {
                return Err(format!(
                "calendar '{c}' is not supported (standard, gregorian and proleptic_gregorian are)"
            ))
            }
        }
        let (unit, since) = units
            .split_once(" since ")
            .ok_or_else(|| format!("time units '{units}' are not '<unit> since <date>'"))?;
        let unit_ns = match unit.trim().to_ascii_lowercase().as_str() {
            "days" | "day" | "d" => 86_400_000_000_000,
            "hours" | "hour" | "hr" | "h" => 3_600_000_000_000,
            "minutes" | "minute" | "min" => 60_000_000_000,
            "seconds" | "second" | "sec" | "s" => 1_000_000_000,
            "milliseconds" | "millisecond" | "ms" => 1_000_000,
            "microseconds" | "microsecond" | "us" => 1_000,
            other => return Err(format!("time unit '{other}' is not supported")),
        };
        Ok(TimeUnits {
            unit_ns,
            epoch_ns: parse_reference(since.trim())
                .ok_or_else(|| format!("cannot read the reference time of '{units}'"))?,
        })
    }

    /// A time value (in units) as UTC nanoseconds, rounded to whole microseconds
    /// (stored float times carry rounding error).
    pub fn to_ns(self, v: f64) -> i64 {
        let ns = v * self.unit_ns as f64;
        self.epoch_ns + ((ns / 1000.0).round() as i64) * 1000
    }
}

/// `1900-01-01`, `1900-01-01 00:00:00.0`, `1970-01-01T00:00:00Z`, `... +00:00`.
fn parse_reference(s: &str) -> Option<i64> {
    if let Ok(ns) = parse_unix_ns(s) {
        return Some(ns);
    }
    let mut parts = s.split_whitespace();
    let date = parts.next()?;
    let time = parts.next().unwrap_or("00:00:00");
    let zone = parts.next();
    if date.contains('T') {
        let t = if date.ends_with('Z') || date[10..].contains(['+', '-']) {
            date.to_string()
        } else {
            format!("{date}Z")
        };
        return parse_unix_ns(&t).ok();
    }
    let zone = match zone {
        None | Some("UTC") | Some("utc") | Some("Z") => "Z".to_string(),
        Some(z) if z.starts_with(['+', '-']) && z.len() == 3 => format!("{z}:00"),
        Some(z) => z.to_string(),
    };
    let (y, rest) = date.split_once('-')?;
    let (m, d) = rest.split_once('-')?;
    let text = format!("{:0>4}-{:0>2}-{:0>2}T{}{zone}", y, m, d, pad_time(time));
    parse_unix_ns(&text).ok()
}

fn pad_time(t: &str) -> String {
    let mut f = t.split(':');
    let h = f.next().unwrap_or("0");
    let m = f.next().unwrap_or("0");
    let s = f.next().unwrap_or("0");
    let (s, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{h:0>2}:{m:0>2}:{s:0>2}")
    } else {
        format!("{h:0>2}:{m:0>2}:{s:0>2}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn era5_time_units_decode() {
        let u = TimeUnits::parse("hours since 1900-01-01 00:00:00.0", Some("gregorian")).unwrap();
        // 2023-01-01T00:00:00Z is 1078200 hours after 1900-01-01.
        assert_eq!(u.to_ns(1_078_200.0), 1_672_531_200_000_000_000);
        let u = TimeUnits::parse("seconds since 1970-01-01", None).unwrap();
        assert_eq!(u.to_ns(1_672_531_200.0), 1_672_531_200_000_000_000);
        let u = TimeUnits::parse("days since 2023-01-01T00:00:00Z", Some("standard")).unwrap();
        assert_eq!(u.to_ns(0.5), 1_672_574_400_000_000_000);
        assert!(TimeUnits::parse("days since 2000-01-01", Some("noleap")).is_err());
        assert!(TimeUnits::parse("fortnights since 2000-01-01", None).is_err());
    }
}
