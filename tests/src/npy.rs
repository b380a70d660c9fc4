//! Minimal `.npy` I/O (little-endian, C order) so tests exchange arrays with numpy
//! without a dependency: enough for float32 cubes and float64 query answers.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// An array read from a `.npy` file: shape and row-major (C order) data.
#[derive(Clone, Debug, PartialEq)]
pub struct Npy<T> {
    /// Dimensions; empty for a 0-d array.
    pub shape: Vec<usize>,
    /// Elements in row-major order.
    pub data: Vec<T>,
}

/// Reads a little-endian float32 (`<f4`) C-order `.npy` file.
pub fn read_npy_f32(path: impl AsRef<Path>) -> io::Result<Npy<f32>> {
    read_npy(path.as_ref(), "<f4", |b| {
        f32::from_le_bytes(b.try_into().unwrap())
    })
}

/// Reads a little-endian float64 (`<f8`) C-order `.npy` file (e.g. exact means).
pub fn read_npy_f64(path: impl AsRef<Path>) -> io::Result<Npy<f64>> {
    read_npy(path.as_ref(), "<f8", |b| {
        f64::from_le_bytes(b.try_into().unwrap())
    })
}

/// Writes `data` with `shape` as a float32 C-order `.npy` file (format 1.0).
pub fn write_npy_f32(path: impl AsRef<Path>, shape: &[usize], data: &[f32]) -> io::Result<()> {
    if shape.iter().product::<usize>() != data.len() {
        return Err(bad(format!(
            "shape {shape:?} does not hold {} values",
            data.len()
        )));
    }
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    // numpy pads the header with spaces and a newline so the data is 64-byte aligned.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let len = u16::try_from(header.len()).map_err(|_| bad("header too long".into()))?;

    let mut w = BufWriter::new(fs::File::create(path)?);
    w.write_all(b"\x93NUMPY\x01\x00")?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(header.as_bytes())?;
    for v in data {
        w.write_all(&v.to_le_bytes())?;
    }
    w.flush()
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn read_npy<T>(path: &Path, descr: &str, decode: impl Fn(&[u8]) -> T) -> io::Result<Npy<T>> {
    let bytes = fs::read(path)?;
    let ctx = |m: &str| bad(format!("{}: {m}", path.display()));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(ctx("not a .npy file"));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
        v => return Err(ctx(&format!("unsupported .npy version {v}"))),
    };
    let header = bytes
        .get(start..start + hlen)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| ctx("truncated header"))?;
    let got = dict_value(header, "descr")
        .and_then(|v| v.split('\'').nth(1))
        .ok_or_else(|| ctx("no descr"))?;
    if got != descr {
        return Err(ctx(&format!("dtype {got}, expected {descr}")));
    }
    if !dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("False")) {
        return Err(ctx("Fortran order is not supported"));
    }
    let shape_text = dict_value(header, "shape")
        .and_then(|v| v.strip_prefix('('))
        .and_then(|v| v.split(')').next())
        .ok_or_else(|| ctx("no shape"))?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| ctx("bad shape")))
        .collect::<io::Result<Vec<usize>>>()?;

    let size = std::mem::size_of::<T>();
    let body = &bytes[start + hlen..];
    if body.len() != shape.iter().product::<usize>() * size {
        return Err(ctx("data length does not match shape"));
    }
    let data = body.chunks_exact(size).map(decode).collect();
    Ok(Npy { shape, data })
}

/// The text right after `'key':` in a header dict, leading spaces trimmed.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}':"))?;
    Some(header[at + key.len() + 3..].trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("arrayq-npy-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for shape in [vec![5], vec![2, 3], vec![2, 1, 2], vec![]] {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|k| k as f32 * 0.5 - 1.0).collect();
            let p = dir.join("a.npy");
            write_npy_f32(&p, &shape, &data).unwrap();
            let bytes = fs::read(&p).unwrap();
            assert_eq!((bytes.len() - 4 * n) % 64, 0, "data is 64-byte aligned");
            assert_eq!(read_npy_f32(&p).unwrap(), Npy { shape, data });
            assert!(read_npy_f64(&p).is_err());
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
