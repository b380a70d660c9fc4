//! COPY FROM STDIN data: the rows every format gives (`label, time, version,
//! value`), the parser trait, and CSV / Postgres' text format, parsed
//! incrementally (CopyData chunks split lines anywhere). Binary: copy_binary.rs.

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
    /// From CSV or text format: the series ingest decides (docs/ingest.md).
    Untyped(String),
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
pub(crate) struct Fields<'a> {
    pub columns: &'a [(String, Role)],
    pub line: u64,
}

impl Fields<'_> {
    pub fn err(&self, k: Option<usize>, message: String) -> CopyError {
        CopyError {
            line: self.line,
            column: k.map(|k| self.columns[k].0.clone()),
            message,
            code: BAD_VALUE,
        }
    }

    /// `field(k)` gives column k's value; text fields or binary ones.
    pub fn row<F: Fn(usize, Role) -> Result<Field, String>>(
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

pub(crate) enum Field {
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
        Role::Label => Field::Label(CopyLabel::Untyped(s.to_string())),
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
        // `\.` alone on a line is Postgres' end-of-data marker in both formats, not
        // a row (psql sends it on with a script's inline COPY data).
        if (self.header && self.line == 1) || text == "\\." {
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

#[cfg(test)]
#[path = "copy_format_tests.rs"]
mod tests;
