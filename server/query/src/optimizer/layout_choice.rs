//! Chooses the layout a scan reads: the one forced by the query, else the least
//! estimated bytes for the scan's region, unless another is nearly as cheap with
//! smaller chunks.

use super::OptimizerRule;
use crate::error::QueryError;
use crate::logical::{LayoutChoice, LayoutWhy, LogicalPlan};
use arrayq_storage::LayoutCost;

/// Sets every scan's [`LayoutChoice`].
pub struct LayoutChoiceRule;

impl OptimizerRule for LayoutChoiceRule {
    fn name(&self) -> &'static str {
        "layout choice"
    }

    fn rewrite(&self, plan: LogicalPlan) -> Result<LogicalPlan, QueryError> {
        plan.transform_up(&|node| {
            Ok(match node {
                LogicalPlan::Scan(mut scan) => {
                    let candidates = scan.snap.layout_costs(&scan.region);
                    let (layout, why) = match scan.forced_layout {
                        Some(l) => (l, LayoutWhy::Forced),
                        None if scan.empty => (0, LayoutWhy::Empty),
                        None => choose_layout(&candidates),
                    };
                    scan.layout = Some(LayoutChoice {
                        layout,
                        why,
                        candidates,
                    });
                    LogicalPlan::Scan(scan)
                }
                other => other,
            })
        })
    }
}

/// Layouts whose estimated bytes are within this fraction of the least count as
/// equally cheap to fetch and decode; among them the planner takes the one with the
/// smallest chunks (decoded size), which decode into cache, spread more evenly over
/// the workers and stream in smaller slabs (a full scan reads as many bytes through
/// map tiles as through year-long pencils, but a pencil decodes to 2.2 MB).
pub const NEAR_BYTES: f64 = 0.1;

/// The layout to read: the least estimated bytes, unless another is within
/// [`NEAR_BYTES`] of it with smaller chunks.
fn choose_layout(candidates: &[LayoutCost]) -> (usize, LayoutWhy) {
    let Some(least) = candidates
        .iter()
        .min_by_key(|c| (c.est_bytes, c.chunks, c.layout))
    else {
        return (0, LayoutWhy::Empty);
    };
    let limit = least.est_bytes as f64 * (1.0 + NEAR_BYTES);
    let cells = |c: &LayoutCost| c.chunk_shape.iter().product::<u64>();
    let best = candidates
        .iter()
        .filter(|c| c.est_bytes as f64 <= limit)
        .min_by_key(|c| (cells(c), c.est_bytes, c.chunks, c.layout))
        .unwrap_or(least);
    if best.layout == least.layout || cells(best) == cells(least) {
        (least.layout, LayoutWhy::LeastBytes)
    } else {
        (best.layout, LayoutWhy::SmallerChunks)
    }
}
