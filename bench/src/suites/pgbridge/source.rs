//! The source PostgreSQL of the suite: a throwaway cluster (`arrayq_tests::PgCluster`,
//! run as `postgres` when root) set up like energy_pg.py's, the generator's binary
//! COPY streams sent to it (or to the door) with tokio-postgres `copy_in`, and the
//! query layouts of the energy suite built in it.

use std::pin::pin;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arrayq_tests::PgCluster;
use arrayq_workload::Scale;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use indicatif::ProgressBar;
use tokio::runtime::Runtime;
use tokio_postgres::{Client, NoTls};

use crate::suites::pgcopy::{self, Layout};

/// Streams up to this size are generated into memory before a COPY starts (the
/// COPY then measures the receiver alone); larger ones are generated while sent.
const IN_MEMORY: u64 = 2 << 30;

/// Settings of energy_pg.py's cluster (the docs' bulk-load advice: no WAL for a
/// table created and filled in one transaction), on top of PgCluster's
/// `fsync=off`, `synchronous_commit=off`, `full_page_writes=off`.
pub(super) const SETTINGS: [(&str, &str); 10] = [
    ("wal_level", "minimal"),
    ("max_wal_senders", "0"),
    ("shared_buffers", "1GB"),
    ("work_mem", "64MB"),
    ("maintenance_work_mem", "512MB"),
    ("effective_cache_size", "8GB"),
    ("random_page_cost", "1.1"),
    ("max_wal_size", "4GB"),
    ("jit", "off"),
    ("timezone", "UTC"),
];

/// Starts the cluster with [`SETTINGS`] and `threads` parallel workers.
pub(super) fn start_cluster(threads: usize) -> Result<PgCluster> {
    let pg = PgCluster::start().context("starting PostgreSQL (initdb, pg_ctl)")?;
    let mut sql: Vec<String> = SETTINGS
        .iter()
        .map(|(k, v)| format!("ALTER SYSTEM SET {k} = '{v}'"))
        .collect();
    for k in [
        "max_parallel_workers",
        "max_parallel_workers_per_gather",
        "max_parallel_maintenance_workers",
    ] {
        sql.push(format!("ALTER SYSTEM SET {k} = {threads}"));
    }
    for s in sql {
        pg.psql(&s)?;
    }
    pg.restart()
        .context("restarting PostgreSQL with the settings")?;
    Ok(pg)
}

/// A connection (its driver spawned on `rt`).
pub(super) fn connect(rt: &Runtime, url: &str) -> Result<Client> {
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, NoTls)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    })
}

/// A generated stream: in memory when small, else generated while sent.
pub(super) enum Stream {
    Memory(Vec<(Bytes, u64)>),
    Generated {
        scale: Scale,
        layout: Layout,
        n_assets: usize,
    },
}

/// The stream of `layout` for every asset of `scale` (see [`IN_MEMORY`]).
pub(super) fn prepare(scale: Scale, layout: Layout, n_assets: usize) -> Stream {
    if pgcopy::count(scale, layout, n_assets).1 <= IN_MEMORY {
        Stream::Memory(
            pgcopy::bands(scale, layout, n_assets)
                .map(|(b, n)| (Bytes::from(b), n))
                .collect(),
        )
    } else {
        Stream::Generated {
            scale,
            layout,
            n_assets,
        }
    }
}

