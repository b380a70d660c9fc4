//! psql-like tables, plain and expanded, and the choice between a table and
//! a summary.

use super::cell::{advance, column_text, is_numeric_text};
use super::summary::render_summary;
use crate::result::QueryResult;

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
