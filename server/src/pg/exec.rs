//! Running one engine statement for the door: a query slot as gRPC queries take,
//! the work (execute, collect, convert to rows) on tokio's blocking pool, the
//! cancel flag registered with the session (CancelRequest) and the server
//! (shutdown), and rows encoded on the blocking pool too, in batches.

use std::time::Instant;

use arrayq_query::{Execution, ParsedStatement, QueryContext, QueryError, StatementKind};
use futures::stream::{self, StreamExt};
use pgwire::api::portal::Format;
use pgwire::api::results::{QueryResponse, Response};
use pgwire::api::Type;
use pgwire::error::PgWireResult;
use tonic::Code;
use tracing::info;

use crate::pg::errors::{
    error, refused, CANCELED, DUPLICATE_OBJECT, INSUFFICIENT_PRIVILEGE, INTERNAL, SHUTDOWN,
    SYNTAX_ERROR, TOO_MANY, UNDEFINED_OBJECT,
};
use crate::pg::rows::{fields, format_of, header_schema, Table};
use crate::pg::statement::Kind;
use crate::pg::Handler;
use crate::query::{acquire_slot, clip};
use crate::roles::{parse_authorized, Caller, Refused};
use crate::state::{CallCancel, CancelOnDrop};
use crate::table_result::{ddl_columns, listing_columns};

/// Rows encoded per batch (and per hop to the connection's task).
const BATCH: usize = 1024;

/// The answer of a DDL statement: always these columns (NULL where it has none), so
/// Describe can announce them before the statement runs.
pub fn ddl_schema() -> Vec<(String, Type)> {
    vec![
        ("result".into(), Type::TEXT),
        ("array".into(), Type::TEXT),
        ("version".into(), Type::INT8),
    ]
}

impl Handler {
    /// Runs an engine statement (query, listing, DDL, EXPLAIN) to a table.
    pub async fn run_engine(&self, sql: &str, kind: &Kind) -> PgWireResult<Table> {
        let shared = self.door.shared.clone();
        let started = Instant::now();
        let deadline = shared.limits.query_timeout.map(|t| started + t);
        let permit = acquire_slot(&shared, deadline)
            .await
            .map_err(|s| match s.code() {
                Code::ResourceExhausted => error(TOO_MANY, s.message()),
                Code::Unavailable => error(SHUTDOWN, s.message()),
                Code::DeadlineExceeded => error(CANCELED, s.message()),
                _ => error(INTERNAL, s.message()),
            })?;
        let cancel = CallCancel::new();
        let _registered = shared.register(cancel.clone());
        let _running = self.session.running(cancel.clone());
        // The connection task dropped mid-statement (shutdown): stop the work.
        let mut on_drop = CancelOnDrop(Some(cancel.clone()));
        let ctx = QueryContext {
            cancel: cancel.flag(),
            deadline,
            max_result_bytes: None,
            max_memory_bytes: None,
        };
        let (text, kind2) = (sql.to_string(), kind.clone());
        let engine = shared.engine.clone();
        let caller = self.session.caller()?;
        let result = shared
            .spawn_blocking(move || run(&engine, &caller, &text, &kind2, &ctx))
            .await
            .map_err(|e| error(INTERNAL, format!("query worker: {e}")))?;
        on_drop.disarm();
        drop(permit);
        let status = match &result {
            Ok(t) => format!("ok ({} rows)", t.rows),
            Err(Refused::Query(e)) => e.to_string(),
            Err(Refused::Denied(d)) => d.0.clone(),
        };
        info!(
            target: "arrayq::query",
            door = "postgres",
            pid = self.session.pid,
            sql = %clip(sql, 300),
            status = %status,
            ms = format_args!("{:.3}", started.elapsed().as_secs_f64() * 1e3),
            "query"
        );
        result.map_err(|r| refused(r, sql))
    }

    /// Runs an ingest-job statement (the server's, not the engine's).
    pub async fn run_ingest(&self, sql: &str) -> PgWireResult<Table> {
        let shared = self.door.shared.clone();
        let text = sql.to_string();
        let caller = self.session.caller()?;
        let answer = shared
            .clone()
            .spawn_blocking(move || crate::ingest_jobs::execute(&shared, &caller, &text))
            .await
            .map_err(|e| error(INTERNAL, format!("ingest statement: {e}")))?;
        let t = answer.map_err(|s| {
            let code = match s.code() {
                Code::InvalidArgument => SYNTAX_ERROR,
                Code::NotFound => UNDEFINED_OBJECT,
                Code::AlreadyExists => DUPLICATE_OBJECT,
                Code::PermissionDenied => INSUFFICIENT_PRIVILEGE,
                _ => INTERNAL,
            };
            error(code, s.message())
        })?;
        Table::from_columns(listing_columns(t), "SELECT").map_err(|e| error(INTERNAL, e))
    }

