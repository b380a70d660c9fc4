use arrayq_format::Buffer;
use ndarray::ArrayD;

use super::*;
use crate::error::{Error, Position};
use crate::result::{Column, Coords, Dim, QueryResult, QueryStats};
use crate::values::ColumnValues;

fn result_2d(nr: usize, nc: usize) -> QueryResult {
    let v: Vec<f32> = (0..nr * nc)
        .map(|i| if i == 1 { f32::NAN } else { i as f32 * 0.5 })
        .collect();
    QueryResult {
        dims: vec![
            Dim {
                name: "time".into(),
                coords: Coords::Time {
                    start_ns: 1_672_531_200_000_000_000,
                    step_ns: 3_600_000_000_000,
                },
                metadata: Default::default(),
            },
            Dim {
                name: "lat".into(),
                coords: Coords::Regular {
                    start: 72.0,
                    step: -0.25,
                },
                metadata: Default::default(),
            },
        ],
        shape: vec![nr, nc],
        columns: vec![Column {
            name: "t2m".into(),
            values: ColumnValues::Numeric(Buffer::F32(
                ArrayD::from_shape_vec(vec![nr, nc], v).unwrap(),
            )),
            metadata: Default::default(),
        }],
        scalar: false,
        notes: vec![],
        stats: QueryStats::default(),
    }
}

fn scalar(v: f64) -> QueryResult {
    QueryResult {
        dims: vec![],
        shape: vec![],
        columns: vec![Column {
            name: "avg".into(),
            values: ColumnValues::Numeric(Buffer::F64(ArrayD::from_elem(vec![], v))),
            metadata: Default::default(),
        }],
        scalar: true,
        notes: vec!["hello".into()],
        stats: QueryStats::default(),
    }
}

#[test]
fn small_table() {
    let r = result_2d(3, 2);
    let t = render_result(&r, &DisplayOptions::default());
    let expected = "         time         |  lat  | t2m
----------------------+-------+-----
 2023-01-01T00:00:00Z |    72 |   0
 2023-01-01T00:00:00Z | 71.75 | NaN
 2023-01-01T01:00:00Z |    72 |   1
 2023-01-01T01:00:00Z | 71.75 | 1.5
 2023-01-01T02:00:00Z |    72 |   2
 2023-01-01T02:00:00Z | 71.75 | 2.5
(6 rows)
";
    assert_eq!(t, expected);
}

#[test]
fn scalar_table_and_note() {
    let t = render_result(&scalar(280.125), &DisplayOptions::default());
    assert_eq!(t, "   avg\n---------\n 280.125\n(1 row)\nNOTE: hello\n");
}

#[test]
fn expanded() {
    let r = result_2d(1, 2);
    let t = render_result(
        &r,
        &DisplayOptions {
            expanded: true,
            ..Default::default()
        },
    );
    assert!(t.starts_with("-[ RECORD 1 ]"), "{t}");
    assert!(
        t.contains("time | 2023-01-01T00:00:00Z\nlat  | 72\nt2m  | 0\n"),
        "{t}"
    );
    assert!(t.contains("-[ RECORD 2 ]"));
}

#[test]
fn summary_with_heatmap() {
    let r = result_2d(30, 50);
    let plain = render_result(&r, &DisplayOptions::default());
    assert!(
        plain.starts_with("1,500 cells: time=30 x lat=50\n"),
        "{plain}"
    );
    assert!(plain.contains("time: 2023-01-01T00:00:00Z .. 2023-01-02T05:00:00Z, step 1h"));
    assert!(plain.contains("lat: 72 .. 59.75, step -0.25"), "{plain}");
    assert!(
        plain.contains(" t2m    | f32  |   0 |  375 | 749.5 |   1\n"),
        "{plain}"
    );
    assert!(plain.contains("t2m (rows: time"));
    assert!(!plain.contains('\x1b'));
    // The map: top-left is the minimum (plus a NaN), bottom-right the max.
    let map: Vec<&str> = plain
        .lines()
        .skip_while(|l| !l.starts_with("t2m (rows"))
        .skip(1)
        .collect();
    assert!(map[0].starts_with(".."), "{map:?}");
    assert!(map[map.len() - 2].ends_with("@@"), "{map:?}");
    assert!(map.last().unwrap().starts_with("0 "), "{map:?}");
    let colored = render_result(
        &r,
        &DisplayOptions {
            color: true,
            ..Default::default()
        },
    );
    assert!(colored.contains("\x1b[38;5;17m"));
    assert!(colored.contains("\x1b[38;5;196m"));
}

#[test]
fn sparkline_of_1d() {
    let v: Vec<f64> = (0..100).map(|i| i as f64).collect();
    let s = sparkline(&v, 8);
    assert_eq!(s, "▁▂▃▄▅▆▇█");
    let mut v = vec![1.0; 10];
    v[3] = f64::NAN;
    assert_eq!(sparkline(&v, 10).chars().nth(3), Some(' '));
    let r = QueryResult {
        dims: vec![Dim {
            name: "t".into(),
            coords: Coords::Labels((0..100).collect()),
            metadata: Default::default(),
        }],
        shape: vec![100],
        columns: vec![Column {
            name: "x".into(),
            values: ColumnValues::Numeric(Buffer::I64(
                ArrayD::from_shape_vec(vec![100], (0..100).collect()).unwrap(),
            )),
            metadata: Default::default(),
        }],
        scalar: false,
        notes: vec![],
        stats: QueryStats::default(),
    };
    let out = render_result(&r, &DisplayOptions::default());
    assert!(out.contains("x  ▁"), "{out}");
    assert!(out.trim_end().ends_with('█'), "{out}");
}

