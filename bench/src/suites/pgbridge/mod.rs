//! Suite `pgbridge`: the Postgres-compatibility figures of arrayq, each against a
//! floor or peer measured in the same run on the same data (the energy portfolio,
//! every version of every batch, as the generator's binary COPY stream,
//! [`crate::suites::pgcopy`]).
//!
//! 1. PostgreSQL's own binary COPY of the rows into `power_rows` (table created in
//!    the same transaction, `wal_level=minimal`): rows/s, the floor of 3.
//! 2. The bridge: `arrayq load postgres --query "SELECT asset_id, ts, version,
//!    value FROM power_rows" --array power` (release `arrayq` against a release
//!    `arrayqd` on a fresh store), from the start of the command to its exit after
//!    the final commit: values/s; E1-E4 checked against the generator first.
//! 3. The same COPY stream into `COPY power (...) FROM STDIN (FORMAT binary)` on the
//!    Postgres door (tokio-postgres `copy_in`, fresh store): rows/s and the ratio
//!    to 1; E1-E3 checked (one COPY is one commit, so there is no version 2 for E4).
//! 4. E1-E3 through the door with psycopg2 against PostgreSQL's best layout
//!    (energy_pg.py's tables and SQL, psycopg2 as well), round trip included,
//!    median of `--runs` after one warm-up (`bench/peers/pgbridge_queries.py`).
//! 5. Change latency: `CREATE INGEST feed ... WITH (channel = 'feed', watermark =
//!    'id')` into `live`, then 1,000 batches of 96 rows, each INSERT + `NOTIFY feed`
//!    in one transaction on the source, one at a time; from sending the COMMIT to a
//!    `LISTEN live` client on the door getting its NotificationResponse and to a gRPC
//!    `Subscribe` client getting its ChangeEvent: p50/p99/max.
//!
//! PostgreSQL is a throwaway cluster (`arrayq_tests::PgCluster`, run as `postgres`
//! when root) with energy_pg.py's settings ([`source::SETTINGS`]).

mod ingest;
mod latency;
mod report;
mod source;

use anyhow::{ensure, Context, Result};
use arrayq_workload::{energy, Scale};
use indicatif::{ProgressBar, ProgressStyle};

use super::{Ctx, Suite};
use crate::results::SuiteResult;
use crate::suites::common::answers::{compare, Answer, REL_TOL};
use crate::suites::common::files::data_root;
use crate::suites::common::grpc_client::client_runtime;
use crate::suites::common::peers::{run_peer, venv};
use crate::suites::energy::queries::{queries, reference, windows};
use crate::suites::pgcopy::{self, Layout};
use report::{Figures, IngestFigure};

/// The suite.
pub struct PgBridge;

impl Suite for PgBridge {
    fn name(&self) -> &'static str {
        "pgbridge"
    }

    fn about(&self) -> &'static str {
        "Postgres compatibility: COPY floor, bridge ingest, COPY through the door, E1-E3 via psycopg2, change latency"
    }

    fn run(&self, ctx: &Ctx) -> Result<SuiteResult> {
        run(ctx)
    }
}

/// Batches of the change-latency case.
const BATCHES: usize = 1000;

fn tuple_bar(ctx: &Ctx, len: u64, msg: &str) -> ProgressBar {
    if !ctx.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:40} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}",
        )
        .expect("valid progress template")
        .progress_chars("=> "),
    );
    bar.set_message(msg.to_string());
    bar
}

