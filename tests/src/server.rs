//! A real `arrayqd` process for tests and benchmarks: started on a free loopback
//! port of a data directory, its address read from its `arrayqd listening on ADDR`
//! line, its log (stderr) kept in a file, stopped on drop.
//!
//! ```no_run
//! use arrayq_tests::TestServer;
//! let dir = tempfile::tempdir().unwrap();
//! let server = TestServer::builder(dir.path().join("data"))
//!     .args(["--max-concurrent-queries", "2"])
//!     .start()
//!     .expect("start arrayqd");
//! println!("{}", server.url());
//! ```

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::binary::{arrayqd_binary, clean_env};

/// Why a [`TestServer`] did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No `arrayqd` binary could be found or built.
    #[error("no arrayqd binary: {0}")]
    Binary(#[source] io::Error),
    /// The server log could not be created.
    #[error("cannot create the server log {path}: {source}")]
    Log {
        /// The log file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// The process could not be spawned.
    #[error("cannot start {binary}: {source}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// The process ended before it listened.
    #[error("arrayqd exited ({status}) before listening; log:\n{log}")]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// The end of its log.
        log: String,
    },
    /// No `listening` line within the start timeout.
    #[error("arrayqd did not report its address within {waited:?}; log:\n{log}")]
    Timeout {
        /// How long it was given.
        waited: Duration,
        /// The end of its log.
        log: String,
    },
    /// The `listening` line did not hold a socket address.
    #[error("arrayqd reported an unreadable address in {line:?}")]
    Address {
        /// The line.
        line: String,
    },
}

/// How a [`TestServer`] stops when dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropStop {
    /// SIGKILL at once (tests: nothing to keep).
    Kill,
    /// SIGTERM (running calls end, the store is flushed), SIGKILL if the process
    /// is still there after this long.
    Graceful(Duration),
}

/// Options of a [`TestServer`]; see [`TestServer::builder`].
#[derive(Clone, Debug)]
pub struct TestServerBuilder {
    binary: Option<PathBuf>,
    data: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    clean_env: bool,
    log: Option<PathBuf>,
    start_timeout: Duration,
    drop_stop: DropStop,
    grpc: String,
}

/// A running `arrayqd` child process; dropping it stops the server (see
/// [`DropStop`]) and, while a test is panicking, prints its log.
pub struct TestServer {
    child: Child,
    addr: SocketAddr,
    pg_addr: Option<SocketAddr>,
    binary: PathBuf,
    log: PathBuf,
    /// Owns the log file when the builder was given none.
    _log_dir: Option<tempfile::TempDir>,
    drop_stop: DropStop,
}

impl TestServer {
    /// A server on a fresh store in `dir/data`, logging to `dir/server.log`, with a
    /// clean environment; panics with the reason when it cannot start.
    pub fn start_in(dir: &std::path::Path) -> TestServer {
        TestServer::builder(dir.join("data"))
            .clean_env()
            .log_file(dir.join("server.log"))
            .start()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `arrayqd --data DATA --grpc 127.0.0.1:0` with `ARRAYQ_LOG=info` and without
    /// the caller's `ARRAYQ_TOKEN`; adjust with the builder's methods.
    pub fn builder(data: impl Into<PathBuf>) -> TestServerBuilder {
        TestServerBuilder {
            binary: None,
            data: data.into(),
            args: Vec::new(),
            env: Vec::new(),
            clean_env: false,
            log: None,
            start_timeout: Duration::from_secs(120),
            drop_stop: DropStop::Kill,
            grpc: "127.0.0.1:0".into(),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of its Postgres door (when started with `--pg ADDR`), read from
    /// its `arrayqd postgres door listening on ADDR` line.
    pub fn pg_addr(&self) -> Option<SocketAddr> {
        self.pg_addr
    }

    /// `http://ADDR`.
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

    /// The file its stderr (the log) goes to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `max_bytes` of the log (cut at a character boundary).
    pub fn log_tail(&self, max_bytes: usize) -> String {
        tail(&self.log_text(), max_bytes)
    }

    /// Sends a signal (`TERM`, `INT`, `KILL`, ...) with kill(1); true when sent.
    pub fn signal(&self, sig: &str) -> io::Result<bool> {
        Ok(Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status()?
            .success())
    }

    /// Waits for the process to exit, at most `limit`; None if it is still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + limit;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server: SIGTERM, then SIGKILL if it has not exited within
    /// `grace`. Does nothing when it has already exited.
    pub fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        if self.signal("TERM").unwrap_or(false) && self.wait_exit(grace).is_some() {
            return;
        }
        self.kill();
    }

    /// Crashes the server: `SIGKILL` sent with kill(2) (no handler runs, nothing is
    /// flushed), then waits for the process to be reaped, so its port and store are
    /// free for a restart. Returns the exit status (killed by signal 9).
    pub fn sigkill(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        let pid = libc::pid_t::try_from(self.child.id())
            .map_err(|_| io::Error::other("pid out of range"))?;
        // SAFETY: kill(2) takes plain integers; the pid is our own unreaped child.
        if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
            return Err(io::Error::last_os_error());
        }
        self.child.wait()
    }

    /// SIGKILL and reap (when still running).
    pub fn kill(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        match self.drop_stop {
            DropStop::Kill => self.kill(),
            DropStop::Graceful(grace) => self.stop(grace),
        }
        if std::thread::panicking() {
            eprintln!("---- arrayqd log ----\n{}", self.log_text());
        }
    }
}

impl TestServerBuilder {
    /// Runs this binary instead of [`arrayqd_binary`]'s.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// The gRPC address to listen on (default `127.0.0.1:0`, a free port): a
    /// restarted server can take its predecessor's address.
    pub fn grpc(mut self, addr: impl Into<String>) -> Self {
        self.grpc = addr.into();
        self
    }

