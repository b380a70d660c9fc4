//! arrayq values as Postgres values: which type each dtype and coordinate becomes,
//! and the text and binary encoding of each (the formats clients may ask for).

use arrayq_storage::{Buffer, DType};
use bytes::{BufMut, BytesMut};
use chrono::{DateTime, Utc};
use pgwire::api::results::FieldFormat;
use pgwire::api::Type;

/// Microseconds from the Unix epoch to Postgres' epoch (2000-01-01 UTC).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// The values of one output column, already in the Postgres type they are sent as.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
    /// UTC nanoseconds since the Unix epoch, sent as `timestamptz` (microseconds).
    Time(Vec<i64>),
    Text(Vec<String>),
    /// A column the statement has no value for: `n` NULLs.
    Null(usize),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::I16(v) => v.len(),
            Values::I32(v) => v.len(),
            Values::I64(v) | Values::Time(v) => v.len(),
            Values::Bool(v) => v.len(),
            Values::Text(v) => v.len(),
            Values::Null(n) => *n,
        }
    }

    /// Writes element `i` as a DataRow field: its length, then its bytes.
    pub fn encode(&self, i: usize, format: FieldFormat, out: &mut BytesMut) {
        let binary = format == FieldFormat::Binary;
        macro_rules! field {
            ($bin:expr, $text:expr) => {{
                if binary {
                    let b = $bin;
                    out.put_i32(b.len() as i32);
                    out.put_slice(&b);
                } else {
                    let t: String = $text;
                    out.put_i32(t.len() as i32);
                    out.put_slice(t.as_bytes());
                }
            }};
        }
        match self {
            // A missing cell (NaN: the fill, or an aggregate of nothing) is SQL's NULL.
            Values::F32(v) if v[i].is_nan() => out.put_i32(-1),
            Values::F64(v) if v[i].is_nan() => out.put_i32(-1),
            Values::F32(v) => field!(
                v[i].to_be_bytes(),
                float_text(v[i] as f64, v[i].to_string(), 6)
            ),
            Values::F64(v) => field!(v[i].to_be_bytes(), float_text(v[i], v[i].to_string(), 15)),
            Values::I16(v) => field!(v[i].to_be_bytes(), v[i].to_string()),
            Values::I32(v) => field!(v[i].to_be_bytes(), v[i].to_string()),
            Values::I64(v) => field!(v[i].to_be_bytes(), v[i].to_string()),
            Values::Bool(v) => field!([v[i] as u8], if v[i] { "t" } else { "f" }.to_string()),
            Values::Time(v) => field!(pg_micros(v[i]).to_be_bytes(), timestamptz_text(v[i])),
            Values::Text(v) => {
                out.put_i32(v[i].len() as i32);
                out.put_slice(v[i].as_bytes());
            }
            Values::Null(_) => out.put_i32(-1),
        }
    }
}

/// The Postgres type of an element type. Unsigned types widen to the next signed
/// one; `uint64` is sent as `int8` (values past its range fail the query).
pub fn dtype_type(d: DType) -> Type {
    match d {
        DType::F32 => Type::FLOAT4,
        DType::F64 => Type::FLOAT8,
        DType::I8 | DType::I16 | DType::U8 => Type::INT2,
        DType::I32 | DType::U16 => Type::INT4,
        DType::I64 | DType::U32 | DType::U64 => Type::INT8,
        DType::Bool => Type::BOOL,
    }
}

/// A result column as the values of its Postgres type ([`dtype_type`]); an error
/// names a `uint64` value that does not fit `int8`.
pub fn buffer_values(b: &Buffer) -> Result<Values, String> {
    Ok(match b {
        Buffer::F32(a) => Values::F32(a.iter().copied().collect()),
        Buffer::F64(a) => Values::F64(a.iter().copied().collect()),
        Buffer::I8(a) => Values::I16(a.iter().map(|&x| x as i16).collect()),
        Buffer::I16(a) => Values::I16(a.iter().copied().collect()),
        Buffer::U8(a) => Values::I16(a.iter().map(|&x| x as i16).collect()),
        Buffer::I32(a) => Values::I32(a.iter().copied().collect()),
        Buffer::U16(a) => Values::I32(a.iter().map(|&x| x as i32).collect()),
        Buffer::I64(a) => Values::I64(a.iter().copied().collect()),
        Buffer::U32(a) => Values::I64(a.iter().map(|&x| x as i64).collect()),
        Buffer::U64(a) => Values::I64(u64_values(a.iter().copied())?),
        Buffer::Bool(a) => Values::Bool(a.iter().copied().collect()),
    })
}

