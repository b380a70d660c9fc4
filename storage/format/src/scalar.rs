//! A single value of any dtype.

use crate::dtype::DType;
use std::fmt;

/// A single value of any dtype, as given by users (fill values, query constants).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    F64(f64),
    I64(i64),
    U64(u64),
    Bool(bool),
}

impl Scalar {
    pub fn as_f64(self) -> f64 {
        match self {
            Scalar::F64(v) => v,
            Scalar::I64(v) => v as f64,
            Scalar::U64(v) => v as f64,
            Scalar::Bool(v) => v as u8 as f64,
        }
    }

    /// The value's little-endian bytes in `dtype` (saturating casts, as `as` does).
    pub fn to_le_bytes(self, dtype: DType) -> Vec<u8> {
        macro_rules! cast {
            ($t:ty) => {
                match self {
                    Scalar::F64(v) => (v as $t).to_le_bytes().to_vec(),
                    Scalar::I64(v) => (v as $t).to_le_bytes().to_vec(),
                    Scalar::U64(v) => (v as $t).to_le_bytes().to_vec(),
                    Scalar::Bool(v) => (v as u8 as $t).to_le_bytes().to_vec(),
                }
            };
        }
        match dtype {
            DType::F32 => cast!(f32),
            DType::F64 => cast!(f64),
            DType::I8 => cast!(i8),
            DType::I16 => cast!(i16),
            DType::I32 => cast!(i32),
            DType::I64 => cast!(i64),
            DType::U8 => cast!(u8),
            DType::U16 => cast!(u16),
            DType::U32 => cast!(u32),
            DType::U64 => cast!(u64),
            DType::Bool => vec![(self.as_f64() != 0.0) as u8],
        }
    }

    /// Reads a value of `dtype` from its little-endian bytes.
    pub fn from_le_bytes(dtype: DType, b: &[u8]) -> Scalar {
        macro_rules! get {
            ($t:ty, $variant:ident, $as:ty) => {{
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(&b[..std::mem::size_of::<$t>()]);
                Scalar::$variant(<$t>::from_le_bytes(a) as $as)
            }};
        }
        match dtype {
            DType::F32 => get!(f32, F64, f64),
            DType::F64 => get!(f64, F64, f64),
            DType::I8 => get!(i8, I64, i64),
            DType::I16 => get!(i16, I64, i64),
            DType::I32 => get!(i32, I64, i64),
            DType::I64 => get!(i64, I64, i64),
            DType::U8 => get!(u8, U64, u64),
            DType::U16 => get!(u16, U64, u64),
            DType::U32 => get!(u32, U64, u64),
            DType::U64 => get!(u64, U64, u64),
            DType::Bool => Scalar::Bool(b[0] != 0),
        }
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::F64(v) => write!(f, "{v}"),
            Scalar::I64(v) => write!(f, "{v}"),
            Scalar::U64(v) => write!(f, "{v}"),
            Scalar::Bool(v) => write!(f, "{v}"),
        }
    }
}