#[test]
fn csv_and_json() {
    let r = result_2d(2, 2);
    let mut csv = Vec::new();
    write_csv(&mut csv, &r).unwrap();
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        "time,lat,t2m\n2023-01-01T00:00:00Z,72,0\n2023-01-01T00:00:00Z,71.75,NaN\n\
         2023-01-01T01:00:00Z,72,1\n2023-01-01T01:00:00Z,71.75,1.5\n"
    );
    let mut js = Vec::new();
    write_json(&mut js, &r).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&js).unwrap();
    assert_eq!(v["dims"], serde_json::json!(["time", "lat"]));
    assert_eq!(v["shape"], serde_json::json!([2, 2]));
    assert_eq!(
        v["coords"]["time"],
        serde_json::json!(["2023-01-01T00:00:00Z", "2023-01-01T01:00:00Z"])
    );
    assert_eq!(v["coords"]["lat"], serde_json::json!([72.0, 71.75]));
    assert_eq!(v["values"]["t2m"], serde_json::json!([0.0, null, 1.0, 1.5]));

    let mut js = Vec::new();
    write_json(&mut js, &scalar(2.5)).unwrap();
    assert_eq!(
        String::from_utf8(js).unwrap(),
        r#"{"dims":[],"shape":[],"coords":{},"values":{"avg":[2.5]}}"#
    );
}

#[test]
fn numbers() {
    assert_eq!(fmt_num(280.123456789), "280.123");
    assert_eq!(fmt_num(3.0), "3");
    assert_eq!(fmt_num(0.000123456), "0.000123456");
    assert_eq!(fmt_num(1e-9), "1.00000e-9");
    assert_eq!(fmt_count(2063664), "2,063,664");
    assert_eq!(fmt_count(12), "12");
}

#[test]
fn durations_in_their_largest_whole_unit() {
    assert_eq!(
        whole_duration(2 * 86_400 * 1_000_000_000),
        Some((2, "d", "day"))
    );
    assert_eq!(
        whole_duration(15 * 60 * 1_000_000_000),
        Some((15, "min", "minute"))
    );
    assert_eq!(whole_duration(-3_000), Some((-3, "us", "us")));
    assert_eq!(whole_duration(1_500), None);
    assert_eq!(whole_duration(0), None);
}

#[test]
fn caret_under_position() {
    let sql = "SELECT *\nFROM era5\nWHERE tmp > 3";
    let c = caret(sql, Position { line: 3, column: 7 }).unwrap();
    assert_eq!(c, "LINE 3: WHERE tmp > 3\n              ^");
    let e = Error::from(arrayq_proto::invalid_argument_at(
        3,
        7,
        "unknown attribute 'tmp'",
    ));
    let r = render_error(&e, Some(sql));
    assert!(
        r.starts_with("ERROR:  INVALID_ARGUMENT: unknown attribute 'tmp'\nLINE 3:"),
        "{r}"
    );
}

#[test]
fn text_columns_in_csv_json_and_tables() {
    let text = |v: &[&str]| {
        ColumnValues::Text(
            ArrayD::from_shape_vec(vec![v.len()], v.iter().map(|s| s.to_string()).collect())
                .unwrap(),
        )
    };
    let r = QueryResult {
        dims: vec![Dim {
            name: "row".into(),
            coords: Coords::Labels(vec![0, 1]),
            metadata: Default::default(),
        }],
        shape: vec![2],
        columns: vec![
            Column {
                name: "array".into(),
                values: text(&["a", "b,\"c\""]),
                metadata: Default::default(),
            },
            Column {
                name: "version".into(),
                values: ColumnValues::Numeric(Buffer::U64(
                    ArrayD::from_shape_vec(vec![2], vec![0, 3]).unwrap(),
                )),
                metadata: Default::default(),
            },
        ],
        scalar: false,
        notes: vec![],
        stats: QueryStats::default(),
    };
    let mut csv = Vec::new();
    write_csv(&mut csv, &r).unwrap();
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        "row,array,version\n0,a,0\n1,\"b,\"\"c\"\"\",3\n"
    );
    let mut json = Vec::new();
    write_json(&mut json, &r).unwrap();
    assert_eq!(
        String::from_utf8(json).unwrap(),
        r#"{"dims":["row"],"shape":[2],"coords":{"row":[0,1]},"values":{"array":["a","b,\"c\""],"version":[0,3]}}"#
    );
    let table = render_result(&r, &DisplayOptions::default());
    assert_eq!(
        table,
        " row | array | version\n-----+-------+---------\n   0 | a     |       0\n   1 | b,\"c\" |       3\n(2 rows)\n"
    );
}
