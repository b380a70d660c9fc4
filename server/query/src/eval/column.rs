//! Columns of values (one per expression result) and literals as numbers.

use super::{EType, Lit};
use arrayq_storage::{Buffer, DType};

/// A column of values, or a constant broadcast to any length.
#[derive(Clone, Debug, PartialEq)]
pub enum Col {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
    Const(Lit),
}

impl Col {
    pub fn from_buffer(b: Buffer) -> Col {
        fn raw<T: Clone>(a: ndarray::ArrayD<T>) -> Vec<T> {
            if a.is_standard_layout() {
                let (v, off) = a.into_raw_vec_and_offset();
                if off.unwrap_or(0) == 0 {
                    return v;
                }
                unreachable!("standard layout arrays start at offset 0")
            } else {
                a.iter().cloned().collect()
            }
        }
        match b {
            Buffer::F32(a) => Col::F32(raw(a)),
            Buffer::F64(a) => Col::F64(raw(a)),
            Buffer::Bool(a) => Col::Bool(raw(a)),
            Buffer::I64(a) => Col::I64(raw(a)),
            Buffer::I8(a) => Col::I64(a.iter().map(|&x| x as i64).collect()),
            Buffer::I16(a) => Col::I64(a.iter().map(|&x| x as i64).collect()),
            Buffer::I32(a) => Col::I64(a.iter().map(|&x| x as i64).collect()),
            Buffer::U8(a) => Col::I64(a.iter().map(|&x| x as i64).collect()),
            Buffer::U16(a) => Col::I64(a.iter().map(|&x| x as i64).collect()),
            Buffer::U32(a) => Col::I64(a.iter().map(|&x| x as i64).collect()),
            Buffer::U64(a) => Col::I64(a.iter().map(|&x| x as i64).collect()),
        }
    }

    /// Materialises to `n` elements of type `ty` (constants broadcast).
    pub fn into_type(self, ty: EType, n: usize) -> Col {
        match ty {
            EType::F32 => Col::F32(self.f32s(n)),
            EType::F64 => Col::F64(self.f64s(n)),
            EType::I64 => Col::I64(self.i64s(n)),
            EType::Bool => Col::Bool(self.bools(n)),
        }
    }

    pub fn f64s(self, n: usize) -> Vec<f64> {
        match self {
            Col::F64(v) => v,
            Col::F32(v) => v.iter().map(|&x| x as f64).collect(),
            Col::I64(v) => v.iter().map(|&x| x as f64).collect(),
            Col::Bool(v) => v.iter().map(|&x| x as u8 as f64).collect(),
            Col::Const(l) => vec![lit_f64(l); n],
        }
    }

    pub fn f32s(self, n: usize) -> Vec<f32> {
        match self {
            Col::F32(v) => v,
            Col::F64(v) => v.iter().map(|&x| x as f32).collect(),
            Col::I64(v) => v.iter().map(|&x| x as f32).collect(),
            Col::Bool(v) => v.iter().map(|&x| x as u8 as f32).collect(),
            Col::Const(l) => vec![lit_f64(l) as f32; n],
        }
    }

    pub fn i64s(self, n: usize) -> Vec<i64> {
        match self {
            Col::I64(v) => v,
            Col::F32(v) => v.iter().map(|&x| x as i64).collect(),
            Col::F64(v) => v.iter().map(|&x| x as i64).collect(),
            Col::Bool(v) => v.iter().map(|&x| x as i64).collect(),
            Col::Const(l) => vec![lit_i64(l); n],
        }
    }

    pub fn bools(self, n: usize) -> Vec<bool> {
        match self {
            Col::Bool(v) => v,
            Col::F32(v) => v.iter().map(|&x| x != 0.0).collect(),
            Col::F64(v) => v.iter().map(|&x| x != 0.0).collect(),
            Col::I64(v) => v.iter().map(|&x| x != 0).collect(),
            Col::Const(l) => vec![lit_f64(l) != 0.0; n],
        }
    }

    /// Converts to a 1-D buffer of `dtype` (saturating casts for narrower integers).
    pub fn into_buffer(self, dtype: DType, n: usize) -> Buffer {
        use ndarray::{ArrayD, IxDyn};
        fn arr<T>(v: Vec<T>) -> ArrayD<T> {
            let n = v.len();
            ArrayD::from_shape_vec(IxDyn(&[n]), v).expect("1-D")
        }
        match dtype {
            DType::F32 => Buffer::F32(arr(self.f32s(n))),
            DType::F64 => Buffer::F64(arr(self.f64s(n))),
            DType::Bool => Buffer::Bool(arr(self.bools(n))),
            DType::I64 => Buffer::I64(arr(self.i64s(n))),
            DType::I8 => Buffer::I8(arr(self.i64s(n).iter().map(|&x| x as i8).collect())),
            DType::I16 => Buffer::I16(arr(self.i64s(n).iter().map(|&x| x as i16).collect())),
            DType::I32 => Buffer::I32(arr(self.i64s(n).iter().map(|&x| x as i32).collect())),
            DType::U8 => Buffer::U8(arr(self.i64s(n).iter().map(|&x| x as u8).collect())),
            DType::U16 => Buffer::U16(arr(self.i64s(n).iter().map(|&x| x as u16).collect())),
            DType::U32 => Buffer::U32(arr(self.i64s(n).iter().map(|&x| x as u32).collect())),
            DType::U64 => Buffer::U64(arr(self.i64s(n).iter().map(|&x| x as u64).collect())),
        }
    }
}

pub fn lit_f64(l: Lit) -> f64 {
    match l {
        Lit::F(v) => v,
        Lit::I(v) => v as f64,
        Lit::B(b) => b as u8 as f64,
    }
}

pub fn lit_i64(l: Lit) -> i64 {
    match l {
        Lit::F(v) => v as i64,
        Lit::I(v) => v,
        Lit::B(b) => b as i64,
    }
}
