//! Results as CSV.

use std::io::{self, Write};

use super::cell::{advance, column_text};
use crate::result::QueryResult;

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
