//! `arrayq-bench probe query`: one ERA5 query of the era5 suite against its decode
//! floor, in alternating batches, reporting wall time and CPU time of each side.
//!
//! The CPU-time ratio (all threads of this process, `getrusage`) barely moves when
//! other work shares the machine, where the wall-time ratio the era5 suite checks
//! does: this is the probe to run under a profiler or on a busy machine; the suite
//! stays the figure of record.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};
use arrayq_storage::AsOf;

use crate::measure::{cpu_seconds, fmt_secs, CpuOf};
use crate::suites::common::arrayq::{open_engine, run_sql};
use crate::suites::common::floor::Floor;
use crate::suites::era5::queries::queries;
use crate::suites::Ctx;

/// Queries (or floor passes) per batch: CPU time is read per batch.
const BATCH: usize = 10;

/// Runs query `id` (Q1-Q6) of the era5 suite on the store in `dir` (array `era5`)
/// and the bare zstd decode of the chunks it reads, `ctx.runs` batches each.
pub fn run(ctx: &Ctx, dir: &Path, id: &str) -> Result<()> {
    let engine = open_engine(dir)?;
    let n = engine.store().snapshot("era5", AsOf::Latest)?.shape()[0] as usize;
    let Some(q) = queries(n).into_iter().find(|q| q.id == id) else {
        bail!("no query {id} in the era5 suite (Q1-Q6)");
    };
    let first = run_sql(&engine, &q.sql)?;
    let layout = first.stats.layout.clone();
    let floor = Floor::fetch(&engine, &layout, &q.region)?;
    let dec = floor.decoder(ctx.threads)?;
    println!(
        "{id}: {} | layout {layout}, {} chunks, {} stored bytes",
        q.sql,
        floor.payloads.len(),
        floor.stored
    );
    let mut ratios = Vec::new();
    for b in 0..ctx.runs.max(1) {
        let (qw, qc) = batch(|| run_sql(&engine, &q.sql).map(drop))?;
        let (fw, fc) = batch(|| floor.decode(&dec))?;
        ratios.push((qw / fw, qc / fc));
        println!(
            "batch {}: query {} wall, {} cpu | floor {} wall, {} cpu | ratio wall {:.3}, cpu {:.3}",
            b + 1,
            fmt_secs(qw),
            fmt_secs(qc),
            fmt_secs(fw),
            fmt_secs(fc),
            qw / fw,
            qc / fc
        );
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "median ratio to the decode floor: wall {:.3}, cpu {:.3}",
        median(ratios.iter().map(|r| r.0).collect()),
        median(ratios.iter().map(|r| r.1).collect())
    );
    Ok(())
}

/// Mean wall and CPU seconds of one call of `f`, over a batch after one warm call.
fn batch(mut f: impl FnMut() -> Result<()>) -> Result<(f64, f64)> {
    f()?;
    let (t, c) = (Instant::now(), cpu_seconds(CpuOf::This));
    for _ in 0..BATCH {
        f()?;
    }
    let k = BATCH as f64;
    Ok((
        t.elapsed().as_secs_f64() / k,
        (cpu_seconds(CpuOf::This) - c) / k,
    ))
}
