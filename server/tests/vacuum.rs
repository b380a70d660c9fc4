//! VACUUM and retention against the real `arrayqd` over loopback: SQL and the
//! Vacuum RPC with exact results, time travel to a vacuumed version, Subscribe from
//! a trimmed change-log position, the background retention task, the policy as
//! DescribeArray and DESCRIBE report it, and disk space given back.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use arrayq_proto::v1::*;
use common::*;
use tonic::transport::Channel;
use tonic::Code;

type Rpc = arrayq_proto::v1::array_q_client::ArrayQClient<Channel>;

async fn sql(c: &mut Rpc, text: &str) -> common::QueryResult {
    query(c, text)
        .await
        .unwrap_or_else(|e| panic!("{text}: {e:?}"))
}

/// Array `s(x; v int)` of 4 cells; version k (1..=versions) sets every cell to k.
async fn versions_of_s(c: &mut Rpc, versions: i32) {
    sql(
        c,
        "CREATE ARRAY s (x DOUBLE START 0 STEP 1 LENGTH 4, v INT)",
    )
    .await;
    for k in 1..=versions {
        sql(
            c,
            &format!("INSERT INTO s (x, v) VALUES (0, {k}), (1, {k}), (2, {k}), (3, {k})"),
        )
        .await;
    }
}

