//! The ERA5-like cube `era5` (variable `t2m`, kelvin, `f32`, dims time x lat x lon).
//!
//! Each term is computed in `f64` with exactly the operation order of the README
//! formula (and of the numpy reference), so results are bit-identical across
//! implementations that use a correctly rounded-in-practice libm (glibc).

use std::f64::consts::{PI, TAU};
use std::ops::Range;

use ndarray::Array3;
use rayon::prelude::*;

use crate::{splitmix64, unit, Scale};

/// Number of latitudes (72.00 down to 34.00).
pub const N_LAT: usize = 153;
/// Number of longitudes (-25.00 up to 45.00).
pub const N_LON: usize = 281;
/// First latitude, degrees north (latitudes descend, like an ERA5 download).
pub const LAT0: f64 = 72.0;
/// Latitude step, degrees (negative: descending).
pub const LAT_STEP: f64 = -0.25;
/// First longitude, degrees east.
pub const LON0: f64 = -25.0;
/// Longitude step, degrees.
pub const LON_STEP: f64 = 0.25;
/// Time of hour index 0: 2023-01-01T00:00:00Z in nanoseconds since the Unix epoch.
pub const TIME0_NS: i64 = 1_672_531_200_000_000_000;
/// One hour in nanoseconds (the time step of the cube).
pub const HOUR_NS: i64 = 3_600_000_000_000;

/// Values per hour (one lat x lon map).
pub const MAP_CELLS: usize = N_LAT * N_LON;
/// Degrees to radians exactly as numpy's `radians` and Rust's `to_radians` do it.
const DEG: f64 = PI / 180.0;

/// Number of hourly steps at a scale: 2 days, January 2023, or all of 2023.
pub fn n_time(scale: Scale) -> usize {
    match scale {
        Scale::XS => 48,
        Scale::S => 744,
        Scale::M => 8760,
    }
}

/// Latitude (degrees) of index `i`; exact in `f64` since the step is a power of two.
pub fn lat(i: usize) -> f64 {
    LAT0 + LAT_STEP * i as f64
}

/// Longitude (degrees) of index `j`; exact in `f64`.
pub fn lon(j: usize) -> f64 {
    LON0 + LON_STEP * j as f64
}

/// Timestamp (ns since the Unix epoch) of hour index `h`.
pub fn time_ns(h: usize) -> i64 {
    TIME0_NS + HOUR_NS * h as i64
}

// The formula split into the parts that depend on fewer indices, so `hours` can
// precompute them; `value` calls the same functions, which keeps both bit-identical.

fn lat_base(la: f64) -> f64 {
    288.15 - 0.55 * (la - 45.0)
}

fn season_amp(la: f64) -> f64 {
    8.0 + 0.15 * (la - 34.0)
}

fn season(hf: f64) -> f64 {
    -(TAU * (hf / 24.0 - 15.0) / 365.25).cos()
}

/// `4 * diurnal`, which depends only on the hour of day and the longitude.
fn diurnal4(hour_of_day: f64, lo: f64) -> f64 {
    4.0 * (TAU * (hour_of_day + lo / 15.0 - 14.0) / 24.0).cos()
}

/// The spatial part of the wave's phase (added first, as in the formula).
fn wave_space(la: f64, lo: f64) -> f64 {
    3.0 * (la * DEG) + 2.0 * (lo * DEG)
}

fn wave_time(hf: f64) -> f64 {
    TAU * hf / 97.0
}

/// The noise term `u - 0.5`, keyed by the cell's integer indices.
fn noise(h: u64, i: usize, j: usize) -> f64 {
    unit(splitmix64((h << 32) + ((i as u64) << 16) + j as u64)) - 0.5
}

/// `t2m` at hour `h`, lat index `i`, lon index `j`, straight from the formula.
/// Slow per value; use [`hours`] for bulk data.
pub fn value(h: u64, i: usize, j: usize) -> f32 {
    let (hf, la, lo) = (h as f64, lat(i), lon(j));
    let t = lat_base(la)
        + season_amp(la) * season(hf)
        + diurnal4(hf % 24.0, lo)
        + 3.0 * (wave_space(la, lo) + wave_time(hf)).sin()
        + noise(h, i, j);
    t as f32
}

/// Hours `h0..h1` as a row-major `(h1 - h0, N_LAT, N_LON)` buffer, bit-identical to
/// [`value`]. Hours are generated in parallel; per-lat, per-lon and per-hour terms
/// are computed once, leaving one `sin` and one hash per value.
pub fn hours(h0: usize, h1: usize) -> Vec<f32> {
    assert!(h0 <= h1, "hours: h0 {h0} > h1 {h1}");
    block(h0..h1, 0..N_LAT, 0..N_LON)
}

