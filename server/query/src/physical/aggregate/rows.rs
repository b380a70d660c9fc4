//! Groups made of a few short rows each: `GROUP BY time` over a box, where every
//! chunk gives each hour a handful of rows (the box's part of a pencil or a tile),
//! often left strided in the decoded chunk. Per group the rows add up in eight
//! lanes that assume no NaN (tails of rows masked), summed once per group;
//! a group whose sums show a NaN (or that holds one, for extrema and counts alone) is
//! redone with the masked per-cell lanes of the general path. The state and the
//! shift `k` (`GroupStats::shift`) are the caller's: same statistics, same precision (f64 of `v - k`).

use super::accumulator::GroupStats;
use super::kernels::{outer_position, Value};
use super::runs::Lanes;
use crate::physical::cells::next_index;

const L: usize = 8;

/// Longest run (contiguous cells of one row) taken here; longer runs go through the
/// wide reduction, whose 32 lanes pay off there.
pub(super) const MAX_RUN: usize = 256;

/// Most rows one group takes per pass; a piece with more rows per group (a scalar
/// over a box) is flushed into its group every this many rows.
const MAX_ROWS: usize = 1024;

/// Where a piece's groups and rows are: dims `..p` pick the group (and where its
/// cells start), dims `p..j` are its rows (every one reduced), each `run` cells long.
pub(super) struct Shape<'a> {
    pub shape: &'a [usize],
    pub contrib: &'a [&'a [usize]],
    pub strides: &'a [usize],
    pub offset: usize,
    pub lo: usize,
    /// First dimension of the run (all dims from here on are contiguous and reduced).
    pub j: usize,
    pub run: usize,
}

/// Accumulates a piece whose trailing dims `j..` form runs of one group each.
#[inline(always)]
pub(super) fn reduce_groups<
    T: Value,
    const SUM: bool,
    const MIN: bool,
    const MAX: bool,
    const VAR: bool,
>(
    acc: &mut GroupStats,
    data: &[T],
    a: &Shape,
    k: f64,
) {
    let (shape, contrib, strides, j, run) = (a.shape, a.contrib, a.strides, a.j, a.run);
    // Rows: the reduced dims right before the run, as long as they are not too many.
    let mut p = j;
    let mut rows = 1usize;
    while p > 0 && rows * shape[p - 1] <= MAX_ROWS && contrib[p - 1].iter().all(|&c| c == 0) {
        p -= 1;
        rows *= shape[p];
    }
    let mut offs = Vec::with_capacity(rows);
    let mut idx = vec![0usize; j - p];
    for _ in 0..rows {
        offs.push(idx.iter().zip(&strides[p..j]).map(|(i, s)| i * s).sum());
        next_index(&mut idx, &shape[p..j]);
    }
    // Opaque to the optimiser: what it can tell about the mask (lane 0 on, lane 7
    // off) it uses to split the tail's lanes into scalar code.
    let tail: [u64; L] =
        std::hint::black_box(std::array::from_fn(
            |l| if l < run % L { u64::MAX } else { 0 },
        ));
    acc.counts_mut();
    let outer: usize = shape[..p].iter().product();
    let mut idx = vec![0usize; p];
    for _ in 0..outer {
        if let Some((base, off)) = outer_position(contrib, strides, &idx, a.offset) {
            let g = base - a.lo;
            if !group::<T, SUM, MIN, MAX, VAR>(acc, g, data, off, &offs, run, &tail, k) {
                // A NaN (or an infinity in the sums): the masked path, row by row.
                let mut lanes = Lanes::new();
                for &o in &offs {
                    lanes.add::<T, SUM, MIN, MAX, VAR>(&data[off + o..off + o + run], k);
                }
                lanes.flush::<T, SUM, MIN, MAX, VAR>(acc, g);
            }
        }
        next_index(&mut idx, &shape[..p]);
    }
}

