//! Mask: the value conditions of a WHERE clause (`t2m > 303.15`, `OR`, `NOT`,
//! `CASE`), evaluated cell by cell over each piece the scan reads. Cells where the
//! condition is not true stay in the result (its shape is the selection's) with
//! their values missing: NaN, integer and bool values promoted to f64 by the
//! planner. Aggregates skip NaN, so `count(t2m)` counts the matching cells.
//!
//! Its parent (Project or Aggregate) drives it like it drives the scan: after
//! reading a piece, it asks [`MaskExec::keep`] which cells stay and applies
//! [`apply`] to each value it computes. Executed on its own it streams the scan's
//! pieces with masked columns.

use super::scan::ScanExec;
use super::{Block, BlockStream, ExecutionPlan, OperatorMetrics, TaskContext};
use crate::error::QueryError;
use crate::eval::{eval, Col, Inputs, PExpr};
use crate::physical::cells::{count_slots, origin};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

pub struct MaskExec {
    pub scan: Arc<ScanExec>,
    /// A bool expression over the scan's slots and coordinates.
    pub pred: PExpr,
    /// The conditions as written.
    pub text: String,
    pub metrics: OperatorMetrics,
}

impl MaskExec {
    /// Marks the slots the condition reads (the parent's reader must read them).
    pub fn mark_slots(&self, used: &mut [bool]) {
        let mut uses = vec![0usize; used.len()];
        count_slots(&self.pred, &mut uses);
        for (u, n) in used.iter_mut().zip(uses) {
            *u |= n > 0;
        }
    }

    /// Which cells of a piece (row-major) satisfy the condition.
    pub fn keep(&self, inp: &Inputs) -> Vec<bool> {
        let t = Instant::now();
        let keep = eval(&self.pred, inp).bools(inp.n);
        let kept = keep.iter().filter(|&&k| k).count();
        let m = &self.metrics;
        m.cells_in.fetch_add(inp.n as u64, Ordering::Relaxed);
        m.cells_out.fetch_add(kept as u64, Ordering::Relaxed);
        OperatorMetrics::add(&m.compute_ns, t);
        keep
    }
}

/// `c` with the cells `keep` drops set to NaN (f32 stays f32; anything else
/// becomes f64).
pub fn apply(keep: &[bool], c: Col) -> Col {
    let n = keep.len();
    match c {
        Col::F32(mut v) => {
            v.iter_mut()
                .zip(keep)
                .filter(|(_, &k)| !k)
                .for_each(|(x, _)| *x = f32::NAN);
            Col::F32(v)
        }
        other => {
            let mut v = other.f64s(n);
            v.iter_mut()
                .zip(keep)
                .filter(|(_, &k)| !k)
                .for_each(|(x, _)| *x = f64::NAN);
            Col::F64(v)
        }
    }
}

impl ExecutionPlan for MaskExec {
    fn name(&self) -> &'static str {
        "Mask"
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![self.scan.as_ref()]
    }

    fn fmt_explain(&self) -> Vec<String> {
        vec![
            format!("Mask: {}", self.text),
            "  cells where the condition is not true become NaN (integer and bool values as f64)"
                .into(),
        ]
    }

    fn execute(self: Arc<Self>, ctx: Arc<TaskContext>) -> Result<BlockStream, QueryError> {
        let coords = self.scan.coords();
        let input = self.scan.clone().execute(ctx)?;
        let op = self;
        Ok(Box::new(input.map(move |b| match b? {
            Block::Piece { region, columns } => {
                let shape = region.shape();
                let org = origin(&region);
                let n: usize = shape.iter().product();
                let keep = op.keep(&Inputs {
                    slots: &columns,
                    shape: &shape,
                    origin: &org,
                    coords: &coords,
                    n,
                });
                let columns = columns.into_iter().map(|c| apply(&keep, c)).collect();
                Ok(Block::Piece { region, columns })
            }
            other => Ok(other),
        })))
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }
}
