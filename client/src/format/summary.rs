//! Summaries of large results: shape, coordinate ranges and per-column
//! statistics, with a sparkline or heat maps (`chart`); numbers for people.

use arrayq_format::{with_buffer, Buffer};

use super::cell::Cell;
use super::chart::{heatmap, sparkline};
use super::table::{render_table, DisplayOptions};
use crate::result::{format_f64, Coords, QueryResult};

/// min, mean, max over the non-NaN values, and the NaN count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColumnStats {
    /// Smallest non-NaN value (NaN if none).
    pub min: f64,
    /// Mean of the non-NaN values (NaN if none).
    pub mean: f64,
    /// Largest non-NaN value (NaN if none).
    pub max: f64,
    /// Number of NaN values.
    pub nan: usize,
    /// Number of non-NaN values.
    pub count: usize,
}

/// Statistics of a buffer's values.
pub fn column_stats(b: &Buffer) -> ColumnStats {
    let mut s = ColumnStats {
        min: f64::INFINITY,
        mean: 0.0,
        max: f64::NEG_INFINITY,
        nan: 0,
        count: 0,
    };
    let mut sum = 0.0f64;
    with_buffer!(b, a => {
        for v in a.iter() {
            let x = v.as_f64();
            if x.is_nan() {
                s.nan += 1;
            } else {
                s.count += 1;
                sum += x;
                s.min = s.min.min(x);
                s.max = s.max.max(x);
            }
        }
    });
    if s.count == 0 {
        s.min = f64::NAN;
        s.max = f64::NAN;
        s.mean = f64::NAN;
    } else {
        s.mean = sum / s.count as f64;
    }
    s
}

/// A number for people: integers as such, others with 6 significant digits.
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return format_f64(x);
    }
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let mag = x.abs().log10().floor() as i32;
    if !(-4..15).contains(&mag) {
        return format!("{x:.5e}");
    }
    let decimals = (5 - mag).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Thousands separators for counts: 2063664 -> "2,063,664".
pub fn fmt_count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn coord_range(c: &Coords, n: usize) -> String {
    if n == 0 {
        return "(empty)".into();
    }
    let first = c.text(0);
    if n == 1 {
        return first;
    }
    let last = c.text(n - 1);
    let step = match c {
        Coords::Regular { step, .. } => format!(", step {}", format_f64(*step)),
        Coords::Time { step_ns, .. } => format!(", step {}", fmt_duration_ns(*step_ns)),
        _ => String::new(),
    };
    format!("{first} .. {last}{step}")
}

/// Units of whole durations, largest first: nanoseconds, short and long name.
const DURATION_UNITS: [(i64, &str, &str); 6] = [
    (86_400_000_000_000, "d", "day"),
    (3_600_000_000_000, "h", "hour"),
    (60_000_000_000, "min", "minute"),
    (1_000_000_000, "s", "second"),
    (1_000_000, "ms", "ms"),
    (1_000, "us", "us"),
];

/// `ns` as a whole number of the largest unit that divides it: the number and
/// the unit's short and long name (None: zero, or not whole microseconds).
pub fn whole_duration(ns: i64) -> Option<(i64, &'static str, &'static str)> {
    DURATION_UNITS
        .iter()
        .find(|(u, _, _)| ns != 0 && ns % u == 0)
        .map(|&(u, short, long)| (ns / u, short, long))
}

fn fmt_duration_ns(ns: i64) -> String {
    match whole_duration(ns) {
        Some((n, short, _)) => format!("{n}{short}"),
        None => format!("{ns}ns"),
    }
}

/// The summary of a large result (see [`render_result`]).
pub fn render_summary(r: &QueryResult, opts: &DisplayOptions) -> String {
    let mut out = String::new();
    let dims: Vec<String> = r
        .dims
        .iter()
        .zip(&r.shape)
        .map(|(d, n)| format!("{}={n}", d.name))
        .collect();
    out.push_str(&format!(
        "{} cells: {}\n",
        fmt_count(r.len()),
        dims.join(" x ")
    ));
    for (d, n) in r.dims.iter().zip(&r.shape) {
        out.push_str(&format!("  {}: {}\n", d.name, coord_range(&d.coords, *n)));
    }
    let headers: Vec<String> = ["column", "type", "min", "mean", "max", "NaN"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut rows = Vec::new();
    let mut stats = Vec::new();
    for c in &r.columns {
        let Some(numbers) = c.values.numbers() else {
            // Text has no statistics.
            rows.push(vec![c.name.clone(), "string".into()]);
            stats.push(ColumnStats {
                min: f64::NAN,
                mean: f64::NAN,
                max: f64::NAN,
                nan: 0,
                count: 0,
            });
            continue;
        };
        let s = column_stats(numbers);
        rows.push(vec![
            c.name.clone(),
            c.column_type().to_string(),
            fmt_num(s.min),
            fmt_num(s.mean),
            fmt_num(s.max),
            fmt_count(s.nan),
        ]);
        stats.push(s);
    }
    let table = render_table(&headers, &rows, &[false, false, true, true, true, true]);
    // Drop the "(N rows)" line: it would read as a row count of the result.
    let table = table
        .trim_end()
        .rsplit_once('\n')
        .map_or(table.as_str(), |(t, _)| t);
    out.push_str(table);
    out.push('\n');
    let numeric: Vec<usize> = (0..r.columns.len())
        .filter(|&k| stats[k].count > 0)
        .collect();
    match r.shape.len() {
        1 => {
            let label_w = numeric
                .iter()
                .map(|&k| r.columns[k].name.chars().count())
                .max()
                .unwrap_or(0);
            let width = opts.width.saturating_sub(label_w + 3).clamp(8, 200);
            for &k in &numeric {
                let v = r.values_f64(k);
                out.push_str(&format!(
                    "{:<label_w$}  {}\n",
                    r.columns[k].name,
                    sparkline(&v, width)
                ));
            }
        }
        2 => {
            for &k in numeric.iter().take(4) {
                out.push('\n');
                out.push_str(&heatmap(r, k, opts));
            }
        }
        _ => {}
    }
    out
}
