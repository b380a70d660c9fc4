//! numpy `.npy` files over the `npyz` crate: reading arrays to load (`arrayq
//! load npy`) and writing query results (`--format npy`).
//!
//! Reading takes format versions 1-3 in C order with element types
//! `f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1` of either byte order (npyz swaps
//! big-endian data). Writing produces little-endian files: a result with one
//! column becomes a plain array of that dtype shaped like the result; a result
//! with several columns becomes a structured array with one field per column.
//! Coordinates are not stored (use JSON or CSV for those).

use std::io::{self, Read, Write};

use arrayq_format::{Buffer, DType};
use npyz::{TypeChar, TypeStr, WriterBuilder};

use crate::result::QueryResult;

/// An array read from an `.npy` file.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// Dimensions (empty for a 0-d array).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Little-endian, row-major element bytes.
    pub data: Vec<u8>,
}

impl NpyArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The data as a typed buffer shaped like the array.
    pub fn to_buffer(&self) -> io::Result<Buffer> {
        Buffer::from_le_bytes(self.dtype, &self.shape, &self.data).map_err(|e| bad(e.to_string()))
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// numpy's type string for a dtype (little-endian).
pub fn descr(d: DType) -> &'static str {
    match d {
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::I8 => "|i1",
        DType::I16 => "<i2",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::U8 => "|u1",
        DType::U16 => "<u2",
        DType::U32 => "<u4",
        DType::U64 => "<u8",
        DType::Bool => "|b1",
    }
}

fn type_str(d: DType) -> TypeStr {
    descr(d)
        .parse()
        .expect("numpy type strings of arrayq dtypes parse")
}

/// The arrayq dtype of a plain numpy element type.
fn arrayq_dtype(dtype: &npyz::DType) -> io::Result<DType> {
    let unsupported = || {
        bad(format!(
            "unsupported npy dtype {} (supported: f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)",
            dtype.descr()
        ))
    };
    let npyz::DType::Plain(ts) = dtype else {
        return Err(unsupported());
    };
    Ok(match (ts.type_char(), ts.size_field()) {
        (TypeChar::Float, 4) => DType::F32,
        (TypeChar::Float, 8) => DType::F64,
        (TypeChar::Int, 1) => DType::I8,
        (TypeChar::Int, 2) => DType::I16,
        (TypeChar::Int, 4) => DType::I32,
        (TypeChar::Int, 8) => DType::I64,
        (TypeChar::Uint, 1) => DType::U8,
        (TypeChar::Uint, 2) => DType::U16,
        (TypeChar::Uint, 4) => DType::U32,
        (TypeChar::Uint, 8) => DType::U64,
        (TypeChar::Bool, 1) => DType::Bool,
        _ => return Err(unsupported()),
    })
}

/// Reads an `.npy` file.
pub fn read_npy(mut r: impl Read) -> io::Result<NpyArray> {
    // The magic first, so that any other file gets a plain answer.
    let mut magic = [0u8; 6];
    r.read_exact(&mut magic)
        .map_err(|_| bad("not an .npy file (bad magic: shorter than 6 bytes)"))?;
    if &magic != b"\x93NUMPY" {
        return Err(bad("not an .npy file (bad magic)"));
    }
    let file = npyz::NpyFile::new(io::Cursor::new(magic).chain(r))
        .map_err(|e| bad(format!("unreadable .npy header: {e}")))?;
    if file.order() == npyz::Order::Fortran {
        return Err(bad(
            "Fortran-ordered .npy is not supported (save with np.ascontiguousarray)",
        ));
    }
    let dtype = arrayq_dtype(&file.dtype())?;
    let shape = file
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| bad(format!("npy dimension {d} is too large"))))
        .collect::<io::Result<Vec<usize>>>()?;
    let short = |e: io::Error| bad(format!("npy data shorter than its shape {shape:?}: {e}"));
    macro_rules! typed {
        ($t:ty, $variant:ident) => {{
            let values: Vec<$t> = file.into_vec().map_err(short)?;
            let array = ndarray::ArrayD::from_shape_vec(shape.clone(), values)
                .map_err(|e| bad(e.to_string()))?;
            Buffer::$variant(array)
        }};
    }
    let buffer = match dtype {
        DType::F32 => typed!(f32, F32),
        DType::F64 => typed!(f64, F64),
        DType::I8 => typed!(i8, I8),
        DType::I16 => typed!(i16, I16),
        DType::I32 => typed!(i32, I32),
        DType::I64 => typed!(i64, I64),
        DType::U8 => typed!(u8, U8),
        DType::U16 => typed!(u16, U16),
        DType::U32 => typed!(u32, U32),
        DType::U64 => typed!(u64, U64),
        DType::Bool => typed!(bool, Bool),
    };
    Ok(NpyArray {
        data: buffer.to_le_bytes(),
        shape,
        dtype,
    })
}

/// Writes the header of a C-order array of `dtype` and `shape` (npyz pads it so
/// the data starts 64-byte aligned).
fn write_header<W: Write>(w: W, dtype: npyz::DType, shape: &[usize]) -> io::Result<W> {
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    npyz::WriteOptions::new_header_only()
        .dtype(dtype)
        .shape(&shape)
        .writer(w)
        .write_header_only()
}

