//! Change latency: a following ingest job in arrayqd pulls from a PostgreSQL table
//! on `NOTIFY`; small batches are committed on the source one at a time, and two
//! clients of arrayq time each commit's arrival: `LISTEN live` on the Postgres door
//! (tokio-postgres, NotificationResponse) and gRPC `Subscribe` (the Rust client).

use std::future::poll_fn;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use arrayq_client::Client;
use arrayq_tests::PgCluster;
use indicatif::ProgressBar;
use tokio::runtime::Runtime;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio_postgres::{AsyncMessage, NoTls};

use super::source::connect;
use crate::suites::common::arrayqd::ArrayqdProcess;

/// Rows per batch: one asset x one local day.
pub(super) const BATCH_ROWS: usize = 96;
/// Assets the batches cycle through (then the next day).
const ASSETS: usize = 200;
/// A commit not seen by a client within this long counts as lost.
const WAIT: Duration = Duration::from_secs(10);

/// What the batches saw.
pub(super) struct Latencies {
    /// Source commit to the door's NotificationResponse, seconds, per batch.
    pub door: Vec<f64>,
    /// Source commit to gRPC's ChangeEvent, seconds, per batch.
    pub grpc: Vec<f64>,
    /// Round trips of the COMMIT itself, seconds.
    pub commit: Vec<f64>,
    /// Batches a client did not see within [`WAIT`] (door, gRPC).
    pub lost: (usize, usize),
    /// Events whose cell count was not [`BATCH_ROWS`] (door, gRPC).
    pub wrong_cells: (usize, usize),
}

/// The `k`-th batch: asset `1 + k % 200`, local day `k / 200` (from 2023-01-01).
fn insert_sql(k: usize) -> String {
    let asset = 1 + k % ASSETS;
    let day = k / ASSETS;
    // Local midnight of 2023-01-01 (Europe/Amsterdam, no DST in January) in UTC.
    let t0 = 1_672_527_600 + day as i64 * 86_400;
    format!(
        "INSERT INTO feed_rows (asset_id, ts, version, value) SELECT {asset}, \
         to_timestamp({t0}) + q * interval '15 minutes', 1, {asset} + q * 0.25 \
         FROM generate_series(0, {}) q",
        BATCH_ROWS - 1
    )
}

async fn next_within<T>(rx: &mut UnboundedReceiver<T>) -> Option<T> {
    tokio::time::timeout(WAIT, rx.recv()).await.ok().flatten()
}

/// Creates `feed_rows` on the source and the job `feed` into `live`, then commits
/// `n` batches one at a time (after two untimed ones) and times their arrival.
pub(super) fn change_latency(
    rt: &Runtime,
    pg: &PgCluster,
    server: &ArrayqdProcess,
    pg_door: Option<std::net::SocketAddr>,
    n: usize,
    bar: &ProgressBar,
) -> Result<Latencies> {
    let src = connect(rt, pg.url())?;
    rt.block_on(async {
        src.batch_execute(
            "DROP TABLE IF EXISTS feed_rows; CREATE TABLE feed_rows (id bigserial PRIMARY KEY, \
             asset_id int NOT NULL, ts timestamptz NOT NULL, version int NOT NULL, \
             value real NOT NULL)",
        )
        .await?;
        // The first batch is there before the job: its catch-up pull creates `live`.
        src.batch_execute(&insert_sql(0)).await?;
        let client = Client::connect(server.url()).await?;
        let url = pg.url().replace('\'', "''");
        client
            .query(&format!(
                "CREATE INGEST feed FROM POSTGRES '{url}' QUERY 'SELECT id, asset_id, ts, \
                 version, value FROM feed_rows' INTO live WITH (channel = 'feed', watermark = 'id')"
            ))
            .await
            .context("CREATE INGEST feed")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while client.describe("live").await.is_err() {
            if Instant::now() > deadline {
                bail!("the ingest job did not create array live within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // gRPC: live events only.
        let mut sub = client.subscribe("live", 0).await?;
        let (gtx, mut grx) = unbounded_channel::<(Instant, u64)>();
        tokio::spawn(async move {
            while let Ok(Some(ev)) = sub.next().await {
                if gtx.send((Instant::now(), ev.cells_written)).is_err() {
                    break;
                }
            }
        });
        // The door: LISTEN live, notifications taken from the connection directly.
        let (dtx, mut drx) = unbounded_channel::<(Instant, String)>();
        let _door = match pg_door {
            Some(addr) => Some(listen(addr, dtx).await?),
            None => None,
        };

        let mut out = Latencies {
            door: Vec::with_capacity(n),
            grpc: Vec::with_capacity(n),
            commit: Vec::with_capacity(n),
            lost: (0, 0),
            wrong_cells: (0, 0),
        };
        // Two untimed batches (paths warm), then n timed ones.
        for k in 1..n + 3 {
            src.batch_execute(&format!("BEGIN; {}; NOTIFY feed", insert_sql(k)))
                .await?;
            let t0 = Instant::now();
            src.batch_execute("COMMIT").await?;
            let commit = t0.elapsed().as_secs_f64();
            let d = match pg_door {
                Some(_) => next_within(&mut drx).await,
                None => None,
            };
            let g = next_within(&mut grx).await;
            if k < 3 {
                continue;
            }
            out.commit.push(commit);
            match d {
                Some((t, payload)) => {
                    out.door.push((t - t0).as_secs_f64());
                    let cells = serde_json::from_str::<serde_json::Value>(&payload)
                        .ok()
                        .and_then(|v| v["cells"].as_u64());
                    if cells != Some(BATCH_ROWS as u64) {
                        out.wrong_cells.0 += 1;
                    }
                }
                None if pg_door.is_some() => out.lost.0 += 1,
                None => {}
            }
            match g {
                Some((t, cells)) => {
                    out.grpc.push((t - t0).as_secs_f64());
                    if cells != BATCH_ROWS as u64 {
                        out.wrong_cells.1 += 1;
                    }
                }
                None => out.lost.1 += 1,
            }
            bar.inc(1);
        }
        let _ = client.query("DROP INGEST feed").await;
        Ok(out)
    })
}

/// `LISTEN live` on the door at `addr`; each NotificationResponse goes to `tx` with
/// the instant it arrived. The returned client keeps the session open.
async fn listen(
    addr: std::net::SocketAddr,
    tx: UnboundedSender<(Instant, String)>,
) -> Result<tokio_postgres::Client> {
    let (door, mut conn) = tokio_postgres::connect(
        &format!(
            "host={} port={} user=bench dbname=arrayq",
            addr.ip(),
            addr.port()
        ),
        NoTls,
    )
    .await
    .context("connecting to the door")?;
    tokio::spawn(async move {
        while let Some(m) = poll_fn(|cx| conn.poll_message(cx)).await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send((Instant::now(), n.payload().to_string())).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    door.batch_execute("LISTEN live").await?;
    Ok(door)
}

/// Nearest-rank percentile `p` (0..=100) of `v`, seconds (NaN when empty).
pub(super) fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}
