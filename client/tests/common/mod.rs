//! Shared helpers of the client's process tests: the real `arrayqd` on
//! 127.0.0.1:0 with a temporary data directory, and the real `arrayq`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `arrayq` binary under test.
pub fn arrayq_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_arrayq"))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("client/ is one level below the workspace root")
        .to_path_buf()
}

/// `arrayqd` next to `arrayq` (target/debug), built first if missing.
pub fn arrayqd_bin() -> PathBuf {
    let dir = arrayq_bin()
        .parent()
        .expect("binary directory")
        .to_path_buf();
    let bin = dir.join(format!("arrayqd{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "arrayq-server", "--bin", "arrayqd"])
            .current_dir(workspace_root())
            .status()
            .expect("cannot run cargo build for arrayqd");
        assert!(status.success(), "building arrayqd failed");
    }
    assert!(bin.exists(), "no arrayqd at {}", bin.display());
    bin
}

/// Removes the variables both binaries read, so the developer's environment
/// cannot leak into a test.
fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("ARRAYQ_") || k == "NO_COLOR" {
            cmd.env_remove(k);
        }
    }
}

/// A running `arrayqd`, killed on drop.
pub struct Server {
    child: Child,
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
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let mut cmd = Command::new(arrayqd_bin());
        clean_env(&mut cmd);
        cmd.arg("--data")
            .arg(dir.path().join("data"))
            .args(["--grpc", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = cmd.spawn().expect("cannot start arrayqd");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on ").nth(1) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(rest.trim().to_string());
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let log =
                    std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
                panic!("arrayqd did not report its address; log:\n{log}");
            }
        };
        Server { child, addr, dir }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
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

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
