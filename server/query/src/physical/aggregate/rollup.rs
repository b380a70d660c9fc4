//! The part of an aggregate read from a rollup: the buckets of the whole days of the
//! region, folded into one partial over all groups (count, sum unshifted: shift 0,
//! extrema in f64), merged with the partials of the edge hours read raw.

use super::accumulator::NeededStats;
use super::tasks::{group_contributions, Partial};
use super::AggregateExec;
use crate::error::QueryError;
use crate::logical::RollupSource;
use crate::physical::cells::NO_GROUP;
use crate::physical::{OperatorMetrics, TaskContext};
use arrayq_storage::{DayGrid, Region, RollupField};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// The partial of the rollup's days (`ng` groups).
pub(super) fn partial(
    op: &AggregateExec,
    src: &RollupSource,
    ctx: &TaskContext,
    needs: &[NeededStats],
    ng: usize,
) -> Result<Partial, QueryError> {
    let f64_needs: Vec<NeededStats> = needs
        .iter()
        .map(|&n| NeededStats { f32: false, ..n })
        .collect();
    let mut part = Partial::new(0, ng, &f64_needs);
    let scan = &op.scan;
    let snap = &scan.snap;
    let grid = DayGrid::of(snap.schema(), src.dim)
        .ok_or_else(|| QueryError::Internal("rollup dimension without days".into()))?;
    let contrib = group_contributions(scan, &op.groups);
    let region = &scan.region;
    // Per dimension of the rollup's grid, each index's share of the group index.
    let along: Vec<Vec<usize>> = (0..region.rank())
        .map(|d| {
            if d == src.dim {
                src.days
                    .clone()
                    .map(|k| contrib[d][(grid.indices_of(k).start - region.0[d].start) as usize])
                    .collect()
            } else {
                contrib[d].clone()
            }
        })
        .collect();
    let mut rregion = Region(region.0.clone());
    rregion.0[src.dim] = src.days.clone();
    for (i, (&attr, need)) in src.attrs.iter().zip(&f64_needs).enumerate() {
        ctx.check()?;
        let t = Instant::now();
        let fields: Vec<RollupField> = [
            (true, RollupField::Count),
            (need.sum, RollupField::Sum),
            (need.min, RollupField::Min),
            (need.max, RollupField::Max),
        ]
        .into_iter()
        .filter_map(|(on, f)| on.then_some(f))
        .collect();
        let cells = snap
            .read_rollup(src.rollup, attr, &rregion, &fields)
            .map_err(QueryError::from_storage)?;
        OperatorMetrics::add(&op.metrics.read_ns, t);
        let m = &op.metrics.read;
        m.chunks_read
            .fetch_add(cells.chunks_read, Ordering::Relaxed);
        m.bytes_read.fetch_add(cells.bytes_read, Ordering::Relaxed);
        let t = Instant::now();
        let acc = &mut part.accs[i];
        acc.shift = 0.0;
        let counts = acc.counts_mut();
        let mut group = Vec::new();
        fold_groups(&along, &mut group);
        debug_assert_eq!(group.len(), cells.count.len());
        for (&g, &n) in group.iter().zip(&cells.count) {
            if g != NO_GROUP {
                counts[g] += n as u64;
            }
        }
        if need.sum {
            for (&g, &s) in group.iter().zip(&cells.sum) {
                if g != NO_GROUP {
                    acc.sums[g] += s;
                }
            }
        }
        if need.min {
            for (&g, &x) in group.iter().zip(&cells.min) {
                if g != NO_GROUP {
                    acc.mins[g] = acc.mins[g].min(x);
                }
            }
        }
        if need.max {
            for (&g, &x) in group.iter().zip(&cells.max) {
                if g != NO_GROUP {
                    acc.maxs[g] = acc.maxs[g].max(x);
                }
            }
        }
        OperatorMetrics::add(&op.metrics.compute_ns, t);
    }
    Ok(part)
}

/// The group index of every cell of the grid (row-major), NO_GROUP where any
/// dimension's index is in no group: built dimension by dimension, each cell of
/// the grid so far followed by its indices along the next.
fn fold_groups(along: &[Vec<usize>], out: &mut Vec<usize>) {
    out.clear();
    out.push(0);
    for a in along {
        let prev = std::mem::take(out);
        out.reserve(prev.len() * a.len());
        for &g in &prev {
            out.extend(a.iter().map(|&c| {
                if g == NO_GROUP || c == NO_GROUP {
                    NO_GROUP
                } else {
                    g + c
                }
            }));
        }
    }
}

/// EXPLAIN's lines for the rollup's share of the aggregate.
pub(super) fn explain(src: &RollupSource, op: &AggregateExec) -> Vec<String> {
    let schema = op.scan.schema();
    let dim = &schema.dims[src.dim].name;
    let first = DayGrid::day_start_ns(src.days.start);
    let last = DayGrid::day_start_ns(src.days.end - 1);
    let day = |ns: i64| crate::timeutil::format_instant(ns)[..10].to_string();
    let edges: Vec<String> = src
        .edges
        .iter()
        .map(|e| format!("{dim} {}..{}", e.start, e.end))
        .collect();
    vec![
        format!(
            "  source: rollup {} ({} whole UTC day(s) {}..{}, {dim} {}..{}); {}",
            src.name,
            src.days.end - src.days.start,
            day(first),
            day(last),
            src.whole.start,
            src.whole.end,
            if edges.is_empty() {
                "no raw cells read".to_string()
            } else {
                format!("raw cells read at the edges: {}", edges.join(", "))
            }
        ),
        format!("  why: {}", src.why),
    ]
}
