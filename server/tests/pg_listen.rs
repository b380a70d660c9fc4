//! LISTEN/NOTIFY of the Postgres door with tokio-postgres: a commit to an array
//! reaches every session listening on its name, as JSON; a session resumes from a
//! sequence number and gets every later event exactly once; UNLISTEN stops it.

mod common;
mod pg;

use std::time::Duration;

use arrayq_proto::v1::{IndexRange, WriteHeader};
use pg::{start, time_s};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_postgres::Notification;

async fn next(rx: &mut UnboundedReceiver<Notification>) -> (String, Value) {
    let n = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a notification in time")
        .expect("connection open");
    (
        n.channel().to_string(),
        serde_json::from_str(n.payload()).unwrap(),
    )
}

async fn nothing(rx: &mut UnboundedReceiver<Notification>) {
    let r = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
    assert!(r.is_err(), "unexpected notification {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_notifies_commits_and_resumes_from_a_sequence_number() {
    let pg = start(&[]);
    let (listener, mut notes) = pg.connect(None).await.unwrap();
    // Before the array exists.
    listener.batch_execute("LISTEN meter").await.unwrap();
    let pg = pg.with_meter().await;

    let (channel, created) = next(&mut notes).await;
    assert_eq!(channel, "meter");
    assert_eq!(
        (created["array"].as_str(), created["kind"].as_str()),
        (Some("meter"), Some("create"))
    );
    assert_eq!(created["version"], 0);
    let (_, written) = next(&mut notes).await;
    assert_eq!(written["kind"], "write");
    assert_eq!(written["version"], 1);
    assert_eq!(written["cells"], 3 * pg::NT as u64);
    assert_eq!(
        written["seq"].as_u64(),
        created["seq"].as_u64().map(|s| s + 1)
    );
    let iso = |t: usize| {
        chrono::DateTime::from_timestamp(time_s(t), 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    assert_eq!(
        written["time_range"],
        serde_json::json!([iso(0), iso(pg::NT - 1)])
    );
    // Three assets in the extent: which ones between the first and last is not in
    // the event, so no list.
    assert!(written.get("assets").is_none(), "{written}");

    // One asset, two quarter-hours.
    let mut c = pg.daemon.client().await;
    let header = WriteHeader {
        array: "meter".into(),
        attributes: vec!["value".into(), "n".into()],
        region: vec![IndexRange::new(1, 1), IndexRange::new(2, 2)],
        ..Default::default()
    };
    let data = vec![
        [1f32, 2f32].iter().flat_map(|v| v.to_le_bytes()).collect(),
        [1i64, 2i64].iter().flat_map(|v| v.to_le_bytes()).collect(),
    ];
    common::write(&mut c, header, data).await.unwrap();
    let (_, one) = next(&mut notes).await;
    assert_eq!(one["assets"], serde_json::json!([5]));
    assert_eq!(one["time_range"], serde_json::json!([iso(2), iso(3)]));
    assert_eq!(one["cells"], 2);
    nothing(&mut notes).await;

    // A reconnecting client resumes after the creation: the two writes, once each,
    // then live events.
    let (again, mut resumed) = pg.connect(None).await.unwrap();
    let after = created["seq"].as_u64().unwrap();
    again
        .batch_execute(&format!("LISTEN \"meter@{after}\""))
        .await
        .unwrap();
    assert_eq!(next(&mut resumed).await.1, written);
    assert_eq!(next(&mut resumed).await.1, one);
    nothing(&mut resumed).await;
    again.batch_execute("DROP ARRAY meter").await.unwrap();
    let (_, dropped) = next(&mut resumed).await;
    assert_eq!(dropped["kind"], "drop");
    assert_eq!(next(&mut notes).await.1, dropped);

    // UNLISTEN * and UNLISTEN name stop the feeds.
    listener.batch_execute("UNLISTEN *").await.unwrap();
    again.batch_execute("UNLISTEN meter").await.unwrap();
    again.batch_execute(pg::CREATE_METER).await.unwrap();
    nothing(&mut notes).await;
    nothing(&mut resumed).await;
}
