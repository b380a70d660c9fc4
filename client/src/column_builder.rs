//! Typed columns assembled from little-endian result blocks: each block copied once
//! into the column's vector, then shaped without another copy.

use arrayq_format::{Buffer, DType};

use crate::error::{Error, Result};

/// A 1-D buffer of `dtype` from row-major little-endian bytes (a whole number of
/// elements), copied once straight into the typed vector.
pub fn buffer_from_le(dtype: DType, bytes: &[u8]) -> Result<Buffer> {
    let size = dtype.size();
    if !bytes.len().is_multiple_of(size) {
        return Err(Error::Protocol(format!(
            "{} bytes are not a whole number of {size}-byte {dtype} values",
            bytes.len()
        )));
    }
    let n = bytes.len() / size;
    let mut b = ColumnBuilder::with_capacity(dtype, n);
    b.extend_le(bytes);
    b.finish(&[n])
}

/// Element types whose little-endian bytes can be copied into a typed vector.
trait LeElem: bytemuck::Pod {
    /// The value from its little-endian representation read as a native one.
    fn le_to_native(self) -> Self;
}

macro_rules! le_elem {
    ($($t:ty),*) => {$(
        impl LeElem for $t {
            #[inline]
            fn le_to_native(self) -> Self {
                <$t>::from_le_bytes(self.to_ne_bytes())
            }
        }
    )*};
}
le_elem!(f32, f64, i8, i16, i32, i64, u8, u16, u32, u64);

/// Appends the little-endian elements in `bytes` (a whole number of them) to `v`:
/// one `memcpy` into the spare capacity, so result blocks are copied once instead of
/// being converted element by element or gathered in a `Vec<u8>` first.
fn extend_le<T: LeElem>(v: &mut Vec<T>, bytes: &[u8]) {
    let size = std::mem::size_of::<T>();
    debug_assert!(bytes.len().is_multiple_of(size));
    let n = bytes.len() / size;
    v.reserve(n);
    let old = v.len();
    // SAFETY: `reserve` made room for `n` more elements, `bytes` holds exactly
    // `n * size` bytes and does not overlap the vector, and `T: Pod` makes every bit
    // pattern a valid value, so the first `old + n` elements are initialised.
    unsafe {
        std::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            v.as_mut_ptr().add(old).cast::<u8>(),
            n * size,
        );
        v.set_len(old + n);
    }
    if cfg!(target_endian = "big") {
        for x in &mut v[old..] {
            *x = x.le_to_native();
        }
    }
}

/// A typed column assembled from little-endian blocks in element order, then shaped
/// without another copy.
pub(crate) enum ColumnBuilder {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    Bool(Vec<bool>),
}

macro_rules! each_column {
    ($self:expr, $v:ident => $e:expr, $b:ident => $eb:expr) => {
        match $self {
            ColumnBuilder::F32($v) => $e,
            ColumnBuilder::F64($v) => $e,
            ColumnBuilder::I8($v) => $e,
            ColumnBuilder::I16($v) => $e,
            ColumnBuilder::I32($v) => $e,
            ColumnBuilder::I64($v) => $e,
            ColumnBuilder::U8($v) => $e,
            ColumnBuilder::U16($v) => $e,
            ColumnBuilder::U32($v) => $e,
            ColumnBuilder::U64($v) => $e,
            ColumnBuilder::Bool($b) => $eb,
        }
    };
}

impl ColumnBuilder {
    /// An empty column of `dtype` with room for `n` elements.
    pub(crate) fn with_capacity(dtype: DType, n: usize) -> ColumnBuilder {
        match dtype {
            DType::F32 => ColumnBuilder::F32(Vec::with_capacity(n)),
            DType::F64 => ColumnBuilder::F64(Vec::with_capacity(n)),
            DType::I8 => ColumnBuilder::I8(Vec::with_capacity(n)),
            DType::I16 => ColumnBuilder::I16(Vec::with_capacity(n)),
            DType::I32 => ColumnBuilder::I32(Vec::with_capacity(n)),
            DType::I64 => ColumnBuilder::I64(Vec::with_capacity(n)),
            DType::U8 => ColumnBuilder::U8(Vec::with_capacity(n)),
            DType::U16 => ColumnBuilder::U16(Vec::with_capacity(n)),
            DType::U32 => ColumnBuilder::U32(Vec::with_capacity(n)),
            DType::U64 => ColumnBuilder::U64(Vec::with_capacity(n)),
            DType::Bool => ColumnBuilder::Bool(Vec::with_capacity(n)),
        }
    }

