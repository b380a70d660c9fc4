//! The Postgres bridge in follow mode against a real PostgreSQL: `arrayq load
//! postgres --follow` LISTENs on a channel and pulls past its watermark on every
//! NOTIFY. The source is restarted (`pg_ctl restart`) and arrayqd is killed with
//! SIGKILL and restarted mid-stream; at the end the array holds exactly the source's
//! newest value per cell, and every row was applied once (the commits' cell counts
//! add up to the rows inserted, each pull's rows being distinct cells).

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use arrayq_tests::{arrayq_command, PgCluster, TestServer};
use serde_json::Value;

/// 2023-01-01T00:00:00Z
const T0: i64 = 1_672_531_200;

struct Follow {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Follow {
    fn start(pg: &PgCluster, addr: &str) -> Follow {
        let mut child = arrayq_command(addr)
            .args([
                "load",
                "postgres",
                "--url",
                pg.url(),
                "--query",
                "SELECT id, asset_id, ts, version, value FROM src",
                "--array",
                "power",
                "--follow",
                "--channel",
                "power_feed",
                "--watermark-col",
                "id",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start arrayq load postgres --follow");
        let out: ChildStdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Follow { child, lines }
    }

    /// Waits for the pull line that brings the watermark to `id`.
    fn wait_for(&self, id: i64) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        let want = format!("(watermark {id})");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.ends_with(&want) => return l,
                Ok(_) => continue,
                Err(e) => panic!("no pull up to id {id}: {e}"),
            }
        }
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Inserts version `v` of asset `a` for quarter-hours `qs` (value a*100 + q + v/10)
/// and notifies; returns the number of rows.
fn insert(pg: &PgCluster, a: i64, qs: std::ops::Range<i64>, v: i64) -> usize {
    let rows: Vec<String> = qs
        .clone()
        .map(|q| {
            format!(
                "({a}, to_timestamp({}), {v}, {})",
                T0 + q * 900,
                value(a, q, v)
            )
        })
        .collect();
    pg.psql(&format!(
        "INSERT INTO src (asset_id, ts, version, value) VALUES {}; NOTIFY power_feed",
        rows.join(", ")
    ))
    .unwrap();
    rows.len()
}

fn value(a: i64, q: i64, v: i64) -> f64 {
    (a * 100 + q) as f64 + v as f64 / 10.0
}

fn query(addr: &str, sql: &str) -> Value {
    let o = arrayq_command(addr)
        .args(["-c", sql, "--format", "json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn follow_survives_a_source_restart_and_a_killed_server_applying_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PgCluster::start().unwrap_or_else(|e| panic!("{e}"));
    pg.psql(
        "CREATE TABLE src (id bigserial PRIMARY KEY, asset_id bigint, ts timestamptz, \
         version int, value double precision)",
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut server = TestServer::builder(&data).start().unwrap();
    let addr = server.addr().to_string();
    let follow = Follow::start(&pg, &addr);
    let mut inserted = 0usize;

    // Rows present before the first pull, then one NOTIFY-driven pull.
    inserted += insert(&pg, 1, 0..8, 1);
    follow.wait_for(8);
    inserted += insert(&pg, 2, 0..8, 1);
    follow.wait_for(16);

    // The source restarts: the follower reconnects (with backoff) and catches up.
    pg.restart().unwrap();
    inserted += insert(&pg, 1, 0..4, 2);
    follow.wait_for(20);

    // arrayqd is killed mid-stream; rows arrive while it is down.
    server.kill();
    inserted += insert(&pg, 3, 4..12, 1);
    std::thread::sleep(Duration::from_millis(300));
    let server = TestServer::builder(&data)
        .grpc(addr.clone())
        .start()
        .unwrap();
    assert_eq!(server.addr().to_string(), addr);
    // The pending rows come in on the follower's retry (it pulls on reconnect).
    follow.wait_for(28);
    inserted += insert(&pg, 2, 4..8, 3);
    follow.wait_for(32);

    // Expected: per cell, the value of the highest version inserted.
    let got = query(&addr, "SELECT value FROM power");
    let shape = &got["shape"];
    assert_eq!(shape, &serde_json::json!([3, 12]), "{got}");
    let mut want = vec![vec![None; 12]; 3];
    let mut put = |a: i64, qs: std::ops::Range<i64>, v: i64| {
        for q in qs {
            want[(a - 1) as usize][q as usize] = Some(value(a, q, v));
        }
    };
    put(1, 0..8, 1);
    put(2, 0..8, 1);
    put(1, 0..4, 2);
    put(3, 4..12, 1);
    put(2, 4..8, 3);
    // The array stores float4: compare as f32.
    let want: Vec<Option<f32>> = want
        .into_iter()
        .flatten()
        .map(|v| v.map(|x| x as f32))
        .collect();
    let got: Vec<Option<f32>> = got["values"]["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().map(|x| x as f32))
        .collect();
    assert_eq!(got, want);

    // Every row applied once: the write commits' cells add up to the rows.
    let cells = query(&addr, "SELECT count(value) AS n FROM power");
    assert_eq!(
        cells["values"]["n"],
        serde_json::json!([24]),
        "distinct cells written"
    );
    assert_eq!(
        commit_cells(&addr),
        inserted as u64,
        "cells written over all commits"
    );
    drop(server);
}

/// Sum of the cells written by the array's commits (DescribeArray's history).
fn commit_cells(addr: &str) -> u64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = arrayq_client::Client::connect(addr.to_string())
            .await
            .unwrap();
        let d = client.describe("power").await.unwrap();
        d.commits.iter().map(|c| c.cells_written).sum()
    })
}
