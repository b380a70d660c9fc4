//! Graceful shutdown of the real `arrayqd` on SIGTERM / SIGINT: running calls finish
//! within the grace period (then are cancelled), subscriptions end with
//! UNAVAILABLE, the process exits 0, and every committed write is there after a
//! restart.

mod common;

use std::time::{Duration, Instant};

use arrayq_proto::v1::*;
use common::*;
use tonic::Code;

const NL: u64 = 153;
const NO: u64 = 281;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_exits_zero_and_keeps_data() {
    let (_t, dir) = data_dir();
    let mut d = Daemon::start(&dir, &["--block-bytes", "65536"], &[]);
    let mut c = d.client().await;
    c.create_array(CreateArrayRequest {
        definition: Some(create_array_request::Definition::Schema(cube_schema(
            "cube", NL, NO,
        ))),
    })
    .await
    .unwrap();
    let mut versions = Vec::new();
    for t0 in (0..60).step_by(20) {
        let header = WriteHeader {
            array: "cube".into(),
            attributes: vec!["t2m".into()],
            region: vec![
                IndexRange::new(t0, 20),
                IndexRange::new(0, NL),
                IndexRange::new(0, NO),
            ],
            ..Default::default()
        };
        let data = f32_bytes(&cube_values(t0, 20, NL, NO));
        versions.push(
            write_full_blocks(&mut c, header, vec![data])
                .await
                .unwrap()
                .version,
        );
    }
    assert_eq!(versions, vec![1, 2, 3]);

    // A subscription and a query in flight when the signal comes.
    let mut events = c
        .subscribe(SubscribeRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut running = c
        .query(QueryRequest {
            sql: "SELECT t2m FROM cube".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    running.message().await.unwrap().unwrap();

    d.signal("TERM");
    // The subscription ends promptly, telling the client why.
    let e = tokio::time::timeout(Duration::from_secs(5), events.message())
        .await
        .expect("subscription ended")
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    // The running query may finish within the grace period: every value arrives,
    // in order, as written.
    let mut data = Vec::new();
    let mut footer = false;
    while let Some(m) = running.message().await.unwrap() {
        match m.msg {
            Some(query_response::Msg::Data(b)) => {
                assert_eq!(b.element_offset as usize * 4, data.len(), "blocks in order");
                data.extend_from_slice(&b.data);
            }
            Some(query_response::Msg::Footer(_)) => footer = true,
            _ => {}
        }
    }
    assert!(footer, "query cut short after {} bytes", data.len());
    assert!(
        data == f32_bytes(&cube_values(0, 60, NL, NO)),
        "query result differs from the written cube ({} bytes)",
        data.len()
    );
    drop(c);
    drop(running);

    let status = d
        .wait_exit(Duration::from_secs(30))
        .expect("arrayqd exited");
    assert_eq!(status.code(), Some(0), "log:\n{}", d.log_text());
    let log = d.log_text();
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("store flushed"), "{log}");

    // Restart on the same directory: everything committed is there.
    let d2 = Daemon::start(&dir, &[], &[]);
    let mut c = d2.client().await;
    let r = query(&mut c, "SELECT t2m FROM cube").await.unwrap();
    assert_eq!(r.header.shape, vec![60, NL, NO]);
    assert_eq!(f32_values(&r.columns[0]), cube_values(0, 60, NL, NO));
    let dsc = c
        .describe_array(DescribeArrayRequest {
            name: "cube".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dsc.head_version, 3);
    // The change log survived too: replay it.
    let mut replay = c
        .subscribe(SubscribeRequest {
            array: String::new(),
            from_seq: 1,
        })
        .await
        .unwrap()
        .into_inner();
    for seq in 1..=4 {
        let ev = tokio::time::timeout(Duration::from_secs(5), replay.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(ev.seq, seq);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_still_running_after_the_grace_period_are_cancelled() {
    let (_t, dir) = data_dir();
    let mut d = Daemon::start(&dir, &["--block-bytes", "65536", "--grace-secs", "1"], &[]);
    let mut c = d.client().await;
    c.create_array(CreateArrayRequest {
        definition: Some(create_array_request::Definition::Schema(cube_schema(
            "cube", NL, NO,
        ))),
    })
    .await
    .unwrap();
    write_cube(&mut c, "cube", 0, 100, NL, NO).await.unwrap();

    // A stalled client keeps its query running past the grace period.
    let mut stalled = c
        .query(QueryRequest {
            sql: "SELECT t2m FROM cube".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    stalled.message().await.unwrap().unwrap();
    let t = Instant::now();
    d.signal("INT");
    let status = tokio::task::spawn_blocking(move || {
        let s = d.wait_exit(Duration::from_secs(30));
        (s, d)
    })
    .await
    .unwrap();
    let (status, d) = status;
    let status = status.expect("arrayqd exited");
    assert_eq!(status.code(), Some(0), "log:\n{}", d.log_text());
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "shutdown took {:?}",
        t.elapsed()
    );
    assert!(
        d.log_text().contains("grace period over"),
        "{}",
        d.log_text()
    );
    // The stalled client sees its stream end with an error, not a complete result.
    let mut complete = false;
    while let Ok(Some(m)) = stalled.message().await {
        if matches!(m.msg, Some(query_response::Msg::Footer(_))) {
            complete = true;
        }
    }
    assert!(!complete, "the stalled query completed after shutdown");
}
