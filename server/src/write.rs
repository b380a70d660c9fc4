//! The Write RPC: one header, then data blocks, fed into the store's ingest sink as
//! they arrive. The sink holds at most `staging_memory_bytes` in memory and spills
//! the rest to the store's staging directory, so a write's size bounds the disk it
//! takes, not the server's memory; the commit reads it back chunk by chunk.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use arrayq_proto::v1 as pb;
use arrayq_proto::v1::write_request::Msg;
use arrayq_storage::{BlockId, CommitInfo, IngestError, IngestOptions, IngestSink, Store};
use tonic::{Response, Status, Streaming};
use tracing::info;

use crate::config::Limits;
use crate::errors::{remap_transport, storage_status};
use crate::roles::{authorize, Access, Caller, Operation};
use crate::state::Shared;

/// Receives one Write stream and commits it as one version. A stream that fails
/// or is cancelled commits nothing and leaves no staged data behind.
pub(crate) async fn write(
    shared: &Arc<Shared>,
    who: String,
    caller: &Caller,
    mut stream: Streaming<pb::WriteRequest>,
) -> Result<Response<pb::WriteResponse>, Status> {
    let started = Instant::now();
    // Each write may hold up to the staging bound in memory: bounding how many run
    // bounds what writes hold together.
    let _slot = write_slot(shared).await?;
    let first = stream
        .message()
        .await
        .map_err(remap_transport)?
        .ok_or_else(|| Status::invalid_argument("empty Write stream: no WriteHeader"))?;
    let header = first.into_header()?;
    authorize(caller, &Access::new(Operation::Write, Some(&header.array)))?;
    let limits = WriteLimits::of(&shared.limits);
    let mut open = open_write(&shared.store, &header, limits)?;
    let cells = open.cells;
    while let Some(m) = stream.message().await.map_err(remap_transport)? {
        let b = data_block(m)?;
        // Staging may write to the spill file: off the I/O threads. On error the
        // write is dropped there, which removes what it staged.
        open = blocking(shared, move || open.push(&b).map(|()| open)).await?;
    }
    let info = blocking(shared, move || open.commit()).await?;
    shared.counters.writes_total.fetch_add(1, Ordering::Relaxed);
    info!(
        target: "arrayq::write",
        peer = %who,
        array = %header.array,
        version = info.version,
        cells,
        ms = format_args!("{:.3}", started.elapsed().as_secs_f64() * 1e3),
        "write committed"
    );
    Ok(Response::new(pb::WriteResponse {
        version: info.version,
        timestamp_ns: info.timestamp_ns,
        cells_written: info.cells_written,
    }))
}

/// Takes a write slot, waiting at most the queue timeout.
async fn write_slot(shared: &Arc<Shared>) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
    let wait = shared.limits.queue_timeout;
    match tokio::time::timeout(wait, shared.write_slots.clone().acquire_owned()).await {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(_)) => Err(Status::unavailable("server shutting down")),
        Err(_) => Err(Status::resource_exhausted(format!(
            "server busy: {} writes running, none finished within {} ms",
            shared.limits.max_concurrent_writes,
            wait.as_millis()
        ))),
    }
}

/// What bounds one Write (from the server's [`Limits`]).
#[derive(Clone, Copy, Debug)]
pub struct WriteLimits {
    /// Largest Write (sum of all attributes' bytes).
    pub max_write_bytes: u64,
    /// Bytes held in memory before the rest spills to the staging directory.
    pub staging_memory_bytes: usize,
}

impl WriteLimits {
    pub fn of(l: &Limits) -> WriteLimits {
        WriteLimits {
            max_write_bytes: l.max_write_bytes,
            staging_memory_bytes: l.staging_memory_bytes,
        }
    }
}

/// A Write being received: the sink its blocks go to, one block per attribute of
/// the header.
pub struct OpenWrite {
    sink: IngestSink,
    blocks: Vec<BlockId>,
    /// Cells of the header's region.
    pub cells: u64,
}

/// Checks a Write's header (its own consistency, the size limit, the array's
/// schema, the region, the label appends) and opens its sink: everything the Write
/// RPC does with a header, without the network. An error leaves the store as it was.
pub fn open_write(
    store: &Store,
    h: &pb::WriteHeader,
    limits: WriteLimits,
) -> Result<OpenWrite, Status> {
    let cells = check_header(h)?;
    let (sink, blocks) = open_sink(store, h, cells, limits)?;
    Ok(OpenWrite {
        sink,
        blocks,
        cells,
    })
}

/// A message after the header: it must hold data.
pub fn data_block(m: pb::WriteRequest) -> Result<pb::WriteBlock, Status> {
    match m.msg {
        Some(Msg::Data(b)) => Ok(b),
        Some(Msg::Header(_)) => Err(Status::invalid_argument(
            "WriteHeader after the first message",
        )),
        None => Err(Status::invalid_argument("empty WriteRequest")),
    }
}

