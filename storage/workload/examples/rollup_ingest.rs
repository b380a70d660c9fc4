//! Times the ingest of the ERA5 cube in one commit with and without rollup `daily`
//! (the bench's "arrayq map" and "arrayq map+daily"), alternating runs, each into a
//! fresh store:
//!
//!     cargo run -p arrayq-workload --example rollup_ingest -- [xs|s|m] [RUNS]
//!
//! The cube is generated once, outside the timings. Prints each run's ingest (the
//! sink's write and commit) in wall time and in the process's CPU time (steadier
//! on a shared machine), and the median ratios.

use std::time::Instant;

use arrayq_storage::{Buffer, Store};
use arrayq_workload::load::{era5_schema, ERA5_ATTR, MAP_TILES};
use arrayq_workload::{era5, Scale};

/// The bench's zstd level (bench/src/suites/storage.rs).
const LEVEL: i32 = 3;

/// User + system CPU seconds of this process so far (/proc/self/stat).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which ends with the last ')'): utime is the
    // 12th, stime the 13th, in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// (wall s, CPU s) of one whole-cube commit into a fresh store.
fn ingest(scale: Scale, cube: &ndarray::ArrayD<f32>, daily: bool, run: usize) -> (f64, f64) {
    let dir = std::env::temp_dir().join(format!(
        "arrayq-rollup-ingest-{}-{run}-{daily}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir).expect("a store in the temporary directory");
    store
        .create_array(era5_schema("era5", scale, &[("map", MAP_TILES)], LEVEL))
        .unwrap();
    if daily {
        let t2m = (ERA5_ATTR.to_string(), true, true, true);
        store.add_rollup("era5", "daily", "time", &[t2m]).unwrap();
    }
    let data = Buffer::F32(cube.clone());
    let (wall, cpu) = (Instant::now(), cpu_s());
    let mut sink = store.ingest("era5").unwrap();
    sink.write_owned(ERA5_ATTR, &[0, 0, 0], data).unwrap();
    sink.commit().unwrap();
    let took = (wall.elapsed().as_secs_f64(), cpu_s() - cpu);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    took
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
    let cube = era5::cube(scale).into_dyn();
    let mut rows: Vec<[f64; 4]> = Vec::new();
    for run in 0..runs {
        let (pw, pc) = ingest(scale, &cube, false, run);
        let (rw, rc) = ingest(scale, &cube, true, run);
        println!(
            "run {run}: map {pw:.3} s ({pc:.2} s CPU), map+daily {rw:.3} s ({rc:.2} s CPU): \
             wall ratio {:.3}, CPU ratio {:.3}",
            rw / pw,
            rc / pc
        );
        rows.push([pw, pc, rw, rc]);
    }
    let m = |i: usize| median(rows.iter().map(|r| r[i]).collect());
    println!(
        "{scale}: median map {:.3} s ({:.2} s CPU), map+daily {:.3} s ({:.2} s CPU): \
         wall ratio {:.3}, CPU ratio {:.3}",
        m(0),
        m(1),
        m(2),
        m(3),
        m(2) / m(0),
        m(3) / m(1)
    );
}
