//! The `arrayq.v1.ArrayQ` service: maps each RPC to the storage engine or the query
//! engine. Anything that may take CPU or disk time runs on the blocking pool.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use arrayq_proto::v1 as pb;
use arrayq_proto::v1::array_q_server::ArrayQ;
use arrayq_proto::v1::create_array_request::Definition;
use arrayq_query::{Execution, QueryContext};
use arrayq_storage::{AsOf, Snapshot, Store};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};
use tracing::info;

use crate::auth::Authenticated;
use crate::convert::{schema_from_pb, schema_to_pb, stats_to_pb};
use crate::errors::{query_status, storage_status};
use crate::query::{
    acquire_slot, call_deadline, clip, error_status, start_query, CallStream, QueryCall, QueryFrame,
};
use crate::state::{CallCancel, CancelOnDrop, Shared};
use crate::subscribe::Feed;

/// The gRPC service; cheap to clone.
#[derive(Clone)]
pub struct ArrayQService {
    shared: Arc<Shared>,
}

impl ArrayQService {
    pub(crate) fn new(shared: Arc<Shared>) -> ArrayQService {
        ArrayQService { shared }
    }

    /// Runs `f` on the blocking pool; a panic becomes INTERNAL.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, Status> + Send + 'static,
    ) -> Result<T, Status> {
        self.shared
            .spawn_blocking(f)
            .await
            .map_err(|e| Status::internal(format!("worker failed: {e}")))?
    }

    /// Starts a Query call: its frames, before they become protobuf messages.
    pub async fn query_frames(
        &self,
        request: Request<pb::QueryRequest>,
    ) -> Result<Response<CallStream<QueryFrame>>, Status> {
        let now = Instant::now();
        let deadline = call_deadline(
            request.metadata(),
            request.get_ref().timeout_ms,
            self.shared.limits.query_timeout,
            now,
        );
        let who = peer(&request);
        let r = request.into_inner();
        if r.sql.trim().is_empty() {
            return Err(Status::invalid_argument("empty SQL text"));
        }
        let permit = acquire_slot(&self.shared, deadline).await?;
        let stream = start_query(
            &self.shared,
            QueryCall {
                sql: r.sql,
                max_result_bytes: r.max_result_bytes,
                accept_stored_chunks: r.accept_stored_chunks,
                deadline,
                permit,
                peer: who,
            },
        );
        Ok(Response::new(stream))
    }
}

fn peer<T>(req: &Request<T>) -> String {
    req.remote_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "-".into())
}

fn describe(
    store: &Store,
    name: &str,
    max_commits: u32,
    omit_labels: bool,
) -> Result<pb::DescribeArrayResponse, Status> {
    let snap = store.snapshot(name, AsOf::Latest).map_err(storage_status)?;
    let all = store.commits(name).map_err(storage_status)?;
    let skip = if max_commits == 0 {
        0
    } else {
        all.len().saturating_sub(max_commits as usize)
    };
    let commits = all[skip..]
        .iter()
        .map(|c| pb::Commit {
            version: c.version,
            timestamp_ns: c.timestamp_ns,
            cells_written: c.cells_written,
        })
        .collect();
    let schema = snap.schema();
    Ok(pb::DescribeArrayResponse {
        schema: Some(schema_to_pb(schema, omit_labels)),
        head_version: snap.version(),
        commits,
        layouts: schema
            .layouts
            .iter()
            .zip(&snap.meta().stats)
            .map(|(l, s)| pb::LayoutStats {
                name: l.name.clone(),
                chunks: s.chunks,
                bytes: s.bytes,
            })
            .collect(),
    })
}

fn summary(snap: &Snapshot) -> pb::ArraySummary {
    let s = snap.schema();
    pb::ArraySummary {
        name: s.name.clone(),
        dimensions: s.dims.iter().map(|d| d.name.clone()).collect(),
        shape: s.shape(),
        attributes: s.attrs.iter().map(|a| a.name.clone()).collect(),
        head_version: snap.version(),
    }
}

/// The array name of a `CREATE ARRAY [IF NOT EXISTS] name ...` statement (best
/// effort: plain or double-quoted identifiers).
fn created_name(sql: &str) -> Option<String> {
    let mut rest = sql;
    if !next_word(&mut rest)?.eq_ignore_ascii_case("create")
        || !next_word(&mut rest)?.eq_ignore_ascii_case("array")
    {
        return None;
    }
    let mut name = next_word(&mut rest)?;
    if name.eq_ignore_ascii_case("if") {
        next_word(&mut rest)?; // NOT
        next_word(&mut rest)?; // EXISTS
        name = next_word(&mut rest)?;
    }
    Some(name)
}

