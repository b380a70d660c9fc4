//! Answers aggregates from a rollup where that is exact: `count`, `sum`, `avg`,
//! `min` and `max` of attributes a rollup keeps, with no value condition, whose
//! groups along the rollup's time dimension are unions of whole UTC days (no time
//! grouping, `date_trunc('day' | 'month' | ...)` in UTC, `date_bin('2 days', ...)`
//! from midnight, ...). The whole days of the region are read from the rollup (avg
//! = sum / count merged across days), the hours of days the region cuts at its
//! edges are read raw and merged with them. Anything else (a day of another time
//! zone, a forced layout, a variance) reads the raw cells, and EXPLAIN says why.
//! Chunk statistics that answer without decoding a chunk stay preferred.

use super::OptimizerRule;
use crate::error::QueryError;
use crate::eval::PExpr;
use crate::logical::{
    AggFunc, AggregateNode, LayoutChoice, LayoutWhy, LogicalPlan, RollupSource, ScanNode,
};
use arrayq_storage::{DayGrid, Rollup};
use std::ops::Range;
use std::sync::Arc;

/// Sets [`AggregateNode::rollup`] where a rollup answers whole days exactly.
pub struct RollupSourceRule;

impl OptimizerRule for RollupSourceRule {
    fn name(&self) -> &'static str {
        "rollup source"
    }

    fn rewrite(&self, plan: LogicalPlan) -> Result<LogicalPlan, QueryError> {
        plan.transform_up(&|node| {
            Ok(match node {
                LogicalPlan::Aggregate(mut a) => {
                    let has_rollups = a
                        .input
                        .scan()
                        .is_some_and(|s| !s.snap.meta().rollups.is_empty());
                    if has_rollups {
                        match choose(&a) {
                            Ok(src) => use_rollup(&mut a, src),
                            Err(why) => a.rollup_skipped = Some(why),
                        }
                    }
                    LogicalPlan::Aggregate(a)
                }
                other => other,
            })
        })
    }
}

/// The rollup source of `a`, or why none answers it exactly (or cheaper).
fn choose(a: &AggregateNode) -> Result<RollupSource, String> {
    let LogicalPlan::Scan(scan) = a.input.as_ref() else {
        return Err("a value condition (WHERE on an attribute) selects cells inside days".into());
    };
    if scan.forced_layout.is_some() {
        return Err("a layout is forced by WITH (layout = ...)".into());
    }
    if scan.regrid.is_some() || scan.join.is_some() || scan.empty {
        return Err("not a plain read of the stored array".into());
    }
    if let Some(d) = scan.dims.iter().position(|d| d.picks.is_some()) {
        return Err(format!(
            "the region picks single labels of '{}'",
            scan.snap.schema().dims[d].name
        ));
    }
    if let Some(c) = a.calls.iter().find(|c| {
        !matches!(
            c.func,
            AggFunc::Count | AggFunc::Sum | AggFunc::Avg | AggFunc::Min | AggFunc::Max
        )
    }) {
        return Err(format!(
            "{:?} needs every value, a rollup keeps count, sum, min and max",
            c.func
        )
        .to_lowercase());
    }
    let schema = scan.snap.schema();
    let attrs: Vec<usize> = a
        .inputs
        .iter()
        .map(|i| match i.expr {
            PExpr::Slot { k, .. } => scan
                .attrs
                .get(k)
                .copied()
                .filter(|&x| x < schema.attrs.len()),
            _ => None,
        })
        .collect::<Option<_>>()
        .ok_or("an aggregate input is an expression, not a stored attribute")?;
    let mut reasons = Vec::new();
    let mut best: Option<RollupSource> = None;
    for (ri, r) in scan.snap.meta().rollups.iter().enumerate() {
        match source_of(a, scan, ri, r, &attrs) {
            Ok(src) => {
                if best
                    .as_ref()
                    .is_none_or(|b| src.edges_len() < b.edges_len())
                {
                    best = Some(src);
                }
            }
            Err(why) => reasons.push(format!("rollup {}: {why}", r.name)),
        }
    }
    let src = best.ok_or_else(|| reasons.join("; "))?;
    if let Some(st) = &a.statistics {
        if st.decoded_chunks == 0 {
            return Err(format!(
                "chunk statistics answer it without decoding a chunk (cheaper than rollup {})",
                src.name
            ));
        }
    }
    Ok(src)
}

impl RollupSource {
    fn edges_len(&self) -> u64 {
        self.edges.iter().map(|e| e.end - e.start).sum()
    }
}

