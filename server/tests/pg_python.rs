//! psycopg2 and psycopg 3 (Python clients nobody here wrote) against the Postgres
//! door: rows equal expectations computed in Python from the formula, LISTEN,
//! COPY in. The script is server/tests/python/pg_clients.py, run in the tests' venv.

mod common;
mod pg;

use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg2_and_psycopg3() {
    let pg = pg::start(&[]).with_meter().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/pg_clients.py");
    let python = arrayq_tests::python();
    let port = pg.port.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python).arg(script).arg(port).output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}
