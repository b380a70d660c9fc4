//! The physical planner: an optimized logical plan becomes a tree of operators.
//! Every logical node maps to one operator; a node without one (a filter the rules
//! could not push into its scan) is an internal error.

use super::aggregate::AggregateExec;
use super::projection::ProjectionExec;
use super::scan::ScanExec;
use super::stored_chunks::StoredChunkExec;
use super::{ExecutionPlan, OperatorMetrics, PhysicalQuery};
use crate::error::QueryError;
use crate::logical::{LogicalPlan, QueryPlan};
use std::sync::Arc;

/// Builds the operator tree of an optimized plan; names the layout in the header.
pub fn create_physical_plan(plan: QueryPlan) -> Result<PhysicalQuery, QueryError> {
    let mut header = plan.header;
    let out_len = header.len();
    let scan_node = plan
        .root
        .scan()
        .ok_or_else(|| QueryError::Internal("a plan without a scan".into()))?;
    let layout = scan_node
        .layout
        .as_ref()
        .ok_or_else(|| QueryError::Internal("a scan without a layout".into()))?;
    // A regridded read names the source layout it reads through.
    header.layout = match &scan_node.regrid {
        Some(r) => {
            let l = r.source.layout.as_ref().map_or(0, |l| l.layout);
            r.source.snap.schema().layouts[l].name.clone()
        }
        None => scan_node.snap.schema().layouts[layout.layout].name.clone(),
    };
    let candidates = layout.candidates.clone();
    let root = match plan.root {
        LogicalPlan::StoredChunks(s) => {
            let input = Arc::new(projection(*s.input, out_len)?);
            Arc::new(StoredChunkExec {
                input,
                pieces: s.pieces,
                metrics: OperatorMetrics::default(),
            }) as Arc<dyn ExecutionPlan>
        }
        LogicalPlan::Projection(_) => Arc::new(projection(plan.root, out_len)?),
        LogicalPlan::Aggregate(a) => Arc::new(AggregateExec {
            scan: scan(*a.input)?,
            inputs: a.inputs,
            calls: a.calls,
            outputs: a.outputs,
            groups: a.groups,
            columns: a.columns,
            state_bytes: a.state_bytes,
            metrics: OperatorMetrics::default(),
        }),
        other => return Err(no_operator(&other)),
    };
    Ok(PhysicalQuery {
        root,
        header,
        candidates,
    })
}

fn projection(node: LogicalPlan, out_len: usize) -> Result<ProjectionExec, QueryError> {
    let LogicalPlan::Projection(p) = node else {
        return Err(no_operator(&node));
    };
    Ok(ProjectionExec {
        scan: scan(*p.input)?,
        exprs: p.exprs,
        columns: p.columns,
        out_len,
        metrics: OperatorMetrics::default(),
    })
}

fn scan(node: LogicalPlan) -> Result<Arc<ScanExec>, QueryError> {
    match node {
        LogicalPlan::Scan(s) => Ok(Arc::new(ScanExec::new(s)?)),
        other => Err(no_operator(&other)),
    }
}

fn no_operator(node: &LogicalPlan) -> QueryError {
    let what = match node {
        LogicalPlan::Scan(_) => "a scan",
        LogicalPlan::Filter(_) => "a filter not pushed into its scan",
        LogicalPlan::Projection(_) => "a projection",
        LogicalPlan::Aggregate(_) => "an aggregate",
        LogicalPlan::StoredChunks(_) => "a stored-chunk pass-through",
    };
    QueryError::Internal(format!("no physical operator for {what} at this place"))
}
