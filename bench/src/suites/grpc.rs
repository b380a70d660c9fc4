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
//! # Helpers for other suites (e.g. the `arrayq-grpc` column of `era5`)
//!
//! - [`cached_era5`]`(ctx, layouts)`: a directory holding the cube with those
//!   layouts, loaded once under `--cache-dir` (default
//!   `<tmp-dir>/arrayq-bench-cache/`) and reused; copy it
//!   with [`copy_dir`] (or [`Ctx::temp_dir`] + [`copy_dir`]) before serving it, since
//!   sled locks and writes its directory.
//! - [`start_arrayqd`]`(data_dir)` / [`ArrayqdProcess::start`]`(data_dir, &opts)`:
//!   runs `arrayqd` on `127.0.0.1:0`, waits for its `arrayqd listening on` line and
//!   returns an [`ArrayqdProcess`] ([`ArrayqdProcess::url`] for
//!   `arrayq_client::Client::connect`, [`ArrayqdProcess::cpu_time`]); dropping it
//!   stops the server (SIGTERM, then SIGKILL after 10 s).
//!   [`ArrayqdOptions::for_ctx`] gives it the suite's thread budget. The binary is
//!   `$ARRAYQD` or `target/release/arrayqd`, built by [`arrayqd_binary`] when
//!   missing (rebuild it yourself after changing the server).
//! - [`client_runtime`]: a tokio runtime for clients; [`drain_grpc`] and
//!   [`drain_in_process`] pull a query's whole result without keeping it;
//!   [`server_like_engine`] is an in-process engine configured like arrayqd's;
//!   [`own_cpu_time`] and [`ArrayqdProcess::cpu_time`] give CPU time per query.
//! - [`closed_loop`]: N clients issuing one query back to back for a while;
//!   [`LoadResult`] has the latencies ([`LoadResult::percentile`]), queries/s and
//!   errors.

use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use arrayq_client::{Client, QueryOptions};
use arrayq_query::{Engine, EngineConfig, Execution, QueryContext};
use arrayq_storage::Store;
use arrayq_workload::era5;
use arrayq_workload::load::{self, Era5LoadOptions, MAP_TILES};
use arrayq_workload::Scale;
use tokio::runtime::Runtime;

use super::storage::LEVEL;
use super::{Ctx, Suite};
use crate::measure::{fmt_secs, interleaved, paired_ratio, Job, Timing};
use crate::results::{CaseResult, Check, SuiteResult};

/// Name of the array the cube is stored as.
pub const ARRAY: &str = "era5";
/// The full-cube streaming query.
pub const SQL_FULL: &str = "SELECT t2m FROM era5";
/// Q1 of the workload: the timeseries of one grid point (one pencil chunk).
pub const SQL_Q1: &str = "SELECT t2m FROM era5 WHERE lat = 52.0 AND lon = 5.0";
/// Target: gRPC streaming throughput / in-process throughput.
pub const STREAM_RATIO_TARGET: f64 = 0.5;
/// Target: p99 latency of Q1 under `--clients` concurrent clients, milliseconds.
pub const P99_TARGET_MS: f64 = 20.0;
/// Largest result both sides accept (the full cube at M is 1.5 GB; the server's
/// default limit is 1 GiB).
pub(crate) const MAX_RESULT_BYTES: u64 = 1 << 33;
/// Bumped when the cached store's content or format changes.
const CACHE_VERSION: u32 = 1;

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

// ---------------------------------------------------------------------------------
// Reusable helpers
// ---------------------------------------------------------------------------------

/// The layouts of the suite (and of `arrayqd --demo`): map tiles, then pencils.
pub fn era5_layouts(scale: Scale) -> Vec<(&'static str, [u64; 3])> {
    vec![("maps", MAP_TILES), ("pencils", load::pencils(scale))]
}