fn run(ctx: &Ctx) -> Result<SuiteResult> {
    let scale = ctx.scale;
    let (n_assets, _) = energy::sizes(scale);
    let w = windows(scale);
    let qs = queries(&w);
    let mut res = ctx.result("pgbridge");
    let (root, _tmp) = data_root(ctx, &format!("pgbridge-{scale}"))?;
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs)?;
    let rt = client_runtime(ctx.threads)?;
    // Ingest runs: at M one each (350 M rows), else up to 5 (about a second each at S).
    let ingest_runs = if scale == Scale::M {
        1
    } else {
        ctx.runs.min(5)
    };
    let py = if ctx.skip_peers {
        None
    } else {
        let (py, versions) = venv(ctx, &logs)?;
        res.notes
            .push(format!("peer versions (setup_venv.sh): {versions}"));
        Some(py)
    };
    let reference = reference(scale, &w);
    let (tuples, stream_bytes) = pgcopy::count(scale, Layout::Rows, n_assets);
    let stream = source::prepare(scale, Layout::Rows, n_assets);
    let mut fig = Figures::new(tuples, stream_bytes);

    // 1-3 in interleaved rounds (the machine is shared: every round runs each path
    // once, so background load hits all three alike; ratios are medians of the
    // per-round ratios). Each arrayq path loads a fresh store; the last bridge
    // server stays for 4 and 5.
    let pg = source::start_cluster(ctx.threads)?;
    let src = source::connect(&rt, pg.url())?;
    let qs3: Vec<_> = qs.iter().filter(|(id, _)| *id != "E4").cloned().collect();
    let (mut floor, mut bridge, mut door) = (
        IngestFigure::default(),
        IngestFigure::default(),
        IngestFigure::default(),
    );
    let mut server = None;
    let mut door_ok = true;
    for r in 0..ingest_runs {
        // Nothing else runs during a round's floor and door COPY: the previous
        // bridge server (which may still be flushing) is stopped first.
        drop(server.take());
        copy_floor(ctx, &rt, &src, &stream, tuples, r, &mut floor)?;
        if door_ok {
            door_ok = door_copy(ctx, &rt, &stream, tuples, r, &qs3, &reference, &mut door)?;
        }
        eprintln!("pgbridge: arrayq load postgres ({r})...");
        let dir = ctx.temp_dir("pgbridge-bridge")?;
        let s = ingest::start_server(ctx, dir.path())?;
        let cpu0 = s.cpu_time();
        let run = ingest::bridge_load(&s, pg.url(), &logs.join("bridge.log"))?;
        if let (Some(a), Some(b)) = (cpu0, s.cpu_time()) {
            bridge.cpu.push((b - a).as_secs_f64());
        }
        ensure!(
            run.rows == tuples,
            "the bridge loaded {} rows of {tuples}: {}",
            run.rows,
            run.said
        );
        bridge.secs.push(run.secs);
        bridge.said = run.said;
        bridge.wrong = ingest::check_answers(&rt, &s, &qs, &reference)?;
        server = Some((s, dir));
    }
    fig.floor = Some(floor);
    fig.bridge = Some(bridge);
    if !door.secs.is_empty() {
        fig.door = Some(door);
    }
    // The bridge's source side alone (breakdown): PostgreSQL's COPY TO of the query.
    for _ in 0..ingest_runs {
        let (secs, _) = source::bridge_source_copy(&rt, &src, ingest::BRIDGE_QUERY)?;
        fig.bridge_source.push(secs);
    }
    let (server, _server_dir) = server.context("no bridge run")?;
    // None: an arrayqd without the door (3, 4 and the door's side of 5 are skipped).
    let door_addr = server.pg_addr();
    if door_addr.is_none() {
        res.notes.push(
            "arrayqd printed no Postgres door address: the door's figures are missing".into(),
        );
    }
    drop(stream);

    // 4. E1-E3 through the door (psycopg2) and on PostgreSQL's layouts.
    if let (Some(py), Some(door_addr)) = (&py, door_addr) {
        let bar = ctx.bar(4, "PostgreSQL query layouts");
        rt.block_on(src.batch_execute(&source::primary_key(Layout::Rows)))?;
        rt.block_on(src.batch_execute("VACUUM (ANALYZE) power_rows"))?;
        bar.inc(1);
        for layout in [Layout::RealArray, Layout::Float8Array] {
            let s = source::prepare(scale, layout, n_assets);
            let (n, _) = pgcopy::count(scale, layout, n_assets);
            rt.block_on(src.batch_execute(&format!("BEGIN; {}", source::create_sql(layout))))?;
            let sql = format!("COPY {} FROM STDIN (FORMAT binary)", source::table(layout));
            let b = tuple_bar(ctx, n, &format!("  COPY {}", source::table(layout)));
            source::copy_in(&rt, &src, &sql, &s, &b)?;
            b.finish_and_clear();
            rt.block_on(src.batch_execute(&format!("{}; COMMIT", source::primary_key(layout))))?;
            rt.block_on(src.batch_execute(&format!("VACUUM (ANALYZE) {}", source::table(layout))))?;
            bar.inc(1);
        }
        bar.set_message("E1-E3: door and PostgreSQL (psycopg2)");
        let sql_file = root.join("door-sql.json");
        let door_sql: serde_json::Map<String, serde_json::Value> = qs3
            .iter()
            .map(|(id, sql)| (id.to_string(), sql.clone().into()))
            .collect();
        std::fs::write(&sql_file, serde_json::to_vec(&door_sql)?)?;
        let args: Vec<String> = vec![
            "--door".into(),
            door_addr.to_string(),
            "--door-sql".into(),
            sql_file.display().to_string(),
            "--pg".into(),
            pg.url().to_string(),
            "--scale".into(),
            scale.to_string(),
            "--runs".into(),
            ctx.runs.to_string(),
        ];
        let v = run_peer(
            ctx,
            py,
            "pgbridge_queries.py",
            &args,
            &logs.join("pgbridge_queries.log"),
        )?;
        bar.finish_and_clear();
        // Every answer against the generator.
        for (sys, per_q) in std::iter::once(("door (psycopg2)".to_string(), &v["door"])).chain(
            v["postgres"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.iter().map(|(k, x)| (k.clone(), x))),
        ) {
            for (id, _) in &qs3 {
                let e = &per_q[*id];
                let got = Answer::from_digest(&e["answer"])?;
                let wrong = compare(&got, &reference[id], false, REL_TOL).err();
                fig.query(id, &sys, e, wrong)?;
            }
        }
        fig.query("SELECT 1", "door (psycopg2)", &v["door_select1"], None)?;
        for (id, _) in &qs3 {
            fig.query(id, report::ROWS_FLOOR, &v["rows_floor"][*id], None)?;
        }
        fig.query(
            "SELECT 1",
            "postgres (psycopg2)",
            &v["postgres_select1"],
            None,
        )?;
        // The same queries over gRPC (Rust client) on the same server: the engine
        // plus gRPC, without the door and psycopg2.
        for (id, times, wrong, stats) in
            ingest::grpc_times(&rt, &server, &qs3, &reference, ctx.runs)?
        {
            fig.query_times(id, report::GRPC_Q, times, wrong)?;
            fig.server_stats.insert(id.to_string(), stats);
        }
        res.notes.push(format!(
            "E1-E3 client versions: {}; PostgreSQL E1 SQL (rows layout): `{}`",
            v["versions"],
            v["postgres"]["postgres-rows"]["E1"]["sql"]
                .as_str()
                .unwrap_or("?")
        ));
    }

    // 5. Change latency.
    let bar = ctx.bar(BATCHES as u64, "change latency (batches)");
    let lat = latency::change_latency(&rt, &pg, &server, door_addr, BATCHES, &bar)?;
    bar.finish_and_clear();
    fig.latency = Some(lat);

    drop(server);
    drop(src);
    fig.finish(&mut res, ctx, &pg_version(&rt, &pg)?);
    Ok(res)
}

