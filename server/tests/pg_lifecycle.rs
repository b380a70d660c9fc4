//! The Postgres door's session lifecycle with real clients: psql's Ctrl-C (SIGINT to
//! the psql process, which sends a CancelRequest) ends a running query with 57014;
//! a server shutdown closes idle sessions with 57P01 and the server exits promptly.

mod common;
mod pg;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;

const BIG: &str = "CREATE ARRAY big (x DOUBLE START 0 STEP 1 LENGTH 100000000, v REAL FILL 1)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_ctrl_c_cancels_the_running_query() {
    let pg = pg::start(&[]);
    assert!(pg.psql(BIG).status.success());
    let child = Command::new("psql")
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose"])
        .args(["-h", "127.0.0.1", "-U", "tester", "-d", "arrayq"])
        .args(["-p", &pg.port.to_string()])
        .args(["-c", "SELECT v * 2 FROM big WHERE x < 50000000"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let started = Instant::now();
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("57014"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_sessions() {
    let mut pg = pg::start(&[]);
    let (client, _) = pg.connect(None).await.unwrap();
    assert_eq!(client.query("SELECT 1", &[]).await.unwrap().len(), 1);
    pg.daemon.signal("TERM");
    let exited = tokio::task::spawn_blocking(move || {
        let status = pg.daemon.wait_exit(Duration::from_secs(8));
        (status, pg)
    })
    .await
    .unwrap();
    assert!(exited.0.is_some_and(|s| s.success()), "{:?}", exited.0);
    let e = client.query("SELECT 1", &[]).await.unwrap_err();
    // Either the FATAL 57P01 was read, or the closed socket is what the client saw.
    assert!(
        e.code() == Some(&SqlState::ADMIN_SHUTDOWN) || e.is_closed(),
        "{e:?}"
    );
}
