//! Physical execution: chunk-aligned scans through one layout, element-wise
//! evaluation over whole chunks, and partial aggregates per worker combined at the
//! end. Nothing here holds more than the result, the aggregation state and the
//! chunks in flight.
//!
//! Aggregation: the pieces of the region (one chunk each) are cut into contiguous
//! tasks; a rayon worker accumulates every task it runs into its own partial state,
//! which covers a contiguous range of group indices and grows with the tasks (so
//! each worker holds about its share of the groups; past a cap it starts a new one).
//! Finished partials are only set aside; at the end the group range is cut where
//! partials begin and end and every segment is finished in parallel, straight from
//! the one partial covering it or after merging the few that overlap: no lock and
//! no shared state per chunk. Per piece, the trailing dimensions are folded into
//! runs: a long run of cells that all fall into one group (a whole map for `GROUP BY
//! time` over map tiles, everything for a scalar) is reduced in wide NaN-free lanes
//! (redone with masks only when it holds a NaN), and groups made of shorter runs (the
//! rows of a box, read strided from the decoded chunk) add up in lanes summed once per
//! group (`rows`); a run that maps onto consecutive groups (a map for `GROUP BY lat,
//! lon`) takes one pass per statistic over a slice of the state; anything else (label
//! picks, group keys in another order) goes cell by cell. The kernels are compiled
//! twice, for AVX2 and the baseline, and picked at run time (same arithmetic, same
//! results).

use crate::error::QueryError;
use crate::eval::{eval, Col, EType, Inputs, PExpr};
use crate::logical::{AggCall, AggFunc, AggInput, GroupKey, Kind, Plan, SKIP};
use crate::scan::{next_index, strides, Reader};
use arrayq_storage::{Coordinate, ReadStats, Region};
use parking_lot::Mutex;
use rayon::prelude::*;
use std::borrow::Cow;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

mod rows;

/// Cancellation, deadline and counters shared by one query's workers.
pub struct Exec {
    pub cancel: Arc<AtomicBool>,
    pub deadline: Option<Instant>,
    pub read: ReadStats,
    pub read_ns: AtomicU64,
    pub compute_ns: AtomicU64,
    pub merge_ns: AtomicU64,
}

impl Exec {
    pub fn new(cancel: Arc<AtomicBool>, deadline: Option<Instant>) -> Exec {
        Exec {
            cancel,
            deadline,
            read: ReadStats::default(),
            read_ns: AtomicU64::new(0),
            compute_ns: AtomicU64::new(0),
            merge_ns: AtomicU64::new(0),
        }
    }

    pub fn check(&self) -> Result<(), QueryError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(QueryError::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(QueryError::Timeout);
        }
        Ok(())
    }

    fn add(&self, ctr: &AtomicU64, since: Instant) {
        ctr.fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

/// The pieces of `region` cut along the chunks of `chunk_shape`, row-major.
pub fn chunk_pieces(region: &Region, chunk_shape: &[u64]) -> Vec<Region> {
    region
        .chunks(chunk_shape)
        .iter()
        .map(|c| {
            Region::of_chunk(c, chunk_shape)
                .intersect(region)
                .expect("chunk touches region")
        })
        .collect()
}

/// The pieces of `region` that hold at least one selected cell: with label picks
/// (`asset IN (1, 51, 101)`) chunks between the picked labels are never read.
pub fn selected_pieces(plan: &Plan, region: &Region) -> Vec<Region> {
    let chunk_shape = &plan.snap.schema().layouts[plan.layout].chunk_shape;
    let mut pieces = chunk_pieces(region, chunk_shape);
    pieces.retain(|p| {
        plan.dims.iter().zip(&p.0).all(|(sel, r)| match &sel.picks {
            None => true,
            Some(picks) => {
                let k = picks.partition_point(|&i| i < r.start);
                k < picks.len() && picks[k] < r.end
            }
        })
    });
    pieces
}

fn origin(piece: &Region) -> Vec<u64> {
    piece.0.iter().map(|r| r.start).collect()
}

/// The slice of per-region-index values `v` (along `d`) that `piece` covers.
fn along<'a, T>(v: &'a [T], piece: &Region, region: &Region, d: usize) -> &'a [T] {
    let base = region.0[d].start;
    &v[(piece.0[d].start - base) as usize..(piece.0[d].end - base) as usize]
}

// ---------------------------------------------------------------- aggregation

/// A cell that belongs to no group (an unpicked label).
const NO_GROUP: usize = usize::MAX;

/// The statistics an input's calls need (the count is always kept).
#[derive(Clone, Copy, Debug)]
struct Need {
    sum: bool,
    min: bool,
    max: bool,
    var: bool,
    /// The input is f32.
    f32: bool,
}

impl Need {
    fn of(i: &AggInput) -> Need {
        Need {
            sum: i.sum || i.var,
            min: i.min,
            max: i.max,
            var: i.var,
            f32: i.expr.ty() == EType::F32,
        }
    }
}

/// Statistics per group of one input over a contiguous range of group indices, with
/// values shifted by `k` (the first value seen) so sums of squares keep their
/// precision. Vectors a call does not need stay empty.
struct Acc {
    k: f64,
    /// Groups held.
    len: usize,
    /// Counts of non-NaN values (allocated on first use: slice runs without NaN only
    /// record visits).
    n: Vec<u64>,
    /// Group ranges `(g0, len)` of NaN-free slice runs, each counting one value per
    /// group; folded into `n` by `counts` / `counts_in`, so the hot loop of a slice run touches one
    /// state vector instead of two.
    visits: Vec<(usize, usize)>,
    s: Vec<f64>,
    q: Vec<f64>,
    mn: Vec<f64>,
    mx: Vec<f64>,
    /// Minima / maxima of f32 inputs, kept in f32 while accumulating (exact, and half
    /// the memory traffic); folded into `mn` / `mx` when partials merge (`merge_from`).
    mn32: Vec<f32>,
    mx32: Vec<f32>,
}

impl Acc {
    fn new(len: usize, need: Need) -> Acc {
        let v = |on: bool, x: f64| if on { vec![x; len] } else { vec![] };
        let v32 = |on: bool, x: f32| if on { vec![x; len] } else { vec![] };
        Acc {
            k: f64::NAN,
            len,
            n: vec![],
            visits: vec![],
            s: v(need.sum, 0.0),
            q: v(need.var, 0.0),
            mn: v(need.min && !need.f32, f64::INFINITY),
            mx: v(need.max && !need.f32, f64::NEG_INFINITY),
            mn32: v32(need.min && need.f32, f32::INFINITY),
            mx32: v32(need.max && need.f32, f32::NEG_INFINITY),
        }
    }

    /// Adds `before` empty groups in front and `after` behind.
    fn widen(&mut self, before: usize, after: usize) {
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
        w(&mut self.n, 0, before, after);
        for v in &mut self.visits {
            v.0 += before;
        }
        self.len += before + after;
        w(&mut self.s, 0.0, before, after);
        w(&mut self.q, 0.0, before, after);
        w(&mut self.mn, f64::INFINITY, before, after);
        w(&mut self.mx, f64::NEG_INFINITY, before, after);
        w(&mut self.mn32, f32::INFINITY, before, after);
        w(&mut self.mx32, f32::NEG_INFINITY, before, after);
    }

    /// Folds `v` into the minimum of group `g` (f32 state for f32 data).
    #[inline(always)]
    fn fold_min<T: Val>(&mut self, g: usize, v: f64) {
        if T::F32 && !self.mn32.is_empty() {
            self.mn32[g] = self.mn32[g].min(v as f32);
        } else {
            if self.mn.is_empty() {
                self.mn = vec![f64::INFINITY; self.len];
            }
            self.mn[g] = self.mn[g].min(v);
        }
    }

