//! Every RPC of `arrayq.v1.ArrayQ` against the real `arrayqd` process: create,
//! list, describe, write then query, explain, subscribe (replay, resume, lagging
//! subscribers), drop, health, error codes and positions, and the `--demo` cube.

mod common;

use std::time::Duration;

use arrayq_proto::v1::dimension::Coordinate;
use arrayq_proto::v1::result_dimension::Coordinates;
use arrayq_proto::v1::*;
use arrayq_proto::{error_position, write_requests};
use arrayq_workload::{era5, Scale};
use common::*;
use tonic::Code;

const NL: u64 = 6;
const NO: u64 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_write_then_query() {
    let (_t, dir) = data_dir();
    let d = Daemon::start(&dir, &[], &[]);
    let mut c = d.client().await;

    // Health
    let h = c.health(HealthRequest {}).await.unwrap().into_inner();
    assert_eq!(h.status(), ServingStatus::Serving);
    assert_eq!(h.version, env!("CARGO_PKG_VERSION"));

    // CreateArray (schema); the response has the defaults resolved.
    let created = c
        .create_array(CreateArrayRequest {
            definition: Some(create_array_request::Definition::Schema(cube_schema(
                "cube", NL, NO,
            ))),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.version, 0);
    // The stored schema is the one sent (no defaults left to fill).
    assert_eq!(created.schema.unwrap(), cube_schema("cube", NL, NO));
    let again = c
        .create_array(CreateArrayRequest {
            definition: Some(create_array_request::Definition::Schema(cube_schema(
                "cube", NL, NO,
            ))),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");

    // A schema without layouts gets the default one, the same as CREATE ARRAY's:
    // `primary`, shuffle + zstd 3, each fixed dimension whole up to 256 (lat 6, lon 5)
    // and 256 steps of a growable one (time); invalid schemas are rejected.
    let mut plain = cube_schema("plain", NL, NO);
    plain.layouts.clear();
    let r = c
        .create_array(CreateArrayRequest {
            definition: Some(create_array_request::Definition::Schema(plain)),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.version, 0);
    assert_eq!(
        r.schema.unwrap().layouts,
        vec![Layout {
            name: "primary".into(),
            chunk_shape: vec![256, NL, NO],
            zstd_level: 3,
            shuffle: true,
        }]
    );
    let mut bad = cube_schema("bad", NL, NO);
    bad.attributes[0].dtype = 0;
    let e = c
        .create_array(CreateArrayRequest {
            definition: Some(create_array_request::Definition::Schema(bad)),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.message(), "attribute 't2m': invalid dtype value 0");
    // STRING is a result-only type.
    let mut text = cube_schema("text", NL, NO);
    text.attributes[0].dtype = DType::String as i32;
    let e = c
        .create_array(CreateArrayRequest {
            definition: Some(create_array_request::Definition::Schema(text)),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.message(),
        "attribute 't2m': dtype STRING is a result-only type, attributes hold numbers or booleans"
    );
    let e = c
        .create_array(CreateArrayRequest { definition: None })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    // CreateArray (SQL)
    let r = c
        .create_array(CreateArrayRequest {
            definition: Some(create_array_request::Definition::Sql(
                "CREATE ARRAY power (asset LABELS (1, 2, 3) GROWABLE, \
                 time TIMESTAMP START '2022-12-31T23:00:00Z' STEP '15 minutes' GROWABLE, \
                 value REAL) WITH (chunks = (1, 96))"
                    .into(),
            )),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.version, 0);
    // 2022-12-31T23:00:00Z is 1672527600 s after the epoch; 15 minutes are 900 s.
    assert_eq!(
        r.schema.unwrap(),
        ArraySchema {
            name: "power".into(),
            dimensions: vec![
                Dimension {
                    name: "asset".into(),
                    coordinate: Some(Coordinate::Labels(LabelCoordinate {
                        labels: vec![1, 2, 3],
                    })),
                    length: 3,
                    growable: true,
                    metadata: Default::default(),
                },
                Dimension {
                    name: "time".into(),
                    coordinate: Some(Coordinate::Time(TimeCoordinate {
                        start_unix_ns: 1_672_527_600_000_000_000,
                        step_ns: 900_000_000_000,
                    })),
                    length: 0,
                    growable: true,
                    metadata: Default::default(),
                },
            ],
            attributes: vec![Attribute {
                name: "value".into(),
                dtype: DType::F32 as i32,
                fill: None,
                metadata: Default::default(),
            }],
            layouts: vec![Layout {
                name: "primary".into(),
                chunk_shape: vec![1, 96],
                zstd_level: 3,
                shuffle: true,
            }],
            metadata: Default::default(),
        }
    );
    // The same statement through Query runs the same code: the array exists now.
    let e = query(
        &mut c,
        "CREATE ARRAY power (asset LABELS (1) GROWABLE, value REAL)",
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
    let e = c
        .create_array(CreateArrayRequest {
            definition: Some(create_array_request::Definition::Sql(
                "SELECT 1 FROM power".into(),
            )),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    // Write two commits, then read them back.
    let w1 = write_cube(&mut c, "cube", 0, 3, NL, NO).await.unwrap();
    assert_eq!(w1.version, 1);
    assert_eq!(w1.cells_written, 3 * NL * NO);
    let w2 = write_cube(&mut c, "cube", 3, 2, NL, NO).await.unwrap();
    assert_eq!(w2.version, 2);
    assert!(w2.timestamp_ns > w1.timestamp_ns);

    let r = query(&mut c, "SELECT t2m FROM cube").await.unwrap();
    assert_eq!(r.header.shape, vec![5, NL, NO]);
    assert_eq!(r.header.columns[0].dtype(), DType::F32);
    assert_eq!(f32_values(&r.columns[0]), cube_values(0, 5, NL, NO));
    assert_eq!(r.stats.version, 2);
    // One chunk per hour of the `maps` layout (1 x NL x NO).
    assert_eq!(r.stats.chunks_read, 5);
    assert_eq!(r.stats.layout, "maps");
    match &r.header.dimensions[0].coordinates {
        Some(Coordinates::Time(t)) => {
            assert_eq!(t.start_unix_ns, 1_672_531_200_000_000_000);
            assert_eq!(t.step_ns, 3_600_000_000_000);
        }
        other => panic!("time coordinates {other:?}"),
    }
    match &r.header.dimensions[1].coordinates {
        Some(Coordinates::Regular(g)) => assert_eq!((g.start, g.step), (72.0, -0.25)),
        other => panic!("lat coordinates {other:?}"),
    }

    // Time travel and an aggregate.
    let r = query(&mut c, "SELECT t2m FROM cube AS OF VERSION 1")
        .await
        .unwrap();
    assert_eq!(r.header.shape, vec![3, NL, NO]);
    assert_eq!(f32_values(&r.columns[0]), cube_values(0, 3, NL, NO));
    assert_eq!(r.stats.version, 1);
    let r = query(&mut c, "SELECT avg(t2m) FROM cube").await.unwrap();
    assert!(r.header.scalar);
    let want: f64 = cube_values(0, 5, NL, NO)
        .iter()
        .map(|&v| v as f64)
        .sum::<f64>()
        / (5 * NL * NO) as f64;
    let got = f64_values(&r.columns[0])[0];
    assert!((got - want).abs() < 1e-9 * want, "{got} vs {want}");

    // Optimistic concurrency: a stale expect_version fails and writes nothing.
    let stale = WriteHeader {
        array: "cube".into(),
        attributes: vec!["t2m".into()],
        region: vec![
            IndexRange::new(0, 1),
            IndexRange::new(0, NL),
            IndexRange::new(0, NO),
        ],
        expect_version: Some(1),
        ..Default::default()
    };
    let e = write(
        &mut c,
        stale.clone(),
        vec![vec![0u8; (4 * NL * NO) as usize]],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    // Bad streams: wrong byte count, unknown attribute, unknown array.
    let e = write(&mut c, stale.clone(), vec![vec![0u8; 3]])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let mut unknown_attr = stale.clone();
    unknown_attr.attributes = vec!["tmp".into()];
    let e = write(
        &mut c,
        unknown_attr,
        vec![vec![0u8; (4 * NL * NO) as usize]],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let mut unknown_array = stale.clone();
    unknown_array.array = "nope".into();
    let e = write(
        &mut c,
        unknown_array,
        vec![vec![0u8; (4 * NL * NO) as usize]],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");

    // A write stream that is dropped before its end commits nothing.
    {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let mut c2 = c.clone();
        let call = tokio::spawn(async move {
            c2.write(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
        });
        let mut msgs = write_requests(
            WriteHeader {
                expect_version: None,
                ..stale.clone()
            },
            vec![vec![0u8; (4 * NL * NO) as usize]],
        );
        tx.send(msgs.next().unwrap()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        call.abort();
        let _ = call.await;
        drop(tx);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // ListArrays, DescribeArray
    let l = c
        .list_arrays(ListArraysRequest {})
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = l.arrays.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, vec!["cube", "plain", "power"]);
    assert_eq!(l.arrays[0].shape, vec![5, NL, NO]);
    assert_eq!(l.arrays[0].head_version, 2);
    assert_eq!(l.arrays[0].dimensions, vec!["time", "lat", "lon"]);
    let dsc = c
        .describe_array(DescribeArrayRequest {
            name: "cube".into(),
            max_commits: 0,
            omit_labels: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dsc.head_version, 2, "the dropped write must not commit");
    let versions: Vec<_> = dsc.commits.iter().map(|c| c.version).collect();
    assert_eq!(versions, vec![0, 1, 2]);
    assert_eq!(dsc.commits[1].cells_written, 3 * NL * NO);
    assert_eq!(dsc.commits[2].cells_written, 2 * NL * NO);
    // The schema with the current length of the growable time dimension.
    let mut grown = cube_schema("cube", NL, NO);
    grown.dimensions[0].length = 5;
    assert_eq!(dsc.schema.unwrap(), grown);
    assert_eq!(dsc.layouts.len(), 1);
    assert_eq!(dsc.layouts[0].name, "maps");
    assert_eq!(dsc.layouts[0].chunks, 5);
    // Compressed sizes depend on zstd; each stored chunk holds at least its CRC32.
    assert!(dsc.layouts[0].bytes >= 5 * 4);
    let dsc = c
        .describe_array(DescribeArrayRequest {
            name: "cube".into(),
            max_commits: 1,
            omit_labels: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dsc.commits.len(), 1);
    assert_eq!(dsc.commits[0].version, 2);
    let e = c
        .describe_array(DescribeArrayRequest {
            name: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Explain, with and without analyze.
    let x = c
        .explain(ExplainRequest {
            sql: "SELECT t2m FROM cube WHERE lat = 71.0".into(),
            analyze: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(x.layout, "maps");
    assert!(x.text.contains("maps"), "{}", x.text);
    assert_eq!(x.candidates.len(), 1);
    assert!(x.stats.is_none());
    let x = c
        .explain(ExplainRequest {
            sql: "SELECT t2m FROM cube".into(),
            analyze: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(x.stats.unwrap().chunks_read, 5);

    // Errors: syntax error with position, unknown names.
    let e = query(&mut c, "SELECT t2m\nFROM cube WHERE lat = = 3")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let (line, col) = error_position(&e).unwrap_or_else(|| panic!("no position: {e:?}"));
    assert_eq!(line, 2, "{e:?}");
    assert!(
        e.message().starts_with(&format!("{line}:{col}: ")),
        "{}",
        e.message()
    );
    assert_eq!(
        e.metadata()
            .get(arrayq_proto::ERROR_POSITION_METADATA_KEY)
            .map(|v| v.to_str().unwrap().to_string()),
        Some(format!("{line}:{col}"))
    );
    let e = query(&mut c, "SELECT t2m FROM nope").await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = query(&mut c, "SELECT tmp FROM cube").await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let e = query(&mut c, "SELECT t2m FROM cube AS OF VERSION 9")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = c
        .explain(ExplainRequest {
            sql: "SELEC".into(),
            analyze: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    // Catalog statements answer with tables: one dimension `row` labelled 0..n, one
    // STRING column per field.
    let r = query(&mut c, "SHOW ARRAYS").await.unwrap();
    assert_eq!(r.header.shape, vec![3]);
    assert!(!r.header.scalar && r.header.notes.is_empty());
    assert_eq!(r.header.dimensions[0].name, "row");
    assert_eq!(
        r.header.dimensions[0].coordinates,
        Some(Coordinates::Labels(Int64List {
            values: vec![0, 1, 2]
        }))
    );
    let columns: Vec<(&str, DType)> = r
        .header
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.dtype()))
        .collect();
    assert_eq!(
        columns,
        [
            ("name", DType::String),
            ("dimensions", DType::String),
            ("attributes", DType::String),
            ("layouts", DType::String),
            ("version", DType::String),
        ]
    );
    assert_eq!(r.text("name"), ["cube", "plain", "power"]);
    assert_eq!(
        r.text("dimensions"),
        [
            "time(5), lat(6), lon(5)",
            "time(0), lat(6), lon(5)",
            "asset(3), time(0)"
        ]
    );
    assert_eq!(r.text("attributes"), ["t2m f32", "t2m f32", "value f32"]);
    assert_eq!(r.text("layouts"), ["maps", "primary", "primary"]);
    assert_eq!(r.text("version"), ["2", "0", "0"]);
    assert_eq!(r.stats.version, 0);

    let r = query(&mut c, "DESCRIBE cube").await.unwrap();
    assert_eq!(r.header.shape, vec![6]);
    assert_eq!(
        r.text("kind"),
        [
            "dimension",
            "dimension",
            "dimension",
            "attribute",
            "layout",
            "version"
        ]
    );
    assert_eq!(r.text("name"), ["time", "lat", "lon", "t2m", "maps", "2"]);
    assert_eq!(
        r.text("type"),
        ["timestamp", "double", "double", "f32", "(1, 6, 5)", ""]
    );
    assert_eq!(
        &r.text("details")[..4],
        [
            "start 2023-01-01T00:00:00Z step 1 hour length 5 growable",
            "start 72 step -0.25 length 6",
            "start -25 step 0.25 length 5",
            "fill NaN",
        ]
    );

    // DDL through Query: one row with what happened, the array and the version.
    let r = query(
        &mut c,
        "CREATE ARRAY tiny (i INT START 0 STEP 1 LENGTH 2, v REAL)",
    )
    .await
    .unwrap();
    assert_eq!(r.header.shape, vec![1]);
    assert_eq!(r.text("result"), ["created array 'tiny'"]);
    assert_eq!(r.text("array"), ["tiny"]);
    assert_eq!(r.header.columns[2].name, "version");
    assert_eq!(r.header.columns[2].dtype(), DType::U64);
    assert_eq!(r.columns[2], 0u64.to_le_bytes());
    let r = query(&mut c, "DROP ARRAY tiny").await.unwrap();
    assert_eq!(r.text("result"), ["dropped array 'tiny'"]);
    assert_eq!(r.header.columns.len(), 2, "no version: {:?}", r.header);
    let r = query(&mut c, "DROP ARRAY IF EXISTS tiny").await.unwrap();
    assert_eq!(r.text("result"), ["array 'tiny' does not exist"]);
    // EXPLAIN stays text.
    let r = query(&mut c, "EXPLAIN SELECT t2m FROM cube").await.unwrap();
    assert!(r.header.scalar && r.header.columns.is_empty());
    assert!(
        r.header.notes.iter().any(|n| n.contains("maps")),
        "{:?}",
        r.header.notes
    );

    // DropArray
    c.drop_array(DropArrayRequest {
        name: "plain".into(),
    })
    .await
    .unwrap();
    let e = c
        .drop_array(DropArrayRequest {
            name: "plain".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let l = c
        .list_arrays(ListArraysRequest {})
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = l.arrays.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, vec!["cube", "power"]);

    // gRPC reflection lists the service (for grpcurl and friends).
    {
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        use tonic_reflection::pb::v1::ServerReflectionRequest;
        let channel = tonic::transport::Channel::from_shared(d.endpoint())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut r = ServerReflectionClient::new(channel);
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut answers = r
            .server_reflection_info(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let answer = answers.message().await.unwrap().unwrap();
        match answer.message_response {
            Some(MessageResponse::ListServicesResponse(l)) => {
                assert!(
                    l.service.iter().any(|s| s.name == "arrayq.v1.ArrayQ"),
                    "{l:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    // The log has one line per query with its numbers.
    let log = d.log_text();
    assert!(log.contains("chunks_read="), "{log}");
    assert!(log.contains("bytes_sent="), "{log}");
}

async fn next_event(s: &mut tonic::Streaming<ChangeEvent>) -> ChangeEvent {
    tokio::time::timeout(Duration::from_secs(10), s.message())
        .await
        .expect("an event within 10 s")
        .expect("stream ok")
        .expect("stream open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_replays_resumes_and_never_loses_events() {
    let (_t, dir) = data_dir();
    // A tiny live buffer, so the slow subscriber below must fall back to the log.
    let d = Daemon::start(&dir, &["--event-buffer", "2"], &[]);
    let mut c = d.client().await;
    let e = c
        .subscribe(SubscribeRequest {
            array: "nope".into(),
            from_seq: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // A live-only subscriber started before anything happens.
    let mut live = c
        .subscribe(SubscribeRequest::default())
        .await
        .unwrap()
        .into_inner();

    c.create_array(CreateArrayRequest {
        definition: Some(create_array_request::Definition::Schema(cube_schema(
            "cube", NL, NO,
        ))),
    })
    .await
    .unwrap();
    write_cube(&mut c, "cube", 0, 2, NL, NO).await.unwrap();

    let ev = next_event(&mut live).await;
    assert_eq!((ev.seq, ev.kind()), (1, ChangeKind::Create));
    let ev = next_event(&mut live).await;
    assert_eq!((ev.seq, ev.kind(), ev.version), (2, ChangeKind::Write, 1));
    assert_eq!(ev.cells_written, 2 * NL * NO);
    assert_eq!(ev.region.len(), 3);
    assert_eq!(ev.region[0].dim, "time");
    assert_eq!((ev.region[0].start, ev.region[0].end), (0, 2));
    assert_eq!(ev.region[0].start_text, "2023-01-01T00:00:00Z");
    assert_eq!(ev.region[0].end_text, "2023-01-01T01:00:00Z");
    assert_eq!(ev.region[0].start_value, None);
    assert_eq!(ev.region[1].start_value, Some(72.0));
    assert_eq!(ev.region[2].end_value, Some(-25.0 + 0.25 * (NO - 1) as f64));

    // Replay from the start, filtered by array.
    let mut replay = c
        .subscribe(SubscribeRequest {
            array: "cube".into(),
            from_seq: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_event(&mut replay).await.seq, 1);
    assert_eq!(next_event(&mut replay).await.seq, 2);
    drop(replay);

    // Disconnect, miss some commits, resume from the last seen seq + 1.
    let last_seen = 2;
    drop(live);
    for k in 0..3 {
        write_cube(&mut c, "cube", 2 + k, 1, NL, NO).await.unwrap();
    }
    let mut resumed = c
        .subscribe(SubscribeRequest {
            array: String::new(),
            from_seq: last_seen + 1,
        })
        .await
        .unwrap()
        .into_inner();
    for want in 3..=5 {
        let ev = next_event(&mut resumed).await;
        assert_eq!(ev.seq, want);
        assert_eq!(ev.version, want - 1);
    }
    // ...and it goes on live without a gap.
    write_cube(&mut c, "cube", 5, 1, NL, NO).await.unwrap();
    assert_eq!(next_event(&mut resumed).await.seq, 6);

    // A subscriber that does not read while many commits happen falls behind the
    // live buffer (2 events) and must still see every event exactly once.
    let mut slow = c
        .subscribe(SubscribeRequest {
            array: "cube".into(),
            from_seq: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let n = 120u64;
    for k in 0..n {
        write_cube(&mut c, "cube", 6 + k, 1, NL, NO).await.unwrap();
    }
    c.drop_array(DropArrayRequest {
        name: "cube".into(),
    })
    .await
    .unwrap();
    for k in 0..n {
        let ev = next_event(&mut slow).await;
        assert_eq!(ev.seq, 7 + k, "event {k}");
        assert_eq!(ev.kind(), ChangeKind::Write);
    }
    let ev = next_event(&mut slow).await;
    assert_eq!((ev.seq, ev.kind()), (7 + n, ChangeKind::Drop));
    assert_eq!(
        next_event(&mut resumed).await.seq,
        7,
        "the other subscriber continues too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_loads_the_era5_cube() {
    let (_t, dir) = data_dir();
    let d = Daemon::start(&dir, &["--demo", "--demo-scale", "xs"], &[]);
    let mut c = d.client().await;
    let l = c
        .list_arrays(ListArraysRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(l.arrays.len(), 1);
    let a = &l.arrays[0];
    assert_eq!(a.name, "era5");
    let n = era5::n_time(Scale::XS) as u64;
    assert_eq!(a.shape, vec![n, 153, 281]);
    let dsc = c
        .describe_array(DescribeArrayRequest {
            name: "era5".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let layouts: Vec<_> = dsc.layouts.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(layouts, vec!["maps", "pencils"]);
    assert_eq!(
        dsc.schema.unwrap().layouts[0].chunk_shape,
        vec![1, 153, 281]
    );

    // Q1 over gRPC equals the generator.
    let r = query(
        &mut c,
        "SELECT t2m FROM era5 WHERE lat = 52.0 AND lon = 5.0",
    )
    .await
    .unwrap();
    let (i, j) = (80, 120); // lat 52.0, lon 5.0
    let want: Vec<f32> = (0..n).map(|h| era5::value(h, i, j)).collect();
    assert_eq!(f32_values(&r.columns[0]), want);
    assert_eq!(r.stats.layout, "pencils");
    drop(c);

    // A restart with --demo on a non-empty store loads nothing more.
    let mut d = d;
    d.signal("TERM");
    assert!(d.wait_exit(Duration::from_secs(30)).unwrap().success());
    let d2 = Daemon::start(&dir, &["--demo", "--demo-scale", "xs"], &[]);
    let mut c = d2.client().await;
    let dsc = c
        .describe_array(DescribeArrayRequest {
            name: "era5".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dsc.head_version, dsc.commits.last().unwrap().version);
    assert!(d2.log_text().contains("not empty"), "{}", d2.log_text());
}
