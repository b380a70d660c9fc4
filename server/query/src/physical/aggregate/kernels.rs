//! The accumulation kernels: a piece's values (row-major, maybe strided inside their
//! decoded chunk) folded into per-group statistics.
//!
//! Per piece, the trailing dimensions are folded into runs: a long run of cells that
//! all fall into one group (a whole map for `GROUP BY time` over map tiles,
//! everything for a scalar) is reduced in wide NaN-free lanes (redone with masks only
//! when it holds a NaN), and groups made of shorter runs (the rows of a box, read
//! strided from the decoded chunk) add up in lanes summed once per group (`rows`); a
//! run that maps onto consecutive groups (a map for `GROUP BY lat, lon`) takes one
//! pass per statistic over a slice of the state (`runs`); anything else (label picks,
//! group keys in another order) goes cell by cell.
//!
//! Kernels are generic over the value type `T` and four flags, `SUM` (sums), `MIN`,
//! `MAX` and `VAR` (sums of squares, for variances): each combination the query needs
//! compiles to its own loops with only those statistics. They are compiled twice,
//! for AVX2 and the baseline, and picked at run time (same arithmetic, same results).

use super::accumulator::{GroupStats, NeededStats};
use super::rows;
use super::runs::{reduce_run, slice_run};
use crate::eval::Col;
use crate::physical::cells::{arithmetic, next_index, NO_GROUP};

/// A value the kernels read: f32, f64, i64 or bool, seen as f64 (and, for f32
/// data, as itself: extrema of f32 data stay f32).
pub(super) trait Value: Copy + Send + Sync {
    /// f32 data (extrema can stay in f32).
    const IS_F32: bool = false;
    /// The value as f64 (what the statistics are kept in).
    fn as_f64(self) -> f64;
    /// The value as f32 (only called when `IS_F32`).
    #[inline(always)]
    fn as_f32(self) -> f32 {
        self.as_f64() as f32
    }
}
impl Value for f32 {
    const IS_F32: bool = true;
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn as_f32(self) -> f32 {
        self
    }
}
impl Value for f64 {
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self
    }
}
impl Value for i64 {
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self as f64
    }
}
impl Value for bool {
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self as u8 as f64
    }
}

/// One piece's values and where they go.
pub(super) struct PieceArgs<'a> {
    pub(super) shape: &'a [usize],
    /// Per dimension, per index of the piece: group-index contribution or NO_GROUP.
    pub(super) contrib: &'a [&'a [usize]],
    /// First group index of the state accumulated into.
    pub(super) lo: usize,
    /// Where the piece's first cell is in the values, and the element stride of each
    /// dimension there (the piece may sit inside its decoded chunk).
    pub(super) offset: usize,
    pub(super) strides: &'a [usize],
}

/// Calls `$kernel::<_, SUM, MIN, MAX, VAR>($args)` with the statistics `$need`
/// asks for as const flags: one monomorphised kernel per combination. Without a
/// sum there is no sum of squares (a variance needs the sum), so 12 combinations.
macro_rules! with_stat_flags {
    ($need:expr, $kernel:ident($($arg:expr),*)) => {
        match ($need.sum, $need.min, $need.max, $need.var) {
            (false, false, false, _) => $kernel::<_, false, false, false, false>($($arg),*),
            (true, false, false, false) => $kernel::<_, true, false, false, false>($($arg),*),
            (true, false, false, true) => $kernel::<_, true, false, false, true>($($arg),*),
            (false, true, false, _) => $kernel::<_, false, true, false, false>($($arg),*),
            (false, false, true, _) => $kernel::<_, false, false, true, false>($($arg),*),
            (false, true, true, _) => $kernel::<_, false, true, true, false>($($arg),*),
            (true, true, false, false) => $kernel::<_, true, true, false, false>($($arg),*),
            (true, false, true, false) => $kernel::<_, true, false, true, false>($($arg),*),
            (true, true, true, false) => $kernel::<_, true, true, true, false>($($arg),*),
            (true, true, false, true) => $kernel::<_, true, true, false, true>($($arg),*),
            (true, false, true, true) => $kernel::<_, true, false, true, true>($($arg),*),
            (true, true, true, true) => $kernel::<_, true, true, true, true>($($arg),*),
        }
    };
}