    #[inline(always)]
    fn fold_max<T: Val>(&mut self, g: usize, v: f64) {
        if T::F32 && !self.mx32.is_empty() {
            self.mx32[g] = self.mx32[g].max(v as f32);
        } else {
            if self.mx.is_empty() {
                self.mx = vec![f64::NEG_INFINITY; self.len];
            }
            self.mx[g] = self.mx[g].max(v);
        }
    }

    /// Counts one visit of every group in `g0..g0 + len`.
    #[inline(always)]
    fn visit(&mut self, g0: usize, len: usize) {
        self.visits.push((g0, len));
    }

    /// The counts, allocated on first use.
    #[inline(always)]
    fn counts(&mut self) -> &mut [u64] {
        if self.n.is_empty() {
            self.n = vec![0; self.len];
        }
        &mut self.n
    }

    /// The counts of groups `r`: `n` plus the visits of NaN-free slice runs.
    fn counts_in(&self, r: std::ops::Range<usize>) -> Vec<u64> {
        let len = r.len();
        // Where the number of visits covering a group changes inside `r`: visits are
        // usually few and long (whole maps), and the counts are then runs of one
        // value (plus `n`), written in one pass.
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
        let n = (!self.n.is_empty()).then(|| &self.n[r.clone()]);
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

    /// The counts of groups `r`, borrowed when they are all in `n`.
    fn counts_of(&self, r: std::ops::Range<usize>) -> Cow<'_, [u64]> {
        if self.visits.is_empty() && !self.n.is_empty() {
            Cow::Borrowed(&self.n[r])
        } else {
            Cow::Owned(self.counts_in(r))
        }
    }

    /// Adds groups `off..off + self.len` of the worker partial `part` (counts still
    /// partly as visits, extrema of f32 data in f32) to this one, which holds f64
    /// extrema and plain counts.
    fn merge_from(&mut self, part: &Acc, off: usize) {
        if part.k.is_nan() {
            return; // saw nothing
        }
        if self.k.is_nan() {
            self.k = part.k;
        }
        let d = part.k - self.k;
        let len = self.len;
        let r = off..off + len;
        let pn = part.counts_in(r.clone());
        let (pmn, pmx) = (
            Ext::of(&part.mn, &part.mn32, r.clone()),
            Ext::of(&part.mx, &part.mx32, r.clone()),
        );
        self.counts();
        if pmn.is_some() && self.mn.is_empty() {
            self.mn = vec![f64::INFINITY; len];
        }
        if pmx.is_some() && self.mx.is_empty() {
            self.mx = vec![f64::NEG_INFINITY; len];
        }
        if !d.is_finite() {
            // Infinite values as shifts: keep groups without values untouched.
            for (g, &n) in pn.iter().enumerate() {
                if n == 0 {
                    continue;
                }
                let (p, nf) = (off + g, n as f64);
                self.n[g] += n;
                if !part.q.is_empty() {
                    self.q[g] += part.q[p] + 2.0 * d * part.s[p] + nf * d * d;
                }
                if !part.s.is_empty() {
                    self.s[g] += part.s[p] + nf * d;
                }
                if let Some(m) = pmn {
                    self.mn[g] = self.mn[g].min(m.get(g));
                }
                if let Some(m) = pmx {
                    self.mx[g] = self.mx[g].max(m.get(g));
                }
            }
            return;
        }
        for (g, &p) in self.n.iter_mut().zip(&pn) {
            *g += p;
        }
        if !part.q.is_empty() {
            let it = self.q.iter_mut().zip(&part.q[r.clone()]);
            for ((g, &q), (&s, &n)) in it.zip(part.s[r.clone()].iter().zip(&pn)) {
                *g += q + 2.0 * d * s + n as f64 * d * d;
            }
        }
        if !part.s.is_empty() {
            let it = self.s.iter_mut().zip(&part.s[r.clone()]);
            for ((g, &s), &n) in it.zip(&pn) {
                *g += s + n as f64 * d;
            }
        }
        if let Some(m) = pmn {
            m.fold_into(&mut self.mn, f64::min);
        }
        if let Some(m) = pmx {
            m.fold_into(&mut self.mx, f64::max);
        }
    }
}

/// Extrema of some groups of a partial: f64, or still f32 (f32 data).
#[derive(Clone, Copy)]
enum Ext<'a> {
    F64(&'a [f64]),
    F32(&'a [f32]),
}

impl<'a> Ext<'a> {
    fn of(v64: &'a [f64], v32: &'a [f32], r: std::ops::Range<usize>) -> Option<Ext<'a>> {
        if !v64.is_empty() {
            Some(Ext::F64(&v64[r]))
        } else if !v32.is_empty() {
            Some(Ext::F32(&v32[r]))
        } else {
            None
        }
    }

    fn get(self, g: usize) -> f64 {
        match self {
            Ext::F64(v) => v[g],
            Ext::F32(v) => v[g] as f64,
        }
    }

    /// `dst[g] = f(dst[g], self[g])`.
    fn fold_into(self, dst: &mut [f64], f: impl Fn(f64, f64) -> f64) {
        match self {
            Ext::F64(v) => dst.iter_mut().zip(v).for_each(|(d, &x)| *d = f(*d, x)),
            Ext::F32(v) => dst
                .iter_mut()
                .zip(v)
                .for_each(|(d, &x)| *d = f(*d, x as f64)),
        }
    }
}

trait Val: Copy + Send + Sync {
    /// f32 data (extrema can stay in f32).
    const F32: bool = false;
    fn f(self) -> f64;
    /// The value as f32 (only called when `F32`).
    #[inline(always)]
    fn g(self) -> f32 {
        self.f() as f32
    }
}
impl Val for f32 {
    const F32: bool = true;
    #[inline(always)]
    fn f(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn g(self) -> f32 {
        self
    }
}
impl Val for f64 {
    #[inline(always)]
    fn f(self) -> f64 {
        self
    }
}
impl Val for i64 {
    #[inline(always)]
    fn f(self) -> f64 {
        self as f64
    }
}
impl Val for bool {
    #[inline(always)]
    fn f(self) -> f64 {
        self as u8 as f64
    }
}

/// One piece's values and where they go.
struct PieceArgs<'a> {
    shape: &'a [usize],
    /// Per dimension, per index of the piece: group-index contribution or NO_GROUP.
    contrib: &'a [&'a [usize]],
    /// First group index of the state accumulated into.
    lo: usize,
    /// Where the piece's first cell is in the values, and the element stride of each
    /// dimension there (the piece may sit inside its decoded chunk).
    offset: usize,
    strides: &'a [usize],
}

/// Adds a piece's values (`col`, row-major, shaped like the piece) to `acc`.
fn accumulate(acc: &mut Acc, need: Need, col: &Col, a: &PieceArgs) {
    macro_rules! go {
        ($v:expr) => {
            go!(@flags $v, need.sum, need.min, need.max, need.var)
        };
        (@flags $v:expr, $($f:expr),*) => {
            match ($($f),*) {
                (false, false, false, _) => dispatch::<_, false, false, false, false>(acc, $v, a),
                (true, false, false, false) => dispatch::<_, true, false, false, false>(acc, $v, a),
                (true, false, false, true) => dispatch::<_, true, false, false, true>(acc, $v, a),
                (false, true, false, _) => dispatch::<_, false, true, false, false>(acc, $v, a),
                (false, false, true, _) => dispatch::<_, false, false, true, false>(acc, $v, a),
                (false, true, true, _) => dispatch::<_, false, true, true, false>(acc, $v, a),
                (true, true, false, false) => dispatch::<_, true, true, false, false>(acc, $v, a),
                (true, false, true, false) => dispatch::<_, true, false, true, false>(acc, $v, a),
                (true, true, true, false) => dispatch::<_, true, true, true, false>(acc, $v, a),
                (true, true, false, true) => dispatch::<_, true, true, false, true>(acc, $v, a),
                (true, false, true, true) => dispatch::<_, true, false, true, true>(acc, $v, a),
                (true, true, true, true) => dispatch::<_, true, true, true, true>(acc, $v, a),
            }
        };
    }
    match col {
        Col::F32(v) => go!(v.as_slice()),
        Col::F64(v) => go!(v.as_slice()),
        Col::I64(v) => go!(v.as_slice()),
        Col::Bool(v) => go!(v.as_slice()),
        Col::Const(l) => {
            let n: usize = a.shape.iter().product();
            let v = vec![crate::eval::lit_f64(*l); n];
            go!(v.as_slice())
        }
    }
}

