//! Text forms of results: psql-like tables (plain and expanded), summaries
//! with sparklines and heat maps for large results, CSV and JSON; and error
//! messages with a caret under the offending position.
//!
//! JSON form of a result (one object):
//!
//! ```json
//! {"dims": ["time", "lat"], "shape": [2, 3],
//!  "coords": {"time": ["2023-01-01T00:00:00Z", "2023-01-01T01:00:00Z"], "lat": [72.0, 71.75, 71.5]},
//!  "values": {"t2m": [270.5, 271.0, null, 269.25, 270.0, 270.5]}}
//! ```
//!
//! `values` are row-major over `dims` (the last dimension varies fastest);
//! timestamps are ISO-8601 UTC strings, NaN and infinities are `null`,
//! booleans `true`/`false`, text columns JSON strings. Catalog answers (`SHOW
//! ARRAYS`, `DESCRIBE`, DDL) are results too, with one dimension `row`:
//! `{"dims": ["row"], ..., "values": {"array": ["a", "b"], ...}}`. A scalar result (for example a full aggregate)
//! has `"dims": []`, `"shape": []`, `"coords": {}` and one value per column:
//! `{"values": {"avg": [280.1]}}`.

use std::io::{self, Write};

use arrayq_format::{with_buffer, Buffer, DType};
use ndarray::ArrayD;

use crate::error::{code_name, Error, Position};
use crate::result::{format_f32, format_f64, Column, Coords, QueryResult};
use crate::values::{ColumnType, ColumnValues};
use arrayq_format::time::format_unix_ns;

// ---------------------------------------------------------------------------
// Elements
// ---------------------------------------------------------------------------

/// Per-element-type text and JSON forms.
trait Cell: Copy {
    fn text(self) -> String;
    fn json(self, w: &mut dyn Write) -> io::Result<()>;
    fn as_f64(self) -> f64;
}

