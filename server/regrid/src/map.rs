//! The target-to-source coordinate map of a grid pair: computed once (PROJ),
//! then read by every map interpolated onto the target grid.

use crate::plan::{self, BilinearPlan, NearestPlan};
use crate::{Method, RegridError, SourceGrid, TargetGrid, Transformer};
use std::ops::Range;
use std::sync::OnceLock;

/// A box of source cells: rows `i`, columns `j` (end exclusive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexBox {
    pub i: Range<usize>,
    pub j: Range<usize>,
}

/// For every target cell centre (row-major, x fastest): its coordinates in the
/// source CRS and its fractional index in the source grid (NaN where PROJ cannot
/// transform it).
pub struct CoordMap {
    pub source: SourceGrid,
    pub target: TargetGrid,
    /// Target CRS -> source CRS.
    pub transformer: Transformer,
    /// Source-CRS x (longitude) and y (latitude) of each target cell centre.
    pub src_x: Vec<f64>,
    pub src_y: Vec<f64>,
    /// Fractional source row and column of each target cell centre.
    pub fi: Vec<f64>,
    pub fj: Vec<f64>,
    /// Fractional source indices of the target cell corners ((ny + 1) x (nx + 1)),
    /// computed the first time an `average` needs them.
    corners: OnceLock<Result<Corners, String>>,
    nearest: OnceLock<NearestPlan>,
    bilinear: OnceLock<BilinearPlan>,
    /// Per target row, the smallest and largest source row its cells' centres fall
    /// in (`None`: none inside): the rows a full-width window must hold.
    row_span: Vec<Option<(f64, f64)>>,
}

/// Fractional source indices of the cell corners, `(ny + 1) x (nx + 1)`.
pub struct Corners {
    pub fi: Vec<f64>,
    pub fj: Vec<f64>,
}

impl CoordMap {
    /// Transforms every target cell centre into the source grid.
    pub fn compute(
        source: SourceGrid,
        target: TargetGrid,
        transformer: Transformer,
    ) -> Result<CoordMap, RegridError> {
        let mut pts: Vec<(f64, f64)> = (0..target.ny)
            .flat_map(|r| (0..target.nx).map(move |c| (target.x_centre(c), target.y_centre(r))))
            .collect();
        transformer.transform(&mut pts)?;
        let (src_x, src_y): (Vec<f64>, Vec<f64>) = pts.iter().copied().unzip();
        let (fi, fj): (Vec<f64>, Vec<f64>) =
            pts.iter().map(|&(x, y)| source.index_of(x, y)).unzip();
        let row_span = fi
            .chunks(target.nx)
            .map(|row| {
                row.iter()
                    .filter(|v| v.is_finite())
                    .fold(None, |acc: Option<(f64, f64)>, &v| match acc {
                        None => Some((v, v)),
                        Some((a, b)) => Some((a.min(v), b.max(v))),
                    })
            })
            .collect();
        Ok(CoordMap {
            source,
            target,
            transformer,
            src_x,
            src_y,
            fi,
            fj,
            corners: OnceLock::new(),
            nearest: OnceLock::new(),
            bilinear: OnceLock::new(),
            row_span,
        })
    }

    /// The corner indices (computed on first use).
    pub fn corners(&self) -> Result<&Corners, RegridError> {
        let c = self.corners.get_or_init(|| {
            let t = &self.target;
            let mut pts: Vec<(f64, f64)> = (0..=t.ny)
                .flat_map(|r| {
                    (0..=t.nx)
                        .map(move |c| (t.xmin + c as f64 * t.res_x, t.ymax - r as f64 * t.res_y))
                })
                .collect();
            self.transformer
                .transform(&mut pts)
                .map_err(|e| e.to_string())?;
            let (fi, fj) = pts.iter().map(|&(x, y)| self.source.index_of(x, y)).unzip();
            Ok(Corners { fi, fj })
        });
        c.as_ref().map_err(|e| RegridError::Grid(e.clone()))
    }

