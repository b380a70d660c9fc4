//! The energy portfolio `power` (MW, `f32`): quarter-hourly values per asset,
//! delivered in batches of one asset x one local (Europe/Amsterdam) day, each batch
//! in 1..=3 versions that arrive in ingest rounds.
//!
//! As in [`crate::era5`], each value is computed in `f64` in the README's operation
//! order and rounded to `f32` once, so it matches the numpy reference bit for bit.

use std::f64::consts::{PI, TAU};

use chrono::{DateTime, Days, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Europe::Amsterdam;
use ndarray::Array2;
use rayon::prelude::*;

use crate::{splitmix64, unit, Scale};

/// Time of quarter index 0: 2022-12-31T23:00:00Z (local midnight of 2023-01-01), ns.
pub const Q0_NS: i64 = 1_672_527_600_000_000_000;
/// One quarter-hour in nanoseconds (the time step of the portfolio).
pub const QUARTER_NS: i64 = 900_000_000_000;

/// `(n_assets, n_local_days)` of a scale: XS 20/3, S 200/31 (January), M 5000/365.
pub fn sizes(scale: Scale) -> (usize, usize) {
    match scale {
        Scale::XS => (20, 3),
        Scale::S => (200, 31),
        Scale::M => (5000, 365),
    }
}

/// Timestamp (ns since the Unix epoch) of UTC quarter index `q`.
pub fn ts_ns(q: usize) -> i64 {
    Q0_NS + QUARTER_NS * q as i64
}

/// UTC nanoseconds of local midnight starting local day `d` (0 = 2023-01-01).
fn local_midnight_ns(d: usize) -> i64 {
    let date = NaiveDate::from_ymd_opt(2023, 1, 1).expect("valid date") + Days::new(d as u64);
    let local = date.and_hms_opt(0, 0, 0).expect("valid time");
    // Midnight is never skipped or repeated in Amsterdam (DST switches at 02:00/03:00).
    let dt = Amsterdam
        .from_local_datetime(&local)
        .earliest()
        .expect("local midnight exists");
    dt.timestamp() * 1_000_000_000
}

/// `(first UTC quarter, number of quarters)` of local days `0..n_days`: 96 quarters
/// a day, 92 on the spring DST change and 100 on the autumn one.
pub fn local_days(n_days: usize) -> Vec<(usize, usize)> {
    let edges: Vec<i64> = (0..=n_days).map(local_midnight_ns).collect();
    edges
        .windows(2)
        .map(|w| {
            let q0 = (w[0] - Q0_NS) / QUARTER_NS;
            ((q0) as usize, ((w[1] - w[0]) / QUARTER_NS) as usize)
        })
        .collect()
}

/// Local (Europe/Amsterdam) hour of day of UTC quarter `q` as a float, e.g. 13.75.
pub fn local_hour(q: usize) -> f64 {
    let utc: DateTime<Utc> = DateTime::from_timestamp_nanos(ts_ns(q));
    let local = utc.with_timezone(&Amsterdam);
    local.hour() as f64 + local.minute() as f64 / 60.0
}

/// Number of versions (1..=3) of the batch of asset `a` (1-based id), local day `d`.
pub fn versions(a: i64, d: usize) -> u32 {
    1 + (splitmix64(((a as u64) << 20) + d as u64) % 3) as u32
}

/// Values of asset `a`, local day `d` (UTC quarters `q0..q0+n`), version `v`.
/// Computes the local hours itself; bulk generators reuse a precomputed table.
pub fn batch(a: i64, d: usize, q0: usize, n: usize, v: u32) -> Vec<f32> {
    let hours: Vec<f64> = (q0..q0 + n).map(local_hour).collect();
    batch_with_hours(a, d, q0, v, &hours)
}

/// [`batch`] with the local hours of its quarters given (`hours.len()` quarters).
fn batch_with_hours(a: i64, d: usize, q0: usize, v: u32, hours: &[f64]) -> Vec<f32> {
    let cap = (1 + a % 17) as f64;
    let kind = a % 3;
    let solar_season = 0.6 + 0.4 * (TAU * (d as f64 - 80.0) / 365.0).sin();
    let age = (versions(a, d) as i64 - v as i64) as f64; // 0 for the newest version
    hours
        .iter()
        .enumerate()
        .map(|(k, &hour)| {
            let q = q0 + k;
            let shape = match kind {
                0 => {
                    // numpy's maximum(0, s): 0.0 unless s > 0 (keeps +0.0 as in numpy).
                    let s = (PI * (hour - 6.0) / 12.0).sin();
                    (if s > 0.0 { s } else { 0.0 }) * solar_season
                }
                1 => 0.5 + 0.4 * (TAU * q as f64 / (96.0 * 3.7) + a as f64).sin(),
                _ => 0.6 + 0.2 * (TAU * (hour - 18.0) / 24.0).cos(),
            };
            let key = ((a as u64) << 40) + ((q as u64) << 4) + v as u64;
            let noise = unit(splitmix64(key)) - 0.5;
            (cap * shape + 0.05 * cap * noise * age) as f32
        })
        .collect()
}

/// Matrix `(asset, UTC quarter)` as known after ingest round `as_of_round`
/// (`None`: after all rounds, i.e. the newest version of every batch).
pub fn portfolio(scale: Scale, as_of_round: Option<u32>) -> Array2<f32> {
    let (n_assets, _) = sizes(scale);
    let n_q = n_quarters(scale);
    let m = rows(scale, 0..n_assets, as_of_round);
    Array2::from_shape_vec((n_assets, n_q), m).expect("shape matches length")
}

/// Number of UTC quarters the local days of a scale span (the time extent).
pub fn n_quarters(scale: Scale) -> usize {
    let (_, n_days) = sizes(scale);
    local_days(n_days).last().map_or(0, |&(q0, n)| q0 + n)
}

/// Rows `assets` (0-based positions; asset id = position + 1) of [`portfolio`], as a
/// flat row-major `(assets.len(), n_quarters)` buffer. Loaders use it to write bands
/// of whole rows instead of single batches.
pub fn rows(scale: Scale, assets: std::ops::Range<usize>, as_of_round: Option<u32>) -> Vec<f32> {
    let (n_assets, n_days) = sizes(scale);
    assert!(
        assets.end <= n_assets,
        "rows: {assets:?} beyond {n_assets} assets"
    );
    let days = local_days(n_days);
    let n_q = days.last().map_or(0, |&(q0, n)| q0 + n);
    let hours: Vec<f64> = (0..n_q).map(local_hour).collect();
    let mut m = vec![0f32; assets.len() * n_q];
    m.par_chunks_mut(n_q.max(1))
        .enumerate()
        .for_each(|(row, out)| {
            let a = (assets.start + row) as i64 + 1;
            for (d, &(q0, n)) in days.iter().enumerate() {
                let vmax = versions(a, d);
                let v = as_of_round.map_or(vmax, |r| vmax.min(r));
                let vals = batch_with_hours(a, d, q0, v, &hours[q0..q0 + n]);
                out[q0..q0 + n].copy_from_slice(&vals);
            }
        });
    m
}

/// One delivery: a version of the values of one asset on one local day.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Asset id (1-based label, not a position).
    pub asset: i64,
    /// Local day index (0 = 2023-01-01 Europe/Amsterdam).
    pub day: usize,
    /// UTC quarter index of the first value (see [`ts_ns`]).
    pub q0: usize,
    /// Version number, equal to the round that delivers it.
    pub version: u32,
    /// The day's values: 96, or 92/100 on DST change days.
    pub values: Vec<f32>,
}