/// The next identifier of `rest` (plain or double-quoted), advancing past it.
fn next_word(rest: &mut &str) -> Option<String> {
    let s = skip_space_and_comments(rest);
    if let Some(q) = s.strip_prefix('"') {
        let end = q.find('"')?;
        *rest = &q[end + 1..];
        return Some(q[..end].to_string());
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    *rest = &s[end..];
    Some(s[..end].to_string())
}

/// Skips whitespace, `-- line` and `/* block */` comments.
fn skip_space_and_comments(mut s: &str) -> &str {
    loop {
        s = s.trim_start();
        if let Some(r) = s.strip_prefix("--") {
            s = r.find('\n').map_or("", |i| &r[i + 1..]);
        } else if let Some(r) = s.strip_prefix("/*") {
            s = r.find("*/").map_or("", |i| &r[i + 2..]);
        } else {
            return s;
        }
    }
}

#[tonic::async_trait]
impl ArrayQ for ArrayQService {
    async fn create_array(
        &self,
        request: Request<pb::CreateArrayRequest>,
    ) -> Result<Response<pb::CreateArrayResponse>, Status> {
        let store = self.shared.store.clone();
        match request.into_inner().definition {
            None => Err(Status::invalid_argument(
                "CreateArray needs a schema or a CREATE ARRAY statement",
            )),
            Some(Definition::Schema(s)) => {
                let schema = schema_from_pb(&s)?;
                let name = schema.name.clone();
                let (schema, version) = self
                    .blocking(move || {
                        let info = store.create_array(schema).map_err(storage_status)?;
                        let snap = store
                            .snapshot(&name, AsOf::Version(info.version))
                            .map_err(storage_status)?;
                        Ok((schema_to_pb(snap.schema(), false), info.version))
                    })
                    .await?;
                info!(array = %schema.name, "created array");
                Ok(Response::new(pb::CreateArrayResponse {
                    schema: Some(schema),
                    version,
                }))
            }
            Some(Definition::Sql(sql)) => {
                // Only CREATE ARRAY may come this way: check before executing anything.
                if created_name(&sql).is_none() {
                    return Err(Status::invalid_argument(
                        "CreateArray.sql must be a CREATE ARRAY statement",
                    ));
                }
                let engine = self.shared.engine.clone();
                let (schema, version) = self
                    .blocking(move || {
                        let (array, version) = match engine
                            .execute(&sql, &QueryContext::default())
                            .map_err(query_status)?
                        {
                            Execution::Done {
                                array: Some(a),
                                version,
                                ..
                            } => (a, version.unwrap_or(0)),
                            _ => {
                                return Err(Status::invalid_argument(
                                    "CreateArray.sql must be a CREATE ARRAY statement",
                                ))
                            }
                        };
                        let snap = store
                            .snapshot(&array, AsOf::Latest)
                            .map_err(storage_status)?;
                        Ok((schema_to_pb(snap.schema(), false), version))
                    })
                    .await?;
                info!(array = %schema.name, "created array (sql)");
                Ok(Response::new(pb::CreateArrayResponse {
                    schema: Some(schema),
                    version,
                }))
            }
        }
    }

    async fn drop_array(
        &self,
        request: Request<pb::DropArrayRequest>,
    ) -> Result<Response<pb::DropArrayResponse>, Status> {
        let name = request.into_inner().name;
        let store = self.shared.store.clone();
        let n = name.clone();
        self.blocking(move || store.drop_array(&n).map_err(storage_status))
            .await?;
        info!(array = %name, "dropped array");
        Ok(Response::new(pb::DropArrayResponse {}))
    }

    async fn list_arrays(
        &self,
        _request: Request<pb::ListArraysRequest>,
    ) -> Result<Response<pb::ListArraysResponse>, Status> {
        let store = self.shared.store.clone();
        let arrays = self
            .blocking(move || {
                Ok(store
                    .list_arrays()
                    .iter()
                    // An array dropped meanwhile is simply left out.
                    .filter_map(|n| store.snapshot(n, AsOf::Latest).ok())
                    .map(|s| summary(&s))
                    .collect())
            })
            .await?;
        Ok(Response::new(pb::ListArraysResponse { arrays }))
    }

    async fn describe_array(
        &self,
        request: Request<pb::DescribeArrayRequest>,
    ) -> Result<Response<pb::DescribeArrayResponse>, Status> {
        let r = request.into_inner();
        let store = self.shared.store.clone();
        let resp = self
            .blocking(move || describe(&store, &r.name, r.max_commits, r.omit_labels))
            .await?;
        Ok(Response::new(resp))
    }

    async fn write(
        &self,
        request: Request<Streaming<pb::WriteRequest>>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        let who = peer(&request);
        crate::write::write(&self.shared, who, request.into_inner()).await
    }

    type QueryStream = MessageStream;

    async fn query(
        &self,
        request: Request<pb::QueryRequest>,
    ) -> Result<Response<Self::QueryStream>, Status> {
        let frames = self.query_frames(request).await?;
        Ok(Response::new(MessageStream(frames.into_inner())))
    }

    async fn explain(
        &self,
        request: Request<pb::ExplainRequest>,
    ) -> Result<Response<pb::ExplainResponse>, Status> {
        let now = Instant::now();
        let deadline = call_deadline(request.metadata(), 0, self.shared.limits.query_timeout, now);
        let r = request.into_inner();
        let permit = acquire_slot(&self.shared, deadline).await?;
        let cancel = CallCancel::new();
        let _registered = self.shared.register(cancel.clone());
        let mut guard = CancelOnDrop(Some(cancel.clone()));
        let engine = self.shared.engine.clone();
        let ctx = QueryContext {
            cancel: cancel.flag(),
            deadline,
            max_result_bytes: None,
        };
        let c = cancel.clone();
        let sql = r.sql.clone();
        let out = self
            .blocking(move || {
                let _permit = permit;
                engine
                    .explain(&sql, r.analyze, &ctx)
                    .map_err(|e| error_status(e, &c))
            })
            .await;
        guard.disarm();
        let out = out?;
        info!(
            target: "arrayq::query",
            sql = %clip(&r.sql, 300),
            analyze = r.analyze,
            layout = %out.layout,
            ms = format_args!("{:.3}", now.elapsed().as_secs_f64() * 1e3),
            chunks_read = out.analyze.as_ref().map_or(0, |s| s.chunks_read),
            bytes_read = out.analyze.as_ref().map_or(0, |s| s.bytes_read),
            "explain"
        );
        Ok(Response::new(pb::ExplainResponse {
            text: out.text,
            layout: out.layout,
            candidates: out
                .candidates
                .iter()
                .map(|c| pb::LayoutCandidate {
                    name: c.name.clone(),
                    chunks: c.chunks,
                    bytes: c.est_bytes,
                })
                .collect(),
            stats: out.analyze.as_ref().map(|s| stats_to_pb(s, out.version)),
        }))
    }

    type SubscribeStream = ReceiverStream<Result<pb::ChangeEvent, Status>>;

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let r = request.into_inner();
        // Subscribe to live events first, so nothing committed from now on is missed.
        let live = self.shared.events.subscribe();
        if !r.array.is_empty() && !self.shared.store.list_arrays().contains(&r.array) {
            return Err(Status::not_found(format!(
                "array '{}' does not exist",
                r.array
            )));
        }
        let next = if r.from_seq == 0 {
            self.shared.store.last_seq() + 1
        } else {
            r.from_seq
        };
        let (tx, rx) = mpsc::channel(64);
        let feed = Feed {
            shared: self.shared.clone(),
            array: r.array,
            next,
            live,
            tx,
        };
        tokio::spawn(feed.run());
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn health(
        &self,
        request: Request<pb::HealthRequest>,
    ) -> Result<Response<pb::HealthResponse>, Status> {
        let serving = self.shared.serving.load(Ordering::SeqCst);
        let mut resp = Response::new(pb::HealthResponse {
            status: if serving {
                pb::ServingStatus::Serving
            } else {
                pb::ServingStatus::NotServing
            } as i32,
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_s: self.shared.started.elapsed().as_secs(),
        });
        // Operational counters for authenticated callers (tests and monitoring).
        if request.extensions().get::<Authenticated>().is_some() {
            let m = self.shared.store.metrics();
            let c = &self.shared.counters;
            let entries = [
                ("arrayq-chunks-read", m.chunks_read.load(Ordering::Relaxed)),
                ("arrayq-bytes-read", m.bytes_read.load(Ordering::Relaxed)),
                ("arrayq-commits", m.commits.load(Ordering::Relaxed)),
                ("arrayq-calls-running", self.shared.running() as u64),
                ("arrayq-blocking-tasks", self.shared.blocking_tasks() as u64),
                (
                    "arrayq-query-slots-free",
                    self.shared.slots.available_permits() as u64,
                ),
                (
                    "arrayq-queries-total",
                    c.queries_total.load(Ordering::Relaxed),
                ),
                (
                    "arrayq-queries-rejected",
                    c.queries_rejected.load(Ordering::Relaxed),
                ),
                (
                    "arrayq-writes-total",
                    c.writes_total.load(Ordering::Relaxed),
                ),
                ("arrayq-last-seq", self.shared.store.last_seq()),
            ];
            for (k, v) in entries {
                resp.metadata_mut().insert(k, MetadataValue::from(v));
            }
        }
        Ok(resp)
    }
}

/// The Query response stream as protobuf messages (the generated server's path;
/// `wire.rs` sends the frames without joining stored chunks).
pub struct MessageStream(CallStream<QueryFrame>);

impl tokio_stream::Stream for MessageStream {
    type Item = Result<pb::QueryResponse, Status>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.0)
            .poll_next(cx)
            .map(|item| item.map(|r| r.map(QueryFrame::into_message)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_statement_name() {
        assert_eq!(created_name("CREATE ARRAY w (x INT)").as_deref(), Some("w"));
        assert_eq!(
            created_name("  create array if not exists \"My_A\" (x)").as_deref(),
            Some("My_A")
        );
        assert_eq!(created_name("DROP ARRAY w"), None);
        assert_eq!(created_name("CREATE TABLE w"), None);
        assert_eq!(
            created_name("-- the cube\n/* hourly */ CREATE ARRAY c (x INT)").as_deref(),
            Some("c")
        );
    }
}
