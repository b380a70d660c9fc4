//! Suite `grpc`: arrayq over gRPC on loopback against the same engine in-process.
//!
//! The ERA5 cube of the scale is stored with map tiles `maps (1, 153, 281)` and
//! pencils `pencils (n_time, 8, 8)` (the layouts of `arrayqd --demo`), loaded once
//! into a cache directory and copied for each run: one copy for the in-process
//! engine, one served by `arrayqd`, started as a separate process
//! (`target/release/arrayqd --data DIR --grpc 127.0.0.1:0`), so client and server
//! do not share a runtime. Both get `--threads` threads (rayon and tokio workers).
//!
//! 1. Streaming: `SELECT t2m FROM era5` (the whole cube) drained block by block,
//!    in-process (`Engine::execute` + iterating the `ResultStream`) and over gRPC
//!    with the Rust client (`query_stream` + `next_block`; stored chunks decoded by
//!    the client, and raw blocks decoded by the server), in interleaved rounds. Target:
//!    gRPC throughput >= 0.5 x in-process (median of the per-round ratios).
//! 2. Point queries: Q1 (`SELECT t2m FROM era5 WHERE lat = 52.0 AND lon = 5.0`,
//!    one pencil chunk) in a closed loop for `--duration-secs` by 1 client, then by
//!    `--clients` clients (one connection each, tokio tasks of this process):
//!    p50 / p90 / p99 / max latency, queries/s, errors. Targets: p99 < 20 ms and no
//!    errors at `--clients`. The same loop in-process (one thread) is the floor.
//!
//! Answers are checked before timing counts: the full cube by CRC over both paths,
//! every Q1 answer against the workload formula.
//!
//! The helpers it is built from (the cached cube, `arrayqd` as a process, clients,
//! drains and closed loops) are in [`super::common`], for the other suites too.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Result};
use arrayq_client::Client;
use arrayq_query::{Execution, QueryContext};
use arrayq_storage::Store;
use arrayq_workload::{era5, load, Scale};

use super::common::arrayq::{server_config, server_like_engine, MAX_RESULT_BYTES};
use super::common::arrayqd::{own_cpu_time, ArrayqdOptions, ArrayqdProcess};
use super::common::cube::{cached_era5, era5_layouts};
use super::common::files::{copy_dir, modified_utc};
use super::common::grpc_client::{
    client_runtime, closed_loop, drain_grpc, drain_in_process, AnswerCheck, LoadResult, Transfer,
};
use super::{Ctx, Suite};
use crate::measure::{fmt_secs, interleaved, paired_ratio, Job, Timing};
use crate::results::{CaseResult, Check, SuiteResult};

/// The full-cube streaming query.
pub const SQL_FULL: &str = "SELECT t2m FROM era5";
/// Q1 of the workload: the timeseries of one grid point (one pencil chunk).
pub const SQL_Q1: &str = "SELECT t2m FROM era5 WHERE lat = 52.0 AND lon = 5.0";
/// Target: gRPC streaming throughput / in-process throughput.
pub const STREAM_RATIO_TARGET: f64 = 0.5;
/// Target: p99 latency of Q1 under `--clients` concurrent clients, milliseconds.
pub const P99_TARGET_MS: f64 = 20.0;

/// The gRPC suite; `clients` and `duration` come from the command line.
pub struct Grpc {
    /// Concurrent clients of the point-query load.
    pub clients: usize,
    /// Length of each closed-loop load window.
    pub duration: Duration,
}

impl Default for Grpc {
    fn default() -> Self {
        Grpc {
            clients: 50,
            duration: Duration::from_secs(10),
        }
    }
}

impl Suite for Grpc {
    fn name(&self) -> &'static str {
        "grpc"
    }

    fn about(&self) -> &'static str {
        "full-cube streaming over gRPC vs in-process (target 0.5); Q1 latency under N clients (p99 < 20 ms)"
    }

    fn run(&self, ctx: &Ctx) -> Result<SuiteResult> {
        run(self, ctx)
    }
}

/// Q1's expected answer from the workload formula, little-endian f32 bytes.
fn q1_expected(scale: Scale) -> Vec<u8> {
    // lat 52.0 -> index 80, lon 5.0 -> index 120.
    (0..era5::n_time(scale) as u64)
        .flat_map(|h| era5::value(h, 80, 120).to_le_bytes())
        .collect()
}

