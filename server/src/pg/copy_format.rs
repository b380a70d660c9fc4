//! COPY FROM STDIN data: CSV (and Postgres' text format) lines and the binary
//! format, parsed incrementally (CopyData chunks split lines and tuples anywhere)
//! into series rows `(label, time, version, value)`.

use arrayq_storage::time::parse_unix_ns;

use crate::pg::errors::BAD_VALUE;

/// Which series field a COPY column fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Label,
    Time,
    Version,
    Value,
}

/// A series label as COPY gives it.
#[derive(Clone, Debug, PartialEq)]
pub enum CopyLabel {
    Int(i64),
    Text(String),
}

/// One parsed row.
#[derive(Clone, Debug, PartialEq)]
pub struct CopyRow {
    /// Its line (binary: tuple number), for errors found later by the ingest.
    pub line: u64,
    pub label: CopyLabel,
    pub time_ns: i64,
    pub version: Option<i64>,
    /// None: NULL, the cell becomes missing.
    pub value: Option<f64>,
}

/// A malformed row: its line (1-based, the header counts; binary: tuple number),
/// the column when known, and what is wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct CopyError {
    pub line: u64,
    pub column: Option<String>,
    pub message: String,
    /// Its SQLSTATE (22P02 for a malformed row).
    pub code: &'static str,
}

/// An incremental parser of one COPY's data.
pub trait CopyParser: Send {
    /// Parses what `data` completes, appending rows to `out`.
    fn feed(&mut self, data: &[u8], out: &mut Vec<CopyRow>) -> Result<(), CopyError>;
    /// End of data: parses a last line without newline, checks the trailer.
    fn finish(&mut self, out: &mut Vec<CopyRow>) -> Result<(), CopyError>;
}

/// Builds rows from fields by role, naming the column of a bad field.
struct Fields<'a> {
    columns: &'a [(String, Role)],
    line: u64,
}

impl Fields<'_> {
    fn err(&self, k: Option<usize>, message: String) -> CopyError {
        CopyError {
            line: self.line,
            column: k.map(|k| self.columns[k].0.clone()),
            message,
            code: BAD_VALUE,
        }
    }

    /// `field(k)` gives column k's value; text fields or binary ones.
    fn row<F: Fn(usize, Role) -> Result<Field, String>>(
        &self,
        field: F,
    ) -> Result<CopyRow, CopyError> {
        let (mut label, mut time, mut version, mut value) = (None, None, None, None);
        for (k, (_, role)) in self.columns.iter().enumerate() {
            let f = field(k, *role).map_err(|m| self.err(Some(k), m))?;
            match (role, f) {
                (Role::Label, Field::Label(l)) => label = Some(l),
                (Role::Time, Field::Int(t)) => time = Some(t),
                (Role::Version, Field::Int(v)) => version = Some(v),
                (Role::Value, Field::Float(v)) => value = Some(v),
                (Role::Version | Role::Value, Field::Null) => {}
                (_, Field::Null) => return Err(self.err(Some(k), "must not be NULL".into())),
                _ => return Err(self.err(Some(k), "unexpected value".into())),
            }
        }
        match (label, time) {
            (Some(label), Some(time_ns)) => Ok(CopyRow {
                line: self.line,
                label,
                time_ns,
                version,
                value,
            }),
            _ => Err(self.err(None, "a row needs a label and a time".into())),
        }
    }
}

enum Field {
    Label(CopyLabel),
    Int(i64),
    Float(f64),
    Null,
}

/// A field in text form (CSV, text format).
fn text_field(s: Option<&str>, role: Role) -> Result<Field, String> {
    let Some(s) = s else { return Ok(Field::Null) };
    let bad = |what: &str| format!("invalid input syntax for {what}: \"{s}\"");
    Ok(match role {
        Role::Label => Field::Label(match s.trim().parse::<i64>() {
            Ok(i) => CopyLabel::Int(i),
            Err(_) => CopyLabel::Text(s.to_string()),
        }),
        Role::Time => {
            Field::Int(parse_time(s).ok_or_else(|| bad("type timestamp with time zone"))?)
        }
        Role::Version => Field::Int(s.trim().parse().map_err(|_| bad("type integer"))?),
        Role::Value => Field::Float(s.trim().parse().map_err(|_| bad("type double precision"))?),
    })
}

