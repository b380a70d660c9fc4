//! Suite `energy`: the energy queries E1-E4 of the workload README on the `power`
//! portfolio, answered by arrayq and by PostgreSQL.
//!
//! **arrayq** loads the portfolio through its own write path,
//! [`arrayq_workload::load::load_energy`]: one transaction per ingest round (round
//! `r` delivers version `r` of every batch that has one), each batch of one asset x
//! one local day its own write at scales XS and S, so version 2 of the array is
//! "as known after round 2" and E4 is `AS OF VERSION 2`. The load runs into a fresh
//! durable store every time (it is the ingest case). Queries run in-process
//! ([`arrayq_query::Engine`]) and over gRPC (the server in-process on 127.0.0.1).
//!
//! **PostgreSQL** (`bench/peers/energy_pg.py`, a cluster it starts itself: kept in
//! `<cache-dir>/energy-<scale>/pg/` with `--cache-dir`, else a throwaway one): the
//! harness streams every version of every batch from the Rust generator to the
//! script's stdin as binary `COPY` data (`src/suites/pgcopy.rs`); the script loads
//! it into three table layouts (one row per value with a primary key; one `real[]`
//! or `double precision[]` per asset, local day and version) and runs E1-E4
//! newest-version-first (`DISTINCT ON`), E4 with `version <= 2`. At scale M the row
//! layout (350 M rows) runs only if a measured sample says its load fits the time
//! and disk budget; the note gives the figures either way.
//!
//! **Answers** are checked before timing counts: arrayq's against the generator
//! (float64 sums of [`arrayq_workload::energy::portfolio`]), PostgreSQL's and gRPC's
//! against arrayq in-process, relative tolerance 1e-5. A wrong answer is marked and
//! not ranked.
//!
//! Cold runs: arrayq evicts its store files from the page cache
//! (`posix_fadvise(DONTNEED)`) and reopens the store; PostgreSQL restarts the server
//! (empty shared buffers) and evicts its data directory the same way.

mod postgres;
pub(crate) mod queries;

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{ensure, Result};
use arrayq_storage::Store;
use arrayq_workload::{energy, load, Scale};
use indicatif::{MultiProgress, ProgressDrawTarget};

use super::{Ctx, Suite};
use crate::measure::{fmt_bytes, Timing};
use crate::results::{CaseResult, SuiteResult};
use crate::suites::common::answers::{close, compare, Answer, REL_TOL};
use crate::suites::common::arrayq::{measure_grpc, measure_store, ColdRuns, Measured};
use crate::suites::common::files::data_root;
use crate::suites::common::peers::{peer_timing, venv};
use crate::suites::common::tables::pivot;
use crate::suites::pgcopy::{self, Layout};
use postgres::{ensure_postgres, pg_peer, rows_estimate};
use queries::{queries, reference, windows};

/// The energy query suite.
pub struct Energy;

impl Suite for Energy {
    fn name(&self) -> &'static str {
        "energy"
    }

    fn about(&self) -> &'static str {
        "E1-E4: arrayq (write path round by round, in-process and gRPC) vs PostgreSQL rows, real[] and float8[]"
    }

    fn run(&self, ctx: &Ctx) -> Result<SuiteResult> {
        run(ctx)
    }
}

const MAIN: &str = "arrayq";
const GRPC: &str = "arrayq (gRPC)";
/// energy_pg.py's system names, in the order shown.
const PG: [&str; 3] = ["postgres-rows", "postgres-real[]", "postgres-float8[]"];

