//! Element types and the typed buffers that carry them.

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The element type of an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
}

impl DType {
    pub const ALL: [DType; 11] = [
        DType::F32,
        DType::F64,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::Bool,
    ];

    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I8 => "i8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::U64 => "u64",
            DType::Bool => "bool",
        }
    }

    pub fn parse(s: &str) -> Option<DType> {
        let s = s.to_ascii_lowercase();
        let alias = match s.as_str() {
            "float" | "float32" | "real" => "f32",
            "double" | "float64" => "f64",
            "int8" | "tinyint" => "i8",
            "int16" | "smallint" => "i16",
            "int32" | "int" | "integer" => "i32",
            "int64" | "bigint" => "i64",
            "uint8" => "u8",
            "uint16" => "u16",
            "uint32" => "u32",
            "uint64" => "u64",
            "boolean" => "bool",
            other => other,
        };
        DType::ALL.into_iter().find(|d| d.name() == alias)
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// The fill value used when a schema names none: NaN for floats, zero otherwise.
    pub fn default_fill(self) -> Scalar {
        match self {
            DType::F32 | DType::F64 => Scalar::F64(f64::NAN),
            DType::Bool => Scalar::Bool(false),
            DType::U8 | DType::U16 | DType::U32 | DType::U64 => Scalar::U64(0),
            _ => Scalar::I64(0),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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

/// An n-d array of any dtype: what reads return and writes take.
#[derive(Clone, Debug, PartialEq)]
pub enum Buffer {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    I8(ArrayD<i8>),
    I16(ArrayD<i16>),
    I32(ArrayD<i32>),
    I64(ArrayD<i64>),
    U8(ArrayD<u8>),
    U16(ArrayD<u16>),
    U32(ArrayD<u32>),
    U64(ArrayD<u64>),
    Bool(ArrayD<bool>),
}

/// Runs `$body` with `$a` bound to the typed array inside a [`Buffer`].
#[macro_export]
macro_rules! with_buffer {
    ($buf:expr, $a:ident => $body:expr) => {
        match $buf {
            $crate::Buffer::F32($a) => $body,
            $crate::Buffer::F64($a) => $body,
            $crate::Buffer::I8($a) => $body,
            $crate::Buffer::I16($a) => $body,
            $crate::Buffer::I32($a) => $body,
            $crate::Buffer::I64($a) => $body,
            $crate::Buffer::U8($a) => $body,
            $crate::Buffer::U16($a) => $body,
            $crate::Buffer::U32($a) => $body,
            $crate::Buffer::U64($a) => $body,
            $crate::Buffer::Bool($a) => $body,
        }
    };
}

/// Runs `$body` with the Rust element type of a [`DType`] bound to `$t`.
#[macro_export]
macro_rules! with_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $t = f32;
                $body
            }
            $crate::DType::F64 => {
                type $t = f64;
                $body
            }
            $crate::DType::I8 => {
                type $t = i8;
                $body
            }
            $crate::DType::I16 => {
                type $t = i16;
                $body
            }
            $crate::DType::I32 => {
                type $t = i32;
                $body
            }
            $crate::DType::I64 => {
                type $t = i64;
                $body
            }
            $crate::DType::U8 => {
                type $t = u8;
                $body
            }
            $crate::DType::U16 => {
                type $t = u16;
                $body
            }
            $crate::DType::U32 => {
                type $t = u32;
                $body
            }
            $crate::DType::U64 => {
                type $t = u64;
                $body
            }
            $crate::DType::Bool => {
                type $t = bool;
                $body
            }
        }
    };
}

impl Buffer {
    pub fn dtype(&self) -> DType {
        fn dt<T: Element>(_: &ArrayD<T>) -> DType {
            T::DTYPE
        }
        with_buffer!(self, a => dt(a))
    }

    pub fn shape(&self) -> &[usize] {
        with_buffer!(self, a => a.shape())
    }

