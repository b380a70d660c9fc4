//! Runs of one piece: a long run into one group (wide NaN-free lanes, masked only
//! when a NaN is there) and a run onto consecutive groups (one pass per statistic).

use super::accumulator::GroupStats;
use super::kernels::Value;

pub(super) const LANES: usize = 8;
/// Lanes of the wide reduction: enough independent accumulators to hide the latency
/// of f64 adds (the narrow loop waits on them).
pub(super) const WIDE: usize = 32;

/// Reduces a run into one group. Long runs first go through a wide loop that
/// assumes no NaN (a NaN shows up in the sums, or in a flag when there are none) and
/// redo the run with masks only when one was there.
#[inline(always)]
pub(super) fn reduce_run<
    T: Value,
    const SUM: bool,
    const MIN: bool,
    const MAX: bool,
    const VAR: bool,
>(
    acc: &mut GroupStats,
    g: usize,
    row: &[T],
    k: f64,
) {
    if row.len() >= 2 * WIDE && reduce_wide::<T, SUM, MIN, MAX, VAR>(acc, g, row, k) {
        return;
    }
    let mut lanes = Lanes::new();
    lanes.add::<T, SUM, MIN, MAX, VAR>(row, k);
    lanes.flush::<T, SUM, MIN, MAX, VAR>(acc, g);
}

/// The wide, NaN-free reduction of a run; false (and nothing added) if the run holds
/// a NaN.
#[inline(always)]
pub(super) fn reduce_wide<
    T: Value,
    const SUM: bool,
    const MIN: bool,
    const MAX: bool,
    const VAR: bool,
>(
    acc: &mut GroupStats,
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
            let v = c[l].as_f64();
            if SUM {
                let y = v - k;
                s[l] += y;
                if VAR {
                    q[l] += y * y;
                }
            } else {
                bad[l] |= v.is_nan();
            }
            // Compare-and-select never picks a NaN.
            if MIN {
                mn[l] = if v < mn[l] { v } else { mn[l] };
            }
            if MAX {
                mx[l] = if v > mx[l] { v } else { mx[l] };
            }
        }
    }
    let (mut ts, mut tq) = (s.iter().sum::<f64>(), q.iter().sum::<f64>());
    let mut nan = bad.iter().any(|&b| b);
    let (mut tmn, mut tmx) = (f64::INFINITY, f64::NEG_INFINITY);
    for x in it.remainder() {
        let v = x.as_f64();
        nan |= v.is_nan();
        let y = v - k;
        ts += y;
        tq += y * y;
        tmn = tmn.min(v);
        tmx = tmx.max(v);
    }
    if nan || (SUM && ts.is_nan()) || (VAR && tq.is_nan()) {
        return false;
    }
    acc.counts_mut()[g] += row.len() as u64;
    if SUM {
        acc.sums[g] += ts;
    }
    if VAR {
        acc.sums_sq[g] += tq;
    }
    if MIN {
        acc.fold_min::<T>(g, mn.iter().fold(tmn, |a, &b| a.min(b)));
    }
    if MAX {
        acc.fold_max::<T>(g, mx.iter().fold(tmx, |a, &b| a.max(b)));
    }
    true
}

/// Statistics of one group in branch-free lanes (NaN masked), so adding a row
/// vectorises; rows of one group add up before the lanes are summed into the state.
pub(super) struct Lanes {
    pub(super) counts: [u64; LANES],
    pub(super) sums: [f64; LANES],
    pub(super) sums_sq: [f64; LANES],
    pub(super) mins: [f64; LANES],
    pub(super) maxs: [f64; LANES],
}

impl Lanes {
    #[inline(always)]
    pub(super) fn new() -> Lanes {
        Lanes {
            counts: [0; LANES],
            sums: [0.0; LANES],
            sums_sq: [0.0; LANES],
            mins: [f64::INFINITY; LANES],
            maxs: [f64::NEG_INFINITY; LANES],
        }
    }

    #[inline(always)]
    pub(super) fn add<
        T: Value,
        const SUM: bool,
        const MIN: bool,
        const MAX: bool,
        const VAR: bool,
    >(
        &mut self,
        row: &[T],
        k: f64,
    ) {
        // f32 rows without NaN (checked in f32 lanes, twice as wide) skip the masks and
        // the per-lane counts.
        if T::IS_F32 && !row.iter().fold(false, |a, x| a | x.as_f32().is_nan()) {
            self.counts[0] += row.len() as u64;
            let mut it = row.chunks_exact(LANES);
            for c in it.by_ref() {
                let c: &[T; LANES] = c.try_into().expect("chunks of LANES");
                for (l, &x) in c.iter().enumerate() {
                    self.clean::<T, SUM, MIN, MAX, VAR>(l, x, k);
                }
            }
            for (l, &x) in it.remainder().iter().enumerate() {
                self.clean::<T, SUM, MIN, MAX, VAR>(l, x, k);
            }
            return;
        }
        let mut it = row.chunks_exact(LANES);
        for c in it.by_ref() {
            let c: &[T; LANES] = c.try_into().expect("chunks of LANES");
            for (l, &x) in c.iter().enumerate() {
                self.one::<T, SUM, MIN, MAX, VAR>(l, x, k);
            }
        }
        for (l, &x) in it.remainder().iter().enumerate() {
            self.one::<T, SUM, MIN, MAX, VAR>(l, x, k);
        }
    }