/// One COPY: `sql` (a `COPY ... FROM STDIN (FORMAT binary)`) fed with the stream;
/// returns (tuples, seconds from the COPY statement to its completion, COPY's row
/// count).
pub(super) fn copy_in(
    rt: &Runtime,
    client: &Client,
    sql: &str,
    stream: &Stream,
    bar: &ProgressBar,
) -> Result<(u64, f64, u64)> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Bytes, u64)>(2);
    let generator = match stream {
        Stream::Memory(_) => None,
        &Stream::Generated {
            scale,
            layout,
            n_assets,
        } => {
            let (stx, srx) = sync_channel::<(Bytes, u64)>(1);
            std::thread::spawn(move || {
                for (b, n) in pgcopy::bands(scale, layout, n_assets) {
                    if stx.send((Bytes::from(b), n)).is_err() {
                        break;
                    }
                }
            });
            Some(srx)
        }
    };
    let feed = std::thread::spawn({
        let tx = tx.clone();
        let items: Vec<(Bytes, u64)> = match stream {
            // Shared handles of the bands.
            Stream::Memory(v) => v.clone(),
            Stream::Generated { .. } => Vec::new(),
        };
        move || match generator {
            Some(srx) => {
                for item in srx {
                    if tx.blocking_send(item).is_err() {
                        break;
                    }
                }
            }
            None => {
                for item in items {
                    if tx.blocking_send(item).is_err() {
                        break;
                    }
                }
            }
        }
    });
    drop(tx);
    // Let the feeder fill the channel before the clock starts.
    std::thread::sleep(Duration::from_millis(50));
    let res = rt.block_on(async {
        let t = Instant::now();
        let sink = client.copy_in::<_, Bytes>(sql).await?;
        let mut sink = pin!(sink);
        let mut tuples = 0;
        while let Some((buf, n)) = rx.recv().await {
            sink.send(buf).await?;
            tuples += n;
            bar.inc(n);
        }
        let rows = sink.as_mut().finish().await?;
        Ok::<_, tokio_postgres::Error>((tuples, t.elapsed().as_secs_f64(), rows))
    });
    drop(rx);
    let _ = feed.join();
    res.with_context(|| sql.to_string())
}

/// `CREATE TABLE` of a layout, as energy_pg.py.
pub(super) fn create_sql(layout: Layout) -> &'static str {
    match layout {
        Layout::Rows => {
            "CREATE TABLE power_rows (asset_id int NOT NULL, ts timestamptz NOT NULL, \
             version int NOT NULL, value real NOT NULL)"
        }
        Layout::RealArray => {
            "CREATE TABLE power_day_f4 (asset_id int NOT NULL, day date NOT NULL, \
             version int NOT NULL, t0 timestamptz NOT NULL, vals real[] NOT NULL)"
        }
        Layout::Float8Array => {
            "CREATE TABLE power_day_f8 (asset_id int NOT NULL, day date NOT NULL, \
             version int NOT NULL, t0 timestamptz NOT NULL, vals double precision[] NOT NULL)"
        }
    }
}

/// The table of a layout.
pub(super) fn table(layout: Layout) -> &'static str {
    match layout {
        Layout::Rows => "power_rows",
        Layout::RealArray => "power_day_f4",
        Layout::Float8Array => "power_day_f8",
    }
}

/// The primary key energy_pg.py gives a layout.
pub(super) fn primary_key(layout: Layout) -> String {
    let cols = if layout == Layout::Rows {
        "asset_id, ts, version"
    } else {
        "asset_id, day, version"
    };
    format!("ALTER TABLE {} ADD PRIMARY KEY ({cols})", table(layout))
}

/// The bridge's source side alone: the COPY TO it runs for `query` (arrayq-bridge's
/// `copy_sql` without a watermark: every column cast, rows in version order), read
/// to the end and dropped. Returns (seconds, bytes).
pub(super) fn bridge_source_copy(rt: &Runtime, client: &Client, query: &str) -> Result<(f64, u64)> {
    let sql = format!(
        "COPY (SELECT q.\"asset_id\"::int8, q.\"ts\"::timestamptz, q.\"version\"::int8, \
         q.\"value\"::float8 FROM ({query}) q ORDER BY q.\"version\") TO STDOUT (FORMAT binary)"
    );
    rt.block_on(async {
        let t = Instant::now();
        let stream = client.copy_out(sql.as_str()).await?;
        let mut stream = pin!(stream);
        let mut bytes = 0u64;
        while let Some(b) = stream.next().await {
            bytes += b?.len() as u64;
        }
        Ok::<_, tokio_postgres::Error>((t.elapsed().as_secs_f64(), bytes))
    })
    .with_context(|| sql.clone())
}
