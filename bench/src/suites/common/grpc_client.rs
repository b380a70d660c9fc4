//! Clients of a served store: a tokio runtime for them, draining a result without
//! keeping it (over gRPC or in-process, for comparison), and a closed-loop load of
//! many clients.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use arrayq_client::{Client, QueryOptions};
use arrayq_query::{Engine, Execution, QueryContext};
use tokio::runtime::Runtime;

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
