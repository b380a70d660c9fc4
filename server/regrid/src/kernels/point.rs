//! Kernels that read a fixed neighbourhood around the target centre's index:
//! nearest, bilinear and cubic convolution.

use super::{Sample, Window};
use crate::plan::OUTSIDE;
use crate::{CoordMap, Method};
use std::ops::Range;

/// One target row.
pub fn row<T: Sample>(
    method: Method,
    map: &CoordMap,
    win: &Window<'_, T>,
    r: usize,
    cols: Range<usize>,
    out: &mut [T],
) {
    let at = r * map.target.nx;
    let (fi, fj) = (
        &map.fi[at..at + map.target.nx],
        &map.fj[at..at + map.target.nx],
    );
    let ny = win.grid_ny as f64;
    for (o, c) in out.iter_mut().zip(cols) {
        let (i, j) = (fi[c], fj[c]);
        let v = if !(i.is_finite() && j.is_finite()) {
            f64::NAN
        } else {
            match method {
                Method::Nearest => nearest(win, i, j),
                Method::Bilinear => bilinear(win, i, j, ny),
                _ => cubic(win, i, j),
            }
        };
        *o = T::from_f64(v);
    }
}

/// The cell whose centre is nearest; outside the grid's outer edges, NaN.
#[inline]
fn nearest<T: Sample>(win: &Window<'_, T>, i: f64, j: f64) -> f64 {
    // Cells span half an index either side of their centre; ties go up, as rounding.
    let (i, j) = ((i + 0.5).floor() as i64, (j + 0.5).floor() as i64);
    win.at(i, j).unwrap_or(f64::NAN)
}

/// Bilinear over the 2 x 2 cells around the index; a centre exactly on the last row
/// or column reads it with weight 1 (no cell past it is needed).
#[inline]
fn bilinear<T: Sample>(win: &Window<'_, T>, i: f64, j: f64, ny: f64) -> f64 {
    let mut i0 = i.floor();
    if i == ny - 1.0 && ny >= 2.0 {
        i0 -= 1.0;
    }
    let mut j0 = j.floor();
    if !win.wraps && j == win.grid_nx as f64 - 1.0 && win.grid_nx >= 2 {
        j0 -= 1.0;
    }
    // Weights rounded to f32 as in the bilinear plan, so a window of a map and the
    // whole map give the same bits.
    let (ti, tj) = ((i - i0) as f32 as f64, (j - j0) as f32 as f64);
    let (a, b) = (i0 as i64, j0 as i64);
    let (Some(v00), Some(v01), Some(v10), Some(v11)) = (
        win.at(a, b),
        win.at(a, b + 1),
        win.at(a + 1, b),
        win.at(a + 1, b + 1),
    ) else {
        return f64::NAN;
    };
    let top = v00 + (v01 - v00) * tj;
    let bottom = v10 + (v11 - v10) * tj;
    top + (bottom - top) * ti
}

/// Keys' cubic convolution kernel with a = -0.5.
#[inline]
pub fn keys(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x <= 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A
    } else {
        0.0
    }
}

/// Cubic convolution over the 4 x 4 cells around the index.
#[inline]
fn cubic<T: Sample>(win: &Window<'_, T>, i: f64, j: f64) -> f64 {
    let (i0, j0) = (i.floor(), j.floor());
    let (ti, tj) = (i - i0, j - j0);
    let wi = [keys(1.0 + ti), keys(ti), keys(1.0 - ti), keys(2.0 - ti)];
    let wj = [keys(1.0 + tj), keys(tj), keys(1.0 - tj), keys(2.0 - tj)];
    let (a, b) = (i0 as i64 - 1, j0 as i64 - 1);
    let mut sum = 0.0;
    for (di, wy) in wi.iter().enumerate() {
        let mut line = 0.0;
        for (dj, wx) in wj.iter().enumerate() {
            match win.at(a + di as i64, b + dj as i64) {
                Some(v) => line += wx * v,
                None => return f64::NAN,
            }
        }
        sum += wy * line;
    }
    sum
}

/// One target row through the nearest plan; `win` holds whole source rows.
pub fn row_nearest_planned<T: Sample>(
    map: &CoordMap,
    win: &Window<'_, T>,
    r: usize,
    cols: Range<usize>,
    out: &mut [T],
) {
    let plan = map.nearest_plan();
    let at = r * map.target.nx;
    let off = (win.cells.i.start * win.grid_nx) as u32;
    let idx = &plan.index[at + cols.start..at + cols.end];
    for (o, &k) in out.iter_mut().zip(idx) {
        let v = match k.checked_sub(off).and_then(|k| win.data.get(k as usize)) {
            Some(v) if k != OUTSIDE => v.to_f64(),
            _ => f64::NAN,
        };
        *o = T::from_f64(v);
    }
}

/// One target row through the bilinear plan; `win` holds whole source rows.
pub fn row_bilinear_planned<T: Sample>(
    map: &CoordMap,
    win: &Window<'_, T>,
    r: usize,
    cols: Range<usize>,
    out: &mut [T],
) {
    let plan = map.bilinear_plan();
    let at = r * map.target.nx;
    let span = at + cols.start..at + cols.end;
    let off = win.cells.i.start * win.grid_nx;
    let nx = win.grid_nx;
    let d = win.data;
    let cells = plan.left[span.clone()]
        .iter()
        .zip(&plan.right[span.clone()])
        .zip(plan.ti[span.clone()].iter().zip(&plan.tj[span]));
    for (o, ((&left, &right), (&ti, &tj))) in out.iter_mut().zip(cells) {
        let (l, rt) = (left as usize, right as usize);
        let v = if left == OUTSIDE || l < off || l + nx - off >= d.len() || rt + nx - off >= d.len()
        {
            f64::NAN
        } else {
            let (l, rt) = (l - off, rt - off);
            let (ti, tj) = (ti as f64, tj as f64);
            let (v00, v01) = (d[l].to_f64(), d[rt].to_f64());
            let (v10, v11) = (d[l + nx].to_f64(), d[rt + nx].to_f64());
            let top = v00 + (v01 - v00) * tj;
            let bottom = v10 + (v11 - v10) * tj;
            top + (bottom - top) * ti
        };
        *o = T::from_f64(v);
    }
}