/// A loaded cube in the cache.
#[derive(Clone, Debug)]
pub struct CachedCube {
    /// The store directory (do not serve it directly: copy it, see [`copy_dir`]).
    pub dir: PathBuf,
    /// Raw bytes of the cube (one f32 attribute).
    pub raw_bytes: u64,
    /// Stored chunk bytes of all layouts.
    pub stored_bytes: u64,
    /// Seconds the load took, when this call loaded it (None: reused).
    pub loaded_secs: Option<f64>,
}

/// The ERA5 cube of `ctx.scale` as array [`ARRAY`] with `layouts` (zstd level 3),
/// in `<cache-dir>/<key>` (`--cache-dir`, default `<tmp-dir>/arrayq-bench-cache`): loaded (in one slab, so each pencil
/// chunk is written once) on first use, reused afterwards. Loads go to a private
/// directory renamed into place, so concurrent runs do not see half a store.
/// Delete the cache directory to force a reload.
pub fn cached_era5(ctx: &Ctx, layouts: &[(&str, [u64; 3])]) -> Result<CachedCube> {
    let scale = ctx.scale;
    let shapes: Vec<String> = layouts
        .iter()
        .map(|(n, s)| format!("{n}{}x{}x{}", s[0], s[1], s[2]))
        .collect();
    // The store format is part of the key: a store of another format does not open.
    let key = format!(
        "{ARRAY}-{scale}-{}-z{LEVEL}-v{CACHE_VERSION}-f{}",
        shapes.join("-"),
        arrayq_storage::FORMAT_VERSION
    );
    let root = ctx
        .cache_dir
        .clone()
        .unwrap_or_else(|| ctx.tmp_dir.join("arrayq-bench-cache"));
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let dir = root.join(&key);
    let marker = |d: &Path| d.join("arrayq-bench-ready");
    let raw_bytes = (era5::n_time(scale) * era5::MAP_CELLS * 4) as u64;
    if let Ok(text) = std::fs::read_to_string(marker(&dir)) {
        let stored_bytes = text.trim().parse().unwrap_or(0);
        return Ok(CachedCube {
            dir,
            raw_bytes,
            stored_bytes,
            loaded_secs: None,
        });
    }
    let tmp = root.join(format!("{key}.loading-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let t = Instant::now();
    let stored_bytes = {
        let store = Store::open(&tmp).with_context(|| format!("opening {}", tmp.display()))?;
        let opts = Era5LoadOptions {
            progress: ctx.progress,
            slab_cells: (era5::n_time(scale) * era5::MAP_CELLS) as u64,
        };
        let rep = load::load_era5_with(&store, ARRAY, scale, layouts, LEVEL, &opts)?;
        store.flush()?;
        rep.stored_bytes
    };
    std::fs::write(marker(&tmp), format!("{stored_bytes}\n"))?;
    // Another run may have finished first: keep its copy.
    if dir.exists() && marker(&dir).exists() {
        let _ = std::fs::remove_dir_all(&tmp);
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&tmp, &dir)
            .with_context(|| format!("moving {} to {}", tmp.display(), dir.display()))?;
    }
    Ok(CachedCube {
        dir,
        raw_bytes,
        stored_bytes,
        loaded_secs: Some(t.elapsed().as_secs_f64()),
    })
}

/// Copies directory `src` into `dst` (created; must not hold other files of the same
/// names), recursively. Returns the bytes copied.
pub fn copy_dir(src: &Path, dst: &Path) -> Result<u64> {
    std::fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?;
    let mut total = 0;
    for entry in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            total += copy_dir(&entry.path(), &to)?;
        } else {
            total += std::fs::copy(entry.path(), &to)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(total)
}

/// The workspace's `target` directory (`$CARGO_TARGET_DIR` when set).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

/// The `arrayqd` binary: `$ARRAYQD` if set, else `target/release/arrayqd`, built
/// with `cargo build --release -p arrayq-server --bin arrayqd` when missing. An
/// existing binary is used as it is: rebuild it after changing the server (the
/// suite's notes record its modification time).
pub fn arrayqd_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ARRAYQD") {
        let p = PathBuf::from(p);
        ensure!(p.exists(), "$ARRAYQD = {} does not exist", p.display());
        return Ok(p);
    }
    let bin = target_dir().join("release").join("arrayqd");
    if bin.exists() {
        return Ok(bin);
    }
    eprintln!("building {} ...", bin.display());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "arrayq-server",
            "--bin",
            "arrayqd",
        ])
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .status()
        .context("running cargo")?;
    ensure!(built.success(), "building arrayqd failed ({built})");
    ensure!(bin.exists(), "{} missing after the build", bin.display());
    Ok(bin)
}