/// Adds a piece's values (`col`, row-major, shaped like the piece) to `acc`.
pub(super) fn accumulate(acc: &mut GroupStats, need: NeededStats, col: &Col, a: &PieceArgs) {
    match col {
        Col::F32(v) => with_stat_flags!(need, dispatch(acc, v.as_slice(), a)),
        Col::F64(v) => with_stat_flags!(need, dispatch(acc, v.as_slice(), a)),
        Col::I64(v) => with_stat_flags!(need, dispatch(acc, v.as_slice(), a)),
        Col::Bool(v) => with_stat_flags!(need, dispatch(acc, v.as_slice(), a)),
        Col::Const(l) => {
            let n: usize = a.shape.iter().product();
            let v = vec![crate::eval::lit_f64(*l); n];
            with_stat_flags!(need, dispatch(acc, v.as_slice(), a))
        }
    }
}

/// Runs the kernels with AVX2 when the CPU has it (same arithmetic, same results:
/// the lanes are explicit, only the instructions are wider).
pub(super) fn dispatch<
    T: Value,
    const SUM: bool,
    const MIN: bool,
    const MAX: bool,
    const VAR: bool,
>(
    acc: &mut GroupStats,
    data: &[T],
    a: &PieceArgs,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked above).
            unsafe { acc_piece_avx2::<T, SUM, MIN, MAX, VAR>(acc, data, a) };
            return;
        }
    }
    acc_piece::<T, SUM, MIN, MAX, VAR>(acc, data, a)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn acc_piece_avx2<
    T: Value,
    const SUM: bool,
    const MIN: bool,
    const MAX: bool,
    const VAR: bool,
>(
    acc: &mut GroupStats,
    data: &[T],
    a: &PieceArgs,
) {
    acc_piece::<T, SUM, MIN, MAX, VAR>(acc, data, a)
}

/// How the trailing dimensions of a piece fold into runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum RunKind {
    /// Every cell of a run falls into one group.
    Reduce,
    /// A run maps onto consecutive groups, starting at the run's first cell.
    Slice,
    /// Cell by cell (the last dimension's contributions are irregular).
    Cells,
}

#[inline(always)]
pub(super) fn acc_piece<
    T: Value,
    const SUM: bool,
    const MIN: bool,
    const MAX: bool,
    const VAR: bool,
>(
    acc: &mut GroupStats,
    data: &[T],
    a: &PieceArgs,
) {
    let (shape, contrib, lo, strides) = (a.shape, a.contrib, a.lo, a.strides);
    if data.is_empty() {
        return;
    }
    if acc.shift.is_nan() {
        match data.iter().map(|x| x.as_f64()).find(|x| !x.is_nan()) {
            Some(x) => acc.shift = x,
            None => return, // nothing but NaN: nothing to count
        }
    }
    let k = acc.shift;
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
        rows::reduce_groups::<T, SUM, MIN, MAX, VAR>(acc, data, &at, k);
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
                RunKind::Reduce => reduce_run::<T, SUM, MIN, MAX, VAR>(acc, base - lo, row, k),
                RunKind::Slice => {
                    slice_run::<T, SUM, MIN, MAX, VAR>(acc, base + run_off - lo, row, k)
                }
                RunKind::Cells => {
                    acc.counts_mut();
                    for (&x, &c) in row.iter().zip(last) {
                        let v = x.as_f64();
                        if c == NO_GROUP || v.is_nan() {
                            continue;
                        }
                        let g = base + c - lo;
                        let y = v - k;
                        acc.counts[g] += 1;
                        if SUM {
                            acc.sums[g] += y;
                        }
                        if VAR {
                            acc.sums_sq[g] += y * y;
                        }
                        if MIN {
                            acc.fold_min::<T>(g, v);
                        }
                        if MAX {
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
pub(super) fn outer_position(
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
