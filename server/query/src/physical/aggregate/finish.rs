//! The end of an aggregation: the workers' partials combined per segment of the
//! group range (in parallel, no lock), every call finished into its column, and the
//! output expressions evaluated over the calls.

use super::accumulator::{GroupStats, NeededStats};
use super::tasks::Partial;
use crate::eval::{eval, Col, Inputs, PExpr};
use crate::logical::{AggCall, AggFunc};
use crate::physical::cells::{count_slots, OutCols};
use rayon::prelude::*;
use std::borrow::Cow;
use std::mem::MaybeUninit;

/// Every call's column over all `ng` groups, from the workers' partials: the group
/// range is cut where partials begin or end; a segment covered by one partial is
/// finished straight from it, one covered by several is merged first (in pieces
/// that stay in cache), one covered by none holds empty groups. Segments are
/// finished in parallel into the output columns.
pub(super) fn combine(
    mut parts: Vec<Partial>,
    needs: &[NeededStats],
    calls: &[AggCall],
    ng: usize,
) -> Vec<Col> {
    const PIECE: usize = 1 << 14;
    parts.sort_by_key(|p| (p.lo, p.hi));
    let mut cuts: Vec<usize> = vec![0, ng];
    for p in &parts {
        cuts.push(p.lo);
        cuts.push(p.hi);
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut segs: Vec<(usize, usize)> = Vec::new();
    for w in cuts.windows(2) {
        let (mut a, b) = (w[0], w[1]);
        while a < b {
            let e = (a + PIECE).min(b);
            segs.push((a, e));
            a = e;
        }
    }
    // Output columns are written (every element, by the segments) through their spare
    // capacity, then given their length: no fill pass over fresh memory.
    let mut cols: Vec<Col> = calls
        .iter()
        .map(|c| match c.func {
            AggFunc::Count => Col::I64(Vec::with_capacity(ng)),
            _ => Col::F64(Vec::with_capacity(ng)),
        })
        .collect();
    let ptrs = OutCols(
        cols.iter_mut()
            .map(|c| match c {
                Col::I64(v) => (v.as_mut_ptr() as *mut u8, ng),
                Col::F64(v) => (v.as_mut_ptr() as *mut u8, ng),
                _ => unreachable!("calls are counts or f64"),
            })
            .collect(),
    );
    segs.par_iter().for_each(|&(a, e)| {
        let over: Vec<&Partial> = parts.iter().filter(|p| p.lo <= a && p.hi >= e).collect();
        // A segment covered by one partial is finished straight from its statistics;
        // one covered by several merges them first (in cache: segments are short), as
        // f64 with plain counts.
        let merged: Vec<GroupStats>;
        let (accs, off): (Vec<&GroupStats>, usize) = match over[..] {
            [p] => (p.accs.iter().collect(), a - p.lo),
            _ => {
                merged = needs
                    .iter()
                    .enumerate()
                    .map(|(i, &nd)| {
                        let mut acc = GroupStats::new(e - a, NeededStats { f32: false, ..nd });
                        for p in &over {
                            acc.merge_from(&p.accs[i], a - p.lo);
                        }
                        acc
                    })
                    .collect();
                (merged.iter().collect(), 0)
            }
        };
        let r = off..off + (e - a);
        let counts: Vec<Cow<[u64]>> = accs.iter().map(|acc| acc.counts_of(r.clone())).collect();
        for (ci, c) in calls.iter().enumerate() {
            let (ptr, len) = ptrs.get(ci);
            assert!(e <= len, "segment inside the column");
            let n = &counts[c.input];
            // SAFETY: segments are disjoint ranges of every output column's capacity,
            // each written by one worker (as MaybeUninit: nothing is read); the columns
            // outlive the loop.
            if c.func == AggFunc::Count {
                let out = unsafe {
                    std::slice::from_raw_parts_mut((ptr as *mut MaybeUninit<i64>).add(a), e - a)
                };
                for (o, &n) in out.iter_mut().zip(n.iter()) {
                    o.write(n as i64);
                }
            } else {
                let out = unsafe {
                    std::slice::from_raw_parts_mut((ptr as *mut MaybeUninit<f64>).add(a), e - a)
                };
                finish_into(accs[c.input], r.clone(), n, c.func, out);
            }
        }
    });
    debug_assert_eq!(segs.iter().map(|(a, e)| e - a).sum::<usize>(), ng);
    for c in &mut cols {
        // SAFETY: the segments cover 0..ng exactly once (cut points from 0 to ng), so
        // every element was written above; capacity is ng.
        unsafe {
            match c {
                Col::I64(v) => v.set_len(ng),
                Col::F64(v) => v.set_len(ng),
                _ => unreachable!(),
            }
        }
    }
    cols
}

/// The value of call `f` for the groups `r` of `acc` (never a count), into `out`;
/// `n` are the counts of those groups.
pub(super) fn finish_into(
    acc: &GroupStats,
    r: std::ops::Range<usize>,
    n: &[u64],
    f: AggFunc,
    out: &mut [MaybeUninit<f64>],
) {
    if acc.shift.is_nan() {
        // Saw no value: every group is empty, and an aggregate of nothing is
        // missing (SQL's NULL), the sum included.
        for o in out.iter_mut() {
            o.write(f64::NAN);
        }
        return;
    }
    let k = acc.shift;
    // Extrema of f32 data may still be in f32 (a worker's own partial).
    let pick = |v: &[f64], v32: &[f32], out: &mut [MaybeUninit<f64>]| {
        if v.is_empty() {
            for ((o, &c), &x) in out.iter_mut().zip(n).zip(&v32[r.clone()]) {
                o.write(if c == 0 { f64::NAN } else { x as f64 });
            }
        } else {
            for ((o, &c), &x) in out.iter_mut().zip(n).zip(&v[r.clone()]) {
                o.write(if c == 0 { f64::NAN } else { x });
            }
        }
    };
    match f {
        AggFunc::Count => unreachable!("counts are integers"),
        // Computed from the held values (`held`), which replace this column.
        AggFunc::Quantile => {
            for o in out.iter_mut() {
                o.write(f64::NAN);
            }
        }
        AggFunc::Min => pick(&acc.mins, &acc.mins_f32, out),
        AggFunc::Max => pick(&acc.maxs, &acc.maxs_f32, out),
        AggFunc::Sum => {
            for ((o, &c), &s) in out.iter_mut().zip(n).zip(&acc.sums[r.clone()]) {
                o.write(if c == 0 { f64::NAN } else { c as f64 * k + s });
            }
        }
        AggFunc::Avg => {
            for ((o, &c), &s) in out.iter_mut().zip(n).zip(&acc.sums[r.clone()]) {
                o.write(if c == 0 { f64::NAN } else { k + s / c as f64 });
            }
        }
        AggFunc::VarPop | AggFunc::StdPop | AggFunc::VarSamp | AggFunc::StdSamp => {
            let (s, q) = (&acc.sums[r.clone()], &acc.sums_sq[r.clone()]);
            for (g, o) in out.iter_mut().enumerate() {
                let c = n[g];
                let nf = c as f64;
                o.write(if c == 0 {
                    f64::NAN
                } else {
                    let m2 = (q[g] - s[g] * s[g] / nf).max(0.0);
                    let v = match f {
                        AggFunc::VarPop | AggFunc::StdPop => m2 / nf,
                        _ if c < 2 => f64::NAN,
                        _ => m2 / (nf - 1.0),
                    };
                    if matches!(f, AggFunc::StdPop | AggFunc::StdSamp) {
                        v.sqrt()
                    } else {
                        v
                    }
                });
            }
        }
    }
}

/// The output columns (each over all `ng` groups of shape `gshape`) from the
/// calls' columns.
pub(super) fn output_columns(
    outputs: &[PExpr],
    mut call_cols: Vec<Col>,
    gshape: &[usize],
    ng: usize,
) -> Vec<Col> {
    let coords = Vec::new();
    let shape = if gshape.is_empty() {
        vec![1]
    } else {
        gshape.to_vec()
    };
    let origin = vec![0u64; shape.len()];
    let inp = Inputs {
        slots: &call_cols,
        shape: &shape,
        origin: &origin,
        coords: &coords,
        n: ng,
    };
    // Outputs that are one call used nowhere else take its column (no copy); the
    // others are evaluated over the calls first.
    let mut uses = vec![0usize; call_cols.len()];
    outputs.iter().for_each(|o| count_slots(o, &mut uses));
    let own = |o: &PExpr| matches!(o, PExpr::Slot { k, .. } if uses[*k] == 1);
    let mut out: Vec<Option<Col>> = outputs
        .iter()
        .map(|o| (!own(o)).then(|| eval(o, &inp).into_type(o.ty(), ng)))
        .collect();
    for (slot, o) in out.iter_mut().zip(outputs) {
        if let PExpr::Slot { k, .. } = o {
            if slot.is_none() {
                let c = std::mem::replace(&mut call_cols[*k], Col::F64(vec![]));
                *slot = Some(c.into_type(o.ty(), ng));
            }
        }
    }
    out.into_iter()
        .map(|c| c.expect("every output computed"))
        .collect()
}

/// Which groups satisfy the HAVING condition `h` (over the calls' columns).
pub(super) fn having_keep(h: &PExpr, call_cols: &[Col], gshape: &[usize], ng: usize) -> Vec<bool> {
    let shape = if gshape.is_empty() {
        vec![1]
    } else {
        gshape.to_vec()
    };
    let origin = vec![0u64; shape.len()];
    let inp = Inputs {
        slots: call_cols,
        shape: &shape,
        origin: &origin,
        coords: &[],
        n: ng,
    };
    eval(h, &inp).bools(ng)
}