    /// The nearest kernel's read plan (computed on first use).
    pub fn nearest_plan(&self) -> &NearestPlan {
        self.nearest
            .get_or_init(|| plan::nearest(&self.source, &self.fi, &self.fj))
    }

    /// The bilinear kernel's read plan (computed on first use).
    pub fn bilinear_plan(&self) -> &BilinearPlan {
        self.bilinear
            .get_or_init(|| plan::bilinear(&self.source, &self.fi, &self.fj))
    }

    /// The source cells `method` reads for the target cells `rows x cols`, clamped
    /// to the source grid; `None` when none of them maps inside it. On a wrapping
    /// grid a box that would cross the seam takes every column.
    pub fn source_box(
        &self,
        method: Method,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> Result<Option<IndexBox>, RegridError> {
        let (mut imin, mut imax, mut jmin, mut jmax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        let mut grow = |fi: f64, fj: f64| {
            if fi.is_finite() && fj.is_finite() {
                imin = imin.min(fi);
                imax = imax.max(fi);
                jmin = jmin.min(fj);
                jmax = jmax.max(fj);
            }
        };
        if method == Method::Average {
            let c = self.corners()?;
            let w = self.target.nx + 1;
            for r in rows.start..=rows.end {
                for k in cols.start..=cols.end {
                    grow(c.fi[r * w + k], c.fj[r * w + k]);
                }
            }
        } else if cols.start == 0 && cols.end == self.target.nx && method != Method::Cubic {
            // Whole target rows (the usual case): rows from the per-row spans, every
            // column (the kernels' plans read full-width windows).
            for r in rows {
                if let Some((a, b)) = self.row_span[r] {
                    imin = imin.min(a);
                    imax = imax.max(b);
                }
            }
            if imin > imax {
                return Ok(None);
            }
            let (lo, hi) = ((imin + 0.5).floor() as i64 - 1, imax.floor() as i64 + 1);
            let (a, b) = (lo.max(0), hi.min(self.source.ny as i64 - 1));
            return Ok((a <= b).then(|| IndexBox {
                i: a as usize..b as usize + 1,
                j: 0..self.source.nx,
            }));
        } else {
            let w = self.target.nx;
            for r in rows {
                let at = r * w;
                for k in cols.clone() {
                    grow(self.fi[at + k], self.fj[at + k]);
                }
            }
        }
        if imin > imax {
            return Ok(None);
        }
        let (before, after) = method.reach();
        // Average footprints reach half a cell past their corner indices.
        let average = method == Method::Average;
        let lo = |f: f64| {
            if average {
                (f + 0.5).floor() as i64 - 1
            } else {
                f.floor() as i64
            }
        };
        let hi = |f: f64| {
            if average {
                (f - 0.5).ceil() as i64 + 1
            } else {
                f.floor() as i64
            }
        };
        let clamp = |a: i64, b: i64, n: usize| -> Option<Range<usize>> {
            let a = a.max(0);
            let b = b.min(n as i64 - 1);
            (a <= b).then(|| a as usize..b as usize + 1)
        };
        let Some(i) = clamp(lo(imin) - before, hi(imax) + after, self.source.ny) else {
            return Ok(None);
        };
        let (j0, j1) = (lo(jmin) - before, hi(jmax) + after);
        let j = if self.source.wraps() && (j0 < 0 || j1 >= self.source.nx as i64) {
            0..self.source.nx
        } else {
            match clamp(j0, j1, self.source.nx) {
                Some(j) => j,
                None => return Ok(None),
            }
        };
        Ok(Some(IndexBox { i, j }))
    }

    /// Heap bytes held (for the cache's bound).
    pub fn bytes(&self) -> usize {
        // Centres (4 x f64) and, once made, the plans (16 bytes a cell each at most).
        let n = self.fi.len() * (4 * 8 + 2 * 16);
        let c = match self.corners.get() {
            Some(Ok(c)) => c.fi.len() * 2 * 8,
            _ => 0,
        };
        n + c
    }
}
