//! `arrayq load postgres`: the Postgres bridge's one-shot form. Streams a source
//! query's rows out of PostgreSQL with binary `COPY (...) TO STDOUT`, never holding
//! more than a few batches, and sends them to the server's series ingest
//! (`IngestRows`), one commit per version round.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrayq_client::{Client, Error};
use arrayq_proto::v1;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;
use tokio_postgres::binary_copy::BinaryCopyOutStream;
use tokio_postgres::types::Type;
use tokio_postgres::NoTls;
use tokio_stream::StreamExt;

/// Rows per batch sent to the server.
const BATCH_ROWS: usize = 1 << 16;

/// What `arrayq load postgres` was asked to do.
#[derive(Clone, Debug)]
pub struct PgLoad {
    pub url: String,
    pub query: String,
    pub array: String,
    pub label_col: String,
    pub time_col: String,
    /// Absent from the query: no versions, one commit.
    pub version_col: String,
    pub value_col: String,
}

/// The role of a source column and the types it may have.
struct Role {
    what: &'static str,
    flag: &'static str,
    accepts: &'static [Type],
    expected: &'static str,
}

const LABEL: Role = Role {
    what: "label",
    flag: "--label-col",
    accepts: &[
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
    ],
    expected: "an integer (smallint, integer, bigint) or text",
};
const TIME: Role = Role {
    what: "time",
    flag: "--time-col",
    accepts: &[Type::TIMESTAMPTZ, Type::TIMESTAMP],
    expected: "timestamptz (or timestamp, read as UTC)",
};
const VERSION: Role = Role {
    what: "version",
    flag: "--version-col",
    accepts: &[Type::INT2, Type::INT4, Type::INT8],
    expected: "an integer",
};
const VALUE: Role = Role {
    what: "value",
    flag: "--value-col",
    accepts: &[
        Type::FLOAT4,
        Type::FLOAT8,
        Type::NUMERIC,
        Type::INT2,
        Type::INT4,
        Type::INT8,
    ],
    expected: "a number (real, double precision, numeric or an integer)",
};

fn input(msg: String) -> Error {
    Error::InvalidInput(msg)
}

fn pg_error(what: &str, e: tokio_postgres::Error) -> Error {
    // The server's own message (with its SQLSTATE) says more than the wrapper's.
    let detail = match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    input(format!("postgres: {what}: {detail}"))
}