    pub fn len(&self) -> usize {
        with_buffer!(self, a => a.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A buffer of `shape` filled with `fill`.
    pub fn filled(dtype: DType, shape: &[usize], fill: Scalar) -> Buffer {
        with_dtype!(dtype, T => T::wrap(ArrayD::from_elem(shape.to_vec(), T::from_scalar(fill))))
    }

    /// A zero-filled buffer whose pages the OS provides lazily (calloc), as huge pages
    /// when large: reads write every element once, so pre-filling would only cost
    /// page faults and a pass over memory.
    pub fn zeroed(dtype: DType, shape: &[usize]) -> Buffer {
        let mut b = Buffer::filled(dtype, shape, Scalar::I64(0));
        advise_huge_pages(&mut b);
        b
    }

    /// Every element as f64 (lossy for large 64-bit integers), row-major.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        with_buffer!(self, a => a.iter().map(|v| v.to_scalar().as_f64()).collect())
    }

    /// Row-major little-endian bytes of the elements (bool: one byte 0/1 each); one
    /// copy for a contiguous numeric buffer on a little-endian target.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        if cfg!(target_endian = "little") {
            if let Some(raw) = crate::codec::buffer_bytes(self) {
                return raw.to_vec();
            }
        }
        if let Buffer::Bool(a) = self {
            return a.iter().map(|&x| x as u8).collect();
        }
        let mut out = Vec::with_capacity(self.len() * self.dtype().size());
        with_buffer!(self, a => {
            for v in a.iter() {
                out.extend_from_slice(&v.to_scalar().to_le_bytes(self.dtype()));
            }
        });
        out
    }

    /// [`Buffer::to_le_bytes`] taking ownership: a contiguous numeric buffer on a
    /// little-endian target becomes the bytes without a copy (they own the buffer).
    pub fn into_le_bytes(self) -> bytes::Bytes {
        if cfg!(target_endian = "little") && crate::codec::buffer_bytes(&self).is_some() {
            return bytes::Bytes::from_owner(LeBuffer(self));
        }
        bytes::Bytes::from(self.to_le_bytes())
    }

    /// The same elements, row-major, in `shape`; no copy when the buffer is already
    /// in standard layout.
    pub fn into_shape(self, shape: &[usize]) -> crate::Result<Buffer> {
        let n: usize = shape.iter().product();
        if self.len() != n {
            return Err(crate::StorageError::ShapeMismatch(format!(
                "{} values do not fit shape {shape:?}",
                self.len()
            )));
        }
        crate::with_buffer!(self, a => {
            let a = if a.is_standard_layout() { a } else { a.as_standard_layout().into_owned() };
            a.into_shape_with_order(ndarray::IxDyn(shape))
                .map(Element::wrap)
                .map_err(|e| crate::StorageError::ShapeMismatch(e.to_string()))
        })
    }

    /// Builds a buffer from row-major little-endian bytes.
    pub fn from_le_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> crate::Result<Buffer> {
        let n: usize = shape.iter().product();
        if bytes.len() != n * dtype.size() {
            return Err(crate::StorageError::ShapeMismatch(format!(
                "{} bytes given for {n} elements of {dtype} (shape {shape:?}), expected {}",
                bytes.len(),
                n * dtype.size()
            )));
        }
        let mut out = Buffer::filled(dtype, shape, dtype.default_fill());
        crate::codec::decode_le_into(dtype, bytes, &mut out);
        Ok(out)
    }
}

/// Asks Linux to back a large, not yet touched buffer with transparent huge pages
/// (as numpy does for big arrays): far fewer page faults on first write.
fn advise_huge_pages(b: &mut Buffer) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let len = b.len() * b.dtype().size();
        if len < 2 * HUGE {
            return;
        }
        let ptr = with_buffer!(b, a => a.as_mut_ptr() as usize);
        let start = ptr.div_ceil(HUGE) * HUGE;
        let end = (ptr + len) / HUGE * HUGE;
        if end > start {
            // SAFETY: the range lies inside the buffer's allocation; madvise only
            // changes how the kernel backs it, never its contents.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
}

/// A buffer whose memory is its little-endian bytes (checked before wrapping).
struct LeBuffer(Buffer);

impl AsRef<[u8]> for LeBuffer {
    fn as_ref(&self) -> &[u8] {
        crate::codec::buffer_bytes(&self.0).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn into_shape_keeps_row_major_order() {
        let a = ndarray::Array2::from_shape_fn((2, 3), |(i, j)| (10 * i + j) as i32);
        let b = Buffer::I32(a.clone().into_dyn())
            .into_shape(&[3, 2])
            .unwrap();
        assert_eq!(b.to_f64_vec(), vec![0.0, 1.0, 2.0, 10.0, 11.0, 12.0]);
        // A transposed (non-standard) array is reshaped in its logical order.
        let t = Buffer::I32(a.reversed_axes().into_dyn())
            .into_shape(&[6])
            .unwrap();
        assert_eq!(t.to_f64_vec(), vec![0.0, 10.0, 1.0, 11.0, 2.0, 12.0]);
        assert!(Buffer::I32(ndarray::ArrayD::zeros(vec![4]))
            .into_shape(&[5])
            .is_err());
    }
}
