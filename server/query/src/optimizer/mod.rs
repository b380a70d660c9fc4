//! Optimizer rules over the logical plan, one per file, applied in order:
//!
//! 1. `region_pushdown`: the filter's hyperslab becomes the scan's region (storage
//!    reads only the chunks it touches);
//! 2. `regrid_source`: a regridded scan's selected target cells become the box of
//!    source cells its scan reads;
//! 3. `layout_choice`: the scan reads the layout with the fewest estimated bytes
//!    (or the one the query forces);
//! 4. `chunk_statistics`: a scalar count/sum/avg/min/max sums the chunks the region
//!    holds whole from their statistics and reads only the cut ones (choosing the
//!    layout that leaves the fewest bytes to decode);
//! 5. `rollup_source`: an aggregate whose groups are unions of whole UTC days reads
//!    those days from a rollup and only the hours of cut days at the region's edges
//!    (unless chunk statistics answer it without decoding);
//! 6. `stored_chunks`: a projection of bare attributes whose chunks are contiguous
//!    runs of its output may send them as stored.
//!
//! A new rule is one file with a type implementing [`OptimizerRule`], listed in
//! [`rules`] where it must run.

mod chunk_statistics;
mod layout_choice;
mod region_pushdown;
mod regrid_source;
mod rollup_source;
mod stored_chunks;

pub use layout_choice::NEAR_BYTES;

use crate::error::QueryError;
use crate::logical::LogicalPlan;

/// A rewrite of the logical plan.
pub trait OptimizerRule {
    fn name(&self) -> &'static str;
    fn rewrite(&self, plan: LogicalPlan) -> Result<LogicalPlan, QueryError>;
}

/// The rules, in the order they run (later ones rely on earlier ones).
fn rules() -> Vec<Box<dyn OptimizerRule>> {
    vec![
        Box::new(region_pushdown::RegionPushdown),
        Box::new(regrid_source::RegridSourceBox),
        Box::new(layout_choice::LayoutChoiceRule),
        Box::new(chunk_statistics::ChunkStatisticsRule),
        Box::new(rollup_source::RollupSourceRule),
        Box::new(stored_chunks::StoredChunkPassThrough),
    ]
}

/// Applies every rule in order.
pub fn optimize(plan: LogicalPlan) -> Result<LogicalPlan, QueryError> {
    rules().iter().try_fold(plan, |plan, rule| {
        rule.rewrite(plan).map_err(|e| match e {
            QueryError::Internal(m) => QueryError::Internal(format!("{}: {m}", rule.name())),
            other => other,
        })
    })
}