/// ISO-8601 with a zone, or Postgres' text form with a short zone (`+00`, `+0530`).
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = parse_unix_ns(s) {
        return Some(t);
    }
    let cut = s.rfind(['+', '-']).filter(|&i| i > 10)?;
    let zone = &s[cut + 1..];
    let zone = match zone.len() {
        2 => format!("{zone}:00"),
        4 => format!("{}:{}", &zone[..2], &zone[2..]),
        _ => return None,
    };
    parse_unix_ns(&format!("{}{}{zone}", &s[..cut], &s[cut..cut + 1])).ok()
}

/// CSV (RFC 4180 quoting, empty unquoted field = NULL) or, with `csv: false`,
/// Postgres' text format (tab-separated, `\N` = NULL, backslash escapes).
pub struct TextParser {
    columns: Vec<(String, Role)>,
    csv: bool,
    header: bool,
    pending: Vec<u8>,
    line: u64,
}

impl TextParser {
    pub fn new(columns: Vec<(String, Role)>, csv: bool, header: bool) -> TextParser {
        TextParser {
            columns,
            csv,
            header,
            pending: Vec::new(),
            line: 0,
        }
    }

    fn line(&mut self, raw: &[u8], out: &mut Vec<CopyRow>) -> Result<(), CopyError> {
        self.line += 1;
        let f = Fields {
            columns: &self.columns,
            line: self.line,
        };
        let text = std::str::from_utf8(raw).map_err(|_| f.err(None, "invalid UTF-8".into()))?;
        let text = text.strip_suffix('\r').unwrap_or(text);
        if (self.header && self.line == 1) || (!self.csv && text == "\\.") {
            return Ok(());
        }
        let fields = if self.csv {
            csv_fields(text)
        } else {
            tsv_fields(text)
        }
        .map_err(|m| f.err(None, m))?;
        if fields.len() != self.columns.len() {
            return Err(f.err(
                None,
                format!(
                    "expected {} columns, got {}",
                    self.columns.len(),
                    fields.len()
                ),
            ));
        }
        out.push(f.row(|k, role| text_field(fields[k].as_deref(), role))?);
        Ok(())
    }
}

impl CopyParser for TextParser {
    fn feed(&mut self, data: &[u8], out: &mut Vec<CopyRow>) -> Result<(), CopyError> {
        self.pending.extend_from_slice(data);
        let mut start = 0;
        let mut quoted = false;
        let pending = std::mem::take(&mut self.pending);
        for (i, &b) in pending.iter().enumerate() {
            if self.csv && b == b'"' {
                quoted = !quoted;
            }
            // A newline inside CSV quotes belongs to the field.
            if b == b'\n' && !quoted {
                self.line(&pending[start..i], out)?;
                start = i + 1;
            }
        }
        self.pending = pending[start..].to_vec();
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<CopyRow>) -> Result<(), CopyError> {
        if !self.pending.is_empty() {
            let last = std::mem::take(&mut self.pending);
            self.line(&last, out)?;
        }
        Ok(())
    }
}

fn csv_fields(line: &str) -> Result<Vec<Option<String>>, String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        let mut quoted = false;
        if chars.peek() == Some(&'"') {
            quoted = true;
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("unterminated CSV quoted field".into()),
                }
            }
        }
        while let Some(&c) = chars.peek() {
            if c == ',' {
                break;
            }
            field.push(c);
            chars.next();
        }
        out.push((quoted || !field.is_empty()).then_some(field));
        if chars.next().is_none() {
            return Ok(out);
        }
    }
}

fn tsv_fields(line: &str) -> Result<Vec<Option<String>>, String> {
    Ok(line
        .split('\t')
        .map(|f| {
            (f != "\\N").then(|| {
                f.replace("\\t", "\t")
                    .replace("\\n", "\n")
                    .replace("\\r", "\r")
                    .replace("\\\\", "\\")
            })
        })
        .collect())
}

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

#[cfg(test)]
#[path = "copy_format_tests.rs"]
mod tests;