fn run(ctx: &Ctx) -> Result<SuiteResult> {
    let scale = ctx.scale;
    let runs = ctx.runs;
    let w = windows(scale);
    let qs = queries(&w);
    let mut res = ctx.result("energy");
    let (root, _tmp) = data_root(ctx, &format!("energy-{scale}"))?;
    let log_dir = root.join("logs");
    std::fs::create_dir_all(&log_dir)?;
    let peers = !ctx.skip_peers;
    // PostgreSQL's load bars appear below the suite's bar.
    let mp = if ctx.progress {
        MultiProgress::new()
    } else {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    };
    let bar = mp.add(ctx.bar(
        (3 + 2 * qs.len() + usize::from(peers) * 2) as u64,
        "energy: reference answers",
    ));

    let venv = if peers {
        bar.set_message("energy: peers' venv");
        ensure_postgres(&log_dir)?;
        let (py, versions) = venv(ctx, &log_dir)?;
        println!("peer versions: {versions}");
        res.notes
            .push(format!("peer versions (setup_venv.sh): {versions}"));
        Some(py)
    } else {
        None
    };

    bar.set_message("energy: reference answers");
    let reference = reference(scale, &w);
    bar.inc(1);

    // arrayq: the write path, round by round, into a fresh durable store.
    bar.set_message("energy: arrayq ingest");
    let dir = root.join("store");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    // One batch per (asset, local day, version), counted without generating values.
    let n_batches = pgcopy::count(scale, Layout::RealArray, energy::sizes(scale).0).0;
    let (ingest, commits, stored, disk) = {
        let store = Store::open(&dir)?;
        let t = Instant::now();
        let commits = load::load_energy(&store, "power", scale, false)?;
        store.flush()?;
        let secs = t.elapsed().as_secs_f64();
        let snap = store.snapshot("power", arrayq_storage::AsOf::Latest)?;
        let stored: u64 = snap.meta().stats.iter().map(|s| s.bytes).sum();
        (secs, commits, stored, store.size_on_disk()?)
    };
    ensure!(
        commits.len() >= 2,
        "the load made {} commits; E4 needs version 2",
        commits.len()
    );
    let values = (energy::sizes(scale).0 * energy::n_quarters(scale)) as u64;
    res.cases.push(
        CaseResult::new("ingest (1 run)", MAIN, Timing::from_secs(vec![ingest]))
            .bytes(values * 4)
            .extra("commits", commits.len() as f64)
            .extra("stored bytes", stored as f64),
    );
    res.metric(
        "arrayq: stored chunk bytes at the head",
        stored as f64,
        "B",
        &format!(
            "{} on disk after flush; {} commits (one per round), {n_batches} batches; load \
             {ingest:.2} s incl. generating the batches",
            fmt_bytes(disk as f64),
            commits.len()
        ),
    );
    bar.inc(1);

    // arrayq in-process.
    bar.set_message("energy: arrayq queries");
    let sqls: Vec<&str> = qs.iter().map(|(_, s)| s.as_str()).collect();
    let mut by_system: BTreeMap<String, Vec<Option<Measured>>> = BTreeMap::new();
    let mut order = vec![MAIN.to_string()];
    let cold = ColdRuns { opened: 1, data: 0 };
    let m = measure_store(&dir, &sqls, runs, cold, &bar)?;
    by_system.insert(MAIN.into(), m.into_iter().map(Some).collect());

    // gRPC.
    bar.set_message("energy: gRPC");
    {
        let sqls: Vec<&str> = qs.iter().map(|(_, sql)| sql.as_str()).collect();
        let v = measure_grpc(&dir, &sqls, ctx.threads, runs, &bar)?;
        order.push(GRPC.into());
        by_system.insert(GRPC.into(), v);
    }

    // PostgreSQL.
    if let Some(py) = &venv {
        let cluster = ctx.cache_dir.is_some().then(|| root.join("pg"));
        let mut layouts = vec![Layout::Rows, Layout::RealArray, Layout::Float8Array];
        if scale == Scale::M {
            bar.set_message("energy: PostgreSQL rows sample");
            let est = rows_estimate(ctx, py, &root, cluster.as_deref(), &log_dir, &mp)?;
            res.notes.push(est.note());
            println!("{}", est.note());
            if !est.fits() {
                layouts.remove(0);
            }
        }
        bar.inc(1);
        bar.set_message("energy: PostgreSQL (energy_pg.py)");
        let t = Instant::now();
        let pg = pg_peer(
            ctx,
            py,
            &log_dir.join("energy_pg.log"),
            cluster.as_deref(),
            &layouts,
            energy::sizes(scale).0,
            true,
            &mp,
        );
        match pg {
            Ok(v) => {
                res.notes.push(format!(
                    "PostgreSQL {} (run as {}), settings {}; the energy_pg.py run took {:.0} s \
                     (including any loads){}",
                    v["versions"]["postgres"].as_str().unwrap_or("?"),
                    v["run_as"].as_str().unwrap_or("?"),
                    v["settings"],
                    t.elapsed().as_secs_f64(),
                    if v["cluster_reused"].as_bool() == Some(true) {
                        format!(", cluster reused from {}", root.join("pg").display())
                    } else {
                        String::new()
                    }
                ));
                for name in PG {
                    let Some(s) = v["systems"].get(name) else {
                        continue;
                    };
                    let l = &s["load"];
                    res.cases.push(
                        CaseResult::new(
                            "ingest (1 run)",
                            name,
                            Timing::from_secs(vec![l["seconds"].as_f64().unwrap_or(0.0)]),
                        )
                        .bytes(values * 4)
                        .extra("stored bytes", l["total_bytes"].as_f64().unwrap_or(0.0)),
                    );
                    let rows = l["rows"].as_f64().unwrap_or(0.0);
                    let secs = l["seconds"].as_f64().unwrap_or(0.0);
                    res.metric(
                        &format!("{name}: table + index bytes"),
                        l["total_bytes"].as_f64().unwrap_or(0.0),
                        "B",
                        &format!(
                            "{} rows, {:.0} rows/s; COPY {:.2} s, primary key {:.2} s, VACUUM \
                             ANALYZE {:.2} s{}",
                            l["rows"],
                            rows / secs.max(1e-9),
                            l["copy_s"].as_f64().unwrap_or(0.0),
                            l["index_s"].as_f64().unwrap_or(0.0),
                            l["vacuum_analyze_s"].as_f64().unwrap_or(0.0),
                            if l["cached"].as_bool() == Some(true) {
                                format!(
                                    " (loaded {} into the cached cluster, reused)",
                                    l["loaded_at"].as_str().unwrap_or("earlier")
                                )
                            } else {
                                String::new()
                            }
                        ),
                    );
                    let mut ms = Vec::new();
                    for (id, _) in &qs {
                        ms.push(s["queries"].get(*id).and_then(|e| {
                            let (warm, cold) = peer_timing(e).ok()?;
                            Some(Measured {
                                warm,
                                cold,
                                data_cold: None,
                                answer: Answer::from_digest(&e["answer"]).ok()?,
                                chunks: None,
                                read_bytes: None,
                                layout: e["variant"].as_str().map(str::to_string),
                            })
                        }));
                    }
                    if let Some(sql) = s["queries"]["E1"]["sql"].as_str() {
                        res.notes.push(format!("{name} E1: `{sql}`"));
                    }
                    order.push(name.into());
                    by_system.insert(name.into(), ms);
                }
                res.notes.push(
                    "PostgreSQL gets every version of every batch from the Rust generator as \
                     binary COPY data on a pipe (no CSV); its ingest is COPY + primary key \
                     (one transaction, no WAL under wal_level=minimal) + VACUUM ANALYZE. The \
                     harness generates the next band of assets while one is sent, so COPY \
                     waits for generation only where that is the slower side."
                        .into(),
                );
            }
            Err(e) => {
                eprintln!("energy: PostgreSQL failed: {e:#}");
                res.notes.push(format!(
                    "PostgreSQL failed, not measured: {}",
                    format!("{e:#}").lines().next().unwrap_or("")
                ));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    // Answers.
    let mut wrong: BTreeMap<(String, &str), String> = BTreeMap::new();
    for sys in &order {
        for (k, (id, _)) in qs.iter().enumerate() {
            let Some(m) = by_system[sys][k].as_ref() else {
                continue;
            };
            let (want, against) = if sys == MAIN {
                (&reference[id], "the generator")
            } else {
                match by_system[MAIN][k].as_ref() {
                    Some(main) => (&main.answer, MAIN),
                    None => continue,
                }
            };
            if let Err(e) = compare(&m.answer, want, false, REL_TOL) {
                res.notes
                    .push(format!("WRONG ANSWER: {sys} {id} vs {against}: {e}"));
                wrong.insert((sys.clone(), id), e);
            }
        }
    }

    // Cases and ratios to arrayq's best.
    for (k, (id, _)) in qs.iter().enumerate() {
        let best = order
            .iter()
            .filter(|s| s.starts_with("arrayq") && !wrong.contains_key(&((*s).clone(), *id)))
            .filter_map(|s| by_system[s][k].as_ref().map(|m| m.warm.median_s))
            .fold(f64::INFINITY, f64::min);
        for sys in &order {
            let Some(m) = by_system[sys][k].as_ref() else {
                continue;
            };
            let mut c = CaseResult::new(id, sys, m.warm.clone());
            if let Some(x) = m.chunks {
                c = c.extra("chunks", x as f64);
            }
            if let Some(x) = m.read_bytes {
                c = c.extra("read bytes", x as f64);
            }
            if let Some(x) = &m.cold {
                c = c.extra("cold ms", (x.median_s * 1e6).round() / 1e3);
            }
            if wrong.contains_key(&(sys.clone(), *id)) {
                c = c.extra("wrong answer", 1.0);
            } else if best.is_finite() {
                c = c.extra("ratio", (m.warm.median_s / best * 1000.0).round() / 1000.0);
            }
            res.cases.push(c);
        }
    }
    let ids: Vec<&str> = qs.iter().map(|(id, _)| *id).collect();
    res.tables.push(pivot(&res.cases, &ids, &order, false));
    res.tables.push(pivot(&res.cases, &ids, &order, true));

    let (n_assets, n_days) = energy::sizes(scale);
    res.notes.push(format!(
        "Portfolio {n_assets} assets x {n_days} local days ({} quarter-hours); E1/E4 assets {:?}, \
         {} quarters; E2 {} quarters, all assets; E3 assets 1..{} per local day.",
        energy::n_quarters(scale),
        w.ids,
        w.week.1 - w.week.0,
        w.month.1 - w.month.0,
        w.e3_assets
    ));
    res.notes.push(format!(
        "Queries (arrayq SQL): {}",
        qs.iter()
            .map(|(id, q)| format!("{id} `{q}`"))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    res.notes.push(format!(
        "Every system on {} threads (PostgreSQL: max_parallel_workers_per_gather). Times are \
         medians of {runs} warm runs; 'cold ms' is one run right after evicting the system's \
         files from the page cache (fsync + posix_fadvise DONTNEED) and reopening arrayq's store \
         / restarting PostgreSQL. gRPC runs are warm only. 'ratio' = median / the best arrayq \
         median. Answers: arrayq vs the generator, the others vs arrayq, relative {REL_TOL:e}.",
        ctx.threads
    ));
    // The sums agree with the generator to far better than the tolerance: record it.
    if let Some(Some(m)) = by_system[MAIN].first() {
        let r = &reference["E1"];
        if close(m.answer.sum, r.sum, REL_TOL) {
            res.metric(
                "E1 relative error vs the generator",
                (m.answer.sum - r.sum).abs() / r.sum.abs().max(1e-300),
                "",
                "arrayq's sum of the E1 series vs float64 over the generated values",
            );
        }
    }
    drop(_tmp);
    Ok(res)
}
