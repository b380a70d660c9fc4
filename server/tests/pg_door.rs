//! The Postgres door with real clients nobody here wrote: `psql` and
//! tokio-postgres against a real `arrayqd --pg`, values checked against the formula
//! `meter` was written from (tests/pg/mod.rs), never against arrayq's own output.

mod common;
mod pg;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pg::{count, pg_time_text, start, time_s, value, LABELS, NT};
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, SimpleQueryMessage};

/// Every `(asset, time, value, n)` row of `meter` as psql prints it.
fn expected_csv() -> Vec<String> {
    let mut out = Vec::new();
    for &l in &LABELS {
        for t in 0..NT {
            out.push(format!(
                "{l},{},{},{}",
                pg_time_text(time_s(t)),
                value(l, t),
                count(l, t)
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_rows_catalog_and_sqlstates() {
    let pg = start(&[]).with_meter().await;
    let out = pg.psql("SELECT value, n FROM meter");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines, expected_csv());

    // A scalar: one row, no dimension columns.
    let out = pg.psql("SELECT max(n) FROM meter");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        count(8, NT - 1).to_string()
    );

    let out = pg.psql("SHOW ARRAYS");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.starts_with("meter,")), "{text}");

    let out = pg.psql("EXPLAIN SELECT value FROM meter");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Scan: meter"));

    for (sql, code) in [
        ("SELEC value FROM meter", "42601"),
        ("SELECT value FROM nowhere", "42P01"),
        ("SELECT nothing FROM meter", "42703"),
        ("SHOW no_such_setting", "42704"),
    ] {
        let out = pg.psql(sql);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{sql} succeeded");
        assert!(err.contains(&format!("ERROR:  {code}:")), "{sql}: {err}");
    }
    // The syntax error's position reaches psql (the caret under the bad word).
    let err = String::from_utf8_lossy(&pg.psql("SELECT value FROM meter WHERE").stderr).to_string();
    assert!(err.contains("LINE 1:") && err.contains('^'), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_typed_values_simple_and_extended() {
    let pg = start(&[]).with_meter().await;
    let (client, _) = pg.connect(None).await.unwrap();

    // Extended protocol: tokio-postgres prepares (Describe) and reads binary values.
    let rows = client
        .query("SELECT value, n FROM meter WHERE asset = 5", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), NT);
    for (t, row) in rows.iter().enumerate() {
        // Picking one label drops the asset dimension.
        let names: Vec<&str> = row.columns().iter().map(|c| c.name()).collect();
        assert_eq!(names, ["time", "value", "n"]);
        let time_type = row.columns()[0].type_();
        assert_eq!(time_type, &tokio_postgres::types::Type::TIMESTAMPTZ);
        let time: SystemTime = row.get("time");
        let v: f32 = row.get("value");
        let n: i64 = row.get("n");
        assert_eq!(time, UNIX_EPOCH + Duration::from_secs(time_s(t) as u64));
        assert_eq!(v, value(5, t));
        assert_eq!(n, count(5, t));
    }
    let row = client
        .query_one("SELECT avg(n) FROM meter", &[])
        .await
        .unwrap();
    let mean: f64 = row.get(0);
    let all: Vec<i64> = LABELS
        .iter()
        .flat_map(|&l| (0..NT).map(move |t| count(l, t)))
        .collect();
    let want = all.iter().sum::<i64>() as f64 / all.len() as f64;
    // Summation order differs: equal to rounding.
    assert!((mean - want).abs() < 1e-9 * want, "{mean} vs {want}");

    // DDL through the extended protocol: the announced (result, array, version).
    let row = client
        .query_one(
            "CREATE ARRAY other (x DOUBLE START 0 STEP 1 LENGTH 4, v REAL)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<&str>>("array"), Some("other"));

    // Simple protocol: text values, several statements in one string.
    let msgs = client
        .simple_query("SELECT 1; SELECT value FROM meter WHERE asset = 8")
        .await
        .unwrap();
    let rows: Vec<_> = msgs
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(rows[0].get(0), Some("1"));
    assert_eq!(rows.len(), 1 + NT);
    for (t, row) in rows[1..].iter().enumerate() {
        assert_eq!(row.get("time"), Some(pg_time_text(time_s(t)).as_str()));
        assert_eq!(row.get("value"), Some(value(8, t).to_string().as_str()));
    }

    // Errors carry their SQLSTATE and leave the connection usable.
    let e = client
        .query("SELECT value FROM nowhere", &[])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::UNDEFINED_TABLE));
    client
        .batch_execute("BEGIN; SET extra_float_digits = 3; COMMIT")
        .await
        .unwrap();
    assert_eq!(
        client
            .query("SELECT n FROM meter", &[])
            .await
            .unwrap()
            .len(),
        3 * NT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_request_stops_a_running_query() {
    let pg = start(&[]);
    let (client, _) = pg.connect(None).await.unwrap();
    // Never-written cells are the fill: computing on 5 * 10^7 of them takes seconds
    // (element-wise work checks the cancel flag between chunks).
    client
        .simple_query("CREATE ARRAY big (x DOUBLE START 0 STEP 1 LENGTH 100000000, v REAL FILL 1)")
        .await
        .unwrap();
    let token = client.cancel_token();
    let started = Instant::now();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        token.cancel_query(NoTls).await.unwrap();
    });
    let e = client
        .simple_query("SELECT v * 2 FROM big WHERE x < 50000000")
        .await
        .unwrap_err();
    canceller.await.unwrap();
    // Cancelled, not finished: sending its 5 * 10^7 rows would have succeeded.
    assert_eq!(e.code(), Some(&SqlState::QUERY_CANCELED), "{e:?}");
    // Planning (the header's 5 * 10^7 coordinates) is not cancellable and, on a
    // machine short of free memory, takes seconds of page faults: the bound only
    // catches a cancel that is never acted on.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    // The session goes on.
    assert_eq!(client.query("SELECT 1", &[]).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_with_cleartext_password() {
    let pg = start(&["--auth-token", "s3cret"]);
    let Err(e) = pg.connect(Some("wrong")).await else {
        panic!("wrong password accepted")
    };
    assert_eq!(e.code(), Some(&SqlState::INVALID_PASSWORD), "{e:?}");
    let Err(e) = pg.connect(None).await else {
        panic!("no password accepted")
    };
    assert!(e.code().is_none() || e.code() == Some(&SqlState::INVALID_PASSWORD));
    let (client, _) = pg.connect(Some("s3cret")).await.unwrap();
    assert_eq!(client.query("SHOW ARRAYS", &[]).await.unwrap().len(), 0);
}
