//! Quantiles: every non-NaN value of a group is held (as f32 for f32 inputs, else
//! f64), per worker partial over its range of groups like the other statistics;
//! at the end the partials' values are moved into one vector per group and each
//! group's quantiles are found by selection (`select_nth_unstable`, O(n)), groups
//! in parallel. The planner bounds the memory this takes before anything is read.

use super::kernels::{outer_position, PieceArgs, Value};
use super::tasks::Partial;
use crate::eval::Col;
use crate::logical::{AggCall, AggFunc};
use crate::physical::cells::{next_index, NO_GROUP};
use rayon::prelude::*;

/// The values of a contiguous range of groups.
pub(super) enum Held {
    F32(Vec<Vec<f32>>),
    F64(Vec<Vec<f64>>),
}

impl Held {
    pub(super) fn new(len: usize, f32: bool) -> Held {
        if f32 {
            Held::F32(vec![Vec::new(); len])
        } else {
            Held::F64(vec![Vec::new(); len])
        }
    }

    /// Adds `before` empty groups in front and `after` behind.
    pub(super) fn widen(&mut self, before: usize, after: usize) {
        fn w<T>(v: &mut Vec<Vec<T>>, before: usize, after: usize) {
            let old = std::mem::take(v);
            v.reserve(before + old.len() + after);
            v.extend((0..before).map(|_| Vec::new()));
            v.extend(old);
            v.extend((0..after).map(|_| Vec::new()));
        }
        match self {
            Held::F32(v) => w(v, before, after),
            Held::F64(v) => w(v, before, after),
        }
    }

    /// Holds the non-NaN values of a piece (laid out as `a` says) in their groups.
    pub(super) fn collect(&mut self, col: &Col, a: &PieceArgs) {
        match (self, col) {
            (Held::F32(h), Col::F32(v)) => {
                visit_raw(v.as_slice(), a, &mut |g, x: f32| h[g].push(x))
            }
            (Held::F32(h), c) => push_f64(c, a, &mut |g, x| h[g].push(x as f32)),
            (Held::F64(h), c) => push_f64(c, a, &mut |g, x| h[g].push(x)),
        }
    }
}

fn push_f64(c: &Col, a: &PieceArgs, put: &mut dyn FnMut(usize, f64)) {
    let mut each = |g: usize, x: f64| put(g, x);
    match c {
        Col::F32(v) => visit(v, a, &mut each),
        Col::F64(v) => visit(v, a, &mut each),
        Col::I64(v) => visit(v, a, &mut each),
        Col::Bool(v) => visit(v, a, &mut each),
        Col::Const(l) => {
            let n: usize = a.shape.iter().product();
            visit(&vec![crate::eval::lit_f64(*l); n], a, &mut each)
        }
    }
}

/// Calls `put(group - lo, value)` for every non-NaN cell of the piece in a group.
fn visit<T: Value>(data: &[T], a: &PieceArgs, put: &mut dyn FnMut(usize, f64)) {
    visit_raw(data, a, &mut |g, x: T| put(g, x.as_f64()));
}

fn visit_raw<T: Value>(data: &[T], a: &PieceArgs, put: &mut dyn FnMut(usize, T)) {
    let rank = a.shape.len();
    if data.is_empty() || rank == 0 {
        return;
    }
    let last = a.contrib[rank - 1];
    let outer: usize = a.shape[..rank - 1].iter().product();
    let mut idx = vec![0usize; rank - 1];
    for _ in 0..outer {
        if let Some((base, off)) = outer_position(a.contrib, a.strides, &idx, a.offset) {
            for (&x, &c) in data[off..off + a.shape[rank - 1]].iter().zip(last) {
                if c != NO_GROUP && !x.as_f64().is_nan() {
                    put(base + c - a.lo, x);
                }
            }
        }
        next_index(&mut idx, &a.shape[..rank - 1]);
    }
}

