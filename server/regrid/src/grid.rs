//! The source (regular lat/lon or any regular y/x) and target (projected) grids.

use crate::RegridError;

/// A regular source grid: cell centres `y0 + i*dy` (rows) and `x0 + j*dx` (columns),
/// in the source CRS's units (degrees for lat/lon, either direction).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SourceGrid {
    pub y0: f64,
    pub dy: f64,
    pub ny: usize,
    pub x0: f64,
    pub dx: f64,
    pub nx: usize,
    /// Longitude/latitude in degrees: x is periodic (360).
    pub geographic: bool,
}

impl SourceGrid {
    /// Whether columns go around the whole globe (column `nx` is column 0 again).
    pub fn wraps(&self) -> bool {
        self.geographic && (self.nx as f64 * self.dx.abs() - 360.0).abs() < 1e-6
    }

    /// The fractional (row, column) index of a point of the source CRS. Longitudes
    /// are first moved by whole turns next to the grid; on a wrapping grid the
    /// column is taken modulo `nx`.
    pub fn index_of(&self, x: f64, y: f64) -> (f64, f64) {
        let mut x = x;
        if self.geographic {
            let mid = self.x0 + self.dx * (self.nx as f64 - 1.0) / 2.0;
            x -= 360.0 * ((x - mid) / 360.0).round();
        }
        let fi = (y - self.y0) / self.dy;
        let mut fj = (x - self.x0) / self.dx;
        if self.wraps() {
            fj = fj.rem_euclid(self.nx as f64);
        }
        (fi, fj)
    }

    /// Cell centre `(x, y)` of row `i`, column `j`.
    pub fn centre(&self, i: usize, j: usize) -> (f64, f64) {
        (self.x0 + j as f64 * self.dx, self.y0 + i as f64 * self.dy)
    }

    /// The key of the grid in caches (bit patterns: exact equality).
    pub fn key(&self) -> [u64; 7] {
        [
            self.y0.to_bits(),
            self.dy.to_bits(),
            self.ny as u64,
            self.x0.to_bits(),
            self.dx.to_bits(),
            self.nx as u64,
            self.geographic as u64,
        ]
    }
}

/// `(xmin, ymin, xmax, ymax)` of a target grid's outer cell edges, in target units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    pub xmin: f64,
    pub ymin: f64,
    pub xmax: f64,
    pub ymax: f64,
}

/// Most cells a target grid may have (a 20,000 x 20,000 image).
pub const MAX_TARGET_CELLS: u64 = 400_000_000;

/// A regular target grid of square or rectangular cells, rows from the top (y
/// descending, as in an image), columns from the left: cell `(r, c)` has its centre
/// at `(xmin + (c + 0.5) * res_x, ymax - (r + 0.5) * res_y)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TargetGrid {
    pub xmin: f64,
    pub ymax: f64,
    pub res_x: f64,
    pub res_y: f64,
    pub nx: usize,
    pub ny: usize,
}

impl TargetGrid {
    /// The grid of resolution `res` covering `bounds`, edges snapped outward to
    /// multiples of `res`.
    pub fn covering(bounds: Bounds, res: f64) -> Result<TargetGrid, RegridError> {
        if !(res.is_finite() && res > 0.0) {
            return Err(RegridError::Grid(format!(
                "resolution must be a positive number of target units, not {res}"
            )));
        }
        let Bounds {
            xmin,
            ymin,
            xmax,
            ymax,
        } = bounds;
        let finite = [xmin, ymin, xmax, ymax].iter().all(|v| v.is_finite());
        if !(xmin < xmax && ymin < ymax && finite) {
            return Err(RegridError::Grid(format!(
                "bounds must be (xmin, ymin, xmax, ymax) with xmin < xmax and ymin < ymax, not ({xmin}, {ymin}, {xmax}, {ymax})"
            )));
        }
        // Snapping tolerates the rounding of bounds that are meant as multiples.
        let snap_down = |v: f64| (v / res + 1e-9).floor() * res;
        let snap_up = |v: f64| (v / res - 1e-9).ceil() * res;
        let (x0, x1, y0, y1) = (
            snap_down(xmin),
            snap_up(xmax),
            snap_down(ymin),
            snap_up(ymax),
        );
        let nx = ((x1 - x0) / res).round() as u64;
        let ny = ((y1 - y0) / res).round() as u64;
        TargetGrid::checked(x0, y1, res, res, nx, ny)
    }

