//! `.npy` I/O (over the `npyz` crate) so tests exchange arrays with numpy: float32
//! cubes and float64 query answers in C order.

use std::fs;
use std::io::{self, BufReader, BufWriter};
use std::path::Path;

use npyz::WriterBuilder;

/// An array read from a `.npy` file: shape and row-major (C order) data.
#[derive(Clone, Debug, PartialEq)]
pub struct Npy<T> {
    /// Dimensions; empty for a 0-d array.
    pub shape: Vec<usize>,
    /// Elements in row-major order.
    pub data: Vec<T>,
}

/// Reads a float32 (`f4`) C-order `.npy` file.
pub fn read_npy_f32(path: impl AsRef<Path>) -> io::Result<Npy<f32>> {
    read_npy(path.as_ref(), "f4")
}

/// Reads a float64 (`f8`) C-order `.npy` file (e.g. exact means).
pub fn read_npy_f64(path: impl AsRef<Path>) -> io::Result<Npy<f64>> {
    read_npy(path.as_ref(), "f8")
}

/// Writes `data` with `shape` as a little-endian float32 C-order `.npy` file.
pub fn write_npy_f32(path: impl AsRef<Path>, shape: &[usize], data: &[f32]) -> io::Result<()> {
    write_npy(path.as_ref(), "<f4", shape, data)
}

/// Writes `data` with `shape` as a little-endian float64 C-order `.npy` file.
pub fn write_npy_f64(path: impl AsRef<Path>, shape: &[usize], data: &[f64]) -> io::Result<()> {
    write_npy(path.as_ref(), "<f8", shape, data)
}

fn write_npy<T: npyz::Serialize + Copy>(
    path: &Path,
    dtype: &str,
    shape: &[usize],
    data: &[T],
) -> io::Result<()> {
    if shape.iter().product::<usize>() != data.len() {
        return Err(bad(format!(
            "shape {shape:?} does not hold {} values",
            data.len()
        )));
    }
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let file = BufWriter::new(fs::File::create(path)?);
    let mut w = npyz::WriteOptions::new()
        .dtype(npyz::DType::Plain(
            dtype.parse().expect("a numpy type string"),
        ))
        .shape(&shape)
        .writer(file)
        .begin_nd()?;
    w.extend(data.iter().copied())?;
    w.finish()?;
    Ok(())
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Reads `path`, which must hold a C-order array of the float kind `kind`
/// (`f4`, `f8`; either byte order).
fn read_npy<T: npyz::Deserialize>(path: &Path, kind: &str) -> io::Result<Npy<T>> {
    let ctx = |m: String| bad(format!("{}: {m}", path.display()));
    let file = npyz::NpyFile::new(BufReader::new(fs::File::open(path)?))
        .map_err(|e| ctx(format!("not a .npy file ({e})")))?;
    let got = match file.dtype() {
        npyz::DType::Plain(ts) => format!("{}{}", ts.type_char().to_str(), ts.size_field()),
        other => other.descr(),
    };
    if got != kind {
        return Err(ctx(format!("dtype {got}, expected {kind}")));
    }
    if file.order() != npyz::Order::C {
        return Err(ctx("Fortran order is not supported".into()));
    }
    let shape = file.shape().iter().map(|&d| d as usize).collect();
    let data = file
        .into_vec::<T>()
        .map_err(|e| ctx(format!("data does not match the shape ({e})")))?;
    Ok(Npy { shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        for shape in [vec![5], vec![2, 3], vec![2, 1, 2], vec![]] {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|k| k as f32 * 0.5 - 1.0).collect();
            let p = dir.path().join("a.npy");
            write_npy_f32(&p, &shape, &data).unwrap();
            let bytes = fs::read(&p).unwrap();
            assert_eq!((bytes.len() - 4 * n) % 64, 0, "data is 64-byte aligned");
            // The bytes numpy would write: little-endian f4 after the header.
            let body: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
            assert_eq!(&bytes[bytes.len() - 4 * n..], body.as_slice());
            assert_eq!(read_npy_f32(&p).unwrap(), Npy { shape, data });
            assert!(read_npy_f64(&p).unwrap_err().to_string().contains("f4"));
        }
        assert!(write_npy_f32(dir.path().join("b.npy"), &[2, 2], &[1.0]).is_err());
    }

    #[test]
    fn reads_big_endian_f8() {
        let dir = tempfile::tempdir().unwrap();
        let header = "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }\n";
        let mut f = b"\x93NUMPY\x01\x00".to_vec();
        f.extend_from_slice(&(header.len() as u16).to_le_bytes());
        f.extend_from_slice(header.as_bytes());
        for v in [1.25f64, -3.5] {
            f.extend_from_slice(&v.to_be_bytes());
        }
        let p = dir.path().join("be.npy");
        fs::write(&p, f).unwrap();
        let a = read_npy_f64(&p).unwrap();
        assert_eq!(a.shape, vec![2]);
        assert_eq!(a.data, vec![1.25, -3.5]);
    }
}
