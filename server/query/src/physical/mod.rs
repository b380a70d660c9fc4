//! Physical operators: each one executes into a stream of result blocks, describes
//! itself for EXPLAIN and records its own metrics for EXPLAIN ANALYZE.
//!
//! ```text
//! Sort (optional)            ORDER BY / LIMIT: the grid as a table of rows
//! StoredChunks (optional)    whole stored chunks of a plain projection
//!   Projection               element-wise, slab by slab      | Aggregate (HAVING)
//!     Mask (optional)        WHERE on values: cells to NaN   |   Mask (optional)
//!       Scan                 pieces of chunks, decoded once  |     Scan
//! ```
//!
//! The scan is driven by its parent's rayon workers (each reads its own pieces into
//! buffers it reuses, see `scan::Reader`): the chunks decode straight into the
//! memory the kernels read, with no queue between the operators. Executed on its
//! own, a scan streams its pieces.
//!
//! A regridded read (`FROM reproject(...)`, `regrid.rs`) sits where a scan does:
//!
//! ```text
//! Projection | Aggregate
//!   Regrid                   target maps interpolated from the source box
//!     Scan                   the source array over that box
//! ```
//!
//! A join of two arrays (`FROM a JOIN b ON ...`) is part of the left scan: its
//! reader fills the slots of the right's attributes after reading each piece,
//! from the right cells the left's selection meets, held in memory (see
//! `crate::planner::JoinSpec`); the operators above see one array.
//!
//! Adding an operator is one file here plus one planner or optimizer rule:
//! - a **window** (`window.rs`): above `Scan`, reading each piece with a halo
//!   along the window's dimension (the scan's region widened by a rule) and
//!   emitting blocks like `Projection`.

mod aggregate;
mod cells;
mod emit;
mod explain;
mod mask;
mod planner;
mod projection;
mod regrid;
mod scan;
mod sort;
mod stored_chunks;
mod window;

pub use explain::{explain, fmt_bytes};

/// A left cell with no matching right cell (joins).
pub const NO_MATCH: usize = usize::MAX;
pub use planner::create_physical_plan;

use crate::error::QueryError;
use crate::eval::Col;
use crate::StoredBlock;
use arrayq_storage::{ReadStats, Region};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A piece of an operator's output.
pub enum Block {
    /// `len` elements of result column `column` from element `offset` on.
    Values {
        column: usize,
        offset: usize,
        data: Col,
        len: usize,
    },
    /// Whole stored chunks of a column (see [`StoredBlock`]).
    Stored(StoredBlock),
    /// A scan's piece: the values of every scanned attribute over `region`
    /// (row-major), for operators that consume a scan as a stream.
    Piece { region: Region, columns: Vec<Col> },
}

/// What an operator's execution yields, pulled block by block.
pub type BlockStream = Box<dyn Iterator<Item = Result<Block, QueryError>> + Send>;

/// Limits of the stored chunks a consumer takes (see `stored_chunks`).
#[derive(Clone, Copy, Debug)]
pub struct StoredLimits {
    /// Stored bytes plus description per block (a chunk larger than this is
    /// decoded instead), so the whole message stays within the transport's bound.
    pub max_bytes: usize,
    /// Decoded bytes per block; a single chunk may exceed it.
    pub decoded_bytes: usize,
}

/// What one execution of a plan runs under: cancellation, deadline, block size, and
/// whether stored chunks may leave as they are.
#[derive(Clone)]
pub struct TaskContext {
    pub cancel: Arc<AtomicBool>,
    pub deadline: Option<Instant>,
    /// Upper bound of a block's data (at least 64 bytes).
    pub block_bytes: usize,
    pub stored_chunks: Option<StoredLimits>,
    /// The statement's memory bound, which operators holding data charge.
    pub memory: Arc<crate::memory::MemoryPool>,
}

impl TaskContext {
    /// Fails once the query is cancelled or past its deadline.
    pub fn check(&self) -> Result<(), QueryError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(QueryError::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(QueryError::Timeout);
        }
        Ok(())
    }
}

