//! Suite `ingest`: loading the daily NetCDF files of the ERA5 cube, `arrayq load
//! netcdf` into a fresh server against xarray's `open_mfdataset(...).load()` into
//! memory, in the same run on the same files, warm (the files in the page cache).
//!
//! The files are those `era5_files.py` writes for the `era5` suite (one file per day,
//! chunks `(1, 153, 281)`, zlib 4 + shuffle), shared with it under
//! `<cache-dir>/era5-<scale>/files/` ([`crate::suites::common::era5_files`]).
//!
//! Every round: the files are read once (page cache), then
//!
//! 1. **arrayq**: a release `arrayqd` on an empty store under `--tmp-dir`
//!    ([`ArrayqdProcess`], the suite's threads), and the release `arrayq` beside it
//!    timed from spawn to exit: `arrayq --addr URL load netcdf FILES --array era5`
//!    (the array is created with the server's default chunks), and again on a new
//!    empty store with `--chunks 1,153,281` (map tiles, the files' own chunks). The
//!    server's ingest commits (and fsyncs) before the command exits. After each
//!    load the array is checked over gRPC: its shape, `SELECT avg(t2m) FROM era5`
//!    against the generator's float64 mean (relative 1e-5) and against xarray's
//!    numpy mean, and the map of Q2 equal to the generator's as float32.
//! 2. **xarray**: `bench/peers/ingest_peers.py`, one process per variant and round:
//!    one untimed load, then one timed `xr.open_mfdataset(files,
//!    combine="by_coords").load()` (Dask threaded, `--threads` workers; engine
//!    netcdf4), and the same with `parallel=True`.
//!
//! Figure: MB/s of the float32 payload (n x 153 x 281 x 4 bytes); target: arrayq
//! (default chunks) at least 0.70 of xarray's default call's speed, the median of
//! the per-round ratios.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use arrayq_client::Client;
use arrayq_workload::era5;
use serde_json::Value;

use super::common::answers::{compare, Answer, REL_TOL};
use super::common::arrayqd::{arrayqd_binary, ArrayqdOptions, ArrayqdProcess};
use super::common::era5_files::{ensure_peer_files, write_cube_npy};
use super::common::files::{data_root, dir_bytes};
use super::common::grpc_client::client_runtime;
use super::common::peers::{first_line, run_peer, venv};
use super::era5::queries::queries;
use super::{Ctx, Suite};
use crate::measure::{fmt_bytes, fmt_secs, paired_ratio, Timing};
use crate::results::{CaseResult, Check, SuiteResult};

/// The suite.
pub struct Ingest;

impl Suite for Ingest {
    fn name(&self) -> &'static str {
        "ingest"
    }

    fn about(&self) -> &'static str {
        "daily NetCDF files into arrayq (arrayq load netcdf, fresh arrayqd) vs xarray open_mfdataset(...).load(), warm, MB/s"
    }

    fn run(&self, ctx: &Ctx) -> Result<SuiteResult> {
        run(ctx)
    }
}

/// The system the target judges.
const ARRAYQ: &str = "arrayq load netcdf";
/// The same with map-tile chunks.
const ARRAYQ_MAPS: &str = "arrayq load netcdf --chunks 1,153,281";
/// xarray's call as written.
const XARRAY: &str = "xarray open_mfdataset().load()";
/// The same with `parallel=True`.
const XARRAY_PAR: &str = "xarray open_mfdataset(parallel=True).load()";
/// Bound of the target (arrayq's speed / xarray's).
const TARGET: f64 = 0.70;

/// arrayq's variants: system name and extra `load netcdf` flags.
const ARRAYQ_RUNS: [(&str, &[&str]); 2] =
    [(ARRAYQ, &[]), (ARRAYQ_MAPS, &["--chunks", "1,153,281"])];
/// xarray's variants: system name and `ingest_peers.py --variant`.
const XARRAY_RUNS: [(&str, &str); 2] = [(XARRAY, "default"), (XARRAY_PAR, "parallel")];

/// What one arrayq load did.
struct Load {
    secs: f64,
    /// CPU seconds of the `arrayq` process (user + system).
    client_cpu: f64,
    /// CPU seconds arrayqd used during the load.
    server_cpu: f64,
    stored_bytes: u64,
    /// The command's summary line.
    line: String,
    /// What was wrong with the loaded array (None: right).
    wrong: Option<String>,
    /// `SELECT avg(t2m)`.
    mean: f64,
}

