//! Suite `era5`: the standard ERA5 queries Q1-Q6 of the workload README (Q7 later),
//! answered by arrayq and by the file formats and libraries an xarray user has.
//!
//! **arrayq.** The cube of the scale in four on-disk stores, one array `era5` each,
//! so every store answers the same SQL: map tiles `(1, 153, 281)`, balanced
//! `(24, 64, 64)`, pencils `(n_time, 8, 8)`, and map tiles + pencils in one array
//! (the planner picks a layout per query). Queries run in-process through
//! [`arrayq_query::Engine`] (`execute` + `collect_all`, i.e. until the answer is in
//! memory, as the peers' numpy arrays are), and the map+pencils store also through
//! the gRPC server (`arrayq_server::Server` in-process on 127.0.0.1, a port picked by
//! the OS, `arrayq_client::Client` over loopback).
//!
//! **Peers** (`bench/peers/`, in the venv that `setup_venv.sh` builds): the harness
//! writes the cube from the Rust generator as `.npy`, `era5_files.py` turns it into
//! daily NetCDF4 files (chunks `(1, 153, 281)`, zlib 4 + shuffle) and Zarr v3 stores
//! (zstd 3, map tiles and pencils), and `era5_peers.py` runs the queries on
//! xarray+Dask (Zarr, NetCDF), TensorStore, zarr-python and netCDF4-python.
//!
//! **Floors**, in the same run: bare zstd decompression of exactly the stored
//! chunks that the map+pencils array's chosen layout touches for each query
//! (payloads fetched into memory first, untimed; pre-touched per-thread output
//! buffers; 1 thread and `--threads`), and the machine's memory read bandwidth.
//!
//! **Answers** are checked before any time is reported: arrayq's against the
//! generator (float64 sums over the same values), every other system's against
//! arrayq map+pencils, relative tolerance 1e-5 for sums and means and exact float32
//! equality for values of the cube itself (Q1, Q2). A wrong answer is marked and not
//! ranked.
//!
//! **Cold and warm.** Every system runs each query [`COLD_RUNS`] times cold (its own
//! files evicted from the page cache with `fsync` + `posix_fadvise(DONTNEED)` before
//! each run; arrayq's store reopened, so neither its index nor its data is cached;
//! the peers' data stays open), then warm: arrayq after one untimed run, `--runs`
//! times. arrayq also runs "server running, data cold": the store stays open, its
//! mapped pages are given back and only its segment files evicted. Medians of each
//! kind are their own columns and cases (`Qn cold`); the checks compare arrayq's
//! cold medians with TensorStore's best single layout.
//!
//! **Checks** (the figure for the engine, meant for scale M): arrayq
//! map+pencils within 1.5x of the 2-thread decode floor for every query (under 5 ms
//! when the floor is under 2 ms), and within 2x of the best single-layout store for
//! Q1 and Q2.
//!
//! With `--cache-dir DIR` the stores and files live in `DIR/era5-<scale>/` and are
//! reused by later runs (each store is reloaded if its marker file is missing or was
//! written by another storage format version).

mod checks;
mod peers;
pub(crate) mod queries;
mod stores;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use arrayq_workload::era5;
use indicatif::ProgressBar;

use super::common::answers::{compare, Answer, REL_TOL};
use super::common::arrayq::{measure_grpc, measure_store, open_engine, ColdRuns, Measured};
use super::common::era5_files::peer_files;
use super::common::files::data_root;
use super::common::floor::{memory_bandwidth, Floor};
use super::common::peers::{first_line, peer_timing, run_peer, venv};
use super::common::tables::pivot;
use super::{Ctx, Suite};
use crate::measure::{fmt_bytes, fmt_secs, Timing};
use crate::results::{CaseResult, SuiteResult};
use peers::{peer_io, PEERS};
use queries::{exact, queries, reference, Query};
use stores::{ensure_store, store_defs, StoreDef};

/// The ERA5 query suite.
pub struct Era5;

