//! Suite `analyst`: an analyst's questions of the ERA5 cube, in arrayq's SQL and in
//! xarray + Dask, in one run: (a) the monthly climatology per cell, (b) January's
//! hourly anomaly against a stored climatology (a join), (c) the 95th percentile of
//! the daily maxima per cell (daily maxima stored, then a percentile over them), (d)
//! the 24-hour rolling mean of one point, (e) storing the climatology with `CREATE
//! ARRAY ... AS SELECT`.
//!
//! - **arrayq** runs in-process ([`arrayq_query::Engine`], `execute` + `collect_all`,
//!   configured like `arrayqd`) on a copy of the cached cube (map tiles and pencils,
//!   as `arrayqd --demo` and the pydask suite: [`cached_era5`]); the planner picks the
//!   layout per statement. Each question's steps run in interleaved rounds with the
//!   decode floor of the chunks each step reads (the era5 suite's floor: bare zstd of
//!   the stored payloads, fetched into memory first, on `--threads` threads).
//! - **xarray + Dask** (`bench/peers/analyst_peers.py`) on the era5 suite's Zarr v3
//!   stores, map tiles and pencils (`xr.open_zarr(chunks="auto")`, threaded scheduler,
//!   `--threads` workers), one untimed run then `--runs` timed ones per question.
//! - **Answers**: every arrayq answer is compared cell by cell with each store's
//!   xarray answer of the same run (saved as `.npy`); the largest differences go in
//!   the table, and any cell beyond the tolerance fails the suite.

mod arrayq;
mod compare;
mod peers;
mod questions;
mod report;

use anyhow::Result;
use arrayq_workload::era5;

use super::common::arrayq::open_engine;
use super::common::cube::{cached_era5, era5_layouts};
use super::common::era5_files::ensure_peer_files;
use super::common::files::{copy_dir, data_root};
use super::common::peers::{first_line, venv};
use super::{Ctx, Suite};
use crate::results::{Check, SuiteResult};
use compare::{compare, magnitude, read_answer, Diff};
use peers::{run_layout, PeerRun, LAYOUTS};
use questions::questions;

/// The suite.
pub struct Analyst;

impl Suite for Analyst {
    fn name(&self) -> &'static str {
        "analyst"
    }

    fn about(&self) -> &'static str {
        "climatology, anomaly join, percentile of daily maxima, rolling mean, CREATE ARRAY AS: arrayq vs xarray+Dask on Zarr, with decode floors"
    }

    fn run(&self, ctx: &Ctx) -> Result<SuiteResult> {
        run(ctx)
    }
}

