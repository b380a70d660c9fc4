//! arrayq's answer against xarray's, cell by cell: the largest absolute and relative
//! differences, and whether every cell agrees within the suites' tolerance.

use std::path::Path;

use anyhow::{bail, Context, Result};
use arrayq_query::QueryResult;
use arrayq_tests::{read_npy_f32, read_npy_f64};

use crate::suites::common::answers::REL_TOL;

/// How two answers differ.
#[derive(Clone, Debug, Default)]
pub(crate) struct Diff {
    pub cells: usize,
    pub max_abs: f64,
    pub max_rel: f64,
    /// Cells outside the tolerance, and the first of them (index, arrayq, xarray).
    pub bad: usize,
    pub first_bad: Option<(usize, f64, f64)>,
}

impl Diff {
    /// One line for the notes.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} cells, max abs diff {:.2e}, max rel diff {:.2e}",
            self.cells, self.max_abs, self.max_rel
        );
        if let Some((k, a, x)) = self.first_bad {
            s.push_str(&format!(
                "; {} cells differ beyond the tolerance, first at {k}: arrayq {a} vs xarray {x}",
                self.bad
            ));
        }
        s
    }
}

/// An xarray answer saved by `analyst_peers.py` (float32 or float64): shape and values.
pub(crate) fn read_answer(path: &Path) -> Result<(Vec<usize>, Vec<f64>)> {
    match read_npy_f32(path) {
        Ok(a) => Ok((a.shape, a.data.iter().map(|&v| v as f64).collect())),
        Err(_) => {
            let a = read_npy_f64(path).with_context(|| format!("reading {}", path.display()))?;
            Ok((a.shape, a.data))
        }
    }
}

/// Compares arrayq's first column with xarray's answer. A cell agrees when
/// `|a - x| <= REL_TOL * max(|x|, scale)`: relative to the value, or to `scale` for
/// values much smaller than the data they come from (an anomaly of a few kelvin out
/// of two temperatures near 280 K). Shapes must match up to dimensions of length 1
/// (xarray's `month` of one value at S, arrayq's dimension selected with `=`).
pub(crate) fn compare(got: &QueryResult, want: (&[usize], &[f64]), scale: f64) -> Result<Diff> {
    let squeeze = |s: &[usize]| -> Vec<usize> { s.iter().copied().filter(|&d| d != 1).collect() };
    let shape = if got.header.scalar {
        vec![]
    } else {
        got.header.shape.clone()
    };
    if squeeze(&shape) != squeeze(want.0) {
        bail!("arrayq's shape {shape:?}, xarray's {:?}", want.0);
    }
    let a = got.columns[0].to_f64_vec();
    let x = want.1;
    if a.len() != x.len() {
        bail!("arrayq has {} values, xarray {}", a.len(), x.len());
    }
    let mut d = Diff {
        cells: a.len(),
        ..Diff::default()
    };
    for (k, (&g, &w)) in a.iter().zip(x).enumerate() {
        if g.is_nan() || w.is_nan() {
            if g.is_nan() != w.is_nan() {
                d.bad += 1;
                d.first_bad.get_or_insert((k, g, w));
            }
            continue;
        }
        let abs = (g - w).abs();
        d.max_abs = d.max_abs.max(abs);
        if w != 0.0 {
            d.max_rel = d.max_rel.max(abs / w.abs());
        }
        if abs > REL_TOL * w.abs().max(scale) {
            d.bad += 1;
            d.first_bad.get_or_insert((k, g, w));
        }
    }
    Ok(d)
}

/// The largest magnitude of an answer (the scale of the values derived from it).
pub(crate) fn magnitude(values: &[f64]) -> f64 {
    values
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0, |m, v| m.max(v.abs()))
}