impl Suite for Era5 {
    fn name(&self) -> &'static str {
        "era5"
    }

    fn about(&self) -> &'static str {
        "Q1-Q6: arrayq (4 layouts, in-process and gRPC) vs xarray/Dask, TensorStore, zarr, netCDF4 on Zarr v3 and NetCDF4, with decode floors"
    }

    fn run(&self, ctx: &Ctx) -> Result<SuiteResult> {
        run(ctx)
    }
}

/// The system every other ERA5 answer is checked against, and that the checks judge.
const MAIN: &str = "arrayq map+pencils";
/// The map-layout array with rollup `daily`: its ingest and stored bytes against
/// "arrayq map", its Q4/Q5 read whole days from the rollup.
const ROLLUP: &str = "arrayq map+daily";
/// The same store over gRPC.
const GRPC: &str = "arrayq map+pencils (gRPC)";
/// Cold runs of each kind per system and query (their median is reported).
const COLD_RUNS: usize = 5;

/// Every system's measurement of each query (None: failed or not run), and the
/// order the systems are reported in.
#[derive(Default)]
struct Measurements {
    by_system: BTreeMap<String, Vec<Option<Measured>>>,
    order: Vec<String>,
}

impl Measurements {
    fn add(&mut self, system: &str, ms: Vec<Option<Measured>>) {
        self.order.push(system.to_string());
        self.by_system.insert(system.to_string(), ms);
    }
}

fn run(ctx: &Ctx) -> Result<SuiteResult> {
    let scale = ctx.scale;
    let qs = queries(era5::n_time(scale));
    let defs = store_defs(scale);
    let mut res = ctx.result("era5");
    let (root, _tmp) = data_root(ctx, &format!("era5-{scale}"))?;
    let log_dir = root.join("logs");
    std::fs::create_dir_all(&log_dir)?;
    let peers = !ctx.skip_peers;
    let steps = 3
        + qs.len()
        + defs.len() * (1 + qs.len())
        + qs.len() * 2
        + if peers {
            2 + PEERS.iter().filter(|p| ctx.wants_peer(p.0)).count()
        } else {
            0
        };
    let bar = ctx.bar(steps as u64, "era5: reference answers");

    // Python first (if it cannot be set up, fail before the long part).
    let python = if peers {
        bar.set_message("era5: peers' venv");
        let (py, versions) = venv(ctx, &log_dir)?;
        println!("peer versions: {versions}");
        res.notes
            .push(format!("peer versions (setup_venv.sh): {versions}"));
        bar.inc(1);
        Some(py)
    } else {
        None
    };

    // Reference answers (and the .npy the peers' files are written from).
    bar.set_message("era5: reference answers");
    let npy = root.join("cube.npy");
    let write_npy = peers && !root.join("files.json").exists();
    let reference = reference(scale, write_npy.then_some(npy.as_path()))?;
    bar.inc(1);

    let reused = load_stores(ctx, &root, &defs, &bar, &mut res)?;
    let files = match &python {
        Some(py) => Some(write_peer_files(ctx, py, &root, &npy, &log_dir, &mut res)?),
        None => None,
    };
    if files.is_some() {
        bar.inc(1);
    }

    let mut m = Measurements::default();
    let main_dir = root.join(defs[0].dir);
    measure_arrayq(ctx, &root, &defs, &qs, &bar, &mut m)?;
    let floors = measure_floors(ctx, &main_dir, &qs, &bar, &m)?;
    bar.set_message("era5: gRPC");
    let sqls: Vec<&str> = qs.iter().map(|q| q.sql.as_str()).collect();
    m.add(
        GRPC,
        measure_grpc(&main_dir, &sqls, ctx.threads, ctx.runs, &bar)?,
    );

    // Peak RSS of a separate server process answering the full-cube queries.
    bar.set_message("era5: server memory");
    checks::memory_checks(&mut res, &main_dir, ctx.threads)?;

    if let (Some(py), Some(files)) = (&python, &files) {
        measure_peers(ctx, py, files, &log_dir, &qs, &bar, &mut m, &mut res);
    }
    for (name, ms) in floors {
        m.add(&name, ms);
    }

    let wrong = check_answers(&qs, &m, &reference, &mut res);
    push_cases(&qs, &m, &wrong, &mut res);
    checks::cold_checks(&qs, &m.by_system, &mut res);

    let bw1 = memory_bandwidth(1, ctx.runs)?;
    let bwn = memory_bandwidth(ctx.threads, ctx.runs)?;
    res.metric(
        "memory read bandwidth, 1 thread",
        bw1 * 1e3,
        "MB/s",
        "sum of a pre-touched 512 MiB buffer of u64, fastest run",
    );
    res.metric(
        &format!("memory read bandwidth, {} threads", ctx.threads),
        bwn * 1e3,
        "MB/s",
        "the same, split over the threads",
    );

    bar.set_message("era5: checks (interleaved rounds)");
    checks::engine_checks(ctx, &root, &defs, &qs, &m.by_system[MAIN], &mut res)?;
    bar.finish_and_clear();

    push_notes(ctx, &qs, (bw1, bwn), &mut res);
    if reused {
        res.notes.push(format!(
            "Stores reused from the cache {} (ingest rows are from when they were loaded).",
            root.display()
        ));
    }
    drop(_tmp);
    Ok(res)
}

