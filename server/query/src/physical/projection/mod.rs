//! Projection: element-wise expressions over the selected cells, streamed in
//! chunk-aligned slabs (each computed chunk-parallel).
//!
//! Column 0 streams slab by slab while the other columns are stashed, as long as
//! they are small; larger results are computed column by column (the chunks are
//! read once per column), so memory stays bounded by the slabs in flight.

mod slabs;

pub use slabs::{project_slab, Slab};

use super::emit::{concat, ColumnEmitter};
use super::mask::MaskExec;
use super::scan::ScanExec;
use super::{Block, BlockStream, ExecutionPlan, OperatorMetrics, TaskContext};
use crate::error::QueryError;
use crate::eval::{Col, PExpr};
use crate::logical::OutputColumn;
use arrayq_storage::DType;
use std::sync::Arc;

/// Columns 1.. are stashed while column 0 streams only up to this many blocks.
const STASH_BLOCKS: u64 = 16;

/// Element-wise expressions over the scan's selected cells.
pub struct ProjectionExec {
    pub scan: Arc<ScanExec>,
    /// The WHERE clause's value conditions, applied to every column.
    pub mask: Option<Arc<MaskExec>>,
    /// One expression per output column; slots are the scan's attributes.
    pub exprs: Vec<PExpr>,
    pub columns: Vec<OutputColumn>,
    /// Elements of every output column.
    pub out_len: usize,
    pub metrics: OperatorMetrics,
}

impl ProjectionExec {
    pub fn dtypes(&self) -> Vec<DType> {
        self.columns.iter().map(|c| c.dtype).collect()
    }
}

impl ExecutionPlan for ProjectionExec {
    fn name(&self) -> &'static str {
        "Project"
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        match &self.mask {
            Some(m) => vec![m.as_ref()],
            None => vec![self.scan.as_ref()],
        }
    }

    fn fmt_explain(&self) -> Vec<String> {
        let cols: Vec<String> = self.columns.iter().map(|c| c.describe()).collect();
        let bytes: u64 = self
            .columns
            .iter()
            .map(|c| c.dtype.size() as u64 * self.out_len as u64)
            .sum();
        vec![
            format!("Project: {}", cols.join(", ")),
            "  element-wise over each chunk; streamed in chunk-aligned slabs".into(),
            format!("  result: {bytes} bytes"),
        ]
    }

    fn execute(self: Arc<Self>, ctx: Arc<TaskContext>) -> Result<BlockStream, QueryError> {
        if self.scan.empty || self.exprs.is_empty() {
            return Ok(Box::new(std::iter::empty()));
        }
        let dtypes = self.dtypes();
        // Stash columns 1.. only while they are small; else one pass per column.
        let rest: u64 = dtypes[1..]
            .iter()
            .map(|d| d.size() as u64 * self.out_len as u64)
            .sum();
        let only = (rest > STASH_BLOCKS * ctx.block_bytes as u64).then_some(0);
        let slabs = slabs::slabs(&self.scan, &dtypes, ctx.block_bytes.max(64));
        let ncols = self.exprs.len();
        Ok(Box::new(ProjectionStream {
            op: self,
            ctx,
            slabs,
            next: 0,
            only,
            stash: (0..ncols).map(|_| Vec::new()).collect(),
            emit: None,
            done: false,
        }))
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }
}

/// A projection being computed: slab `next` is the next to compute, for column
/// `only` (one column per pass) or for all of them.
struct ProjectionStream {
    op: Arc<ProjectionExec>,
    ctx: Arc<TaskContext>,
    slabs: Vec<Slab>,
    next: usize,
    only: Option<usize>,
    /// Columns 1.. gathered while column 0 streams.
    stash: Vec<Vec<Col>>,
    /// Sends the stashed columns once column 0 is out.
    emit: Option<ColumnEmitter>,
    done: bool,
}

impl ProjectionStream {
    fn step(&mut self) -> Result<Option<Block>, QueryError> {
        let ncols = self.op.exprs.len();
        if self.next >= self.slabs.len() {
            match self.only {
                Some(c) if c + 1 < ncols => {
                    (self.only, self.next) = (Some(c + 1), 0);
                }
                Some(_) => self.done = true,
                None => {
                    // Column 0 is out; the others were stashed slab by slab.
                    let mut cols: Vec<Option<Col>> = vec![None];
                    for parts in self.stash.iter_mut().skip(1) {
                        cols.push(Some(concat(std::mem::take(parts))));
                    }
                    self.emit = Some(ColumnEmitter::new(
                        cols,
                        1,
                        self.op.dtypes(),
                        self.op.out_len,
                        self.ctx.block_bytes,
                    ));
                }
            }
            return Ok(None);
        }
        let slab = &self.slabs[self.next];
        self.next += 1;
        let mut out = project_slab(&self.op, &self.ctx, slab, self.only)?;
        let column = match self.only {
            Some(c) => c,
            None => {
                let rest = out.split_off(1);
                for (k, c) in rest.into_iter().enumerate() {
                    self.stash[k + 1].push(c);
                }
                0
            }
        };
        Ok(Some(Block::Values {
            column,
            offset: slab.out_offset,
            data: out.pop().expect("one column"),
            len: slab.out_len,
        }))
    }
}

impl Iterator for ProjectionStream {
    type Item = Result<Block, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = &mut self.emit {
                return e.next().map(Ok);
            }
            if self.done {
                return None;
            }
            match self.step() {
                Ok(Some(b)) => return Some(Ok(b)),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
