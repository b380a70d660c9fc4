//! Hyperslabs in index space and their intersection with a chunk grid.

use std::ops::Range;

/// A hyperslab: one half-open index range per dimension.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Region(pub Vec<Range<u64>>);

impl Region {
    pub fn full(shape: &[u64]) -> Region {
        Region(shape.iter().map(|&n| 0..n).collect())
    }

    pub fn from_start_shape(start: &[u64], shape: &[usize]) -> Region {
        Region(
            start
                .iter()
                .zip(shape)
                .map(|(&s, &n)| s..s + n as u64)
                .collect(),
        )
    }

    pub fn rank(&self) -> usize {
        self.0.len()
    }

    pub fn shape(&self) -> Vec<usize> {
        self.0.iter().map(|r| (r.end - r.start) as usize).collect()
    }

    pub fn len(&self) -> u64 {
        self.0.iter().map(|r| r.end - r.start).product()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().any(|r| r.end <= r.start)
    }

    pub fn intersect(&self, other: &Region) -> Option<Region> {
        let r: Vec<_> = self
            .0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| a.start.max(b.start)..a.end.min(b.end))
            .collect();
        let r = Region(r);
        (!r.is_empty()).then_some(r)
    }

    /// The cells of `self` outside `other`, as disjoint boxes (at most two per
    /// dimension): per dimension in turn, the slabs below and above `other`.
    pub fn subtract(&self, other: &Region) -> Vec<Region> {
        let mut out = Vec::new();
        let mut core = self.clone();
        for d in 0..self.rank() {
            let r = core.0[d].clone();
            let (lo, hi) = (
                other.0[d].start.clamp(r.start, r.end),
                other.0[d].end.clamp(r.start, r.end),
            );
            if r.start < lo {
                let mut below = core.clone();
                below.0[d] = r.start..lo;
                out.push(below);
            }
            if hi < r.end {
                let mut above = core.clone();
                above.0[d] = hi..r.end;
                out.push(above);
            }
            if lo >= hi {
                return out; // no overlap: the slabs hold all of `self`
            }
            core.0[d] = lo..hi;
        }
        out
    }

    /// Smallest region containing both.
    pub fn union(&self, other: &Region) -> Region {
        Region(
            self.0
                .iter()
                .zip(&other.0)
                .map(|(a, b)| a.start.min(b.start)..a.end.max(b.end))
                .collect(),
        )
    }

    /// The chunk coordinates of every chunk of `chunk_shape` the region touches, in
    /// row-major order.
    pub fn chunks(&self, chunk_shape: &[u64]) -> Vec<Vec<u64>> {
        if self.is_empty() {
            return vec![];
        }
        let ranges: Vec<Range<u64>> = self
            .0
            .iter()
            .zip(chunk_shape)
            .map(|(r, &c)| r.start / c..(r.end - 1) / c + 1)
            .collect();
        let mut out = Vec::new();
        let mut cur: Vec<u64> = ranges.iter().map(|r| r.start).collect();
        loop {
            out.push(cur.clone());
            let mut d = ranges.len();
            loop {
                if d == 0 {
                    return out;
                }
                d -= 1;
                cur[d] += 1;
                if cur[d] < ranges[d].end {
                    break;
                }
                cur[d] = ranges[d].start;
            }
        }
    }

    /// Number of chunks touched, without listing them.
    pub fn chunk_count(&self, chunk_shape: &[u64]) -> u64 {
        if self.is_empty() {
            return 0;
        }
        self.0
            .iter()
            .zip(chunk_shape)
            .map(|(r, &c)| (r.end - 1) / c - r.start / c + 1)
            .product()
    }

    /// The region a chunk covers.
    pub fn of_chunk(chunk: &[u64], chunk_shape: &[u64]) -> Region {
        Region(
            chunk
                .iter()
                .zip(chunk_shape)
                .map(|(&c, &n)| c * n..(c + 1) * n)
                .collect(),
        )
    }
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[")?;
        for (k, r) in self.0.iter().enumerate() {
            if k > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}..{}", r.start, r.end)?;
        }
        f.write_str("]")
    }
}

