//! A projection's work, slab by slab: the region is cut into chunk-aligned slabs
//! that are contiguous in the output; the pieces of a slab are computed in parallel
//! and scattered straight into the output columns.

use super::ProjectionExec;
use crate::error::QueryError;
use crate::eval::{eval, Col, Inputs, PExpr};
use crate::logical::SKIP;
use crate::physical::cells::{
    along, arithmetic, col_is, col_ptr, count_slots, empty_col, next_index, origin, strides,
    OutCols, NO_GROUP,
};
use crate::physical::mask::apply;
use crate::physical::scan::{Reader, ScanExec};
use crate::physical::{OperatorMetrics, TaskContext};
use arrayq_storage::{DType, Region};
use rayon::prelude::*;
use std::time::Instant;

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
pub fn slabs(scan: &ScanExec, col_dtypes: &[DType], target_bytes: usize) -> Vec<Slab> {
    if scan.empty {
        return vec![];
    }
    let rank = scan.region.rank();
    let cs = scan.chunk_shape();
    let sd = (0..rank).find(|&d| scan.dims[d].count() > 1).unwrap_or(0);
    let per_row: usize = (0..rank)
        .filter(|&d| d != sd)
        .map(|d| scan.dims[d].count())
        .product();
    let row_bytes = per_row * col_dtypes.iter().map(|d| d.size()).sum::<usize>();
    let r = scan.region.0[sd].clone();
    let rows_in = |a: u64, b: u64| match &scan.dims[sd].picks {
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
            let mut reg = scan.region.clone();
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

/// Computes every column (or column `only`) over one slab (chunk-parallel), in
/// row-major output order.
pub fn project_slab(
    op: &ProjectionExec,
    ctx: &TaskContext,
    slab: &Slab,
    only: Option<usize>,
) -> Result<Vec<Col>, QueryError> {
    let scan: &ScanExec = &op.scan;
    let cols = &op.exprs;
    let cols: &[PExpr] = match only {
        Some(c) => &cols[c..c + 1],
        None => cols,
    };
    let mut uses = vec![0usize; scan.attrs.len()];
    cols.iter().for_each(|c| count_slots(c, &mut uses));
    let mut used: Vec<bool> = uses.iter().map(|&u| u > 0).collect();
    if let Some(m) = &op.mask {
        m.mark_slots(&mut used);
    }
    let rank = scan.region.rank();
    let pieces = scan.selected_pieces(&slab.region);
    scan.prefetch(&pieces, Some(&used));
    let coords = scan.coords();
    // Where each index of the slab goes in the slab's output, per dimension (only the
    // slab's indices: a dimension of 10^8 cells in 100 slabs would otherwise be
    // walked whole for each).
    let positions: Vec<Vec<u32>> = (0..rank)
        .map(|d| {
            let mut p = scan.dims[d].positions_in(slab.region.0[d].clone());
            if let Some(first) = p.iter().copied().find(|&x| x != SKIP) {
                for x in p.iter_mut() {
                    if *x != SKIP {
                        *x = x.wrapping_sub(first);
                    }
                }
            }
            p
        })
        .collect();
    let oshape: Vec<usize> = positions
        .iter()
        .map(|p| p.iter().filter(|&&x| x != SKIP).count())
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
        || Reader::for_slots(scan, &used),
        |reader, piece| -> Result<(), QueryError> {
            reader.read(scan, ctx, piece)?;
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
                .map(|d| along(&offsets[d], piece, &slab.region, d))
                .collect();
            let keep = op.mask.as_ref().map(|m| m.keep(&inp));
            for (ci, c) in cols.iter().enumerate() {
                let (ptr, len) = ptrs.get(ci);
                if let Some(keep) = &keep {
                    let v = apply(keep, eval(c, &inp).into_type(c.ty(), n));
                    scatter(ptr, len, &v, &shape, &contrib);
                    continue;
                }
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
            OperatorMetrics::add(&op.metrics.compute_ns, t);
            Ok(())
        },
    )?;
    Ok(outs)
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