/// The quantile `q` of `v` (no NaN), interpolated linearly between the closest
/// ranks as numpy's default method does: at rank `h = (n - 1) q`, `lerp(x[floor h],
/// x[floor h + 1], h - floor h)`, with numpy's form of the lerp (from the upper
/// value when the fraction is at least 1/2). NaN for no values.
pub(super) fn quantile<T: Copy + PartialOrd + Into<f64>>(v: &mut [T], q: f64) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * q;
    let k = (h.floor() as usize).min(n - 1);
    let t = h - k as f64;
    let cmp = |a: &T, b: &T| a.partial_cmp(b).expect("no NaN is held");
    let (_, a, above) = v.select_nth_unstable_by(k, cmp);
    let a: f64 = (*a).into();
    let Some(b) = above.iter().copied().min_by(cmp) else {
        return a;
    };
    let b: f64 = b.into();
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// The columns of the quantile calls (`None` for the others), over all `ng` groups,
/// from the values the partials hold (moved out of them).
pub(super) fn quantile_columns(
    parts: &mut [Partial],
    calls: &[AggCall],
    ng: usize,
) -> Vec<Option<Col>> {
    let mut out: Vec<Option<Col>> = calls.iter().map(|_| None).collect();
    let mut inputs: Vec<usize> = calls
        .iter()
        .filter(|c| c.func == AggFunc::Quantile)
        .map(|c| c.input)
        .collect();
    inputs.sort_unstable();
    inputs.dedup();
    for input in inputs {
        let ks: Vec<usize> = (0..calls.len())
            .filter(|&k| calls[k].func == AggFunc::Quantile && calls[k].input == input)
            .collect();
        let qs: Vec<f64> = ks.iter().map(|&k| calls[k].q.unwrap_or(0.5)).collect();
        let f32 = parts
            .iter()
            .any(|p| matches!(p.held[input], Some(Held::F32(_))));
        let flat = match f32 {
            true => per_group::<f32>(parts, input, ng, &qs, |h| match h {
                Held::F32(v) => v,
                Held::F64(_) => unreachable!("one type per input"),
            }),
            false => per_group::<f64>(parts, input, ng, &qs, |h| match h {
                Held::F64(v) => v,
                Held::F32(_) => unreachable!("one type per input"),
            }),
        };
        for (j, &k) in ks.iter().enumerate() {
            out[k] = Some(Col::F64(
                flat.iter().skip(j).step_by(qs.len()).copied().collect(),
            ));
        }
    }
    out
}

/// Every group's quantiles `qs` (group-major), from the values of `input` the
/// partials hold.
fn per_group<T: Copy + PartialOrd + Into<f64> + Send>(
    parts: &mut [Partial],
    input: usize,
    ng: usize,
    qs: &[f64],
    vals: impl Fn(Held) -> Vec<Vec<T>>,
) -> Vec<f64> {
    let mut groups: Vec<Vec<T>> = (0..ng).map(|_| Vec::new()).collect();
    for p in parts.iter_mut() {
        let Some(h) = p.held[input].take() else {
            continue;
        };
        for (g, mut v) in (p.lo..p.hi).zip(vals(h)) {
            if groups[g].is_empty() {
                groups[g] = v; // moved, not copied
            } else {
                groups[g].append(&mut v);
            }
        }
    }
    let mut flat = vec![f64::NAN; ng * qs.len()];
    flat.par_chunks_mut(qs.len())
        .zip(groups.par_iter_mut())
        .with_min_len(64)
        .for_each(|(o, v)| {
            for (x, &q) in o.iter_mut().zip(qs) {
                *x = quantile(v, q);
            }
            *v = Vec::new(); // free as we go
        });
    flat
}

#[cfg(test)]
mod tests {
    use super::{quantile, Held};
    use crate::eval::Col;
    use crate::physical::aggregate::kernels::PieceArgs;
    use crate::physical::cells::NO_GROUP;

    #[test]
    fn values_go_to_their_groups_from_a_strided_piece() {
        // A 2 x 3 piece at offset 1 of rows 4 long; groups recur along the last
        // dimension (a calendar component) and one column is in no group.
        let data: Vec<f32> = (0..8).map(|x| x as f32).collect();
        let mut data = data;
        data[6] = f32::NAN;
        let last = [3usize, NO_GROUP, 1];
        let first = [0usize, 4];
        let a = PieceArgs {
            shape: &[2, 3],
            contrib: &[&first, &last],
            lo: 1,
            offset: 1,
            strides: &[4, 1],
        };
        let mut h = Held::new(7, true);
        h.collect(&Col::F32(data), &a);
        let Held::F32(g) = h else { unreachable!() };
        // Row 0 (cells 1, 2, 3) -> groups 3, none, 1; row 1 (cells 5, NaN, 7) -> groups
        // 7, skipped, 5; stored from group lo = 1.
        assert_eq!(g[2], vec![1.0]);
        assert_eq!(g[0], vec![3.0]);
        assert_eq!(g[6], vec![5.0]);
        assert_eq!(g[4], vec![7.0]);
        assert!(g[1].is_empty() && g[3].is_empty() && g[5].is_empty());
    }

    #[test]
    fn linear_interpolation_between_ranks() {
        let mut v = vec![4.0f64, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&mut v, 0.5), 2.5);
        assert_eq!(quantile(&mut v, 0.0), 1.0);
        assert_eq!(quantile(&mut v, 1.0), 4.0);
        // h = 3 * 0.9 = 2.7: 3 + 0.7 * (4 - 3).
        assert!((quantile(&mut v, 0.9) - 3.7).abs() < 1e-12);
        assert!(quantile::<f64>(&mut [], 0.5).is_nan());
        assert_eq!(quantile(&mut [7.0f32], 0.3), 7.0);
    }
}
