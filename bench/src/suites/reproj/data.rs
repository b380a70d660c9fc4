//! What the suite reprojects: the window of hourly ERA5 maps, the smooth field, the
//! target grid, and the `.npy` files the peers read.

use std::path::Path;

use anyhow::{Context, Result};
use arrayq_workload::{era5, Scale};
use npyz::WriterBuilder;

use crate::suites::common::iso;

/// The target CRS (PROJ string).
pub const CRS: &str = "+proj=tmerc +lon_0=15 +datum=WGS84";
/// Cell size of the target grid, metres.
pub const RES: f64 = 10_000.0;
/// Bounds of the target grid: xmin, ymin, xmax, ymax (metres).
pub const BOUNDS: [f64; 4] = [-2_020_000.0, 4_040_000.0, 1_400_000.0, 7_450_000.0];
/// Name of the smooth field's array and its attribute.
pub const SMOOTH: &str = "smooth";
/// The smooth field's attribute.
pub const SMOOTH_ATTR: &str = "f";
/// The maps of the multi-map case (a week of hours).
pub const WEEK: usize = 168;
/// Index, within the window, of Q7's single map (12:00 of its first day).
pub const ONE_INDEX: usize = 12;

/// The target grid: rows from the top (y descending), x fastest.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Target {
    /// Rows (y).
    pub height: usize,
    /// Columns (x).
    pub width: usize,
}

impl Target {
    /// The grid of [`BOUNDS`] and [`RES`].
    pub fn q7() -> Target {
        let [xmin, ymin, xmax, ymax] = BOUNDS;
        Target {
            height: ((ymax - ymin) / RES).round() as usize,
            width: ((xmax - xmin) / RES).round() as usize,
        }
    }

    /// x of column `k`'s centre.
    pub fn x(&self, k: usize) -> f64 {
        BOUNDS[0] + (k as f64 + 0.5) * RES
    }

    /// y of row `k`'s centre.
    pub fn y(&self, k: usize) -> f64 {
        BOUNDS[3] - (k as f64 + 0.5) * RES
    }
}

/// The hours reprojected: `start..start + maps` of the cube (2023-01-15T00Z, a week,
/// when the scale has them; else from the first hour).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First hour (index into the cube's time).
    pub start: usize,
    /// Maps in the multi-map case.
    pub maps: usize,
}

impl Window {
    /// The window of `scale`.
    pub fn of(scale: Scale) -> Window {
        let n = era5::n_time(scale);
        let start = if n >= 14 * 24 + WEEK { 14 * 24 } else { 0 };
        Window {
            start,
            maps: WEEK.min(n - start),
        }
    }

    /// The hour of Q7's single map.
    pub fn one_hour(&self) -> usize {
        self.start + ONE_INDEX.min(self.maps - 1)
    }

    /// Q7's single map index within the window.
    pub fn one_index(&self) -> usize {
        self.one_hour() - self.start
    }

    /// `reproject(...)` of `array` onto the target grid, bilinear.
    fn from(array: &str) -> String {
        let [xmin, ymin, xmax, ymax] = BOUNDS;
        format!(
            "reproject({array}, crs => '{CRS}', resolution => {RES}, \
             bounds => ({xmin}, {ymin}, {xmax}, {ymax}), method => 'bilinear')"
        )
    }

    /// Q7: one map.
    pub fn sql_one(&self) -> String {
        format!(
            "SELECT t2m FROM {} WHERE time = '{}'",
            Window::from(super::ARRAY),
            iso(era5::time_ns(self.one_hour()))
        )
    }

    /// Q7 for every map of the window.
    pub fn sql_maps(&self) -> String {
        format!(
            "SELECT t2m FROM {} WHERE time >= '{}' AND time < '{}'",
            Window::from(super::ARRAY),
            iso(era5::time_ns(self.start)),
            iso(era5::time_ns(self.start + self.maps))
        )
    }

    /// The smooth field onto the same grid.
    pub fn sql_smooth() -> String {
        format!("SELECT {SMOOTH_ATTR} FROM {}", Window::from(SMOOTH))
    }
}