    /// A value known not to be NaN (counted by the caller).
    #[inline(always)]
    pub(super) fn clean<
        T: Value,
        const SUM: bool,
        const MIN: bool,
        const MAX: bool,
        const VAR: bool,
    >(
        &mut self,
        l: usize,
        x: T,
        k: f64,
    ) {
        let v = x.as_f64();
        if SUM {
            let y = v - k;
            self.sums[l] += y;
            if VAR {
                self.sums_sq[l] += y * y;
            }
        }
        if MIN {
            self.mins[l] = if v < self.mins[l] { v } else { self.mins[l] };
        }
        if MAX {
            self.maxs[l] = if v > self.maxs[l] { v } else { self.maxs[l] };
        }
    }

    #[inline(always)]
    pub(super) fn one<
        T: Value,
        const SUM: bool,
        const MIN: bool,
        const MAX: bool,
        const VAR: bool,
    >(
        &mut self,
        l: usize,
        x: T,
        k: f64,
    ) {
        let v = x.as_f64();
        let ok = !v.is_nan();
        self.counts[l] += ok as u64;
        if SUM {
            let y = if ok { v - k } else { 0.0 };
            self.sums[l] += y;
            if VAR {
                self.sums_sq[l] += y * y;
            }
        }
        // f64::min/max ignore a NaN operand.
        if MIN {
            self.mins[l] = self.mins[l].min(v);
        }
        if MAX {
            self.maxs[l] = self.maxs[l].max(v);
        }
    }

    /// Adds the lanes to group `g` of `acc` and clears them.
    #[inline(always)]
    pub(super) fn flush<
        T: Value,
        const SUM: bool,
        const MIN: bool,
        const MAX: bool,
        const VAR: bool,
    >(
        &mut self,
        acc: &mut GroupStats,
        g: usize,
    ) {
        acc.counts_mut()[g] += self.counts.iter().sum::<u64>();
        if SUM {
            acc.sums[g] += self.sums.iter().sum::<f64>();
        }
        if VAR {
            acc.sums_sq[g] += self.sums_sq.iter().sum::<f64>();
        }
        if MIN {
            acc.fold_min::<T>(g, self.mins.iter().fold(f64::INFINITY, |a, &b| a.min(b)));
        }
        if MAX {
            acc.fold_max::<T>(
                g,
                self.maxs.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b)),
            );
        }
        *self = Lanes::new();
    }
}

/// Accumulates a run into consecutive groups `g0..g0 + row.len()` (zipped slices).
/// One pass per statistic; NaN is detected on the way, and only a run holding NaN
/// counts cell by cell (others count as one visit of the range).
#[inline(always)]
pub(super) fn slice_run<
    T: Value,
    const SUM: bool,
    const MIN: bool,
    const MAX: bool,
    const VAR: bool,
>(
    acc: &mut GroupStats,
    g0: usize,
    row: &[T],
    k: f64,
) {
    let r = g0..g0 + row.len();
    let mut nan = false;
    if SUM && !VAR && T::IS_F32 {
        // f32 data: a NaN check in f32 lanes (twice as wide), then sums without masks
        // unless a NaN is there.
        nan = row.iter().fold(false, |a, x| a | x.as_f32().is_nan());
        if nan {
            for (s, x) in acc.sums[r.clone()].iter_mut().zip(row) {
                let v = x.as_f64();
                *s += if v.is_nan() { 0.0 } else { v - k };
            }
        } else {
            for (s, x) in acc.sums[r.clone()].iter_mut().zip(row) {
                *s += x.as_f64() - k;
            }
        }
    } else if VAR {
        let sq = acc.sums[r.clone()]
            .iter_mut()
            .zip(acc.sums_sq[r.clone()].iter_mut());
        for ((s, q), x) in sq.zip(row) {
            let v = x.as_f64();
            let bad = v.is_nan();
            nan |= bad;
            let y = if bad { 0.0 } else { v - k };
            *s += y;
            *q += y * y;
        }
    } else if SUM {
        for (s, x) in acc.sums[r.clone()].iter_mut().zip(row) {
            let v = x.as_f64();
            let bad = v.is_nan();
            nan |= bad;
            *s += if bad { 0.0 } else { v - k };
        }
    }
    // Compare-and-select never picks a NaN; f32 data keeps f32 extrema.
    if MIN {
        if T::IS_F32 && !acc.mins_f32.is_empty() {
            for (m, x) in acc.mins_f32[r.clone()].iter_mut().zip(row) {
                let v = x.as_f32();
                nan |= v.is_nan();
                *m = if v < *m { v } else { *m };
            }
        } else {
            if acc.mins.is_empty() {
                acc.mins = vec![f64::INFINITY; acc.len];
            }
            for (m, x) in acc.mins[r.clone()].iter_mut().zip(row) {
                let v = x.as_f64();
                nan |= v.is_nan();
                *m = if v < *m { v } else { *m };
            }
        }
    }
    if MAX {
        if T::IS_F32 && !acc.maxs_f32.is_empty() {
            for (m, x) in acc.maxs_f32[r.clone()].iter_mut().zip(row) {
                let v = x.as_f32();
                nan |= v.is_nan();
                *m = if v > *m { v } else { *m };
            }
        } else {
            if acc.maxs.is_empty() {
                acc.maxs = vec![f64::NEG_INFINITY; acc.len];
            }
            for (m, x) in acc.maxs[r.clone()].iter_mut().zip(row) {
                let v = x.as_f64();
                nan |= v.is_nan();
                *m = if v > *m { v } else { *m };
            }
        }
    }
    if !(SUM || MIN || MAX) {
        nan = row.iter().fold(false, |a, x| a | x.as_f64().is_nan());
    }
    if nan {
        for (c, x) in acc.counts_mut()[r].iter_mut().zip(row) {
            *c += !x.as_f64().is_nan() as u64;
        }
    } else {
        acc.visit(g0, row.len());
    }
}
