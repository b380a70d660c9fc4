//! Query execution off the I/O threads.
//!
//! A Query call takes a slot (bounded wait), then runs `Engine::execute` and pulls
//! the lazy result stream on tokio's blocking pool. Every message goes through a
//! small bounded channel whose receiver is the response stream, so a slow client
//! holds the worker back (backpressure) and the first block leaves before the rest is
//! computed. When the client cancels or disconnects, the response stream is dropped:
//! that sets the engine's cancel flag and the worker stops at its next chunk or send.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arrayq_proto::v1::{QueryResponse, QueryStats as PbStats, ResultHeader as PbHeader};
use arrayq_proto::MAX_BLOCK_BYTES;
use arrayq_query::{Execution, QueryContext, QueryError, WireBlock};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio_stream::Stream;
use tonic::metadata::MetadataMap;
use tonic::Status;
use tracing::{info, warn};

use crate::convert::{header_to_pb, stats_to_pb, stored_block_frame};
use crate::errors::query_status;
pub use crate::frames::QueryFrame;
use crate::frames::{data_blocks, header_messages};
use crate::roles::{parse_authorized, Caller, Refused};
use crate::state::{CallCancel, Reason, Registered, Shared};
use crate::table_result::{ddl_columns, listing_columns, table_messages, TableColumn};

/// How a call ended, written by the worker before it drops its sender.
#[derive(Default)]
pub struct Outcome {
    status: Mutex<Option<Status>>,
    finished: AtomicBool,
}

impl Outcome {
    fn fail(&self, s: Status) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
    }

    fn succeed(&self) {
        self.finished.store(true, Ordering::SeqCst);
    }
}

/// The response stream of a streaming call fed by a worker: the channel's messages,
/// then the worker's final error (if any). Dropping it cancels the worker.
pub struct CallStream<T> {
    rx: mpsc::Receiver<Result<T, Status>>,
    outcome: Arc<Outcome>,
    cancel: Arc<CallCancel>,
    done: bool,
    _permit: Option<OwnedSemaphorePermit>,
    _registered: Option<Registered>,
}

impl<T> Stream for CallStream<T> {
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(item)),
            Poll::Ready(None) => {
                self.done = true;
                let failed = self
                    .outcome
                    .status
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                if let Some(s) = failed {
                    Poll::Ready(Some(Err(s)))
                } else if !self.outcome.finished.load(Ordering::SeqCst) {
                    Poll::Ready(Some(Err(Status::internal(
                        "the query worker stopped without a result",
                    ))))
                } else {
                    Poll::Ready(None)
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for CallStream<T> {
    fn drop(&mut self) {
        if !self.outcome.finished.load(Ordering::SeqCst) {
            self.cancel.cancel(Reason::Client);
        }
    }
}

/// Deadline from the `grpc-timeout` request header (`<digits><unit>`, unit one of
/// H M S m u n), counted from `now`.
pub fn grpc_deadline(md: &MetadataMap, now: Instant) -> Option<Instant> {
    let v = md.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    let d = match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    };
    now.checked_add(d)
}

/// The earliest of the client's deadline, the request's `timeout_ms` and the server's
/// query timeout.
pub fn call_deadline(
    md: &MetadataMap,
    timeout_ms: u64,
    server_timeout: Option<Duration>,
    now: Instant,
) -> Option<Instant> {
    [
        grpc_deadline(md, now),
        (timeout_ms > 0).then(|| now + Duration::from_millis(timeout_ms)),
        server_timeout.and_then(|t| now.checked_add(t)),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// Takes a query slot, waiting at most the queue timeout (and never past the
/// call's deadline).
pub async fn acquire_slot(
    shared: &Arc<Shared>,
    deadline: Option<Instant>,
) -> Result<OwnedSemaphorePermit, Status> {
    let mut wait = shared.limits.queue_timeout;
    if let Some(d) = deadline {
        wait = wait.min(d.saturating_duration_since(Instant::now()));
    }
    match tokio::time::timeout(wait, shared.slots.clone().acquire_owned()).await {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(_)) => Err(Status::unavailable("server shutting down")),
        Err(_) => {
            shared
                .counters
                .queries_rejected
                .fetch_add(1, Ordering::Relaxed);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Status::deadline_exceeded(
                    "deadline passed while waiting for a query slot",
                ));
            }
            Err(Status::resource_exhausted(format!(
                "server busy: {} queries running, none finished within {} ms",
                shared.limits.max_concurrent_queries,
                shared.limits.queue_timeout.as_millis()
            )))
        }
    }
}

