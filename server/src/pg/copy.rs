//! COPY name [(columns)] FROM STDIN [WITH] (FORMAT csv|binary|text [, HEADER]) and
//! the legacy `WITH CSV [HEADER]`: the statement, the CopyIn sub-protocol, and the
//! rows handed to a [`CopySink`] in batches. One COPY is one commit; a malformed
//! row fails the COPY (naming its line and column) and nothing of it is committed.

use std::fmt::Debug;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::copy::CopyHandler;
use pgwire::api::results::{CopyResponse, Response};
use pgwire::api::ClientInfo;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::PgWireBackendMessage;

use crate::pg::copy_binary::BinaryParser;
use crate::pg::copy_format::{CopyError, CopyParser, CopyRow, Role, TextParser};
use crate::pg::errors::{
    error, info, FEATURE_NOT_SUPPORTED, INTERNAL, SYNTAX_ERROR, UNDEFINED_COLUMN,
};
use crate::pg::session::lock;
use crate::pg::Handler;
use crate::roles::{Access, Operation};

/// Rows parsed before they go to the sink.
const BATCH_ROWS: usize = 64 * 1024;

/// Where a COPY's rows go. Dropping a sink without `finish` commits nothing.
pub trait CopySink: Send {
    fn push(&mut self, rows: Vec<CopyRow>) -> Result<(), CopyError>;
    /// Commits; returns the number of rows.
    fn finish(self: Box<Self>) -> Result<u64, CopyError>;
}

/// A parsed COPY statement.
#[derive(Clone, Debug, PartialEq)]
pub struct CopyStatement {
    pub array: String,
    pub columns: Vec<(String, Role)>,
    pub format: CopyFormat,
    pub header: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyFormat {
    Csv,
    Text,
    Binary,
}

/// The COPY running on a session.
pub struct CopyIn {
    statement: CopyStatement,
    parser: Box<dyn CopyParser>,
    sink: Option<Box<dyn CopySink>>,
    /// The batch being ingested while the next one is read and parsed; it hands the
    /// sink back when done.
    in_flight: Option<tokio::task::JoinHandle<InFlight>>,
    rows: Vec<CopyRow>,
    failed: Option<CopyError>,
}

type InFlight = (Box<dyn CopySink>, Result<(), CopyError>);

fn role(column: &str) -> Option<Role> {
    Some(match column.to_ascii_lowercase().as_str() {
        "asset_id" | "asset" | "label" => Role::Label,
        "ts" | "time" | "timestamp" => Role::Time,
        "version" => Role::Version,
        "value" => Role::Value,
        _ => return None,
    })
}

fn unquote(s: &str) -> String {
    match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(q) => q.to_string(),
        None => s.to_ascii_lowercase(),
    }
}

