//! The physical planner: an optimized logical plan becomes a tree of operators.
//! Every logical node maps to one operator; a node without one (a filter the rules
//! could not push into its scan) is an internal error.

use super::aggregate::AggregateExec;
use super::mask::MaskExec;
use super::projection::ProjectionExec;
use super::scan::ScanExec;
use super::sort::SortExec;
use super::stored_chunks::StoredChunkExec;
use super::window::WindowExec;
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
    let root = operator(plan.root, out_len)?;
    Ok(PhysicalQuery {
        root,
        header,
        candidates,
    })
}

/// The operator of a node (and of its inputs); `out_len` is the number of cells
/// of the grid the node produces.
fn operator(node: LogicalPlan, out_len: usize) -> Result<Arc<dyn ExecutionPlan>, QueryError> {
    Ok(match node {
        LogicalPlan::Sort(s) => {
            let cells = s.cells();
            let dtypes = column_dtypes(&s.input)
                .ok_or_else(|| QueryError::Internal("a sort over no result".into()))?;
            // The sort gathers decoded values: stored chunks cannot pass through it.
            let input = match *s.input {
                LogicalPlan::StoredChunks(sc) => operator(*sc.input, cells)?,
                other => operator(other, cells)?,
            };
            Arc::new(SortExec {
                input,
                grid: s.grid,
                dtypes,
                keys: s.keys,
                limit: s.limit,
                offset: s.offset,
                metrics: OperatorMetrics::default(),
            })
        }
        LogicalPlan::Window(w) => {
            let cells: usize = w.shape.iter().product();
            let in_dtypes = column_dtypes(&w.input)
                .ok_or_else(|| QueryError::Internal("a window over no result".into()))?;
            // The window reads decoded values: stored chunks cannot pass through it.
            let input = match *w.input {
                LogicalPlan::StoredChunks(sc) => operator(*sc.input, cells)?,
                other => operator(other, cells)?,
            };
            Arc::new(WindowExec {
                input,
                shape: w.shape,
                in_dtypes,
                dtypes: w.columns.iter().map(|c| c.dtype).collect(),
                windows: w.windows,
                metrics: OperatorMetrics::default(),
            })
        }
        LogicalPlan::StoredChunks(s) => {
            let input = Arc::new(projection(*s.input, out_len)?);
            Arc::new(StoredChunkExec {
                input,
                pieces: s.pieces,
                metrics: OperatorMetrics::default(),
            })
        }
        LogicalPlan::Projection(_) => Arc::new(projection(node, out_len)?),
        LogicalPlan::Aggregate(a) => {
            let (scan, mask) = scan(*a.input)?;
            Arc::new(AggregateExec {
                scan,
                mask,
                having: a.having,
                inputs: a.inputs,
                calls: a.calls,
                outputs: a.outputs,
                groups: a.groups,
                columns: a.columns,
                state_bytes: a.state_bytes,
                state_what: a.state_what,
                statistics: a.statistics,
                rollup: a.rollup,
                rollup_skipped: a.rollup_skipped,
                metrics: OperatorMetrics::default(),
            })
        }
        other => return Err(no_operator(&other)),
    })
}

fn projection(node: LogicalPlan, out_len: usize) -> Result<ProjectionExec, QueryError> {
    let LogicalPlan::Projection(p) = node else {
        return Err(no_operator(&node));
    };
    let (scan, mask) = scan(*p.input)?;
    Ok(ProjectionExec {
        scan,
        mask,
        exprs: p.exprs,
        columns: p.columns,
        out_len,
        metrics: OperatorMetrics::default(),
    })
}

/// The scan below a parent, and the mask between them if any.
fn scan(node: LogicalPlan) -> Result<(Arc<ScanExec>, Option<Arc<MaskExec>>), QueryError> {
    match node {
        LogicalPlan::Scan(s) => Ok((Arc::new(ScanExec::new(s)?), None)),
        LogicalPlan::Mask(m) => {
            let (scan, _) = scan(*m.input)?;
            let mask = Arc::new(MaskExec {
                scan: scan.clone(),
                pred: m.pred,
                text: m.text,
                metrics: OperatorMetrics::default(),
            });
            Ok((scan, Some(mask)))
        }
        other => Err(no_operator(&other)),
    }
}

/// The dtypes of the columns a node produces.
fn column_dtypes(node: &LogicalPlan) -> Option<Vec<arrayq_storage::DType>> {
    let cols = match node {
        LogicalPlan::Projection(p) => &p.columns,
        LogicalPlan::Aggregate(a) => &a.columns,
        LogicalPlan::StoredChunks(s) => return column_dtypes(&s.input),
        LogicalPlan::Window(w) => &w.columns,
        _ => return None,
    };
    Some(cols.iter().map(|c| c.dtype).collect())
}

fn no_operator(node: &LogicalPlan) -> QueryError {
    let what = match node {
        LogicalPlan::Scan(_) => "a scan",
        LogicalPlan::Filter(_) => "a filter not pushed into its scan",
        LogicalPlan::Projection(_) => "a projection",
        LogicalPlan::Aggregate(_) => "an aggregate",
        LogicalPlan::StoredChunks(_) => "a stored-chunk pass-through",
        LogicalPlan::Mask(_) => "a mask",
        LogicalPlan::Sort(_) => "a sort",
        LogicalPlan::Window(_) => "a window",
    };
    QueryError::Internal(format!("no physical operator for {what} at this place"))
}