/// Runs the kernels with AVX2 when the CPU has it (same arithmetic, same results:
/// the lanes are explicit, only the instructions are wider).
fn dispatch<T: Val, const S: bool, const MN: bool, const MX: bool, const V: bool>(
    acc: &mut Acc,
    data: &[T],
    a: &PieceArgs,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked above).
            unsafe { acc_piece_avx2::<T, S, MN, MX, V>(acc, data, a) };
            return;
        }
    }
    acc_piece::<T, S, MN, MX, V>(acc, data, a)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn acc_piece_avx2<T: Val, const S: bool, const MN: bool, const MX: bool, const V: bool>(
    acc: &mut Acc,
    data: &[T],
    a: &PieceArgs,
) {
    acc_piece::<T, S, MN, MX, V>(acc, data, a)
}

/// How the trailing dimensions of a piece fold into runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RunKind {
    /// Every cell of a run falls into one group.
    Reduce,
    /// A run maps onto consecutive groups, starting at the run's first cell.
    Slice,
    /// Cell by cell (the last dimension's contributions are irregular).
    Cells,
}

/// Whether `c[i] == c[0] + i * step` for all i (no NO_GROUP).
fn arithmetic(c: &[usize], step: usize) -> bool {
    let c0 = c[0];
    c0 != NO_GROUP
        && c.iter()
            .enumerate()
            .all(|(i, &x)| x != NO_GROUP && x == c0 + i * step)
}

#[inline(always)]
fn acc_piece<T: Val, const S: bool, const MN: bool, const MX: bool, const V: bool>(
    acc: &mut Acc,
    data: &[T],
    a: &PieceArgs,
) {
    let (shape, contrib, lo, strides) = (a.shape, a.contrib, a.lo, a.strides);
    if data.is_empty() {
        return;
    }
    if acc.k.is_nan() {
        match data.iter().map(|x| x.f()).find(|x| !x.is_nan()) {
            Some(x) => acc.k = x,
            None => return, // nothing but NaN: nothing to count
        }
    }
    let k = acc.k;
    let rank = shape.len();
    // Fold trailing dimensions into runs.
    let mut j = rank - 1;
    let mut run = shape[j];
    // A dimension joins the run only where the values are contiguous.
    let kind = if contrib[j].iter().all(|&c| c == 0) {
        while j > 0 && strides[j - 1] == run && contrib[j - 1].iter().all(|&c| c == 0) {
            j -= 1;
            run *= shape[j];
        }
        RunKind::Reduce
    } else if arithmetic(contrib[j], 1) {
        while j > 0 && strides[j - 1] == run && arithmetic(contrib[j - 1], run) {
            j -= 1;
            run *= shape[j];
        }
        RunKind::Slice
    } else {
        RunKind::Cells
    };
    debug_assert_eq!(strides[rank - 1], 1);
    // Runs of one group up to a few hundred cells (a box's rows in a chunk, maybe
    // several per group): per group, not per run.
    if kind == RunKind::Reduce && run <= rows::MAX_RUN {
        let at = rows::Shape {
            shape,
            contrib,
            strides,
            offset: a.offset,
            lo,
            j,
            run,
        };
        rows::reduce_groups::<T, S, MN, MX, V>(acc, data, &at, k);
        return;
    }
    let run_off: usize = match kind {
        RunKind::Slice => (j..rank).map(|d| contrib[d][0]).sum(),
        _ => 0,
    };
    let last = contrib[rank - 1];
    let outer: usize = shape[..j].iter().product();
    let mut idx = vec![0usize; j];
    for _ in 0..outer {
        if let Some((base, off)) = outer_position(contrib, strides, &idx, a.offset) {
            let row = &data[off..off + run];
            match kind {
                // Long runs only: shorter ones went to the rows kernel.
                RunKind::Reduce => reduce_run::<T, S, MN, MX, V>(acc, base - lo, row, k),
                RunKind::Slice => slice_run::<T, S, MN, MX, V>(acc, base + run_off - lo, row, k),
                RunKind::Cells => {
                    acc.counts();
                    for (&x, &c) in row.iter().zip(last) {
                        let v = x.f();
                        if c == NO_GROUP || v.is_nan() {
                            continue;
                        }
                        let g = base + c - lo;
                        let y = v - k;
                        acc.n[g] += 1;
                        if S {
                            acc.s[g] += y;
                        }
                        if V {
                            acc.q[g] += y * y;
                        }
                        if MN {
                            acc.fold_min::<T>(g, v);
                        }
                        if MX {
                            acc.fold_max::<T>(g, v);
                        }
                    }
                }
            }
        }
        next_index(&mut idx, &shape[..j]);
    }
}

/// For outer index `idx` (the leading dimensions, before the runs): the group base
/// it contributes and where its run starts in the data; `None` when a coordinate
/// belongs to no group.
#[inline(always)]
fn outer_position(
    contrib: &[&[usize]],
    strides: &[usize],
    idx: &[usize],
    offset: usize,
) -> Option<(usize, usize)> {
    let (mut base, mut off) = (0usize, offset);
    for (d, &i) in idx.iter().enumerate() {
        let c = contrib[d][i];
        if c == NO_GROUP {
            return None;
        }
        base += c;
        off += i * strides[d];
    }
    Some((base, off))
}

const LANES: usize = 8;
/// Lanes of the wide reduction: enough independent accumulators to hide the latency
/// of f64 adds (the narrow loop waits on them).
const WIDE: usize = 32;

/// Reduces a run into one group. Long runs first go through a wide loop that
/// assumes no NaN (a NaN shows up in the sums, or in a flag when there are none) and
/// redo the run with masks only when one was there.
#[inline(always)]
fn reduce_run<T: Val, const S: bool, const MN: bool, const MX: bool, const V: bool>(
    acc: &mut Acc,
    g: usize,
    row: &[T],
    k: f64,
) {
    if row.len() >= 2 * WIDE && reduce_wide::<T, S, MN, MX, V>(acc, g, row, k) {
        return;
    }
    let mut lanes = Lanes::new();
    lanes.add::<T, S, MN, MX, V>(row, k);
    lanes.flush::<T, S, MN, MX, V>(acc, g);
}

/// The wide, NaN-free reduction of a run; false (and nothing added) if the run holds
/// a NaN.
#[inline(always)]
fn reduce_wide<T: Val, const S: bool, const MN: bool, const MX: bool, const V: bool>(
    acc: &mut Acc,
    g: usize,
    row: &[T],
    k: f64,
) -> bool {
    let mut s = [0.0f64; WIDE];
    let mut q = [0.0f64; WIDE];
    let mut mn = [f64::INFINITY; WIDE];
    let mut mx = [f64::NEG_INFINITY; WIDE];
    let mut bad = [false; WIDE];
    let mut it = row.chunks_exact(WIDE);
    for c in it.by_ref() {
        for l in 0..WIDE {
            let v = c[l].f();
            if S {
                let y = v - k;
                s[l] += y;
                if V {
                    q[l] += y * y;
                }
            } else {
                bad[l] |= v.is_nan();
            }
            // Compare-and-select never picks a NaN.
            if MN {
                mn[l] = if v < mn[l] { v } else { mn[l] };
            }
            if MX {
                mx[l] = if v > mx[l] { v } else { mx[l] };
            }
        }
    }
    let (mut ts, mut tq) = (s.iter().sum::<f64>(), q.iter().sum::<f64>());
    let mut nan = bad.iter().any(|&b| b);
    let (mut tmn, mut tmx) = (f64::INFINITY, f64::NEG_INFINITY);
    for x in it.remainder() {
        let v = x.f();
        nan |= v.is_nan();
        let y = v - k;
        ts += y;
        tq += y * y;
        tmn = tmn.min(v);
        tmx = tmx.max(v);
    }
    if nan || (S && ts.is_nan()) || (V && tq.is_nan()) {
        return false;
    }
    acc.counts()[g] += row.len() as u64;
    if S {
        acc.s[g] += ts;
    }
    if V {
        acc.q[g] += tq;
    }
    if MN {
        acc.fold_min::<T>(g, mn.iter().fold(tmn, |a, &b| a.min(b)));
    }
    if MX {
        acc.fold_max::<T>(g, mx.iter().fold(tmx, |a, &b| a.max(b)));
    }
    true
}

