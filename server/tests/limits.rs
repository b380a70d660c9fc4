//! Backpressure, cancellation, deadlines and limits of the real `arrayqd`: a client
//! that stops reading holds the query back, a client that cancels stops the
//! server-side chunk reads, deadlines end queries with DEADLINE_EXCEEDED, excess
//! queries wait for a slot and then get RESOURCE_EXHAUSTED.

mod common;

use std::time::{Duration, Instant};

use arrayq_proto::v1::array_q_client::ArrayQClient;
use arrayq_proto::v1::*;
use common::*;
use tonic::transport::Channel;
use tonic::{Code, Request};

/// Big enough that a result cannot hide in the transport's buffers: 200 maps of
/// 153 x 281 f32 (34 MB), one chunk per map.
const NT: u64 = 200;
const NL: u64 = 153;
const NO: u64 = 281;

async fn big_cube(d: &Daemon) -> ArrayQClient<Channel> {
    let mut c = d.client().await;
    c.create_array(CreateArrayRequest {
        definition: Some(create_array_request::Definition::Schema(cube_schema(
            "big", NL, NO,
        ))),
    })
    .await
    .unwrap();
    for t0 in (0..NT).step_by(50) {
        write_cube(&mut c, "big", t0, 50, NL, NO).await.unwrap();
    }
    c
}

async fn chunks_read(c: &mut ArrayQClient<Channel>) -> u64 {
    metric(c, "arrayq-chunks-read", None).await
}