/// `sin(2 lat) cos(lon)` (degrees turned into radians) at the source cell centres,
/// computed in float64 and stored as float32, (lat, lon) row-major.
pub fn smooth_field() -> Vec<f32> {
    let mut v = Vec::with_capacity(era5::MAP_CELLS);
    for i in 0..era5::N_LAT {
        let s = (2.0 * era5::lat(i)).to_radians().sin();
        for j in 0..era5::N_LON {
            v.push((s * era5::lon(j).to_radians().cos()) as f32);
        }
    }
    v
}

/// `CREATE ARRAY` of the smooth field: the cube's lat/lon grid, one map tile.
pub fn smooth_ddl() -> String {
    format!(
        "CREATE ARRAY {SMOOTH} (lat DOUBLE START {} STEP {} LENGTH {}, \
         lon DOUBLE START {} STEP {} LENGTH {}, {SMOOTH_ATTR} REAL) \
         WITH (chunks = ({}, {}))",
        era5::LAT0,
        era5::LAT_STEP,
        era5::N_LAT,
        era5::LON0,
        era5::LON_STEP,
        era5::N_LON,
        era5::N_LAT,
        era5::N_LON
    )
}

/// Writes float32 `values` of `shape` (C order) as `.npy`.
pub fn write_npy(path: &Path, shape: &[usize], values: &[f32]) -> Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let shape: Vec<u64> = shape.iter().map(|&n| n as u64).collect();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(std::io::BufWriter::with_capacity(8 << 20, f))
        .begin_nd()?;
    w.extend(values.iter().copied())?;
    w.finish()?;
    Ok(())
}

/// Writes the window's maps (from the generator, as arrayq stores them) and the
/// smooth field into `dir` as `src.npy` and `smooth.npy` for the peers.
pub fn write_peer_inputs(dir: &Path, w: &Window) -> Result<()> {
    let maps = era5::block(w.start..w.start + w.maps, 0..era5::N_LAT, 0..era5::N_LON);
    write_npy(
        &dir.join("src.npy"),
        &[w.maps, era5::N_LAT, era5::N_LON],
        &maps,
    )?;
    write_npy(
        &dir.join("smooth.npy"),
        &[era5::N_LAT, era5::N_LON],
        &smooth_field(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_window_and_sql() {
        let t = Target::q7();
        assert_eq!((t.height, t.width), (341, 342));
        assert_eq!(t.x(0), -2_015_000.0);
        assert_eq!(t.y(0), 7_445_000.0);
        let w = Window::of(Scale::S);
        assert_eq!((w.start, w.maps, w.one_index()), (336, 168, 12));
        assert_eq!(
            w.sql_one(),
            "SELECT t2m FROM reproject(era5, crs => '+proj=tmerc +lon_0=15 +datum=WGS84', \
             resolution => 10000, bounds => (-2020000, 4040000, 1400000, 7450000), \
             method => 'bilinear') WHERE time = '2023-01-15T12:00:00Z'"
        );
        assert!(w
            .sql_maps()
            .ends_with("WHERE time >= '2023-01-15T00:00:00Z' AND time < '2023-01-22T00:00:00Z'"));
        let xs = Window::of(Scale::XS);
        assert_eq!((xs.start, xs.maps, xs.one_hour()), (0, 48, 12));
        assert!(Window::sql_smooth().starts_with("SELECT f FROM reproject(smooth, "));
    }

    #[test]
    fn smooth_field_values() {
        let f = smooth_field();
        assert_eq!(f.len(), era5::MAP_CELLS);
        // lat 72, lon -25: sin(144 deg) cos(-25 deg)
        let want = (144f64.to_radians().sin() * 25f64.to_radians().cos()) as f32;
        assert_eq!(f[0], want);
        assert!(smooth_ddl().contains("lat DOUBLE START 72 STEP -0.25 LENGTH 153"));
    }

    #[test]
    fn npy_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        write_npy(&p, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, f32::NAN]).unwrap();
        let a = arrayq_tests::read_npy_f32(&p).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data[4], 5.0);
        assert!(a.data[5].is_nan());
    }
}