/// Writes one array (`data`: little-endian row-major bytes of `dtype`).
pub fn write_npy(w: impl Write, dtype: DType, shape: &[usize], data: &[u8]) -> io::Result<()> {
    let mut w = write_header(w, npyz::DType::Plain(type_str(dtype)), shape)?;
    w.write_all(data)?;
    w.flush()
}

/// Writes a query result: one column as a plain array, several as a
/// structured array (one field per column), shaped like the result (`()`
/// for a scalar).
pub fn write_result_npy(w: impl Write, r: &QueryResult) -> io::Result<()> {
    let shape: Vec<usize> = if r.scalar {
        Vec::new()
    } else {
        r.shape.clone()
    };
    // .npy holds numbers: a text column (catalog listings) has no such form.
    let mut numbers = Vec::with_capacity(r.columns.len());
    for c in &r.columns {
        numbers.push(c.values.numbers().ok_or_else(|| {
            bad(format!(
                "column '{}' holds text, which .npy cannot hold (use csv or json)",
                c.name
            ))
        })?);
    }
    match numbers.len() {
        0 => Err(bad("the result has no columns")),
        1 => write_npy(w, numbers[0].dtype(), &shape, &numbers[0].to_le_bytes()),
        _ => {
            let fields = r
                .columns
                .iter()
                .zip(&numbers)
                .map(|(c, b)| npyz::Field {
                    name: c.name.replace('\'', "_"),
                    dtype: npyz::DType::Plain(type_str(b.dtype())),
                })
                .collect();
            let mut w = write_header(w, npyz::DType::Record(fields), &shape)?;
            // Records interleave the columns: row i is every column's element i.
            let cols: Vec<(Vec<u8>, usize)> = numbers
                .iter()
                .map(|b| (b.to_le_bytes(), b.dtype().size()))
                .collect();
            let row: usize = cols.iter().map(|(_, s)| s).sum();
            let n = r.len();
            let mut out = Vec::with_capacity(row * n);
            for i in 0..n {
                for (bytes, s) in &cols {
                    out.extend_from_slice(&bytes[i * s..(i + 1) * s]);
                }
            }
            w.write_all(&out)?;
            w.flush()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-1 .npy file written by hand: magic, header length, `header`, `data`.
    fn npy_v1(header: &str, data: &[u8]) -> Vec<u8> {
        let mut f = b"\x93NUMPY\x01\x00".to_vec();
        f.extend_from_slice(&(header.len() as u16).to_le_bytes());
        f.extend_from_slice(header.as_bytes());
        f.extend_from_slice(data);
        f
    }

    #[test]
    fn roundtrip_plain() {
        let data: Vec<u8> = [1.5f32, -2.0, f32::NAN, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut buf = Vec::new();
        write_npy(&mut buf, DType::F32, &[2, 3], &data).unwrap();
        assert_eq!((buf.len() - data.len()) % 64, 0);
        let a = read_npy(buf.as_slice()).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.dtype, DType::F32);
        assert_eq!(a.data, data);
        let b = a.to_buffer().unwrap();
        assert_eq!(b.shape(), &[2, 3]);

        let mut buf = Vec::new();
        write_npy(&mut buf, DType::I64, &[], &7i64.to_le_bytes()).unwrap();
        let a = read_npy(buf.as_slice()).unwrap();
        assert!(a.shape.is_empty());
        assert_eq!(a.len(), 1);
        assert_eq!(a.data, 7i64.to_le_bytes());
    }

    #[test]
    fn reads_big_endian_and_v2() {
        let header = "{'descr': '>i2', 'fortran_order': False, 'shape': (3,), }\n";
        let mut f = b"\x93NUMPY\x02\x00".to_vec();
        f.extend_from_slice(&(header.len() as u32).to_le_bytes());
        f.extend_from_slice(header.as_bytes());
        for v in [1i16, -2, 300] {
            f.extend_from_slice(&v.to_be_bytes());
        }
        let a = read_npy(f.as_slice()).unwrap();
        assert_eq!(a.dtype, DType::I16);
        let vals: Vec<i16> = a
            .data
            .chunks(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(vals, vec![1, -2, 300]);
    }

    #[test]
    fn writes_numpy_headers() {
        let mut buf = Vec::new();
        write_npy(&mut buf, DType::U16, &[4], &[0; 8]).unwrap();
        let text = String::from_utf8_lossy(&buf[10..buf.len() - 8]).into_owned();
        assert!(text.starts_with("{'descr': '<u2', 'fortran_order': False, 'shape': (4,"));
        assert!(text.ends_with('\n'));
        assert_eq!(&buf[..8], b"\x93NUMPY\x01\x00");
    }

    #[test]
    fn rejects_bad_files() {
        let e = read_npy(&b"hello world"[..]).unwrap_err().to_string();
        assert!(e.contains("bad magic"), "{e}");
        let f = npy_v1(
            "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }\n",
            &[],
        );
        assert!(read_npy(f.as_slice())
            .unwrap_err()
            .to_string()
            .contains("c16"));
        let f = npy_v1(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }\n",
            &[0; 4],
        );
        assert!(read_npy(f.as_slice())
            .unwrap_err()
            .to_string()
            .contains("Fortran"));
        // Two values promised, one given.
        let f = npy_v1(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n",
            &[0; 4],
        );
        assert!(read_npy(f.as_slice())
            .unwrap_err()
            .to_string()
            .contains("shorter"));
    }
}
