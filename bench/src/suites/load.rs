//! Suite `load`: `arrayqd` under a mixed closed-loop load: `--clients` clients
//! (default 50, one connection each) for `--duration-secs` (default 60), each call
//! a query (90%) or a write (10%).
//!
//! The served store is the ERA5 cube of the scale (layouts of `arrayqd --demo`)
//! plus one map array per client (`load_<c>`, 153 x 281 REAL), which only that
//! client writes: a whole map, with `expect_version` = its last version. Queries,
//! in equal shares: Q1-style pencils at a random grid point (every hour), the mean
//! of such a pencil, and the client's own map (read-your-writes). Every answer is
//! checked (pencils against the workload formula, exactly; the mean within 1e-9;
//! the map bit for bit against the last write; each write's version = expected
//! + 1); a wrong answer counts as an error.
//!
//! Reported: queries/s and writes/s, p50 / p99 latency of each, errors (target
//! 0) and the server's peak RSS (`VmHWM` of the `arrayqd` process at the end).

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use arrayq_client::Client;
use arrayq_workload::{era5, Scale};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::common::arrayqd::{ArrayqdOptions, ArrayqdProcess};
use super::common::cube::{cached_era5, era5_layouts};
use super::common::files::copy_dir;
use super::common::grpc_client::{client_runtime, LoadResult};
use super::{Ctx, Suite};
use crate::measure::Timing;
use crate::results::{CaseResult, Check, SuiteResult};

/// Share of calls that are writes.
const WRITE_SHARE: f64 = 0.1;

/// The load suite; `clients` and `duration` come from the command line.
pub struct Load {
    /// Concurrent clients.
    pub clients: usize,
    /// Length of the load window.
    pub duration: Duration,
}

impl Default for Load {
    fn default() -> Self {
        Load {
            clients: 50,
            duration: Duration::from_secs(60),
        }
    }
}

impl Suite for Load {
    fn name(&self) -> &'static str {
        "load"
    }

    fn about(&self) -> &'static str {
        "50 clients, 90% queries / 10% writes for 60 s: queries/s, p50/p99, errors (0), server peak RSS"
    }

    fn run(&self, ctx: &Ctx) -> Result<SuiteResult> {
        run(self, ctx)
    }
}

fn map_array(client: usize) -> String {
    format!("load_{client}")
}

