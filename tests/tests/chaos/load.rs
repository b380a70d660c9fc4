//! The load: clients that each own one array and, in a closed loop, query any
//! array (90%) or rewrite their own with `expect_version` (10%). A write whose
//! answer the crash swallowed is in doubt until the restarted server's head
//! version says whether it committed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrayq_client::client::write_header;
use arrayq_client::{Client, Code, Error};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::pattern::{array_name, pattern_bytes, tag, Shape, COLS, ROWS};

/// Share of operations that are writes.
const WRITE_SHARE: f64 = 0.1;
/// Pause after an error before the next call, so a client does not spin while the
/// server is down.
const BACKOFF: Duration = Duration::from_millis(25);

/// A failed call: when it ran (from the run's start) and what it got.
#[derive(Clone, Debug)]
pub struct Fault {
    pub client: usize,
    pub op: &'static str,
    pub code: Code,
    pub message: String,
    pub started: Duration,
    pub ended: Duration,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "client {} {} from {:?} to {:?}: {}",
            self.client, self.op, self.started, self.ended, self.message
        )
    }
}

/// A query answered: which array, the version the server says it read, and the
/// tag whose pattern the result is (or why it is none).
#[derive(Clone, Debug)]
pub struct Read {
    pub array: usize,
    pub version: u64,
    pub tag: Result<u64, String>,
    pub sql: String,
}

/// One commit of a client's array: version, the tag written, and whether the
/// client got the acknowledgement (else the crash took it and the head showed it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commit {
    pub version: u64,
    pub tag: u64,
    pub acked: bool,
}

/// What one client did.
#[derive(Debug, Default)]
pub struct ClientLog {
    /// Its array's commits, version 1 (the initial write) on.
    pub commits: Vec<Commit>,
    pub reads: Vec<Read>,
    pub faults: Vec<Fault>,
    pub writes_tried: u64,
    /// A write sent whose outcome is unknown (its tag).
    pub in_doubt: Option<u64>,
    next_seq: u64,
}

impl ClientLog {
    /// A client whose array holds version 1 with tag (client, 0).
    pub fn new(client: usize) -> ClientLog {
        ClientLog {
            commits: vec![Commit {
                version: 1,
                tag: tag(client, 0),
                acked: true,
            }],
            next_seq: 1,
            ..Default::default()
        }
    }

    pub fn head(&self) -> u64 {
        self.commits.last().map_or(0, |c| c.version)
    }
}

/// What every client shares: the run's clock and the stop flag.
pub struct LoadCtx {
    pub clients: usize,
    pub t0: Instant,
    pub stop: AtomicBool,
}

impl LoadCtx {
    fn now(&self) -> Duration {
        self.t0.elapsed()
    }
}

/// Writes version 1 of `client`'s array (after creating it).
pub async fn prepare(client: &Client, id: usize) -> Result<(), Error> {
    client
        .create_array_sql(&crate::pattern::create_sql(id))
        .await?;
    let response = write(client, id, tag(id, 0), 0).await?;
    assert_eq!(response, 1, "first write of {}", array_name(id));
    Ok(())
}

/// Rewrites the whole array of `id` with `tag`'s pattern if its head is
/// `expect`; the new version.
async fn write(client: &Client, id: usize, tag: u64, expect: u64) -> Result<u64, Error> {
    let array = array_name(id);
    let mut header = write_header(&array, &["v"], &[0..ROWS, 0..COLS], vec![])?;
    header.expect_version = Some(expect);
    let response = client.write_raw(header, vec![pattern_bytes(tag)]).await?;
    Ok(response.version)
}

/// Runs client `id` until the stop flag; returns its log.
pub async fn run_client(ctx: Arc<LoadCtx>, url: String, id: usize, seed: u64) -> ClientLog {
    let client = Client::connect(url)
        .await
        .expect("connect while the server is up");
    let mut rng = StdRng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut log = ClientLog::new(id);
    while !ctx.stop.load(Ordering::Relaxed) {
        let started = ctx.now();
        let outcome = if rng.gen_bool(WRITE_SHARE) {
            write_once(&client, id, &mut log)
                .await
                .map_err(|e| ("write", e))
        } else {
            let array = rng.gen_range(0..ctx.clients);
            let shape = Shape::random(&mut rng);
            query_once(&client, array, &shape, &mut log)
                .await
                .map_err(|e| ("query", e))
        };
        if let Err((op, e)) = outcome {
            log.faults.push(Fault {
                client: id,
                op,
                code: e.code(),
                message: e.to_string(),
                started,
                ended: ctx.now(),
            });
            tokio::time::sleep(BACKOFF).await;
        }
    }
    log
}

async fn query_once(
    client: &Client,
    array: usize,
    shape: &Shape,
    log: &mut ClientLog,
) -> Result<(), Error> {
    let sql = shape.sql(&array_name(array));
    let result = client.query(&sql).await?;
    log.reads.push(Read {
        array,
        version: result.stats.version,
        tag: shape.tag_of(&result),
        sql,
    });
    Ok(())
}

async fn write_once(client: &Client, id: usize, log: &mut ClientLog) -> Result<(), Error> {
    resolve_in_doubt(client, id, log).await?;
    let seq = log.next_seq;
    log.next_seq += 1;
    let t = tag(id, seq);
    let expect = log.head();
    log.writes_tried += 1;
    log.in_doubt = Some(t);
    match write(client, id, t, expect).await {
        Ok(version) => {
            log.in_doubt = None;
            assert_eq!(
                version,
                expect + 1,
                "{}: write acknowledged as version {version} on head {expect}",
                array_name(id)
            );
            log.commits.push(Commit {
                version,
                tag: t,
                acked: true,
            });
            Ok(())
        }
        // Whatever the error, the head version settles it before the next write.
        Err(e) => Err(e),
    }
}

/// Settles a write in doubt from the head version of the array (the writer is
/// its only one): one more than before means it committed.
pub async fn resolve_in_doubt(
    client: &Client,
    id: usize,
    log: &mut ClientLog,
) -> Result<(), Error> {
    let Some(t) = log.in_doubt else {
        return Ok(());
    };
    let head = client.describe(&array_name(id)).await?.head_version;
    let before = log.head();
    if head == before + 1 {
        log.commits.push(Commit {
            version: head,
            tag: t,
            acked: false,
        });
    } else {
        assert_eq!(
            head,
            before,
            "{}: head {head} after a write in doubt on head {before}",
            array_name(id)
        );
    }
    log.in_doubt = None;
    Ok(())
}
