//! Aggregation: partial aggregates per worker over contiguous tasks of pieces
//! (`tasks`), folded by the kernels (`kernels`, `runs`, the strided `rows` kernel)
//! into per-group statistics (`accumulator`), combined per segment of the group
//! range at the end and finished into the output columns (`finish`). Nothing here
//! holds more than the result, the aggregation state and the chunks in flight.
//!
//! The whole aggregation runs on the first pull; its columns are then sent block by
//! block.

mod accumulator;
mod finish;
mod held;
mod kernels;
mod rollup;
mod rows;
mod runs;
mod statistics;
mod tasks;
#[cfg(test)]
mod tests;

use super::emit::ColumnEmitter;
use super::mask::{apply, MaskExec};
use super::scan::ScanExec;
use super::{BlockStream, ExecutionPlan, OperatorMetrics, TaskContext};
use crate::error::QueryError;
use crate::eval::{Col, PExpr};
use crate::logical::{AggCall, AggInput, ChunkStatistics, GroupKey, OutputColumn, RollupSource};
use accumulator::NeededStats;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Aggregates over the scan's cells, per group of the kept dimensions.
pub struct AggregateExec {
    pub scan: Arc<ScanExec>,
    /// The WHERE clause's value conditions: dropped cells are NaN in every input.
    pub mask: Option<Arc<MaskExec>>,
    /// `HAVING`: groups where it is not true are NaN in every output.
    pub having: Option<(PExpr, String)>,
    pub inputs: Vec<AggInput>,
    pub calls: Vec<AggCall>,
    /// Output expressions over the calls (as slots).
    pub outputs: Vec<PExpr>,
    pub groups: Vec<GroupKey>,
    pub columns: Vec<OutputColumn>,
    /// Bytes of the merged state (for EXPLAIN).
    pub state_bytes: u64,
    /// What the state holds (for the memory bound's error).
    pub state_what: String,
    /// Whole chunks summed from their statistics instead of read.
    pub statistics: Option<Arc<ChunkStatistics>>,
    /// Whole days read from a rollup instead of the cells.
    pub rollup: Option<Arc<RollupSource>>,
    /// Why the array's rollups do not answer it (EXPLAIN).
    pub rollup_skipped: Option<String>,
    pub metrics: OperatorMetrics,
}

impl AggregateExec {
    /// Runs the aggregation; returns the output columns (each over all groups).
    fn run(&self, ctx: &TaskContext) -> Result<Vec<Col>, QueryError> {
        let needs: Vec<NeededStats> = self.inputs.iter().map(NeededStats::of).collect();
        let gshape: Vec<usize> = self.groups.iter().map(|g| g.len).collect();
        let ng: usize = gshape.iter().product();
        let mut parts = tasks::accumulate_partials(self, ctx, &needs, ng)?;
        if let Some(s) = &self.statistics {
            parts.push(statistics::partial(s, &needs));
        }
        if let Some(r) = &self.rollup {
            parts.push(rollup::partial(self, r, ctx, &needs, ng)?);
        }
        ctx.check()?;
        let t = Instant::now();
        // Quantiles take the held values out of the partials first.
        let quantiles = held::quantile_columns(&mut parts, &self.calls, ng);
        let mut call_cols = finish::combine(parts, &needs, &self.calls, ng);
        for (c, q) in call_cols.iter_mut().zip(quantiles) {
            if let Some(q) = q {
                *c = q;
            }
        }
        OperatorMetrics::add(&self.metrics.merge_ns, t);
        let keep = self.having.as_ref().map(|(h, _)| {
            let keep = finish::having_keep(h, &call_cols, &gshape, ng);
            let kept = keep.iter().filter(|&&k| k).count() as u64;
            self.metrics
                .cells_in
                .fetch_add(ng as u64, Ordering::Relaxed);
            self.metrics.cells_out.fetch_add(kept, Ordering::Relaxed);
            keep
        });
        let cols = finish::output_columns(&self.outputs, call_cols, &gshape, ng);
        Ok(match keep {
            Some(keep) => cols.into_iter().map(|c| apply(&keep, c)).collect(),
            None => cols,
        })
    }