/// An operator's counters, added to by all its workers.
#[derive(Default)]
pub struct OperatorMetrics {
    /// Chunks and bytes this operator read from storage.
    pub read: ReadStats,
    /// Reading and decoding (cpu time, all workers).
    pub read_ns: AtomicU64,
    /// Computing (cpu time, all workers).
    pub compute_ns: AtomicU64,
    /// Merging partial aggregates.
    pub merge_ns: AtomicU64,
    /// Cells (or rows) an operator that drops or masks some looked at, and kept.
    pub cells_in: AtomicU64,
    pub cells_out: AtomicU64,
}

impl OperatorMetrics {
    /// Adds the time since `since` to `counter`.
    pub fn add(counter: &AtomicU64, since: Instant) {
        counter.fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn duration(counter: &AtomicU64) -> Duration {
        Duration::from_nanos(counter.load(Ordering::Relaxed))
    }
}

/// A physical operator, modelled on DataFusion's `ExecutionPlan`.
pub trait ExecutionPlan: Send + Sync {
    /// The operator's name, as EXPLAIN shows it.
    fn name(&self) -> &'static str;

    fn children(&self) -> Vec<&dyn ExecutionPlan>;

    /// The operator for EXPLAIN: its first line (`Name: arguments`), then any
    /// detail lines; the caller indents them under their parent.
    fn fmt_explain(&self) -> Vec<String>;

    /// Starts executing: blocks are computed as the stream is pulled.
    fn execute(self: Arc<Self>, ctx: Arc<TaskContext>) -> Result<BlockStream, QueryError>;

    fn metrics(&self) -> &OperatorMetrics;

    /// Whether the operator can send whole stored chunks (`TaskContext::stored_chunks`).
    fn sends_stored_chunks(&self) -> bool {
        false
    }
}

/// A physical plan ready to run: the operator tree and the result it produces.
pub struct PhysicalQuery {
    pub root: Arc<dyn ExecutionPlan>,
    pub header: crate::ResultHeader,
    /// What every layout would have cost the scan (for EXPLAIN's callers).
    pub candidates: Vec<arrayq_storage::LayoutCost>,
}

/// Every operator of the tree, root first (breadth-first).
pub fn operators(root: &dyn ExecutionPlan) -> Vec<&dyn ExecutionPlan> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let children = out[i].children();
        out.extend(children);
        i += 1;
    }
    out
}

/// What the operators of a tree did so far, as query statistics: chunk I/O summed
/// over the operators, cpu time per stage, then `pre_stages` and the wall time
/// spent pulling (`pull`) around them.
pub fn query_stats(
    root: &dyn ExecutionPlan,
    pre_stages: &[(String, Duration)],
    pull: Duration,
    started: Instant,
    layout: &str,
) -> crate::QueryStats {
    let ops = operators(root);
    let (mut chunks_read, mut chunks_fill, mut bytes_read, mut bytes_decoded) = (0, 0, 0, 0);
    let (mut read, mut compute, mut merge) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for op in &ops {
        let m = op.metrics();
        let (c, f, b, d) = m.read.get();
        (chunks_read, chunks_fill) = (chunks_read + c, chunks_fill + f);
        (bytes_read, bytes_decoded) = (bytes_read + b, bytes_decoded + d);
        read += OperatorMetrics::duration(&m.read_ns);
        compute += OperatorMetrics::duration(&m.compute_ns);
        merge += OperatorMetrics::duration(&m.merge_ns);
    }
    let mut stages = pre_stages.to_vec();
    stages.push(("read+decode (cpu, all workers)".into(), read));
    stages.push(("compute (cpu, all workers)".into(), compute));
    if ops.iter().any(|op| op.name() == "Aggregate") {
        stages.push(("merge partials".into(), merge));
    }
    stages.push(("execute (wall)".into(), pull));
    crate::QueryStats {
        chunks_read,
        chunks_fill,
        bytes_read,
        bytes_decoded,
        elapsed: started.elapsed(),
        stages,
        layout: layout.to_string(),
    }
}
