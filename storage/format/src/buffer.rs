//! The typed n-d buffer: what reads return and writes take.

use crate::dtype::DType;
use crate::element::Element;
use crate::scalar::Scalar;
use crate::with_buffer;
use ndarray::ArrayD;

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

/// Elements and a shape (or bytes and a dtype) that do not fit together.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

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
        crate::with_dtype!(dtype, T => T::wrap(ArrayD::from_elem(shape.to_vec(), T::from_scalar(fill))))
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
            if let Some(raw) = buffer_bytes(self) {
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
        if cfg!(target_endian = "little") && buffer_bytes(&self).is_some() {
            return bytes::Bytes::from_owner(LeBuffer(self));
        }
        bytes::Bytes::from(self.to_le_bytes())
    }

    /// The same elements, row-major, in `shape`; no copy when the buffer is already
    /// in standard layout.
    pub fn into_shape(self, shape: &[usize]) -> Result<Buffer, ShapeError> {
        let n: usize = shape.iter().product();
        if self.len() != n {
            return Err(ShapeError(format!(
                "{} values do not fit shape {shape:?}",
                self.len()
            )));
        }
        with_buffer!(self, a => {
            let a = if a.is_standard_layout() { a } else { a.as_standard_layout().into_owned() };
            a.into_shape_with_order(ndarray::IxDyn(shape))
                .map(Element::wrap)
                .map_err(|e| ShapeError(e.to_string()))
        })
    }

    /// Builds a buffer from row-major little-endian bytes.
    pub fn from_le_bytes(
        dtype: DType,
        shape: &[usize],
        bytes: &[u8],
    ) -> Result<Buffer, ShapeError> {
        let n: usize = shape.iter().product();
        if bytes.len() != n * dtype.size() {
            return Err(ShapeError(format!(
                "{} bytes given for {n} elements of {dtype} (shape {shape:?}), expected {}",
                bytes.len(),
                n * dtype.size()
            )));
        }
        let mut out = Buffer::filled(dtype, shape, dtype.default_fill());
        if let Some(dst) = buffer_bytes_mut(&mut out) {
            dst.copy_from_slice(bytes);
        } else if let Buffer::Bool(a) = &mut out {
            for (d, &b) in a.iter_mut().zip(bytes) {
                *d = b != 0;
            }
        }
        Ok(out)
    }
}

/// The raw bytes of a numeric buffer in standard layout (None for bool and for
/// non-contiguous arrays).
pub fn buffer_bytes(b: &Buffer) -> Option<&[u8]> {
    macro_rules! bytes {
        ($a:expr) => {
            $a.as_slice().map(|s| bytemuck::cast_slice(s))
        };
    }
    match b {
        Buffer::F32(a) => bytes!(a),
        Buffer::F64(a) => bytes!(a),
        Buffer::I8(a) => bytes!(a),
        Buffer::I16(a) => bytes!(a),
        Buffer::I32(a) => bytes!(a),
        Buffer::I64(a) => bytes!(a),
        Buffer::U8(a) => bytes!(a),
        Buffer::U16(a) => bytes!(a),
        Buffer::U32(a) => bytes!(a),
        Buffer::U64(a) => bytes!(a),
        Buffer::Bool(_) => None,
    }
}

/// The raw bytes of a numeric buffer in standard layout (None for bool, whose bytes
/// must stay 0/1, and for non-contiguous arrays).
pub fn buffer_bytes_mut(b: &mut Buffer) -> Option<&mut [u8]> {
    macro_rules! bytes {
        ($a:expr) => {
            $a.as_slice_mut().map(|s| bytemuck::cast_slice_mut(s))
        };
    }
    match b {
        Buffer::F32(a) => bytes!(a),
        Buffer::F64(a) => bytes!(a),
        Buffer::I8(a) => bytes!(a),
        Buffer::I16(a) => bytes!(a),
        Buffer::I32(a) => bytes!(a),
        Buffer::I64(a) => bytes!(a),
        Buffer::U8(a) => bytes!(a),
        Buffer::U16(a) => bytes!(a),
        Buffer::U32(a) => bytes!(a),
        Buffer::U64(a) => bytes!(a),
        Buffer::Bool(_) => None,
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
    #[cfg(not(target_os = "linux"))]
    let _ = b;
}

/// A buffer whose memory is its little-endian bytes (checked before wrapping).
struct LeBuffer(Buffer);

impl AsRef<[u8]> for LeBuffer {
    fn as_ref(&self) -> &[u8] {
        buffer_bytes(&self.0).unwrap_or(&[])
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
        let e = Buffer::I32(ndarray::ArrayD::zeros(vec![4]))
            .into_shape(&[5])
            .unwrap_err();
        assert_eq!(e.to_string(), "4 values do not fit shape [5]");
    }

    #[test]
    fn le_bytes_both_ways() {
        let b = Buffer::from_le_bytes(DType::I16, &[2], &[1, 0, 0xff, 0xff]).unwrap();
        assert_eq!(b, Buffer::I16(ndarray::arr1(&[1i16, -1]).into_dyn()));
        assert_eq!(b.to_le_bytes(), vec![1, 0, 0xff, 0xff]);
        let b = Buffer::from_le_bytes(DType::Bool, &[3], &[1, 0, 1]).unwrap();
        assert_eq!(
            b,
            Buffer::Bool(ndarray::arr1(&[true, false, true]).into_dyn())
        );
        assert_eq!(&b.into_le_bytes()[..], &[1, 0, 1]);
        let e = Buffer::from_le_bytes(DType::I32, &[2], &[0; 7]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "7 bytes given for 2 elements of i32 (shape [2]), expected 8"
        );
    }
}