/// Whether rollup `r` answers `a` exactly, and over which days.
fn source_of(
    a: &AggregateNode,
    scan: &ScanNode,
    ri: usize,
    r: &Rollup,
    attrs: &[usize],
) -> Result<RollupSource, String> {
    let schema = scan.snap.schema();
    for (input, &x) in a.inputs.iter().zip(attrs) {
        let attr = &schema.attrs[x];
        let Some(k) = r.kept(attr.id) else {
            return Err(format!("does not keep '{}'", attr.name));
        };
        let lacks = [
            (input.sum, k.sum, "sum"),
            (input.min, k.min, "min"),
            (input.max, k.max, "max"),
        ]
        .into_iter()
        .find(|(need, has, _)| *need && !*has);
        if let Some((_, _, what)) = lacks {
            return Err(format!("keeps no {what} of '{}'", attr.name));
        }
        if input.var || input.hold {
            return Err("the calls need every value".into());
        }
    }
    let d = r.dim;
    let grid = DayGrid::of(schema, d).ok_or("its dimension is not a time dimension")?;
    let t = scan.region.0[d].clone();
    // Whole days: every index of the day (within the array) is in the region.
    let whole_days: Vec<u64> = grid
        .days_of(&t)
        .filter(|&k| {
            let i = grid.indices_of(k);
            !i.is_empty() && i.start >= t.start && i.end <= t.end
        })
        .collect();
    let (Some(&first), Some(&last)) = (whole_days.first(), whole_days.last()) else {
        return Err("the region holds no whole UTC day".into());
    };
    let whole = grid.indices_of(first).start..grid.indices_of(last).end;
    // The groups along the time dimension must not cut a day.
    let keys: Vec<usize> = (0..a.groups.len())
        .filter(|&g| a.groups[g].dim == d)
        .collect();
    let tuple = |i: u64| -> Vec<u32> {
        keys.iter()
            .map(|&g| a.groups[g].map[(i - t.start) as usize])
            .collect()
    };
    for k in first..=last {
        let idx = grid.indices_of(k);
        let t0 = tuple(idx.start);
        if idx.clone().any(|i| tuple(i) != t0) {
            let key = keys
                .first()
                .map(|&g| a.groups[g].text(&schema.dims[d].name));
            return Err(format!(
                "{} cuts UTC days (its buckets are not unions of whole days)",
                key.unwrap_or_default()
            ));
        }
    }
    let edges: Vec<Range<u64>> = [t.start..whole.start, whole.end..t.end]
        .into_iter()
        .filter(|e| !e.is_empty())
        .collect();
    let others: u64 = scan
        .region
        .0
        .iter()
        .enumerate()
        .filter(|&(k, _)| k != d)
        .map(|(_, r)| r.end - r.start)
        .product();
    // Raw bytes of the region against the rollup's fields plus the edges' cells.
    let esize: u64 = attrs
        .iter()
        .map(|&x| schema.attrs[x].dtype.size() as u64)
        .sum();
    let raw = scan.region.len() * esize;
    let fields: u64 = attrs
        .iter()
        .map(|&x| {
            let at = &schema.attrs[x];
            let k = r.kept(at.id).expect("checked");
            Rollup::fields(k)
                .into_iter()
                .map(|f| r.field_dtype(f, at.dtype).size() as u64)
                .sum::<u64>()
        })
        .sum();
    let edge_cells: u64 = edges.iter().map(|e| e.end - e.start).sum::<u64>() * others;
    let via = whole_days.len() as u64 * others * fields + edge_cells * esize;
    if via >= raw {
        return Err(format!(
            "reading it (~{via} raw bytes) costs no less than the cells (~{raw})"
        ));
    }
    let by = match keys.first() {
        None => format!("{} is reduced", schema.dims[d].name),
        Some(&g) => format!(
            "the groups of {} are unions of whole UTC days",
            a.groups[g].text(&schema.dims[d].name)
        ),
    };
    let edge_text = if edges.is_empty() {
        "the region cuts no day".to_string()
    } else {
        "the hours of the days the region cuts are read raw".to_string()
    };
    Ok(RollupSource {
        rollup: ri,
        name: r.name.clone(),
        dim: d,
        attrs: attrs.to_vec(),
        days: first..last + 1,
        whole,
        edges,
        why: format!(
            "every call is count, sum, avg, min or max of an attribute the rollup keeps and {by}: each day's count, sum and extrema give its share exactly (avg = sum / count over the merged days); {edge_text}"
        ),
    })
}

/// Points the aggregate at `src`: statistics off, the scan reads only the edges.
fn use_rollup(a: &mut AggregateNode, src: RollupSource) {
    a.statistics = None;
    if let LogicalPlan::Scan(scan) = a.input.as_mut() {
        if scan.layout.as_ref().map(|l| l.why) == Some(LayoutWhy::Statistics) {
            let mut edge = scan.region.clone();
            if let Some(e) = src.edges.first() {
                edge.0[src.dim] = e.clone();
            }
            scan.layout = Some(LayoutChoice {
                layout: scan.snap.best_layout(&edge),
                why: LayoutWhy::LeastBytes,
                candidates: scan.snap.layout_costs(&edge),
            });
        }
    }
    a.rollup = Some(Arc::new(src));
}
