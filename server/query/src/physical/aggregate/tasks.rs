//! Aggregation tasks: the pieces of the region (one chunk each) are cut into
//! contiguous tasks; a rayon worker accumulates every task it runs into its own
//! partial state, which covers a contiguous range of group indices and grows with
//! the tasks (so each worker holds about its share of the groups; past a cap it
//! starts a new one). Finished partials are only set aside: no lock and no shared
//! state per chunk.

use super::accumulator::{GroupStats, NeededStats};
use super::held::Held;
use super::kernels::{accumulate, PieceArgs};
use super::statistics;
use super::AggregateExec;
use crate::error::QueryError;
use crate::eval::{eval, Inputs, PExpr};
use crate::logical::{GroupKey, SKIP};
use crate::physical::cells::{along, origin, strides, NO_GROUP};
use crate::physical::mask::apply;
use crate::physical::scan::{Reader, ScanExec};
use crate::physical::{OperatorMetrics, TaskContext};
use arrayq_storage::{Coordinate, Region};
use parking_lot::Mutex;
use rayon::prelude::*;
use std::time::Instant;

/// The partial state of one worker: every input's statistics over the group indices
/// `lo..hi`.
pub(super) struct Partial {
    pub(super) lo: usize,
    pub(super) hi: usize,
    pub(super) accs: Vec<GroupStats>,
    /// Per input, its values when quantiles need them.
    pub(super) held: Vec<Option<Held>>,
}

impl Partial {
    pub(super) fn new(lo: usize, hi: usize, needs: &[NeededStats]) -> Partial {
        Partial {
            lo,
            hi,
            accs: needs
                .iter()
                .map(|&nd| GroupStats::new(hi - lo, nd))
                .collect(),
            held: needs
                .iter()
                .map(|nd| nd.hold.then(|| Held::new(hi - lo, nd.f32)))
                .collect(),
        }
    }

    /// Grows to cover `lo..hi` (at least doubling on the side it grows, up to `ng`).
    pub(super) fn cover(&mut self, lo: usize, hi: usize, ng: usize) {
        if lo >= self.lo && hi <= self.hi {
            return;
        }
        let span = self.hi - self.lo;
        let new_lo = if lo < self.lo {
            lo.min(self.lo.saturating_sub(span))
        } else {
            self.lo
        };
        let new_hi = if hi > self.hi {
            hi.max(self.hi + span).min(ng)
        } else {
            self.hi
        };
        for a in &mut self.accs {
            a.widen(self.lo - new_lo, new_hi - self.hi);
        }
        for h in self.held.iter_mut().flatten() {
            h.widen(self.lo - new_lo, new_hi - self.hi);
        }
        self.lo = new_lo;
        self.hi = new_hi;
    }
}

/// What one rayon worker keeps between tasks.
#[derive(Default)]
pub(super) struct Slot {
    pub(super) part: Option<Partial>,
    pub(super) reader: Option<Reader>,
}

/// Pieces in a row accumulated by one task, and the group indices they touch.
pub(super) struct Task {
    pub(super) pieces: std::ops::Range<usize>,
    pub(super) lo: usize,
    pub(super) hi: usize,
}

/// Per dimension, per index of the region: its contribution to the row-major group
/// index (position in its group keys times their strides, summed over the keys of
/// that dimension; 0 for reduced dimensions), or NO_GROUP for cells in no group.
/// Usually non-decreasing along each dimension, but not always: a calendar
/// component (the month) recurs along its time axis.
pub(super) fn group_contributions(scan: &ScanExec, groups: &[GroupKey]) -> Vec<Vec<usize>> {
    let gstrides = strides(&groups.iter().map(|g| g.len).collect::<Vec<_>>());
    (0..scan.region.rank())
        .map(|d| {
            let len = (scan.region.0[d].end - scan.region.0[d].start) as usize;
            let keys: Vec<usize> = (0..groups.len()).filter(|&o| groups[o].dim == d).collect();
            let v: Vec<usize> = if keys.is_empty() {
                match &scan.dims[d].picks {
                    None => vec![0; len],
                    Some(_) => scan.dims[d]
                        .positions()
                        .iter()
                        .map(|&p| if p == SKIP { NO_GROUP } else { 0 })
                        .collect(),
                }
            } else {
                (0..len)
                    .map(|r| {
                        let mut c = 0usize;
                        for &o in &keys {
                            match groups[o].map[r] {
                                SKIP => return NO_GROUP,
                                p => c += p as usize * gstrides[o],
                            }
                        }
                        c
                    })
                    .collect()
            };
            debug_assert_eq!(v.len(), len);
            v
        })
        .collect()
}