/// Loads (or reuses) every arrayq store, recording its ingest; true when any store
/// came from the cache.
fn load_stores(
    ctx: &Ctx,
    root: &Path,
    defs: &[StoreDef],
    bar: &ProgressBar,
    res: &mut SuiteResult,
) -> Result<bool> {
    let mut reused = false;
    let mut markers = Vec::new();
    for d in defs {
        bar.set_message(format!("era5: store {}", d.dir));
        let (m, fresh) = ensure_store(root, d, ctx.scale)?;
        res.cases.push(
            CaseResult::new(
                "ingest (1 run)",
                d.system,
                Timing::from_secs(vec![m.write_s]),
            )
            .bytes(m.raw_bytes)
            .extra("chunks", m.stored_chunks as f64)
            .extra("stored bytes", m.stored_bytes as f64),
        );
        res.metric(
            &format!("{}: stored chunk bytes / on disk", d.system),
            m.stored_bytes as f64,
            "B",
            &format!(
                "{} on disk; layouts {:?}; {} commit(s); loaded {} ({:.1} s incl. generation)",
                fmt_bytes(m.disk_bytes as f64),
                d.layouts,
                m.commits,
                if fresh {
                    "in this run".to_string()
                } else {
                    format!("from the cache, at {}", m.loaded_at)
                },
                m.total_s
            ),
        );
        reused |= !fresh;
        bar.inc(1);
        markers.push((d.system, m));
    }
    let of = |s: &str| markers.iter().find(|(sys, _)| *sys == s).map(|(_, m)| m);
    if let (Some(base), Some(roll)) = (of("arrayq map"), of(ROLLUP)) {
        let stored = roll.stored_bytes + roll.rollup_bytes;
        res.metric(
            "rollup daily: extra ingest time",
            (roll.write_s / base.write_s - 1.0) * 100.0,
            "%",
            &format!(
                "{ROLLUP} {:.2} s vs arrayq map {:.2} s (one ingest run each)",
                roll.write_s, base.write_s
            ),
        );
        res.metric(
            "rollup daily: extra stored bytes",
            (stored as f64 / base.stored_bytes as f64 - 1.0) * 100.0,
            "%",
            &format!(
                "{ROLLUP} {} (rollup {}) vs arrayq map {}",
                fmt_bytes(stored as f64),
                fmt_bytes(roll.rollup_bytes as f64),
                fmt_bytes(base.stored_bytes as f64)
            ),
        );
    }
    Ok(reused)
}

