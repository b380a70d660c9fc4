//! The real `arrayqd` as a separate process for the suites (the client and server
//! do not share a runtime), over `arrayq_tests::TestServer`: the suite's thread
//! budget, a graceful stop, and the process's CPU time and memory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use arrayq_tests::{DropStop, TestServer};

use crate::suites::Ctx;

/// How [`ArrayqdProcess::start`] runs the server.
#[derive(Clone, Debug, Default)]
pub struct ArrayqdOptions {
    /// The binary (default: `arrayq_tests::arrayqd_binary`: `$ARRAYQD`, else the
    /// `arrayqd` beside this executable, built when missing).
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

/// A running `arrayqd` child process; dropping it stops the server (SIGTERM, then
/// SIGKILL after 10 s).
pub struct ArrayqdProcess {
    server: TestServer,
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
        let mut builder = TestServer::builder(data_dir)
            .args(["--no-reflection", "--grace-secs", "2"])
            .args(&opts.args)
            .start_timeout(opts.start_timeout.unwrap_or(Duration::from_secs(120)))
            .drop_stop(DropStop::Graceful(Duration::from_secs(10)));
        if let Some(b) = &opts.binary {
            builder = builder.binary(b);
        }
        if let Some(n) = opts.threads {
            builder = builder
                .env("RAYON_NUM_THREADS", n.to_string())
                .env("TOKIO_WORKER_THREADS", n.to_string());
        }
        for (k, v) in &opts.env {
            builder = builder.env(k, v);
        }
        let server = builder
            .start()
            .with_context(|| format!("starting arrayqd on {}", data_dir.display()))?;
        Ok(ArrayqdProcess { server })
    }

    /// The address it listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    /// The address of its Postgres door, when started with `--pg ADDR`.
    pub fn pg_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.pg_addr()
    }

    /// `http://ADDR`, for `Client::connect`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The binary it runs.
    pub fn binary(&self) -> &Path {
        self.server.binary()
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// A field of its `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`).
    pub fn status_bytes(&self, field: &str) -> Result<u64> {
        let pid = self.pid();
        let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kb = text
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .ok_or_else(|| anyhow!("no {field} in /proc/{pid}/status"))?;
        Ok(kb * 1024)
    }

    /// CPU time the server has used so far (all live threads).
    pub fn cpu_time(&self) -> Option<Duration> {
        proc_cpu_time(&self.pid().to_string())
    }

    /// The last 2000 bytes of its log (stderr).
    pub fn log_tail(&self) -> String {
        self.server.log_tail(2000)
    }

    /// Stops the server: SIGTERM (graceful: running calls end, the store is
    /// flushed), SIGKILL if it has not exited within 10 s.
    pub fn stop(&mut self) {
        self.server.stop(Duration::from_secs(10));
    }
}

/// The binary [`ArrayqdProcess::start`] runs without [`ArrayqdOptions::binary`].
pub fn arrayqd_binary() -> Result<PathBuf> {
    arrayq_tests::arrayqd_binary().context("finding or building arrayqd")
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