    /// Appends whole little-endian elements (BOOL: one byte each, non-zero = true).
    pub(crate) fn extend_le(&mut self, bytes: &[u8]) {
        each_column!(self, v => extend_le(v, bytes), b => b.extend(bytes.iter().map(|&x| x != 0)))
    }

    /// Appends `n` zero elements and returns their bytes, to be overwritten with
    /// little-endian values followed by [`ColumnBuilder::tail_from_le`]; `None` for
    /// BOOL, whose elements are not stored as bytes here.
    pub(crate) fn extend_zeroed(&mut self, n: usize) -> Option<&mut [u8]> {
        fn tail<T: LeElem>(v: &mut Vec<T>, n: usize) -> &mut [u8] {
            let old = v.len();
            if old == 0 && v.capacity() < n {
                // Zeroed allocation: fresh pages come zeroed, no memset.
                *v = vec![T::zeroed(); n];
            } else {
                v.resize(old + n, T::zeroed());
            }
            bytemuck::cast_slice_mut(&mut v[old..])
        }
        each_column!(self, v => Some(tail(v, n)), _b => None)
    }

    /// Converts the last `n` elements from little-endian to native order (nothing
    /// to do on little-endian targets).
    pub(crate) fn tail_from_le(&mut self, n: usize) {
        if cfg!(target_endian = "big") {
            each_column!(self, v => {
                let len = v.len();
                for x in &mut v[len - n..] {
                    *x = x.le_to_native();
                }
            }, _b => {})
        }
    }

    /// The column as a buffer of `shape` (which must hold exactly its elements).
    pub(crate) fn finish(self, shape: &[usize]) -> Result<Buffer> {
        use ndarray::{ArrayD, IxDyn};
        let bad = |e: ndarray::ShapeError| {
            Error::Protocol(format!("column values do not fit shape {shape:?}: {e}"))
        };
        macro_rules! shaped {
            ($variant:ident, $v:expr) => {
                Buffer::$variant(ArrayD::from_shape_vec(IxDyn(shape), $v).map_err(bad)?)
            };
        }
        Ok(match self {
            ColumnBuilder::F32(v) => shaped!(F32, v),
            ColumnBuilder::F64(v) => shaped!(F64, v),
            ColumnBuilder::I8(v) => shaped!(I8, v),
            ColumnBuilder::I16(v) => shaped!(I16, v),
            ColumnBuilder::I32(v) => shaped!(I32, v),
            ColumnBuilder::I64(v) => shaped!(I64, v),
            ColumnBuilder::U8(v) => shaped!(U8, v),
            ColumnBuilder::U16(v) => shaped!(U16, v),
            ColumnBuilder::U32(v) => shaped!(U32, v),
            ColumnBuilder::U64(v) => shaped!(U64, v),
            ColumnBuilder::Bool(v) => shaped!(Bool, v),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_from_le_blocks() {
        let x = [1.5f32, -2.0, 3.25];
        let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        let b = buffer_from_le(DType::F32, &bytes).unwrap();
        assert_eq!(b.to_f64_vec(), vec![1.5, -2.0, 3.25]);
        assert!(buffer_from_le(DType::F32, &bytes[..5]).is_err());
        // Blocks split anywhere on element boundaries, then shaped.
        let mut c = ColumnBuilder::with_capacity(DType::I16, 4);
        c.extend_le(&[1, 0, 2, 0]);
        c.extend_le(&[3, 0, 0xff, 0xff]);
        let b = c.finish(&[2, 2]).unwrap();
        assert_eq!(b.shape(), &[2, 2]);
        assert_eq!(b.to_f64_vec(), vec![1.0, 2.0, 3.0, -1.0]);
        let mut c = ColumnBuilder::with_capacity(DType::Bool, 3);
        c.extend_le(&[0, 1, 2]);
        assert_eq!(c.finish(&[3]).unwrap().to_f64_vec(), vec![0.0, 1.0, 1.0]);
        let mut c = ColumnBuilder::with_capacity(DType::U8, 1);
        c.extend_le(&[7]);
        assert!(c.finish(&[2]).is_err());
        let mut c = ColumnBuilder::with_capacity(DType::F64, 1);
        c.extend_le(&2.5f64.to_le_bytes());
        assert_eq!(c.finish(&[]).unwrap().to_f64_vec(), vec![2.5]);
    }
}
