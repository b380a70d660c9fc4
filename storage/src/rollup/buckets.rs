//! The accumulators of a box of buckets (days x cells): count, sum, minimum and
//! maximum, folded from boxes of the array's values. Each cell's values are folded
//! in time order (callers hand boxes over in that order), so sums are the same
//! however a bucket's values arrive: from a read-back or from the commit's writes.

use super::{DayGrid, RollupAttr, RollupField};
use crate::dtype::DType;
use crate::region::Region;

pub(super) struct Buckets<'a> {
    /// The box of buckets, day keys along `dim`.
    cbox: &'a Region,
    dim: usize,
    grid: &'a DayGrid,
    /// Row-major strides of `cbox`.
    stride: Vec<usize>,
    pub count: Vec<u64>,
    /// Empty unless kept (the same for `min` and `max`).
    pub sum: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
    /// One row of values, decoded (reused).
    row: Vec<f64>,
}

impl<'a> Buckets<'a> {
    /// Empty buckets over `cbox` for what `k` keeps.
    pub fn new(cbox: &'a Region, dim: usize, grid: &'a DayGrid, k: &RollupAttr) -> Self {
        let n = cbox.len() as usize;
        let shape = cbox.shape();
        let mut stride = vec![1usize; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * shape[d + 1];
        }
        let kept = |on: bool, x: f64| if on { vec![x; n] } else { vec![] };
        Buckets {
            cbox,
            dim,
            grid,
            stride,
            count: vec![0; n],
            sum: kept(k.sum, 0.0),
            min: kept(k.min, f64::INFINITY),
            max: kept(k.max, f64::NEG_INFINITY),
            row: Vec::new(),
        }
    }

    /// Folds `raw` (row-major little-endian values of `dtype` over `piece`, a box of
    /// array indices within the days and cells of the buckets) in.
    pub fn fold(&mut self, piece: &Region, raw: &[u8], dtype: DType) {
        if piece.is_empty() {
            return;
        }
        let shape = piece.shape();
        let last = shape.len() - 1;
        let n = shape[last];
        let (dim, grid, cbox) = (self.dim, self.grid, self.cbox);
        let day0 = cbox.0[dim].start;
        let pos = |d: usize, i: u64| -> usize {
            if d == dim {
                (grid.day_of(i) - day0) as usize
            } else {
                (i - cbox.0[d].start) as usize
            }
        };
        // Along the last dimension: one bucket per value, or (time last) the day's.
        let last_pos: Vec<usize> = piece.0[last].clone().map(|i| pos(last, i)).collect();
        let mut idx = vec![0u64; last];
        let mut row = std::mem::take(&mut self.row);
        for bytes in raw.chunks_exact(n * dtype.size()) {
            let base: usize = (0..last)
                .map(|d| pos(d, piece.0[d].start + idx[d]) * self.stride[d])
                .sum();
            decode(bytes, dtype, &mut row);
            if last == dim {
                for (&p, &x) in last_pos.iter().zip(&row) {
                    self.fold_run(base + p, &[x]);
                }
            } else {
                self.fold_run(base + last_pos[0], &row);
            }
            for d in (0..last).rev() {
                idx[d] += 1;
                if idx[d] < shape[d] as u64 {
                    break;
                }
                idx[d] = 0;
            }
        }
        self.row = row;
    }

    /// Folds `xs` into the consecutive buckets from `g` on. NaN is no value: it adds
    /// 0 to the sum (a sum that starts at +0 never becomes -0, so adding +0 leaves
    /// it unchanged) and never passes a comparison.
    fn fold_run(&mut self, g: usize, xs: &[f64]) {
        let n = xs.len();
        for (c, &x) in self.count[g..g + n].iter_mut().zip(xs) {
            *c += !x.is_nan() as u64;
        }
        if !self.sum.is_empty() {
            for (s, &x) in self.sum[g..g + n].iter_mut().zip(xs) {
                *s += if x.is_nan() { 0.0 } else { x };
            }
        }
        if !self.min.is_empty() {
            for (m, &x) in self.min[g..g + n].iter_mut().zip(xs) {
                *m = if x < *m { x } else { *m };
            }
        }
        if !self.max.is_empty() {
            for (m, &x) in self.max[g..g + n].iter_mut().zip(xs) {
                *m = if x > *m { x } else { *m };
            }
        }
    }

    /// The stored little-endian bytes of `field` (of stored type `dtype`).
    pub fn field_bytes(&self, field: RollupField, dtype: DType) -> Vec<u8> {
        let counts: Vec<f64>;
        let values: &[f64] = match field {
            RollupField::Count => {
                counts = self.count.iter().map(|&c| c as f64).collect();
                &counts
            }
            RollupField::Sum => &self.sum,
            RollupField::Min => &self.min,
            RollupField::Max => &self.max,
        };
        let mut out = Vec::with_capacity(values.len() * dtype.size());
        match dtype {
            DType::U8 => out.extend(values.iter().map(|&x| x as u8)),
            DType::U16 => values
                .iter()
                .for_each(|&x| out.extend_from_slice(&(x as u16).to_le_bytes())),
            DType::U32 => values
                .iter()
                .for_each(|&x| out.extend_from_slice(&(x as u32).to_le_bytes())),
            DType::F32 => values
                .iter()
                .for_each(|&x| out.extend_from_slice(&(x as f32).to_le_bytes())),
            _ => values
                .iter()
                .for_each(|&x| out.extend_from_slice(&x.to_le_bytes())),
        }
        out
    }
}

/// `x` as the little-endian bytes of a stored field of type `dtype`.
pub(super) fn to_le(dtype: DType, x: f64) -> Vec<u8> {
    match dtype {
        DType::U8 => vec![x as u8],
        DType::U16 => (x as u16).to_le_bytes().to_vec(),
        DType::U32 => (x as u32).to_le_bytes().to_vec(),
        DType::F32 => (x as f32).to_le_bytes().to_vec(),
        _ => x.to_le_bytes().to_vec(),
    }
}

/// Little-endian values of `dtype` as f64, into `out` (as `Buffer::to_f64_vec`).
fn decode(raw: &[u8], dtype: DType, out: &mut Vec<f64>) {
    fn each<const N: usize>(raw: &[u8], out: &mut Vec<f64>, f: impl Fn([u8; N]) -> f64) {
        out.clear();
        out.extend(raw.chunks_exact(N).map(|b| f(b.try_into().unwrap())));
    }
    match dtype {
        DType::F32 => each::<4>(raw, out, |b| f32::from_le_bytes(b) as f64),
        DType::F64 => each::<8>(raw, out, f64::from_le_bytes),
        DType::I64 => each::<8>(raw, out, |b| i64::from_le_bytes(b) as f64),
        DType::I32 => each::<4>(raw, out, |b| i32::from_le_bytes(b) as f64),
        DType::I16 => each::<2>(raw, out, |b| i16::from_le_bytes(b) as f64),
        DType::I8 => each::<1>(raw, out, |b| i8::from_le_bytes(b) as f64),
        DType::U8 | DType::Bool => each::<1>(raw, out, |b| b[0] as f64),
        DType::U16 => each::<2>(raw, out, |b| u16::from_le_bytes(b) as f64),
        DType::U32 => each::<4>(raw, out, |b| u32::from_le_bytes(b) as f64),
        DType::U64 => each::<8>(raw, out, |b| u64::from_le_bytes(b) as f64),
    }
}
