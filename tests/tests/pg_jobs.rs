//! Ingest jobs run by the server (`CREATE INGEST ... FROM POSTGRES`) against a real
//! PostgreSQL: a following job pulls on NOTIFY, can be paused and resumed, survives
//! a graceful restart and a SIGKILL of arrayqd (kept in the store, resumed from its
//! watermark), and is gone after DROP INGEST; a one-shot job loads once.

use std::process::Command;
use std::time::{Duration, Instant};

use arrayq_tests::{arrayq_command, PgCluster, TestServer};
use serde_json::{json, Value};

/// 2023-01-01T00:00:00Z
const T0: i64 = 1_672_531_200;

fn arrayq(addr: &str, sql: &str) -> Result<Value, String> {
    let o = arrayq_command(addr)
        .args(["-c", sql, "--format", "json"])
        .output()
        .unwrap();
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&o.stdout).unwrap())
}

fn ok(addr: &str, sql: &str) -> Value {
    arrayq(addr, sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The row of job `name` in SHOW INGESTS, as field -> value.
fn job(addr: &str, name: &str) -> Option<serde_json::Map<String, Value>> {
    let v = ok(addr, "SHOW INGESTS");
    let names = v["values"]["name"].as_array()?.clone();
    let i = names.iter().position(|n| n == name)?;
    let fields = [
        "name",
        "array",
        "channel",
        "state",
        "pulls",
        "rows",
        "watermark",
        "error",
    ];
    Some(
        fields
            .iter()
            .map(|f| (f.to_string(), v["values"][*f][i].clone()))
            .collect(),
    )
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn insert(pg: &PgCluster, a: i64, qs: std::ops::Range<i64>) {
    let rows: Vec<String> = qs
        .map(|q| format!("({a}, to_timestamp({}), 1, {})", T0 + q * 900, a * 100 + q))
        .collect();
    pg.psql(&format!(
        "INSERT INTO src (asset_id, ts, version, value) VALUES {}; NOTIFY power_feed",
        rows.join(", ")
    ))
    .unwrap();
}

fn count(addr: &str) -> Value {
    ok(addr, "SELECT count(value) AS n FROM power")["values"]["n"][0].clone()
}

#[test]
fn a_following_job_pauses_resumes_and_survives_restarts_until_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgCluster::start().unwrap_or_else(|e| panic!("{e}"));
    pg.psql(
        "CREATE TABLE src (id bigserial PRIMARY KEY, asset_id bigint, ts timestamptz, \
         version int, value double precision)",
    )
    .unwrap();
    insert(&pg, 1, 0..4);
    let data = dir.path().join("data");
    let server = TestServer::builder(&data).start().unwrap();
    let addr = server.addr().to_string();
    let created = ok(
        &addr,
        &format!(
            "CREATE INGEST feed FROM POSTGRES '{}' \
             QUERY 'SELECT id, asset_id, ts, version, value FROM src' INTO power \
             WITH (channel = 'power_feed', watermark = 'id')",
            pg.url()
        ),
    );
    assert_eq!(created["values"]["result"], json!(["CREATE INGEST"]));
    // The rows already there are pulled at start; new ones on NOTIFY.
    wait_until("the first rows", || {
        job(&addr, "feed").unwrap()["watermark"] == "4"
    });
    insert(&pg, 2, 0..4);
    wait_until("the notified rows", || {
        job(&addr, "feed").unwrap()["watermark"] == "8"
    });
    assert_eq!(count(&addr), json!(8));
    let j = job(&addr, "feed").unwrap();
    assert_eq!(
        (j["array"].clone(), j["channel"].clone()),
        (json!("power"), json!("power_feed"))
    );

    // Paused: notifications are not acted on; the state says so.
    ok(&addr, "ALTER INGEST feed PAUSE");
    wait_until("paused", || {
        job(&addr, "feed").unwrap()["state"] == "paused"
    });
    insert(&pg, 3, 0..4);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&addr), json!(8));

    // A graceful restart keeps the job, still paused.
    drop(server);
    let server = TestServer::builder(&data).start().unwrap();
    let addr = server.addr().to_string();
    wait_until("the job back, paused", || {
        job(&addr, "feed").is_some_and(|j| j["state"] == "paused")
    });
    ok(&addr, "ALTER INGEST feed RESUME");
    wait_until("catching up", || {
        job(&addr, "feed").unwrap()["watermark"] == "12"
    });
    assert_eq!(count(&addr), json!(12));

    // SIGKILL: the job comes back with the server and resumes from its watermark.
    let mut server = server;
    server.kill();
    insert(&pg, 4, 0..4);
    let server = TestServer::builder(&data).start().unwrap();
    let addr = server.addr().to_string();
    wait_until("after the kill", || {
        job(&addr, "feed").is_some_and(|j| j["watermark"] == "16")
    });
    assert_eq!(count(&addr), json!(16));

    // Errors name what was wrong.
    let e = arrayq(&addr, "ALTER INGEST nope PAUSE").unwrap_err();
    assert!(e.contains("no ingest named 'nope'"), "{e}");
    let e = arrayq(&addr, "ALTER INGEST feed STOP").unwrap_err();
    assert!(
        e.contains("expected PAUSE or RESUME, found 'STOP' at line 1, column 19"),
        "{e}"
    );

    ok(&addr, "DROP INGEST feed");
    assert!(job(&addr, "feed").is_none());
    drop(server);
    let server = TestServer::builder(&data).start().unwrap();
    let addr = server.addr().to_string();
    assert!(job(&addr, "feed").is_none(), "dropped for good");
}

#[test]
fn a_one_shot_job_loads_once_and_not_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgCluster::start().unwrap_or_else(|e| panic!("{e}"));
    pg.psql(
        "CREATE TABLE src (id bigserial, asset_id bigint, ts timestamptz, version int, \
         value double precision)",
    )
    .unwrap();
    insert(&pg, 1, 0..4);
    let data = dir.path().join("data");
    let server = TestServer::builder(&data)
        .args(["--pg", "127.0.0.1:0"])
        .start()
        .unwrap();
    let addr = server.addr().to_string();
    ok(
        &addr,
        &format!(
            "CREATE INGEST once FROM POSTGRES '{}' QUERY 'SELECT asset_id, ts, version, value FROM src' INTO power",
            pg.url()
        ),
    );
    wait_until("loaded", || job(&addr, "once").unwrap()["state"] == "done");
    assert_eq!(count(&addr), json!(4));
    // The Postgres door answers the job statements too (psql, the real client).
    let door = server.pg_addr().expect("the door is on");
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-F", "|", "-h"])
        .arg(door.ip().to_string())
        .args([
            "-p",
            &door.port().to_string(),
            "-U",
            "me",
            "-d",
            "arrayq",
            "-c",
            "SHOW INGESTS",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "once|power||done|1|4|done|"
    );
    let versions = ok(&addr, "DESCRIBE power");
    drop(server);
    let server = TestServer::builder(&data).start().unwrap();
    let addr = server.addr().to_string();
    wait_until("done again", || {
        job(&addr, "once").unwrap()["state"] == "done"
    });
    assert_eq!(ok(&addr, "DESCRIBE power"), versions, "no second load");
}