/// Parses the COPY statement (the spellings in docs/postgres.md).
pub fn parse_copy(sql: &str) -> Result<CopyStatement, PgWireError> {
    let syntax = |m: &str| error(SYNTAX_ERROR, format!("COPY: {m}"));
    let s = sql.trim().trim_end_matches(';');
    let rest = s
        .get(4..)
        .filter(|_| s[..4].eq_ignore_ascii_case("copy"))
        .ok_or_else(|| syntax("expected COPY"))?;
    let lower = rest.to_ascii_lowercase();
    let from = lower
        .find(" from ")
        .ok_or_else(|| syntax("only COPY ... FROM STDIN is supported"))?;
    let (target, tail) = (rest[..from].trim(), rest[from + 6..].trim());
    let (array, columns) = match target.split_once('(') {
        Some((a, cols)) => {
            let cols = cols
                .trim_end()
                .strip_suffix(')')
                .ok_or_else(|| syntax("unclosed column list"))?;
            (
                a.trim(),
                cols.split(',')
                    .map(|c| unquote(c.trim()))
                    .collect::<Vec<_>>(),
            )
        }
        None => (
            target,
            ["asset_id", "ts", "version", "value"]
                .map(String::from)
                .to_vec(),
        ),
    };
    let columns = columns
        .into_iter()
        .map(|c| match role(&c) {
            Some(r) => Ok((c, r)),
            None => Err(error(
                UNDEFINED_COLUMN,
                format!("COPY column \"{c}\" is none of asset_id, ts, version, value"),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tail_l = tail.to_ascii_lowercase();
    let opts = tail_l
        .strip_prefix("stdin")
        .ok_or_else(|| syntax("only FROM STDIN is supported"))?;
    let opts = opts.trim().strip_prefix("with").unwrap_or(opts).trim();
    let words: Vec<&str> = opts
        .split(|c: char| c.is_whitespace() || "(),".contains(c))
        .filter(|w| !w.is_empty())
        .collect();
    let (mut format, mut header) = (CopyFormat::Text, false);
    let mut i = 0;
    while i < words.len() {
        match words[i] {
            "format" => {
                format = match words.get(i + 1).copied() {
                    Some("csv") => CopyFormat::Csv,
                    Some("binary") => CopyFormat::Binary,
                    Some("text") => CopyFormat::Text,
                    other => return Err(syntax(&format!("unknown FORMAT {other:?}"))),
                };
                i += 1;
            }
            "csv" => format = CopyFormat::Csv,
            "binary" => format = CopyFormat::Binary,
            "header" => {
                header = !matches!(words.get(i + 1).copied(), Some("false" | "off" | "0"));
                if matches!(
                    words.get(i + 1).copied(),
                    Some("true" | "false" | "on" | "off" | "1" | "0")
                ) {
                    i += 1;
                }
            }
            other => {
                return Err(error(
                    FEATURE_NOT_SUPPORTED,
                    format!("COPY option {other} is not supported"),
                ))
            }
        }
        i += 1;
    }
    Ok(CopyStatement {
        array: unquote(array),
        columns,
        format,
        header,
    })
}

impl Handler {
    /// Starts a COPY: parses the statement, opens the sink, answers CopyInResponse.
    pub async fn start_copy(&self, sql: &str) -> PgWireResult<Response> {
        let statement = parse_copy(sql)?;
        let access = Access::new(Operation::CopyFrom, Some(&statement.array));
        self.session.authorize(&access)?;
        let (shared, st) = (self.door.shared.clone(), statement.clone());
        let sink = self
            .door
            .shared
            .spawn_blocking(move || crate::pg::copy_sink::open(&shared, &st))
            .await
            .map_err(|e| error(INTERNAL, format!("COPY worker: {e}")))??;
        let parser: Box<dyn CopyParser> = match statement.format {
            CopyFormat::Binary => Box::new(BinaryParser::new(statement.columns.clone())),
            f => Box::new(TextParser::new(
                statement.columns.clone(),
                f == CopyFormat::Csv,
                statement.header,
            )),
        };
        let n = statement.columns.len();
        let format = if statement.format == CopyFormat::Binary {
            1
        } else {
            0
        };
        *lock(&self.session.copy) = Some(CopyIn {
            statement,
            parser,
            sink: Some(sink),
            in_flight: None,
            rows: Vec::new(),
            failed: None,
        });
        Ok(Response::CopyIn(CopyResponse::new(
            format,
            n,
            futures::stream::empty(),
        )))
    }

    /// Hands full batches (all rows, with `all`) to the sink on the blocking pool.
    /// One batch is ingested while the next is read: a flush first waits for the
    /// batch before it (and reports its error), then starts its own and, unless
    /// `all`, returns without waiting for it.
    async fn flush_rows(&self, all: bool) -> Result<(), CopyError> {
        let (rows, in_flight) = {
            let mut guard = lock(&self.session.copy);
            let Some(c) = guard.as_mut() else {
                return Ok(());
            };
            if c.failed.is_some() {
                return Ok(());
            }
            let due = c.rows.len() >= BATCH_ROWS || (all && !c.rows.is_empty());
            if !due && !all {
                return Ok(());
            }
            let rows = due.then(|| std::mem::take(&mut c.rows));
            (rows, c.in_flight.take())
        };
        if let Some(h) = in_flight {
            let (s, r) = h.await.map_err(|e| worker_error(&e.to_string()))?;
            if let Some(c) = lock(&self.session.copy).as_mut() {
                c.sink = Some(s);
            }
            r?;
        }
        let Some(rows) = rows else { return Ok(()) };
        let Some(s) = lock(&self.session.copy)
            .as_mut()
            .and_then(|c| c.sink.take())
        else {
            return Ok(());
        };
        let handle = self.door.shared.spawn_blocking(move || {
            let mut s = s;
            let r = s.push(rows);
            (s, r)
        });
        if all {
            let (s, r) = handle.await.map_err(|e| worker_error(&e.to_string()))?;
            if let Some(c) = lock(&self.session.copy).as_mut() {
                c.sink = Some(s);
            }
            return r;
        }
        if let Some(c) = lock(&self.session.copy).as_mut() {
            c.in_flight = Some(handle);
        }
        Ok(())
    }
}

fn worker_error(m: &str) -> CopyError {
    CopyError {
        line: 0,
        column: None,
        message: format!("COPY worker: {m}"),
        code: INTERNAL,
    }
}

/// The ErrorResponse of a failed COPY: the line (and column) in the message and,
/// as Postgres does, in the CONTEXT field.
fn copy_error(array: &str, e: &CopyError) -> PgWireError {
    let at = match (&e.column, e.line) {
        (_, 0) => String::new(),
        (Some(c), l) => format!("line {l}, column {c}"),
        (None, l) => format!("line {l}"),
    };
    let mut i = if at.is_empty() {
        info(e.code, e.message.clone())
    } else {
        info(e.code, format!("{} ({at})", e.message))
    };
    i.where_context = Some(format!(
        "COPY {array}{}{at}",
        if at.is_empty() { "" } else { ", " }
    ));
    PgWireError::UserError(Box::new(i))
}

#[async_trait]
impl CopyHandler for Handler {
    async fn on_copy_data<C>(&self, _client: &mut C, data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        {
            let mut guard = lock(&self.session.copy);
            let Some(c) = guard.as_mut() else {
                return Ok(());
            };
            // After a bad row the rest is read and dropped; the error goes out at
            // CopyDone, when every client listens for it.
            if c.failed.is_none() {
                let mut rows = std::mem::take(&mut c.rows);
                if let Err(e) = c.parser.feed(&data.data, &mut rows) {
                    c.failed = Some(e);
                }
                c.rows = rows;
            }
        }
        if let Err(e) = self.flush_rows(false).await {
            if let Some(c) = lock(&self.session.copy).as_mut() {
                c.failed.get_or_insert(e);
            }
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, _client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        {
            let mut guard = lock(&self.session.copy);
            let Some(c) = guard.as_mut() else {
                return Ok(());
            };
            if c.failed.is_none() {
                let mut rows = std::mem::take(&mut c.rows);
                if let Err(e) = c.parser.finish(&mut rows) {
                    c.failed = Some(e);
                }
                c.rows = rows;
            }
        }
        let flushed = self.flush_rows(true).await;
        let Some(mut c) = lock(&self.session.copy).take() else {
            return Ok(());
        };
        if let Some(e) = c.failed.take() {
            return Err(copy_error(&c.statement.array, &e));
        }
        let array = c.statement.array.clone();
        flushed.map_err(|e| copy_error(&array, &e))?;
        let sink = c
            .sink
            .take()
            .ok_or_else(|| copy_error(&array, &worker_error("the sink is gone")))?;
        let n = self
            .door
            .shared
            .spawn_blocking(move || sink.finish())
            .await
            .map_err(|e| copy_error(&array, &worker_error(&e.to_string())))?
            .map_err(|e| copy_error(&array, &e))?;
        _client
            .send(PgWireBackendMessage::CommandComplete(
                pgwire::api::results::Tag::new("COPY")
                    .with_rows(n as usize)
                    .into(),
            ))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, _client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // Dropping the sink commits nothing.
        lock(&self.session.copy).take();
        error("57014", format!("COPY from stdin failed: {}", fail.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_statement_spellings() {
        let c = parse_copy("COPY power (asset_id, ts, version, value) FROM STDIN (FORMAT csv)")
            .unwrap();
        assert_eq!(
            (c.array.as_str(), c.format, c.header),
            ("power", CopyFormat::Csv, false)
        );
        assert_eq!(c.columns[1], ("ts".to_string(), Role::Time));
        let c =
            parse_copy("copy power (asset_id, ts, version, value) from stdin with (format binary)")
                .unwrap();
        assert_eq!(c.format, CopyFormat::Binary);
        let c = parse_copy("COPY power (asset_id, ts, value) FROM STDIN WITH CSV HEADER").unwrap();
        assert_eq!(
            (c.format, c.header, c.columns.len()),
            (CopyFormat::Csv, true, 3)
        );
        let c = parse_copy("COPY \"Power\" FROM STDIN WITH (FORMAT csv, HEADER true);").unwrap();
        assert_eq!((c.array.as_str(), c.header), ("Power", true));
        assert!(parse_copy("COPY power (x) FROM STDIN").is_err());
        assert!(parse_copy("COPY power TO STDOUT").is_err());
    }
}
