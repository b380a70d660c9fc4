//! Pictures of values in text: sparklines of 1-D results and heat maps of
//! 2-D ones.

use super::summary::fmt_num;
use super::table::DisplayOptions;
use crate::result::QueryResult;

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
