//! Reprojection of regular latitude/longitude grids onto projected grids.
//!
//! A [`TargetGrid`] (cell centres in metres of a projected CRS, y descending as in an
//! image) is tied to a [`SourceGrid`] (regular lat/lon, either latitude direction,
//! longitudes possibly wrapping around the globe) by a [`CoordMap`]: for every
//! target cell centre, its longitude/latitude (through PROJ) and its fractional
//! index in the source grid. Maps are computed once per (source grid, target grid,
//! CRS) and kept in a small process-wide cache ([`coord_map`]), so a stack of hourly
//! maps pays the transform once. The [`kernels`] interpolate one source map into
//! target rows: `nearest`, `bilinear`, `cubic` (Keys, a = -0.5) and `average`
//! (area-weighted over each target cell's footprint).
//!
//! The rule for missing values, shared by every method: a target cell is NaN when
//! any source cell its method reads lies outside the source grid, or holds NaN (the
//! fill value of float arrays).

mod cache;
mod crs;
mod error;
mod grid;
pub mod kernels;
mod map;
mod method;
mod plan;

pub use cache::{coord_map, source_bounds, CacheLookup};
pub use crs::{is_geographic, normalize_crs, Transformer};
pub use error::RegridError;
pub use grid::{Bounds, SourceGrid, TargetGrid};
pub use map::{CoordMap, IndexBox};
pub use method::Method;
