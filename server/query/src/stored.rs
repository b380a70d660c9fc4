//! Whole chunks sent as they are stored.
//!
//! A consumer that decodes chunks itself (a client at the other end of a network)
//! spares the server the decoding and gets about half the bytes. That works where a
//! chunk is one contiguous run of a result column: a projection of bare attributes
//! (no expression, no label picks) whose region is exactly one chunk in every
//! dimension but the first one that is longer than one cell. Chunks cut by the
//! region, never written (fill) or too large for a block are decoded as usual.

use crate::error::QueryError;
use crate::eval::PExpr;
use crate::exec::{chunk_pieces, Exec};
use crate::logical::{Kind, Plan};
use crate::StoredBlock;
use arrayq_storage::{Bytes, DType, Region};

/// The pieces of the plan's region, in output order and each a contiguous run of
/// the output, when the plan's columns can be sent as stored chunks.
pub(crate) fn stored_pieces(plan: &Plan) -> Option<Vec<Region>> {
    let Kind::Project { cols } = &plan.kind else {
        return None;
    };
    if plan.empty || cols.is_empty() || plan.dims.iter().any(|d| d.picks.is_some()) {
        return None;
    }
    let schema = plan.snap.schema();
    for (c, e) in cols.iter().enumerate() {
        let PExpr::Slot { k, .. } = e else {
            return None;
        };
        let dt = schema.attrs[plan.attrs[*k]].dtype;
        if dt == DType::Bool || plan.col_dtypes[c] != dt {
            return None;
        }
    }
    let cs = &schema.layouts[plan.layout].chunk_shape;
    let rank = plan.region.rank();
    let sd = (0..rank).find(|&d| plan.dims[d].count() > 1).unwrap_or(0);
    let one_chunk = |d: usize| {
        let r = &plan.region.0[d];
        r.start.is_multiple_of(cs[d]) && r.end - r.start == cs[d]
    };
    if !(0..rank).filter(|&d| d != sd).all(one_chunk) {
        return None;
    }
    Some(chunk_pieces(&plan.region, cs))
}

/// What a chunk adds to a block's message besides its bytes, at most: its element
/// and byte counts (two varints) and a share of the codec description.
const DESCRIPTION_BYTES_PER_CHUNK: usize = 24;

/// Limits of one stored block.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StoredLimits {
    /// Stored bytes plus description per block (a chunk larger than this is
    /// decoded instead), so the whole message stays within the transport's bound.
    pub max_bytes: usize,
    /// Decoded bytes per block; a single chunk may exceed it.
    pub decoded_bytes: usize,
}

/// Where a projection sent as stored chunks stands: column `col` from piece `next`
/// on, which starts at element `offset` of the column.
pub(crate) struct StoredCursor {
    pub pieces: Vec<Region>,
    pub next: usize,
    pub col: usize,
    pub offset: usize,
    /// A chunk read for the previous block that did not fit it.
    carry: Option<(Bytes, usize)>,
    limits: StoredLimits,
}

impl StoredCursor {
    pub(crate) fn new(pieces: Vec<Region>, limits: StoredLimits) -> StoredCursor {
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
    pub(crate) fn start_column(&mut self, col: usize) {
        (self.next, self.col, self.offset, self.carry) = (0, col, 0, None);
    }

    /// Gathers the stored chunks from the current piece on into one block and moves
    /// past them; a chunk read but over the block's limits waits for the next block.
    /// `None` when the current piece itself cannot go stored (cut by the region,
    /// never written, too large): the caller decodes it and calls [`Self::skip`].
    pub(crate) fn next_block(
        &mut self,
        plan: &Plan,
        ex: &Exec,
    ) -> Result<Option<StoredBlock>, QueryError> {
        let Kind::Project { cols } = &plan.kind else {
            return Err(QueryError::Internal("stored chunks of an aggregate".into()));
        };
        let PExpr::Slot { k, .. } = &cols[self.col] else {
            return Err(QueryError::Internal(
                "stored chunks of an expression".into(),
            ));
        };
        let schema = plan.snap.schema();
        let attr = plan.attrs[*k];
        let dtype = schema.attrs[attr].dtype;
        let layout = &schema.layouts[plan.layout];
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
                    let read = plan
                        .snap
                        .stored_chunk(plan.layout, attr, &chunk, Some(&ex.read))?;
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
    pub(crate) fn skip(&mut self, n: usize) {
        self.next += 1;
        self.offset += n;
    }
}