    fn out_len(&self) -> usize {
        self.groups.iter().map(|g| g.len).product()
    }
}

impl ExecutionPlan for AggregateExec {
    fn name(&self) -> &'static str {
        "Aggregate"
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        match &self.mask {
            Some(m) => vec![m.as_ref()],
            None => vec![self.scan.as_ref()],
        }
    }

    fn fmt_explain(&self) -> Vec<String> {
        let schema = self.scan.schema();
        let cols: Vec<String> = self.columns.iter().map(|c| c.describe()).collect();
        let mut lines = vec![format!("Aggregate: {}", cols.join(", "))];
        if self.groups.is_empty() {
            lines.push("  reduce all dimensions (scalar)".into());
        } else {
            let g: Vec<String> = self
                .groups
                .iter()
                .map(|g| g.text(&schema.dims[g.dim].name))
                .collect();
            lines.push(format!(
                "  group by: {} -> {} groups",
                g.join(", "),
                self.out_len()
            ));
        }
        let ins: Vec<&str> = self.inputs.iter().map(|i| i.text.as_str()).collect();
        lines.push(format!(
            "  {} aggregate call(s) over input(s) [{}]; partial aggregates per chunk (f64, NaN skipped), merged across rayon workers",
            self.calls.len(),
            ins.join(", ")
        ));
        let held: Vec<&str> = self
            .inputs
            .iter()
            .filter(|i| i.hold)
            .map(|i| i.text.as_str())
            .collect();
        if !held.is_empty() {
            lines.push(format!(
                "  quantiles hold every value of [{}] per group: exact, linear interpolation between ranks (selection per group, groups in parallel)",
                held.join(", ")
            ));
        }
        if let Some(s) = &self.statistics {
            lines.extend(statistics::explain(s, &self.scan));
        }
        if let Some(r) = &self.rollup {
            lines.extend(rollup::explain(r, self));
        }
        if let Some(why) = &self.rollup_skipped {
            lines.push(format!("  source: the cells (no rollup: {why})"));
        }
        let result: u64 = self
            .columns
            .iter()
            .map(|c| c.dtype.size() as u64 * self.out_len() as u64)
            .sum();
        let state = if self.state_bytes > 0 {
            format!(", aggregation state: {} bytes", self.state_bytes)
        } else {
            String::new()
        };
        if let Some((_, text)) = &self.having {
            lines.push(format!(
                "  having: {text} (groups where it is not true become NaN)"
            ));
        }
        lines.push(format!("  result: {result} bytes{state}"));
        lines
    }

    fn execute(self: Arc<Self>, ctx: Arc<TaskContext>) -> Result<BlockStream, QueryError> {
        // The aggregation runs on the first pull, then its columns go out in blocks.
        // The state and the output columns are charged before they are allocated,
        // and held until the last block is out.
        let mut mem = ctx.memory.reservation("Aggregate");
        mem.try_grow(self.state_bytes, &self.state_what)?;
        let result: u64 = self
            .columns
            .iter()
            .map(|c| c.dtype.size() as u64 * self.out_len() as u64)
            .sum();
        mem.try_grow(result, "its output columns")?;
        let mut pending = Some(self);
        let mut emit: Option<ColumnEmitter> = None;
        Ok(Box::new(std::iter::from_fn(move || {
            if let Some(op) = pending.take() {
                let state = op.state_bytes;
                let done = op.run(&ctx);
                mem.shrink(state);
                match done {
                    Ok(cols) => {
                        emit = Some(ColumnEmitter::new(
                            cols.into_iter().map(Some).collect(),
                            0,
                            op.columns.iter().map(|c| c.dtype).collect(),
                            op.out_len(),
                            ctx.block_bytes,
                        ))
                    }
                    Err(e) => return Some(Err(e)),
                }
            }
            let next = emit.as_mut()?.next();
            if next.is_none() {
                mem.shrink_to(0);
            }
            next.map(Ok)
        })))
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }
}