    /// One more flag after `--data DIR --grpc ADDR`.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// More flags.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable of the server (set after the defaults, so it wins).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Drops every `ARRAYQ_*` variable (and `NO_COLOR`) of the caller's
    /// environment, not only `ARRAYQ_TOKEN`.
    pub fn clean_env(mut self) -> Self {
        self.clean_env = true;
        self
    }

    /// Writes the log to this file (default: a temporary file removed on drop).
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.log = Some(path.into());
        self
    }

    /// How long to wait for the `listening` line (default 120 s; opening a large
    /// store takes a while).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// How the server stops when dropped (default [`DropStop::Kill`]).
    pub fn drop_stop(mut self, stop: DropStop) -> Self {
        self.drop_stop = stop;
        self
    }

    /// Starts the server and waits until it listens.
    pub fn start(self) -> Result<TestServer, StartError> {
        let binary = match self.binary {
            Some(b) => b,
            None => arrayqd_binary().map_err(StartError::Binary)?,
        };
        let (log, log_dir) = match self.log {
            Some(p) => (p, None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("arrayqd-log-")
                    .tempdir()
                    .map_err(|source| StartError::Log {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                (dir.path().join("arrayqd.log"), Some(dir))
            }
        };
        let log_file = std::fs::File::create(&log).map_err(|source| StartError::Log {
            path: log.clone(),
            source,
        })?;

        let mut cmd = Command::new(&binary);
        if self.clean_env {
            clean_env(&mut cmd);
        }
        cmd.arg("--data")
            .arg(&self.data)
            .arg("--grpc")
            .arg(&self.grpc)
            .args(&self.args)
            .env_remove("ARRAYQ_TOKEN")
            .env("ARRAYQ_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        let mut child = cmd.spawn().map_err(|source| StartError::Spawn {
            binary: binary.clone(),
            source,
        })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut server = TestServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            pg_addr: None,
            binary,
            log,
            _log_dir: log_dir,
            drop_stop: self.drop_stop,
        };
        (server.addr, server.pg_addr) = wait_for_address(&mut server, stdout, self.start_timeout)?;
        Ok(server)
    }
}

/// Reads the server's stdout until its `listening on ADDR` line (the last it
/// prints at start), and the Postgres door's line before it when there is one. A
/// thread keeps draining stdout afterwards, so the server never blocks on a full
/// pipe.
fn wait_for_address(
    server: &mut TestServer,
    stdout: std::process::ChildStdout,
    timeout: Duration,
) -> Result<(SocketAddr, Option<SocketAddr>), StartError> {
    let mut pg = None;
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let until = Instant::now() + timeout;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let Some((before, addr)) = line.split_once("listening on ") else {
                    continue;
                };
                let addr = addr
                    .trim()
                    .parse()
                    .map_err(|_| StartError::Address { line: line.clone() })?;
                if before.contains("postgres door") {
                    pg = Some(addr);
                } else {
                    return Ok((addr, pg));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                let status = server.child.wait().map_err(|source| StartError::Spawn {
                    binary: server.binary.clone(),
                    source,
                })?;
                return Err(StartError::Exited {
                    status,
                    log: server.log_tail(4000),
                });
            }
        }
        if Instant::now() >= until {
            server.kill();
            return Err(StartError::Timeout {
                waited: timeout,
                log: server.log_tail(4000),
            });
        }
    }
}

/// The last `max_bytes` of `text`, starting at a character boundary.
fn tail(text: &str, max_bytes: usize) -> String {
    let start = text.len().saturating_sub(max_bytes);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn tail_cuts_at_a_character_boundary() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("ab", 10), "ab");
        // 'é' is two bytes: a cut inside it moves forward to the next character.
        assert_eq!(tail("aéb", 2), "b");
        assert_eq!(tail("", 5), "");
    }
}
