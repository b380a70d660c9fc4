//! Answers scalar aggregates over whole chunks from the statistics kept at commit.
//!
//! `count`, `sum`, `avg`, `min` and `max` of stored attributes, with no group and no
//! value condition, need per chunk only its count, sum and extrema. A chunk whose
//! cells inside the array the region holds whole is summed from its statistics; the
//! chunks the region cuts are read as usual. Of the layouts, the one leaving the
//! fewest bytes to decode is read (ties: fewer chunks to sum). Chunks without
//! statistics (written by an older format) are read too: the answer is always the
//! full computation's.

use super::OptimizerRule;
use crate::error::QueryError;
use crate::eval::PExpr;
use crate::logical::{
    AggFunc, AggregateNode, ChunkStatistics, LayoutChoice, LayoutWhy, LogicalPlan, ScanNode,
};
use arrayq_storage::{ArraySchema, ChunkStats, ChunkSummary, DType, Region};
use std::collections::HashSet;
use std::sync::Arc;

/// Sets [`AggregateNode::statistics`] where whole chunks can be summed.
pub struct ChunkStatisticsRule;

impl OptimizerRule for ChunkStatisticsRule {
    fn name(&self) -> &'static str {
        "chunk statistics"
    }

    fn rewrite(&self, plan: LogicalPlan) -> Result<LogicalPlan, QueryError> {
        plan.transform_up(&|node| {
            Ok(match node {
                LogicalPlan::Aggregate(mut a) => {
                    if let Some(attrs) = eligible(&a) {
                        plan_statistics(&mut a, &attrs)?;
                    }
                    LogicalPlan::Aggregate(a)
                }
                other => other,
            })
        })
    }
}

/// The attribute each input reads, when the aggregate can use statistics.
fn eligible(a: &AggregateNode) -> Option<Vec<usize>> {
    let LogicalPlan::Scan(scan) = a.input.as_ref() else {
        return None; // a mask (value condition) or another operator below
    };
    let plain_scan = scan.regrid.is_none()
        && scan.join.is_none()
        && !scan.empty
        && scan.forced_layout.is_none()
        && scan.dims.iter().all(|d| d.picks.is_none());
    let simple_calls = a.calls.iter().all(|c| {
        matches!(
            c.func,
            AggFunc::Count | AggFunc::Sum | AggFunc::Avg | AggFunc::Min | AggFunc::Max
        )
    });
    if !plain_scan || !simple_calls || !a.groups.is_empty() || a.inputs.is_empty() {
        return None;
    }
    let schema = scan.snap.schema();
    a.inputs
        .iter()
        .map(|i| match i.expr {
            PExpr::Slot { k, .. } => {
                let attr = *scan.attrs.get(k)?;
                (schema.attrs.get(attr)?.dtype != DType::Bool).then_some(attr)
            }
            _ => None,
        })
        .collect()
}

/// Per dimension, the chunk indices the region touches and, among them, those it
/// holds whole (every cell of the chunk inside the array is in the region).
fn chunk_ranges(region: &Region, chunk: &[u64], shape: &[u64]) -> Vec<(Vec<u64>, Vec<bool>)> {
    region
        .0
        .iter()
        .zip(chunk)
        .zip(shape)
        .map(|((r, &c), &n)| {
            let idx: Vec<u64> = (r.start / c..r.end.div_ceil(c)).collect();
            let whole = idx
                .iter()
                .map(|&i| r.start <= i * c && ((i + 1) * c).min(n) <= r.end)
                .collect();
            (idx, whole)
        })
        .collect()
}

/// What reading through `layout` costs: raw bytes of cut chunks to decode, and
/// whole chunks to sum.
fn cost(schema: &ArraySchema, layout: usize, region: &Region, esize: u64) -> (u64, u64) {
    let l = &schema.layouts[layout];
    let ranges = chunk_ranges(region, &l.chunk_shape, &schema.shape());
    let touched: u64 = ranges.iter().map(|(i, _)| i.len() as u64).product();
    let whole: u64 = ranges
        .iter()
        .map(|(_, w)| w.iter().filter(|&&w| w).count() as u64)
        .product();
    let chunk_bytes = l.chunk_len() as u64 * esize;
    ((touched - whole) * chunk_bytes, whole)
}

