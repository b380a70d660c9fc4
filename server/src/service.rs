//! The `arrayq.v1.ArrayQ` service: maps each RPC to the storage engine or the query
//! engine. Anything that may take CPU or disk time runs on the blocking pool.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use arrayq_proto::v1 as pb;
use arrayq_proto::v1::array_q_server::ArrayQ;
use arrayq_query::{QueryContext, StatementKind};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};
use tracing::info;

use crate::auth::caller_of;
use crate::catalog;
use crate::convert::stats_to_pb;
use crate::errors::storage_status;
use crate::query::{
    acquire_slot, call_deadline, clip, error_status, start_query, CallStream, QueryCall, QueryFrame,
};
use crate::roles::{authorize, Access, Caller, Operation};
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
        let caller = caller_of(&request)?;
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
                caller,
            },
        );
        Ok(Response::new(stream))
    }
}

/// The request's caller, if its role allows `op` on `array`.
fn allowed<T>(req: &Request<T>, op: Operation, array: Option<&str>) -> Result<Caller, Status> {
    let caller = caller_of(req)?;
    authorize(&caller, &Access::new(op, array))?;
    Ok(caller)
}

fn peer<T>(req: &Request<T>) -> String {
    req.remote_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "-".into())
}

#[tonic::async_trait]
impl ArrayQ for ArrayQService {
    async fn create_array(
        &self,
        request: Request<pb::CreateArrayRequest>,
    ) -> Result<Response<pb::CreateArrayResponse>, Status> {
        let caller = caller_of(&request)?;
        let engine = self.shared.engine.clone();
        let definition = request.into_inner().definition;
        let resp = self
            .blocking(move || catalog::create_array(&engine, &caller, definition))
            .await?;
        let name = resp.schema.as_ref().map_or("", |s| s.name.as_str());
        info!(array = %name, version = resp.version, "created array");
        Ok(Response::new(resp))
    }

    async fn drop_array(
        &self,
        request: Request<pb::DropArrayRequest>,
    ) -> Result<Response<pb::DropArrayResponse>, Status> {
        let kind = StatementKind::DropArray;
        allowed(
            &request,
            Operation::Statement(kind),
            Some(&request.get_ref().name),
        )?;
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
        request: Request<pb::ListArraysRequest>,
    ) -> Result<Response<pb::ListArraysResponse>, Status> {
        allowed(
            &request,
            Operation::Statement(StatementKind::ShowArrays),
            None,
        )?;
        let store = self.shared.store.clone();
        let arrays = self
            .blocking(move || Ok(catalog::list_arrays(&store)))
            .await?;
        Ok(Response::new(pb::ListArraysResponse { arrays }))
    }

    async fn describe_array(
        &self,
        request: Request<pb::DescribeArrayRequest>,
    ) -> Result<Response<pb::DescribeArrayResponse>, Status> {
        let kind = StatementKind::Describe;
        allowed(
            &request,
            Operation::Statement(kind),
            Some(&request.get_ref().name),
        )?;
        let r = request.into_inner();
        let store = self.shared.store.clone();
        let resp = self
            .blocking(move || catalog::describe(&store, &r.name, r.max_commits, r.omit_labels))
            .await?;
        Ok(Response::new(resp))
    }

    async fn write(
        &self,
        request: Request<Streaming<pb::WriteRequest>>,
    ) -> Result<Response<pb::WriteResponse>, Status> {
        let who = peer(&request);
        let caller = caller_of(&request)?;
        crate::write::write(&self.shared, who, &caller, request.into_inner()).await
    }

    async fn ingest_rows(
        &self,
        request: Request<Streaming<pb::IngestRowsRequest>>,
    ) -> Result<Response<pb::IngestRowsResponse>, Status> {
        let who = peer(&request);
        let caller = caller_of(&request)?;
        crate::ingest_rows::ingest_rows(&self.shared, who, &caller, request.into_inner()).await
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
        // Only queries can be explained (the engine refuses anything else).
        allowed(&request, Operation::Statement(StatementKind::Explain), None)?;
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
            max_memory_bytes: None,
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
        let array = Some(request.get_ref().array.as_str()).filter(|a| !a.is_empty());
        allowed(&request, Operation::Subscribe, array)?;
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
        // A position vacuum trimmed fails the call itself (the feed checks again
        // as it reads, for a vacuum that comes later).
        let filter = (!r.array.is_empty()).then_some(r.array.as_str());
        self.shared
            .store
            .check_log_position(filter, next)
            .map_err(storage_status)?;
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

    async fn vacuum(
        &self,
        request: Request<pb::VacuumRequest>,
    ) -> Result<Response<pb::VacuumResponse>, Status> {
        allowed(
            &request,
            Operation::Statement(StatementKind::Vacuum),
            Some(&request.get_ref().array),
        )?;
        let r = request.into_inner();
        let keep = crate::vacuum::retention_of(&r)?;
        let store = self.shared.store.clone();
        let array = r.array.clone();
        let stats = self
            .blocking(move || {
                store
                    .vacuum_retaining(&array, &keep)
                    .map_err(storage_status)
            })
            .await?;
        info!(array = %r.array, oldest_version = stats.oldest_kept, versions_removed = stats.versions_removed, "vacuumed");
        Ok(Response::new(crate::vacuum::response(r.array, &stats)))
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
        if request.extensions().get::<Caller>().is_some() {
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
