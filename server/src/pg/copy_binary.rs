//! Postgres' binary COPY format, parsed incrementally into series rows.

use crate::pg::copy_format::{CopyError, CopyLabel, CopyParser, CopyRow, Field, Fields, Role};
use crate::pg::errors::BAD_VALUE;

/// Postgres' binary COPY format: signature, flags, header extension, then tuples
/// of (length, bytes) fields; a tuple count of -1 ends the data.
pub struct BinaryParser {
    columns: Vec<(String, Role)>,
    pending: Vec<u8>,
    header_done: bool,
    ended: bool,
    tuple: u64,
}

/// A tuple's fields (None: NULL) and the bytes it took.
type Tuple<'a> = (Vec<Option<&'a [u8]>>, usize);

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// Microseconds from the Unix epoch to Postgres' epoch (2000-01-01 UTC).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

impl BinaryParser {
    pub fn new(columns: Vec<(String, Role)>) -> BinaryParser {
        BinaryParser {
            columns,
            pending: Vec::new(),
            header_done: false,
            ended: false,
            tuple: 0,
        }
    }

    fn err(&self, message: &str) -> CopyError {
        CopyError {
            line: self.tuple.max(1),
            column: None,
            message: message.into(),
            code: BAD_VALUE,
        }
    }

    /// One complete tuple at the front of `buf`, or None if more bytes are needed.
    fn tuple<'a>(&self, buf: &'a [u8]) -> Result<Option<Tuple<'a>>, CopyError> {
        let Some(n) = buf.get(..2) else {
            return Ok(None);
        };
        let n = i16::from_be_bytes([n[0], n[1]]);
        if n == -1 {
            return Ok(Some((Vec::new(), 2)));
        }
        if n as usize != self.columns.len() {
            return Err(self.err(&format!("expected {} columns, got {n}", self.columns.len())));
        }
        let (mut at, mut fields) = (2usize, Vec::with_capacity(n as usize));
        for _ in 0..n {
            let Some(l) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            let len = i32::from_be_bytes([l[0], l[1], l[2], l[3]]);
            at += 4;
            if len < 0 {
                fields.push(None);
                continue;
            }
            let Some(v) = buf.get(at..at + len as usize) else {
                return Ok(None);
            };
            fields.push(Some(v));
            at += len as usize;
        }
        Ok(Some((fields, at)))
    }
}

fn binary_field(b: Option<&[u8]>, role: Role) -> Result<Field, String> {
    let Some(b) = b else { return Ok(Field::Null) };
    let int = |b: &[u8]| -> Option<i64> {
        match b.len() {
            2 => Some(i16::from_be_bytes(b.try_into().ok()?) as i64),
            4 => Some(i32::from_be_bytes(b.try_into().ok()?) as i64),
            8 => Some(i64::from_be_bytes(b.try_into().ok()?)),
            _ => None,
        }
    };
    Ok(match role {
        // int8 (or int4/int2) labels are binary integers; text is UTF-8 without
        // control characters (an int8 below 2^56 or negative starts with a 0x00 or
        // 0xff byte, which no such text has).
        Role::Label => match std::str::from_utf8(b) {
            Ok(s) if !s.is_empty() && !s.chars().any(char::is_control) => {
                Field::Label(CopyLabel::Text(s.to_string()))
            }
            _ => Field::Label(CopyLabel::Int(
                int(b).ok_or("a label must be int8 or text")?,
            )),
        },
        Role::Time => {
            let us: [u8; 8] = b
                .try_into()
                .map_err(|_| "a time must be timestamptz (8 bytes)")?;
            let us = i64::from_be_bytes(us) + PG_EPOCH_US;
            Field::Int(us.checked_mul(1000).ok_or("timestamp out of range")?)
        }
        Role::Version => Field::Int(int(b).ok_or("a version must be int2, int4 or int8")?),
        Role::Value => Field::Float(match b.len() {
            4 => f32::from_be_bytes(b.try_into().unwrap_or_default()) as f64,
            8 => f64::from_be_bytes(b.try_into().unwrap_or_default()),
            _ => return Err("a value must be float4 or float8".into()),
        }),
    })
}

impl CopyParser for BinaryParser {
    fn feed(&mut self, data: &[u8], out: &mut Vec<CopyRow>) -> Result<(), CopyError> {
        self.pending.extend_from_slice(data);
        let mut at = 0;
        if !self.header_done {
            if self.pending.len() < SIGNATURE.len() + 8 {
                return Ok(());
            }
            if &self.pending[..SIGNATURE.len()] != SIGNATURE {
                return Err(self.err("COPY file signature not recognized"));
            }
            let e = &self.pending[SIGNATURE.len() + 4..SIGNATURE.len() + 8];
            let ext = u32::from_be_bytes([e[0], e[1], e[2], e[3]]) as usize;
            if self.pending.len() < SIGNATURE.len() + 8 + ext {
                return Ok(());
            }
            at = SIGNATURE.len() + 8 + ext;
            self.header_done = true;
        }
        while !self.ended {
            let Some((fields, used)) = self.tuple(&self.pending[at..])? else {
                break;
            };
            at += used;
            if fields.is_empty() {
                self.ended = true;
                break;
            }
            self.tuple += 1;
            let f = Fields {
                columns: &self.columns,
                line: self.tuple,
            };
            out.push(f.row(|k, role| binary_field(fields[k], role))?);
        }
        self.pending.drain(..at);
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<CopyRow>) -> Result<(), CopyError> {
        if !self.ended || !self.pending.is_empty() {
            self.tuple += 1;
            return Err(self.err("binary COPY data ends without its trailer"));
        }
        Ok(())
    }
}