/// Walks the box `count` (per dim) that starts at `src_start` in an array of `src_shape`
/// and at `dst_start` in one of `dst_shape`, calling `copy(src_off, dst_off, len)` (in
/// bytes, elements of `esize`) once per contiguous run of the innermost dimension.
pub fn for_each_run(
    src_shape: &[usize],
    src_start: &[usize],
    dst_shape: &[usize],
    dst_start: &[usize],
    count: &[usize],
    esize: usize,
    mut copy: impl FnMut(usize, usize, usize),
) {
    let rank = count.len();
    if rank == 0 {
        copy(0, 0, esize);
        return;
    }
    if count.contains(&0) {
        return;
    }
    let strides = |shape: &[usize]| {
        let mut s = vec![1usize; rank];
        for d in (0..rank - 1).rev() {
            s[d] = s[d + 1] * shape[d + 1];
        }
        s
    };
    let ss = strides(src_shape);
    let ds = strides(dst_shape);
    let run = count[rank - 1] * esize;
    let mut idx = vec![0usize; rank - 1];
    loop {
        let mut so = src_start[rank - 1];
        let mut doff = dst_start[rank - 1];
        for d in 0..rank - 1 {
            so += (src_start[d] + idx[d]) * ss[d];
            doff += (dst_start[d] + idx[d]) * ds[d];
        }
        copy(so * esize, doff * esize, run);
        let mut d = rank - 1;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < count[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// [`for_each_run`] as a plain copy between two byte slices.
#[allow(clippy::too_many_arguments)]
pub fn copy_box(
    src: &[u8],
    src_shape: &[usize],
    src_start: &[usize],
    dst: &mut [u8],
    dst_shape: &[usize],
    dst_start: &[usize],
    count: &[usize],
    esize: usize,
) {
    for_each_run(
        src_shape,
        src_start,
        dst_shape,
        dst_start,
        count,
        esize,
        |s, d, n| dst[d..d + n].copy_from_slice(&src[s..s + n]),
    );
}

/// Whether a box of `count` at `start` is one contiguous byte range of an array of
/// `shape` (row-major): some leading dims of extent 1, then full trailing dims.
pub fn is_contiguous(shape: &[usize], count: &[usize]) -> bool {
    let rank = shape.len();
    let mut p = rank;
    while p > 0 && count[p - 1] == shape[p - 1] {
        p -= 1;
    }
    // dims before p-1 must have extent 1; dim p-1 may be partial.
    p <= 1 || count[..p - 1].iter().all(|&c| c == 1)
}

/// Row-major element offset of `start` in an array of `shape`.
pub fn offset_of(shape: &[usize], start: &[usize]) -> usize {
    let mut off = 0;
    for (d, &s) in start.iter().enumerate() {
        off = off * shape[d] + s;
    }
    off
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_of_a_region() {
        let r = Region(vec![5..25, 0..3]);
        assert_eq!(r.chunks(&[10, 2]).len(), 3 * 2);
        assert_eq!(r.chunk_count(&[10, 2]), 6);
        assert_eq!(r.chunks(&[10, 2])[0], vec![0, 0]);
        assert_eq!(r.chunks(&[10, 2])[5], vec![2, 1]);
    }

    #[test]
    fn copy_box_2d() {
        // src 3x4 of bytes 0..12; copy the 2x2 box at (1,1) into dst 2x3 at (0,1)
        let src: Vec<u8> = (0..12).collect();
        let mut dst = vec![0u8; 6];
        copy_box(
            &src,
            &[3, 4],
            &[1, 1],
            &mut dst,
            &[2, 3],
            &[0, 1],
            &[2, 2],
            1,
        );
        assert_eq!(dst, vec![0, 5, 6, 0, 9, 10]);
    }

    #[test]
    fn subtract_leaves_each_outside_cell_in_one_box() {
        let a = Region(vec![0..4, 2..7, 1..3]);
        for b in [
            Region(vec![1..3, 0..4, 2..9]), // overlapping
            Region(vec![0..4, 2..7, 1..3]), // equal
            Region(vec![5..6, 2..7, 1..3]), // disjoint
            Region(vec![0..9, 3..4, 0..9]), // a slab through it
        ] {
            let parts = a.subtract(&b);
            for i in 0..4 {
                for j in 2..7 {
                    for k in 1..3 {
                        let inside = |r: &Region| {
                            r.0[0].contains(&i) && r.0[1].contains(&j) && r.0[2].contains(&k)
                        };
                        let n = parts.iter().filter(|p| inside(p)).count();
                        assert_eq!(n, usize::from(!inside(&b)), "cell ({i}, {j}, {k}) of {b}");
                    }
                }
            }
            assert!(parts
                .iter()
                .all(|p| !p.is_empty() && p.intersect(&a).as_ref() == Some(p)));
        }
    }

    #[test]
    fn contiguity() {
        assert!(is_contiguous(&[10, 4, 5], &[1, 4, 5]));
        assert!(is_contiguous(&[10, 4, 5], &[3, 4, 5]));
        assert!(is_contiguous(&[10, 4, 5], &[1, 2, 5]));
        assert!(!is_contiguous(&[10, 4, 5], &[2, 2, 5]));
        assert!(is_contiguous(&[10, 4, 5], &[1, 1, 4]));
        assert!(!is_contiguous(&[10, 4, 5], &[1, 2, 4]));
        assert_eq!(offset_of(&[10, 4, 5], &[2, 1, 3]), 2 * 20 + 5 + 3);
    }
}
