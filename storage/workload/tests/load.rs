//! The loaders against the generators: load scale XS into a temporary store and
//! compare every read with `era5::cube` / `energy::portfolio` bit for bit.

use arrayq_storage::{AsOf, Buffer, Coordinate, ReadOptions, Region, Store};
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
    };
    let layouts = [("pencils", load::pencils(Scale::XS))];
    let rep = load::load_era5_with(&store, "p", Scale::XS, &layouts, 3, &opts).unwrap();
    assert_eq!(rep.slab, [48, 16, 281]);
    assert_eq!(rep.commits.len(), 10); // ceil(153 / 16)
    let snap = store.snapshot("p", AsOf::Latest).unwrap();
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
