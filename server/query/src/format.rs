//! Plain-text rendering of results and tables (the shell, golden tests).

use crate::timeutil::format_instant;
use crate::{CoordValues, QueryResult, TextTable};
use arrayq_storage::time::is_unix_ns_units;
use arrayq_storage::Buffer;

/// Renders a table with aligned columns separated by ` | `.
pub fn render_table(t: &TextTable) -> String {
    let mut w: Vec<usize> = t.columns.iter().map(|c| c.chars().count()).collect();
    for r in &t.rows {
        for (k, c) in r.iter().enumerate() {
            if k < w.len() {
                w[k] = w[k].max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(k, c)| format!("{:<width$}", c, width = w.get(k).copied().unwrap_or(0)))
            .collect();
        parts.join(" | ").trim_end().to_string()
    };
    let mut out = line(&t.columns);
    out.push('\n');
    for r in &t.rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

fn coord_text(c: &CoordValues, i: usize) -> String {
    match c {
        CoordValues::Numbers(v) => fmt_f64(v[i]),
        CoordValues::Times(v) => format_instant(v[i]),
        CoordValues::Labels(v) => v[i].to_string(),
        CoordValues::Texts(v) => v[i].clone(),
    }
}

fn fmt_f64(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else {
        format!("{x}")
    }
}

/// One element of a column as text.
pub fn value_text(b: &Buffer, i: usize) -> String {
    match b {
        Buffer::F32(a) => {
            let x = a
                .as_slice()
                .map(|s| s[i])
                .unwrap_or_else(|| a.iter().nth(i).copied().unwrap_or(f32::NAN));
            if x.is_nan() {
                "NaN".into()
            } else {
                format!("{x}")
            }
        }
        Buffer::F64(a) => fmt_f64(
            a.as_slice()
                .map(|s| s[i])
                .unwrap_or_else(|| a.iter().nth(i).copied().unwrap_or(f64::NAN)),
        ),
        other => {
            arrayq_storage::with_buffer!(other, a => format!("{:?}", a.iter().nth(i).expect("index in range")))
        }
    }
}

impl QueryResult {
    /// A table with one row per cell: coordinates, then columns; at most `max_rows`
    /// rows, then notes.
    pub fn to_text(&self, max_rows: usize) -> String {
        let h = &self.header;
        let mut columns: Vec<String> = h.dims.clone();
        columns.extend(h.columns.iter().map(|(n, _)| n.clone()));
        let n = h.len();
        let mut rows = Vec::new();
        let rank = h.shape.len();
        let mut idx = vec![0usize; rank];
        for i in 0..n.min(max_rows) {
            let mut row: Vec<String> = (0..rank)
                .map(|d| coord_text(&h.coords[d], idx[d]))
                .collect();
            row.extend(self.columns.iter().enumerate().map(|(k, c)| {
                match (c, h.metadata.column(k).get("units")) {
                    (Buffer::I64(a), units) if is_unix_ns_units(units.map(String::as_str)) => {
                        format_instant(
                            a.as_slice()
                                .map_or_else(|| a.iter().nth(i).copied().unwrap_or(0), |s| s[i]),
                        )
                    }
                    _ => value_text(c, i),
                }
            }));
            rows.push(row);
            let mut d = rank;
            while d > 0 {
                d -= 1;
                idx[d] += 1;
                if idx[d] < h.shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        let mut out = String::new();
        let shape: Vec<String> = h
            .dims
            .iter()
            .zip(&h.shape)
            .map(|(d, n)| format!("{d}={n}"))
            .collect();
        let types: Vec<String> = h.columns.iter().map(|(n, t)| format!("{n} {t}")).collect();
        out.push_str(&format!(
            "# {} [{}] version {}\n",
            if h.scalar {
                "scalar".to_string()
            } else {
                format!("shape {}", shape.join(" "))
            },
            types.join(", "),
            h.version
        ));
        out.push_str(&render_table(&TextTable { columns, rows }));
        if n > max_rows {
            out.push_str(&format!("... ({} more rows)\n", n - max_rows));
        }
        for note in &h.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out
    }
}
