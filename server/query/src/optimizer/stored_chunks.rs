//! Marks projections whose chunks can leave as they are stored.
//!
//! A consumer that decodes chunks itself (a client at the other end of a network)
//! spares the server the decoding and gets about half the bytes. That works where a
//! chunk is one contiguous run of a result column: a projection of bare attributes
//! (no expression, no label picks) whose region is exactly one chunk in every
//! dimension but the first one that is longer than one cell.

use super::OptimizerRule;
use crate::error::QueryError;
use crate::eval::PExpr;
use crate::logical::chunk_pieces;
use crate::logical::{LogicalPlan, ProjectionNode, StoredChunksNode};
use arrayq_storage::{DType, Region};

/// Wraps eligible projections in a `StoredChunks` node.
pub struct StoredChunkPassThrough;

impl OptimizerRule for StoredChunkPassThrough {
    fn name(&self) -> &'static str {
        "stored-chunk pass-through"
    }

    fn rewrite(&self, plan: LogicalPlan) -> Result<LogicalPlan, QueryError> {
        plan.transform_up(&|node| {
            Ok(match node {
                LogicalPlan::Projection(p) => match stored_pieces(&p) {
                    Some(pieces) => LogicalPlan::StoredChunks(StoredChunksNode {
                        input: Box::new(LogicalPlan::Projection(p)),
                        pieces,
                    }),
                    None => LogicalPlan::Projection(p),
                },
                other => other,
            })
        })
    }
}

/// The pieces of the projection's region, in output order and each a contiguous run
/// of the output, when its columns can be sent as stored chunks.
fn stored_pieces(p: &ProjectionNode) -> Option<Vec<Region>> {
    let LogicalPlan::Scan(scan) = p.input.as_ref() else {
        return None;
    };
    let layout = scan.layout.as_ref()?.layout;
    // A regridded scan has no stored chunks.
    if scan.regrid.is_some()
        || scan.join.is_some()
        || scan.empty
        || p.exprs.is_empty()
        || scan.dims.iter().any(|d| d.picks.is_some())
    {
        return None;
    }
    let schema = scan.schema();
    for (e, c) in p.exprs.iter().zip(&p.columns) {
        let PExpr::Slot { k, .. } = e else {
            return None;
        };
        let dt = schema.attrs[scan.attrs[*k]].dtype;
        if dt == DType::Bool || c.dtype != dt {
            return None;
        }
    }
    let cs = &schema.layouts[layout].chunk_shape;
    let rank = scan.region.rank();
    let sd = (0..rank).find(|&d| scan.dims[d].count() > 1).unwrap_or(0);
    let one_chunk = |d: usize| {
        let r = &scan.region.0[d];
        r.start.is_multiple_of(cs[d]) && r.end - r.start == cs[d]
    };
    if !(0..rank).filter(|&d| d != sd).all(one_chunk) {
        return None;
    }
    Some(chunk_pieces(&scan.region, cs))
}
