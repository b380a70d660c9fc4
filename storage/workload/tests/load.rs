//! The loaders: load scale XS into a temporary store, check the stored values at
//! sample positions against the README's formulas (computed here, independently of
//! the generators) exactly, and every read with `era5::cube` / `energy::portfolio`
//! bit for bit.

use std::f64::consts::PI;

use arrayq_storage::{AsOf, Buffer, Coordinate, ReadOptions, Region, Snapshot, Store};
use arrayq_workload::load::{
    self, EnergyLoadOptions, EnergyWrites, Era5LoadOptions, BALANCED, MAP_TILES,
};
use arrayq_workload::{energy, era5, Scale};

fn f32_bits(b: &Buffer) -> Vec<u32> {
    match b {
        Buffer::F32(a) => a.iter().map(|v| v.to_bits()).collect(),
        other => panic!("expected f32, got {:?}", other.dtype()),
    }
}

fn bits<'a>(v: impl IntoIterator<Item = &'a f32>) -> Vec<u32> {
    v.into_iter().map(|v| v.to_bits()).collect()
}

/// The README's formulas, written out again from the README (not from the
/// generators), evaluated left to right in `f64` and rounded to `f32` once.
mod formula {
    use super::PI;
    use chrono::{DateTime, NaiveDate, Timelike, Utc};
    use chrono_tz::Europe::Amsterdam;

