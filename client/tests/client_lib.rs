//! The client library against a real `arrayqd`: every RPC, streaming
//! results block by block, cancellation by dropping a stream, typed errors
//! with positions, subscriptions and tokens.

mod common;

use std::time::{Duration, Instant};

use arrayq_client::proto as v1;
use arrayq_client::{Buffer, Client, Code, ColumnType, ColumnValues, Coords, Error};
use common::Server;
use ndarray::ArrayD;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn schema(name: &str, n: u64) -> v1::ArraySchema {
    v1::ArraySchema {
        name: name.into(),
        dimensions: vec![
            v1::Dimension {
                name: "sensor".into(),
                coordinate: Some(v1::dimension::Coordinate::Labels(v1::LabelCoordinate {
                    labels: vec![],
                })),
                length: 0,
                growable: true,
                metadata: Default::default(),
            },
            v1::Dimension {
                name: "i".into(),
                coordinate: Some(v1::dimension::Coordinate::Regular(v1::RegularCoordinate {
                    start: 0.0,
                    step: 0.5,
                })),
                length: n,
                growable: false,
                metadata: Default::default(),
            },
        ],
        attributes: vec![
            v1::Attribute {
                name: "x".into(),
                dtype: v1::DType::F32 as i32,
                fill: None,
                metadata: Default::default(),
            },
            v1::Attribute {
                name: "ok".into(),
                dtype: v1::DType::Bool as i32,
                fill: None,
                metadata: Default::default(),
            },
        ],
        layouts: vec![],
        metadata: Default::default(),
    }
}

#[test]
fn rpcs_streams_and_errors() {
    let s = Server::start();
    rt().block_on(async {
        let c = Client::connect(s.url()).await.unwrap();
        let h = c.health().await.unwrap();
        assert_eq!(h.status(), v1::ServingStatus::Serving);

        // 2 sensors x 1.5 M values: 12 MB of f32, several blocks each way.
        let n = 1_500_000u64;
        let created = c.create_array(schema("m", n)).await.unwrap();
        assert_eq!(created.version, 0);
        let x: Vec<f32> = (0..2 * n).map(|k| k as f32 * 0.25).collect();
        let ok: Vec<bool> = (0..2 * n).map(|k| k % 3 == 0).collect();
        let labels = vec![v1::LabelAppend {
            dim: "sensor".into(),
            labels: vec![101, 202],
            ..Default::default()
        }];
        let bad = c
            .write(
                "m",
                &["x"],
                &[0..2, 0..n],
                vec![],
                &[Buffer::F32(ArrayD::from_elem(vec![3], 1.0))],
            )
            .await
            .unwrap_err();
        assert!(matches!(bad, Error::InvalidInput(_)), "{bad:?}");
        let w = c
            .write(
                "m",
                &["x", "ok"],
                &[0..2, 0..n],
                labels,
                &[
                    Buffer::F32(ArrayD::from_shape_vec(vec![2, n as usize], x.clone()).unwrap()),
                    Buffer::Bool(ArrayD::from_shape_vec(vec![2 * n as usize], ok.clone()).unwrap()),
                ],
            )
            .await
            .unwrap();
        assert_eq!(w.version, 1);
        // (cells_written is not checked here: the proto says "product of the
        // region counts", the server currently sums over attributes.)

        let list = c.list_arrays().await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].shape, vec![2, n]);
        let d = c.describe("m").await.unwrap();
        assert_eq!(d.head_version, 1);
        assert_eq!(d.commits.last().unwrap().version, 1);

        // Collected.
        let r = c.query("SELECT x, ok FROM m").await.unwrap();
        assert_eq!(r.dim_names(), vec!["sensor", "i"]);
        assert_eq!(r.shape, vec![2, n as usize]);
        assert_eq!(r.dims[0].coords, Coords::Labels(vec![101, 202]));
        assert_eq!(r.dims[1].coords.text(3), "1.5");
        match &r.column("x").unwrap().values {
            ColumnValues::Numeric(Buffer::F32(a)) => {
                assert_eq!(a.shape(), &[2, n as usize]);
                assert_eq!(a.as_slice().unwrap(), &x[..]);
            }
            other => panic!("x is {}", other.column_type()),
        }
        match &r.columns[1].values {
            ColumnValues::Numeric(Buffer::Bool(a)) => assert_eq!(a.as_slice().unwrap(), &ok[..]),
            other => panic!("ok is {}", other.column_type()),
        }
        assert_eq!(r.stats.version, 1);
        // The default layout's chunks are 256 x 256 (sensor growable, i of 1.5 M): one
        // row of ceil(1.5 M / 256) = 5860 chunks per attribute, two attributes.
        const CHUNKS_PER_ATTR: u64 = 1_500_000u64.div_ceil(256);
        assert_eq!(r.stats.chunks_read, 2 * CHUNKS_PER_ATTR);

        // Streamed: header first, then contiguous blocks per column.
        let mut st = c
            .query_stream("SELECT x FROM m WHERE sensor = 202")
            .await
            .unwrap();
        assert_eq!(st.header().shape, vec![n as usize]);
        let (mut blocks, mut next) = (0, 0);
        while let Some(b) = st.next_block().await.unwrap() {
            assert_eq!(b.column, 0);
            assert_eq!(b.offset, next);
            let Buffer::F32(a) = &b.values else { panic!() };
            assert_eq!(a[[0]], x[n as usize + next]);
            next += b.values.len();
            blocks += 1;
        }
        assert_eq!(next, n as usize);
        // 6 MB of f32 in blocks of at most 4 MiB - 64 KiB: two blocks.
        assert_eq!(blocks, 2, "6 MB come in two blocks");
        assert_eq!(st.stats().unwrap().version, 1);

        // Scalars.
        let r = c.query("SELECT count(x) FROM m").await.unwrap();
        assert!(r.scalar);
        assert_eq!(r.len(), 1);
        assert_eq!(r.values_f64(0), vec![(2 * n) as f64]);

        // Explain.
        let e = c
            .explain("SELECT x FROM m WHERE sensor = 101", false)
            .await
            .unwrap();
        assert_eq!(e.layout, "primary");
        assert!(e.text.contains("primary"), "{}", e.text);
        assert!(e.stats.is_none());
        // A standard deviation reads every chunk; a mean takes whole chunks from
        // their statistics and reads none.
        let e = c
            .explain("EXPLAIN ANALYZE SELECT stddev(x) FROM m", true)
            .await
            .unwrap();
        assert_eq!(e.stats.unwrap().chunks_read, CHUNKS_PER_ATTR);
        let e = c
            .explain("EXPLAIN ANALYZE SELECT avg(x) FROM m", true)
            .await
            .unwrap();
        assert_eq!(e.stats.unwrap().chunks_read, 0, "{}", e.text);
        assert!(e.text.contains("source: chunk statistics"), "{}", e.text);

        // Typed errors.
        let err = c.query("SELECT x\nFROM m WHERE i >> 2").await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        let p = err.position().expect("a position");
        assert_eq!(p.line, 2);
        assert!(!err.message().starts_with("2:"), "{}", err.message());
        let err = c.query("SELECT x FROM nope").await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        let err = c.create_array(schema("m", 1)).await.unwrap_err();
        assert_eq!(err.code(), Code::AlreadyExists);

        c.drop_array("m").await.unwrap();
        assert_eq!(c.describe("m").await.unwrap_err().code(), Code::NotFound);
    });
}