/// The status of a query error, considering why the call was cancelled.
pub fn error_status(e: QueryError, cancel: &CallCancel) -> Status {
    if matches!(e, QueryError::Cancelled) {
        return cancel_status(cancel.reason());
    }
    query_status(e)
}

pub fn cancel_status(reason: Reason) -> Status {
    match reason {
        Reason::Deadline => Status::deadline_exceeded("deadline exceeded"),
        Reason::Shutdown => Status::unavailable("server shutting down: query cancelled"),
        Reason::Client | Reason::None => Status::cancelled("query cancelled"),
    }
}

/// A started Query call.
pub struct QueryCall {
    pub sql: String,
    pub max_result_bytes: u64,
    /// The client decodes stored chunks (`QueryRequest.accept_stored_chunks`).
    pub accept_stored_chunks: bool,
    pub deadline: Option<Instant>,
    pub permit: OwnedSemaphorePermit,
    pub peer: String,
    pub caller: Caller,
}

/// Starts the worker of a Query call and returns its response stream.
pub fn start_query(shared: &Arc<Shared>, call: QueryCall) -> CallStream<QueryFrame> {
    let cancel = CallCancel::new();
    let registered = shared.register(cancel.clone());
    let outcome = Arc::new(Outcome::default());
    let (tx, rx) = mpsc::channel(shared.limits.stream_buffer.max(1));
    shared
        .counters
        .queries_total
        .fetch_add(1, Ordering::Relaxed);
    let mut worker = Worker {
        shared: shared.clone(),
        caller: call.caller.clone(),
        tx,
        cancel: cancel.clone(),
        deadline: call.deadline,
        handle: Handle::current(),
        stored: false,
        elements_sent: 0,
        bytes_sent: 0,
        messages_sent: 0,
    };
    let out = outcome.clone();
    let QueryCall {
        sql,
        max_result_bytes,
        accept_stored_chunks,
        deadline,
        permit,
        peer,
        caller: _,
    } = call;
    worker.stored = accept_stored_chunks;
    shared.spawn_blocking(move || worker.run(&sql, max_result_bytes, deadline, &out, &peer));
    CallStream {
        rx,
        outcome,
        cancel,
        done: false,
        _permit: Some(permit),
        _registered: Some(registered),
    }
}

/// Why the worker stopped sending.
enum Stop {
    Cancelled(Reason),
    Failed(Status),
}

struct Worker {
    shared: Arc<Shared>,
    /// Who runs the statement (what it may do is checked once it is parsed).
    caller: Caller,
    tx: mpsc::Sender<Result<QueryFrame, Status>>,
    cancel: Arc<CallCancel>,
    deadline: Option<Instant>,
    handle: Handle,
    /// Send stored chunks where the query allows.
    stored: bool,
    elements_sent: u64,
    bytes_sent: u64,
    messages_sent: u64,
}

/// What the log line of a query reports.
#[derive(Default)]
struct Report {
    chunks_read: u64,
    bytes_read: u64,
    layout: String,
    version: u64,
}

impl Worker {
    fn run(
        mut self,
        sql: &str,
        max_result_bytes: u64,
        deadline: Option<Instant>,
        outcome: &Outcome,
        peer: &str,
    ) {
        let started = Instant::now();
        let ctx = QueryContext {
            cancel: self.cancel.flag(),
            deadline,
            max_result_bytes: (max_result_bytes > 0).then_some(max_result_bytes),
            max_memory_bytes: None,
        };
        let mut report = Report::default();
        let result = self.execute(sql, &ctx, &mut report);
        let status = match result {
            Ok(()) => {
                outcome.succeed();
                "ok".to_string()
            }
            Err(Stop::Cancelled(why)) => {
                outcome.fail(cancel_status(why));
                format!("cancelled ({why:?})")
            }
            Err(Stop::Failed(s)) => {
                let text = format!("{:?}: {}", s.code(), s.message());
                outcome.fail(s);
                text
            }
        };
        info!(
            target: "arrayq::query",
            peer = %peer,
            sql = %clip(sql, 300),
            status = %status,
            ms = format_args!("{:.3}", started.elapsed().as_secs_f64() * 1e3),
            chunks_read = report.chunks_read,
            bytes_read = report.bytes_read,
            layout = %report.layout,
            version = report.version,
            elements_sent = self.elements_sent,
            bytes_sent = self.bytes_sent,
            messages = self.messages_sent,
            "query"
        );
        // Dropping `self.tx` here ends the response stream after the outcome is set.
    }

