//! Per-group statistics of one aggregate input: counts, sums and sums of squares
//! of values shifted by the first one seen, minima and maxima, over a contiguous
//! range of group indices; and how partials of several workers merge.

use crate::eval::EType;
use crate::logical::AggInput;
use std::borrow::Cow;

use super::kernels::Value;

/// The statistics an input's calls need (the count is always kept).
#[derive(Clone, Copy, Debug)]
pub(super) struct NeededStats {
    pub(super) sum: bool,
    pub(super) min: bool,
    pub(super) max: bool,
    pub(super) var: bool,
    /// The input is f32.
    pub(super) f32: bool,
    /// Every value is held (quantiles).
    pub(super) hold: bool,
}

impl NeededStats {
    pub(super) fn of(i: &AggInput) -> NeededStats {
        NeededStats {
            sum: i.sum || i.var,
            min: i.min,
            max: i.max,
            var: i.var,
            f32: i.expr.ty() == EType::F32,
            hold: i.hold,
        }
    }
}

/// Statistics per group of one input over a contiguous range of group indices, with
/// values shifted by `shift` (the first value seen) so sums of squares keep their
/// precision. Vectors a call does not need stay empty.
pub(super) struct GroupStats {
    /// Subtracted from every value before it is summed (NaN until a value is seen).
    pub(super) shift: f64,
    /// Groups held.
    pub(super) len: usize,
    /// Counts of non-NaN values (allocated on first use: slice runs without NaN only
    /// record visits).
    pub(super) counts: Vec<u64>,
    /// Group ranges `(g0, len)` of NaN-free slice runs, each counting one value per
    /// group; folded into `counts` by `counts_mut` / `counts_in`, so the hot loop of a
    /// slice run touches one state vector instead of two.
    pub(super) visits: Vec<(usize, usize)>,
    /// Sums of `value - shift` (sums, averages, variances).
    pub(super) sums: Vec<f64>,
    /// Sums of `(value - shift)^2` (variances, standard deviations).
    pub(super) sums_sq: Vec<f64>,
    /// Minima and maxima in f64 (f64 or integer data, and merged partials).
    pub(super) mins: Vec<f64>,
    pub(super) maxs: Vec<f64>,
    /// Minima / maxima of f32 inputs, kept in f32 while accumulating (exact, and half
    /// the memory traffic); folded into `mins` / `maxs` when partials merge (`merge_from`).
    pub(super) mins_f32: Vec<f32>,
    pub(super) maxs_f32: Vec<f32>,
}

impl GroupStats {
    pub(super) fn new(len: usize, need: NeededStats) -> GroupStats {
        let v = |on: bool, x: f64| if on { vec![x; len] } else { vec![] };
        let v32 = |on: bool, x: f32| if on { vec![x; len] } else { vec![] };
        GroupStats {
            shift: f64::NAN,
            len,
            counts: vec![],
            visits: vec![],
            sums: v(need.sum, 0.0),
            sums_sq: v(need.var, 0.0),
            mins: v(need.min && !need.f32, f64::INFINITY),
            maxs: v(need.max && !need.f32, f64::NEG_INFINITY),
            mins_f32: v32(need.min && need.f32, f32::INFINITY),
            maxs_f32: v32(need.max && need.f32, f32::NEG_INFINITY),
        }
    }

    /// Adds `before` empty groups in front and `after` behind.
    pub(super) fn widen(&mut self, before: usize, after: usize) {
        fn w<T: Copy>(v: &mut Vec<T>, x: T, before: usize, after: usize) {
            if v.is_empty() {
                return;
            }
            let mut out = Vec::with_capacity(before + v.len() + after);
            out.resize(before, x);
            out.extend_from_slice(v);
            out.resize(out.len() + after, x);
            *v = out;
        }
        w(&mut self.counts, 0, before, after);
        for v in &mut self.visits {
            v.0 += before;
        }
        self.len += before + after;
        w(&mut self.sums, 0.0, before, after);
        w(&mut self.sums_sq, 0.0, before, after);
        w(&mut self.mins, f64::INFINITY, before, after);
        w(&mut self.maxs, f64::NEG_INFINITY, before, after);
        w(&mut self.mins_f32, f32::INFINITY, before, after);
        w(&mut self.maxs_f32, f32::NEG_INFINITY, before, after);
    }