impl Cell for f32 {
    fn text(self) -> String {
        format_f32(self)
    }
    fn json(self, w: &mut dyn Write) -> io::Result<()> {
        if self.is_finite() {
            serde_json::to_writer(w, &self).map_err(io::Error::other)
        } else {
            w.write_all(b"null")
        }
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Cell for f64 {
    fn text(self) -> String {
        format_f64(self)
    }
    fn json(self, w: &mut dyn Write) -> io::Result<()> {
        if self.is_finite() {
            serde_json::to_writer(w, &self).map_err(io::Error::other)
        } else {
            w.write_all(b"null")
        }
    }
    fn as_f64(self) -> f64 {
        self
    }
}

impl Cell for bool {
    fn text(self) -> String {
        self.to_string()
    }
    fn json(self, w: &mut dyn Write) -> io::Result<()> {
        w.write_all(if self { b"true" } else { b"false" })
    }
    fn as_f64(self) -> f64 {
        self as u8 as f64
    }
}

macro_rules! int_cell {
    ($($t:ty),*) => {$(
        impl Cell for $t {
            fn text(self) -> String {
                self.to_string()
            }
            fn json(self, w: &mut dyn Write) -> io::Result<()> {
                write!(w, "{self}")
            }
            fn as_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
int_cell!(i8, i16, i32, i64, u8, u16, u32, u64);

fn elem<T: Copy>(a: &ArrayD<T>, i: usize) -> T {
    match a.as_slice() {
        Some(s) => s[i],
        None => *a.iter().nth(i).expect("element index in range"),
    }
}

/// Element `i` of a result column as text: a timestamp column (see
/// [`Column::times`]) in ISO-8601, others as [`value_text`].
pub fn column_text(c: &Column, i: usize) -> String {
    match c.times() {
        Some(a) => format_unix_ns(elem(a, i)),
        None => value_text(&c.values, i),
    }
}

fn column_json(c: &Column, i: usize, w: &mut dyn Write) -> io::Result<()> {
    match c.times() {
        Some(a) => serde_json::to_writer(w, &format_unix_ns(elem(a, i))).map_err(io::Error::other),
        None => value_json(&c.values, i, w),
    }
}

/// Element `i` (row-major) of a column as text: shortest round-trip decimal
/// for floats (`NaN`, `inf`), integers, `true`/`false`, text as it is.
pub fn value_text(v: &ColumnValues, i: usize) -> String {
    match v {
        ColumnValues::Numeric(b) => with_buffer!(b, a => elem(a, i).text()),
        ColumnValues::Text(a) => text_elem(a, i).to_string(),
    }
}

fn value_json(v: &ColumnValues, i: usize, w: &mut dyn Write) -> io::Result<()> {
    match v {
        ColumnValues::Numeric(b) => with_buffer!(b, a => elem(a, i).json(w)),
        ColumnValues::Text(a) => {
            serde_json::to_writer(w, text_elem(a, i)).map_err(io::Error::other)
        }
    }
}

fn text_elem(a: &ArrayD<String>, i: usize) -> &str {
    match a.as_slice() {
        Some(s) => &s[i],
        None => a.iter().nth(i).expect("element index in range"),
    }
}

/// Numbers are right-aligned in tables; booleans and text are not.
fn is_numeric_text(t: ColumnType) -> bool {
    !matches!(t, ColumnType::Numeric(DType::Bool) | ColumnType::Text)
}

// ---------------------------------------------------------------------------
// CSV and JSON
// ---------------------------------------------------------------------------

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV: a header row (dimension names, then column names), then one row per
/// cell (coordinates, then values). Timestamps ISO-8601, NaN as `NaN`.
pub fn write_csv(mut w: impl Write, r: &QueryResult) -> io::Result<()> {
    let names: Vec<String> = r
        .dims
        .iter()
        .map(|d| csv_field(&d.name))
        .chain(r.columns.iter().map(|c| csv_field(&c.name)))
        .collect();
    writeln!(w, "{}", names.join(","))?;
    let rank = if r.scalar { 0 } else { r.shape.len() };
    let mut idx = vec![0usize; rank];
    let mut line = String::new();
    for i in 0..r.len() {
        line.clear();
        for (d, &k) in idx.iter().enumerate() {
            line.push_str(&csv_field(&r.dims[d].coords.text(k)));
            line.push(',');
        }
        for c in &r.columns {
            line.push_str(&csv_field(&column_text(c, i)));
            line.push(',');
        }
        line.pop();
        line.push('\n');
        w.write_all(line.as_bytes())?;
        advance(&mut idx, &r.shape);
    }
    w.flush()
}

fn advance(idx: &mut [usize], shape: &[usize]) {
    for d in (0..idx.len()).rev() {
        idx[d] += 1;
        if idx[d] < shape[d] {
            return;
        }
        idx[d] = 0;
    }
}

fn json_coord(c: &Coords, i: usize, w: &mut dyn Write) -> io::Result<()> {
    match c.get(i) {
        arrayq_format::CoordValue::Number(x) => x.json(w),
        arrayq_format::CoordValue::Time(ns) => {
            serde_json::to_writer(w, &format_unix_ns(ns)).map_err(io::Error::other)
        }
        arrayq_format::CoordValue::Label(l) => write!(w, "{l}"),
        arrayq_format::CoordValue::Text(t) => write!(w, "{}", json_str(&t)),
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// JSON: one object `{"dims", "shape", "coords", "values"}` (see the module
/// documentation), without a trailing newline.
pub fn write_json(mut w: impl Write, r: &QueryResult) -> io::Result<()> {
    let w: &mut dyn Write = &mut w;
    let dims: Vec<String> = r.dims.iter().map(|d| json_str(&d.name)).collect();
    let shape: Vec<String> = r.shape.iter().map(|n| n.to_string()).collect();
    write!(
        w,
        "{{\"dims\":[{}],\"shape\":[{}],\"coords\":{{",
        dims.join(","),
        shape.join(",")
    )?;
    for (d, dim) in r.dims.iter().enumerate() {
        if d > 0 {
            w.write_all(b",")?;
        }
        write!(w, "{}:[", json_str(&dim.name))?;
        for i in 0..r.shape[d] {
            if i > 0 {
                w.write_all(b",")?;
            }
            json_coord(&dim.coords, i, w)?;
        }
        w.write_all(b"]")?;
    }
    w.write_all(b"},\"values\":{")?;
    for (k, c) in r.columns.iter().enumerate() {
        if k > 0 {
            w.write_all(b",")?;
        }
        write!(w, "{}:[", json_str(&c.name))?;
        for i in 0..c.values.len() {
            if i > 0 {
                w.write_all(b",")?;
            }
            column_json(c, i, w)?;
        }
        w.write_all(b"]")?;
    }
    w.write_all(b"}}")?;
    w.flush()
}

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

/// How results are shown on a terminal.
#[derive(Clone, Debug)]
pub struct DisplayOptions {
    /// Results with more cells than this are summarised instead of listed.
    pub max_rows: usize,
    /// One block per cell (`\x`) instead of one row per cell.
    pub expanded: bool,
    /// ANSI colours in heat maps.
    pub color: bool,
    /// Terminal width in characters.
    pub width: usize,
}

impl Default for DisplayOptions {
    fn default() -> Self {
        DisplayOptions {
            max_rows: 40,
            expanded: false,
            color: false,
            width: 80,
        }
    }
}

/// A psql-style table: centred headers, `-+-` rule, values right-aligned
/// where `right[k]`, then `(N rows)`.
pub fn render_table(headers: &[String], rows: &[Vec<String>], right: &[bool]) -> String {
    let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (k, c) in r.iter().enumerate() {
            if k < w.len() {
                w[k] = w[k].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let head: Vec<String> = headers
        .iter()
        .enumerate()
        .map(|(k, h)| {
            let n = h.chars().count();
            let left = (w[k] - n) / 2;
            format!("{}{}{}", " ".repeat(left), h, " ".repeat(w[k] - n - left))
        })
        .collect();
    out.push(' ');
    out.push_str(head.join(" | ").trim_end());
    out.push('\n');
    let rule: Vec<String> = w.iter().map(|&n| "-".repeat(n + 2)).collect();
    out.push_str(&rule.join("+"));
    out.push('\n');
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let pad = w[k].saturating_sub(c.chars().count());
                if right.get(k).copied().unwrap_or(false) {
                    format!("{}{}", " ".repeat(pad), c)
                } else {
                    format!("{}{}", c, " ".repeat(pad))
                }
            })
            .collect();
        out.push(' ');
        out.push_str(cells.join(" | ").trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "({} row{})\n",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    out
}

/// psql's expanded display (`\x`): one `-[ RECORD n ]-` block per row.
pub fn render_expanded(headers: &[String], rows: &[Vec<String>]) -> String {
    let wn = headers.iter().map(|h| h.chars().count()).max().unwrap_or(0);
    let wv = rows
        .iter()
        .flat_map(|r| r.iter().map(|c| c.chars().count()))
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let title = format!("-[ RECORD {} ]", i + 1);
        let total = wn + wv + 3;
        let fill = total.saturating_sub(title.chars().count());
        out.push_str(&title);
        out.push_str(&"-".repeat(fill.max(1)));
        out.push('\n');
        for (h, c) in headers.iter().zip(r) {
            out.push_str(format!("{h:<wn$} | {c}").trim_end());
            out.push('\n');
        }
    }
    if rows.is_empty() {
        out.push_str("(0 rows)\n");
    }
    out
}

/// The table rows of a result: coordinates then values, one row per cell
/// (at most `limit`). Returns (headers, rows, right-align flags).
pub fn result_rows(r: &QueryResult, limit: usize) -> (Vec<String>, Vec<Vec<String>>, Vec<bool>) {
    let mut headers: Vec<String> = r.dims.iter().map(|d| d.name.clone()).collect();
    headers.extend(r.columns.iter().map(|c| c.name.clone()));
    let mut right: Vec<bool> = r.dims.iter().map(|d| !d.coords.is_time()).collect();
    right.extend(
        r.columns
            .iter()
            .map(|c| c.times().is_none() && is_numeric_text(c.column_type())),
    );
    let rank = if r.scalar { 0 } else { r.shape.len() };
    let mut idx = vec![0usize; rank];
    let mut rows = Vec::new();
    for i in 0..r.len().min(limit) {
        let mut row: Vec<String> = (0..rank).map(|d| r.dims[d].coords.text(idx[d])).collect();
        row.extend(r.columns.iter().map(|c| column_text(c, i)));
        rows.push(row);
        advance(&mut idx, &r.shape);
    }
    (headers, rows, right)
}

/// A result for the terminal: a table when it has at most `max_rows` cells,
/// otherwise a summary (shape, per-column min/mean/max/NaN count) with a
/// sparkline for 1-D results and a heat map for 2-D ones. Notes follow.
pub fn render_result(r: &QueryResult, opts: &DisplayOptions) -> String {
    let mut out = if r.len() <= opts.max_rows {
        let (h, rows, right) = result_rows(r, usize::MAX);
        if opts.expanded {
            render_expanded(&h, &rows)
        } else {
            render_table(&h, &rows, &right)
        }
    } else {
        render_summary(r, opts)
    };
    for n in &r.notes {
        out.push_str(&format!("NOTE: {n}\n"));
    }
    out
}

// ---------------------------------------------------------------------------
// Summaries
// ---------------------------------------------------------------------------

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

fn fmt_duration_ns(ns: i64) -> String {
    const UNITS: [(i64, &str); 6] = [
        (86_400_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "min"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
    ];
    for (u, name) in UNITS {
        if ns != 0 && ns % u == 0 {
            return format!("{}{name}", ns / u);
        }
    }
    format!("{ns}ns")
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

/// Means of `v` (NaN skipped) in `n` equal buckets.
fn bucket_means(v: &[f64], n: usize) -> Vec<f64> {
    let n = n.min(v.len()).max(1);
    (0..n)
        .map(|b| {
            let lo = b * v.len() / n;
            let hi = ((b + 1) * v.len() / n).max(lo + 1).min(v.len());
            let (s, c) = v[lo..hi]
                .iter()
                .filter(|x| !x.is_nan())
                .fold((0.0, 0usize), |(s, c), x| (s + x, c + 1));
            if c == 0 {
                f64::NAN
            } else {
                s / c as f64
            }
        })
        .collect()
}

/// A unicode sparkline of `v` at most `width` characters wide (bucket means;
/// blank where a bucket is all NaN).
pub fn sparkline(v: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if v.is_empty() {
        return String::new();
    }
    let m = bucket_means(v, width);
    let (lo, hi) = finite_range(&m);
    m.iter()
        .map(|&x| {
            if x.is_nan() {
                ' '
            } else if hi <= lo {
                BARS[3]
            } else {
                let t = ((x - lo) / (hi - lo) * 7.0).round() as usize;
                BARS[t.min(7)]
            }
        })
        .collect()
}

fn finite_range(v: &[f64]) -> (f64, f64) {
    v.iter()
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        })
}

/// Characters of the heat map, light to dense.
const RAMP: &[u8] = b" .:-=+*#%@";
/// ANSI 256-colour palette, cold to hot.
const PALETTE: [u8; 16] = [
    17, 19, 21, 27, 33, 39, 45, 51, 49, 47, 82, 154, 226, 214, 202, 196,
];

fn shade(t: f64, color: bool) -> String {
    let t = t.clamp(0.0, 1.0);
    // Level 0 of the ramp is a blank, kept for NaN: values use 1..=9.
    let ch = RAMP[1 + ((t * 8.0).round() as usize).min(8)] as char;
    if color {
        let c = PALETTE[((t * 15.0).round() as usize).min(15)];
        format!("\x1b[38;5;{c}m{ch}{ch}")
    } else {
        format!("{ch}{ch}")
    }
}

/// A heat map of column `k` of a 2-D result: rows along the first
/// dimension, two characters per cell along the second, block-averaged to
/// fit `opts.width`; ASCII density characters, coloured with the ANSI 256
/// palette when `opts.color`.
pub fn heatmap(r: &QueryResult, k: usize, opts: &DisplayOptions) -> String {
    let (nr, nc) = (r.shape[0], r.shape[1]);
    let v = r.values_f64(k);
    let max_w = (opts.width.saturating_sub(2) / 2).clamp(4, 120);
    let w = nc.min(max_w).max(1);
    // Characters are about twice as tall as wide and each cell is two
    // characters wide, so keep the map's aspect with one line per cell row.
    let h = nr
        .min(((w as f64) * nr as f64 / nc.max(1) as f64).ceil() as usize)
        .clamp(1, 40);
    let mut grid = vec![f64::NAN; w * h];
    for (y, row) in grid.chunks_mut(w).enumerate() {
        let (r0, r1) = (y * nr / h, ((y + 1) * nr / h).max(y * nr / h + 1).min(nr));
        for (x, cell) in row.iter_mut().enumerate() {
            let (c0, c1) = (x * nc / w, ((x + 1) * nc / w).max(x * nc / w + 1).min(nc));
            let (mut s, mut n) = (0.0, 0usize);
            for i in r0..r1 {
                for &val in &v[i * nc + c0..i * nc + c1] {
                    if val.is_finite() {
                        s += val;
                        n += 1;
                    }
                }
            }
            if n > 0 {
                *cell = s / n as f64;
            }
        }
    }
    let (lo, hi) = finite_range(&grid);
    let scale = |x: f64| if hi > lo { (x - lo) / (hi - lo) } else { 0.5 };
    let (d0, d1) = (&r.dims[0], &r.dims[1]);
    let mut out = format!(
        "{} (rows: {} {} .. {}, columns: {} {} .. {})\n",
        r.columns[k].name,
        d0.name,
        d0.coords.text(0),
        d0.coords.text(nr - 1),
        d1.name,
        d1.coords.text(0),
        d1.coords.text(nc - 1)
    );
    let reset = if opts.color { "\x1b[0m" } else { "" };
    for row in grid.chunks(w) {
        let mut line = String::new();
        for &x in row {
            if x.is_nan() {
                line.push_str(reset);
                line.push_str("  ");
            } else {
                line.push_str(&shade(scale(x), opts.color));
            }
        }
        line.push_str(reset);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let legend: String = (0..=8).map(|i| shade(i as f64 / 8.0, opts.color)).collect();
    out.push_str(&format!(
        "{} {legend}{reset} {}\n",
        fmt_num(lo),
        fmt_num(hi)
    ));
    out
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// The offending line of `sql` with a caret under `pos`, psql style:
///
/// ```text
/// LINE 1: SELECT tmp FROM era5
///                ^
/// ```
pub fn caret(sql: &str, pos: Position) -> Option<String> {
    let line = sql.lines().nth(pos.line.checked_sub(1)? as usize)?;
    let prefix = format!("LINE {}: ", pos.line);
    let text: String = line
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .collect();
    let col = (pos.column.max(1) - 1) as usize;
    let col = col.min(text.chars().count());
    Some(format!(
        "{prefix}{text}\n{}^",
        " ".repeat(prefix.len() + col)
    ))
}

/// An error as the shell prints it: `ERROR:  CODE: message`, and for SQL
/// errors with a position the offending line with a caret.
pub fn render_error(err: &Error, sql: Option<&str>) -> String {
    let mut out = match err {
        Error::Status(s) => format!("ERROR:  {}: {}", code_name(s.code), s.message),
        other => format!("ERROR:  {other}"),
    };
    if let (Some(sql), Some(pos)) = (sql, err.position()) {
        match caret(sql, pos) {
            Some(c) => {
                out.push('\n');
                out.push_str(&c);
            }
            None => out.push_str(&format!(" (at {pos})")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{Column, Dim, QueryStats};
    use ndarray::ArrayD;

    fn result_2d(nr: usize, nc: usize) -> QueryResult {
        let v: Vec<f32> = (0..nr * nc)
            .map(|i| if i == 1 { f32::NAN } else { i as f32 * 0.5 })
            .collect();
        QueryResult {
            dims: vec![
                Dim {
                    name: "time".into(),
                    coords: Coords::Time {
                        start_ns: 1_672_531_200_000_000_000,
                        step_ns: 3_600_000_000_000,
                    },
                    metadata: Default::default(),
                },
                Dim {
                    name: "lat".into(),
                    coords: Coords::Regular {
                        start: 72.0,
                        step: -0.25,
                    },
                    metadata: Default::default(),
                },
            ],
            shape: vec![nr, nc],
            columns: vec![Column {
                name: "t2m".into(),
                values: ColumnValues::Numeric(Buffer::F32(
                    ArrayD::from_shape_vec(vec![nr, nc], v).unwrap(),
                )),
                metadata: Default::default(),
            }],
            scalar: false,
            notes: vec![],
            stats: QueryStats::default(),
        }
    }

    fn scalar(v: f64) -> QueryResult {
        QueryResult {
            dims: vec![],
            shape: vec![],
            columns: vec![Column {
                name: "avg".into(),
                values: ColumnValues::Numeric(Buffer::F64(ArrayD::from_elem(vec![], v))),
                metadata: Default::default(),
            }],
            scalar: true,
            notes: vec!["hello".into()],
            stats: QueryStats::default(),
        }
    }

    #[test]
    fn small_table() {
        let r = result_2d(3, 2);
        let t = render_result(&r, &DisplayOptions::default());
        let expected = "         time         |  lat  | t2m
----------------------+-------+-----
 2023-01-01T00:00:00Z |    72 |   0
 2023-01-01T00:00:00Z | 71.75 | NaN
 2023-01-01T01:00:00Z |    72 |   1
 2023-01-01T01:00:00Z | 71.75 | 1.5
 2023-01-01T02:00:00Z |    72 |   2
 2023-01-01T02:00:00Z | 71.75 | 2.5
(6 rows)
";
        assert_eq!(t, expected);
    }

    #[test]
    fn scalar_table_and_note() {
        let t = render_result(&scalar(280.125), &DisplayOptions::default());
        assert_eq!(t, "   avg\n---------\n 280.125\n(1 row)\nNOTE: hello\n");
    }

    #[test]
    fn expanded() {
        let r = result_2d(1, 2);
        let t = render_result(
            &r,
            &DisplayOptions {
                expanded: true,
                ..Default::default()
            },
        );
        assert!(t.starts_with("-[ RECORD 1 ]"), "{t}");
        assert!(
            t.contains("time | 2023-01-01T00:00:00Z\nlat  | 72\nt2m  | 0\n"),
            "{t}"
        );
        assert!(t.contains("-[ RECORD 2 ]"));
    }

    #[test]
    fn summary_with_heatmap() {
        let r = result_2d(30, 50);
        let plain = render_result(&r, &DisplayOptions::default());
        assert!(
            plain.starts_with("1,500 cells: time=30 x lat=50\n"),
            "{plain}"
        );
        assert!(plain.contains("time: 2023-01-01T00:00:00Z .. 2023-01-02T05:00:00Z, step 1h"));
        assert!(plain.contains("lat: 72 .. 59.75, step -0.25"), "{plain}");
        assert!(
            plain.contains(" t2m    | f32  |   0 |  375 | 749.5 |   1\n"),
            "{plain}"
        );
        assert!(plain.contains("t2m (rows: time"));
        assert!(!plain.contains('\x1b'));
        // The map: top-left is the minimum (plus a NaN), bottom-right the max.
        let map: Vec<&str> = plain
            .lines()
            .skip_while(|l| !l.starts_with("t2m (rows"))
            .skip(1)
            .collect();
        assert!(map[0].starts_with(".."), "{map:?}");
        assert!(map[map.len() - 2].ends_with("@@"), "{map:?}");
        assert!(map.last().unwrap().starts_with("0 "), "{map:?}");
        let colored = render_result(
            &r,
            &DisplayOptions {
                color: true,
                ..Default::default()
            },
        );
        assert!(colored.contains("\x1b[38;5;17m"));
        assert!(colored.contains("\x1b[38;5;196m"));
    }

    #[test]
    fn sparkline_of_1d() {
        let v: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let s = sparkline(&v, 8);
        assert_eq!(s, "▁▂▃▄▅▆▇█");
        let mut v = vec![1.0; 10];
        v[3] = f64::NAN;
        assert_eq!(sparkline(&v, 10).chars().nth(3), Some(' '));
        let r = QueryResult {
            dims: vec![Dim {
                name: "t".into(),
                coords: Coords::Labels((0..100).collect()),
                metadata: Default::default(),
            }],
            shape: vec![100],
            columns: vec![Column {
                name: "x".into(),
                values: ColumnValues::Numeric(Buffer::I64(
                    ArrayD::from_shape_vec(vec![100], (0..100).collect()).unwrap(),
                )),
                metadata: Default::default(),
            }],
            scalar: false,
            notes: vec![],
            stats: QueryStats::default(),
        };
        let out = render_result(&r, &DisplayOptions::default());
        assert!(out.contains("x  ▁"), "{out}");
        assert!(out.trim_end().ends_with('█'), "{out}");
    }

    #[test]
    fn csv_and_json() {
        let r = result_2d(2, 2);
        let mut csv = Vec::new();
        write_csv(&mut csv, &r).unwrap();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "time,lat,t2m\n2023-01-01T00:00:00Z,72,0\n2023-01-01T00:00:00Z,71.75,NaN\n\
             2023-01-01T01:00:00Z,72,1\n2023-01-01T01:00:00Z,71.75,1.5\n"
        );
        let mut js = Vec::new();
        write_json(&mut js, &r).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&js).unwrap();
        assert_eq!(v["dims"], serde_json::json!(["time", "lat"]));
        assert_eq!(v["shape"], serde_json::json!([2, 2]));
        assert_eq!(
            v["coords"]["time"],
            serde_json::json!(["2023-01-01T00:00:00Z", "2023-01-01T01:00:00Z"])
        );
        assert_eq!(v["coords"]["lat"], serde_json::json!([72.0, 71.75]));
        assert_eq!(v["values"]["t2m"], serde_json::json!([0.0, null, 1.0, 1.5]));

        let mut js = Vec::new();
        write_json(&mut js, &scalar(2.5)).unwrap();
        assert_eq!(
            String::from_utf8(js).unwrap(),
            r#"{"dims":[],"shape":[],"coords":{},"values":{"avg":[2.5]}}"#
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(fmt_num(280.123456789), "280.123");
        assert_eq!(fmt_num(3.0), "3");
        assert_eq!(fmt_num(0.000123456), "0.000123456");
        assert_eq!(fmt_num(1e-9), "1.00000e-9");
        assert_eq!(fmt_count(2063664), "2,063,664");
        assert_eq!(fmt_count(12), "12");
    }

    #[test]
    fn caret_under_position() {
        let sql = "SELECT *\nFROM era5\nWHERE tmp > 3";
        let c = caret(sql, Position { line: 3, column: 7 }).unwrap();
        assert_eq!(c, "LINE 3: WHERE tmp > 3\n              ^");
        let e = Error::from(arrayq_proto::invalid_argument_at(
            3,
            7,
            "unknown attribute 'tmp'",
        ));
        let r = render_error(&e, Some(sql));
        assert!(
            r.starts_with("ERROR:  INVALID_ARGUMENT: unknown attribute 'tmp'\nLINE 3:"),
            "{r}"
        );
    }

    #[test]
    fn text_columns_in_csv_json_and_tables() {
        let text = |v: &[&str]| {
            ColumnValues::Text(
                ArrayD::from_shape_vec(vec![v.len()], v.iter().map(|s| s.to_string()).collect())
                    .unwrap(),
            )
        };
        let r = QueryResult {
            dims: vec![Dim {
                name: "row".into(),
                coords: Coords::Labels(vec![0, 1]),
                metadata: Default::default(),
            }],
            shape: vec![2],
            columns: vec![
                Column {
                    name: "array".into(),
                    values: text(&["a", "b,\"c\""]),
                    metadata: Default::default(),
                },
                Column {
                    name: "version".into(),
                    values: ColumnValues::Numeric(Buffer::U64(
                        ArrayD::from_shape_vec(vec![2], vec![0, 3]).unwrap(),
                    )),
                    metadata: Default::default(),
                },
            ],
            scalar: false,
            notes: vec![],
            stats: QueryStats::default(),
        };
        let mut csv = Vec::new();
        write_csv(&mut csv, &r).unwrap();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "row,array,version\n0,a,0\n1,\"b,\"\"c\"\"\",3\n"
        );
        let mut json = Vec::new();
        write_json(&mut json, &r).unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"dims":["row"],"shape":[2],"coords":{"row":[0,1]},"values":{"array":["a","b,\"c\""],"version":[0,3]}}"#
        );
        let table = render_result(&r, &DisplayOptions::default());
        assert_eq!(
            table,
            " row | array | version\n-----+-------+---------\n   0 | a     |       0\n   1 | b,\"c\" |       3\n(2 rows)\n"
        );
    }
}
