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
        // Along the last dimension: consecutive buckets, or (time last) the days'.
        let at: Vec<usize> = if last == dim {
            piece.0[last].clone().map(|i| pos(last, i)).collect()
        } else {
            Vec::new()
        };
        let first = if last == dim {
            0
        } else {
            pos(last, piece.0[last].start)
        };
        let mut idx = vec![0u64; last];
        for bytes in raw.chunks_exact(n * dtype.size()) {
            let base: usize = (0..last)
                .map(|d| pos(d, piece.0[d].start + idx[d]) * self.stride[d])
                .sum();
            self.fold_row(base + first, &at, bytes, dtype);
            for d in (0..last).rev() {
                idx[d] += 1;
                if idx[d] < shape[d] as u64 {
                    break;
                }
                idx[d] = 0;
            }
        }
    }

    /// Folds one row of little-endian values of `dtype`: value `j` into bucket
    /// `g + at[j]`, or `g + j` when `at` is empty.
    fn fold_row(&mut self, g: usize, at: &[usize], raw: &[u8], dtype: DType) {
        // The common case, read in place (the staged bytes of f32 values are aligned).
        #[cfg(target_endian = "little")]
        if let (DType::F32, Ok(v)) = (dtype, bytemuck::try_cast_slice::<u8, f32>(raw)) {
            return self.fold_values(g, at, v.len(), |j| v[j] as f64);
        }
        match dtype {
            DType::F32 => self.fold_le::<4>(g, at, raw, |b| f32::from_le_bytes(b) as f64),
            DType::F64 => self.fold_le::<8>(g, at, raw, f64::from_le_bytes),
            DType::I64 => self.fold_le::<8>(g, at, raw, |b| i64::from_le_bytes(b) as f64),
            DType::I32 => self.fold_le::<4>(g, at, raw, |b| i32::from_le_bytes(b) as f64),
            DType::I16 => self.fold_le::<2>(g, at, raw, |b| i16::from_le_bytes(b) as f64),
            DType::I8 => self.fold_le::<1>(g, at, raw, |b| i8::from_le_bytes(b) as f64),
            DType::U8 | DType::Bool => self.fold_le::<1>(g, at, raw, |b| b[0] as f64),
            DType::U16 => self.fold_le::<2>(g, at, raw, |b| u16::from_le_bytes(b) as f64),
            DType::U32 => self.fold_le::<4>(g, at, raw, |b| u32::from_le_bytes(b) as f64),
            DType::U64 => self.fold_le::<8>(g, at, raw, |b| u64::from_le_bytes(b) as f64),
        }
    }

    /// [`Self::fold_row`] for values of `N` bytes read by `f` (as
    /// `Buffer::to_f64_vec` converts them). NaN is no value (and never passes a
    /// comparison).
    fn fold_le<const N: usize>(
        &mut self,
        g: usize,
        at: &[usize],
        raw: &[u8],
        f: impl Fn([u8; N]) -> f64,
    ) {
        let get = |j: usize| f(raw[j * N..(j + 1) * N].try_into().unwrap());
        self.fold_values(g, at, raw.len() / N, get);
    }

    /// Folds values `get(0..n)`, as [`Self::fold_row`].
    fn fold_values(&mut self, g: usize, at: &[usize], n: usize, get: impl Fn(usize) -> f64) {
        // The buckets the row reaches, from `g` on (`at` ascends).
        let span = at.last().map_or(n, |&a| a + 1);
        let cut = |v: &mut Vec<f64>| -> std::ops::Range<usize> {
            if v.is_empty() {
                0..0
            } else {
                g..g + span
            }
        };
        let (rs, rmin, rmax) = (cut(&mut self.sum), cut(&mut self.min), cut(&mut self.max));
        let (keep_sum, keep_min, keep_max) = (!rs.is_empty(), !rmin.is_empty(), !rmax.is_empty());
        let count = &mut self.count[g..g + span];
        let sum = &mut self.sum[rs];
        let min = &mut self.min[rmin];
        let max = &mut self.max[rmax];
        for j in 0..n {
            let x = get(j);
            let b = if at.is_empty() { j } else { at[j] };
            let ok = !x.is_nan();
            count[b] += ok as u64;
            if keep_sum && ok {
                sum[b] += x;
            }
            if keep_min && x < min[b] {
                min[b] = x;
            }
            if keep_max && x > max[b] {
                max[b] = x;
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
