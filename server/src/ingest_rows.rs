//! The IngestRows RPC: one header, then row batches, fed into the series ingest
//! (`arrayq_storage::series`) by one worker on the blocking pool, through a small
//! bounded channel so a fast client waits for the ingest instead of filling memory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arrayq_proto::v1 as pb;
use arrayq_proto::v1::ingest_rows_request::Msg;
use arrayq_storage::series::{
    CommitPolicy, Label, SeriesCommit, SeriesError, SeriesIngest, SeriesOptions, SeriesRow,
    SeriesSpec,
};
use arrayq_storage::IngestOptions;
use tokio::sync::mpsc;
use tonic::{Response, Status, Streaming};
use tracing::info;

use crate::errors::remap_transport;
use crate::roles::{authorize, Access, Caller, Operation};
use crate::state::Shared;
use crate::write::ingest_status;

/// Receives one IngestRows stream. A stream that fails or is cancelled commits
/// nothing beyond the rounds it already committed.
pub(crate) async fn ingest_rows(
    shared: &Arc<Shared>,
    who: String,
    caller: &Caller,
    mut stream: Streaming<pb::IngestRowsRequest>,
) -> Result<Response<pb::IngestRowsResponse>, Status> {
    let started = Instant::now();
    let header = match stream.message().await.map_err(remap_transport)? {
        Some(pb::IngestRowsRequest {
            msg: Some(Msg::Header(h)),
        }) => h,
        _ => {
            return Err(Status::invalid_argument(
                "IngestRows must begin with an IngestRowsHeader",
            ))
        }
    };
    authorize(
        caller,
        &Access::new(Operation::IngestRows, Some(&header.array)),
    )?;
    let (spec, opts) = spec_of(shared, &header)?;
    let array = spec.array.clone();
    let worker = SeriesWorker::start(shared, spec, opts);
    let mut failed = None;
    loop {
        match stream.message().await {
            Ok(Some(pb::IngestRowsRequest {
                msg: Some(Msg::Rows(b)),
            })) => {
                if !worker.send(b).await {
                    break; // the worker stopped: its error is the answer
                }
            }
            Ok(Some(_)) => {
                failed = Some(Status::invalid_argument(
                    "only RowBatches may follow the IngestRowsHeader",
                ));
                break;
            }
            Ok(None) => break,
            Err(e) => {
                failed = Some(remap_transport(e));
                break;
            }
        }
    }
    if let Some(e) = failed {
        worker.abandon().await;
        return Err(e);
    }
    let (rows, commits) = worker.finish().await?;
    shared
        .counters
        .writes_total
        .fetch_add(commits.len() as u64, Ordering::Relaxed);
    info!(
        target: "arrayq::write",
        peer = %who,
        array = %array,
        rows,
        commits = commits.len(),
        ms = format_args!("{:.3}", started.elapsed().as_secs_f64() * 1e3),
        "rows ingested"
    );
    Ok(Response::new(pb::IngestRowsResponse {
        rows,
        commits: commits
            .iter()
            .map(|c| pb::RowCommit {
                version: c.info.version,
                timestamp_ns: c.info.timestamp_ns,
                rows: c.rows,
                source_version: c.version.unwrap_or(0),
            })
            .collect(),
    }))
}

/// A series ingest running on the blocking pool, fed row batches through a small
/// bounded channel: the one consumer of rows for IngestRows and the server's
/// ingest jobs.
pub(crate) struct SeriesWorker {
    tx: mpsc::Sender<pb::RowBatch>,
    abandoned: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<Result<(u64, Vec<SeriesCommit>), Status>>,
}

impl SeriesWorker {
    pub(crate) fn start(
        shared: &Arc<Shared>,
        spec: SeriesSpec,
        opts: SeriesOptions,
    ) -> SeriesWorker {
        let (tx, mut rx) = mpsc::channel::<pb::RowBatch>(4);
        let store = shared.store.clone();
        let abandoned = Arc::new(AtomicBool::new(false));
        let stop = abandoned.clone();
        let handle = shared.spawn_blocking(move || -> Result<(u64, Vec<SeriesCommit>), Status> {
            let mut ingest = SeriesIngest::start(&store, spec, opts).map_err(series_status)?;
            while let Some(mut batch) = rx.blocking_recv() {
                for (k, v) in std::mem::take(&mut batch.marks) {
                    ingest.set_mark(&k, &v);
                }
                for row in rows_of(batch)? {
                    ingest.push(row).map_err(series_status)?;
                }
            }
            if stop.load(Ordering::SeqCst) {
                // The feed failed: what is staged is dropped, not committed.
                return Err(Status::cancelled("the row feed was abandoned"));
            }
            let rows = ingest.rows();
            Ok((rows, ingest.finish().map_err(series_status)?))
        });
        SeriesWorker {
            tx,
            abandoned,
            handle,
        }
    }