    /// SplitMix64 of `key` (the standard constants).
    fn splitmix64(key: u64) -> u64 {
        let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `u = (z >> 11) / 2^53`.
    fn u(key: u64) -> f64 {
        (splitmix64(key) >> 11) as f64 / 9_007_199_254_740_992.0
    }

    /// `t2m` at hour `h`, lat index `i`, lon index `j`.
    pub fn t2m(h: u64, i: u64, j: u64) -> f32 {
        let (hf, lat, lon) = (h as f64, 72.0 - 0.25 * i as f64, -25.0 + 0.25 * j as f64);
        let season = -(2.0 * PI * (hf / 24.0 - 15.0) / 365.25).cos();
        let diurnal = (2.0 * PI * (hf % 24.0 + lon / 15.0 - 14.0) / 24.0).cos();
        let wave = (3.0 * lat.to_radians() + 2.0 * lon.to_radians() + 2.0 * PI * hf / 97.0).sin();
        let noise = u((h << 32) + (i << 16) + j);
        (288.15 - 0.55 * (lat - 45.0)
            + (8.0 + 0.15 * (lat - 34.0)) * season
            + 4.0 * diurnal
            + 3.0 * wave
            + (noise - 0.5)) as f32
    }

    /// `power` of asset `a` (1-based id) at UTC quarter `q` (from 2022-12-31T23:00Z)
    /// as known after ingest round `round` (`None`: after all rounds).
    pub fn power(a: u64, q: u64, round: Option<u64>) -> f32 {
        let utc = DateTime::<Utc>::from_timestamp(1_672_527_600 + 900 * q as i64, 0).unwrap();
        let local = utc.with_timezone(&Amsterdam);
        let day0 = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
        let d = (local.date_naive() - day0).num_days() as u64;
        let hour = local.hour() as f64 + local.minute() as f64 / 60.0;
        let versions = 1 + splitmix64((a << 20) + d) % 3;
        let v = round.map_or(versions, |r| r.min(versions));
        let cap = (1 + a % 17) as f64;
        let shape = match a % 3 {
            0 => {
                let s = (PI * (hour - 6.0) / 12.0).sin();
                let solar_season = 0.6 + 0.4 * (2.0 * PI * (d as f64 - 80.0) / 365.0).sin();
                s.max(0.0) * solar_season
            }
            1 => 0.5 + 0.4 * (2.0 * PI * q as f64 / (96.0 * 3.7) + a as f64).sin(),
            _ => 0.6 + 0.2 * (2.0 * PI * (hour - 18.0) / 24.0).cos(),
        };
        let noise = u((a << 40) + (q << 4) + v) - 0.5;
        (cap * shape + 0.05 * cap * noise * (versions - v) as f64) as f32
    }
}

/// Hours, latitudes and longitudes that cover the corners, the middle and chunk
/// edges of every layout at XS.
const ERA5_SAMPLES: [(u64, u64, u64); 7] = [
    (0, 0, 0),
    (47, 152, 280),
    (13, 80, 120),
    (23, 63, 64),
    (24, 64, 63),
    (31, 7, 200),
    (40, 140, 8),
];

/// The stored `t2m` at each sample position through layout `layout` equals the
/// formula bit for bit.
fn assert_era5_samples(snap: &Snapshot, layout: usize, hours: u64) {
    for &(h, i, j) in ERA5_SAMPLES.iter().filter(|s| s.0 < hours) {
        let cell = Region(vec![h..h + 1, i..i + 1, j..j + 1]);
        let opts = ReadOptions {
            layout: Some(layout),
            ..Default::default()
        };
        let got = f32_bits(&snap.read_with(0, &cell, opts).unwrap());
        assert_eq!(
            got,
            vec![formula::t2m(h, i, j).to_bits()],
            "t2m at ({h}, {i}, {j}) through layout {layout}"
        );
    }
}

#[test]
fn era5_xs_reads_back_bit_exact_through_every_layout() {
    let store = Store::temporary().unwrap();
    let layouts = [
        ("map", MAP_TILES),
        ("pencils", load::pencils(Scale::XS)),
        ("balanced", BALANCED),
    ];
    let rep = load::load_era5(&store, "era5", Scale::XS, &layouts, 3, false).unwrap();
    let n = era5::n_time(Scale::XS);
    assert_eq!(rep.cells, (n * era5::MAP_CELLS) as u64);
    assert_eq!(rep.raw_bytes, rep.cells * 4);
    assert_eq!(rep.commits.len(), 1, "XS fits one slab");
    assert_eq!(rep.commits[0].version, 1);
    assert!(rep.stored_bytes > 0 && rep.stored_bytes < rep.raw_bytes * 3);

    let want = bits(era5::cube(Scale::XS).iter());
    let snap = store.snapshot("era5", AsOf::Latest).unwrap();
    assert_eq!(snap.shape(), vec![n as u64, 153, 281]);
    let full = Region::full(&snap.shape());
    for (l, (lname, _)) in layouts.iter().enumerate() {
        assert_era5_samples(&snap, l, n as u64);
        let opts = ReadOptions {
            layout: Some(l),
            ..Default::default()
        };
        let got = snap.read_with(0, &full, opts).unwrap();
        assert_eq!(f32_bits(&got), want, "layout {lname}");
    }
    // A point series and a box through the automatically chosen layout.
    let cube = era5::cube(Scale::XS);
    let point = Region(vec![0..n as u64, 80..81, 120..121]);
    let got = snap.read("t2m", &point).unwrap();
    let exp: Vec<f32> = (0..n).map(|h| cube[[h, 80, 120]]).collect();
    assert_eq!(f32_bits(&got), bits(&exp));

    // Coordinates as the workload README defines them.
    let s = snap.schema();
    assert_eq!(
        s.dims[0].coord,
        Coordinate::Time {
            start_ns: era5::TIME0_NS,
            step_ns: era5::HOUR_NS
        }
    );
    assert_eq!(s.dims[1].coord.nearest(52.0, 153), Some(80));
    assert_eq!(s.dims[2].coord.nearest(5.0, 281), Some(120));
    assert!(s.dims[0].growable && !s.dims[1].growable);
}

#[test]
fn era5_small_slabs_give_the_same_cube() {
    // Slabs of 5 hours against 2-hour chunks (rounded to 4 hours) and pencils that
    // span all slabs: many commits, read-modify-write of the pencil chunks.
    let store = Store::temporary().unwrap();
    let layouts = [("two_hours", [2, 153, 281]), ("pencils", [48, 8, 8])];
    let opts = Era5LoadOptions {
        progress: false,
        slab_cells: 5 * era5::MAP_CELLS as u64,
        ..Default::default()
    };
    let rep = load::load_era5_with(&store, "e", Scale::XS, &layouts, 1, &opts).unwrap();
    assert_eq!(rep.slab, [4, 153, 281]);
    assert_eq!(rep.commits.len(), 12);
    let versions: Vec<u64> = rep.commits.iter().map(|c| c.version).collect();
    assert_eq!(versions, (1..=12).collect::<Vec<_>>());
    let want = bits(era5::cube(Scale::XS).iter());
    let snap = store.snapshot("e", AsOf::Latest).unwrap();
    let full = Region::full(&snap.shape());
    for l in 0..2 {
        assert_era5_samples(&snap, l, 48);
        let opts = ReadOptions {
            layout: Some(l),
            ..Default::default()
        };
        assert_eq!(f32_bits(&snap.read_with(0, &full, opts).unwrap()), want);
    }
    // Version 3 holds the first 12 hours, the rest is fill (NaN).
    let v3 = store.snapshot("e", AsOf::Version(3)).unwrap();
    let got = v3.read("t2m", &full).unwrap();
    let Buffer::F32(a) = got else { panic!() };
    let cube = era5::cube(Scale::XS);
    assert_eq!(a[[11, 7, 9]].to_bits(), cube[[11, 7, 9]].to_bits());
    assert!(a[[12, 7, 9]].is_nan());
}

#[test]
fn pencil_first_layout_loads_in_latitude_bands() {
    let store = Store::temporary().unwrap();
    let opts = Era5LoadOptions {
        progress: false,
        slab_cells: 48 * 16 * 281,
        ..Default::default()
    };
    let layouts = [("pencils", load::pencils(Scale::XS))];
    let rep = load::load_era5_with(&store, "p", Scale::XS, &layouts, 3, &opts).unwrap();
    assert_eq!(rep.slab, [48, 16, 281]);
    assert_eq!(rep.commits.len(), 10); // ceil(153 / 16)
    let snap = store.snapshot("p", AsOf::Latest).unwrap();
    assert_era5_samples(&snap, 0, 48);
    let got = snap.read("t2m", &Region::full(&snap.shape())).unwrap();
    assert_eq!(f32_bits(&got), bits(era5::cube(Scale::XS).iter()));
}

fn check_energy(store: &Store, name: &str) {
    let (n_assets, _) = energy::sizes(Scale::XS);
    let snap = store.snapshot(name, AsOf::Latest).unwrap();
    assert_eq!(
        snap.schema().dims[0].coord,
        Coordinate::Labels {
            labels: (1..=n_assets as i64).collect()
        }
    );
    let full = Region::full(&snap.shape());
    assert_eq!(snap.shape(), vec![20, 3 * 96]);
    // Asset positions (id = position + 1) of every kind, quarters at both ends, at
    // local midnight and around noon.
    let samples = [
        (0u64, 0u64),
        (1, 4),
        (2, 50),
        (9, 95),
        (10, 96),
        (17, 191),
        (19, 287),
    ];
    for round in [Some(1), Some(2), None] {
        let s = match round {
            Some(r) => store.snapshot(name, AsOf::Version(r)).unwrap(),
            None => store.snapshot(name, AsOf::Latest).unwrap(),
        };
        for (p, q) in samples {
            let cell = Region(vec![p..p + 1, q..q + 1]);
            assert_eq!(
                f32_bits(&s.read("value", &cell).unwrap()),
                vec![formula::power(p + 1, q, round).to_bits()],
                "{name}: asset {} quarter {q} as of round {round:?}",
                p + 1
            );
        }
    }
    for r in 1..=3u32 {
        let s = store.snapshot(name, AsOf::Version(r as u64)).unwrap();
        let got = s.read("value", &full).unwrap();
        let want = energy::portfolio(Scale::XS, Some(r));
        assert_eq!(f32_bits(&got), bits(want.iter()), "{name} as of round {r}");
    }
    let got = snap.read("value", &full).unwrap();
    assert_eq!(
        f32_bits(&got),
        bits(energy::portfolio(Scale::XS, None).iter())
    );
    // Round 1 differs from the final state (older versions carry noise).
    assert_ne!(
        energy::portfolio(Scale::XS, Some(1)),
        energy::portfolio(Scale::XS, None)
    );
}

#[test]
fn energy_xs_versions_are_the_rounds() {
    let store = Store::temporary().unwrap();
    let commits = load::load_energy(&store, "power", Scale::XS, false).unwrap();
    let versions: Vec<u64> = commits.iter().map(|c| c.version).collect();
    assert_eq!(versions, vec![1, 2, 3]);
    // Round 1 writes every batch: 20 assets x 3 days x 96 quarters.
    assert_eq!(commits[0].cells_written, 20 * 3 * 96);
    let round2: usize = energy::round(Scale::XS, 2)
        .iter()
        .map(|b| b.values.len())
        .sum();
    assert_eq!(commits[1].cells_written, round2 as u64);
    check_energy(&store, "power");
}

#[test]
fn energy_asset_bands_store_the_same_versions() {
    let store = Store::temporary().unwrap();
    let opts = EnergyLoadOptions {
        progress: false,
        writes: EnergyWrites::AssetBands,
    };
    let commits = load::load_energy_with(&store, "bands", Scale::XS, &opts).unwrap();
    assert_eq!(commits.len(), 3);
    check_energy(&store, "bands");
}