fn plan_statistics(a: &mut AggregateNode, attrs: &[usize]) -> Result<(), QueryError> {
    let LogicalPlan::Scan(scan) = a.input.as_mut() else {
        return Ok(());
    };
    let schema = scan.snap.schema().clone();
    let esize: u64 = attrs
        .iter()
        .map(|&x| schema.attrs[x].dtype.size() as u64)
        .sum();
    let (layout, (_, whole_chunks)) = (0..schema.layouts.len())
        .map(|l| (l, cost(&schema, l, &scan.region, esize)))
        .min_by_key(|&(l, (bytes, whole))| (bytes, whole, l))
        .expect("an array has a layout");
    if whole_chunks == 0 {
        return Ok(());
    }
    let stats = summarize(scan, layout, attrs)?;
    if stats.whole.is_empty() {
        return Ok(());
    }
    let candidates = scan.snap.layout_costs(&scan.region);
    scan.layout = Some(LayoutChoice {
        layout,
        why: LayoutWhy::Statistics,
        candidates,
    });
    a.statistics = Some(Arc::new(stats));
    Ok(())
}

/// Merges the statistics of the whole chunks of `layout` for every input.
fn summarize(
    scan: &ScanNode,
    layout: usize,
    attrs: &[usize],
) -> Result<ChunkStatistics, QueryError> {
    let schema = scan.snap.schema();
    let l = &schema.layouts[layout];
    let shape = schema.shape();
    let storage = QueryError::from_storage;
    let summaries: Vec<_> = attrs
        .iter()
        .map(|&x| scan.snap.chunk_summaries(layout, x).map_err(storage))
        .collect::<Result<_, _>>()?;
    let fills: Vec<f64> = attrs
        .iter()
        .map(|&x| schema.attrs[x].fill_value().as_f64())
        .collect();
    let ranges = chunk_ranges(&scan.region, &l.chunk_shape, &shape);
    let mut out = ChunkStatistics {
        layout,
        merged: vec![ChunkStats::of_fill(f64::NAN, 0); attrs.len()],
        whole: HashSet::new(),
        decoded_chunks: 0,
        bytes_skipped: 0,
    };
    let mut idx = vec![0usize; ranges.len()];
    'chunks: loop {
        let c: Vec<u64> = idx.iter().zip(&ranges).map(|(&i, r)| r.0[i]).collect();
        let inside_region = idx.iter().zip(&ranges).all(|(&i, r)| r.1[i]);
        // Cells past the array's edge hold the fill value: summed with the chunk
        // unless that is a value (a NaN fill counts nothing).
        let cells: Vec<u64> = c
            .iter()
            .zip(&l.chunk_shape)
            .zip(&shape)
            .map(|((&i, &cs), &n)| ((i + 1) * cs).min(n) - i * cs)
            .collect();
        let padded = cells.iter().zip(&l.chunk_shape).any(|(a, b)| a != b);
        let per_input: Option<Vec<ChunkStats>> = inside_region
            .then(|| {
                summaries
                    .iter()
                    .zip(&fills)
                    .map(|(s, &fill)| match s.get(&c) {
                        _ if padded && !fill.is_nan() => None,
                        Some(ChunkSummary::Stats(st)) => Some(*st),
                        None | Some(ChunkSummary::NeverWritten) => {
                            Some(ChunkStats::of_fill(fill, cells.iter().product()))
                        }
                        Some(ChunkSummary::Unknown) => None,
                    })
                    .collect()
            })
            .flatten();
        match per_input {
            Some(stats) => {
                for (m, s) in out.merged.iter_mut().zip(&stats) {
                    m.merge(s);
                }
                let n: u64 = cells.iter().product();
                out.bytes_skipped += n * attrs
                    .iter()
                    .map(|&x| schema.attrs[x].dtype.size() as u64)
                    .sum::<u64>();
                out.whole.insert(c);
            }
            None => out.decoded_chunks += 1,
        }
        // Next chunk index, row-major.
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < ranges[d].0.len() {
                continue 'chunks;
            }
            idx[d] = 0;
        }
        break;
    }
    Ok(out)
}
