//! Times the ingest of the ERA5 cube in one commit with and without rollup `daily`
//! (the bench's "arrayq map" and "arrayq map+daily"), alternating runs, each into a
//! fresh store:
//!
//!     cargo run -p arrayq-workload --example rollup_ingest -- [xs|s|m] [RUNS]
//!
//! Prints each run's ingest time (staging and commit) and the median ratio.

use std::time::Duration;

use arrayq_storage::Store;
use arrayq_workload::load::{self, Era5LoadOptions, MAP_TILES};
use arrayq_workload::{era5, Scale};

/// The bench's zstd level (bench/src/suites/storage.rs).
const LEVEL: i32 = 3;

fn ingest(scale: Scale, daily_rollup: bool, run: usize) -> Duration {
    let dir = std::env::temp_dir().join(format!(
        "arrayq-rollup-ingest-{}-{run}-{daily_rollup}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).expect("a store in the temporary directory");
    let opts = Era5LoadOptions {
        progress: false,
        slab_cells: era5::n_time(scale) as u64 * era5::MAP_CELLS as u64,
        daily_rollup,
    };
    let rep = load::load_era5_with(&store, "era5", scale, &[("map", MAP_TILES)], LEVEL, &opts)
        .expect("the load");
    assert_eq!(rep.commits.len(), 1, "one whole-cube commit");
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    rep.write_time
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scale: Scale = args
        .first()
        .map_or(Scale::S, |s| s.parse().expect("a scale"));
    let runs: usize = args.get(1).map_or(3, |s| s.parse().expect("a run count"));
    let (mut plain, mut rolled) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let p = ingest(scale, false, run).as_secs_f64();
        let r = ingest(scale, true, run).as_secs_f64();
        println!(
            "run {run}: map {p:.3} s, map+daily {r:.3} s, ratio {:.3}",
            r / p
        );
        plain.push(p);
        rolled.push(r);
    }
    let (p, r) = (median(plain), median(rolled));
    println!(
        "{scale}: median map {p:.3} s, map+daily {r:.3} s, ratio {:.3} (+{:.1}%)",
        r / p,
        (r / p - 1.0) * 100.0
    );
}