    fn execute(&mut self, sql: &str, ctx: &QueryContext, report: &mut Report) -> Result<(), Stop> {
        if crate::ingest_jobs::is_ingest_statement(sql) {
            let t = crate::ingest_jobs::execute(&self.shared, &self.caller, sql)
                .map_err(Stop::Failed)?;
            return self.send_table(listing_columns(t), 0);
        }
        let parsed = match parse_authorized(&self.caller, sql) {
            Ok(p) => p,
            Err(Refused::Query(e)) => return Err(self.query_failure(e)),
            Err(Refused::Denied(d)) => return Err(Stop::Failed(d.into())),
        };
        let engine = self.shared.engine.clone();
        let exec = engine.run(parsed, ctx).map_err(|e| self.query_failure(e))?;
        match exec {
            Execution::Rows(mut stream) => {
                let header = header_to_pb(&stream.header);
                let version = stream.header.version;
                report.version = version;
                report.layout = stream.header.layout.clone();
                for m in header_messages(header) {
                    self.send(m)?;
                }
                if self.stored {
                    stream.send_stored_chunks(MAX_BLOCK_BYTES);
                }
                loop {
                    self.check_cancel()?;
                    let Some(block) = stream.next_wire() else {
                        break;
                    };
                    let block = match block {
                        Ok(WireBlock::Stored(b)) => {
                            let k = b.elements() as u64;
                            self.send_data(stored_block_frame(b), k)?;
                            continue;
                        }
                        Ok(WireBlock::Values(b)) => Ok(b),
                        Err(e) => Err(e),
                    };
                    let block = match block {
                        Ok(b) => b,
                        Err(e) => {
                            let s = stream.stats();
                            report.chunks_read = s.chunks_read;
                            report.bytes_read = s.bytes_read;
                            return Err(self.query_failure(e));
                        }
                    };
                    let elem = block.data.dtype().size();
                    let (column, offset) = (block.column as u32, block.offset as u64);
                    // Engine blocks larger than a message are split (slices, no copy).
                    let bytes = block.data.into_le_bytes();
                    for mut b in data_blocks(column, elem, bytes) {
                        b.element_offset += offset;
                        let k = (b.data.len() / elem) as u64;
                        self.send_data(QueryFrame::Message(b.into()), k)?;
                    }
                }
                let stats = stream.stats();
                report.chunks_read = stats.chunks_read;
                report.bytes_read = stats.bytes_read;
                self.send(QueryResponse::footer(stats_to_pb(&stats, version)))
            }
            Execution::Done {
                message,
                array,
                version,
            } => {
                report.version = version.unwrap_or(0);
                self.send_table(ddl_columns(message, array, version), report.version)
            }
            Execution::Table(t) => self.send_table(listing_columns(t), 0),
            Execution::Explain(e) => {
                let mut lines: Vec<String> = e.text.lines().map(str::to_string).collect();
                if let Some(s) = &e.analyze {
                    report.chunks_read = s.chunks_read;
                    report.bytes_read = s.bytes_read;
                }
                report.layout = e.layout.clone();
                if lines.is_empty() {
                    lines.push(String::new());
                }
                self.send_notes(lines, 0)
            }
        }
    }

    /// A table answer (DDL outcome, SHOW ARRAYS, DESCRIBE) as a result with one `row`
    /// dimension and a column per field, then the footer.
    fn send_table(&mut self, columns: Vec<TableColumn>, version: u64) -> Result<(), Stop> {
        let msgs = table_messages(columns).map_err(|e| Stop::Failed(Status::internal(e)))?;
        for m in msgs {
            self.send(m)?;
        }
        self.send(QueryResponse::footer(PbStats {
            version,
            ..Default::default()
        }))
    }

