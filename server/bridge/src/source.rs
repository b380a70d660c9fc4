//! One PostgreSQL source: its connection (driven here, so notifications arrive),
//! the check of its query's columns, and pulls of its rows with binary COPY.

use std::time::{SystemTime, UNIX_EPOCH};

use arrayq_proto::v1::RowBatch;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::binary_copy::{BinaryCopyOutRow, BinaryCopyOutStream};
use tokio_postgres::types::Type;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_stream::StreamExt;

use crate::error::BridgeError;

/// Rows per batch handed on.
pub const BATCH_ROWS: usize = 1 << 16;

/// What to read: the connection, the query and the roles of its columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceSpec {
    /// A libpq connection string or `postgresql://` URL.
    pub url: String,
    pub query: String,
    pub label_col: String,
    pub time_col: String,
    /// Optional: a query without it loads without versions.
    pub version_col: String,
    pub value_col: String,
    /// A column that grows with every new row (a serial id, an arrival time): rows
    /// are pulled past the last value seen, which the target keeps durably.
    pub watermark_col: Option<String>,
}

impl SourceSpec {
    /// `query` on `url` with the default column names `asset_id`, `ts`, `version`,
    /// `value` and no watermark.
    pub fn new(url: &str, query: &str) -> SourceSpec {
        SourceSpec {
            url: url.to_string(),
            query: query.to_string(),
            label_col: "asset_id".into(),
            time_col: "ts".into(),
            version_col: "version".into(),
            value_col: "value".into(),
            watermark_col: None,
        }
    }
}

/// What the check found out about the query's columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns {
    pub text_labels: bool,
    pub has_version: bool,
    /// The watermark column's type name, when there is one.
    pub watermark_type: Option<String>,
}

/// The outcome of one pull.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pulled {
    pub rows: u64,
    /// The watermark of the last row (as text), when rows came.
    pub watermark: Option<String>,
}

/// A connected source.
pub struct Source {
    spec: SourceSpec,
    client: tokio_postgres::Client,
    conn: JoinHandle<Result<(), tokio_postgres::Error>>,
    notices: mpsc::UnboundedReceiver<String>,
    columns: Columns,
}

impl Source {
    /// Connects, sets the session to UTC and checks the query's columns; fails with
    /// one error naming a missing or mistyped column before anything is read.
    pub async fn connect(spec: &SourceSpec) -> Result<Source, BridgeError> {
        let (client, mut connection) = tokio_postgres::connect(&spec.url, NoTls)
            .await
            .map_err(|e| BridgeError::pg("cannot connect", e))?;
        let (tx, notices) = mpsc::unbounded_channel();
        // Driving the connection ourselves is what delivers NOTIFYs.
        let conn = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        let _ = tx.send(n.channel().to_string());
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                    None => return Ok(()),
                }
            }
        });
        client
            .batch_execute("SET TimeZone = 'UTC'")
            .await
            .map_err(|e| BridgeError::pg("SET TimeZone", e))?;
        let columns = crate::columns::check(&client, spec).await?;
        Ok(Source {
            spec: spec.clone(),
            client,
            conn,
            notices,
            columns,
        })
    }

    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    /// Starts listening on `channel`.
    pub async fn listen(&self, channel: &str) -> Result<(), BridgeError> {
        let sql = format!("LISTEN {}", quote_ident(channel));
        self.client
            .batch_execute(&sql)
            .await
            .map_err(|e| BridgeError::pg("LISTEN", e))
    }

    /// Waits for the next notification (on any channel listened to); an error
    /// when the connection is gone.
    pub async fn notified(&mut self) -> Result<String, BridgeError> {
        match self.notices.recv().await {
            Some(channel) => Ok(channel),
            None => Err(self.lost().await),
        }
    }

    /// Whether a notification is already waiting (drains them all).
    pub fn drain_notified(&mut self) -> bool {
        let mut any = false;
        while self.notices.try_recv().is_ok() {
            any = true;
        }
        any
    }

    async fn lost(&mut self) -> BridgeError {
        match (&mut self.conn).await {
            Ok(Err(e)) => BridgeError::pg("connection lost", e),
            _ => BridgeError::Closed,
        }
    }

    /// Streams the query's rows (past `after` on the watermark column, if given)
    /// into `out` in batches; rows come in version order (or watermark order with a
    /// watermark column). Calls `on_batch(rows)` as each batch leaves.
    pub async fn pull(
        &self,
        after: Option<&str>,
        out: &mpsc::Sender<RowBatch>,
        mut on_batch: impl FnMut(u64),
    ) -> Result<Pulled, BridgeError> {
        let copy = crate::columns::copy_sql(&self.spec, &self.columns, after);
        let mut types = vec![
            if self.columns.text_labels {
                Type::TEXT
            } else {
                Type::INT8
            },
            Type::TIMESTAMPTZ,
            Type::INT8,
            Type::FLOAT8,
        ];
        if self.columns.watermark_type.is_some() {
            types.push(Type::TEXT);
        }
        let stream = self
            .client
            .copy_out(copy.as_str())
            .await
            .map_err(|e| BridgeError::pg("COPY out of the source query", e))?;
        let rows = BinaryCopyOutStream::new(stream, &types);
        tokio::pin!(rows);
        let mut pulled = Pulled::default();
        let mut batch = RowBatch::default();
        while let Some(row) = rows.next().await {
            let row = row.map_err(|e| BridgeError::pg("reading the COPY stream", e))?;
            pulled.rows += 1;
            let wm = decode(&row, &self.columns, &mut batch).map_err(|why| BridgeError::Row {
                row: pulled.rows,
                why,
            })?;
            if wm.is_some() {
                pulled.watermark = wm;
            }
            if batch.times_unix_ns.len() >= BATCH_ROWS {
                on_batch(batch.times_unix_ns.len() as u64);
                out.send(std::mem::take(&mut batch))
                    .await
                    .map_err(|_| BridgeError::TargetGone)?;
            }
        }
        if !batch.times_unix_ns.is_empty() {
            on_batch(batch.times_unix_ns.len() as u64);
            out.send(batch).await.map_err(|_| BridgeError::TargetGone)?;
        }
        Ok(pulled)
    }
}

/// Appends one COPY row to the batch; returns the row's watermark text.
fn decode(
    row: &BinaryCopyOutRow,
    cols: &Columns,
    batch: &mut RowBatch,
) -> Result<Option<String>, String> {
    let err = |c: &str, e: tokio_postgres::Error| format!("column {c}: {e}");
    if cols.text_labels {
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
    if cols.has_version {
        batch.versions.push(v.ok_or("the version is NULL")?);
    }
    let x: Option<f64> = row.try_get(3).map_err(|e| err("value", e))?;
    batch.values.push(x.unwrap_or(f64::NAN));
    if x.is_none() || !batch.nulls.is_empty() {
        // Null flags only once a NULL appears: the rows before it were not NULL.
        batch.nulls.resize(batch.values.len() - 1, false);
        batch.nulls.push(x.is_none());
    }
    if cols.watermark_type.is_some() {
        let w: Option<String> = row.try_get(4).map_err(|e| err("watermark", e))?;
        return Ok(Some(w.ok_or("the watermark is NULL")?));
    }
    Ok(None)
}

fn unix_ns(t: SystemTime) -> Result<i64, String> {
    let ns = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).ok(),
        Err(e) => i64::try_from(e.duration().as_nanos()).ok().map(|n| -n),
    };
    ns.ok_or_else(|| "the time is out of range".to_string())
}

/// A SQL identifier, quoted.
pub(crate) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A SQL string literal, quoted.
pub(crate) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