fn run(ctx: &Ctx) -> Result<SuiteResult> {
    let scale = ctx.scale;
    let qs = questions(era5::n_time(scale));
    let mut res = ctx.result("analyst");
    // The era5 suite's data root: its Zarr stores are shared.
    let (root, _tmp) = data_root(ctx, &format!("era5-{scale}"))?;
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs)?;
    let bar = ctx.bar((2 + qs.len() + LAYOUTS.len()) as u64, "analyst: cube");

    let cube = cached_era5(ctx, &era5_layouts(scale))?;
    let work = ctx.temp_dir("arrayq-bench-analyst-")?;
    let store = work.path().join("store");
    copy_dir(&cube.dir, &store)?;
    let engine = open_engine(&store)?;
    bar.inc(1);
    let rounds = ctx.runs.max(5);
    let mut runs = Vec::new();
    for q in &qs {
        bar.set_message(format!("analyst: arrayq ({})", q.id));
        runs.push(arrayq::measure(&engine, q, rounds, ctx.threads)?);
        bar.inc(1);
    }
    drop(engine);

    let mut peer_runs: Vec<PeerRun> = Vec::new();
    if !ctx.skip_peers {
        bar.set_message("analyst: peers' venv and Zarr files");
        let (python, versions) = venv(ctx, &logs)?;
        let files = ensure_peer_files(ctx, &python, &root, &logs)?;
        res.notes
            .push(format!("peer versions (setup_venv.sh): {versions}"));
        bar.inc(1);
        for layout in LAYOUTS {
            bar.set_message(format!("analyst: {}", layout.0));
            let log = logs.join(format!("analyst-{}.log", layout.1));
            match run_layout(ctx, &python, &files.dir, work.path(), layout, &log) {
                Ok(p) => peer_runs.push(p),
                Err(e) => res.notes.push(format!(
                    "{} failed, not measured: {}",
                    layout.0,
                    first_line(&format!("{e:#}"))
                )),
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    let diffs = check_answers(&qs, &runs, &peer_runs, &mut res)?;
    report::push(ctx.threads, &qs, &runs, &peer_runs, &diffs, &mut res);
    notes(ctx, &qs, &peer_runs, rounds, &mut res);
    drop(work);
    drop(_tmp);
    Ok(res)
}

/// Every arrayq answer against each store's xarray answer; one check counts the
/// questions whose answers differ.
fn check_answers(
    qs: &[questions::Question],
    runs: &[arrayq::QuestionRun],
    peers: &[PeerRun],
    res: &mut SuiteResult,
) -> Result<Vec<Vec<Diff>>> {
    // The data's magnitude (the largest climatological mean), the scale of every
    // tolerance: values derived from temperatures near 280 K agree within 1e-5 of it.
    let scale = magnitude(&runs[0].answer.columns[0].to_f64_vec());
    let mut out = Vec::new();
    let mut wrong = 0;
    for (q, r) in qs.iter().zip(runs) {
        let mut ds = Vec::new();
        for p in peers {
            let path = p.answers.join(format!("{}.npy", q.peer));
            let (shape, values) = read_answer(&path)?;
            match compare(&r.answer, (&shape, &values), scale) {
                Ok(d) => {
                    res.notes
                        .push(format!("answer {} vs {}: {}", q.id, p.system, d.describe()));
                    if d.bad > 0 {
                        wrong += 1;
                    }
                    ds.push(d);
                }
                Err(e) => {
                    wrong += 1;
                    res.notes
                        .push(format!("WRONG ANSWER: {} vs {}: {e:#}", q.id, p.system));
                }
            }
        }
        out.push(ds);
    }
    if !peers.is_empty() {
        res.checks.push(Check::at_most(
            "answers differing from xarray+Dask's",
            wrong as f64,
            0.0,
            &format!(
                "cell by cell, |arrayq - xarray| <= 1e-5 x max(|xarray|, {scale:.1} K) \
                 (the largest climatological mean), each question against each Zarr store"
            ),
        ));
    }
    Ok(out)
}

/// The questions as written on both sides, and how they ran.
fn notes(
    ctx: &Ctx,
    qs: &[questions::Question],
    peers: &[PeerRun],
    rounds: usize,
    res: &mut SuiteResult,
) {
    for q in qs {
        let sql: Vec<String> = q
            .steps
            .iter()
            .map(|s| {
                format!(
                    "`{}`",
                    s.sql.split_whitespace().collect::<Vec<_>>().join(" ")
                )
            })
            .collect();
        res.notes.push(format!(
            "{} ({}): arrayq {}; xarray `{}` (t = ds.t2m)",
            q.id,
            q.name,
            sql.join(" then "),
            q.xarray
        ));
    }
    res.notes.push(format!(
        "arrayq in-process (Engine::execute + collect_all, the answer in memory; configured \
         like arrayqd) on a copy of the cube with layouts maps (1,153,281) and pencils, \
         {} rayon threads; {rounds} interleaved rounds after one untimed round, each step \
         of a question and each step's decode floor (bare zstd of the stored chunks it \
         reads, through the layout it chose) once per round; a SELECT runs once untimed \
         right before its timed run. xarray+Dask: open_zarr(chunks='auto'), threaded \
         scheduler with {} workers, one untimed run then {} timed per question.",
        ctx.threads, ctx.threads, ctx.runs
    ));
    for p in peers {
        res.metric(
            &format!("{}: open", p.system),
            p.open_s,
            "s",
            &format!("xr.open_zarr, once; versions {}", p.versions),
        );
    }
}