/// The map client `client` writes as its `seq`-th write: distinct per write.
fn map_values(client: usize, seq: u64) -> Vec<f32> {
    (0..era5::MAP_CELLS)
        .map(|k| (client as f32) * 1000.0 + (seq % 1000) as f32 + k as f32 * 1e-3)
        .collect()
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// What one client saw in the window.
#[derive(Default)]
struct ClientTally {
    queries: Vec<Duration>,
    writes: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

impl ClientTally {
    fn fail(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }
}

/// One query of a random shape; Err says what was wrong.
async fn query(
    c: &Client,
    rng: &mut StdRng,
    scale: Scale,
    own: &str,
    last_map: &[u8],
) -> Result<(), String> {
    let (i, j) = (rng.gen_range(0..era5::N_LAT), rng.gen_range(0..era5::N_LON));
    let (lat, lon) = (era5::lat(i), era5::lon(j));
    let pencil = || (0..era5::n_time(scale) as u64).map(move |h| era5::value(h, i, j));
    match rng.gen_range(0..3) {
        0 => {
            let sql = format!("SELECT t2m FROM era5 WHERE lat = {lat} AND lon = {lon}");
            let r = c.query(&sql).await.map_err(|e| e.to_string())?;
            let got = r.columns[0].values.numbers().ok_or("text")?.to_le_bytes();
            let want: Vec<f32> = pencil().collect();
            ensure_eq(got == le_bytes(&want), &sql)
        }
        1 => {
            let sql = format!("SELECT avg(t2m) FROM era5 WHERE lat = {lat} AND lon = {lon}");
            let r = c.query(&sql).await.map_err(|e| e.to_string())?;
            let got = r.columns[0].values.to_f64_vec()[0];
            let want = pencil().map(f64::from).sum::<f64>() / era5::n_time(scale) as f64;
            ensure_eq((got - want).abs() <= 1e-9 * want.abs(), &sql)
        }
        _ => {
            let sql = format!("SELECT t2m FROM {own}");
            let r = c.query(&sql).await.map_err(|e| e.to_string())?;
            let got = r.columns[0].values.numbers().ok_or("text")?.to_le_bytes();
            ensure_eq(got == last_map, &sql)
        }
    }
}

fn ensure_eq(ok: bool, sql: &str) -> Result<(), String> {
    ok.then_some(())
        .ok_or_else(|| format!("wrong answer to {sql}"))
}

/// Writes map `seq` of `client` if its array is at `version`; the new version.
async fn write(
    c: &Client,
    client: usize,
    seq: u64,
    version: u64,
) -> Result<(Vec<u8>, u64), String> {
    let bytes = le_bytes(&map_values(client, seq));
    let mut header = arrayq_client::client::write_header(
        &map_array(client),
        &["t2m"],
        &[0..era5::N_LAT as u64, 0..era5::N_LON as u64],
        vec![],
    )
    .map_err(|e| e.to_string())?;
    header.expect_version = Some(version);
    let r = c
        .write_raw(header, vec![bytes.clone()])
        .await
        .map_err(|e| e.to_string())?;
    if r.version != version + 1 {
        return Err(format!(
            "write on version {version} made version {}",
            r.version
        ));
    }
    Ok((bytes, r.version))
}

fn run(cfg: &Load, ctx: &Ctx) -> Result<SuiteResult> {
    let scale = ctx.scale;
    let mut res = ctx.result("load");
    let cube = cached_era5(ctx, &era5_layouts(scale))?;
    let work = ctx.temp_dir("arrayq-bench-load-")?;
    let served = work.path().join("served");
    copy_dir(&cube.dir, &served)?;
    let server = ArrayqdProcess::start(&served, &ArrayqdOptions::for_ctx(ctx))?;
    let rt = client_runtime(ctx.threads)?;
    let url = server.url();
    let clients = cfg.clients.max(1);

    let (tallies, elapsed) = rt.block_on(async {
        let mut conns = Vec::with_capacity(clients);
        for id in 0..clients {
            let c = Client::connect(url.clone()).await?;
            c.create_array_sql(&format!(
                "CREATE ARRAY {} (lat DOUBLE START {} STEP {} LENGTH {}, \
                 lon DOUBLE START {} STEP {} LENGTH {}, t2m REAL)",
                map_array(id),
                era5::LAT0,
                era5::LAT_STEP,
                era5::N_LAT,
                era5::LON0,
                era5::LON_STEP,
                era5::N_LON
            ))
            .await?;
            let first = write(&c, id, 0, 0).await.map_err(anyhow::Error::msg)?;
            conns.push((c, first));
        }
        let start = Instant::now();
        let end = start + cfg.duration;
        let mut tasks = Vec::with_capacity(clients);
        for (id, (c, (mut last_map, mut version))) in conns.into_iter().enumerate() {
            tasks.push(tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(id as u64);
                let mut tally = ClientTally::default();
                let own = map_array(id);
                let mut seq = 1;
                while Instant::now() < end {
                    let t = Instant::now();
                    if rng.gen_bool(WRITE_SHARE) {
                        match write(&c, id, seq, version).await {
                            Ok((m, v)) => {
                                (last_map, version) = (m, v);
                                tally.writes.push(t.elapsed());
                            }
                            Err(e) => tally.fail(e),
                        }
                        seq += 1;
                    } else {
                        match query(&c, &mut rng, scale, &own, &last_map).await {
                            Ok(()) => tally.queries.push(t.elapsed()),
                            Err(e) => tally.fail(e),
                        }
                    }
                }
                tally
            }));
        }
        let mut tallies = Vec::with_capacity(clients);
        for t in tasks {
            tallies.push(t.await?);
        }
        anyhow::Ok((tallies, start.elapsed()))
    })?;
    let peak_rss = server.status_bytes("VmHWM")?;

    let gather = |pick: fn(&ClientTally) -> &Vec<Duration>| {
        let mut latencies: Vec<Duration> = tallies.iter().flat_map(|t| pick(t).clone()).collect();
        latencies.sort();
        LoadResult {
            clients,
            latencies,
            elapsed,
            ..Default::default()
        }
    };
    let queries = gather(|t| &t.queries);
    let writes = gather(|t| &t.writes);
    let errors: u64 = tallies.iter().map(|t| t.errors).sum();
    let first_error = tallies.iter().find_map(|t| t.first_error.clone());
    ensure!(
        !queries.latencies.is_empty(),
        "no query answered: {first_error:?}"
    );

    for (kind, r) in [("query", &queries), ("write", &writes)] {
        for (p, name) in [(50.0, "p50"), (99.0, "p99")] {
            res.cases.push(
                CaseResult::new(
                    &format!("{kind} {name}"),
                    &format!("{clients} clients"),
                    Timing::from_secs(vec![r.percentile(p)]),
                )
                .extra("calls", r.latencies.len() as f64)
                .extra("calls/s", r.qps().round()),
            );
        }
    }
    res.metric(
        "queries/s",
        queries.qps().round(),
        "",
        &format!(
            "{} queries in {:.1} s",
            queries.latencies.len(),
            elapsed.as_secs_f64()
        ),
    );
    res.metric(
        "writes/s",
        writes.qps().round(),
        "",
        &format!(
            "{} writes (whole 153 x 281 maps) in {:.1} s",
            writes.latencies.len(),
            elapsed.as_secs_f64()
        ),
    );
    res.metric(
        "query latency p50 / p99",
        queries.percentile(50.0) * 1e3,
        "ms",
        &format!("p99 {:.2} ms", queries.percentile(99.0) * 1e3),
    );
    res.metric(
        "write latency p50 / p99",
        writes.percentile(50.0) * 1e3,
        "ms",
        &format!("p99 {:.2} ms", writes.percentile(99.0) * 1e3),
    );
    res.metric(
        "server peak RSS",
        peak_rss as f64 / 1e6,
        "MB",
        "VmHWM of the arrayqd process after the window",
    );
    res.checks.push(Check::at_most(
        &format!("errors, {clients} clients"),
        errors as f64,
        0.0,
        &match first_error {
            Some(e) => format!("failed calls and wrong answers (first: {e})"),
            None => "failed calls and wrong answers".to_string(),
        },
    ));
    res.notes.push(format!(
        "ERA5 {scale} cube (maps + pencils layouts) and {clients} map arrays served by one \
         arrayqd process ({} rayon and tokio threads) on 127.0.0.1; {clients} clients, one \
         connection each, closed loop for {:.0} s: each call a write with probability \
         {WRITE_SHARE} (a whole map of the client's own array, expect_version = its last), \
         else a query (pencil at a random grid point, its mean, or the client's own map). \
         Every answer checked; latency = the call's round trip on the client.",
        ctx.threads,
        cfg.duration.as_secs_f64()
    ));
    Ok(res)
}
