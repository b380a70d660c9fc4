//! `arrayq-bench probe`: runs one arrayq operation of the storage suite alone, in a
//! loop, with per-stage timings, so a profiler (`perf record -g`) sees nothing else.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use arrayq_storage::{AsOf, ReadOptions, Region, Store};
use arrayq_workload::era5;
use arrayq_workload::load::{self, MAP_TILES};

use crate::measure::{fmt_bytes, fmt_secs};
use crate::suites::storage::LEVEL;
use crate::suites::Ctx;

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Op {
    /// `load_era5` into a fresh durable store, `--runs` times.
    Ingest,
    /// One load, then `--runs` warm full reads.
    Read,
    /// `load_energy` (one commit per ingest round) into a fresh durable store.
    Energy,
    /// One era5 query (`--query`) on an existing store (`--store`) against its decode
    /// floor, wall and CPU time (`probe_query`).
    Query,
}

/// Runs `op` with the storage suite's setup (map tiles, zstd level 3), printing
/// timings and, with `keep`, leaving the last store in that directory.
pub fn run(ctx: &Ctx, op: Op, keep: Option<&Path>) -> Result<()> {
    let scale = ctx.scale;
    anyhow::ensure!(op != Op::Query, "probe query runs through probe_query::run");
    if op == Op::Energy {
        return energy(ctx);
    }
    let layouts = [("map", MAP_TILES)];
    let loads = if op == Op::Ingest { ctx.runs } else { 1 };
    let mut last = None;
    for k in 0..loads {
        drop(last.take());
        let dir = ctx.temp_dir("arrayq-bench-probe-")?;
        let store = Store::open(dir.path())?;
        let rep = load::load_era5(&store, "era5", scale, &layouts, LEVEL, false)?;
        println!(
            "load {}: store {} (generation {}, total {}), {} commits, {} stored, {:.0} MB/s",
            k + 1,
            fmt_secs(rep.write_time.as_secs_f64()),
            fmt_secs(rep.gen_time.as_secs_f64()),
            fmt_secs(rep.total_time.as_secs_f64()),
            rep.commits.len(),
            fmt_bytes(rep.stored_bytes as f64),
            rep.write_mb_per_s()
        );
        last = Some((dir, store));
    }
    let (dir, store) = last.expect("one load");
    if op == Op::Read {
        let snap = store.snapshot("era5", AsOf::Latest)?;
        let full = Region::full(&snap.shape());
        let opts = ReadOptions {
            layout: Some(0),
            ..Default::default()
        };
        for k in 0..ctx.runs {
            let t = Instant::now();
            let buf = snap.read_with(0, &full, opts)?;
            let secs = t.elapsed().as_secs_f64();
            println!(
                "read {}: {} ({:.0} MB/s)",
                k + 1,
                fmt_secs(secs),
                (buf.len() * 4) as f64 / 1e6 / secs
            );
        }
    }
    store.flush()?;
    println!(
        "size on disk {} ({} of {} hours)",
        fmt_bytes(store.size_on_disk()? as f64),
        scale,
        era5::n_time(scale)
    );
    drop(store);
    if let Some(keep) = keep {
        let kept = dir.keep();
        std::fs::rename(&kept, keep).or_else(|_| {
            // Across file systems: leave it where it is and say so.
            println!("store left in {}", kept.display());
            Ok::<_, std::io::Error>(())
        })?;
        println!("store kept in {}", keep.display());
    }
    Ok(())
}

fn energy(ctx: &Ctx) -> Result<()> {
    for k in 0..ctx.runs {
        let dir = ctx.temp_dir("arrayq-bench-probe-")?;
        let store = Store::open(dir.path())?;
        let t = Instant::now();
        let commits = load::load_energy(&store, "power", ctx.scale, ctx.progress)?;
        let secs = t.elapsed().as_secs_f64();
        let cells: u64 = commits.iter().map(|c| c.cells_written).sum();
        let snap = store.snapshot("power", AsOf::Latest)?;
        let stored: u64 = snap.meta().stats.iter().map(|s| s.bytes).sum();
        store.flush()?;
        println!(
            "energy load {}: {} for {} rounds, {cells} cells written, {} stored, {} on disk",
            k + 1,
            fmt_secs(secs),
            commits.len(),
            fmt_bytes(stored as f64),
            fmt_bytes(store.size_on_disk()? as f64)
        );
    }
    Ok(())
}