/// Writes (or reuses) the peers' files, recording their sizes; the `.npy` they were
/// written from goes once they are there.
fn write_peer_files(
    ctx: &Ctx,
    python: &Path,
    root: &Path,
    npy: &Path,
    log_dir: &Path,
    res: &mut SuiteResult,
) -> Result<PathBuf> {
    let files = peer_files(ctx, python, root, npy, log_dir)?;
    let (dir, report, fresh) = (files.dir, files.report, files.fresh);
    if let Some(w) = report["written"].as_object() {
        // Metrics, not cases: their writer (xarray) is not a system that reads
        // them, and the chart keeps one colour per reading system.
        for (fmt, info) in w {
            res.metric(
                &format!("{fmt} files: bytes"),
                info["bytes"].as_f64().unwrap_or(0.0),
                "B",
                &format!(
                    "{}, chunks {}; written by xarray from the .npy in {:.2} s incl. fsync ({})",
                    info["compression"].as_str().unwrap_or("?"),
                    info["chunks"],
                    info["seconds"].as_f64().unwrap_or(0.0),
                    if fresh {
                        "in this run"
                    } else {
                        "from the cache"
                    }
                ),
            );
        }
    }
    if fresh {
        let _ = std::fs::remove_file(npy);
    }
    Ok(dir)
}

/// arrayq in-process, store by store.
fn measure_arrayq(
    ctx: &Ctx,
    root: &Path,
    defs: &[StoreDef],
    qs: &[Query],
    bar: &ProgressBar,
    m: &mut Measurements,
) -> Result<()> {
    let sqls: Vec<&str> = qs.iter().map(|q| q.sql.as_str()).collect();
    for d in defs {
        bar.set_message(format!("era5: {}", d.system));
        let cold = ColdRuns {
            opened: COLD_RUNS,
            data: COLD_RUNS,
        };
        let ms = measure_store(&root.join(d.dir), &sqls, ctx.runs, cold, bar)?;
        m.add(d.system, ms.into_iter().map(Some).collect());
    }
    Ok(())
}

/// Decode floors on the main store, through the layouts its queries chose: one
/// column for 1 thread and one for `--threads` (reported after the peers).
fn measure_floors(
    ctx: &Ctx,
    main_dir: &Path,
    qs: &[Query],
    bar: &ProgressBar,
    m: &Measurements,
) -> Result<Vec<(String, Vec<Option<Measured>>)>> {
    bar.set_message("era5: decode floors");
    let engine = open_engine(main_dir)?;
    let mut f1 = Vec::new();
    let mut fnn = Vec::new();
    for (k, q) in qs.iter().enumerate() {
        let layout = m.by_system[MAIN][k]
            .as_ref()
            .and_then(|m| m.layout.clone())
            .unwrap_or_else(|| "map".into());
        let fl = Floor::fetch(&engine, &layout, &q.region)?;
        let t1 = fl.time(1, ctx.runs)?;
        let tn = fl.time(ctx.threads, ctx.runs)?;
        for (v, t) in [(&mut f1, t1), (&mut fnn, tn)] {
            v.push(Some(Measured {
                warm: t,
                cold: None,
                data_cold: None,
                answer: Answer::default(),
                chunks: Some(fl.payloads.len() as u64),
                read_bytes: Some(fl.stored),
                layout: Some(layout.clone()),
            }));
        }
        bar.inc(1);
    }
    Ok(vec![
        ("floor: zstd decode, 1 thread".to_string(), f1),
        (format!("floor: zstd decode, {} threads", ctx.threads), fnn),
    ])
}