fn i32_values(b: &[u8]) -> Vec<i32> {
    b.chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// The single row of a VACUUM answer, column by column.
fn vacuum_row(r: &common::QueryResult) -> Vec<(String, String)> {
    r.header
        .columns
        .iter()
        .map(|col| (col.name.clone(), r.text(&col.name)[0].clone()))
        .collect()
}

fn row(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacuum_over_sql_and_rpc_trims_history_and_change_log() {
    let (_t, dir) = data_dir();
    let d = Daemon::start(&dir, &["--retention-interval", "0"], &[]);
    let mut c = d.client().await;
    // seq 1: create (version 0); seq 2..=6: versions 1..=5.
    versions_of_s(&mut c, 5).await;

    let r = sql(&mut c, "VACUUM s KEEP 2 VERSIONS").await;
    assert_eq!(
        vacuum_row(&r),
        row(&[
            ("array", "s"),
            ("versions_removed", "4"),
            ("chunks_removed", "3"),
            ("bytes_freed", "0"),
            ("log_entries_trimmed", "4"),
            ("oldest_version", "4"),
        ])
    );

    // Time travel: the vacuumed version names the oldest kept; kept ones read exactly.
    let e = query(&mut c, "SELECT v FROM s AS OF VERSION 3")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(
        e.message(),
        "1:31: array 's': version 3 was vacuumed (oldest kept: 4)"
    );
    for k in [4, 5] {
        let r = sql(&mut c, &format!("SELECT v FROM s AS OF VERSION {k}")).await;
        assert_eq!(i32_values(&r.columns[0]), vec![k; 4]);
    }

    // Subscribe from a trimmed position: the exact position to resume from.
    for array in ["s", ""] {
        let e = c
            .subscribe(SubscribeRequest {
                array: array.into(),
                from_seq: 2,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::OutOfRange, "{e:?}");
        assert_eq!(e.message(), "position 2 expired, resume from 5");
    }
    let mut feed = c
        .subscribe(SubscribeRequest {
            array: "s".into(),
            from_seq: 5,
        })
        .await
        .unwrap()
        .into_inner();
    for (seq, version) in [(5, 4), (6, 5)] {
        let ev = tokio::time::timeout(Duration::from_secs(10), feed.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!((ev.seq, ev.version), (seq, version));
    }

    // The RPC: misuse first, then the newest version only.
    let bad = [
        (Some(0), None, "keep_versions must be at least 1"),
        (
            Some(2),
            Some("1 day"),
            "set keep_versions or older_than, not both",
        ),
        (
            None,
            Some("soon"),
            "older_than 'soon' is not a positive interval like '30 days'",
        ),
    ];
    for (keep_versions, older_than, msg) in bad {
        let e = c
            .vacuum(VacuumRequest {
                array: "s".into(),
                keep_versions,
                older_than: older_than.map(String::from),
            })
            .await
            .unwrap_err();
        assert_eq!((e.code(), e.message()), (Code::InvalidArgument, msg));
    }
    let e = c
        .vacuum(VacuumRequest {
            array: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::NotFound, "array 'nope' does not exist")
    );
    let r = c
        .vacuum(VacuumRequest {
            array: "s".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r,
        VacuumResponse {
            array: "s".into(),
            versions_removed: 1,
            chunks_removed: 1,
            bytes_freed: 0,
            log_entries_trimmed: 1,
            oldest_version: 5,
        }
    );
    assert_eq!(kept(&mut c).await, [5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_retention_applies_the_stored_policy_and_stops_on_shutdown() {
    let (_t, dir) = data_dir();
    let mut d = Daemon::start(&dir, &["--retention-interval", "200ms"], &[]);
    let mut c = d.client().await;
    versions_of_s(&mut c, 4).await;
    sql(&mut c, "ALTER ARRAY s SET (retain_versions = 2)").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while kept(&mut c).await != [3, 4] {
        assert!(
            Instant::now() < deadline,
            "retention did not run: {:?}",
            kept(&mut c).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = sql(&mut c, "DESCRIBE s").await;
    let kinds = r.text("kind");
    let at = kinds.iter().position(|k| k == "retention").unwrap();
    assert_eq!(r.text("details")[at], "keep 2 versions");
    assert!(d.log_text().contains("retention applied"));
    // A new version: the next round keeps 4 and 5.
    sql(&mut c, "INSERT INTO s (x, v) VALUES (0, 5)").await;
    while kept(&mut c).await != [4, 5] {
        assert!(Instant::now() < deadline, "retention did not run again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The background task ends with the shutdown broadcast: a clean, quick exit.
    drop(c);
    d.signal("TERM");
    let status = d.wait_exit(Duration::from_secs(15)).expect("arrayqd exits");
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_reports_the_retention_policy_over_rpc_and_sql() {
    const DAY_NS: i64 = 86_400 * 1_000_000_000;
    let (_t, dir) = data_dir();
    let d = Daemon::start(&dir, &["--retention-interval", "0"], &[]);
    let mut c = d.client().await;
    versions_of_s(&mut c, 1).await;
    assert_eq!(policy(&mut c).await, (None, None));

    sql(
        &mut c,
        "ALTER ARRAY s SET (retain = '30 days', retain_versions = 5)",
    )
    .await;
    assert_eq!(
        policy(&mut c).await,
        (
            Some(RetentionPolicy {
                keep_versions: Some(5),
                max_age_ns: Some(30 * DAY_NS),
            }),
            Some("keep 5 versions, keep 30 days".into())
        )
    );
    sql(&mut c, "ALTER ARRAY s RESET (retain_versions)").await;
    assert_eq!(
        policy(&mut c).await,
        (
            Some(RetentionPolicy {
                keep_versions: None,
                max_age_ns: Some(30 * DAY_NS),
            }),
            Some("keep 30 days".into())
        )
    );
    sql(&mut c, "ALTER ARRAY s SET (retain = '12 hours')").await;
    assert_eq!(policy(&mut c).await.0.unwrap().max_age_ns, Some(DAY_NS / 2));
    sql(&mut c, "ALTER ARRAY s RESET (retain)").await;
    assert_eq!(policy(&mut c).await, (None, None));
}

/// `s`'s retention policy as DescribeArray gives it and DESCRIBE's `retention`
/// row's details (None: no such row).
async fn policy(c: &mut Rpc) -> (Option<RetentionPolicy>, Option<String>) {
    let rpc = describe_s(c).await.retention;
    let r = sql(c, "DESCRIBE s").await;
    let row = r.text("kind").iter().position(|k| k == "retention");
    (rpc, row.map(|at| r.text("details")[at].clone()))
}

/// The versions DescribeArray lists for `s`.
async fn kept(c: &mut Rpc) -> Vec<u64> {
    describe_s(c)
        .await
        .commits
        .iter()
        .map(|c| c.version)
        .collect()
}

/// DescribeArray of `s`.
async fn describe_s(c: &mut Rpc) -> DescribeArrayResponse {
    c.describe_array(DescribeArrayRequest {
        name: "s".into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

/// Bytes of the files under `dir`, recursively.
fn disk_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                disk_bytes(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

/// Incompressible values (a hash of version and cell), so every chunk is stored in
/// a segment file at about its raw size.
fn noise(version: u64, n: usize) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let mut z = version.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i);
            z = (z ^ (z >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            (z >> 40) as f32
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacuum_gives_disk_space_back() {
    const N: u64 = 256;
    const VERSIONS: u64 = 10;
    let (_t, dir) = data_dir();
    let d = Daemon::start(&dir, &["--retention-interval", "0"], &[]);
    let mut c = d.client().await;
    sql(
        &mut c,
        "CREATE ARRAY big (x DOUBLE START 0 STEP 1 LENGTH 256, y DOUBLE START 0 STEP 1 LENGTH 256, v REAL) WITH (chunks = (64, 256))",
    )
    .await;
    for k in 1..=VERSIONS {
        let header = WriteHeader {
            array: "big".into(),
            attributes: vec!["v".into()],
            region: vec![IndexRange::new(0, N), IndexRange::new(0, N)],
            ..Default::default()
        };
        let data = f32_bytes(&noise(k, (N * N) as usize));
        write(&mut c, header, vec![data]).await.unwrap();
    }
    let segments = dir.join("segments");
    let (seg_before, total_before) = (disk_bytes(&segments), disk_bytes(&dir));
    let r = c
        .vacuum(VacuumRequest {
            array: "big".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let (seg_after, total_after) = (disk_bytes(&segments), disk_bytes(&dir));
    println!(
        "segments {seg_before} -> {seg_after} bytes, store {total_before} -> {total_after} bytes, {r:?}"
    );
    assert_eq!(
        (r.versions_removed, r.chunks_removed, r.oldest_version),
        (VERSIONS, 4 * (VERSIONS - 1), VERSIONS)
    );
    // What the vacuum reports as freed is exactly what left the segment files, and
    // nine of ten full versions is most of it.
    assert_eq!(seg_before - seg_after, r.bytes_freed);
    assert!(seg_after * 5 < seg_before, "{seg_before} -> {seg_after}");
    assert!(
        total_after * 2 < total_before,
        "{total_before} -> {total_after}"
    );
    // The newest version, its payloads moved, reads back exactly as written.
    let got = sql(&mut c, "SELECT v FROM big").await;
    assert_eq!(
        got.columns[0],
        f32_bytes(&noise(VERSIONS, (N * N) as usize))
    );
}