/// Runs the load; returns the line to print.
pub async fn load_postgres(client: &Client, job: &PgLoad) -> Result<String, Error> {
    let started = Instant::now();
    let (pg, connection) = tokio_postgres::connect(&job.url, NoTls)
        .await
        .map_err(|e| pg_error("cannot connect", e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    pg.batch_execute("SET TimeZone = 'UTC'")
        .await
        .map_err(|e| pg_error("SET TimeZone", e))?;
    // Types are checked on the prepared query, before anything is written.
    let stmt = pg
        .prepare(&job.query)
        .await
        .map_err(|e| pg_error("the source query", e))?;
    let find = |name: &str, role: &Role, required: bool| -> Result<Option<Type>, Error> {
        let Some(col) = stmt.columns().iter().find(|c| c.name() == name) else {
            if !required {
                return Ok(None);
            }
            let have: Vec<&str> = stmt.columns().iter().map(|c| c.name()).collect();
            return Err(input(format!(
                "the source query has no column '{name}' for the {} (it has {}; name it with {})",
                role.what,
                have.join(", "),
                role.flag
            )));
        };
        if !role.accepts.contains(col.type_()) {
            return Err(input(format!(
                "column '{name}' of the source query is {}; the {} must be {}",
                col.type_().name(),
                role.what,
                role.expected
            )));
        }
        Ok(Some(col.type_().clone()))
    };
    let label_type = find(&job.label_col, &LABEL, true)?.expect("required");
    find(&job.time_col, &TIME, true)?;
    let has_version = find(&job.version_col, &VERSION, false)?.is_some();
    find(&job.value_col, &VALUE, true)?;
    let text_labels = !matches!(label_type, Type::INT2 | Type::INT4 | Type::INT8);

    let q = |c: &str| format!("q.\"{}\"", c.replace('"', "\"\""));
    let label_expr = if text_labels {
        format!("{}::text", q(&job.label_col))
    } else {
        format!("{}::int8", q(&job.label_col))
    };
    let version_expr = if has_version {
        format!("{}::int8", q(&job.version_col))
    } else {
        "NULL::int8".to_string()
    };
    // Rounds in order: the series ingest commits at each change of the version.
    let order = if has_version {
        format!(" ORDER BY {}", q(&job.version_col))
    } else {
        String::new()
    };
    let copy = format!(
        "COPY (SELECT {label_expr}, {}::timestamptz, {version_expr}, {}::float8 FROM ({}) q{order}) TO STDOUT (FORMAT binary)",
        q(&job.time_col),
        q(&job.value_col),
        job.query.trim().trim_end_matches(';')
    );
    let types = [
        if text_labels { Type::TEXT } else { Type::INT8 },
        Type::TIMESTAMPTZ,
        Type::INT8,
        Type::FLOAT8,
    ];
    let out = pg
        .copy_out(copy.as_str())
        .await
        .map_err(|e| pg_error("COPY out of the source query", e))?;
    let rows = BinaryCopyOutStream::new(out, &types);

    let header = v1::IngestRowsHeader {
        array: job.array.clone(),
        commit_per_version: has_version,
        ..Default::default()
    };
    let (tx, rx) = mpsc::channel::<v1::RowBatch>(4);
    let sending = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .ingest_rows(header, tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
        })
    };
    let bar = rows_bar();
    let mut batch = v1::RowBatch::default();
    let mut total = 0u64;
    tokio::pin!(rows);
    let mut read_error = None;
    while let Some(row) = rows.next().await {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                read_error = Some(pg_error("reading the COPY stream", e));
                break;
            }
        };
        match decode(&row, text_labels, has_version, &mut batch) {
            Ok(()) => {}
            Err(e) => {
                read_error = Some(input(format!("row {}: {e}", total + 1)));
                break;
            }
        }
        total += 1;
        if batch.times_unix_ns.len() >= BATCH_ROWS {
            bar.inc(batch.times_unix_ns.len() as u64);
            if tx.send(std::mem::take(&mut batch)).await.is_err() {
                break; // the server refused: its error is the answer
            }
        }
    }
    if let Some(e) = read_error {
        // Abandon the stream: the server commits nothing of this round.
        sending.abort();
        bar.finish_and_clear();
        return Err(e);
    }
    if !batch.times_unix_ns.is_empty() {
        bar.inc(batch.times_unix_ns.len() as u64);
        let _ = tx.send(batch).await;
    }
    drop(tx);
    let resp = sending
        .await
        .map_err(|e| Error::Protocol(format!("the upload task failed: {e}")))??;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let versions: Vec<String> = resp.commits.iter().map(|c| c.version.to_string()).collect();
    Ok(format!(
        "loaded {} rows into '{}' in {:.2} s ({:.0} rows/s), {} commit(s): version {}",
        resp.rows,
        job.array,
        secs,
        resp.rows as f64 / secs.max(1e-9),
        resp.commits.len(),
        if versions.is_empty() {
            "-".to_string()
        } else {
            versions.join(", ")
        }
    ))
}

/// Appends one COPY row (label, time, version, value) to the batch.
fn decode(
    row: &tokio_postgres::binary_copy::BinaryCopyOutRow,
    text_labels: bool,
    has_version: bool,
    batch: &mut v1::RowBatch,
) -> Result<(), String> {
    let err = |c: &str, e: tokio_postgres::Error| format!("column {c}: {e}");
    if text_labels {
        let l: Option<String> = row.try_get(0).map_err(|e| err("label", e))?;
        batch.text_labels.push(l.ok_or("the label is NULL")?);
    } else {
        let l: Option<i64> = row.try_get(0).map_err(|e| err("label", e))?;
        batch.int_labels.push(l.ok_or("the label is NULL")?);
    }
    let t: Option<SystemTime> = row.try_get(1).map_err(|e| err("time", e))?;
    batch
        .times_unix_ns
        .push(unix_ns(t.ok_or("the time is NULL")?)?);
    let v: Option<i64> = row.try_get(2).map_err(|e| err("version", e))?;
    if has_version {
        batch.versions.push(v.ok_or("the version is NULL")?);
    }
    let x: Option<f64> = row.try_get(3).map_err(|e| err("value", e))?;
    batch.values.push(x.unwrap_or(f64::NAN));
    if x.is_none() || !batch.nulls.is_empty() {
        // Null flags only once a NULL appears: back-fill the rows before it.
        batch.nulls.resize(batch.values.len() - 1, false);
        batch.nulls.push(x.is_none());
    }
    Ok(())
}

fn unix_ns(t: SystemTime) -> Result<i64, String> {
    let ns = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).ok(),
        Err(e) => i64::try_from(e.duration().as_nanos()).ok().map(|n| -n),
    };
    ns.ok_or_else(|| "the time is out of range".to_string())
}

fn rows_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {human_pos} rows  {per_sec}  {elapsed}")
            .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