/// The group indices `lo..hi` a piece touches, or None when it selects no cell.
pub(super) fn group_range(
    contrib: &[Vec<usize>],
    piece: &Region,
    region: &Region,
) -> Option<(usize, usize)> {
    let (mut lo, mut hi) = (0usize, 1usize);
    for (d, c) in contrib.iter().enumerate() {
        let s = along(c, piece, region, d);
        let mut kept = s.iter().filter(|&&x| x != NO_GROUP);
        let first = *kept.next()?;
        let (min, max) = kept.fold((first, first), |(a, b), &x| (a.min(x), b.max(x)));
        lo += min;
        hi += max;
    }
    Some((lo, hi))
}

/// Cuts the pieces (in row-major chunk order) into at most `want` runs of about
/// equal length.
pub(super) fn make_tasks(ranges: &[(usize, usize)], want: usize) -> Vec<Task> {
    let n = ranges.len();
    if n == 0 {
        return vec![];
    }
    let k = want.clamp(1, n);
    (0..k)
        .map(|t| {
            let pieces = t * n / k..(t + 1) * n / k;
            let lo = ranges[pieces.clone()].iter().map(|r| r.0).min().unwrap();
            let hi = ranges[pieces.clone()].iter().map(|r| r.1).max().unwrap();
            Task { pieces, lo, hi }
        })
        .collect()
}