/// Every peer on its files; a peer that fails is noted, not measured.
#[allow(clippy::too_many_arguments)]
fn measure_peers(
    ctx: &Ctx,
    python: &Path,
    files: &Path,
    log_dir: &Path,
    qs: &[Query],
    bar: &ProgressBar,
    m: &mut Measurements,
    res: &mut SuiteResult,
) {
    for (name, system, layout) in PEERS.into_iter().filter(|p| ctx.wants_peer(p.0)) {
        bar.set_message(format!("era5: {name}"));
        let args: Vec<String> = [
            "--system",
            system,
            "--data",
            &files.display().to_string(),
            "--layout",
            layout,
            "--runs",
            &(ctx.runs + COLD_RUNS).to_string(),
            "--threads",
            &ctx.threads.to_string(),
            "--cold",
            "first",
            "--cold-runs",
            &COLD_RUNS.to_string(),
            "--evict",
            "fadvise",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let log = log_dir.join(format!("{system}-{layout}.log"));
        match run_peer(ctx, python, "era5_peers.py", &args, &log) {
            Ok(v) => {
                let ms = qs
                    .iter()
                    .map(|q| {
                        let e = v["queries"].get(q.id)?;
                        let (warm, cold) = peer_timing(e).ok()?;
                        let answer = Answer::from_digest(&e["answer"]).ok()?;
                        let (chunks, bytes) = peer_io(files, system, layout, &q.region, ctx.scale);
                        Some(Measured {
                            warm,
                            cold,
                            data_cold: None,
                            answer,
                            chunks: Some(chunks),
                            read_bytes: bytes,
                            layout: None,
                        })
                    })
                    .collect();
                if let Some(open) = v["open_s"].as_f64() {
                    res.metric(
                        &format!("{name}: open"),
                        open,
                        "s",
                        "opening the data once (cold), before the queries",
                    );
                }
                m.add(name, ms);
            }
            Err(e) => {
                eprintln!("era5: peer {name} failed: {e:#}");
                res.notes.push(format!(
                    "peer {name} failed, not measured: {}",
                    first_line(&format!("{e:#}"))
                ));
            }
        }
        bar.inc(1);
    }
}

/// Answers: arrayq's against the generator, everyone else's against arrayq
/// map+pencils. Returns the wrong ones, (system, query) -> what differs.
fn check_answers<'q>(
    qs: &'q [Query],
    m: &Measurements,
    reference: &BTreeMap<&'static str, Answer>,
    res: &mut SuiteResult,
) -> BTreeMap<(String, &'q str), String> {
    let mut wrong = BTreeMap::new();
    for sys in &m.order {
        if sys.starts_with("floor") {
            continue;
        }
        for (k, q) in qs.iter().enumerate() {
            let Some(got) = m.by_system[sys][k].as_ref() else {
                continue;
            };
            let (want, against) = if sys.starts_with("arrayq") && sys != GRPC {
                (&reference[q.id], "the generator")
            } else {
                match m.by_system[MAIN][k].as_ref() {
                    Some(main) => (&main.answer, MAIN),
                    None => continue,
                }
            };
            if let Err(e) = compare(&got.answer, want, exact(q.id), REL_TOL) {
                res.notes
                    .push(format!("WRONG ANSWER: {sys} {} vs {against}: {e}", q.id));
                wrong.insert((sys.clone(), q.id), e);
            }
        }
    }
    wrong
}

/// One case per query and system, with its ratio to arrayq's best, and the tables.
fn push_cases(
    qs: &[Query],
    m: &Measurements,
    wrong: &BTreeMap<(String, &str), String>,
    res: &mut SuiteResult,
) {
    for (k, q) in qs.iter().enumerate() {
        let best = m
            .order
            .iter()
            .filter(|s| s.starts_with("arrayq") && !wrong.contains_key(&((*s).clone(), q.id)))
            .filter_map(|s| m.by_system[s][k].as_ref().map(|m| m.warm.median_s))
            .fold(f64::INFINITY, f64::min);
        for sys in &m.order {
            let Some(got) = m.by_system[sys][k].as_ref() else {
                continue;
            };
            let mut c = CaseResult::new(q.id, sys, got.warm.clone()).bytes(q.region.len() * 4);
            if let Some(x) = got.chunks {
                c = c.extra("chunks", x as f64);
            }
            if let Some(x) = got.read_bytes {
                c = c.extra("read bytes", x as f64);
            }
            let ms = |t: &Timing| (t.median_s * 1e3 * 1000.0).round() / 1000.0;
            if let Some(t) = &got.cold {
                c = c.extra("cold ms", ms(t));
            }
            if let Some(t) = &got.data_cold {
                c = c.extra("data-cold ms", ms(t));
            }
            if wrong.contains_key(&(sys.clone(), q.id)) {
                c = c.extra("wrong answer", 1.0);
            } else if best.is_finite() {
                c = c.extra(
                    "ratio",
                    (got.warm.median_s / best * 1000.0).round() / 1000.0,
                );
            }
            res.cases.push(c);
        }
        // The cold medians as cases of their own, so the chart shows them too (the
        // other stores' "server running" runs are in the cold table only).
        for sys in &m.order {
            let Some(got) = m.by_system[sys][k].as_ref() else {
                continue;
            };
            let cold_id = format!("{} cold", q.id);
            if let Some(t) = &got.cold {
                res.cases
                    .push(CaseResult::new(&cold_id, sys, t.clone()).bytes(q.region.len() * 4));
            }
            if let (Some(t), true) = (&got.data_cold, sys == MAIN) {
                let name = format!("{sys} (server running)");
                res.cases
                    .push(CaseResult::new(&cold_id, &name, t.clone()).bytes(q.region.len() * 4));
            }
        }
    }
    let ids: Vec<&str> = qs.iter().map(|q| q.id).collect();
    res.tables.push(pivot(&res.cases, &ids, &m.order, false));
    res.tables.push(pivot(&res.cases, &ids, &m.order, true));
}