/// Modification time of a file as UTC text (RFC 3339, seconds).
pub fn modified_utc(path: &Path) -> Option<String> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    let t: chrono::DateTime<chrono::Utc> = t.into();
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// How [`ArrayqdProcess::start`] runs the server.
#[derive(Clone, Debug, Default)]
pub struct ArrayqdOptions {
    /// The binary (default: [`arrayqd_binary`]).
    pub binary: Option<PathBuf>,
    /// Rayon and tokio worker threads (`RAYON_NUM_THREADS`, `TOKIO_WORKER_THREADS`);
    /// None: the inherited environment.
    pub threads: Option<usize>,
    /// Further flags (e.g. `--max-concurrent-queries 16`).
    pub args: Vec<String>,
    /// Further environment variables (e.g. `ARRAYQ_LOG=warn`).
    pub env: Vec<(String, String)>,
    /// How long to wait for the `listening` line (default 120 s: opening a large
    /// store takes a while).
    pub start_timeout: Option<Duration>,
}

impl ArrayqdOptions {
    /// The thread budget of `ctx` for every pool of the server.
    pub fn for_ctx(ctx: &Ctx) -> ArrayqdOptions {
        ArrayqdOptions {
            threads: Some(ctx.threads),
            ..Default::default()
        }
    }
}

/// A running `arrayqd` child process; dropping it stops the server.
pub struct ArrayqdProcess {
    child: Child,
    addr: SocketAddr,
    log: tempfile::NamedTempFile,
    binary: PathBuf,
}

/// Starts `arrayqd` on `data_dir` with the default options (see [`ArrayqdProcess`]).
pub fn start_arrayqd(data_dir: &Path) -> Result<ArrayqdProcess> {
    ArrayqdProcess::start(data_dir, &ArrayqdOptions::default())
}

