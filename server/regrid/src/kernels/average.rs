//! Area-weighted average over a target cell's footprint, for targets coarser than
//! the source. The footprint is the box, in source index space, spanned by the
//! cell's four corners; each source cell (spanning half an index either side of its
//! centre) weighs its overlap with that box, times cos(latitude) on a geographic
//! grid (the cell's true area on the sphere).

use super::{Sample, Window};
use crate::map::Corners;
use crate::CoordMap;
use std::ops::Range;

pub fn row<T: Sample>(
    map: &CoordMap,
    corners: &Corners,
    win: &Window<'_, T>,
    r: usize,
    cols: Range<usize>,
    out: &mut [T],
) {
    let w = map.target.nx + 1;
    let src = &map.source;
    for (o, c) in out.iter_mut().zip(cols) {
        let ids = [
            r * w + c,
            r * w + c + 1,
            (r + 1) * w + c,
            (r + 1) * w + c + 1,
        ];
        *o = T::from_f64(cell(win, corners, &ids, src));
    }
}

fn cell<T: Sample>(
    win: &Window<'_, T>,
    corners: &Corners,
    ids: &[usize; 4],
    src: &crate::SourceGrid,
) -> f64 {
    let fi = ids.map(|k| corners.fi[k]);
    let mut fj = ids.map(|k| corners.fj[k]);
    if fi.iter().chain(&fj).any(|v| !v.is_finite()) {
        return f64::NAN;
    }
    if win.wraps {
        // Corners on either side of the seam: unwrap them next to the first one.
        let n = win.grid_nx as f64;
        let first = fj[0];
        for v in fj.iter_mut().skip(1) {
            *v -= n * ((*v - first) / n).round();
        }
    }
    let (i0, i1) = (min4(fi), max4(fi));
    let (j0, j1) = (min4(fj), max4(fj));
    let ny = win.grid_ny as f64;
    if i0 < -0.5 || i1 > ny - 0.5 {
        return f64::NAN;
    }
    if !win.wraps && (j0 < -0.5 || j1 > win.grid_nx as f64 - 0.5) {
        return f64::NAN;
    }
    let (mut sum, mut weight) = (0.0, 0.0);
    for i in (i0 + 0.5).floor() as i64..=(i1 - 0.5).ceil() as i64 {
        let oi = overlap(i, i0, i1);
        if oi <= 0.0 {
            continue;
        }
        let area = if src.geographic {
            (src.y0 + i as f64 * src.dy).to_radians().cos()
        } else {
            1.0
        };
        for j in (j0 + 0.5).floor() as i64..=(j1 - 0.5).ceil() as i64 {
            let oj = overlap(j, j0, j1);
            if oj <= 0.0 {
                continue;
            }
            match win.at(i, j) {
                Some(v) => {
                    let wgt = oi * oj * area;
                    sum += wgt * v;
                    weight += wgt;
                }
                None => return f64::NAN,
            }
        }
    }
    if weight > 0.0 {
        sum / weight
    } else {
        f64::NAN
    }
}

/// Length of `[k - 0.5, k + 0.5] ∩ [a, b]`.
#[inline]
fn overlap(k: i64, a: f64, b: f64) -> f64 {
    let k = k as f64;
    (b.min(k + 0.5) - a.max(k - 0.5)).max(0.0)
}

fn min4(v: [f64; 4]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max4(v: [f64; 4]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}