fn run(ctx: &Ctx) -> Result<SuiteResult> {
    let scale = ctx.scale;
    let n = era5::n_time(scale);
    let raw_bytes = (n * era5::MAP_CELLS * 4) as u64;
    let mut res = ctx.result("ingest");
    // The era5 suite's data root: the same files serve both suites.
    let (root, _tmp) = data_root(ctx, &format!("era5-{scale}"))?;
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs)?;
    let bar = ctx.bar(3 + ctx.runs as u64, "ingest: peers' venv");

    let (python, versions) = venv(ctx, &logs)?;
    res.notes
        .push(format!("peer versions (setup_venv.sh): {versions}"));
    bar.inc(1);
    bar.set_message("ingest: NetCDF files");
    let files = ensure_peer_files(ctx, &python, &root, &logs)?;
    let nc = files.netcdf_files()?;
    ensure!(
        nc.len() == n.div_ceil(24),
        "{} NetCDF files under {}, expected {}",
        nc.len(),
        files.dir.display(),
        n.div_ceil(24)
    );
    let nc_bytes: u64 = nc
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    res.metric(
        "NetCDF files: bytes",
        nc_bytes as f64,
        "B",
        &format!(
            "{} files, {} ({}); float32 payload {} ({:.2}x the files)",
            nc.len(),
            files.report["written"]["netcdf"]["compression"]
                .as_str()
                .unwrap_or("zlib level 4 + shuffle"),
            if files.fresh {
                "written in this run"
            } else {
                "from the cache"
            },
            fmt_bytes(raw_bytes as f64),
            raw_bytes as f64 / nc_bytes as f64
        ),
    );
    bar.inc(1);

    bar.set_message("ingest: reference answers");
    let mean_ref = write_cube_npy(scale, None)?;
    let q2 = queries(n).swap_remove(1);
    let h = q2.region.0[0].start as usize;
    let map_ref = Answer::from_values(
        vec![era5::N_LAT, era5::N_LON],
        era5::block(h..h + 1, 0..era5::N_LAT, 0..era5::N_LON)
            .iter()
            .map(|&v| v as f64)
            .collect(),
    );
    bar.inc(1);

    let arrayqd = arrayqd_binary()?;
    let arrayq = arrayqd.with_file_name("arrayq");
    ensure!(
        arrayq.exists(),
        "{} is missing: cargo build --release -p arrayq-client --bin arrayq",
        arrayq.display()
    );
    res.notes.push(format!(
        "Binaries: {} and {} (built {} and {}).",
        arrayqd.display(),
        arrayq.display(),
        super::common::files::modified_utc(&arrayqd).unwrap_or_default(),
        super::common::files::modified_utc(&arrayq).unwrap_or_default()
    ));

    let mut loads: Vec<Vec<Load>> = ARRAYQ_RUNS.iter().map(|_| Vec::new()).collect();
    let mut peers: Vec<Vec<Value>> = XARRAY_RUNS.iter().map(|_| Vec::new()).collect();
    let mut peer_errors: Vec<String> = Vec::new();
    for round in 0..ctx.runs {
        bar.set_message(format!("ingest: round {}/{}", round + 1, ctx.runs));
        for (k, (_, flags)) in ARRAYQ_RUNS.iter().enumerate() {
            warm(&nc)?;
            let l = load_arrayq(ctx, &arrayq, &nc, flags, n, mean_ref, &q2.sql, &map_ref)?;
            loads[k].push(l);
        }
        for (k, (name, variant)) in XARRAY_RUNS.iter().enumerate() {
            warm(&nc)?;
            let args: Vec<String> = [
                "--data",
                &files.dir.display().to_string(),
                "--runs",
                "1",
                "--warmup",
                "1",
                "--threads",
                &ctx.threads.to_string(),
                "--variant",
                variant,
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let log = logs.join(format!("ingest_peers-{variant}-{round}.log"));
            match run_peer(ctx, &python, "ingest_peers.py", &args, &log) {
                Ok(v) => peers[k].push(v),
                Err(e) => {
                    eprintln!("ingest: {name} failed: {e:#}");
                    peer_errors.push(format!(
                        "{name}, round {}: {}",
                        round + 1,
                        first_line(&format!("{e:#}"))
                    ));
                }
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    report(
        ctx,
        &mut res,
        &loads,
        &peers,
        &peer_errors,
        (n, nc.len(), raw_bytes),
        mean_ref,
    )?;
    drop(_tmp);
    Ok(res)
}

/// Reads every file once, so the loads find them in the page cache.
fn warm(files: &[PathBuf]) -> Result<()> {
    for f in files {
        let mut r = std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?;
        std::io::copy(&mut r, &mut std::io::sink())?;
    }
    Ok(())
}

/// One timed `arrayq load netcdf` into a fresh `arrayqd` on an empty store, then the
/// loaded array checked.
#[allow(clippy::too_many_arguments)]
fn load_arrayq(
    ctx: &Ctx,
    arrayq: &Path,
    files: &[PathBuf],
    flags: &[&str],
    n: usize,
    mean_ref: f64,
    map_sql: &str,
    map_ref: &Answer,
) -> Result<Load> {
    let dir = ctx.temp_dir("arrayq-bench-ingest-")?;
    let store = dir.path().join("store");
    let mut server = ArrayqdProcess::start(&store, &ArrayqdOptions::for_ctx(ctx))?;
    let cpu0 = server.cpu_time().unwrap_or_default();
    let child0 = crate::measure::cpu_seconds(crate::measure::CpuOf::Children);
    let t = Instant::now();
    let out = Command::new(arrayq)
        .arg("--addr")
        .arg(server.url())
        .args(["load", "netcdf"])
        .args(files)
        .args(["--array", "era5"])
        .args(flags)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", arrayq.display()))?;
    let secs = t.elapsed().as_secs_f64();
    let client_cpu = crate::measure::cpu_seconds(crate::measure::CpuOf::Children) - child0;
    let server_cpu = (server.cpu_time().unwrap_or_default() - cpu0).as_secs_f64();
    if !out.status.success() {
        bail!(
            "arrayq load netcdf failed ({}): {}\nserver log: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            server.log_tail()
        );
    }
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // The answers, over gRPC.
    let rt = client_runtime(ctx.threads)?;
    let (mean, wrong) = rt.block_on(async {
        let client = Client::connect(server.url()).await?;
        let mut wrong = Vec::new();
        let shape = client.query("SELECT count(*) FROM era5").await?;
        let count = Answer::from_client(&shape).sum;
        let want = (n * era5::MAP_CELLS) as f64;
        if count != want {
            wrong.push(format!("count(*) {count}, expected {want}"));
        }
        let avg = Answer::from_client(&client.query("SELECT avg(t2m) FROM era5").await?);
        let mean = avg.sum;
        if let Err(e) = compare(
            &avg,
            &Answer::from_values(vec![], vec![mean_ref]),
            false,
            REL_TOL,
        ) {
            wrong.push(format!("avg(t2m) vs the generator's mean: {e}"));
        }
        let map = Answer::from_client(&client.query(map_sql).await?);
        if let Err(e) = compare(&map, map_ref, true, 0.0) {
            wrong.push(format!("`{map_sql}` vs the generator: {e}"));
        }
        anyhow::Ok((mean, (!wrong.is_empty()).then(|| wrong.join("; "))))
    })?;
    drop(rt);
    server.stop();
    drop(server);
    let stored_bytes = dir_bytes(&store);
    Ok(Load {
        secs,
        client_cpu,
        server_cpu,
        stored_bytes,
        line,
        wrong,
        mean,
    })
}

/// Cases, checks, tables and notes.
fn report(
    ctx: &Ctx,
    res: &mut SuiteResult,
    loads: &[Vec<Load>],
    peers: &[Vec<Value>],
    peer_errors: &[String],
    (n, files, raw_bytes): (usize, usize, u64),
    mean_ref: f64,
) -> Result<()> {
    let case = format!("load {files} files");
    let mut timings: Vec<(&str, Timing)> = Vec::new();
    let mut wrong_any = false;
    for ((name, _), ls) in ARRAYQ_RUNS.iter().zip(loads) {
        let t = Timing::from_secs(ls.iter().map(|l| l.secs).collect());
        let med = |f: &dyn Fn(&Load) -> f64| {
            Timing::from_secs(ls.iter().map(f).collect::<Vec<_>>()).median_s
        };
        let mut c = CaseResult::new(&case, name, t.clone())
            .bytes(raw_bytes)
            .extra("client CPU s", round2(med(&|l| l.client_cpu)))
            .extra("server CPU s", round2(med(&|l| l.server_cpu)))
            .extra("stored bytes", med(&|l| l.stored_bytes as f64));
        for (k, l) in ls.iter().enumerate() {
            if let Some(w) = &l.wrong {
                wrong_any = true;
                c = c.extra("wrong answer", 1.0);
                res.notes
                    .push(format!("WRONG: {name}, round {}: {w}", k + 1));
            }
        }
        if let Some(l) = ls.last() {
            res.notes.push(format!("{name}, last round: `{}`", l.line));
        }
        res.cases.push(c);
        timings.push((name, t));
    }
    let mut xarray_means = Vec::new();
    for ((name, _), vs) in XARRAY_RUNS.iter().zip(peers) {
        let secs: Vec<f64> = vs
            .iter()
            .filter_map(|v| v["times_s"].as_array()?.first()?.as_f64())
            .collect();
        if secs.is_empty() {
            continue;
        }
        let t = Timing::from_secs(secs);
        let cpu: Vec<f64> = vs
            .iter()
            .filter_map(|v| v["cpu_s"].as_array()?.first()?.as_f64())
            .collect();
        let mut c = CaseResult::new(&case, name, t.clone()).bytes(raw_bytes);
        if !cpu.is_empty() {
            c = c.extra("client CPU s", round2(Timing::from_secs(cpu).median_s));
        }
        for v in vs {
            let shape: Vec<u64> = v["shape"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            let mean = v["mean"].as_f64().unwrap_or(f64::NAN);
            xarray_means.push(mean);
            let want = [n as u64, era5::N_LAT as u64, era5::N_LON as u64];
            if shape != want
                || compare(
                    &Answer::from_values(vec![], vec![mean]),
                    &Answer::from_values(vec![], vec![mean_ref]),
                    false,
                    REL_TOL,
                )
                .is_err()
            {
                wrong_any = true;
                c = c.extra("wrong answer", 1.0);
                res.notes.push(format!(
                    "WRONG: {name}: shape {shape:?} (want {want:?}), mean {mean} (generator {mean_ref})"
                ));
            }
        }
        if let Some(v) = vs.first() {
            res.notes.push(format!(
                "{name}: engine {}, parallel={}, versions {}",
                v["engine"], v["parallel"], v["versions"]
            ));
        }
        res.cases.push(c);
        timings.push((name, t));
    }
    for e in peer_errors {
        res.notes.push(format!("failed run (not timed): {e}"));
    }
    // arrayq's answers against numpy's mean of the same files.
    if let (Some(x), Some(l)) = (xarray_means.first(), loads[0].first()) {
        res.metric(
            "avg(t2m): arrayq - numpy mean of xarray's cube",
            l.mean - x,
            "K",
            &format!(
                "arrayq {} vs numpy (float64) {} vs generator {mean_ref}",
                l.mean, x
            ),
        );
    }

    // Table: MB/s and the ratio to xarray's default call.
    let xt = timings
        .iter()
        .find(|(s, _)| *s == XARRAY)
        .map(|(_, t)| t.clone());
    let mut table = format!(
        "Warm load of {files} daily NetCDF files ({} of float32 payload), median of {} rounds:\n\n\
         | system | median | min .. max | MB/s | speed vs `{XARRAY}` |\n| --- | ---: | ---: | ---: | ---: |\n",
        fmt_bytes(raw_bytes as f64),
        ctx.runs
    );
    for (name, t) in &timings {
        let ratio = xt
            .as_ref()
            .map_or(String::new(), |x| format!("{:.2}", paired_ratio(x, t)));
        table.push_str(&format!(
            "| {name} | {} | {} .. {} | {:.0} | {ratio} |\n",
            fmt_secs(t.median_s),
            fmt_secs(t.min_s),
            fmt_secs(t.max_s),
            t.mb_per_s(raw_bytes)
        ));
    }
    res.tables.push(table);

    let at = &timings[0].1;
    match &xt {
        Some(x) => {
            let r = paired_ratio(x, at);
            let mut c = Check::at_least(
                &format!("{ARRAYQ} MB/s / {XARRAY} MB/s"),
                r,
                TARGET,
                &format!(
                    "median of the per-round ratios ({:.0} vs {:.0} MB/s medians); answers {}",
                    at.mb_per_s(raw_bytes),
                    x.mb_per_s(raw_bytes),
                    if wrong_any {
                        "WRONG (see notes)"
                    } else {
                        "checked every round"
                    }
                ),
            );
            c.pass &= !wrong_any;
            res.checks.push(c);
        }
        None => res.checks.push(Check::at_least(
            &format!("{ARRAYQ} MB/s / {XARRAY} MB/s"),
            0.0,
            TARGET,
            "xarray did not run (see notes)",
        )),
    }
    res.notes.push(format!(
        "Per round (each system once, in this order, the files read into the page cache before each): \
         arrayq = a fresh arrayqd ({} threads) on an empty store, then `arrayq --addr URL load netcdf \
         <{files} files> --array era5 [--chunks 1,153,281]` timed from spawn to exit (scan, read, \
         stream, the server's staging and commit with fsync); client CPU = the command's user+system \
         time, server CPU = arrayqd's during the load (for xarray, 'client CPU s' is the Python \
         process's CPU time of the timed call). xarray = one process per variant: imports and \
         one untimed load, then `xr.open_mfdataset(files, combine=\"by_coords\"[, parallel=True]).load()` \
         timed (Dask threaded scheduler, {} workers). MB/s = float32 payload / time. 'speed vs' = median \
         of the per-round ratios of xarray's time to the system's.",
        ctx.threads, ctx.threads
    ));
    res.notes.push(format!(
        "Answers, every arrayq load: count(*) = {n} x 153 x 281, `SELECT avg(t2m) FROM era5` within \
         relative {REL_TOL:e} of the generator's float64 mean ({mean_ref}), the map of Q2 equal to the \
         generator's as float32; xarray: shape and the numpy float64 mean of the loaded t2m."
    ));
    Ok(())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