impl OpenWrite {
    /// Stages one data block for the attribute it names (blocks of an attribute
    /// arrive in order, `byte_offset` says where each continues). On error the
    /// caller drops the write, and with it what was staged.
    pub fn push(&mut self, b: &pb::WriteBlock) -> Result<(), Status> {
        let block = *self.blocks.get(b.attribute as usize).ok_or_else(|| {
            Status::invalid_argument(format!(
                "WriteBlock for attribute index {}, header lists {}",
                b.attribute,
                self.blocks.len()
            ))
        })?;
        self.sink
            .push_block(block, b.byte_offset, &b.data)
            .map_err(ingest_status)
    }

    /// Commits the write as one version; an incomplete block (or any failure)
    /// commits nothing.
    pub fn commit(self) -> Result<CommitInfo, Status> {
        self.sink.commit().map_err(ingest_status)
    }
}

/// The header's own consistency (the schema is checked by the sink); returns the
/// number of cells of the region.
fn check_header(h: &pb::WriteHeader) -> Result<u64, Status> {
    if h.attributes.is_empty() {
        return Err(Status::invalid_argument("WriteHeader lists no attributes"));
    }
    for (i, a) in h.attributes.iter().enumerate() {
        if h.attributes[..i].contains(a) {
            return Err(Status::invalid_argument(format!(
                "attribute '{a}' listed twice"
            )));
        }
    }
    if let Some(i) = h.region.iter().position(|r| r.count == 0) {
        return Err(Status::invalid_argument(format!(
            "region count of dimension {i} is 0"
        )));
    }
    if h.region.iter().any(|r| r.end().is_none()) {
        return Err(Status::invalid_argument("region end overflows"));
    }
    arrayq_proto::region_cells(&h.region)
        .ok_or_else(|| Status::invalid_argument("region too large"))
}

/// A sink for the header's write with one block per attribute, after the size
/// limit and the labels.
fn open_sink(
    store: &Store,
    h: &pb::WriteHeader,
    cells: u64,
    limits: WriteLimits,
) -> Result<(IngestSink, Vec<BlockId>), Status> {
    let limit = limits.max_write_bytes;
    let mut sink = store
        .ingest_with(
            &h.array,
            IngestOptions {
                memory_bytes: limits.staging_memory_bytes,
                max_bytes: Some(limit),
            },
        )
        .map_err(ingest_status)?;
    let mut total = 0u64;
    for a in &h.attributes {
        let size = sink.schema().attr(a).map_err(storage_status)?.dtype.size() as u64;
        total = total.saturating_add(cells.saturating_mul(size));
    }
    if total > limit {
        return Err(Status::resource_exhausted(format!(
            "the write holds {total} bytes; the server accepts at most {limit} per Write (split it)"
        )));
    }
    let rank = sink.schema().dims.len();
    if h.region.len() != rank {
        return Err(Status::invalid_argument(format!(
            "the region has {} ranges but array '{}' has {rank} dimensions",
            h.region.len(),
            h.array
        )));
    }
    for l in &h.labels {
        if !l.labels.is_empty() && !l.text_labels.is_empty() {
            return Err(Status::invalid_argument(format!(
                "the label append to '{}' gives both integer and text labels; a dimension has one kind",
                l.dim
            )));
        }
        if l.text_labels.is_empty() {
            sink.append_labels(&l.dim, &l.labels)
        } else {
            sink.append_text_labels(&l.dim, &l.text_labels)
        }
        .map_err(ingest_status)?;
    }
    if let Some(v) = h.expect_version {
        sink.expect_version(v);
    }
    let start: Vec<u64> = h.region.iter().map(|r| r.start).collect();
    let shape: Vec<u64> = h.region.iter().map(|r| r.count).collect();
    let blocks = h
        .attributes
        .iter()
        .map(|a| sink.begin_block(a, &start, &shape))
        .collect::<Result<_, _>>()
        .map_err(ingest_status)?;
    Ok((sink, blocks))
}

/// Runs `f` on the blocking pool; a panic becomes INTERNAL.
async fn blocking<T: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    shared
        .spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("worker failed: {e}")))?
}

/// The gRPC status of an ingest error: the storage error's own code, otherwise
/// the client's data was wrong (or too large, or the staging disk failed).
pub(crate) fn ingest_status(e: IngestError) -> Status {
    match e {
        IngestError::Storage(e) => storage_status(e),
        IngestError::TooLarge { .. } => Status::resource_exhausted(e.to_string()),
        IngestError::Staging(_) => Status::unavailable(e.to_string()),
        e => Status::invalid_argument(e.to_string()),
    }
}