/// Adds the rows `off + offs[r]` (`run` cells each) to group `g`, assuming no NaN;
/// false (and nothing added) when that does not hold.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn group<T: Value, const SUM: bool, const MIN: bool, const MAX: bool, const VAR: bool>(
    acc: &mut GroupStats,
    g: usize,
    data: &[T],
    off: usize,
    offs: &[usize],
    run: usize,
    tail: &[u64; L],
    k: f64,
) -> bool {
    let mut st = State::<SUM, MIN, MAX, VAR>::new();
    let full = run / L;
    for &o in offs {
        let row = off + o;
        for b in 0..full {
            let x: &[T; L] = data[row + b * L..row + (b + 1) * L]
                .try_into()
                .expect("a block");
            st.add(x, k);
        }
        let at = row + full * L;
        if at < row + run {
            if at + L <= data.len() {
                // The row's tail with the cells behind it (masked): one block.
                let x: &[T; L] = data[at..at + L].try_into().expect("a block");
                st.add_tail(x, tail, k);
            } else {
                // Only at the end of the values.
                let mut x = [data[at]; L];
                x[..row + run - at].copy_from_slice(&data[at..row + run]);
                st.add_tail(&x, tail, k);
            }
        }
    }
    st.finish::<T>(acc, g, offs.len() * run)
}

/// One group's lanes.
struct State<const SUM: bool, const MIN: bool, const MAX: bool, const VAR: bool> {
    sums: [f64; L],
    sums_sq: [f64; L],
    mins: [f64; L],
    maxs: [f64; L],
    /// A NaN seen (only kept when no sum would show it).
    nan: [bool; L],
}

impl<const SUM: bool, const MIN: bool, const MAX: bool, const VAR: bool> State<SUM, MIN, MAX, VAR> {
    #[inline(always)]
    fn new() -> Self {
        State {
            sums: [0.0; L],
            sums_sq: [0.0; L],
            mins: [f64::INFINITY; L],
            maxs: [f64::NEG_INFINITY; L],
            nan: [false; L],
        }
    }

    /// A block of the row.
    #[inline(always)]
    fn add<T: Value>(&mut self, x: &[T; L], k: f64) {
        for (l, x) in x.iter().enumerate() {
            let v = x.as_f64();
            if SUM {
                // A NaN shows up in the sum.
                let y = v - k;
                self.sums[l] += y;
                if VAR {
                    self.sums_sq[l] += y * y;
                }
            } else {
                self.nan[l] |= v.is_nan();
            }
            // Compare-and-select never picks a NaN.
            if MIN {
                self.mins[l] = if v < self.mins[l] { v } else { self.mins[l] };
            }
            if MAX {
                self.maxs[l] = if v > self.maxs[l] { v } else { self.maxs[l] };
            }
        }
    }

    /// The row's last block, lanes off the row (`on[l] == 0`) masked out: bitwise, so
    /// whatever they hold adds nothing.
    #[inline(always)]
    fn add_tail<T: Value>(&mut self, x: &[T; L], on: &[u64; L], k: f64) {
        for (l, x) in x.iter().enumerate() {
            let v = x.as_f64();
            if SUM {
                let y = f64::from_bits((v - k).to_bits() & on[l]);
                self.sums[l] += y;
                if VAR {
                    self.sums_sq[l] += y * y;
                }
            } else {
                self.nan[l] |= v.is_nan() & (on[l] != 0);
            }
            // Off the row, a lane compares its own value (no change).
            let w = f64::from_bits((v.to_bits() & on[l]) | (self.mins[l].to_bits() & !on[l]));
            if MIN {
                self.mins[l] = if w < self.mins[l] { w } else { self.mins[l] };
            }
            let w = f64::from_bits((v.to_bits() & on[l]) | (self.maxs[l].to_bits() & !on[l]));
            if MAX {
                self.maxs[l] = if w > self.maxs[l] { w } else { self.maxs[l] };
            }
        }
    }

    /// Adds the lanes to group `g` (`n` cells) unless they saw a NaN.
    #[inline(always)]
    fn finish<T: Value>(&self, acc: &mut GroupStats, g: usize, n: usize) -> bool {
        // Lanes summed in order: a pairwise tree makes LLVM keep the lanes in narrower
        // vectors through the whole loop.
        let (s, q) = (
            self.sums.iter().sum::<f64>(),
            self.sums_sq.iter().sum::<f64>(),
        );
        let nan = self.nan.iter().any(|&b| b);
        if nan || (SUM && s.is_nan()) || (VAR && q.is_nan()) {
            return false;
        }
        acc.counts[g] += n as u64;
        if SUM {
            acc.sums[g] += s;
        }
        if VAR {
            acc.sums_sq[g] += q;
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
        true
    }
}
