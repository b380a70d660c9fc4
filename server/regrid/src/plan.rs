//! Per-cell read plans of the nearest and bilinear kernels, computed once per
//! coordinate map: where each target cell reads in a source map (flat indices into
//! the whole grid) and with which weights. With them, interpolating a map is a few
//! loads and multiply-adds per cell, with no floor, wrap or bounds logic left.

use crate::SourceGrid;

/// Marks a cell that reads outside the grid (NaN).
pub const OUTSIDE: u32 = u32::MAX;

/// For each target cell: the flat source index of its nearest cell.
pub struct NearestPlan {
    pub index: Vec<u32>,
}

/// For each target cell: the flat source indices of its top-left and top-right
/// neighbours (the bottom ones are a grid row further), and the weights along rows
/// and columns.
pub struct BilinearPlan {
    pub left: Vec<u32>,
    pub right: Vec<u32>,
    pub ti: Vec<f32>,
    pub tj: Vec<f32>,
}

/// The column index `j` on `g` (wrapped on global grids), if inside.
fn column(g: &SourceGrid, j: i64) -> Option<usize> {
    if g.wraps() {
        Some(j.rem_euclid(g.nx as i64) as usize)
    } else {
        (0..g.nx as i64).contains(&j).then_some(j as usize)
    }
}

fn flat(g: &SourceGrid, i: i64, j: usize) -> u32 {
    (i as usize * g.nx + j) as u32
}

pub fn nearest(g: &SourceGrid, fi: &[f64], fj: &[f64]) -> NearestPlan {
    let index = fi
        .iter()
        .zip(fj)
        .map(|(&i, &j)| {
            if !(i.is_finite() && j.is_finite()) {
                return OUTSIDE;
            }
            // Cells span half an index either side of their centre; ties go up.
            let (i, j) = ((i + 0.5).floor() as i64, (j + 0.5).floor() as i64);
            match column(g, j) {
                Some(j) if (0..g.ny as i64).contains(&i) => flat(g, i, j),
                _ => OUTSIDE,
            }
        })
        .collect();
    NearestPlan { index }
}

pub fn bilinear(g: &SourceGrid, fi: &[f64], fj: &[f64]) -> BilinearPlan {
    let n = fi.len();
    let mut p = BilinearPlan {
        left: Vec::with_capacity(n),
        right: Vec::with_capacity(n),
        ti: Vec::with_capacity(n),
        tj: Vec::with_capacity(n),
    };
    let (ny, nx) = (g.ny as f64, g.nx as f64);
    for (&i, &j) in fi.iter().zip(fj) {
        let mut cell = (OUTSIDE, OUTSIDE, 0.0, 0.0);
        if i.is_finite() && j.is_finite() {
            // A centre exactly on the last row or column reads it with weight 1.
            let mut i0 = i.floor();
            if i == ny - 1.0 && ny >= 2.0 {
                i0 -= 1.0;
            }
            let mut j0 = j.floor();
            if !g.wraps() && j == nx - 1.0 && nx >= 2.0 {
                j0 -= 1.0;
            }
            let a = i0 as i64;
            if a >= 0 && a + 1 < g.ny as i64 {
                if let (Some(l), Some(r)) = (column(g, j0 as i64), column(g, j0 as i64 + 1)) {
                    cell = (
                        flat(g, a, l),
                        flat(g, a, r),
                        (i - i0) as f32,
                        (j - j0) as f32,
                    );
                }
            }
        }
        p.left.push(cell.0);
        p.right.push(cell.1);
        p.ti.push(cell.2);
        p.tj.push(cell.3);
    }
    p
}
