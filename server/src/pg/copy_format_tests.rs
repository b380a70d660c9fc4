//! COPY data parsers against hand-made bytes and the rows they must give.

use super::*;
use crate::pg::copy_binary::BinaryParser;

fn cols() -> Vec<(String, Role)> {
    [
        ("asset_id", Role::Label),
        ("ts", Role::Time),
        ("version", Role::Version),
        ("value", Role::Value),
    ]
    .map(|(n, r)| (n.to_string(), r))
    .to_vec()
}

const T0: i64 = 1_672_527_600_000_000_000; // 2022-12-31T23:00:00Z

fn parse_all(p: &mut dyn CopyParser, data: &[u8], chunk: usize) -> Result<Vec<CopyRow>, CopyError> {
    let mut out = Vec::new();
    for piece in data.chunks(chunk) {
        p.feed(piece, &mut out)?;
    }
    p.finish(&mut out)?;
    Ok(out)
}

#[test]
fn csv_rows_in_any_chunking() {
    let data = b"7,2022-12-31T23:00:00Z,3,1.5\n\"x,1\",2022-12-31 23:15:00+00,,-2\r\n8,2022-12-31 23:30:00+01,1,1e3";
    for chunk in [1, 5, 1000] {
        let rows = parse_all(&mut TextParser::new(cols(), true, false), data, chunk).unwrap();
        assert_eq!(
            rows,
            [
                CopyRow {
                    line: 1,
                    label: CopyLabel::Untyped("7".into()),
                    time_ns: T0,
                    version: Some(3),
                    value: Some(1.5)
                },
                CopyRow {
                    line: 2,
                    label: CopyLabel::Untyped("x,1".into()),
                    time_ns: T0 + 900_000_000_000,
                    version: None,
                    value: Some(-2.0)
                },
                CopyRow {
                    line: 3,
                    label: CopyLabel::Untyped("8".into()),
                    time_ns: T0 - 1_800_000_000_000,
                    version: Some(1),
                    value: Some(1000.0)
                },
            ]
        );
    }
}

#[test]
fn csv_header_and_bad_line_number() {
    let data =
        b"asset_id,ts,version,value\n1,2022-12-31T23:00:00Z,1,2\n1,2022-12-31T23:15:00Z,1,abc\n";
    let e = parse_all(&mut TextParser::new(cols(), true, true), data, 7).unwrap_err();
    assert_eq!((e.line, e.column.as_deref()), (3, Some("value")));
    assert!(e.message.contains("\"abc\""), "{}", e.message);
    let e = parse_all(&mut TextParser::new(cols(), true, false), b"1,2,3\n", 100).unwrap_err();
    assert_eq!((e.line, e.column), (1, None));
}

#[test]
fn csv_end_marker_line_is_not_a_row() {
    let rows = parse_all(
        &mut TextParser::new(cols(), true, false),
        b"5,2022-12-31T23:00:00Z,1,0.25\n\\.\n",
        4,
    )
    .unwrap();
    assert_eq!(
        rows,
        [CopyRow {
            line: 1,
            label: CopyLabel::Untyped("5".into()),
            time_ns: T0,
            version: Some(1),
            value: Some(0.25)
        }]
    );
}

#[test]
fn text_format_tabs_and_nulls() {
    let rows = parse_all(
        &mut TextParser::new(cols(), false, false),
        b"5\t2022-12-31T23:00:00Z\t\\N\t0.25\n\\.\n",
        3,
    )
    .unwrap();
    assert_eq!(
        rows,
        [CopyRow {
            line: 1,
            label: CopyLabel::Untyped("5".into()),
            time_ns: T0,
            version: None,
            value: Some(0.25)
        }]
    );
}

/// A binary COPY stream built by hand from the format's description.
fn binary(tuples: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
    let mut b = b"PGCOPY\n\xff\r\n\0".to_vec();
    b.extend(0i32.to_be_bytes());
    b.extend(0i32.to_be_bytes());
    for t in tuples {
        b.extend((t.len() as i16).to_be_bytes());
        for f in t {
            match f {
                Some(v) => {
                    b.extend((v.len() as i32).to_be_bytes());
                    b.extend(v);
                }
                None => b.extend((-1i32).to_be_bytes()),
            }
        }
    }
    b.extend((-1i16).to_be_bytes());
    b
}

fn pg_ts(ns: i64) -> Vec<u8> {
    (ns / 1000 - 946_684_800_000_000).to_be_bytes().to_vec()
}

#[test]
fn binary_rows() {
    let data = binary(&[
        vec![
            Some(7i64.to_be_bytes().to_vec()),
            Some(pg_ts(T0)),
            Some(3i32.to_be_bytes().to_vec()),
            Some(1.5f64.to_be_bytes().to_vec()),
        ],
        vec![
            Some(b"plant-01".to_vec()),
            Some(pg_ts(T0 + 1000)),
            None,
            Some(0.5f32.to_be_bytes().to_vec()),
        ],
        vec![
            Some((-2i64).to_be_bytes().to_vec()),
            Some(pg_ts(T0)),
            Some(9i64.to_be_bytes().to_vec()),
            Some(2f64.to_be_bytes().to_vec()),
        ],
    ]);
    for chunk in [1, 13, 4096] {
        let rows = parse_all(&mut BinaryParser::new(cols()), &data, chunk).unwrap();
        assert_eq!(
            rows,
            [
                CopyRow {
                    line: 1,
                    label: CopyLabel::Int(7),
                    time_ns: T0,
                    version: Some(3),
                    value: Some(1.5)
                },
                CopyRow {
                    line: 2,
                    label: CopyLabel::Text("plant-01".into()),
                    time_ns: T0 + 1000,
                    version: None,
                    value: Some(0.5)
                },
                CopyRow {
                    line: 3,
                    label: CopyLabel::Int(-2),
                    time_ns: T0,
                    version: Some(9),
                    value: Some(2.0)
                },
            ]
        );
    }
}

#[test]
fn binary_errors_name_the_tuple() {
    let data = binary(&[
        vec![
            Some(1i64.to_be_bytes().to_vec()),
            Some(pg_ts(T0)),
            None,
            Some(1f64.to_be_bytes().to_vec()),
        ],
        vec![
            Some(1i64.to_be_bytes().to_vec()),
            Some(vec![1, 2]),
            None,
            Some(1f64.to_be_bytes().to_vec()),
        ],
    ]);
    let e = parse_all(&mut BinaryParser::new(cols()), &data, 64).unwrap_err();
    assert_eq!((e.line, e.column.as_deref()), (2, Some("ts")));
    let good = binary(&[vec![
        Some(1i64.to_be_bytes().to_vec()),
        Some(pg_ts(T0)),
        None,
        Some(1f64.to_be_bytes().to_vec()),
    ]]);
    let truncated = &good[..good.len() - 2];
    let e = parse_all(&mut BinaryParser::new(cols()), truncated, 64).unwrap_err();
    assert!(e.message.contains("trailer"));
    let e = parse_all(
        &mut BinaryParser::new(cols()),
        b"NOTCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0",
        64,
    )
    .unwrap_err();
    assert!(e.message.contains("signature"));
}