/// Statistics of one group in branch-free lanes (NaN masked), so adding a row
/// vectorises; rows of one group add up before the lanes are summed into the state.
struct Lanes {
    n: [u64; LANES],
    s: [f64; LANES],
    q: [f64; LANES],
    mn: [f64; LANES],
    mx: [f64; LANES],
}

impl Lanes {
    #[inline(always)]
    fn new() -> Lanes {
        Lanes {
            n: [0; LANES],
            s: [0.0; LANES],
            q: [0.0; LANES],
            mn: [f64::INFINITY; LANES],
            mx: [f64::NEG_INFINITY; LANES],
        }
    }

    #[inline(always)]
    fn add<T: Val, const S: bool, const MN: bool, const MX: bool, const V: bool>(
        &mut self,
        row: &[T],
        k: f64,
    ) {
        // f32 rows without NaN (checked in f32 lanes, twice as wide) skip the masks and
        // the per-lane counts.
        if T::F32 && !row.iter().fold(false, |a, x| a | x.g().is_nan()) {
            self.n[0] += row.len() as u64;
            let mut it = row.chunks_exact(LANES);
            for c in it.by_ref() {
                let c: &[T; LANES] = c.try_into().expect("chunks of LANES");
                for (l, &x) in c.iter().enumerate() {
                    self.clean::<T, S, MN, MX, V>(l, x, k);
                }
            }
            for (l, &x) in it.remainder().iter().enumerate() {
                self.clean::<T, S, MN, MX, V>(l, x, k);
            }
            return;
        }
        let mut it = row.chunks_exact(LANES);
        for c in it.by_ref() {
            let c: &[T; LANES] = c.try_into().expect("chunks of LANES");
            for (l, &x) in c.iter().enumerate() {
                self.one::<T, S, MN, MX, V>(l, x, k);
            }
        }
        for (l, &x) in it.remainder().iter().enumerate() {
            self.one::<T, S, MN, MX, V>(l, x, k);
        }
    }

    /// A value known not to be NaN (counted by the caller).
    #[inline(always)]
    fn clean<T: Val, const S: bool, const MN: bool, const MX: bool, const V: bool>(
        &mut self,
        l: usize,
        x: T,
        k: f64,
    ) {
        let v = x.f();
        if S {
            let y = v - k;
            self.s[l] += y;
            if V {
                self.q[l] += y * y;
            }
        }
        if MN {
            self.mn[l] = if v < self.mn[l] { v } else { self.mn[l] };
        }
        if MX {
            self.mx[l] = if v > self.mx[l] { v } else { self.mx[l] };
        }
    }

    #[inline(always)]
    fn one<T: Val, const S: bool, const MN: bool, const MX: bool, const V: bool>(
        &mut self,
        l: usize,
        x: T,
        k: f64,
    ) {
        let v = x.f();
        let ok = !v.is_nan();
        self.n[l] += ok as u64;
        if S {
            let y = if ok { v - k } else { 0.0 };
            self.s[l] += y;
            if V {
                self.q[l] += y * y;
            }
        }
        // f64::min/max ignore a NaN operand.
        if MN {
            self.mn[l] = self.mn[l].min(v);
        }
        if MX {
            self.mx[l] = self.mx[l].max(v);
        }
    }

    /// Adds the lanes to group `g` of `acc` and clears them.
    #[inline(always)]
    fn flush<T: Val, const S: bool, const MN: bool, const MX: bool, const V: bool>(
        &mut self,
        acc: &mut Acc,
        g: usize,
    ) {
        acc.counts()[g] += self.n.iter().sum::<u64>();
        if S {
            acc.s[g] += self.s.iter().sum::<f64>();
        }
        if V {
            acc.q[g] += self.q.iter().sum::<f64>();
        }
        if MN {
            acc.fold_min::<T>(g, self.mn.iter().fold(f64::INFINITY, |a, &b| a.min(b)));
        }
        if MX {
            acc.fold_max::<T>(g, self.mx.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b)));
        }
        *self = Lanes::new();
    }
}

/// Accumulates a run into consecutive groups `g0..g0 + row.len()` (zipped slices).
/// One pass per statistic; NaN is detected on the way, and only a run holding NaN
/// counts cell by cell (others count as one visit of the range).
#[inline(always)]
fn slice_run<T: Val, const S: bool, const MN: bool, const MX: bool, const V: bool>(
    acc: &mut Acc,
    g0: usize,
    row: &[T],
    k: f64,
) {
    let r = g0..g0 + row.len();
    let mut nan = false;
    if S && !V && T::F32 {
        // f32 data: a NaN check in f32 lanes (twice as wide), then sums without masks
        // unless a NaN is there.
        nan = row.iter().fold(false, |a, x| a | x.g().is_nan());
        if nan {
            for (s, x) in acc.s[r.clone()].iter_mut().zip(row) {
                let v = x.f();
                *s += if v.is_nan() { 0.0 } else { v - k };
            }
        } else {
            for (s, x) in acc.s[r.clone()].iter_mut().zip(row) {
                *s += x.f() - k;
            }
        }
    } else if V {
        let sq = acc.s[r.clone()].iter_mut().zip(acc.q[r.clone()].iter_mut());
        for ((s, q), x) in sq.zip(row) {
            let v = x.f();
            let bad = v.is_nan();
            nan |= bad;
            let y = if bad { 0.0 } else { v - k };
            *s += y;
            *q += y * y;
        }
    } else if S {
        for (s, x) in acc.s[r.clone()].iter_mut().zip(row) {
            let v = x.f();
            let bad = v.is_nan();
            nan |= bad;
            *s += if bad { 0.0 } else { v - k };
        }
    }
    // Compare-and-select never picks a NaN; f32 data keeps f32 extrema.
    if MN {
        if T::F32 && !acc.mn32.is_empty() {
            for (m, x) in acc.mn32[r.clone()].iter_mut().zip(row) {
                let v = x.g();
                nan |= v.is_nan();
                *m = if v < *m { v } else { *m };
            }
        } else {
            if acc.mn.is_empty() {
                acc.mn = vec![f64::INFINITY; acc.len];
            }
            for (m, x) in acc.mn[r.clone()].iter_mut().zip(row) {
                let v = x.f();
                nan |= v.is_nan();
                *m = if v < *m { v } else { *m };
            }
        }
    }
    if MX {
        if T::F32 && !acc.mx32.is_empty() {
            for (m, x) in acc.mx32[r.clone()].iter_mut().zip(row) {
                let v = x.g();
                nan |= v.is_nan();
                *m = if v > *m { v } else { *m };
            }
        } else {
            if acc.mx.is_empty() {
                acc.mx = vec![f64::NEG_INFINITY; acc.len];
            }
            for (m, x) in acc.mx[r.clone()].iter_mut().zip(row) {
                let v = x.f();
                nan |= v.is_nan();
                *m = if v > *m { v } else { *m };
            }
        }
    }
    if !(S || MN || MX) {
        nan = row.iter().fold(false, |a, x| a | x.f().is_nan());
    }
    if nan {
        for (c, x) in acc.counts()[r].iter_mut().zip(row) {
            *c += !x.f().is_nan() as u64;
        }
    } else {
        acc.visit(g0, row.len());
    }
}