impl ArrayqdProcess {
    /// Runs `arrayqd --data DIR --grpc 127.0.0.1:0 --no-reflection --grace-secs 2`
    /// (plus `opts.args`), stderr (its log) to a temporary file, and waits for the
    /// line `arrayqd listening on ADDR`.
    pub fn start(data_dir: &Path, opts: &ArrayqdOptions) -> Result<ArrayqdProcess> {
        let bin = match &opts.binary {
            Some(b) => b.clone(),
            None => arrayqd_binary()?,
        };
        let log = tempfile::Builder::new()
            .prefix("arrayqd-")
            .suffix(".log")
            .tempfile()?;
        let mut cmd = Command::new(&bin);
        cmd.arg("--data")
            .arg(data_dir)
            .args([
                "--grpc",
                "127.0.0.1:0",
                "--no-reflection",
                "--grace-secs",
                "2",
            ])
            .args(&opts.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.reopen()?);
        if let Some(n) = opts.threads {
            cmd.env("RAYON_NUM_THREADS", n.to_string())
                .env("TOKIO_WORKER_THREADS", n.to_string());
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        // Reads stdout to its end, so the server never writes into a closed pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut proc = ArrayqdProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            binary: bin,
        };
        let until = Instant::now() + opts.start_timeout.unwrap_or(Duration::from_secs(120));
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(a) = line.trim().strip_prefix("arrayqd listening on ") {
                        proc.addr = a
                            .parse()
                            .with_context(|| format!("parsing the address in {line:?}"))?;
                        return Ok(proc);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let status = proc.child.wait()?;
                    bail!(
                        "arrayqd exited ({status}) before listening: {}",
                        proc.log_tail()
                    );
                }
            }
            if Instant::now() > until {
                bail!("arrayqd did not listen in time: {}", proc.log_tail());
            }
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, for `Client::connect`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The binary it runs.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A field of its `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`).
    pub fn status_bytes(&self, field: &str) -> Result<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kb = text
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .ok_or_else(|| anyhow!("no {field} in /proc/{}/status", self.child.id()))?;
        Ok(kb * 1024)
    }

    /// CPU time the server has used so far (all live threads).
    pub fn cpu_time(&self) -> Option<Duration> {
        proc_cpu_time(&self.child.id().to_string())
    }

    /// The last 2000 bytes of its log (stderr).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[start..].trim().to_string()
    }

    /// Stops the server: SIGTERM (graceful: running calls end, the store is
    /// flushed), SIGKILL if it has not exited within 10 s.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let termed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if termed {
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ArrayqdProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// CPU time of process `pid` ("self" for this one): the sum over its threads of
/// `/proc/<pid>/task/<tid>/schedstat` (nanoseconds on the CPU; threads that already
/// exited are not counted), or `/proc/<pid>/stat` (10 ms ticks) without schedstat.
fn proc_cpu_time(pid: &str) -> Option<Duration> {
    let tasks = format!("/proc/{pid}/task");
    let mut ns = 0u64;
    let mut any = false;
    for t in std::fs::read_dir(&tasks).ok()?.flatten() {
        let text = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        if let Some(v) = text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
        {
            ns += v;
            any = true;
        }
    }
    if any {
        return Some(Duration::from_nanos(ns));
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time of this process so far (all live threads).
pub fn own_cpu_time() -> Option<Duration> {
    proc_cpu_time("self")
}

/// A multi-threaded tokio runtime with `threads` workers for clients.
pub fn client_runtime(threads: usize) -> Result<Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name("bench-client")
        .enable_all()
        .build()?)
}

/// What draining a result saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Data blocks received.
    pub blocks: u64,
    /// Value bytes received (all columns).
    pub bytes: u64,
    /// CRC32 of the value bytes in stream order, when asked for.
    pub crc: Option<u32>,
}

/// What [`drain_grpc`] asks the server for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// The client's default: whole chunks of a plain projection as stored,
    /// decoded by the client; everything else as raw elements.
    Stored,
    /// Raw elements only (`QueryOptions::raw_blocks`): the server decodes.
    Raw,
}

/// Runs `sql` over gRPC and pulls every block with `next_block` (each decoded
/// into a typed `Buffer`) without keeping them.
pub async fn drain_grpc(
    client: &Client,
    sql: &str,
    transfer: Transfer,
    crc: bool,
) -> Result<Drained> {
    let opts = QueryOptions {
        max_result_bytes: 0,
        timeout: None,
        raw_blocks: transfer == Transfer::Raw,
    };
    let mut s = client.query_stream_with(sql, &opts).await?;
    let mut d = Drained::default();
    let mut h = crc.then(crc32fast::Hasher::new);
    while let Some(b) = s.next_block().await? {
        d.blocks += 1;
        d.bytes += (b.values.len() * b.values.dtype().size()) as u64;
        if let Some(h) = &mut h {
            h.update(arrayq_storage::codec::buffer_bytes(&b.values).context("contiguous block")?);
        }
    }
    d.crc = h.map(|h| h.finalize());
    Ok(d)
}

