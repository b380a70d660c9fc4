//! Pushes a filter's hyperslab into the scan below it: the scan then reads only
//! the bounding region of the selection, and label picks skip the chunks between
//! picked labels.

use super::OptimizerRule;
use crate::error::QueryError;
use crate::logical::{LogicalPlan, ScanNode};

/// Folds `Filter -> Scan` into a scan of the filter's region.
pub struct RegionPushdown;

impl OptimizerRule for RegionPushdown {
    fn name(&self) -> &'static str {
        "region pushdown"
    }

    fn rewrite(&self, plan: LogicalPlan) -> Result<LogicalPlan, QueryError> {
        plan.transform_up(&|node| match node {
            LogicalPlan::Filter(f) => match *f.input {
                LogicalPlan::Scan(scan) => Ok(LogicalPlan::Scan(narrow(scan, f.dims, f.texts))),
                other => Err(QueryError::Internal(format!(
                    "a filter above a {} cannot be pushed into a scan",
                    node_name(&other)
                ))),
            },
            other => Ok(other),
        })
    }
}

/// The scan restricted to `dims` (the filter's selection, within the whole array).
fn narrow(mut scan: ScanNode, dims: Vec<crate::logical::DimSel>, texts: Vec<String>) -> ScanNode {
    scan.set_dims(dims);
    scan.filters.extend(texts);
    scan
}

fn node_name(p: &LogicalPlan) -> &'static str {
    match p {
        LogicalPlan::Scan(_) => "scan",
        LogicalPlan::Filter(_) => "filter",
        LogicalPlan::Projection(_) => "projection",
        LogicalPlan::Aggregate(_) => "aggregate",
        LogicalPlan::StoredChunks(_) => "stored-chunk pass-through",
        LogicalPlan::Mask(_) => "mask",
        LogicalPlan::Sort(_) => "sort",
        LogicalPlan::Window(_) => "window",
    }
}