async fn idle(c: &mut ArrayQClient<Channel>) -> bool {
    metric(c, "arrayq-blocking-tasks", None).await == 0
        && metric(c, "arrayq-calls-running", None).await == 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_client_backpressure_and_cancel_stop_chunk_reads() {
    let (_t, dir) = data_dir();
    // Small blocks: many messages per map.
    let d = Daemon::start(&dir, &["--block-bytes", "65536"], &[]);
    let mut c = big_cube(&d).await;
    let mut m = c.clone();
    let before = chunks_read(&mut m).await;

    let mut stream = c
        .query(QueryRequest {
            sql: "SELECT t2m FROM big".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // The header and the first block arrive while most of the result is not computed.
    let first = stream.message().await.unwrap().unwrap();
    assert!(matches!(first.msg, Some(query_response::Msg::Header(_))));
    let second = stream.message().await.unwrap().unwrap();
    assert!(matches!(second.msg, Some(query_response::Msg::Data(_))));

    // Not reading: the server fills the bounded buffers and then waits.
    let mut prev = chunks_read(&mut m).await;
    let until = Instant::now() + Duration::from_secs(20);
    let b = loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = chunks_read(&mut m).await;
        if now == prev {
            break now;
        }
        assert!(
            Instant::now() < until,
            "chunk reads never settled while the client did not read"
        );
        prev = now;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        chunks_read(&mut m).await,
        b,
        "chunk reads go on while the client does not read"
    );
    assert!(
        b - before < NT,
        "the whole result was computed ahead of a stalled client ({} of {NT} chunks)",
        b - before
    );

    // Cancel: drop the call. The worker must end and chunk reads stop for good.
    drop(stream);
    assert!(
        eventually(Duration::from_secs(5), || {
            let mut m = m.clone();
            async move { idle(&mut m).await }
        })
        .await,
        "the query worker did not stop after the client cancelled"
    );
    let after_cancel = chunks_read(&mut m).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(chunks_read(&mut m).await, after_cancel);
    eprintln!(
        "stalled at {} chunks, stopped at {} of {NT} after cancel",
        b - before,
        after_cancel - before
    );
    assert!(after_cancel - before < NT);
    assert!(d.log_text().contains("cancelled"), "{}", d.log_text());

    // A full read of the same query still works and reads every chunk.
    let r = query(&mut c, "SELECT t2m FROM big").await.unwrap();
    assert_eq!(r.header.shape, vec![NT, NL, NO]);
    assert_eq!(r.stats.chunks_read, NT);
    assert_eq!(f32_values(&r.columns[0]), cube_values(0, NT, NL, NO));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_end_queries() {
    let (_t, dir) = data_dir();
    let d = Daemon::start(&dir, &["--block-bytes", "65536"], &[]);
    let mut c = big_cube(&d).await;
    let m = c.clone();

    // grpc-timeout: the client stalls past its deadline.
    let mut req = Request::new(QueryRequest {
        sql: "SELECT t2m FROM big".into(),
        ..Default::default()
    });
    req.set_timeout(Duration::from_millis(400));
    let started = Instant::now();
    let mut stream = c.query(req).await.unwrap().into_inner();
    stream.message().await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let err = loop {
        match stream.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("stream completed despite the deadline"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        eventually(Duration::from_secs(5), || {
            let mut m = m.clone();
            async move { idle(&mut m).await }
        })
        .await,
        "server-side work did not stop at the deadline"
    );

    // timeout_ms: the server's own limit, reported by the server.
    let mut stream = c
        .query(QueryRequest {
            sql: "SELECT t2m FROM big".into(),
            timeout_ms: 300,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let err = loop {
        match stream.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("stream completed despite timeout_ms"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");

    // A deadline long enough changes nothing.
    let r = query_req(
        &mut c,
        QueryRequest {
            sql: "SELECT t2m FROM big WHERE time = '2023-01-01T05:00:00Z'".into(),
            timeout_ms: 60_000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(r.header.shape, vec![NL, NO]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_result_and_message_limits() {
    let (_t, dir) = data_dir();
    let d = Daemon::start(
        &dir,
        &[
            "--max-concurrent-queries",
            "1",
            "--queue-timeout-ms",
            "1000",
            "--block-bytes",
            "65536",
            "--max-message-bytes",
            "1048576",
            "--max-result-bytes",
            "20000000",
        ],
        &[],
    );
    let mut c = big_cube(&d).await;

    // One query holds the only slot (its client does not read)...
    let window = "SELECT t2m FROM big WHERE time < '2023-01-04T00:00:00Z'";
    let mut first = c
        .query(QueryRequest {
            sql: window.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    first.message().await.unwrap().unwrap();
    // ...so the next waits for the queue timeout and is turned away.
    let t = Instant::now();
    let e = query(&mut c, window).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    assert!(
        t.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t.elapsed()
    );
    let e = c
        .explain(ExplainRequest {
            sql: window.into(),
            analyze: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted);
    // The query and the EXPLAIN turned away above, nothing else.
    assert_eq!(metric(&mut c, "arrayq-queries-rejected", None).await, 2);

    // A waiting query gets the slot as soon as the first one ends (cancelled here).
    let mut c2 = c.clone();
    let waiting = tokio::spawn(async move { query(&mut c2, window).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(first);
    let r = waiting.await.unwrap().unwrap();
    assert_eq!(r.header.shape, vec![72, NL, NO]);

    // Result size limits: the server's and the request's.
    let e = query(&mut c, "SELECT t2m FROM big").await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
    let e = query_req(
        &mut c,
        QueryRequest {
            sql: window.into(),
            max_result_bytes: 1000,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");

    // Message size: a 2 MB write block exceeds the 1 MB limit.
    let header = WriteHeader {
        array: "big".into(),
        attributes: vec!["t2m".into()],
        region: vec![
            IndexRange::new(0, 20),
            IndexRange::new(0, NL),
            IndexRange::new(0, NO),
        ],
        ..Default::default()
    };
    let data = f32_bytes(&cube_values(0, 20, NL, NO));
    let msgs = vec![
        WriteRequest::header(header),
        WriteRequest::data(0, 0, data[..2 << 20].to_vec()),
        WriteRequest::data(0, 2 << 20, data[2 << 20..].to_vec()),
    ];
    let e = c.write(tokio_stream::iter(msgs)).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
}