/// Accumulates every piece of the scan into the workers' partials (`ng` groups,
/// `needs` per input); returns the partials, not combined yet.
pub(super) fn accumulate_partials(
    op: &AggregateExec,
    ctx: &TaskContext,
    needs: &[NeededStats],
    ng: usize,
) -> Result<Vec<Partial>, QueryError> {
    let scan: &ScanExec = &op.scan;
    let (inputs, groups) = (&op.inputs, &op.groups);
    // Finished partials, combined only when the outputs are computed.
    let done: Mutex<Vec<Partial>> = Mutex::new(Vec::new());
    let retire = |part: Partial| done.lock().push(part);
    if !scan.empty && ng > 0 {
        let contrib = group_contributions(scan, groups);
        let mut all = match &op.rollup {
            // Whole days come from the rollup: only the edges' cells are read.
            Some(r) => r
                .edges
                .iter()
                .flat_map(|e| {
                    let mut edge = scan.region.clone();
                    edge.0[r.dim] = e.clone();
                    scan.selected_pieces(&edge)
                })
                .collect(),
            None => scan.selected_pieces(&scan.region),
        };
        if let Some(s) = &op.statistics {
            // Chunks summed from their statistics are not read.
            let cs = scan.chunk_shape();
            all.retain(|p| !s.whole.contains(&statistics::chunk_of(p, cs)));
        }
        // The group-index range of every piece; pieces selecting nothing are dropped.
        let mut pieces = Vec::with_capacity(all.len());
        let mut ranges = Vec::with_capacity(all.len());
        for p in all {
            if let Some(r) = group_range(&contrib, &p, &scan.region) {
                pieces.push(p);
                ranges.push(r);
            }
        }
        scan.prefetch(&pieces, None);
        let threads = rayon::current_num_threads().max(1);
        // About 1 MB of decoded chunks per task (for balance at the end, when one worker
        // may finish its last task alone), at most 16 tasks per worker (each task may
        // widen a partial).
        let schema = scan.schema();
        let elem: usize = scan
            .attrs
            .iter()
            .filter(|&&a| a < schema.attrs.len())
            .map(|&a| schema.attrs[a].dtype.size())
            .sum();
        let chunk_bytes = schema.layouts[scan.layout].chunk_len() * elem.max(1);
        // A multiple of the workers: with one task more than a round (27 for a week of
        // hourly maps on 2 workers), the last one runs alone while the others wait.
        let want = (pieces.len() * chunk_bytes / (1 << 20))
            .clamp(2 * threads, 16 * threads)
            .next_multiple_of(threads);
        let tasks = make_tasks(&ranges, want);
        let max_task = tasks.iter().map(|t| t.hi - t.lo).max().unwrap_or(0);
        // A worker's partial grows up to about its share of the groups.
        let cap = (2 * ng / threads).max(1 << 16).max(max_task);
        let slots: Vec<Mutex<Slot>> = (0..threads).map(|_| Mutex::default()).collect();
        let coords: Vec<Coordinate> = scan.coords();
        // With only bare attributes as inputs, pieces stay in their decoded chunks (no
        // copy); expressions need piece-shaped columns. When the last dimension is
        // reduced, short rows stay there too: the rows kernel takes them strided, which
        // costs less than cutting them out.
        let views =
            op.mask.is_none() && inputs.iter().all(|i| matches!(i.expr, PExpr::Slot { .. }));
        let short_rows = contrib.last().is_some_and(|c| c.iter().all(|&c| c == 0));
        // A new partial covers the task and room for the worker's next few tasks (which
        // follow in group order), so it rarely grows; growing copies it.
        let fresh = |t: &Task| {
            let room = (t.lo + 4 * (t.hi - t.lo)).min(t.lo + cap).min(ng);
            Partial::new(t.lo, room.max(t.hi), needs)
        };
        tasks
            .par_iter()
            .try_for_each(|task| -> Result<(), QueryError> {
                let si = rayon::current_thread_index().unwrap_or(0) % slots.len();
                let Slot { part, reader } = std::mem::take(&mut *slots[si].lock());
                let mut reader = reader.unwrap_or_else(|| {
                    if views {
                        Reader::with_views(scan, short_rows)
                    } else {
                        Reader::new(scan)
                    }
                });
                let mut part = match part {
                    Some(mut p) => {
                        let span = p.hi.max(task.hi) - p.lo.min(task.lo);
                        if span <= cap {
                            p.cover(task.lo, task.hi, ng);
                            p
                        } else {
                            retire(p);
                            fresh(task)
                        }
                    }
                    None => fresh(task),
                };
                for pi in task.pieces.clone() {
                    let piece = &pieces[pi];
                    reader.read(scan, ctx, piece)?;
                    let t = Instant::now();
                    let shape = piece.shape();
                    let cs: Vec<&[usize]> = (0..shape.len())
                        .map(|d| along(&contrib[d], piece, &scan.region, d))
                        .collect();
                    let own = strides(&shape);
                    let org = origin(piece);
                    let inp = Inputs {
                        slots: &reader.cols,
                        shape: &shape,
                        origin: &org,
                        coords: &coords,
                        n: shape.iter().product(),
                    };
                    let keep = op.mask.as_ref().map(|m| m.keep(&inp));
                    let lo = part.lo;
                    let each = part.accs.iter_mut().zip(part.held.iter_mut());
                    for (((acc, held), input), &need) in each.zip(inputs).zip(needs) {
                        match &input.expr {
                            // Masked: every input (count(*)'s too) is NaN where dropped.
                            e if keep.is_some() => {
                                let args = PieceArgs {
                                    shape: &shape,
                                    contrib: &cs,
                                    lo,
                                    offset: 0,
                                    strides: &own,
                                };
                                let keep = keep.as_deref().unwrap_or_default();
                                let col = apply(keep, eval(e, &inp));
                                accumulate(acc, need, &col, &args);
                                if let Some(h) = held {
                                    h.collect(&col, &args);
                                }
                            }
                            PExpr::Slot { k, .. } => {
                                let (col, offset, st) = reader.input(*k, &shape);
                                let args = PieceArgs {
                                    shape: &shape,
                                    contrib: &cs,
                                    lo,
                                    offset,
                                    strides: &st,
                                };
                                accumulate(acc, need, col, &args);
                                if let Some(h) = held {
                                    h.collect(col, &args);
                                }
                            }
                            e => {
                                let args = PieceArgs {
                                    shape: &shape,
                                    contrib: &cs,
                                    lo,
                                    offset: 0,
                                    strides: &own,
                                };
                                let col = eval(e, &inp);
                                accumulate(acc, need, &col, &args);
                                if let Some(h) = held {
                                    h.collect(&col, &args);
                                }
                            }
                        }
                    }
                    OperatorMetrics::add(&op.metrics.compute_ns, t);
                }
                let mut slot = slots[si].lock();
                if let Some(other) = slot.part.replace(part) {
                    retire(other); // a nested task ran on this worker meanwhile
                }
                slot.reader = Some(reader);
                Ok(())
            })?;
        for s in slots {
            if let Some(p) = s.into_inner().part {
                retire(p);
            }
        }
    }
    Ok(done.into_inner())
}
