//! numpy `.npy` files: reading arrays to load (`arrayq load npy`) and writing
//! query results (`--format npy`).
//!
//! Reading supports format versions 1-3, C order, little-endian (or
//! single-byte) `f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1`. Big-endian files are
//! byte-swapped on the fly. Writing produces version 1.0 files: a result with
//! one column becomes a plain array of that dtype shaped like the result; a
//! result with several columns becomes a structured array with one field per
//! column. Coordinates are not stored (use JSON or CSV for those).

use std::io::{self, Read, Write};

use arrayq_format::{Buffer, DType};

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

/// Parses a numpy type string: `(dtype, big_endian)`.
fn parse_descr(s: &str) -> io::Result<(DType, bool)> {
    let (order, kind) = match s.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &s[1..]),
        _ => ('=', s),
    };
    let dtype = match kind {
        "f4" => DType::F32,
        "f8" => DType::F64,
        "i1" => DType::I8,
        "i2" => DType::I16,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "u1" => DType::U8,
        "u2" => DType::U16,
        "u4" => DType::U32,
        "u8" => DType::U64,
        "b1" | "?" => DType::Bool,
        _ => {
            return Err(bad(format!(
                "unsupported npy dtype '{s}' (supported: f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)"
            )))
        }
    };
    let big = order == '>' || (order == '=' && cfg!(target_endian = "big"));
    Ok((dtype, big && dtype.size() > 1))
}

/// Reads an `.npy` file.
pub fn read_npy(mut r: impl Read) -> io::Result<NpyArray> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err(bad("not an .npy file (bad magic)"));
    }
    let header_len = match magic[6] {
        1 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)?;
            u16::from_le_bytes(b) as usize
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b)?;
            u32::from_le_bytes(b) as usize
        }
        v => return Err(bad(format!("unsupported .npy version {v}"))),
    };
    let mut header = vec![0u8; header_len];
    r.read_exact(&mut header)?;
    let header = String::from_utf8(header).map_err(|_| bad("npy header is not text"))?;
    let descr_s = dict_value(&header, "descr")?;
    let descr_s = descr_s.trim().trim_matches(|c| c == '\'' || c == '"');
    let (dtype, big) = parse_descr(descr_s)?;
    let fortran = dict_value(&header, "fortran_order")?;
    if fortran.trim() != "False" {
        return Err(bad(
            "Fortran-ordered .npy is not supported (save with np.ascontiguousarray)",
        ));
    }
    let shape_s = dict_value(&header, "shape")?;
    let shape_s = shape_s.trim().trim_start_matches('(').trim_end_matches(')');
    let mut shape = Vec::new();
    for part in shape_s.split(',') {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        shape.push(
            p.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| bad(format!("bad shape entry '{p}'")))?,
        );
    }
    let n: usize = shape.iter().product();
    let mut data = vec![0u8; n * dtype.size()];
    r.read_exact(&mut data)
        .map_err(|e| bad(format!("npy data shorter than its shape {shape:?}: {e}")))?;
    if big {
        for e in data.chunks_exact_mut(dtype.size()) {
            e.reverse();
        }
    }
    if dtype == DType::Bool {
        for b in &mut data {
            *b = (*b != 0) as u8;
        }
    }
    Ok(NpyArray { shape, dtype, data })
}

/// The text of `key`'s value in the header dict (up to the next top-level
/// comma or the closing brace).
fn dict_value(header: &str, key: &str) -> io::Result<String> {
    let pat1 = format!("'{key}'");
    let pat2 = format!("\"{key}\"");
    let at = header
        .find(&pat1)
        .or_else(|| header.find(&pat2))
        .ok_or_else(|| bad(format!("npy header has no '{key}'")))?;
    let rest = &header[at + pat1.len()..];
    let rest = rest
        .trim_start()
        .strip_prefix(':')
        .ok_or_else(|| bad("malformed npy header"))?;
    let mut depth = 0i32;
    let mut out = String::new();
    for c in rest.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => break,
            _ => {}
        }
        out.push(c);
    }
    Ok(out)
}

fn header_bytes(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {tuple}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

/// Writes one array (`data`: little-endian row-major bytes of `dtype`).
pub fn write_npy(mut w: impl Write, dtype: DType, shape: &[usize], data: &[u8]) -> io::Result<()> {
    w.write_all(&header_bytes(&format!("'{}'", descr(dtype)), shape))?;
    w.write_all(data)?;
    w.flush()
}

/// Writes a query result: one column as a plain array, several as a
/// structured array (one field per column), shaped like the result (`()`
/// for a scalar).
pub fn write_result_npy(mut w: impl Write, r: &QueryResult) -> io::Result<()> {
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
            let fields: Vec<String> = r
                .columns
                .iter()
                .zip(&numbers)
                .map(|(c, b)| format!("('{}', '{}')", c.name.replace('\'', "_"), descr(b.dtype())))
                .collect();
            w.write_all(&header_bytes(&format!("[{}]", fields.join(", ")), &shape))?;
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
    fn rejects_bad_files() {
        assert!(read_npy(&b"hello world"[..]).is_err());
        let header = "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }\n";
        let mut f = b"\x93NUMPY\x01\x00".to_vec();
        f.extend_from_slice(&(header.len() as u16).to_le_bytes());
        f.extend_from_slice(header.as_bytes());
        assert!(read_npy(f.as_slice())
            .unwrap_err()
            .to_string()
            .contains("c16"));
        let header = "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }\n";
        let mut f = b"\x93NUMPY\x01\x00".to_vec();
        f.extend_from_slice(&(header.len() as u16).to_le_bytes());
        f.extend_from_slice(header.as_bytes());
        f.extend_from_slice(&[0; 4]);
        assert!(read_npy(f.as_slice()).is_err());
    }
}
