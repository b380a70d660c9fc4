//! The buckets a commit's own writes determine. A bucket's new value depends on
//! every cell of its day; when each of those cells is written by the commit or
//! holds no older data (beyond the head's extent, or the head holds none), the
//! bucket is folded from the writes' staged bytes, with no read-back of the
//! version's chunks. Whole days of whole maps, and the first write, go this way.

use super::buckets::Buckets;
use crate::dtype::DType;
use crate::error::Result;
use crate::region::{is_contiguous, offset_of, Region};
use crate::write_source::{copy_box_from, WriteSource};

/// Past this many pieces a box is read back instead (many small overlapping writes).
const MAX_PIECES: usize = 4096;
/// Bytes of a piece copied out of a source at once.
const SLAB_BYTES: usize = 8 << 20;

/// One write of a commit: attribute index, region, staged bytes.
pub(crate) type FreshWrite<'a> = (usize, &'a Region, &'a dyn WriteSource);

/// A commit's writes, in order (later ones win), and where older data may lie.
pub(crate) struct Fresh<'a> {
    pub writes: Vec<FreshWrite<'a>>,
    /// The head's cells, in the new version's indices; `None` when the head holds no
    /// data at all (every cell no write covers holds the fill value).
    pub old: Option<Region>,
}

/// A box of one source: a write, or the fill value.
struct Piece {
    region: Region,
    write: Option<usize>,
}

impl Fresh<'_> {
    /// Folds the values of `src` (a box of the new version, one attribute index
    /// `attr` of type `dtype` with fill bytes `fill`) into `buckets` from the writes;
    /// `Ok(false)` (nothing folded) when some of it keeps older data.
    pub(super) fn fold(
        &self,
        buckets: &mut Buckets,
        attr: usize,
        src: &Region,
        dim: usize,
        dtype: DType,
        fill: &[u8],
    ) -> Result<bool> {
        let Some(mut pieces) = self.pieces(attr, src) else {
            return Ok(false);
        };
        // Per cell, the pieces holding it follow one another in time.
        pieces.sort_by_key(|p| p.region.0[dim].start);
        let esize = dtype.size();
        let mut scratch = Vec::new();
        for p in &pieces {
            let shape = p.region.shape();
            let Some(w) = p.write else {
                for slab in slabs(&p.region, esize) {
                    let n = slab.len() as usize;
                    scratch.clear();
                    (0..n).for_each(|_| scratch.extend_from_slice(fill));
                    buckets.fold(&slab, &scratch, dtype);
                }
                continue;
            };
            let (_, wr, data) = self.writes[w];
            let wshape = wr.shape();
            let rel = |r: &Region| -> Vec<usize> {
                r.0.iter()
                    .zip(&wr.0)
                    .map(|(a, b)| (a.start - b.start) as usize)
                    .collect()
            };
            if let (Some(all), true) = (data.as_slice(), is_contiguous(&wshape, &shape)) {
                let off = offset_of(&wshape, &rel(&p.region)) * esize;
                let len = p.region.len() as usize * esize;
                buckets.fold(&p.region, &all[off..off + len], dtype);
                continue;
            }
            for slab in slabs(&p.region, esize) {
                let sshape = slab.shape();
                scratch.resize(slab.len() as usize * esize, 0);
                let zero = vec![0; sshape.len()];
                copy_box_from(
                    data,
                    &wshape,
                    &rel(&slab),
                    &mut scratch,
                    &sshape,
                    &zero,
                    &sshape,
                    esize,
                )?;
                buckets.fold(&slab, &scratch, dtype);
            }
        }
        Ok(true)
    }

    /// `src` cut into boxes each taken from the last write of `attr` covering it or
    /// from the fill value; `None` when some cell may hold older data.
    fn pieces(&self, attr: usize, src: &Region) -> Option<Vec<Piece>> {
        let mut todo = vec![src.clone()];
        let mut pieces = Vec::new();
        for (w, &(a, wr, _)) in self.writes.iter().enumerate().rev() {
            if a != attr || todo.is_empty() {
                continue;
            }
            let mut rest = Vec::new();
            for r in todo {
                match r.intersect(wr) {
                    Some(i) => {
                        rest.extend(r.subtract(wr));
                        pieces.push(Piece {
                            region: i,
                            write: Some(w),
                        });
                    }
                    None => rest.push(r),
                }
            }
            if pieces.len() + rest.len() > MAX_PIECES {
                return None;
            }
            todo = rest;
        }
        for r in todo {
            if self
                .old
                .as_ref()
                .is_some_and(|old| r.intersect(old).is_some())
            {
                return None;
            }
            pieces.push(Piece {
                region: r,
                write: None,
            });
        }
        Some(pieces)
    }
}

/// `r` cut along its first dimension into slabs of at most [`SLAB_BYTES`] (at
/// least one index each), in order.
fn slabs(r: &Region, esize: usize) -> Vec<Region> {
    let first = r.0[0].clone();
    let per = (r.len() / (first.end - first.start)).max(1) * esize as u64;
    let step = (SLAB_BYTES as u64 / per).max(1);
    (first.start..first.end)
        .step_by(step as usize)
        .map(|s| {
            let mut slab = r.clone();
            slab.0[0] = s..(s + step).min(first.end);
            slab
        })
        .collect()
}
