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
use arrayq_storage::{DType, Region, StoredFetch};

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

/// Limits of one stored block.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StoredLimits {
    /// Stored bytes per block (a chunk larger than this is decoded instead).
    pub max_bytes: usize,
    /// Decoded bytes per block; a single chunk may exceed it.
    pub decoded_bytes: usize,
}

/// Gathers the stored chunks of column `col` from `pieces[*next..]` into one block,
/// advancing `*next` past them. `None` when `pieces[*next]` itself cannot go stored
/// (cut by the region, never written, too large): the caller decodes it.
pub(crate) fn next_stored_block(
    plan: &Plan,
    ex: &Exec,
    pieces: &[Region],
    next: &mut usize,
    col: usize,
    offset: usize,
    limits: StoredLimits,
) -> Result<Option<StoredBlock>, QueryError> {
    let Kind::Project { cols } = &plan.kind else {
        return Err(QueryError::Internal("stored chunks of an aggregate".into()));
    };
    let PExpr::Slot { k, .. } = &cols[col] else {
        return Err(QueryError::Internal(
            "stored chunks of an expression".into(),
        ));
    };
    let schema = plan.snap.schema();
    let attr = plan.attrs[*k];
    let dtype = schema.attrs[attr].dtype;
    let layout = &schema.layouts[plan.layout];
    let cs = &layout.chunk_shape;
    let mut data = Vec::new();
    let mut parts: Vec<(usize, usize)> = Vec::new();
    let mut elements = 0usize;
    while let Some(piece) = pieces.get(*next) {
        let chunk: Vec<u64> = piece.0.iter().zip(cs).map(|(r, c)| r.start / c).collect();
        if Region::of_chunk(&chunk, cs) != *piece {
            break;
        }
        let n = piece.len() as usize;
        if !parts.is_empty() && (elements + n) * dtype.size() > limits.decoded_bytes {
            break;
        }
        if data.capacity() == 0 {
            data.reserve(limits.max_bytes.min(limits.decoded_bytes));
        }
        let fetched = plan.snap.stored_chunk_into(
            plan.layout,
            attr,
            &chunk,
            &mut data,
            limits.max_bytes,
            Some(&ex.read),
        )?;
        let StoredFetch::Appended(len) = fetched else {
            break;
        };
        parts.push((n, len));
        elements += n;
        *next += 1;
    }
    Ok((!parts.is_empty()).then(|| StoredBlock {
        column: col,
        offset,
        codec: layout.codec.clone(),
        dtype,
        data,
        parts,
    }))
}