/// Any box of the cube: hours `t`, lat indices `lat`, lon indices `lon`, as a
/// row-major `(t.len(), lat.len(), lon.len())` buffer, bit-identical to [`value`].
/// Loaders use it to write slabs aligned to a chunk grid (e.g. a band of latitudes
/// over the whole year) without generating whole maps.
pub fn block(t: Range<usize>, lat_r: Range<usize>, lon_r: Range<usize>) -> Vec<f32> {
    assert!(
        t.start <= t.end && lat_r.start <= lat_r.end && lon_r.start <= lon_r.end,
        "block: empty or reversed range {t:?} x {lat_r:?} x {lon_r:?}"
    );
    assert!(
        lat_r.end <= N_LAT && lon_r.end <= N_LON,
        "block: {lat_r:?} x {lon_r:?} outside the {N_LAT} x {N_LON} grid"
    );
    let (ni, nj) = (lat_r.len(), lon_r.len());
    let lats: Vec<f64> = lat_r.clone().map(lat).collect();
    let lons: Vec<f64> = lon_r.clone().map(lon).collect();
    let base: Vec<f64> = lats.iter().map(|&la| lat_base(la)).collect();
    let amp: Vec<f64> = lats.iter().map(|&la| season_amp(la)).collect();
    let ws: Vec<f64> = lats
        .iter()
        .flat_map(|&la| lons.iter().map(move |&lo| wave_space(la, lo)))
        .collect();
    let d4: Vec<f64> = (0..24)
        .flat_map(|hod| lons.iter().map(move |&lo| diurnal4(hod as f64, lo)))
        .collect();

    let plane = ni * nj;
    let mut out = vec![0f32; t.len() * plane];
    if plane == 0 {
        return out;
    }
    out.par_chunks_mut(plane).enumerate().for_each(|(k, map)| {
        let h = t.start + k;
        let hf = h as f64;
        let (s, wt) = (season(hf), wave_time(hf));
        let d4h = &d4[(h % 24) * nj..][..nj];
        for (ii, row) in map.chunks_exact_mut(nj).enumerate() {
            let i = lat_r.start + ii;
            let r = base[ii] + amp[ii] * s;
            let wsi = &ws[ii * nj..][..nj];
            for (jj, v) in row.iter_mut().enumerate() {
                let t =
                    r + d4h[jj] + 3.0 * (wsi[jj] + wt).sin() + noise(h as u64, i, lon_r.start + jj);
                *v = t as f32;
            }
        }
    });
    out
}

/// The whole cube of a scale as an `(n_time, N_LAT, N_LON)` array.
pub fn cube(scale: Scale) -> Array3<f32> {
    let n = n_time(scale);
    Array3::from_shape_vec((n, N_LAT, N_LON), hours(0, n)).expect("shape matches length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_ends() {
        assert_eq!(lat(N_LAT - 1), 34.0);
        assert_eq!(lon(N_LON - 1), 45.0);
        assert_eq!(time_ns(24), TIME0_NS + 86_400_000_000_000);
    }

    #[test]
    fn hours_equal_value() {
        let h0 = 8750;
        let buf = hours(h0, h0 + 3);
        for k in 0..3 {
            for i in (0..N_LAT).step_by(7) {
                for j in (0..N_LON).step_by(5) {
                    let got = buf[k * MAP_CELLS + i * N_LON + j];
                    assert_eq!(got.to_bits(), value((h0 + k) as u64, i, j).to_bits());
                }
            }
        }
    }

    #[test]
    fn block_equals_value() {
        let (t, la, lo) = (8700..8703, 70..83, 270..281);
        let buf = block(t.clone(), la.clone(), lo.clone());
        assert_eq!(buf.len(), 3 * 13 * 11);
        let mut k = 0;
        for h in t {
            for i in la.clone() {
                for j in lo.clone() {
                    assert_eq!(buf[k].to_bits(), value(h as u64, i, j).to_bits());
                    k += 1;
                }
            }
        }
        assert!(block(5..5, 0..N_LAT, 0..N_LON).is_empty());
    }

    #[test]
    fn plausible_temperatures() {
        let c = cube(Scale::XS);
        assert_eq!(c.shape(), &[48, N_LAT, N_LON]);
        let (lo, hi) = c
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        assert!(lo > 230.0 && hi < 320.0, "range {lo}..{hi}");
    }
}
