//! Calls cut off by a server crash (SIGKILL mid-call) fail with UNAVAILABLE, the
//! code a client retries on, never UNKNOWN: a unary answer that never came (a
//! Write stream still open) and a stream broken mid-way (Subscribe).

use std::time::Duration;

use arrayq_client::proto::{write_request, IndexRange, WriteHeader, WriteRequest};
use arrayq_client::{Client, Code};
use arrayq_tests::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_broken_by_a_server_crash_are_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::builder(dir.path().join("data"))
        .clean_env()
        .start()
        .unwrap_or_else(|e| panic!("{e}"));
    let client = Client::connect(server.url()).await.unwrap();
    client
        .create_array_sql("CREATE ARRAY a (x DOUBLE START 0 STEP 1 LENGTH 4, v BIGINT)")
        .await
        .unwrap();

    // A Write whose stream stays open: the server waits for its data.
    let (tx, rx) = tokio::sync::mpsc::channel::<WriteRequest>(1);
    tx.send(WriteRequest {
        msg: Some(write_request::Msg::Header(WriteHeader {
            array: "a".into(),
            attributes: vec!["v".into()],
            region: vec![IndexRange::new(0, 4)],
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let writer = client.clone();
    let write = tokio::spawn(async move {
        writer
            .write_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    // A follower that has received the creation event.
    let mut feed = client.subscribe("", 1).await.unwrap();
    assert_eq!(feed.next().await.unwrap().unwrap().version, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let status = server.sigkill().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );

    let e = write.await.unwrap().unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e}");
    let e = feed.next().await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e}");
    drop(tx);
}
