//! Rust element types and their [`DType`]s.

use crate::buffer::Buffer;
use crate::dtype::DType;
use crate::scalar::Scalar;
use ndarray::ArrayD;
use std::fmt;

/// A Rust type that can be stored as an attribute element.
pub trait Element: Copy + Send + Sync + PartialEq + fmt::Debug + 'static {
    const DTYPE: DType;
    fn from_scalar(s: Scalar) -> Self;
    fn to_scalar(self) -> Scalar;
    fn wrap(a: ArrayD<Self>) -> Buffer;
    fn unwrap(b: Buffer) -> Option<ArrayD<Self>>;
}

macro_rules! numeric_element {
    ($t:ty, $dt:ident, $sv:ident, $as:ty) => {
        impl Element for $t {
            const DTYPE: DType = DType::$dt;
            fn from_scalar(s: Scalar) -> Self {
                match s {
                    Scalar::F64(v) => v as $t,
                    Scalar::I64(v) => v as $t,
                    Scalar::U64(v) => v as $t,
                    Scalar::Bool(v) => v as u8 as $t,
                }
            }
            fn to_scalar(self) -> Scalar {
                Scalar::$sv(self as $as)
            }
            fn wrap(a: ArrayD<Self>) -> Buffer {
                Buffer::$dt(a)
            }
            fn unwrap(b: Buffer) -> Option<ArrayD<Self>> {
                match b {
                    Buffer::$dt(a) => Some(a),
                    _ => None,
                }
            }
        }
    };
}

numeric_element!(f32, F32, F64, f64);
numeric_element!(f64, F64, F64, f64);
numeric_element!(i8, I8, I64, i64);
numeric_element!(i16, I16, I64, i64);
numeric_element!(i32, I32, I64, i64);
numeric_element!(i64, I64, I64, i64);
numeric_element!(u8, U8, U64, u64);
numeric_element!(u16, U16, U64, u64);
numeric_element!(u32, U32, U64, u64);
numeric_element!(u64, U64, U64, u64);

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn from_scalar(s: Scalar) -> Self {
        s.as_f64() != 0.0
    }
    fn to_scalar(self) -> Scalar {
        Scalar::Bool(self)
    }
    fn wrap(a: ArrayD<Self>) -> Buffer {
        Buffer::Bool(a)
    }
    fn unwrap(b: Buffer) -> Option<ArrayD<Self>> {
        match b {
            Buffer::Bool(a) => Some(a),
            _ => None,
        }
    }
}
