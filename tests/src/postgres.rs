//! A throwaway PostgreSQL cluster for tests: `initdb` into a temporary directory
//! and `pg_ctl start` on a free loopback port (run as the `postgres` user when the
//! tests run as root, since PostgreSQL refuses root), stopped and removed on drop.
//! `ARRAYQ_TEST_PG_URL` points the tests at an existing server instead.

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The environment variable naming an existing PostgreSQL to use instead.
pub const PG_URL_ENV: &str = "ARRAYQ_TEST_PG_URL";

/// A running PostgreSQL for one test.
pub struct PgCluster {
    url: String,
    managed: Option<Managed>,
}

struct Managed {
    bindir: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl PgCluster {
    /// Starts a cluster (or takes `ARRAYQ_TEST_PG_URL`).
    pub fn start() -> io::Result<PgCluster> {
        if let Ok(url) = std::env::var(PG_URL_ENV) {
            return Ok(PgCluster { url, managed: None });
        }
        let bindir = bindir().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "PostgreSQL's initdb is not installed (Debian: apt-get install postgresql; \
                 tests/run.sh does it) and ARRAYQ_TEST_PG_URL is not set",
            )
        })?;
        let dir = tempfile::Builder::new().prefix("arrayq-pg").tempdir()?;
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()))?;
        }
        let port = free_port()?;
        let me = Managed {
            bindir,
            dir,
            port,
            as_postgres,
        };
        let data = me.data();
        me.pg(
            "initdb",
            &[
                "-D",
                path(&data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            ],
        )?;
        me.ctl_start()?;
        Ok(PgCluster {
            url: format!("host=127.0.0.1 port={port} user=postgres dbname=postgres"),
            managed: Some(me),
        })
    }

    /// A libpq connection string (key=value form).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The same as a `postgresql://` URL (for clients that take only URLs).
    pub fn uri(&self) -> String {
        match &self.managed {
            Some(m) => format!("postgresql://postgres@127.0.0.1:{}/postgres", m.port),
            None => self.url.clone(),
        }
    }

    /// Runs SQL through `psql` (the real client); fails on the first error.
    pub fn psql(&self, sql: &str) -> io::Result<String> {
        let out = run(Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(&self.url)
            .args(["-c", sql]))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Restarts the server (`pg_ctl restart -m fast`), as a source going away.
    pub fn restart(&self) -> io::Result<()> {
        let m = self.managed.as_ref().ok_or_else(|| {
            io::Error::other("cannot restart a server given by ARRAYQ_TEST_PG_URL")
        })?;
        let data = m.data();
        m.pg("pg_ctl", &["-D", path(&data), "-m", "fast", "-w", "stop"])?;
        m.ctl_start()
    }
}

impl Managed {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn ctl_start(&self) -> io::Result<()> {
        let data = self.data();
        let log = self.dir.path().join("server.log");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        self.pg(
            "pg_ctl",
            &[
                "-D",
                path(&data),
                "-l",
                path(&log),
                "-o",
                &opts,
                "-w",
                "start",
            ],
        )
        .map(|_| ())
        .map_err(|e| {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            io::Error::other(format!("{e}\nserver log:\n{tail}"))
        })
    }

    fn pg(&self, tool: &str, args: &[&str]) -> io::Result<Output> {
        let bin = self.bindir.join(tool);
        if self.as_postgres {
            run(Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(bin)
                .args(args)
                .current_dir("/"))
        } else {
            run(Command::new(bin).args(args))
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some(m) = &self.managed {
            let data = m.data();
            let _ = m.pg(
                "pg_ctl",
                &["-D", path(&data), "-m", "immediate", "-w", "stop"],
            );
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn run(cmd: &mut Command) -> io::Result<Output> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out)
}

/// PostgreSQL's server binaries: `/usr/lib/postgresql/<newest>/bin` (Debian) or
/// the directory of `initdb` on PATH.
fn bindir() -> Option<PathBuf> {
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    debian.retain(|d| d.join("initdb").exists());
    debian.sort();
    if let Some(d) = debian.pop() {
        return Some(d);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find(|d| d.join("initdb").exists())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