    /// Folds `v` into the minimum of group `g` (f32 state for f32 data).
    #[inline(always)]
    pub(super) fn fold_min<T: Value>(&mut self, g: usize, v: f64) {
        if T::IS_F32 && !self.mins_f32.is_empty() {
            self.mins_f32[g] = self.mins_f32[g].min(v as f32);
        } else {
            if self.mins.is_empty() {
                self.mins = vec![f64::INFINITY; self.len];
            }
            self.mins[g] = self.mins[g].min(v);
        }
    }

    #[inline(always)]
    pub(super) fn fold_max<T: Value>(&mut self, g: usize, v: f64) {
        if T::IS_F32 && !self.maxs_f32.is_empty() {
            self.maxs_f32[g] = self.maxs_f32[g].max(v as f32);
        } else {
            if self.maxs.is_empty() {
                self.maxs = vec![f64::NEG_INFINITY; self.len];
            }
            self.maxs[g] = self.maxs[g].max(v);
        }
    }

    /// Counts one visit of every group in `g0..g0 + len`.
    #[inline(always)]
    pub(super) fn visit(&mut self, g0: usize, len: usize) {
        self.visits.push((g0, len));
    }

    /// The counts, allocated on first use.
    #[inline(always)]
    pub(super) fn counts_mut(&mut self) -> &mut [u64] {
        if self.counts.is_empty() {
            self.counts = vec![0; self.len];
        }
        &mut self.counts
    }

    /// The counts of groups `r`: `counts` plus the visits of NaN-free slice runs.
    pub(super) fn counts_in(&self, r: std::ops::Range<usize>) -> Vec<u64> {
        let len = r.len();
        // Where the number of visits covering a group changes inside `r`: visits are
        // usually few and long (whole maps), and the counts are then runs of one
        // value (plus `counts`), written in one pass.
        let mut steps: Vec<(usize, i64)> = Vec::new();
        for &(g0, l) in &self.visits {
            let (a, b) = (g0.max(r.start), (g0 + l).min(r.end));
            if a < b {
                steps.push((a - r.start, 1));
                if b < r.end {
                    steps.push((b - r.start, -1));
                }
            }
        }
        let n = (!self.counts.is_empty()).then(|| &self.counts[r.clone()]);
        if steps.len() > len / 8 {
            // Many short visits: a difference array, then one running sum.
            let mut c = n.map_or_else(|| vec![0u64; len], |n| n.to_vec());
            let mut diff = vec![0i64; len + 1];
            for (at, v) in steps {
                diff[at] += v;
            }
            let mut run = 0i64;
            for (x, &v) in c.iter_mut().zip(&diff) {
                run += v;
                *x += run as u64;
            }
            return c;
        }
        steps.sort_unstable_by_key(|s| s.0);
        let mut c = Vec::with_capacity(len);
        let (mut run, mut i) = (0i64, 0);
        while c.len() < len {
            let at = c.len();
            while i < steps.len() && steps[i].0 == at {
                run += steps[i].1;
                i += 1;
            }
            let next = steps.get(i).map_or(len, |s| s.0);
            match n {
                Some(n) => c.extend(n[at..next].iter().map(|&x| x + run as u64)),
                None => c.resize(next, run as u64),
            }
        }
        c
    }