/// 1: PostgreSQL's binary COPY into `power_rows` created in the same transaction,
/// timed as the COPY plus its COMMIT (the door's COPY commits before it answers, so
/// both end at the commit).
fn copy_floor(
    ctx: &Ctx,
    rt: &tokio::runtime::Runtime,
    src: &tokio_postgres::Client,
    stream: &source::Stream,
    tuples: u64,
    r: usize,
    floor: &mut IngestFigure,
) -> Result<()> {
    let bar = tuple_bar(ctx, tuples, &format!("PostgreSQL COPY power_rows ({r})"));
    rt.block_on(src.batch_execute(&format!(
        "BEGIN; DROP TABLE IF EXISTS power_rows; {}",
        source::create_sql(Layout::Rows)
    )))?;
    let sql = "COPY power_rows FROM STDIN (FORMAT binary)";
    let (sent, secs, rows) = source::copy_in(rt, src, sql, stream, &bar)?;
    let t = std::time::Instant::now();
    rt.block_on(src.batch_execute("COMMIT"))?;
    floor.secs.push(secs + t.elapsed().as_secs_f64());
    bar.finish_and_clear();
    ensure!(rows == sent, "PostgreSQL COPY took {rows} of {sent} rows");
    Ok(())
}

/// 3: the stream into `COPY power ... FROM STDIN (FORMAT binary)` on the door of an
/// arrayqd on a fresh store; E1-E3 checked after it. False: that arrayqd has no door.
#[allow(clippy::too_many_arguments)]
fn door_copy(
    ctx: &Ctx,
    rt: &tokio::runtime::Runtime,
    stream: &source::Stream,
    tuples: u64,
    r: usize,
    qs3: &[(&'static str, String)],
    reference: &std::collections::BTreeMap<&'static str, Answer>,
    door: &mut IngestFigure,
) -> Result<bool> {
    let dir = ctx.temp_dir("pgbridge-door")?;
    let s = ingest::start_server(ctx, dir.path())?;
    let Some(addr) = s.pg_addr() else {
        return Ok(false);
    };
    let client = source::connect(
        rt,
        &format!(
            "host={} port={} user=bench dbname=arrayq",
            addr.ip(),
            addr.port()
        ),
    )?;
    let bar = tuple_bar(ctx, tuples, &format!("door COPY power ({r})"));
    let cpu0 = s.cpu_time();
    let (sent, secs, rows) = source::copy_in(rt, &client, ingest::DOOR_COPY, stream, &bar)?;
    if let (Some(a), Some(b)) = (cpu0, s.cpu_time()) {
        door.cpu.push((b - a).as_secs_f64());
    }
    bar.finish_and_clear();
    ensure!(rows == sent, "the door's COPY took {rows} of {sent} rows");
    door.secs.push(secs);
    door.wrong = ingest::check_answers(rt, &s, qs3, reference)?;
    Ok(true)
}

fn pg_version(rt: &tokio::runtime::Runtime, pg: &arrayq_tests::PgCluster) -> Result<String> {
    let c = source::connect(rt, pg.url())?;
    let row = rt.block_on(c.query_one("SHOW server_version", &[]))?;
    Ok(row.get::<_, String>(0))
}
