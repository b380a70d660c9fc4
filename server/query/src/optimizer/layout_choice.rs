//! Chooses the layout a scan reads: the one forced by the query, else the least
//! estimated bytes for the scan's region, unless another is nearly as cheap with
//! smaller chunks.

use super::OptimizerRule;
use crate::error::QueryError;
use crate::logical::{LayoutChoice, LayoutWhy, LogicalPlan, ScanNode};
use arrayq_storage::LayoutCost;

/// Sets every scan's [`LayoutChoice`].
pub struct LayoutChoiceRule;

impl OptimizerRule for LayoutChoiceRule {
    fn name(&self) -> &'static str {
        "layout choice"
    }

    fn rewrite(&self, plan: LogicalPlan) -> Result<LogicalPlan, QueryError> {
        plan.transform_up(&|node| {
            Ok(match node {
                LogicalPlan::Scan(mut scan) => {
                    if let Some(rg) = scan.regrid.as_mut() {
                        choose(&mut rg.source);
                        regrid_layout(&mut scan);
                        return Ok(LogicalPlan::Scan(scan));
                    }
                    choose(&mut scan);
                    LogicalPlan::Scan(scan)
                }
                other => other,
            })
        })
    }
}

/// Chooses the layout a stored scan reads.
fn choose(scan: &mut ScanNode) {
    let candidates = scan.snap.layout_costs(&scan.region);
    let (layout, why) = match scan.forced_layout {
        Some(l) => (l, LayoutWhy::Forced),
        None if scan.empty => (0, LayoutWhy::Empty),
        None => choose_layout(&candidates),
    };
    scan.layout = Some(LayoutChoice {
        layout,
        why,
        candidates,
    });
}

/// Target cells a piece of a regridded scan holds at most (64 MB of float32): a
/// piece spans the source layout's chunks along the carried dimensions, so every
/// source chunk decodes once, unless that would make pieces larger than this.
const REGRID_PIECE_CELLS: u64 = 16 << 20;

/// A regridded scan's pieces: whole target maps (rows x columns), as many along the
/// carried dimensions as one source chunk holds.
fn regrid_layout(scan: &mut ScanNode) {
    let rg = scan.regrid.as_mut().expect("a regridded scan");
    let src_layout = rg.source.layout.as_ref().map_or(0, |l| l.layout);
    let src_chunk = &rg.source.snap.schema().layouts[src_layout].chunk_shape;
    let nc = rg.spec.carried.len();
    let map_cells = rg.spec.map.target.ny as u64 * rg.spec.map.target.nx as u64;
    let mut budget = (REGRID_PIECE_CELLS / map_cells.max(1)).max(1);
    let chunk = &mut rg.schema.layouts[0].chunk_shape;
    // Innermost carried dimension first: it varies fastest between maps.
    for k in (0..nc).rev() {
        let extent = src_chunk[rg.spec.carried[k]].clamp(1, budget);
        chunk[k] = extent;
        budget = (budget / extent).max(1);
    }
    let chunks = scan
        .region
        .0
        .iter()
        .zip(chunk.iter())
        .map(|(r, &c)| {
            if r.end > r.start {
                (r.end - 1) / c - r.start / c + 1
            } else {
                0
            }
        })
        .product();
    scan.layout = Some(LayoutChoice {
        layout: 0,
        why: if scan.empty {
            LayoutWhy::Empty
        } else {
            LayoutWhy::LeastBytes
        },
        candidates: vec![LayoutCost {
            layout: 0,
            name: "regrid".into(),
            chunk_shape: chunk.clone(),
            chunks,
            est_bytes: 0,
        }],
    });
}

/// Layouts whose estimated bytes are within this fraction of the least count as
/// equally cheap to fetch and decode; among them the planner takes the one with the
/// smallest chunks (decoded size), which decode into cache, spread more evenly over
/// the workers and stream in smaller slabs (a full scan reads as many bytes through
/// map tiles as through year-long pencils, but a pencil decodes to 2.2 MB).
pub const NEAR_BYTES: f64 = 0.1;

/// The layout to read: the least estimated bytes, unless another is within
/// [`NEAR_BYTES`] of it with smaller chunks.
fn choose_layout(candidates: &[LayoutCost]) -> (usize, LayoutWhy) {
    let Some(least) = candidates
        .iter()
        .min_by_key(|c| (c.est_bytes, c.chunks, c.layout))
    else {
        return (0, LayoutWhy::Empty);
    };
    let limit = least.est_bytes as f64 * (1.0 + NEAR_BYTES);
    let cells = |c: &LayoutCost| c.chunk_shape.iter().product::<u64>();
    let best = candidates
        .iter()
        .filter(|c| c.est_bytes as f64 <= limit)
        .min_by_key(|c| (cells(c), c.est_bytes, c.chunks, c.layout))
        .unwrap_or(least);
    if best.layout == least.layout || cells(best) == cells(least) {
        (least.layout, LayoutWhy::LeastBytes)
    } else {
        (best.layout, LayoutWhy::SmallerChunks)
    }
}
