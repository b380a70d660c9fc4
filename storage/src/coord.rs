//! Dimension coordinates: regular numbers, regular timestamps, explicit labels.

use serde::{Deserialize, Serialize};
use std::ops::Range;

/// How a dimension's index maps to a coordinate value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Coordinate {
    /// `start + i * step` (latitude, longitude, heights...). `step` may be negative.
    Regular { start: f64, step: f64 },
    /// `start_ns + i * step_ns`, UTC nanoseconds since the Unix epoch.
    Time { start_ns: i64, step_ns: i64 },
    /// Explicit int64 labels (asset ids); unique, in insertion order.
    Labels { labels: Vec<i64> },
}

/// One coordinate value (shared with clients, so it lives in `arrayq-format`).
pub use arrayq_format::CoordValue;

impl Coordinate {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Coordinate::Regular { .. } => "regular",
            Coordinate::Time { .. } => "time",
            Coordinate::Labels { .. } => "labels",
        }
    }

    /// The coordinate of index `i` (labels beyond the known ones are not valid).
    pub fn value(&self, i: u64) -> CoordValue {
        match self {
            Coordinate::Regular { start, step } => CoordValue::Number(start + step * i as f64),
            Coordinate::Time { start_ns, step_ns } => {
                CoordValue::Time(start_ns + step_ns * i as i64)
            }
            Coordinate::Labels { labels } => CoordValue::Label(labels[i as usize]),
        }
    }

    /// Index of the cell nearest to `x` within half a step (xarray's `method='nearest'`),
    /// or `None` when `x` lies outside the grid of `len` cells.
    pub fn nearest(&self, x: f64, len: u64) -> Option<u64> {
        let (start, step) = match self {
            Coordinate::Regular { start, step } => (*start, *step),
            Coordinate::Time { start_ns, step_ns } => (*start_ns as f64, *step_ns as f64),
            Coordinate::Labels { labels } => {
                return labels.iter().position(|&l| l as f64 == x).map(|p| p as u64)
            }
        };
        let pos = (x - start) / step;
        // Half a step tolerance on both ends, with a hair of slack for float rounding.
        if !(-0.5 - 1e-9..=len as f64 - 0.5 + 1e-9).contains(&pos) || len == 0 {
            return None;
        }
        Some((pos.round().max(0.0) as u64).min(len - 1))
    }

    /// Index range of the cells whose coordinate lies in `[lo, hi]` (bounds optional,
    /// each inclusive or exclusive). Works for ascending and descending grids.
    pub fn index_range(
        &self,
        lo: Option<(f64, bool)>,
        hi: Option<(f64, bool)>,
        len: u64,
    ) -> Range<u64> {
        let (start, step) = match self {
            Coordinate::Regular { start, step } => (*start, *step),
            Coordinate::Time { start_ns, step_ns } => (*start_ns as f64, *step_ns as f64),
            Coordinate::Labels { labels } => {
                // Labels carry no order: callers filter them one by one instead.
                let _ = labels;
                return 0..len;
            }
        };
        let eps = 1e-9 * step.abs();
        // Positions (in index units) where the coordinate crosses each bound.
        let first_ok = |p: f64, incl: bool, rising: bool| -> f64 {
            // Smallest index i with coord(i) on the allowed side of the bound.
            if rising {
                if incl {
                    (p - eps / step.abs()).ceil()
                } else {
                    (p + eps / step.abs()).floor() + 1.0
                }
            } else if incl {
                (p + eps / step.abs()).floor() + 1.0
            } else {
                (p - eps / step.abs()).ceil()
            }
        };
        let mut a = 0.0f64;
        let mut b = len as f64; // exclusive
        let ascending = step > 0.0;
        if let Some((v, incl)) = lo {
            let p = (v - start) / step;
            if ascending {
                a = a.max(first_ok(p, incl, true));
            } else {
                // coord >= v  <=>  i <= p (descending)
                b = b.min(first_ok(p, incl, false));
            }
        }
        if let Some((v, incl)) = hi {
            let p = (v - start) / step;
            if ascending {
                b = b.min(first_ok(p, incl, false));
            } else {
                a = a.max(first_ok(p, incl, true));
            }
        }
        let a = a.clamp(0.0, len as f64) as u64;
        let b = b.clamp(0.0, len as f64) as u64;
        a..b.max(a)
    }

    /// Position of a label, for label dimensions.
    pub fn label_index(&self, label: i64) -> Option<u64> {
        match self {
            Coordinate::Labels { labels } => {
                labels.iter().position(|&l| l == label).map(|p| p as u64)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_within_half_step_on_descending_grid() {
        let lat = Coordinate::Regular {
            start: 72.0,
            step: -0.25,
        };
        assert_eq!(lat.nearest(52.0, 153), Some(80));
        assert_eq!(lat.nearest(52.1, 153), Some(80));
        assert_eq!(lat.nearest(72.1, 153), Some(0));
        assert_eq!(lat.nearest(72.2, 153), None);
        assert_eq!(lat.nearest(33.8, 153), None);
    }

    #[test]
    fn inclusive_box_on_descending_grid() {
        let lat = Coordinate::Regular {
            start: 72.0,
            step: -0.25,
        };
        let r = lat.index_range(Some((50.0, true)), Some((54.0, true)), 153);
        assert_eq!(r, 72..89); // 54.0 is index 72, 50.0 is index 88
        let r = lat.index_range(Some((50.0, false)), Some((54.0, false)), 153);
        assert_eq!(r, 73..88);
    }

    #[test]
    fn ascending_bounds() {
        let lon = Coordinate::Regular {
            start: -25.0,
            step: 0.25,
        };
        assert_eq!(
            lon.index_range(Some((3.0, true)), Some((8.0, true)), 281),
            112..133
        );
        assert_eq!(lon.index_range(None, Some((-25.0, false)), 281), 0..0);
        assert_eq!(lon.index_range(Some((100.0, true)), None, 281), 281..281);
    }
}
