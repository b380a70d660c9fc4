//! Peak memory of the server process while it answers big queries: the harness runs
//! the real `arrayqd` (see [`ArrayqdProcess`]) on a store, queries it over loopback
//! gRPC, and reads the process's `VmHWM`. The client drains result blocks without
//! keeping them, so only the server is measured.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use super::common::arrayq::MAX_RESULT_BYTES;
use super::common::arrayqd::{ArrayqdOptions, ArrayqdProcess};

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
    /// The server binary measured.
    pub binary: String,
}

/// Starts `arrayqd` on the store in `dir` (nothing else may have it open), runs each
/// query once, streaming and discarding the result, and reports the server's peak
/// RSS after each.
pub fn measure(dir: &Path, threads: usize, sqls: &[&str]) -> Result<MemoryReport> {
    // The whole M cube (1.5 GB) streams past the default 1 GiB result limit.
    let opts = ArrayqdOptions {
        threads: Some(threads),
        args: vec!["--max-result-bytes".into(), MAX_RESULT_BYTES.to_string()],
        ..Default::default()
    };
    let server = ArrayqdProcess::start(dir, &opts)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = rt.block_on(arrayq_client::Client::connect(server.url()))?;
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
    Ok(MemoryReport {
        open_bytes,
        queries,
        binary: server.binary().display().to_string(),
    })
}