/// Batches of ingest round `r` (1..=3) in ingest order (asset, then day): version `r`
/// of every batch that has at least `r` versions. Loaders commit once per round.
pub fn round(scale: Scale, r: u32) -> Vec<Batch> {
    assert!(r >= 1, "rounds start at 1");
    let (n_assets, n_days) = sizes(scale);
    let days = local_days(n_days);
    let n_q = days.last().map_or(0, |&(q0, n)| q0 + n);
    let hours: Vec<f64> = (0..n_q).map(local_hour).collect();
    // Rayon's collect keeps the sequential order.
    (1..=n_assets as i64)
        .into_par_iter()
        .flat_map_iter(|a| {
            let (days, hours) = (&days, &hours);
            days.iter()
                .enumerate()
                .filter(move |&(d, _)| versions(a, d) >= r)
                .map(move |(d, &(q0, n))| Batch {
                    asset: a,
                    day: d,
                    q0,
                    version: r,
                    values: batch_with_hours(a, d, q0, r, &hours[q0..q0 + n]),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dst_day_lengths() {
        let days = local_days(365);
        // 2023-03-26 is day 84, 2023-10-29 is day 301.
        assert_eq!(days[84].1, 92);
        assert_eq!(days[301].1, 100);
        assert_eq!(days.iter().filter(|d| d.1 != 96).count(), 2);
        assert_eq!(days.iter().map(|d| d.1).sum::<usize>(), 365 * 96);
        for w in days.windows(2) {
            assert_eq!(w[0].0 + w[0].1, w[1].0);
        }
        assert_eq!(days[0], (0, 96));
    }

    #[test]
    fn local_hours() {
        assert_eq!(local_hour(0), 0.0);
        assert_eq!(local_hour(55), 13.75);
        // Summer time: local midnight of 2023-07-01 (day 181) is 22:00Z.
        let (q0, _) = local_days(182)[181];
        assert_eq!(local_hour(q0), 0.0);
        assert_eq!(ts_ns(q0), 1_688_162_400_000_000_000);
        // The spring-forward day skips 02:00-03:00 local.
        let (q0, _) = local_days(85)[84];
        assert_eq!(local_hour(q0 + 7), 1.75);
        assert_eq!(local_hour(q0 + 8), 3.0);
    }

    #[test]
    fn versions_in_range_and_rounds_cover_them() {
        let (n_assets, n_days) = sizes(Scale::XS);
        let total: usize = (1..=n_assets as i64)
            .flat_map(|a| (0..n_days).map(move |d| versions(a, d) as usize))
            .sum();
        let delivered: usize = (1..=3).map(|r| round(Scale::XS, r).len()).sum();
        assert_eq!(total, delivered);
        assert!(round(Scale::XS, 4).is_empty());
    }

    #[test]
    fn batch_matches_portfolio() {
        let m = portfolio(Scale::XS, None);
        let days = local_days(3);
        let (q0, n) = days[1];
        for a in 1..=20i64 {
            let v = versions(a, 1);
            let b = batch(a, 1, q0, n, v);
            assert_eq!(
                b.as_slice(),
                &m.row(a as usize - 1).as_slice().unwrap()[q0..q0 + n]
            );
        }
        // Solar assets (id multiple of 3) are zero at local midnight.
        assert_eq!(m[[2, 0]], 0.0);
    }
}
