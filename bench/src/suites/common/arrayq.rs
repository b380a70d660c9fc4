//! arrayq as the query suites measure it: in-process through an engine configured
//! like `arrayqd`'s, and over gRPC through an in-process server on loopback.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use arrayq_query::{Engine, EngineConfig, Execution, QueryContext, QueryResult};
use arrayq_storage::{Options, Store};
use clap::Parser as _;

use super::answers::Answer;
use super::files::evict_dir;
use crate::measure::{time_runs, Timing};

/// Largest result both sides accept (the full cube at M is 1.5 GB; the server's
/// default limit is 1 GiB).
pub const MAX_RESULT_BYTES: u64 = 1 << 33;

/// The configuration `arrayqd` would run with given `args` (its flags) and this
/// process's `ARRAYQ_*` environment, parsed by the server's own command line.
pub fn server_config(args: &[String]) -> Result<arrayq_server::Config> {
    let argv = std::iter::once("arrayqd".to_string()).chain(args.iter().cloned());
    let cli = arrayq_server::Cli::try_parse_from(argv)
        .map_err(|e| anyhow!("arrayqd flags {args:?}: {e}"))?;
    Ok(cli.into_config())
}

/// An engine over `store` configured like `arrayqd`'s (block size, limits from its
/// flags and `ARRAYQ_*` environment), with results up to [`MAX_RESULT_BYTES`].
pub fn server_like_engine(store: Store) -> Result<Engine> {
    let config = server_config(&["--max-result-bytes".into(), MAX_RESULT_BYTES.to_string()])?;
    let limits = config.limits;
    Ok(Engine::new(
        store,
        EngineConfig {
            max_result_bytes: limits.max_result_bytes,
            timeout: limits.query_timeout,
            block_bytes: limits.block_bytes,
            max_query_memory_bytes: limits.max_query_memory_bytes,
        },
    ))
}

/// Runs one query in-process and collects its answer.
pub fn run_sql(engine: &Engine, sql: &str) -> Result<QueryResult> {
    match engine.execute(sql, &QueryContext::default()) {
        Ok(Execution::Rows(s)) => s.collect_all().map_err(|e| anyhow!("{}", e.render(sql))),
        Ok(_) => bail!("not a query: {sql}"),
        Err(e) => bail!("{}", e.render(sql)),
    }
}

/// Opens a store with the server's defaults (so in-process and gRPC read alike).
pub fn open_engine(dir: &Path) -> Result<Engine> {
    let store = Store::open_with(dir, Options::default())
        .with_context(|| format!("opening {}", dir.display()))?;
    server_like_engine(store)
}

/// One system's measurement of one query.
#[derive(Clone, Debug)]
pub struct Measured {
    /// The warm runs.
    pub warm: Timing,
    /// The cold runs: files evicted, then (arrayq) the store reopened, so neither
    /// its index nor its data is cached.
    pub cold: Option<Timing>,
    /// arrayq's "server running, data cold" runs: the store stays open (its chunk
    /// index cached in memory), only the segment files' pages are evicted.
    pub data_cold: Option<Timing>,
    /// The answer of the last run.
    pub answer: Answer,
    /// Chunks read.
    pub chunks: Option<u64>,
    /// Stored bytes read.
    pub read_bytes: Option<u64>,
    /// The layout the planner chose.
    pub layout: Option<String>,
}

/// Every query through an in-process server on the store in `dir` over loopback
/// gRPC: `runs` timed warm runs each (no cold run: the server keeps the store open).
pub fn measure_grpc(
    dir: &Path,
    sqls: &[&str],
    threads: usize,
    runs: usize,
    bar: &indicatif::ProgressBar,
) -> Result<Vec<Option<Measured>>> {
    let server = GrpcServer::start(dir, threads)?;
    let mut v = Vec::new();
    for sql in sqls {
        let (t, r) = time_runs(runs, 1, || server.query(sql))?;
        v.push(Some(Measured {
            warm: t,
            cold: None,
            data_cold: None,
            answer: Answer::from_client(&r),
            chunks: Some(r.stats.chunks_read),
            read_bytes: Some(r.stats.bytes_read),
            layout: Some(r.stats.layout.clone()),
        }));
        bar.inc(1);
    }
    server.stop()?;
    Ok(v)
}

