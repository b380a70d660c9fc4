//! Peak memory of the server process while it answers big queries: the harness runs
//! the server (the same library `arrayqd` is a thin binary over) in a child process
//! of its own, queries it over loopback gRPC, and reads the child's `VmHWM`. The
//! client drains result blocks without keeping them, so only the server is measured.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// One query's memory measurement.
pub struct Peak {
    /// The query.
    pub sql: String,
    /// Peak RSS of the server process so far (VmHWM), bytes.
    pub peak_bytes: u64,
    /// Result bytes streamed to the client.
    pub streamed_bytes: u64,
    /// Wall time of the query, as the client saw it.
    pub seconds: f64,
}

/// What a run of [`measure`] found.
pub struct MemoryReport {
    /// RSS of the server after opening the store and answering a health check.
    pub open_bytes: u64,
    /// One entry per query, in the order run.
    pub queries: Vec<Peak>,
}

/// Serves the store in `dir` until stdin closes, after writing the bound address to
/// `addr_file` (the hidden `serve` subcommand runs this in the child).
pub fn serve(dir: &Path, addr_file: &Path, threads: usize) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut config = arrayq_server::Config {
            data_dir: dir.to_path_buf(),
            grpc_addr: "127.0.0.1:0".into(),
            reflection: false,
            ..Default::default()
        };
        // The whole M cube (1.5 GB) streams past the default 1 GiB result limit.
        config.limits.max_result_bytes = 1 << 33;
        let server = arrayq_server::Server::bind(config).await?;
        let tmp = addr_file.with_extension("tmp");
        std::fs::write(&tmp, server.local_addr().to_string())?;
        std::fs::rename(&tmp, addr_file)?;
        // The parent closes our stdin (or dies) when it is done.
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        });
        server
            .run(async move {
                let _ = stdin_closed.await;
            })
            .await
    })
}

struct ServerChild {
    child: Child,
    addr: String,
}

impl ServerChild {
    fn start(dir: &Path, threads: usize, work: &Path) -> Result<ServerChild> {
        let addr_file = work.join("server.addr");
        let _ = std::fs::remove_file(&addr_file);
        let child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .arg("--data")
            .arg(dir)
            .arg("--addr-file")
            .arg(&addr_file)
            .arg("--threads")
            .arg(threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the server child")?;
        let mut me = ServerChild {
            child,
            addr: String::new(),
        };
        let t0 = Instant::now();
        while !addr_file.exists() {
            if let Some(status) = me.child.try_wait()? {
                bail!("the server child exited early ({status})");
            }
            if t0.elapsed() > Duration::from_secs(120) {
                bail!("the server child did not start within 120 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        me.addr = format!("http://{}", std::fs::read_to_string(&addr_file)?.trim());
        Ok(me)
    }

    /// A field of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`).
    fn status_bytes(&self, field: &str) -> Result<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = text
            .lines()
            .find(|l| l.starts_with(field))
            .ok_or_else(|| anyhow!("no {field} in /proc status"))?;
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .ok_or_else(|| anyhow!("malformed {line}"))?
            .parse()?;
        Ok(kb * 1024)
    }

    fn stop(mut self) -> Result<()> {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.flush();
        }
        let t0 = Instant::now();
        while self.child.try_wait()?.is_none() {
            if t0.elapsed() > Duration::from_secs(60) {
                self.child.kill()?;
                bail!("the server child did not shut down within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts a server child on the store in `dir` (nothing else may have it open), runs
/// each query once, streaming and discarding the result, and reports the child's peak
/// RSS after each.
pub fn measure(dir: &Path, threads: usize, work: &Path, sqls: &[&str]) -> Result<MemoryReport> {
    let server = ServerChild::start(dir, threads, work)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = rt.block_on(arrayq_client::Client::connect(server.addr.clone()))?;
    rt.block_on(client.health())?;
    let open_bytes = server.status_bytes("VmRSS")?;
    let mut queries = Vec::new();
    for sql in sqls {
        let t0 = Instant::now();
        let streamed_bytes = rt.block_on(async {
            let mut stream = client.query_stream(sql).await?;
            let mut n = 0u64;
            while let Some((_, _, bytes)) = stream.next_raw().await? {
                n += bytes.len() as u64;
            }
            anyhow::Ok(n)
        })?;
        queries.push(Peak {
            sql: sql.to_string(),
            peak_bytes: server.status_bytes("VmHWM")?,
            streamed_bytes,
            seconds: t0.elapsed().as_secs_f64(),
        });
    }
    drop(client);
    server.stop()?;
    Ok(MemoryReport {
        open_bytes,
        queries,
    })
}