    /// A grid from its top-left edge, cell sizes and counts.
    pub fn checked(
        xmin: f64,
        ymax: f64,
        res_x: f64,
        res_y: f64,
        nx: u64,
        ny: u64,
    ) -> Result<TargetGrid, RegridError> {
        if nx == 0 || ny == 0 {
            return Err(RegridError::Grid("the target grid has no cells".into()));
        }
        if nx.saturating_mul(ny) > MAX_TARGET_CELLS {
            return Err(RegridError::Grid(format!(
                "the target grid would have {ny} x {nx} cells, over the limit of {MAX_TARGET_CELLS}; use a coarser resolution or smaller bounds"
            )));
        }
        Ok(TargetGrid {
            xmin,
            ymax,
            res_x,
            res_y,
            nx: nx as usize,
            ny: ny as usize,
        })
    }

    pub fn x_centre(&self, c: usize) -> f64 {
        self.xmin + (c as f64 + 0.5) * self.res_x
    }

    pub fn y_centre(&self, r: usize) -> f64 {
        self.ymax - (r as f64 + 0.5) * self.res_y
    }

    pub fn bounds(&self) -> Bounds {
        Bounds {
            xmin: self.xmin,
            ymin: self.ymax - self.ny as f64 * self.res_y,
            xmax: self.xmin + self.nx as f64 * self.res_x,
            ymax: self.ymax,
        }
    }

    pub fn key(&self) -> [u64; 6] {
        [
            self.xmin.to_bits(),
            self.ymax.to_bits(),
            self.res_x.to_bits(),
            self.res_y.to_bits(),
            self.nx as u64,
            self.ny as u64,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q7_bounds_give_342_columns_and_341_rows() {
        let b = Bounds {
            xmin: -2_020_000.0,
            ymin: 4_040_000.0,
            xmax: 1_400_000.0,
            ymax: 7_450_000.0,
        };
        let g = TargetGrid::covering(b, 10_000.0).unwrap();
        assert_eq!((g.ny, g.nx), (341, 342));
        assert_eq!(g.x_centre(0), -2_015_000.0);
        assert_eq!(g.y_centre(0), 7_445_000.0);
    }

    #[test]
    fn bounds_snap_outward() {
        let b = Bounds {
            xmin: -15.0,
            ymin: 1.0,
            xmax: 15.0,
            ymax: 29.0,
        };
        let g = TargetGrid::covering(b, 10.0).unwrap();
        assert_eq!(
            g.bounds(),
            Bounds {
                xmin: -20.0,
                ymin: 0.0,
                xmax: 20.0,
                ymax: 30.0
            }
        );
    }

    #[test]
    fn longitudes_move_next_to_the_grid_and_wrap_on_global_grids() {
        // ERA5 native global grid: 0 .. 359.75.
        let g = SourceGrid {
            y0: 90.0,
            dy: -0.25,
            ny: 721,
            x0: 0.0,
            dx: 0.25,
            nx: 1440,
            geographic: true,
        };
        assert!(g.wraps());
        assert_eq!(g.index_of(-10.0, 45.0), (180.0, 1400.0));
        let (_, fj) = g.index_of(359.9, 0.0);
        assert!((fj - 1439.6).abs() < 1e-9);
        // A European grid -25 .. 45 does not wrap; 350 E is -10 E.
        let e = SourceGrid {
            y0: 72.0,
            dy: -0.25,
            ny: 153,
            x0: -25.0,
            dx: 0.25,
            nx: 281,
            geographic: true,
        };
        assert!(!e.wraps());
        assert_eq!(e.index_of(350.0, 72.0), (0.0, 60.0));
    }
}