/// Cold runs of each kind [`measure_store`] makes per query.
#[derive(Clone, Copy, Debug)]
pub struct ColdRuns {
    /// Store just opened: all its files evicted, then the store reopened.
    pub opened: usize,
    /// Server running, data cold: the open store's mapped pages given back and its
    /// segment files evicted; sled's index and cache stay as they are.
    pub data: usize,
}

/// Every query on one arrayq store: per query `cold.opened` cold runs (files
/// evicted, store reopened), one untimed warm-up, `runs` timed warm runs, then
/// `cold.data` runs with only the chunk payloads evicted.
pub fn measure_store(
    dir: &Path,
    sqls: &[&str],
    runs: usize,
    cold: ColdRuns,
    bar: &indicatif::ProgressBar,
) -> Result<Vec<Measured>> {
    let mut out = Vec::new();
    for sql in sqls {
        // Store just opened: nothing of it in the page cache or in sled's cache.
        let mut opened = Vec::new();
        for _ in 0..cold.opened {
            evict_dir(dir);
            let engine = open_engine(dir)?;
            let t = Instant::now();
            let first = run_sql(&engine, sql)?;
            opened.push(t.elapsed().as_secs_f64());
            drop(first);
        }
        let engine = open_engine(dir)?;
        let (warm, r) = time_runs(runs, 1, || run_sql(&engine, sql))?;
        let mut data = Vec::new();
        for _ in 0..cold.data {
            evict_payloads(&engine, dir);
            let t = Instant::now();
            let first = run_sql(&engine, sql)?;
            data.push(t.elapsed().as_secs_f64());
            drop(first);
        }
        out.push(Measured {
            warm,
            cold: (!opened.is_empty()).then(|| Timing::from_secs(opened)),
            data_cold: (!data.is_empty()).then(|| Timing::from_secs(data)),
            answer: Answer::from_query(&r),
            chunks: Some(r.stats.chunks_read),
            read_bytes: Some(r.stats.bytes_read),
            layout: Some(r.stats.layout.clone()),
        });
        bar.inc(1);
    }
    Ok(out)
}

/// Evicts the chunk payloads of the store an open `engine` serves: its mapped pages
/// are given back first (eviction skips pages a process maps; memory pressure would
/// unmap them), then the segment files' pages are dropped.
pub fn evict_payloads(engine: &Engine, dir: &Path) {
    engine.store().release_mappings();
    evict_dir(&dir.join("segments"));
}

/// arrayqd in-process on 127.0.0.1 (a free port) over a store directory, and a
/// client connected to it over loopback.
pub struct GrpcServer {
    rt: tokio::runtime::Runtime,
    client: arrayq_client::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl GrpcServer {
    /// Opens the store in `dir` (nothing else may have it open) and serves it; the
    /// runtime has `threads` workers (queries run on rayon's global pool).
    pub fn start(dir: &Path, threads: usize) -> Result<GrpcServer> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("bench-grpc")
            .enable_all()
            .build()?;
        // Flags and `ARRAYQ_*` environment as `arrayqd` would read them.
        let mut config = server_config(&[
            "--data".into(),
            dir.display().to_string(),
            "--grpc".into(),
            "127.0.0.1:0".into(),
            "--no-reflection".into(),
        ])?;
        // The bench's client sends no token (as the separate arrayqd, started
        // without the caller's ARRAYQ_TOKEN).
        config.auth_token = None;
        config.demo = None;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (client, task) = rt.block_on(async move {
            let server = arrayq_server::Server::bind(config).await?;
            let addr = server.local_addr();
            let task = tokio::spawn(server.run(async move {
                let _ = rx.await;
            }));
            let client = arrayq_client::Client::connect(format!("http://{addr}")).await?;
            anyhow::Ok((client, task))
        })?;
        Ok(GrpcServer {
            rt,
            client,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// Runs a query and collects the whole result on the client side.
    pub fn query(&self, sql: &str) -> Result<arrayq_client::QueryResult> {
        self.rt
            .block_on(self.client.query(sql))
            .map_err(|e| anyhow!("gRPC query {sql}: {e}"))
    }

    /// Shuts the server down gracefully (flushes the store).
    pub fn stop(mut self) -> Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            self.rt.block_on(task)??;
        }
        Ok(())
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = self.rt.block_on(task);
        }
    }
}
