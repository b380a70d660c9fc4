//! Runs the generated client against the mock server (examples/mock_server.rs)
//! over a real loopback HTTP/2 connection: checks that the block size limit
//! fits default gRPC message limits in both directions, that the streaming
//! helpers interoperate, and that error positions survive the wire.

#[allow(dead_code)]
#[path = "../examples/mock_server.rs"]
mod mock;

use std::time::Duration;

use arrayq_proto::v1::array_q_client::ArrayQClient;
use arrayq_proto::v1::dimension::Coordinate;
use arrayq_proto::v1::*;
use arrayq_proto::{error_position, write_requests, ResultCollector, MAX_BLOCK_BYTES};
use tonic::transport::Channel;
use tonic::Code;

async fn start() -> ArrayQClient<Channel> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(mock::service())
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    ArrayQClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

fn schema() -> ArraySchema {
    ArraySchema {
        name: "weather".into(),
        dimensions: vec![
            Dimension {
                name: "time".into(),
                coordinate: Some(Coordinate::Time(TimeCoordinate {
                    start_unix_ns: 1_714_521_600_000_000_000, // 2024-05-01T00:00:00Z
                    step_ns: 60_000_000_000,
                })),
                length: 0,
                growable: true,
            },
            Dimension {
                name: "station".into(),
                coordinate: Some(Coordinate::Labels(LabelCoordinate { labels: vec![] })),
                length: 0,
                growable: true,
            },
        ],
        attributes: vec![
            Attribute {
                name: "temp".into(),
                dtype: DType::F32 as i32,
                fill: None,
            },
            Attribute {
                name: "count".into(),
                dtype: DType::U64 as i32,
                fill: Some(attribute::Fill::FillUint(0)),
            },
        ],
        layouts: vec![],
    }
}

async fn query(client: &mut ArrayQClient<Channel>, sql: &str) -> arrayq_proto::QueryResult {
    let mut stream = client
        .query(QueryRequest {
            sql: sql.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut c = ResultCollector::new();
    while let Some(msg) = stream.message().await.unwrap() {
        c.push(msg).unwrap();
    }
    c.finish().unwrap()
}

#[tokio::test]
async fn loopback_roundtrip() {
    let mut client = start().await;

    let h = client.health(HealthRequest {}).await.unwrap().into_inner();
    assert_eq!(h.status(), ServingStatus::Serving);

    let created = client
        .create_array(CreateArrayRequest {
            definition: Some(create_array_request::Definition::Schema(schema())),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.version, 0);
    assert_eq!(created.schema.unwrap().layouts.len(), 1);
    let dup = client
        .create_array(CreateArrayRequest {
            definition: Some(create_array_request::Definition::Schema(schema())),
        })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);

    let mut events = client
        .subscribe(SubscribeRequest {
            array: "weather".into(),
            from_seq: 0,
        })
        .await
        .unwrap()
        .into_inner();

    // Empty array: header + footer, no blocks.
    let empty = query(&mut client, "SELECT * FROM weather").await;
    assert_eq!(empty.header.shape, vec![0, 0]);
    assert!(empty.columns.iter().all(|c| c.is_empty()));

    // ~4.8 MB of f32 + ~9.6 MB of u64: several blocks each way.
    let (nt, ns) = (400_000u64, 3u64);
    let n = (nt * ns) as usize;
    let temp: Vec<u8> = (0..n)
        .flat_map(|i| (i as f32 * 0.5).to_le_bytes())
        .collect();
    let count: Vec<u8> = (0..n as u64).flat_map(|i| i.to_le_bytes()).collect();
    assert!(count.len() > 2 * MAX_BLOCK_BYTES);
    let header = WriteHeader {
        array: "weather".into(),
        attributes: vec!["temp".into(), "count".into()],
        region: vec![IndexRange::new(0, nt), IndexRange::new(0, ns)],
        labels: vec![LabelAppend {
            dim: "station".into(),
            labels: vec![101, 102, 103],
        }],
        expect_version: Some(0),
    };
    let w = client
        .write(tokio_stream::iter(write_requests(
            header.clone(),
            vec![temp.clone(), count.clone()],
        )))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(w.version, 1);
    assert_eq!(w.cells_written, nt * ns);

    let ev = tokio::time::timeout(Duration::from_secs(10), events.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(ev.kind(), ChangeKind::Write);
    assert_eq!(ev.version, 1);
    assert_eq!(ev.region[0].start_text, "2024-05-01T00:00:00Z");
    assert_eq!(ev.region[0].start_value, None);
    assert_eq!(ev.region[1].end, 3);
    assert_eq!(ev.region[1].end_text, "103");
    assert_eq!(ev.region[1].end_value, Some(103.0));

    let r = query(&mut client, "SELECT * FROM weather").await;
    assert_eq!(r.header.shape, vec![nt, ns]);
    assert_eq!(
        r.header.dimensions[0],
        ResultDimension::with_time("time", 1_714_521_600_000_000_000, 60_000_000_000)
    );
    assert_eq!(
        r.header.dimensions[1],
        ResultDimension::with_labels("station", vec![101, 102, 103])
    );
    assert_eq!(r.columns[0], temp);
    assert_eq!(r.columns[1], count);
    assert_eq!(r.stats.version, 1);

    // Stale expect_version: FAILED_PRECONDITION.
    let stale = client
        .write(tokio_stream::iter(write_requests(
            WriteHeader {
                labels: vec![],
                ..header.clone()
            },
            vec![temp.clone(), count.clone()],
        )))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::FailedPrecondition);

    // Too few bytes: INVALID_ARGUMENT, nothing committed.
    let short = client
        .write(tokio_stream::iter(write_requests(
            WriteHeader {
                labels: vec![],
                expect_version: None,
                ..header
            },
            vec![temp[..8].to_vec(), count],
        )))
        .await
        .unwrap_err();
    assert_eq!(short.code(), Code::InvalidArgument);

    // Positioned SQL error, position carried in trailers.
    let err = client
        .query(QueryRequest {
            sql: "SELECT error FROM weather".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(error_position(&err), Some((1, 8)));
    assert!(err.metadata().get("arrayq-error-position").is_some());

    let d = client
        .describe_array(DescribeArrayRequest {
            name: "weather".into(),
            max_commits: 0,
            omit_labels: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(d.head_version, 1);
    assert_eq!(d.commits.len(), 2);
    let station = &d.schema.unwrap().dimensions[1];
    assert_eq!(station.length, 3);
    assert_eq!(
        station.coordinate,
        Some(Coordinate::Labels(LabelCoordinate { labels: vec![] }))
    );

    let nf = client
        .drop_array(DropArrayRequest {
            name: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(nf.code(), Code::NotFound);
}
