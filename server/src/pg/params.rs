//! Statement parameters (`$1`, `$2`, ... of the extended protocol): arrayq has no
//! bound parameters, so each value is written into the statement text as a literal
//! of its type (numbers as numbers, checked to be one; everything else as a quoted
//! string), outside quotes only. psycopg 3 and JDBC bind this way.

use bytes::Bytes;
use pgwire::api::portal::Format;
use pgwire::api::Type;
use pgwire::error::PgWireError;

use crate::pg::errors::{error, BAD_VALUE, FEATURE_NOT_SUPPORTED};
use crate::pg::types::timestamptz_text;

/// `$n` placeholders outside quotes: the highest n (0: none).
pub fn count(sql: &str) -> usize {
    let mut n = 0;
    scan(sql, |k| {
        n = n.max(k);
        String::new()
    });
    n
}

/// Replaces every `$n` outside quotes and comments with `value(n)`.
fn scan(sql: &str, mut value: impl FnMut(usize) -> String) -> String {
    let b = sql.as_bytes();
    let (mut out, mut i, mut quote) = (String::with_capacity(sql.len()), 0, None::<u8>);
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'\'' || c == b'"' => quote = Some(c),
            None if c == b'$' && b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let end = (i + 1..b.len())
                    .find(|&j| !b[j].is_ascii_digit())
                    .unwrap_or(b.len());
                out.push_str(&value(sql[i + 1..end].parse().unwrap_or(0)));
                i = end;
                continue;
            }
            None => {}
        }
        let ch = sql[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// The statement with its parameters written in.
pub fn bind(
    sql: &str,
    types: &[Option<Type>],
    format: &Format,
    values: &[Option<Bytes>],
) -> Result<String, PgWireError> {
    let mut failed = None;
    let text = scan(sql, |n| {
        let k = n.wrapping_sub(1);
        let ty = types.get(k).cloned().flatten().unwrap_or(Type::UNKNOWN);
        match values.get(k) {
            None => {
                failed.get_or_insert(error(BAD_VALUE, format!("no value for parameter ${n}")));
                String::new()
            }
            Some(None) => {
                failed.get_or_insert(error(
                    FEATURE_NOT_SUPPORTED,
                    format!("parameter ${n} is NULL: arrayq statements take no NULL"),
                ));
                String::new()
            }
            Some(Some(v)) => literal(v, &ty, !format.is_text(k)).unwrap_or_else(|m| {
                failed.get_or_insert(error(BAD_VALUE, format!("parameter ${n}: {m}")));
                String::new()
            }),
        }
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(text),
    }
}

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// One value as arrayq literal text.
fn literal(v: &[u8], ty: &Type, binary: bool) -> Result<String, String> {
    let numeric = [
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::FLOAT4,
        Type::FLOAT8,
        Type::NUMERIC,
        Type::OID,
    ];
    if !binary {
        let s = std::str::from_utf8(v).map_err(|_| "not UTF-8".to_string())?;
        if numeric.contains(ty) {
            // A number, nothing else, goes in unquoted.
            s.trim()
                .parse::<f64>()
                .map_err(|_| format!("'{s}' is not a number"))?;
            return Ok(s.trim().to_string());
        }
        if *ty == Type::BOOL {
            return Ok(if s.starts_with(['t', 'T', '1']) {
                "true"
            } else {
                "false"
            }
            .into());
        }
        return Ok(quoted(s));
    }
    let int = |b: &[u8]| -> Option<i64> {
        Some(match b.len() {
            2 => i16::from_be_bytes(b.try_into().ok()?) as i64,
            4 => i32::from_be_bytes(b.try_into().ok()?) as i64,
            8 => i64::from_be_bytes(b.try_into().ok()?),
            _ => return None,
        })
    };
    let bad = || format!("a binary {} of {} bytes", ty.name(), v.len());
    Ok(match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => int(v).ok_or_else(bad)?.to_string(),
        Type::FLOAT4 => f32::from_be_bytes(v.try_into().map_err(|_| bad())?).to_string(),
        Type::FLOAT8 => f64::from_be_bytes(v.try_into().map_err(|_| bad())?).to_string(),
        Type::BOOL => (v.first() == Some(&1)).to_string(),
        Type::TIMESTAMPTZ | Type::TIMESTAMP => {
            let us = i64::from_be_bytes(v.try_into().map_err(|_| bad())?);
            quoted(&timestamptz_text((us + 946_684_800_000_000) * 1000).replace("+00", "Z"))
        }
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            quoted(std::str::from_utf8(v).map_err(|_| "not UTF-8".to_string())?)
        }
        _ => {
            return Err(format!(
                "binary values of type {} are not supported",
                ty.name()
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_literals() {
        assert_eq!(
            count("SELECT v FROM a WHERE x = $1 AND y = '$2' AND z = $12"),
            12
        );
        let sql = "SELECT v FROM a WHERE x = $1 AND t = $2 AND s = '$1'";
        let got = bind(
            sql,
            &[Some(Type::INT8), Some(Type::TEXT)],
            &Format::UnifiedText,
            &[Some(Bytes::from("5")), Some(Bytes::from("it's"))],
        )
        .unwrap();
        assert_eq!(
            got,
            "SELECT v FROM a WHERE x = 5 AND t = 'it''s' AND s = '$1'"
        );
        let bad = bind(
            "x = $1",
            &[Some(Type::INT4)],
            &Format::UnifiedText,
            &[Some(Bytes::from("1 OR 1"))],
        );
        assert!(bad.is_err());
        let ts = bind(
            "t = $1",
            &[Some(Type::TIMESTAMPTZ)],
            &Format::UnifiedBinary,
            &[Some(Bytes::from(0i64.to_be_bytes().to_vec()))],
        )
        .unwrap();
        assert_eq!(ts, "t = '2000-01-01 00:00:00Z'");
    }
}