/// The value of call `f` for the groups `r` of `acc` (never a count), into `out`;
/// `n` are the counts of those groups.
fn finish_into(
    acc: &Acc,
    r: std::ops::Range<usize>,
    n: &[u64],
    f: AggFunc,
    out: &mut [MaybeUninit<f64>],
) {
    if acc.k.is_nan() {
        // Saw no value: every group is empty.
        let v = if f == AggFunc::Sum { 0.0 } else { f64::NAN };
        for o in out.iter_mut() {
            o.write(v);
        }
        return;
    }
    let k = acc.k;
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
        AggFunc::Min => pick(&acc.mn, &acc.mn32, out),
        AggFunc::Max => pick(&acc.mx, &acc.mx32, out),
        AggFunc::Sum => {
            for ((o, &c), &s) in out.iter_mut().zip(n).zip(&acc.s[r.clone()]) {
                o.write(if c == 0 { 0.0 } else { c as f64 * k + s });
            }
        }
        AggFunc::Avg => {
            for ((o, &c), &s) in out.iter_mut().zip(n).zip(&acc.s[r.clone()]) {
                o.write(if c == 0 { f64::NAN } else { k + s / c as f64 });
            }
        }
        AggFunc::VarPop | AggFunc::StdPop | AggFunc::VarSamp | AggFunc::StdSamp => {
            let (s, q) = (&acc.s[r.clone()], &acc.q[r.clone()]);
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

/// How many times each slot appears in `e`.
fn count_slots(e: &PExpr, counts: &mut [usize]) {
    match e {
        PExpr::Slot { k, .. } => counts[*k] += 1,
        PExpr::Coord { .. } | PExpr::Lit { .. } => {}
        PExpr::Unary { e, .. } | PExpr::Cast { e, .. } => count_slots(e, counts),
        PExpr::Binary { l, r, .. } => {
            count_slots(l, counts);
            count_slots(r, counts);
        }
        PExpr::Func { args, .. } => args.iter().for_each(|a| count_slots(a, counts)),
        PExpr::Case {
            whens, otherwise, ..
        } => {
            for (c, v) in whens {
                count_slots(c, counts);
                count_slots(v, counts);
            }
            if let Some(o) = otherwise {
                count_slots(o, counts);
            }
        }
    }
}

/// The partial state of one worker: every input's statistics over the group indices
/// `lo..hi`.
struct Partial {
    lo: usize,
    hi: usize,
    accs: Vec<Acc>,
}

impl Partial {
    fn new(lo: usize, hi: usize, needs: &[Need]) -> Partial {
        Partial {
            lo,
            hi,
            accs: needs.iter().map(|&nd| Acc::new(hi - lo, nd)).collect(),
        }
    }

    /// Grows to cover `lo..hi` (at least doubling on the side it grows, up to `ng`).
    fn cover(&mut self, lo: usize, hi: usize, ng: usize) {
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
        self.lo = new_lo;
        self.hi = new_hi;
    }
}

/// What one rayon worker keeps between tasks.
#[derive(Default)]
struct Slot {
    part: Option<Partial>,
    reader: Option<Reader>,
}

/// Pieces in a row accumulated by one task, and the group indices they touch.
struct Task {
    pieces: std::ops::Range<usize>,
    lo: usize,
    hi: usize,
}

/// Runs an aggregate plan; returns the output columns (each over all groups).
pub fn aggregate(plan: &Plan, ex: &Exec) -> Result<Vec<Col>, QueryError> {
    let Kind::Aggregate {
        inputs,
        calls,
        outputs,
        groups,
    } = &plan.kind
    else {
        return Err(QueryError::Internal("aggregate() on a projection".into()));
    };
    let needs: Vec<Need> = inputs.iter().map(Need::of).collect();
    let gshape: Vec<usize> = groups.iter().map(|g| g.len).collect();
    let ng: usize = gshape.iter().product();
    // Finished partials, combined only when the outputs are computed.
    let done: Mutex<Vec<Partial>> = Mutex::new(Vec::new());
    let retire = |part: Partial| done.lock().push(part);
    if !plan.empty && ng > 0 {
        let contrib = group_contributions(plan, groups);
        let all = selected_pieces(plan, &plan.region);
        // The group-index range of every piece; pieces selecting nothing are dropped.
        let mut pieces = Vec::with_capacity(all.len());
        let mut ranges = Vec::with_capacity(all.len());
        for p in all {
            if let Some(r) = group_range(&contrib, &p, &plan.region) {
                pieces.push(p);
                ranges.push(r);
            }
        }
        let threads = rayon::current_num_threads().max(1);
        // About 1 MB of decoded chunks per task (for balance at the end, when one worker
        // may finish its last task alone), at most 16 tasks per worker (each task may
        // widen a partial).
        let schema = plan.snap.schema();
        let elem: usize = plan
            .attrs
            .iter()
            .map(|&a| schema.attrs[a].dtype.size())
            .sum();
        let chunk_bytes = schema.layouts[plan.layout].chunk_len() * elem.max(1);
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
        let coords: Vec<Coordinate> = plan.coords();
        // With only bare attributes as inputs, pieces stay in their decoded chunks (no
        // copy); expressions need piece-shaped columns. When the last dimension is
        // reduced, short rows stay there too: the rows kernel takes them strided, which
        // costs less than cutting them out.
        let views = inputs.iter().all(|i| matches!(i.expr, PExpr::Slot { .. }));
        let short_rows = contrib.last().is_some_and(|c| c.iter().all(|&c| c == 0));
        // A new partial covers the task and room for the worker's next few tasks (which
        // follow in group order), so it rarely grows; growing copies it.
        let fresh = |t: &Task| {
            let room = (t.lo + 4 * (t.hi - t.lo)).min(t.lo + cap).min(ng);
            Partial::new(t.lo, room.max(t.hi), &needs)
        };
        tasks
            .par_iter()
            .try_for_each(|task| -> Result<(), QueryError> {
                let si = rayon::current_thread_index().unwrap_or(0) % slots.len();
                let Slot { part, reader } = std::mem::take(&mut *slots[si].lock());
                let mut reader = reader.unwrap_or_else(|| {
                    if views {
                        Reader::with_views(plan, short_rows)
                    } else {
                        Reader::new(plan)
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
                    reader.read(plan, ex, piece)?;
                    let t = Instant::now();
                    let shape = piece.shape();
                    let cs: Vec<&[usize]> = (0..shape.len())
                        .map(|d| along(&contrib[d], piece, &plan.region, d))
                        .collect();
                    let own = strides(&shape);
                    for ((acc, input), &need) in part.accs.iter_mut().zip(inputs).zip(&needs) {
                        match &input.expr {
                            PExpr::Slot { k, .. } => {
                                let (col, offset, st) = reader.input(*k, &shape);
                                let args = PieceArgs {
                                    shape: &shape,
                                    contrib: &cs,
                                    lo: part.lo,
                                    offset,
                                    strides: &st,
                                };
                                accumulate(acc, need, col, &args)
                            }
                            e => {
                                let args = PieceArgs {
                                    shape: &shape,
                                    contrib: &cs,
                                    lo: part.lo,
                                    offset: 0,
                                    strides: &own,
                                };
                                let org = origin(piece);
                                let inp = Inputs {
                                    slots: &reader.cols,
                                    shape: &shape,
                                    origin: &org,
                                    coords: &coords,
                                    n: shape.iter().product(),
                                };
                                accumulate(acc, need, &eval(e, &inp), &args)
                            }
                        }
                    }
                    ex.add(&ex.compute_ns, t);
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
    ex.check()?;
    let t = Instant::now();
    let mut call_cols = combine(done.into_inner(), &needs, calls, ng);
    ex.add(&ex.merge_ns, t);
    let coords: Vec<Coordinate> = Vec::new();
    let shape = if gshape.is_empty() {
        vec![1]
    } else {
        gshape.clone()
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
    Ok(out
        .into_iter()
        .map(|c| c.expect("every output computed"))
        .collect())
}

/// Every call's column over all `ng` groups, from the workers' partials: the group
/// range is cut where partials begin or end; a segment covered by one partial is
/// finished straight from it, one covered by several is merged first (in pieces
/// that stay in cache), one covered by none holds empty groups. Segments are
/// finished in parallel into the output columns.
fn combine(mut parts: Vec<Partial>, needs: &[Need], calls: &[AggCall], ng: usize) -> Vec<Col> {
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
        let merged: Vec<Acc>;
        let (accs, off): (Vec<&Acc>, usize) = match over[..] {
            [p] => (p.accs.iter().collect(), a - p.lo),
            _ => {
                merged = needs
                    .iter()
                    .enumerate()
                    .map(|(i, &nd)| {
                        let mut acc = Acc::new(e - a, Need { f32: false, ..nd });
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

/// Per dimension, per index of the region: its contribution to the row-major group
/// index (position in its group key times the key's stride; 0 for reduced
/// dimensions), or NO_GROUP for unpicked cells. Non-decreasing along each dimension
/// apart from NO_GROUP (group positions follow the array order).
fn group_contributions(plan: &Plan, groups: &[GroupKey]) -> Vec<Vec<usize>> {
    let gstrides = strides(&groups.iter().map(|g| g.len).collect::<Vec<_>>());
    (0..plan.region.rank())
        .map(|d| {
            let len = (plan.region.0[d].end - plan.region.0[d].start) as usize;
            let v: Vec<usize> = match groups.iter().position(|g| g.dim == d) {
                Some(o) => groups[o]
                    .map
                    .iter()
                    .map(|&p| {
                        if p == SKIP {
                            NO_GROUP
                        } else {
                            p as usize * gstrides[o]
                        }
                    })
                    .collect(),
                None => match &plan.dims[d].picks {
                    None => vec![0; len],
                    Some(_) => plan.dims[d]
                        .positions()
                        .iter()
                        .map(|&p| if p == SKIP { NO_GROUP } else { 0 })
                        .collect(),
                },
            };
            debug_assert_eq!(v.len(), len);
            debug_assert!(v
                .iter()
                .filter(|&&c| c != NO_GROUP)
                .collect::<Vec<_>>()
                .windows(2)
                .all(|w| w[0] <= w[1]));
            v
        })
        .collect()
}

/// The group indices `lo..hi` a piece touches, or None when it selects no cell.
fn group_range(contrib: &[Vec<usize>], piece: &Region, region: &Region) -> Option<(usize, usize)> {
    let (mut lo, mut hi) = (0usize, 1usize);
    for (d, c) in contrib.iter().enumerate() {
        let s = along(c, piece, region, d);
        let first = *s.iter().find(|&&x| x != NO_GROUP)?;
        let last = *s.iter().rev().find(|&&x| x != NO_GROUP)?;
        lo += first;
        hi += last;
    }
    Some((lo, hi))
}

/// Cuts the pieces (in row-major chunk order) into at most `want` runs of about
/// equal length.
fn make_tasks(ranges: &[(usize, usize)], want: usize) -> Vec<Task> {
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

/// Group keys' coordinates are computed at plan time; this is only for EXPLAIN.
pub fn group_text(g: &GroupKey, dim_name: &str) -> String {
    match g.trunc {
        None => dim_name.to_string(),
        Some((u, None)) => format!("date_trunc('{}', {dim_name})", u.name()),
        Some((u, Some(tz))) => format!("date_trunc('{}', {dim_name}, '{}')", u.name(), tz.name()),
    }
}

// ---------------------------------------------------------------- projection

/// One slab of a projection: a chunk-aligned part of the region along the slab
/// dimension, contiguous in the output.
pub struct Slab {
    pub region: Region,
    pub out_offset: usize,
    pub out_len: usize,
}

/// Cuts the region into chunk-aligned slabs along the first dimension whose output
/// extent exceeds 1 (every earlier dimension has extent 1, so each slab is one
/// contiguous run of the row-major output). A slab takes as many chunk steps as fit
/// in `target_bytes` of output (at least one), so its chunks are computed in
/// parallel while the output stays bounded.
pub fn slabs(plan: &Plan, target_bytes: usize) -> Vec<Slab> {
    if plan.empty {
        return vec![];
    }
    let rank = plan.region.rank();
    let cs = &plan.snap.schema().layouts[plan.layout].chunk_shape;
    let sd = (0..rank).find(|&d| plan.dims[d].count() > 1).unwrap_or(0);
    let per_row: usize = (0..rank)
        .filter(|&d| d != sd)
        .map(|d| plan.dims[d].count())
        .product();
    let row_bytes = per_row * plan.col_dtypes.iter().map(|d| d.size()).sum::<usize>();
    let r = plan.region.0[sd].clone();
    let rows_in = |a: u64, b: u64| match &plan.dims[sd].picks {
        None => (b - a) as usize,
        Some(p) => p.iter().filter(|&&i| i >= a && i < b).count(),
    };
    let mut out = Vec::new();
    let mut a = r.start;
    let mut off = 0usize;
    while a < r.end {
        // Whole chunk steps while the output fits the target.
        let mut b = ((a / cs[sd] + 1) * cs[sd]).min(r.end);
        let mut rows = rows_in(a, b);
        while b < r.end {
            let nb = ((b / cs[sd] + 1) * cs[sd]).min(r.end);
            let more = rows_in(b, nb);
            if (rows + more) * row_bytes > target_bytes {
                break;
            }
            rows += more;
            b = nb;
        }
        if rows > 0 {
            let mut reg = plan.region.clone();
            reg.0[sd] = a..b;
            out.push(Slab {
                region: reg,
                out_offset: off,
                out_len: rows * per_row,
            });
            off += rows * per_row;
        }
        a = b;
    }
    out
}

/// Output columns of a slab, written by the chunk workers in disjoint places.
struct OutCols(Vec<(*mut u8, usize)>);
// SAFETY: the pointers stay valid while the slab is computed and every worker writes
// the output positions of its own piece only (pieces are disjoint boxes).
unsafe impl Send for OutCols {}
unsafe impl Sync for OutCols {}

impl OutCols {
    fn get(&self, c: usize) -> (*mut u8, usize) {
        self.0[c]
    }
}

/// Computes every column (or column `only`) over one slab (chunk-parallel), in
/// row-major output order.
pub fn project_slab(
    plan: &Plan,
    ex: &Exec,
    slab: &Slab,
    only: Option<usize>,
) -> Result<Vec<Col>, QueryError> {
    let Kind::Project { cols } = &plan.kind else {
        return Err(QueryError::Internal(
            "project_slab() on an aggregate".into(),
        ));
    };
    let cols: &[PExpr] = match only {
        Some(c) => &cols[c..c + 1],
        None => cols,
    };
    let mut uses = vec![0usize; plan.attrs.len()];
    cols.iter().for_each(|c| count_slots(c, &mut uses));
    let used: Vec<bool> = uses.iter().map(|&u| u > 0).collect();
    let rank = plan.region.rank();
    let pieces = selected_pieces(plan, &slab.region);
    let coords = plan.coords();
    // Where each index of the region goes in the slab's output, per dimension.
    let positions: Vec<Vec<u32>> = (0..rank)
        .map(|d| {
            let mut p = plan.dims[d].positions();
            if let Some(first) = slab_first(plan, slab, d) {
                for x in p.iter_mut() {
                    if *x != SKIP {
                        *x = x.wrapping_sub(first);
                    }
                }
            }
            p
        })
        .collect();
    let oshape: Vec<usize> = (0..rank)
        .map(|d| {
            along(&positions[d], &slab.region, &plan.region, d)
                .iter()
                .filter(|&&x| x != SKIP)
                .count()
        })
        .collect();
    let ostrides = strides(&oshape);
    let offsets: Vec<Vec<usize>> = (0..rank)
        .map(|d| {
            positions[d]
                .iter()
                .map(|&p| {
                    if p == SKIP {
                        NO_GROUP
                    } else {
                        p as usize * ostrides[d]
                    }
                })
                .collect()
        })
        .collect();
    let mut outs: Vec<Col> = cols
        .iter()
        .map(|c| empty_col(c.ty(), slab.out_len))
        .collect();
    let ptrs = OutCols(outs.iter_mut().map(col_ptr).collect());
    pieces.par_iter().try_for_each_init(
        || Reader::for_slots(plan, &used),
        |reader, piece| -> Result<(), QueryError> {
            reader.read(plan, ex, piece)?;
            let t = Instant::now();
            let shape = piece.shape();
            let n: usize = shape.iter().product();
            let org = origin(piece);
            let inp = Inputs {
                slots: &reader.cols,
                shape: &shape,
                origin: &org,
                coords: &coords,
                n,
            };
            let contrib: Vec<&[usize]> = (0..rank)
                .map(|d| along(&offsets[d], piece, &plan.region, d))
                .collect();
            for (ci, c) in cols.iter().enumerate() {
                let (ptr, len) = ptrs.get(ci);
                let v = match c {
                    // A bare attribute: no copy before the scatter.
                    PExpr::Slot { k, ty } if col_is(&reader.cols[*k], *ty) => {
                        scatter(ptr, len, &reader.cols[*k], &shape, &contrib);
                        continue;
                    }
                    c => eval(c, &inp).into_type(c.ty(), n),
                };
                scatter(ptr, len, &v, &shape, &contrib);
            }
            ex.add(&ex.compute_ns, t);
            Ok(())
        },
    )?;
    Ok(outs)
}

/// The first output position (along `d`) inside the slab, to make positions
/// slab-relative.
fn slab_first(plan: &Plan, slab: &Slab, d: usize) -> Option<u32> {
    let base = plan.region.0[d].start;
    let r = &slab.region.0[d];
    let pos = plan.dims[d].positions();
    pos[(r.start - base) as usize..(r.end - base) as usize]
        .iter()
        .copied()
        .find(|&x| x != SKIP)
}

pub(crate) fn col_is(c: &Col, ty: EType) -> bool {
    matches!(
        (c, ty),
        (Col::F32(_), EType::F32)
            | (Col::F64(_), EType::F64)
            | (Col::I64(_), EType::I64)
            | (Col::Bool(_), EType::Bool)
    )
}

fn empty_col(ty: EType, n: usize) -> Col {
    match ty {
        EType::F32 => Col::F32(vec![0.0; n]),
        EType::F64 => Col::F64(vec![0.0; n]),
        EType::I64 => Col::I64(vec![0; n]),
        EType::Bool => Col::Bool(vec![false; n]),
    }
}

fn col_ptr(c: &mut Col) -> (*mut u8, usize) {
    match c {
        Col::F32(v) => (v.as_mut_ptr() as *mut u8, v.len()),
        Col::F64(v) => (v.as_mut_ptr() as *mut u8, v.len()),
        Col::I64(v) => (v.as_mut_ptr() as *mut u8, v.len()),
        Col::Bool(v) => (v.as_mut_ptr() as *mut u8, v.len()),
        Col::Const(_) => (std::ptr::null_mut(), 0),
    }
}

/// Writes a piece's values (shaped `shape`) to their output offsets (`contrib`: per
/// dimension, per index of the piece, or NO_GROUP when not selected) in the output
/// column at `out` (`len` elements of the value's type).
fn scatter(out: *mut u8, len: usize, v: &Col, shape: &[usize], contrib: &[&[usize]]) {
    fn go<T: Copy>(out: *mut T, len: usize, v: &[T], shape: &[usize], contrib: &[&[usize]]) {
        let rank = shape.len();
        let inner = shape[rank - 1];
        if inner == 0 || v.is_empty() {
            return;
        }
        let last = contrib[rank - 1];
        let contiguous = arithmetic(last, 1);
        let mut idx = vec![0usize; rank - 1];
        for row in v.chunks_exact(inner) {
            let mut base = 0usize;
            let mut skip = false;
            for d in 0..rank - 1 {
                let c = contrib[d][idx[d]];
                if c == NO_GROUP {
                    skip = true;
                    break;
                }
                base += c;
            }
            if !skip {
                if contiguous {
                    let s = base + last[0];
                    assert!(s + inner <= len, "output run inside the column");
                    // SAFETY: in bounds (checked); this piece's positions are written by
                    // this worker only.
                    unsafe { std::ptr::copy_nonoverlapping(row.as_ptr(), out.add(s), inner) };
                } else {
                    for (&x, &c) in row.iter().zip(last) {
                        if c != NO_GROUP {
                            assert!(base + c < len, "output cell inside the column");
                            // SAFETY: as above.
                            unsafe { *out.add(base + c) = x };
                        }
                    }
                }
            }
            next_index(&mut idx, &shape[..rank - 1]);
        }
    }
    match v {
        Col::F32(x) => go(out as *mut f32, len, x, shape, contrib),
        Col::F64(x) => go(out as *mut f64, len, x, shape, contrib),
        Col::I64(x) => go(out as *mut i64, len, x, shape, contrib),
        Col::Bool(x) => go(out as *mut bool, len, x, shape, contrib),
        Col::Const(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Need = Need {
        sum: true,
        min: true,
        max: true,
        var: true,
        f32: true,
    };

    /// A piece `count` at `start` inside a row-major box of `shape`: accumulating it in
    /// place (strided) gives the statistics of accumulating a contiguous copy.
    fn same_in_place_and_copied(shape: [usize; 3], start: [usize; 3], count: [usize; 3]) {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|i| {
                if i % 13 == 5 {
                    f32::NAN
                } else {
                    (i as f32 * 0.37).sin() * 10.0 + 280.0
                }
            })
            .collect();
        let st = strides(&shape);
        let mut copy = Vec::new();
        for a in 0..count[0] {
            for b in 0..count[1] {
                let off = (start[0] + a) * st[0] + (start[1] + b) * st[1] + start[2];
                copy.extend_from_slice(&data[off..off + count[2]]);
            }
        }
        let offset: usize = (0..3).map(|d| start[d] * st[d]).sum();
        // Group keys: (dim 0) reduce the rest; (dims 1, 2) slices; dim 2 alone with a
        // hole (cell by cell).
        let groupings: Vec<(usize, Vec<Vec<usize>>)> = vec![
            (
                count[0],
                vec![
                    (0..count[0]).collect(),
                    vec![0; count[1]],
                    vec![0; count[2]],
                ],
            ),
            (
                count[1] * count[2],
                vec![
                    vec![0; count[0]],
                    (0..count[1]).map(|i| i * count[2]).collect(),
                    (0..count[2]).collect(),
                ],
            ),
            (
                count[2],
                vec![
                    vec![0; count[0]],
                    vec![0; count[1]],
                    (0..count[2])
                        .map(|i| if i == 1 { NO_GROUP } else { i })
                        .collect(),
                ],
            ),
            (
                1,
                vec![vec![0; count[0]], vec![0; count[1]], vec![0; count[2]]],
            ),
        ];
        for (ng, contrib) in groupings {
            let cs: Vec<&[usize]> = contrib.iter().map(|c| c.as_slice()).collect();
            let own = strides(&count);
            let mut a = Acc::new(ng, ALL);
            let mut b = Acc::new(ng, ALL);
            let args = |offset, strides| PieceArgs {
                shape: &count,
                contrib: &cs,
                lo: 0,
                offset,
                strides,
            };
            accumulate(&mut a, ALL, &Col::F32(data.clone()), &args(offset, &st));
            accumulate(&mut b, ALL, &Col::F32(copy.clone()), &args(0, &own));
            // Plain counts and f64 extrema, as the end of a query sees them.
            let flat = |x: &Acc| {
                let mut m = Acc::new(ng, Need { f32: false, ..ALL });
                m.merge_from(x, 0);
                m
            };
            let (a, b) = (flat(&a), flat(&b));
            // The shifts may differ (first value of the box vs of the piece).
            let d = a.k - b.k;
            for g in 0..ng {
                let (na, nb) = (a.n.get(g).copied(), b.n.get(g).copied());
                assert_eq!(na.unwrap_or(0), nb.unwrap_or(0), "count[{g}]");
                let n = na.unwrap_or(0) as f64;
                let (sa, sb) = (a.s[g] + n * d, b.s[g]);
                assert!(
                    (sa - sb).abs() <= 1e-9 * sb.abs().max(1.0),
                    "sum[{g}] {sa} {sb}"
                );
                assert_eq!(a.mn[g], b.mn[g], "min[{g}]");
                assert_eq!(a.mx[g], b.mx[g], "max[{g}]");
            }
        }
    }

    /// Per group of a direct loop over the cells: count, sum, min, max, var_pop.
    fn direct(cells: &[Vec<f64>]) -> Vec<(u64, f64, f64, f64, f64)> {
        cells
            .iter()
            .map(|c| {
                let v: Vec<f64> = c.iter().copied().filter(|x| !x.is_nan()).collect();
                let n = v.len() as f64;
                let sum: f64 = v.iter().sum();
                let mean = sum / n;
                let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
                let mn = v.iter().copied().fold(f64::INFINITY, f64::min);
                let mx = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                (v.len() as u64, sum, mn, mx, var)
            })
            .collect()
    }

    /// `GROUP BY` the first dimension of a piece left strided in its chunk (rows of
    /// every width, the last rows ending where the values end, groups skipped by label
    /// picks, groups holding NaN or infinities): the rows kernel against a direct loop,
    /// for every combination of statistics.
    #[test]
    fn rows_kernel_matches_a_direct_loop() {
        let needs = [
            ALL,
            Need {
                min: false,
                max: false,
                var: false,
                ..ALL
            },
            Need {
                sum: false,
                max: false,
                var: false,
                ..ALL
            },
            Need {
                sum: false,
                min: false,
                var: false,
                ..ALL
            },
            Need {
                sum: false,
                min: false,
                max: false,
                var: false,
                ..ALL
            },
        ];
        for (shape, start, count) in [
            ([40usize, 8, 8], [0usize, 0, 0], [40usize, 8, 8]),
            ([40, 8, 8], [3, 2, 3], [37, 6, 5]),
            ([40, 8, 8], [0, 7, 7], [40, 1, 1]),
            ([9, 5, 23], [1, 1, 2], [8, 4, 21]),
            ([9, 5, 23], [0, 0, 15], [9, 5, 8]),
            ([6, 3, 300], [0, 1, 0], [6, 2, 300]),
        ] {
            let n: usize = shape.iter().product();
            let st = strides(&shape);
            let data: Vec<f32> = (0..n)
                .map(|i| {
                    let t = i / st[0];
                    match (t % 5, i % 11) {
                        (1, 4) => f32::NAN,
                        (3, 6) => f32::INFINITY,
                        (3, 7) => f32::NEG_INFINITY,
                        _ => (i as f32 * 0.61).cos() * 15.0 + 285.0,
                    }
                })
                .collect();
            // Every other group of the first dimension picked (the rest skipped).
            let ng = count[0].div_ceil(2);
            let c0: Vec<usize> = (0..count[0])
                .map(|t| if t % 2 == 0 { t / 2 } else { NO_GROUP })
                .collect();
            let contrib = [c0.clone(), vec![0; count[1]], vec![0; count[2]]];
            let cs: Vec<&[usize]> = contrib.iter().map(|c| c.as_slice()).collect();
            let mut cells = vec![Vec::new(); ng];
            for t in 0..count[0] {
                for i in 0..count[1] {
                    for j in 0..count[2] {
                        let off = (start[0] + t) * st[0] + (start[1] + i) * st[1] + start[2] + j;
                        if c0[t] != NO_GROUP {
                            cells[c0[t]].push(data[off] as f64);
                        }
                    }
                }
            }
            let want = direct(&cells);
            let offset: usize = (0..3).map(|d| start[d] * st[d]).sum();
            let args = PieceArgs {
                shape: &count,
                contrib: &cs,
                lo: 0,
                offset,
                strides: &st,
            };
            for need in needs {
                let mut acc = Acc::new(ng, need);
                accumulate(&mut acc, need, &Col::F32(data.clone()), &args);
                let mut m = Acc::new(ng, Need { f32: false, ..need });
                m.merge_from(&acc, 0);
                for (g, &(n, sum, mn, mx, var)) in want.iter().enumerate() {
                    let what =
                        format!("group {g} of {count:?} at {start:?} in {shape:?}, {need:?}");
                    assert_eq!(m.n[g], n, "count, {what}");
                    let nf = n as f64;
                    if need.sum {
                        let got = nf * m.k + m.s[g];
                        let ok = got == sum
                            || (got.is_nan() && sum.is_nan())
                            || (got - sum).abs() <= 1e-12 * sum.abs().max(1.0);
                        assert!(ok, "sum {got} vs {sum}, {what}");
                    }
                    if need.var && sum.is_finite() {
                        let got = (m.q[g] - m.s[g] * m.s[g] / nf).max(0.0) / nf;
                        assert!(
                            (got - var).abs() <= 1e-9 * var.max(1.0),
                            "var {got} vs {var}, {what}"
                        );
                    }
                    if need.min {
                        assert_eq!(m.mn[g], mn, "min, {what}");
                    }
                    if need.max {
                        assert_eq!(m.mx[g], mx, "max, {what}");
                    }
                }
            }
        }
    }

    /// Counts from visits (few and long, or many and short) and plain counts, over
    /// any range: against counting group by group.
    #[test]
    fn counts_in_matches_counting_each_visit() {
        let len = 200;
        let few: Vec<(usize, usize)> = vec![(0, 200), (20, 50), (20, 50), (150, 50), (199, 1)];
        let many: Vec<(usize, usize)> = (0..300).map(|i| ((i * 37) % 190, 1 + i % 9)).collect();
        for visits in [few, many] {
            for plain in [false, true] {
                let mut acc = Acc::new(len, ALL);
                acc.visits = visits.clone();
                if plain {
                    acc.n = (0..len as u64).map(|g| g % 3).collect();
                }
                for r in [0..len, 0..1, 19..71, 70..200, 100..100, 150..199] {
                    let want: Vec<u64> = r
                        .clone()
                        .map(|g| {
                            let n = if plain { g as u64 % 3 } else { 0 };
                            n + visits.iter().filter(|v| v.0 <= g && g < v.0 + v.1).count() as u64
                        })
                        .collect();
                    assert_eq!(acc.counts_in(r.clone()), want, "{r:?}, plain {plain}");
                }
            }
        }
    }

    #[test]
    fn strided_pieces_match_copies() {
        same_in_place_and_copied([3, 5, 80], [1, 1, 3], [2, 3, 70]);
        same_in_place_and_copied([3, 5, 80], [0, 0, 0], [3, 5, 80]);
        same_in_place_and_copied([4, 6, 9], [1, 2, 2], [3, 3, 5]);
        same_in_place_and_copied([2, 40, 70], [0, 3, 0], [2, 30, 70]);
    }
}