fn q1_check(expected: Arc<Vec<u8>>) -> AnswerCheck {
    Arc::new(move |r: &arrayq_client::QueryResult| {
        let col = r.columns.first().ok_or("no column")?;
        let numbers = col.values.numbers().ok_or("a text column")?;
        let bytes = arrayq_storage::codec::buffer_bytes(numbers).ok_or("not contiguous")?;
        if bytes == expected.as_slice() {
            Ok(())
        } else {
            Err(format!(
                "wrong answer: {} bytes, expected {}",
                bytes.len(),
                expected.len()
            ))
        }
    })
}

fn run(cfg: &Grpc, ctx: &Ctx) -> Result<SuiteResult> {
    let scale = ctx.scale;
    let mut res = ctx.result("grpc");
    let bar = ctx.bar(6, "grpc: cube");

    // The cube, cached; one copy per side.
    let cube = cached_era5(ctx, &era5_layouts(scale))?;
    if let Some(s) = cube.loaded_secs {
        res.notes.push(format!(
            "Cube loaded into the cache in {s:.1} s (reused by later runs)."
        ));
    }
    let work = ctx.temp_dir("arrayq-bench-grpc-")?;
    let (local_dir, served_dir) = (work.path().join("local"), work.path().join("served"));
    let copied = copy_dir(&cube.dir, &local_dir)?;
    copy_dir(&cube.dir, &served_dir)?;
    bar.inc(1);

    bar.set_message("grpc: starting arrayqd");
    let mut opts = ArrayqdOptions::for_ctx(ctx);
    opts.args = vec!["--max-result-bytes".into(), MAX_RESULT_BYTES.to_string()];
    let server = ArrayqdProcess::start(&served_dir, &opts)?;
    let engine = server_like_engine(Store::open(&local_dir)?)?;
    let rt = client_runtime(ctx.threads)?;
    let url = server.url();
    let client = rt.block_on(Client::connect(url.clone()))?;
    bar.inc(1);

    // Answers first: the full cube identical on both paths, Q1 as the formula says.
    bar.set_message("grpc: checking answers");
    let local = drain_in_process(&engine, SQL_FULL, true)?;
    let remote = rt.block_on(drain_grpc(&client, SQL_FULL, Transfer::Stored, true))?;
    let remote_raw = rt.block_on(drain_grpc(&client, SQL_FULL, Transfer::Raw, true))?;
    ensure!(
        local.bytes == cube.raw_bytes,
        "in-process full cube: {} bytes, expected {}",
        local.bytes,
        cube.raw_bytes
    );
    for (how, r) in [("stored chunks", remote), ("raw blocks", remote_raw)] {
        ensure!(
            (r.bytes, r.crc) == (local.bytes, local.crc),
            "gRPC full cube ({how}) differs from in-process: {r:?} vs {local:?}"
        );
    }
    let expected = Arc::new(q1_expected(scale));
    let check = q1_check(expected.clone());
    let q1 = rt.block_on(client.query(SQL_Q1))?;
    check(&q1).map_err(|e| anyhow!("Q1 over gRPC: {e}"))?;
    let q1_layout = q1.stats.layout.clone();
    let q1_chunks = q1.stats.chunks_read;
    bar.inc(1);

    // 1. Streaming the full cube, interleaved rounds.
    bar.set_message("grpc: streaming rounds");
    let local_cpu: RefCell<Vec<f64>> = RefCell::new(Vec::new());
    let server_cpu: RefCell<Vec<f64>> = RefCell::new(Vec::new());
    let client_cpu: RefCell<Vec<f64>> = RefCell::new(Vec::new());
    let blocks = RefCell::new(0u64);
    let mut jobs: Vec<Job<'_>> = vec![
        Box::new(|| {
            let c0 = own_cpu_time();
            let t = Instant::now();
            let d = drain_in_process(&engine, SQL_FULL, false)?;
            let wall = t.elapsed();
            ensure!(d.bytes == cube.raw_bytes, "short in-process result");
            if let (Some(c0), Some(c1)) = (c0, own_cpu_time()) {
                local_cpu
                    .borrow_mut()
                    .push(c1.saturating_sub(c0).as_secs_f64());
            }
            Ok(Some(wall))
        }),
        Box::new(|| {
            let (s0, c0) = (server.cpu_time(), own_cpu_time());
            let t = Instant::now();
            let d = rt.block_on(drain_grpc(&client, SQL_FULL, Transfer::Stored, false))?;
            let wall = t.elapsed();
            ensure!(d.bytes == cube.raw_bytes, "short gRPC result");
            *blocks.borrow_mut() = d.blocks;
            if let (Some(s0), Some(s1), Some(c0), Some(c1)) =
                (s0, server.cpu_time(), c0, own_cpu_time())
            {
                server_cpu
                    .borrow_mut()
                    .push(s1.saturating_sub(s0).as_secs_f64());
                client_cpu
                    .borrow_mut()
                    .push(c1.saturating_sub(c0).as_secs_f64());
            }
            Ok(Some(wall))
        }),
        Box::new(|| {
            let d = rt.block_on(drain_grpc(&client, SQL_FULL, Transfer::Raw, false))?;
            ensure!(d.bytes == cube.raw_bytes, "short gRPC result");
            Ok(None)
        }),
    ];
    let t = interleaved(ctx.runs, 1, &mut jobs)?;
    drop(jobs);
    let [t_local, t_grpc, t_raw] =
        <[Timing; 3]>::try_from(t).map_err(|_| anyhow!("three streaming jobs"))?;
    let case = format!("stream {SQL_FULL}");
    let raw = cube.raw_bytes;
    res.cases
        .push(CaseResult::new(&case, "in-process", t_local.clone()).bytes(raw));
    res.cases.push(
        CaseResult::new(&case, "gRPC", t_grpc.clone())
            .bytes(raw)
            .extra("blocks", *blocks.borrow() as f64),
    );
    res.cases
        .push(CaseResult::new(&case, "gRPC, server decodes", t_raw.clone()).bytes(raw));
    let ratio = paired_ratio(&t_local, &t_grpc);
    let ratio_raw = paired_ratio(&t_local, &t_raw);
    res.metric(
        "in-process streaming",
        t_local.mb_per_s(raw),
        "MB/s",
        "Engine::execute + draining the ResultStream",
    );
    res.metric(
        "gRPC streaming",
        t_grpc.mb_per_s(raw),
        "MB/s",
        "query_stream + next_block (typed buffers; stored chunks decoded by the client)",
    );
    res.metric(
        "gRPC streaming, server decodes",
        t_raw.mb_per_s(raw),
        "MB/s",
        "the same with QueryOptions::raw_blocks (raw elements only)",
    );
    res.metric(
        "gRPC server decodes / in-process",
        ratio_raw,
        "x",
        "median of per-round ratios",
    );
    let med = |v: Vec<f64>| (!v.is_empty()).then(|| Timing::from_secs(v).median_s);
    let skip = |v: Vec<f64>| v[v.len().saturating_sub(ctx.runs)..].to_vec();
    if let Some(l) = med(skip(local_cpu.into_inner())) {
        res.metric(
            "in-process CPU per full-cube query",
            l * 1e3,
            "ms",
            &format!(
                "this process, /proc schedstat (wall {})",
                fmt_secs(t_local.median_s)
            ),
        );
    }
    if let (Some(s), Some(c)) = (
        med(skip(server_cpu.into_inner())),
        med(skip(client_cpu.into_inner())),
    ) {
        res.metric(
            "arrayqd CPU per full-cube query",
            s * 1e3,
            "ms",
            &format!(
                "all threads, /proc schedstat (wall {})",
                fmt_secs(t_grpc.median_s)
            ),
        );
        res.metric(
            "client CPU per full-cube query",
            c * 1e3,
            "ms",
            "this process during the gRPC drain (next_block)",
        );
    }
    res.checks.push(Check::at_least(
        "stream full cube: gRPC / in-process throughput",
        ratio,
        STREAM_RATIO_TARGET,
        "median over rounds of in-process time / gRPC time (next_block)",
    ));
    bar.inc(1);

    // 2. Q1 in a closed loop: in-process floor, 1 client, N clients.
    bar.set_message("grpc: Q1 in-process");
    let floor_window = cfg.duration.min(Duration::from_secs(3));
    let mut local_lat = Vec::new();
    let t0 = Instant::now();
    let Execution::Rows(s) = engine.execute(SQL_Q1, &QueryContext::default())? else {
        bail!("Q1 is not a query");
    };
    let local_layout = s.header.layout.clone();
    drop(s);
    while t0.elapsed() < floor_window {
        let t = Instant::now();
        let d = drain_in_process(&engine, SQL_Q1, false)?;
        local_lat.push(t.elapsed());
        ensure!(
            d.bytes == expected.len() as u64,
            "in-process Q1: wrong size"
        );
    }
    local_lat.sort();
    let floor = LoadResult {
        clients: 1,
        elapsed: t0.elapsed(),
        latencies: local_lat,
        ..Default::default()
    };
    bar.inc(1);

    let mut loads = vec![("in-process".to_string(), floor)];
    for n in [1, cfg.clients.max(1)] {
        bar.set_message(format!("grpc: Q1, {n} clients"));
        let r = closed_loop(&rt, &url, SQL_Q1, n, cfg.duration, 3, check.clone())?;
        let label = if n == 1 {
            "1 client".to_string()
        } else {
            format!("{n} clients")
        };
        loads.push((label, r));
    }
    bar.inc(1);
    bar.finish_and_clear();
    for (p, name) in [(50.0, "p50"), (90.0, "p90"), (99.0, "p99"), (100.0, "max")] {
        for (label, r) in &loads {
            res.cases.push(
                CaseResult::new(
                    &format!("Q1 {name}"),
                    label,
                    Timing::from_secs(vec![r.percentile(p)]),
                )
                .extra("queries", r.latencies.len() as f64)
                .extra("queries/s", r.qps().round())
                .extra("errors", r.errors as f64),
            );
        }
    }
    for (label, r) in &loads {
        res.metric(
            &format!("Q1 queries/s, {label}"),
            r.qps().round(),
            "",
            &format!(
                "{} queries in {:.1} s, {} errors{}",
                r.latencies.len(),
                r.elapsed.as_secs_f64(),
                r.errors,
                r.first_error
                    .as_ref()
                    .map_or(String::new(), |e| format!(" (first: {e})"))
            ),
        );
    }
    let (label, many) = loads.last().expect("three loads");
    res.checks.push(Check::at_most(
        &format!("Q1 p99 latency, {label} (ms)"),
        many.percentile(99.0) * 1e3,
        P99_TARGET_MS,
        "nearest-rank 99th percentile of every query's latency in the window",
    ));
    res.checks.push(Check::at_most(
        &format!("Q1 errors, {label}"),
        many.errors as f64,
        0.0,
        "failed calls and wrong answers",
    ));

    res.notes.push(format!(
        "ERA5 {scale} cube ({:.1} MB raw, {:.1} MB stored in layouts maps (1, 153, 281) + \
         pencils {:?}, {:.1} MB on disk), one copy for each side. arrayqd is a separate \
         process ({}, built {}) on 127.0.0.1 with {} rayon and tokio threads; the client \
         runtime has {} workers. Streaming: {} interleaved rounds after one warm-up round, \
         blocks of {} bytes. The answers were checked first (full cube CRC identical on \
         both paths, Q1 = formula).",
        raw as f64 / 1e6,
        cube.stored_bytes as f64 / 1e6,
        load::pencils(scale),
        copied as f64 / 1e6,
        server.binary().display(),
        modified_utc(server.binary()).unwrap_or_default(),
        ctx.threads,
        ctx.threads,
        ctx.runs,
        server_config(&[])?.limits.block_bytes,
    ));
    res.notes.push(format!(
        "Q1 reads layout '{q1_layout}' ({q1_chunks} chunk(s)) over gRPC, '{local_layout}' \
         in-process. Closed loop: each client has its own connection and sends the next \
         query when the previous answer arrived (3 untimed queries each first), for {} s \
         per client count; in-process: one thread for {} s. Latency = client.query() \
         call to the collected result, checked against the formula.",
        cfg.duration.as_secs_f64(),
        floor_window.as_secs_f64(),
    ));
    drop(client);
    drop(rt);
    drop(server);
    drop(engine);
    drop(work);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let r = LoadResult {
            clients: 1,
            latencies: (1..=100).map(Duration::from_millis).collect(),
            errors: 0,
            first_error: None,
            elapsed: Duration::from_secs(2),
        };
        assert_eq!(r.percentile(50.0), 0.050);
        assert_eq!(r.percentile(99.0), 0.099);
        assert_eq!(r.percentile(100.0), 0.100);
        assert_eq!(r.percentile(0.0), 0.001);
        assert_eq!(r.qps(), 50.0);
        assert!(LoadResult::default().percentile(50.0).is_nan());
    }

    #[test]
    fn cpu_time_of_self() {
        assert!(own_cpu_time().is_some());
    }

    #[test]
    fn copies_directories() {
        let a = tempfile::tempdir().unwrap();
        std::fs::create_dir(a.path().join("sub")).unwrap();
        std::fs::write(a.path().join("x"), b"123").unwrap();
        std::fs::write(a.path().join("sub/y"), b"45").unwrap();
        let b = tempfile::tempdir().unwrap();
        let n = copy_dir(a.path(), &b.path().join("c")).unwrap();
        assert_eq!(n, 5);
        assert_eq!(std::fs::read(b.path().join("c/sub/y")).unwrap(), b"45");
    }
}