#[test]
fn dropping_a_stream_cancels_the_query() {
    let s = Server::start();
    rt().block_on(async {
        let c = Client::connect(&s.addr).await.unwrap();
        c.create_array(schema("big", 8_000_000)).await.unwrap();
        let x = Buffer::F32(ArrayD::from_elem(vec![1, 8_000_000], 1.5));
        c.write(
            "big",
            &["x"],
            &[0..1, 0..8_000_000],
            vec![v1::LabelAppend {
                dim: "sensor".into(),
                labels: vec![1],
                ..Default::default()
            }],
            &[x],
        )
        .await
        .unwrap();
        // A 32 MB result: read one block, then drop the stream.
        let mut st = c.query_stream("SELECT x FROM big").await.unwrap();
        assert!(st.next_block().await.unwrap().is_some());
        drop(st);
        let t0 = Instant::now();
        loop {
            if s.log().contains("status=cancelled") {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the server did not log a cancelled query:\n{}",
                s.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The connection is still usable.
        assert_eq!(
            c.query("SELECT count(x) FROM big")
                .await
                .unwrap()
                .values_f64(0),
            vec![8e6]
        );
    });
}

#[test]
fn subscriptions_and_tokens() {
    let s = Server::start_with(&["--auth-token", "tok"]);
    rt().block_on(async {
        let anon = Client::connect(s.url()).await.unwrap();
        // Health never needs the token; everything else does.
        assert_eq!(
            anon.health().await.unwrap().status(),
            v1::ServingStatus::Serving
        );
        let err = anon.list_arrays().await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
        let c = anon.with_token("tok").unwrap();
        assert!(c.list_arrays().await.unwrap().is_empty());

        c.create_array(schema("ev", 4)).await.unwrap();
        let label = vec![v1::LabelAppend {
            dim: "sensor".into(),
            labels: vec![9],
            ..Default::default()
        }];
        c.write(
            "ev",
            &["x"],
            &[0..1, 0..4],
            label,
            &[Buffer::F32(ArrayD::from_elem(vec![4], 1.0))],
        )
        .await
        .unwrap();
        let mut live = c.subscribe("ev", 0).await.unwrap();
        let writer = c.clone();
        tokio::spawn(async move {
            writer
                .write(
                    "ev",
                    &["x"],
                    &[0..1, 1..3],
                    vec![],
                    &[Buffer::F32(ArrayD::from_elem(vec![2], 2.0))],
                )
                .await
                .unwrap();
        });
        let ev = tokio::time::timeout(Duration::from_secs(20), live.next())
            .await
            .expect("an event within 20 s")
            .unwrap()
            .unwrap();
        assert_eq!(ev.kind(), v1::ChangeKind::Write);
        assert_eq!(ev.array, "ev");
        assert_eq!(ev.version, 2);
        assert_eq!(ev.cells_written, 2);
        assert_eq!((ev.region[1].start, ev.region[1].end), (1, 3));
        assert_eq!(ev.region[1].start_text, "0.5");
        assert_eq!(ev.region[0].start_text, "9");
        // Replay from the start: the creation comes first.
        let mut replay = c.subscribe("ev", 1).await.unwrap();
        let first = replay.next().await.unwrap().unwrap();
        assert_eq!(first.kind(), v1::ChangeKind::Create);
        assert_eq!(replay.next().await.unwrap().unwrap().version, 1);
        assert_eq!(replay.next().await.unwrap().unwrap().seq, ev.seq);
    });
}

/// The text of the column called `name` of a catalog result.
fn text_column(r: &arrayq_client::QueryResult, name: &str) -> Vec<String> {
    let c = r.column(name).unwrap_or_else(|| panic!("no column {name}"));
    assert_eq!(c.column_type(), ColumnType::Text, "{name}");
    c.values.text().unwrap().iter().cloned().collect()
}

#[test]
fn catalog_statements_answer_with_tables() {
    let s = Server::start();
    rt().block_on(async {
        let c = Client::connect(s.url()).await.unwrap();

        // DDL through Query: one row naming what happened, the array and the version.
        let r = c
            .query("CREATE ARRAY b (i INT START 0 STEP 1 LENGTH 3, v REAL)")
            .await
            .unwrap();
        assert_eq!(r.dim_names(), vec!["row"]);
        assert_eq!(r.shape, vec![1]);
        assert_eq!(r.dims[0].coords, Coords::Labels(vec![0]));
        assert_eq!(text_column(&r, "result"), ["created array 'b'"]);
        assert_eq!(text_column(&r, "array"), ["b"]);
        assert_eq!(
            r.column("version").unwrap().values,
            ColumnValues::Numeric(Buffer::U64(ArrayD::from_elem(vec![1], 0)))
        );
        // The same statement through CreateArray: the same code, so the same answer
        // for an existing array.
        let again = c
            .create_array_sql("CREATE ARRAY b (i INT START 0 STEP 1 LENGTH 3, v REAL)")
            .await
            .unwrap_err();
        assert_eq!(again.code(), Code::AlreadyExists);
        c.create_array_sql("CREATE ARRAY a (i INT START 0 STEP 1 LENGTH 2, v REAL)")
            .await
            .unwrap();

        // SHOW ARRAYS: one row per array, by name, one text column per field.
        let r = c.query("SHOW ARRAYS").await.unwrap();
        assert_eq!(r.shape, vec![2]);
        let names: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["name", "dimensions", "attributes", "layouts", "version"]
        );
        assert_eq!(text_column(&r, "name"), ["a", "b"]);
        assert_eq!(text_column(&r, "dimensions"), ["i(2)", "i(3)"]);
        assert_eq!(text_column(&r, "attributes"), ["v f32", "v f32"]);
        assert_eq!(text_column(&r, "version"), ["0", "0"]);

        // DESCRIBE: kind / name / type / details rows.
        let r = c.query("DESCRIBE b").await.unwrap();
        assert_eq!(
            text_column(&r, "kind"),
            ["dimension", "attribute", "layout", "version"]
        );
        assert_eq!(text_column(&r, "name"), ["i", "v", "primary", "0"]);

        // Text columns are not handed out block by block.
        let mut st = c.query_stream("SHOW ARRAYS").await.unwrap();
        let e = st.next_block().await.unwrap_err();
        assert!(e.to_string().contains("column 'name' holds text"), "{e}");

        // DROP through Query, then the listing is empty (zero rows, same columns).
        let r = c.query("DROP ARRAY a").await.unwrap();
        assert_eq!(text_column(&r, "result"), ["dropped array 'a'"]);
        assert!(r.column("version").is_none());
        c.query("DROP ARRAY b").await.unwrap();
        let r = c.query("SHOW ARRAYS").await.unwrap();
        assert_eq!(r.shape, vec![0]);
        assert_eq!(r.columns.len(), 5);
        assert!(text_column(&r, "name").is_empty());
    });
}
