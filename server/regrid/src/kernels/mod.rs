//! Interpolation of one source map into target cells, in parallel over target rows.
//!
//! Every method works in the source grid's index space (a target cell centre at
//! fractional index `(fi, fj)`), like `scipy.ndimage.map_coordinates`; `average`
//! weights the source cells under a target cell's footprint by overlapped area.

mod average;
mod point;

use crate::{CoordMap, IndexBox, Method, RegridError};
use rayon::prelude::*;
use std::ops::Range;

/// A value type the kernels read and write (computations are in f64).
pub trait Sample: Copy + Send + Sync + 'static {
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

impl Sample for f32 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Sample for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}

/// One source map's values over a box of the source grid (row-major).
pub struct Window<'a, T> {
    pub data: &'a [T],
    pub cells: IndexBox,
    /// The whole grid's rows and columns, and whether columns wrap around.
    pub grid_ny: usize,
    pub grid_nx: usize,
    pub wraps: bool,
}

impl<T: Sample> Window<'_, T> {
    /// The value at source row `i`, column `j`, as f64; `None` outside the grid or
    /// the window.
    #[inline]
    pub fn at(&self, i: i64, j: i64) -> Option<f64> {
        if i < 0 || i >= self.grid_ny as i64 {
            return None;
        }
        let j = if self.wraps {
            j.rem_euclid(self.grid_nx as i64)
        } else if j < 0 || j >= self.grid_nx as i64 {
            return None;
        } else {
            j
        };
        let (i, j) = (i as usize, j as usize);
        if !self.cells.i.contains(&i) || !self.cells.j.contains(&j) {
            return None;
        }
        let w = self.cells.j.len();
        Some(self.data[(i - self.cells.i.start) * w + (j - self.cells.j.start)].to_f64())
    }
}

/// Target rows per parallel task.
const ROWS_PER_TASK: usize = 8;

/// Interpolates `window` into the target cells `rows x cols` (row-major `out`).
pub fn interpolate<T: Sample>(
    method: Method,
    map: &CoordMap,
    window: &Window<'_, T>,
    rows: Range<usize>,
    cols: Range<usize>,
    out: &mut [T],
) -> Result<(), RegridError> {
    let w = cols.len();
    assert_eq!(
        out.len(),
        rows.len() * w,
        "output sized to the target cells"
    );
    if w == 0 {
        return Ok(());
    }
    let corners = match method {
        Method::Average => Some(map.corners()?),
        _ => None,
    };
    // Whole source rows in the window: the precomputed read plans apply.
    let planned = window.cells.j == (0..window.grid_nx)
        && window.data.len() == window.cells.i.len() * window.grid_nx;
    out.par_chunks_mut(w * ROWS_PER_TASK)
        .enumerate()
        .for_each(|(task, block)| {
            let first = rows.start + task * ROWS_PER_TASK;
            for (k, row) in block.chunks_mut(w).enumerate() {
                let r = first + k;
                match (method, corners) {
                    (_, Some(c)) => average::row(map, c, window, r, cols.clone(), row),
                    (Method::Bilinear, _) if planned => {
                        point::row_bilinear_planned(map, window, r, cols.clone(), row)
                    }
                    (Method::Nearest, _) if planned => {
                        point::row_nearest_planned(map, window, r, cols.clone(), row)
                    }
                    _ => point::row(method, map, window, r, cols.clone(), row),
                }
            }
        });
    Ok(())
}