    /// EXPLAIN: a scalar header without columns whose notes carry the plan's text,
    /// then the footer.
    fn send_notes(&mut self, notes: Vec<String>, version: u64) -> Result<(), Stop> {
        self.send(QueryResponse::header(PbHeader {
            scalar: true,
            notes,
            ..Default::default()
        }))?;
        self.send(QueryResponse::footer(PbStats {
            version,
            ..Default::default()
        }))
    }

    fn query_failure(&self, e: QueryError) -> Stop {
        if matches!(e, QueryError::Cancelled) {
            let why = self.cancel.reason();
            return Stop::Cancelled(if why == Reason::None {
                Reason::Client
            } else {
                why
            });
        }
        Stop::Failed(error_status(e, &self.cancel))
    }

    fn check_cancel(&self) -> Result<(), Stop> {
        if self.cancel.is_cancelled() {
            return Err(Stop::Cancelled(self.cancel.reason()));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.cancel.cancel(Reason::Deadline);
            return Err(Stop::Cancelled(Reason::Deadline));
        }
        Ok(())
    }

    fn send_data(&mut self, frame: QueryFrame, elements: u64) -> Result<(), Stop> {
        self.elements_sent += elements;
        self.send_frame(frame)
    }

    fn send(&mut self, msg: QueryResponse) -> Result<(), Stop> {
        self.send_frame(QueryFrame::Message(msg))
    }

    /// Queues one message, waiting for room (backpressure) until the client goes
    /// away, the call is cancelled or its deadline passes.
    fn send_frame(&mut self, msg: QueryFrame) -> Result<(), Stop> {
        self.check_cancel()?;
        let len = match &msg {
            QueryFrame::Message(m) => match &m.msg {
                Some(arrayq_proto::v1::query_response::Msg::Data(d)) => d.data.len() as u64,
                _ => 0,
            },
            QueryFrame::Stored { chunks, .. } => chunks.iter().map(|c| c.len() as u64).sum(),
        };
        let tx = &self.tx;
        let cancel = &self.cancel;
        let deadline = self.deadline;
        let sent = self.handle.block_on(async move {
            let until = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = tx.send(Ok(msg)) => r.map_err(|_| Reason::Client),
                _ = cancel.cancelled() => Err(cancel.reason()),
                _ = until => Err(Reason::Deadline),
            }
        });
        match sent {
            Ok(()) => {
                self.bytes_sent += len;
                self.messages_sent += 1;
                Ok(())
            }
            Err(why) => {
                self.cancel.cancel(why);
                Err(Stop::Cancelled(self.cancel.reason()))
            }
        }
    }
}

/// The first `n` characters of `s` (with an ellipsis when cut), on one line.
pub fn clip(s: &str, n: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= n {
        one_line
    } else {
        let mut t: String = one_line.chars().take(n).collect();
        t.push('…');
        t
    }
}

/// Logs a worker that did not end in time (diagnostics for shutdown).
pub fn warn_stuck(n: usize) {
    if n > 0 {
        warn!("{n} blocking tasks still running at shutdown");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_header() {
        let now = Instant::now();
        let mut md = MetadataMap::new();
        assert_eq!(grpc_deadline(&md, now), None);
        md.insert("grpc-timeout", "250m".parse().unwrap());
        assert_eq!(
            grpc_deadline(&md, now),
            Some(now + Duration::from_millis(250))
        );
        md.insert("grpc-timeout", "3S".parse().unwrap());
        assert_eq!(grpc_deadline(&md, now), Some(now + Duration::from_secs(3)));
        md.insert("grpc-timeout", "bogus".parse().unwrap());
        assert_eq!(grpc_deadline(&md, now), None);
        md.insert("grpc-timeout", "2M".parse().unwrap());
        assert_eq!(
            call_deadline(&md, 1000, Some(Duration::from_secs(300)), now),
            Some(now + Duration::from_secs(1))
        );
        assert_eq!(call_deadline(&MetadataMap::new(), 0, None, now), None);
    }

    #[test]
    fn clipping() {
        assert_eq!(clip("SELECT\n1", 50), "SELECT 1");
        assert_eq!(clip("abcdef", 3), "abc…");
    }
}