/// What the result's reader needs to know: the queries, how each system ran, how
/// answers were checked, what the floors are.
fn push_notes(ctx: &Ctx, qs: &[Query], (bw1, bwn): (f64, f64), res: &mut SuiteResult) {
    let runs = ctx.runs;
    let n = era5::n_time(ctx.scale);
    let mem = bwn * 1e9;
    res.notes.push(format!(
        "Queries (arrayq SQL): {}",
        qs.iter()
            .map(|q| format!(
                "{} `{}`",
                q.id,
                q.sql.split_whitespace().collect::<Vec<_>>().join(" ")
            ))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    res.notes.push(format!(
        "Every system on {} threads (rayon pool; RAYON/OMP/BLOSC_NTHREADS and Dask workers for the peers; \
         the NetCDF peers are single-threaded by HDF5's lock). Times are medians of {runs} warm runs; \
         'cold ms' (and the cases 'Qn cold') is the median of {COLD_RUNS} runs, each right after \
         evicting that system's own files from the page cache (fsync + posix_fadvise DONTNEED: \
         only its files, the machine is shared): the peers keep their data open (TensorStore its \
         open array, no chunk cache), arrayq reopens its store (store just opened: neither its \
         index nor its data cached). 'data-cold ms' / '(server running)' is arrayq's store kept \
         open (its chunk index in sled's cache) with only its segment files evicted (mapped pages \
         given back first), median of {COLD_RUNS}. gRPC runs are warm only. 'ratio' = median / \
         the best arrayq median of the query. MB/s counts the raw bytes of the region a query covers.",
        ctx.threads
    ));
    res.notes.push(format!(
        "Answers checked before timing counts: arrayq's against the generator, the others' against \
         {MAIN}: exact float32 for Q1/Q2, relative {REL_TOL:e} (absolute floor {REL_TOL:e} x the \
         largest value) for Q3-Q6. Wrong answers get no ratio and are named above."
    ));
    res.notes.push(format!(
        "Floors: bare zstd decode (no unshuffle, no CRC) of the stored payloads of the chunks \
         {MAIN}'s chosen layout touches, fetched into memory first, into pre-touched per-thread \
         buffers. Memory read bandwidth {:.1} GB/s (1 thread) / {:.1} GB/s ({} threads): reading \
         the whole raw cube once takes {} at the latter.",
        bw1,
        bwn,
        ctx.threads,
        fmt_secs((n * era5::MAP_CELLS * 4) as f64 / mem)
    ));
    res.notes.push(
        "Peers' read bytes: Zarr = sizes of the chunk files touched; NetCDF = chunks touched x \
         mean stored chunk size (estimate). Peers' chunks: chunks of their layout the region \
         touches."
            .into(),
    );
}