    /// The counts of groups `r`, borrowed when they are all in `counts`.
    pub(super) fn counts_of(&self, r: std::ops::Range<usize>) -> Cow<'_, [u64]> {
        if self.visits.is_empty() && !self.counts.is_empty() {
            Cow::Borrowed(&self.counts[r])
        } else {
            Cow::Owned(self.counts_in(r))
        }
    }

    /// Adds groups `off..off + self.len` of the worker partial `part` (counts still
    /// partly as visits, extrema of f32 data in f32) to this one, which holds f64
    /// extrema and plain counts.
    pub(super) fn merge_from(&mut self, part: &GroupStats, off: usize) {
        if part.shift.is_nan() {
            return; // saw nothing
        }
        if self.shift.is_nan() {
            self.shift = part.shift;
        }
        let d = part.shift - self.shift;
        let len = self.len;
        let r = off..off + len;
        let pn = part.counts_in(r.clone());
        let (pmn, pmx) = (
            Ext::of(&part.mins, &part.mins_f32, r.clone()),
            Ext::of(&part.maxs, &part.maxs_f32, r.clone()),
        );
        self.counts_mut();
        if pmn.is_some() && self.mins.is_empty() {
            self.mins = vec![f64::INFINITY; len];
        }
        if pmx.is_some() && self.maxs.is_empty() {
            self.maxs = vec![f64::NEG_INFINITY; len];
        }
        if !d.is_finite() {
            // Infinite values as shifts: keep groups without values untouched.
            for (g, &n) in pn.iter().enumerate() {
                if n == 0 {
                    continue;
                }
                let (p, nf) = (off + g, n as f64);
                self.counts[g] += n;
                if !part.sums_sq.is_empty() {
                    self.sums_sq[g] += part.sums_sq[p] + 2.0 * d * part.sums[p] + nf * d * d;
                }
                if !part.sums.is_empty() {
                    self.sums[g] += part.sums[p] + nf * d;
                }
                if let Some(m) = pmn {
                    self.mins[g] = self.mins[g].min(m.get(g));
                }
                if let Some(m) = pmx {
                    self.maxs[g] = self.maxs[g].max(m.get(g));
                }
            }
            return;
        }
        for (g, &p) in self.counts.iter_mut().zip(&pn) {
            *g += p;
        }
        if !part.sums_sq.is_empty() {
            let it = self.sums_sq.iter_mut().zip(&part.sums_sq[r.clone()]);
            for ((g, &q), (&s, &n)) in it.zip(part.sums[r.clone()].iter().zip(&pn)) {
                *g += q + 2.0 * d * s + n as f64 * d * d;
            }
        }
        if !part.sums.is_empty() {
            let it = self.sums.iter_mut().zip(&part.sums[r.clone()]);
            for ((g, &s), &n) in it.zip(&pn) {
                *g += s + n as f64 * d;
            }
        }
        if let Some(m) = pmn {
            m.fold_into(&mut self.mins, f64::min);
        }
        if let Some(m) = pmx {
            m.fold_into(&mut self.maxs, f64::max);
        }
    }
}

/// Extrema of some groups of a partial: f64, or still f32 (f32 data).
#[derive(Clone, Copy)]
pub(super) enum Ext<'a> {
    F64(&'a [f64]),
    F32(&'a [f32]),
}

impl<'a> Ext<'a> {
    pub(super) fn of(v64: &'a [f64], v32: &'a [f32], r: std::ops::Range<usize>) -> Option<Ext<'a>> {
        if !v64.is_empty() {
            Some(Ext::F64(&v64[r]))
        } else if !v32.is_empty() {
            Some(Ext::F32(&v32[r]))
        } else {
            None
        }
    }

    pub(super) fn get(self, g: usize) -> f64 {
        match self {
            Ext::F64(v) => v[g],
            Ext::F32(v) => v[g] as f64,
        }
    }

    /// `dst[g] = f(dst[g], self[g])`.
    pub(super) fn fold_into(self, dst: &mut [f64], f: impl Fn(f64, f64) -> f64) {
        match self {
            Ext::F64(v) => dst.iter_mut().zip(v).for_each(|(d, &x)| *d = f(*d, x)),
            Ext::F32(v) => dst
                .iter_mut()
                .zip(v)
                .for_each(|(d, &x)| *d = f(*d, x as f64)),
        }
    }
}
