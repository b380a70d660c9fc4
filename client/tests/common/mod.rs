//! Shared helpers of the client's process tests: the real `arrayqd` on
//! 127.0.0.1:0 with a temporary data directory, and the real `arrayq`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use arrayq_tests::{clean_env, TestServer};

/// The `arrayq` binary under test.
pub fn arrayq_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_arrayq"))
}

/// `arrayqd` next to `arrayq` (target/debug), built first if missing.
pub fn arrayqd_bin() -> PathBuf {
    arrayq_tests::workspace_binary("arrayq-server", "arrayqd")
        .unwrap_or_else(|e| panic!("no arrayqd: {e}"))
}

/// A running `arrayqd`, killed on drop.
pub struct Server {
    server: TestServer,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Holds the data directory and the server log.
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server with an empty store.
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    /// Starts a server with extra flags.
    pub fn start_with(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_on(dir.path().join("data"), dir, args)
    }

    /// Starts a server whose store is in `data` (a special filesystem, say); `dir`
    /// holds the log.
    pub fn start_on(data: PathBuf, dir: tempfile::TempDir, args: &[&str]) -> Server {
        let server = TestServer::builder(data)
            .binary(arrayqd_bin())
            .clean_env()
            .args(args)
            .log_file(dir.path().join("server.log"))
            .start()
            .unwrap_or_else(|e| panic!("{e}"));
        Server {
            addr: server.addr().to_string(),
            server,
            dir,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        self.server.log_text()
    }

    /// An `arrayq` command connected to this server (via ARRAYQ_ADDR).
    pub fn arrayq(&self) -> Command {
        let mut cmd = Command::new(arrayq_bin());
        clean_env(&mut cmd);
        cmd.env("ARRAYQ_ADDR", &self.addr)
            .env("ARRAYQ_HISTORY", self.dir.path().join("history"))
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `arrayq ARGS` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.arrayq()
            .args(args)
            .output()
            .expect("cannot run arrayq")
    }

    /// Runs `arrayq ARGS`, asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "arrayq {args:?} failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }
}

/// Text of stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Text of stdout.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