pub fn u64_values(v: impl Iterator<Item = u64>) -> Result<Vec<i64>, String> {
    v.map(|x| i64::try_from(x).map_err(|_| format!("value {x} does not fit int8")))
        .collect()
}

fn pg_micros(ns: i64) -> i64 {
    ns.div_euclid(1000) - PG_EPOCH_US
}

/// Postgres' text form of a `timestamptz` in UTC: `2024-05-01 12:00:00.25+00`
/// (microseconds, trailing zeros trimmed).
pub fn timestamptz_text(ns: i64) -> String {
    let us = ns.div_euclid(1000);
    let t = DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default();
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let frac = us.rem_euclid(1_000_000);
    if frac != 0 {
        s.push('.');
        s.push_str(format!("{frac:06}").trim_end_matches('0'));
    }
    s.push_str("+00");
    s
}

/// Postgres' shortest float text: plain digits, or `1e+15`/`1.5e-05` when the
/// decimal exponent is below -4 or at least `digits` (15 for float8, 6 for float4).
fn float_text(v: f64, plain: String, digits: i32) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if v == 0.0 {
        return plain;
    }
    let exp = v.abs().log10().floor() as i32;
    if (-4..digits).contains(&exp) {
        return plain;
    }
    // `plain` is the shortest round-trip text of the original width; re-render
    // its digits in exponent form.
    let sci = match plain.parse::<f64>() {
        Ok(x) if digits == 6 => format!("{:e}", x as f32),
        Ok(x) => format!("{x:e}"),
        Err(_) => return plain,
    };
    match sci.split_once('e') {
        Some((m, e)) => {
            let e: i32 = e.parse().unwrap_or(0);
            let sign = if e < 0 { '-' } else { '+' };
            format!("{m}e{sign}{:02}", e.abs())
        }
        None => sci,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &Values, i: usize) -> String {
        let mut b = BytesMut::new();
        v.encode(i, FieldFormat::Text, &mut b);
        String::from_utf8(b[4..].to_vec()).unwrap()
    }

    #[test]
    fn missing_values_are_null_in_both_formats() {
        for v in [Values::F64(vec![f64::NAN]), Values::F32(vec![f32::NAN])] {
            for format in [FieldFormat::Text, FieldFormat::Binary] {
                let mut b = BytesMut::new();
                v.encode(0, format, &mut b);
                assert_eq!(&b[..], (-1i32).to_be_bytes(), "{v:?} as {format:?}");
            }
        }
    }

    #[test]
    fn text_forms_match_postgres() {
        let f = Values::F64(vec![1.5, 1e15, 1.5e-5, -0.25, 123456789012345.0]);
        let got: Vec<String> = (0..5).map(|i| text(&f, i)).collect();
        assert_eq!(got, ["1.5", "1e+15", "1.5e-05", "-0.25", "123456789012345"]);
        let f = Values::F32(vec![1e6, 0.1]);
        assert_eq!((text(&f, 0), text(&f, 1)), ("1e+06".into(), "0.1".into()));
        let t = Values::Time(vec![1_672_527_600_000_000_000, 250_000_000]);
        assert_eq!(text(&t, 0), "2022-12-31 23:00:00+00");
        assert_eq!(text(&t, 1), "1970-01-01 00:00:00.25+00");
        assert_eq!(text(&Values::Bool(vec![true]), 0), "t");
    }

    #[test]
    fn binary_timestamp_counts_from_2000() {
        let mut b = BytesMut::new();
        Values::Time(vec![946_684_800_000_000_000 + 1_000]).encode(0, FieldFormat::Binary, &mut b);
        assert_eq!(&b[..], &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]);
        let mut b = BytesMut::new();
        Values::Null(1).encode(0, FieldFormat::Binary, &mut b);
        assert_eq!(&b[..], &(-1i32).to_be_bytes());
        assert!(u64_values([u64::MAX].into_iter()).is_err());
    }
}