    /// The sender, for feeds that take one (a send fails once the worker stopped).
    pub(crate) fn sender(&self) -> &mpsc::Sender<pb::RowBatch> {
        &self.tx
    }

    /// Hands on a batch; false once the worker stopped (its result says why).
    pub(crate) async fn send(&self, batch: pb::RowBatch) -> bool {
        self.tx.send(batch).await.is_ok()
    }

    /// Commits what is staged; the rows taken and the commits made.
    pub(crate) async fn finish(self) -> Result<(u64, Vec<SeriesCommit>), Status> {
        drop(self.tx);
        self.handle
            .await
            .map_err(|e| Status::internal(format!("ingest worker failed: {e}")))?
    }

    /// Drops what is staged without waiting (for a feed dropped midway).
    pub(crate) fn abandon_now(self) {
        self.abandoned.store(true, Ordering::SeqCst);
    }

    /// Drops what is staged (rounds already committed stay) and waits for the worker.
    pub(crate) async fn abandon(self) {
        self.abandoned.store(true, Ordering::SeqCst);
        drop(self.tx);
        let _ = self.handle.await;
    }
}

pub(crate) fn spec_of(
    shared: &Arc<Shared>,
    h: &pb::IngestRowsHeader,
) -> Result<(SeriesSpec, SeriesOptions), Status> {
    if h.array.is_empty() {
        return Err(Status::invalid_argument("IngestRowsHeader names no array"));
    }
    let mut spec = SeriesSpec::new(&h.array);
    let or = |v: &str, d: &mut String| {
        if !v.is_empty() {
            *d = v.to_string();
        }
    };
    or(&h.label_dim, &mut spec.label_dim);
    or(&h.time_dim, &mut spec.time_dim);
    or(&h.attribute, &mut spec.attribute);
    if h.step_ns < 0 {
        return Err(Status::invalid_argument("step_ns must be positive"));
    }
    if h.step_ns > 0 {
        spec.step_ns = h.step_ns;
    }
    let opts = SeriesOptions {
        policy: if h.commit_per_version {
            CommitPolicy::PerVersion
        } else {
            CommitPolicy::Once
        },
        sink: IngestOptions {
            memory_bytes: shared.limits.staging_memory_bytes,
            max_bytes: Some(shared.limits.max_write_bytes),
        },
    };
    Ok((spec, opts))
}

/// The rows of a batch, after checking its columns agree.
fn rows_of(b: pb::RowBatch) -> Result<Vec<SeriesRow>, Status> {
    let n = b.times_unix_ns.len();
    let bad = |what: &str, len: usize| {
        Status::invalid_argument(format!(
            "RowBatch has {n} times but {len} {what} (every column needs one entry per row)"
        ))
    };
    let labels: Vec<Label> = match (b.int_labels.is_empty(), b.text_labels.is_empty()) {
        (false, true) => b.int_labels.into_iter().map(Label::Int).collect(),
        (true, false) => b.text_labels.into_iter().map(Label::Text).collect(),
        (true, true) if n == 0 => Vec::new(),
        (true, true) => return Err(bad("labels", 0)),
        (false, false) => {
            return Err(Status::invalid_argument(
                "RowBatch has both integer and text labels",
            ))
        }
    };
    if labels.len() != n {
        return Err(bad("labels", labels.len()));
    }
    if b.values.len() != n {
        return Err(bad("values", b.values.len()));
    }
    if !b.versions.is_empty() && b.versions.len() != n {
        return Err(bad("versions", b.versions.len()));
    }
    if !b.nulls.is_empty() && b.nulls.len() != n {
        return Err(bad("null flags", b.nulls.len()));
    }
    Ok(labels
        .into_iter()
        .enumerate()
        .map(|(i, label)| SeriesRow {
            label,
            time_ns: b.times_unix_ns[i],
            version: b.versions.get(i).copied(),
            value: (!b.nulls.get(i).copied().unwrap_or(false)).then(|| b.values[i]),
        })
        .collect())
}

/// The gRPC status of a series ingest error: bad rows are the client's, the rest
/// as the sink's errors.
pub(crate) fn series_status(e: SeriesError) -> Status {
    match e {
        SeriesError::Ingest(e) => ingest_status(e),
        SeriesError::Shape { .. } => Status::failed_precondition(e.to_string()),
        e => Status::invalid_argument(e.to_string()),
    }
}