    /// The column names and types a statement will answer with, without running
    /// anything that changes data: queries are planned (not executed), listings
    /// read; DDL and EXPLAIN have fixed columns. None: no rows (NoData).
    pub async fn describe(
        &self,
        sql: &str,
        kind: &Kind,
    ) -> PgWireResult<Option<Vec<(String, Type)>>> {
        let text = |name: &str| Some(vec![(name.to_string(), Type::TEXT)]);
        Ok(match kind {
            Kind::Ddl(_) => Some(ddl_schema()),
            Kind::Explain => text("QUERY PLAN"),
            Kind::ShowSetting(name) => text(name),
            Kind::Version => text("version"),
            Kind::Constant(_) => Some(vec![("?column?".to_string(), Type::INT4)]),
            Kind::Ingest => Some(
                crate::ingest_jobs::answer_columns(sql)
                    .into_iter()
                    .map(|c| (c.to_string(), Type::TEXT))
                    .collect(),
            ),
            Kind::Listing => Some(self.run_engine(sql, kind).await?.schema()),
            Kind::Query => {
                // Planning can take a moment on a large array: cancellable too.
                let cancel = CallCancel::new();
                let _running = self.session.running(cancel.clone());
                let ctx = QueryContext {
                    cancel: cancel.flag(),
                    ..Default::default()
                };
                let engine = self.door.shared.engine.clone();
                let caller = self.session.caller()?;
                let s = sql.to_string();
                let planned = self
                    .door
                    .shared
                    .spawn_blocking(move || {
                        let parsed = parse_authorized(&caller, &s)?;
                        // Only a query is planned here; anything else (its first
                        // words hid what it is) runs at Execute, not at Parse.
                        if parsed.kind() != StatementKind::Select {
                            return Ok(None);
                        }
                        match engine.run(parsed, &ctx).map_err(Refused::Query)? {
                            Execution::Rows(stream) => Ok(Some(header_schema(&stream.header))),
                            _ => Ok(None),
                        }
                    })
                    .await
                    .map_err(|e| error(INTERNAL, format!("query planner: {e}")))?;
                planned.map_err(|r| refused(r, sql))?
            }
            _ => None,
        })
    }
}

/// On the blocking pool: parse, check the caller's role, execute, collect and
/// convert.
fn run(
    engine: &arrayq_query::Engine,
    caller: &Caller,
    sql: &str,
    kind: &Kind,
    ctx: &QueryContext,
) -> Result<Table, Refused> {
    let parsed = parse_authorized(caller, sql)?;
    run_parsed(engine, parsed, kind, ctx).map_err(Refused::Query)
}

fn run_parsed(
    engine: &arrayq_query::Engine,
    parsed: ParsedStatement,
    kind: &Kind,
    ctx: &QueryContext,
) -> Result<Table, QueryError> {
    let table = match engine.run(parsed, ctx)? {
        Execution::Rows(stream) => Table::from_result(stream.collect_all()?),
        Execution::Done {
            message,
            array,
            version,
        } => {
            let tag = match kind {
                Kind::Ddl(t) => t.as_str(),
                _ => "SELECT",
            };
            Table::from_columns(ddl_columns(message, array, version), tag)
                .map(|t| t.fit(&ddl_schema()))
        }
        Execution::Table(t) => Table::from_columns(listing_columns(t), "SELECT"),
        Execution::Explain(e) => Ok(Table::text(
            "QUERY PLAN",
            e.text.lines().map(str::to_string).collect(),
            "EXPLAIN",
        )),
    };
    table.map_err(QueryError::Internal)
}

/// A table as a pgwire response: rows encoded in the formats asked for, in batches
/// on the blocking pool when there are many.
pub fn respond(handler: &Handler, table: Table, format: &Format) -> Response {
    let schema = table.schema();
    let tag = table.tag.clone();
    let formats: Vec<_> = (0..schema.len()).map(|k| format_of(format, k)).collect();
    let fields = fields(&schema, format);
    let mut response = if table.rows <= BATCH {
        let rows = table.encode(0, table.rows, &formats);
        QueryResponse::new(fields, stream::iter(rows.into_iter().map(Ok)))
    } else {
        let (tx, rx) = tokio::sync::mpsc::channel::<PgWireResult<Vec<_>>>(2);
        // A CancelRequest while rows are still being sent ends the statement too.
        let cancel = CallCancel::new();
        let running = handler.session.running(cancel.clone());
        handler.door.shared.spawn_blocking(move || {
            let _running = running;
            let mut from = 0;
            while from < table.rows {
                let to = (from + BATCH).min(table.rows);
                let batch = if cancel.is_cancelled() {
                    Err(error(CANCELED, "canceling statement due to user request"))
                } else {
                    Ok(table.encode(from, to, &formats))
                };
                let stop = batch.is_err();
                // The client went away: stop encoding.
                if tx.blocking_send(batch).is_err() || stop {
                    break;
                }
                from = to;
            }
        });
        let rows = tokio_stream::wrappers::ReceiverStream::new(rx).flat_map(|b| {
            let items: Vec<PgWireResult<_>> = match b {
                Ok(rows) => rows.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            stream::iter(items)
        });
        QueryResponse::new(fields, rows)
    };
    response.set_command_tag(&tag);
    Response::Query(response)
}