/// Runs `sql` in-process (`Engine::execute`) and pulls every block of the stream
/// without keeping them.
pub fn drain_in_process(engine: &Engine, sql: &str, crc: bool) -> Result<Drained> {
    let Execution::Rows(stream) = engine.execute(sql, &QueryContext::default())? else {
        bail!("{sql}: not a query");
    };
    let mut d = Drained::default();
    let mut h = crc.then(crc32fast::Hasher::new);
    for b in stream {
        let b = b?;
        d.blocks += 1;
        d.bytes += (b.data.len() * b.data.dtype().size()) as u64;
        if let Some(h) = &mut h {
            h.update(arrayq_storage::codec::buffer_bytes(&b.data).context("contiguous block")?);
        }
    }
    d.crc = h.map(|h| h.finalize());
    Ok(d)
}

/// The result block size of `arrayqd`: `$ARRAYQ_BLOCK_BYTES` (which the server
/// reads too) or its default.
pub fn server_block_bytes() -> usize {
    let default = arrayq_server::Limits::default().block_bytes;
    std::env::var("ARRAYQ_BLOCK_BYTES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(default, |b| b.clamp(64, default))
}

/// An engine over `store` configured like `arrayqd`'s (block size, limits).
pub fn server_like_engine(store: Store) -> Engine {
    Engine::new(
        store,
        EngineConfig {
            max_result_bytes: MAX_RESULT_BYTES,
            block_bytes: server_block_bytes(),
            ..EngineConfig::default()
        },
    )
}

/// The latencies of a closed-loop load.
#[derive(Clone, Debug, Default)]
pub struct LoadResult {
    /// Concurrent clients.
    pub clients: usize,
    /// Every successful query's latency, sorted.
    pub latencies: Vec<Duration>,
    /// Failed queries (errors and wrong answers).
    pub errors: u64,
    /// The first error, as text.
    pub first_error: Option<String>,
    /// From the start of the window until the last query ended.
    pub elapsed: Duration,
}

impl LoadResult {
    /// The `p`-th percentile (0..=100, nearest rank) of the latencies, seconds.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let n = self.latencies.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.latencies[rank.clamp(1, n) - 1].as_secs_f64()
    }

    /// Successful queries per second of the window.
    pub fn qps(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Checks one answer; `Err` describes what is wrong.
pub type AnswerCheck = Arc<dyn Fn(&arrayq_client::QueryResult) -> Result<(), String> + Send + Sync>;

/// `clients` clients, each on its own connection to `url` (a tokio task of `rt`),
/// run `sql` back to back for `duration` after `warmup` untimed queries each; every
/// answer goes through `check`. Connections are made before the window starts.
pub fn closed_loop(
    rt: &Runtime,
    url: &str,
    sql: &str,
    clients: usize,
    duration: Duration,
    warmup: usize,
    check: AnswerCheck,
) -> Result<LoadResult> {
    rt.block_on(async {
        let mut conns = Vec::with_capacity(clients);
        for _ in 0..clients.max(1) {
            conns.push(Client::connect(url.to_string()).await?);
        }
        for c in &conns {
            for _ in 0..warmup {
                let r = c.query(sql).await?;
                check(&r).map_err(|e| anyhow!("warm-up answer: {e}"))?;
            }
        }
        let start = Instant::now();
        let end = start + duration;
        let mut tasks = Vec::with_capacity(conns.len());
        for c in conns {
            let sql = sql.to_string();
            let check = check.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                let mut first_error = None;
                while Instant::now() < end {
                    let t = Instant::now();
                    let r = c.query(&sql).await;
                    let d = t.elapsed();
                    match r.map_err(|e| e.to_string()).and_then(|r| check(&r)) {
                        Ok(()) => lat.push(d),
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                }
                (lat, errors, first_error)
            }));
        }
        let mut res = LoadResult {
            clients,
            ..Default::default()
        };
        for t in tasks {
            let (lat, errors, first) = t.await?;
            res.latencies.extend(lat);
            res.errors += errors;
            if res.first_error.is_none() {
                res.first_error = first;
            }
        }
        res.elapsed = start.elapsed();
        res.latencies.sort();
        Ok(res)
    })
}

// ---------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------

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
    let engine = server_like_engine(Store::open(&local_dir)?);
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
        server_block_bytes(),
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
