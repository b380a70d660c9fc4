//! Whole chunks sent as they are stored.
//!
//! A consumer that decodes chunks itself (a client at the other end of a network)
//! spares the server the decoding and gets about half the bytes. Above a projection
//! the `stored_chunks` rule found eligible, this operator sends every piece that is
//! a whole written chunk as its stored bytes when the execution asks for it
//! (`TaskContext::stored_chunks`); chunks cut by the region, never written (fill) or
//! too large for a block are decoded by the projection as usual. Without that
//! request it is the projection.

use super::projection::{project_slab, ProjectionExec, Slab};
use super::{Block, BlockStream, ExecutionPlan, OperatorMetrics, StoredLimits, TaskContext};
use crate::error::QueryError;
use crate::eval::PExpr;
use crate::StoredBlock;
use arrayq_storage::{Bytes, Region};
use std::sync::Arc;

/// Sends a projection's whole chunks as stored when asked to, else is the projection.
pub struct StoredChunkExec {
    pub input: Arc<ProjectionExec>,
    /// The pieces of the region (one chunk each), in output order.
    pub pieces: Vec<Region>,
    pub metrics: OperatorMetrics,
}

impl ExecutionPlan for StoredChunkExec {
    fn name(&self) -> &'static str {
        "StoredChunks"
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![self.input.as_ref()]
    }

    fn fmt_explain(&self) -> Vec<String> {
        vec![format!(
            "StoredChunks: {} chunk(s) per column may be sent as stored, to consumers that decode them",
            self.pieces.len()
        )]
    }

    fn execute(self: Arc<Self>, ctx: Arc<TaskContext>) -> Result<BlockStream, QueryError> {
        let Some(limits) = ctx.stored_chunks else {
            return self.input.clone().execute(ctx);
        };
        self.input.scan.prefetch(&self.pieces, None);
        Ok(Box::new(StoredStream {
            cursor: StoredCursor::new(self.pieces.clone(), limits),
            op: self,
            ctx,
            done: false,
        }))
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }

    fn sends_stored_chunks(&self) -> bool {
        true
    }
}

/// Stored chunks of one column after another; pieces that cannot go stored are
/// decoded in between.
struct StoredStream {
    op: Arc<StoredChunkExec>,
    ctx: Arc<TaskContext>,
    cursor: StoredCursor,
    done: bool,
}

impl StoredStream {
    fn step(&mut self) -> Result<Option<Block>, QueryError> {
        let cur = &mut self.cursor;
        if cur.next >= cur.pieces.len() {
            if cur.col + 1 < self.op.input.exprs.len() {
                cur.start_column(cur.col + 1);
            } else {
                self.done = true;
            }
            return Ok(None);
        }
        if let Some(b) = cur.next_block(&self.op)? {
            return Ok(Some(Block::Stored(b)));
        }
        // Decoded here: cut by the region, never written or too large.
        let region = cur.pieces[cur.next].clone();
        let n = region.len() as usize;
        let slab = Slab {
            region,
            out_offset: cur.offset,
            out_len: n,
        };
        let mut out = project_slab(&self.op.input, &self.ctx, &slab, Some(cur.col))?;
        let block = Block::Values {
            column: cur.col,
            offset: cur.offset,
            data: out.pop().expect("one column"),
            len: n,
        };
        cur.skip(n);
        Ok(Some(block))
    }
}

impl Iterator for StoredStream {
    type Item = Result<Block, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.step() {
                Ok(Some(b)) => return Some(Ok(b)),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

/// What a chunk adds to a block's message besides its bytes, at most: its element
/// and byte counts (two varints) and a share of the codec description.
const DESCRIPTION_BYTES_PER_CHUNK: usize = 24;

/// Where a projection sent as stored chunks stands: column `col` from piece `next`
/// on, which starts at element `offset` of the column.
struct StoredCursor {
    pub pieces: Vec<Region>,
    pub next: usize,
    pub col: usize,
    pub offset: usize,
    /// A chunk read for the previous block that did not fit it.
    carry: Option<(Bytes, usize)>,
    limits: StoredLimits,
}

impl StoredCursor {
    fn new(pieces: Vec<Region>, limits: StoredLimits) -> StoredCursor {
        StoredCursor {
            pieces,
            next: 0,
            col: 0,
            offset: 0,
            carry: None,
            limits,
        }
    }

    /// Moves to the start of column `col`.
    fn start_column(&mut self, col: usize) {
        (self.next, self.col, self.offset, self.carry) = (0, col, 0, None);
    }

    /// Gathers the stored chunks from the current piece on into one block and moves
    /// past them; a chunk read but over the block's limits waits for the next block.
    /// `None` when the current piece itself cannot go stored (cut by the region,
    /// never written, too large): the caller decodes it and calls [`Self::skip`].
    fn next_block(&mut self, op: &StoredChunkExec) -> Result<Option<StoredBlock>, QueryError> {
        let scan = &op.input.scan;
        let PExpr::Slot { k, .. } = &op.input.exprs[self.col] else {
            return Err(QueryError::Internal(
                "stored chunks of an expression".into(),
            ));
        };
        let schema = scan.schema();
        let attr = scan.attrs[*k];
        let dtype = schema.attrs[attr].dtype;
        let layout = &schema.layouts[scan.layout];
        let cs = &layout.chunk_shape;
        let limits = self.limits;
        let mut chunks: Vec<(Bytes, usize)> = Vec::new();
        let (mut elements, mut bytes) = (0usize, 0usize);
        while let Some(piece) = self.pieces.get(self.next) {
            let n = piece.len() as usize;
            let stored = match self.carry.take() {
                Some((b, _)) => b,
                None => {
                    let chunk: Vec<u64> =
                        piece.0.iter().zip(cs).map(|(r, c)| r.start / c).collect();
                    if Region::of_chunk(&chunk, cs) != *piece {
                        break;
                    }
                    let read = scan.snap.stored_chunk(
                        scan.layout,
                        attr,
                        &chunk,
                        Some(&op.metrics.read),
                    )?;
                    match read {
                        Some(b) => b,
                        None => break,
                    }
                }
            };
            // A chunk costs its bytes and its entries in the block's description.
            let cost = stored.len() + DESCRIPTION_BYTES_PER_CHUNK;
            if cost > limits.max_bytes && chunks.is_empty() {
                // Too large for any block: decoded by the caller.
                break;
            }
            let over = bytes + cost > limits.max_bytes
                || (elements + n) * dtype.size() > limits.decoded_bytes;
            if over && !chunks.is_empty() {
                self.carry = Some((stored, n));
                break;
            }
            bytes += cost;
            elements += n;
            chunks.push((stored, n));
            self.next += 1;
        }
        let block = (!chunks.is_empty()).then(|| StoredBlock {
            column: self.col,
            offset: self.offset,
            codec: layout.codec.clone(),
            dtype,
            chunks,
        });
        self.offset += elements;
        Ok(block)
    }

    /// Moves past the current piece, decoded by the caller (`n` elements).
    fn skip(&mut self, n: usize) {
        self.next += 1;
        self.offset += n;
    }
}
