//! Index arithmetic the operators share: row-major strides and steps, a piece's
//! slice of per-region-index tables, and typed output columns written in place by
//! parallel workers.

use crate::eval::{Col, EType, PExpr};
use arrayq_storage::Region;

/// A cell that belongs to no group or no output position (an unpicked label).
pub const NO_GROUP: usize = usize::MAX;

/// Steps `idx` to the next index of `shape` in row-major order (wrapping to zeros).
#[inline]
pub fn next_index(idx: &mut [usize], shape: &[usize]) {
    for d in (0..idx.len()).rev() {
        idx[d] += 1;
        if idx[d] < shape[d] {
            return;
        }
        idx[d] = 0;
    }
}

/// Row-major element strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// Absolute index of a piece's first cell along each dimension.
pub fn origin(piece: &Region) -> Vec<u64> {
    piece.0.iter().map(|r| r.start).collect()
}

/// The slice of per-region-index values `v` (along `d`) that `piece` covers.
pub fn along<'a, T>(v: &'a [T], piece: &Region, region: &Region, d: usize) -> &'a [T] {
    let base = region.0[d].start;
    &v[(piece.0[d].start - base) as usize..(piece.0[d].end - base) as usize]
}

/// Whether `c[i] == c[0] + i * step` for all i (no NO_GROUP).
pub fn arithmetic(c: &[usize], step: usize) -> bool {
    let c0 = c[0];
    c0 != NO_GROUP
        && c.iter()
            .enumerate()
            .all(|(i, &x)| x != NO_GROUP && x == c0 + i * step)
}

/// How many times each slot appears in `e`.
pub fn count_slots(e: &PExpr, counts: &mut [usize]) {
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

/// Output columns written by parallel workers in disjoint places.
pub struct OutCols(pub Vec<(*mut u8, usize)>);
// SAFETY: the pointers stay valid while the workers run and every worker writes
// positions of its own only (disjoint pieces of a slab, disjoint group segments).
unsafe impl Send for OutCols {}
unsafe impl Sync for OutCols {}

impl OutCols {
    pub fn get(&self, c: usize) -> (*mut u8, usize) {
        self.0[c]
    }
}

pub fn col_is(c: &Col, ty: EType) -> bool {
    matches!(
        (c, ty),
        (Col::F32(_), EType::F32)
            | (Col::F64(_), EType::F64)
            | (Col::I64(_), EType::I64)
            | (Col::Bool(_), EType::Bool)
    )
}

pub fn empty_col(ty: EType, n: usize) -> Col {
    match ty {
        EType::F32 => Col::F32(vec![0.0; n]),
        EType::F64 => Col::F64(vec![0.0; n]),
        EType::I64 => Col::I64(vec![0; n]),
        EType::Bool => Col::Bool(vec![false; n]),
    }
}

pub fn col_ptr(c: &mut Col) -> (*mut u8, usize) {
    match c {
        Col::F32(v) => (v.as_mut_ptr() as *mut u8, v.len()),
        Col::F64(v) => (v.as_mut_ptr() as *mut u8, v.len()),
        Col::I64(v) => (v.as_mut_ptr() as *mut u8, v.len()),
        Col::Bool(v) => (v.as_mut_ptr() as *mut u8, v.len()),
        Col::Const(_) => (std::ptr::null_mut(), 0),
    }
}

/// Number of elements of a column (0 for a constant).
pub fn col_len(c: &Col) -> usize {
    match c {
        Col::F32(v) => v.len(),
        Col::F64(v) => v.len(),
        Col::I64(v) => v.len(),
        Col::Bool(v) => v.len(),
        Col::Const(_) => 0,
    }
}

/// Bytes a column's values take (0 for a constant), as memory reservations count them.
pub fn col_bytes(c: &Col) -> u64 {
    let elem = match c {
        Col::F32(_) => 4,
        Col::F64(_) | Col::I64(_) => 8,
        Col::Bool(_) => 1,
        Col::Const(_) => 0,
    };
    (col_len(c) * elem) as u64
}
