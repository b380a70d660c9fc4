//! COPY FROM STDIN through the Postgres door into the series ingest, with
//! tokio-postgres (CSV and binary) and psql (legacy `WITH CSV HEADER`): the values
//! read back equal the rows sent; a malformed line fails the COPY naming that line
//! and commits nothing.

mod common;
mod pg;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::SinkExt;
use pg::{start, time_s};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

const COPY_CSV: &str = "COPY power (asset_id, ts, version, value) FROM STDIN (FORMAT csv)";

/// The rows sent: (label, time index) -> value.
fn rows(labels: &[i64], nt: usize) -> BTreeMap<(i64, usize), f64> {
    let mut m = BTreeMap::new();
    for &l in labels {
        for t in 0..nt {
            m.insert((l, t), l as f64 + t as f64 * 0.25);
        }
    }
    m
}

fn iso(t: usize) -> String {
    chrono::DateTime::from_timestamp(time_s(t), 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn csv(rows: &BTreeMap<(i64, usize), f64>) -> String {
    rows.iter()
        .map(|((l, t), v)| format!("{l},{},1,{v}\n", iso(*t)))
        .collect()
}

/// Every stored cell of `array` that is not missing: (label, time index) -> value.
async fn read_back(client: &Client, array: &str) -> BTreeMap<(i64, usize), f64> {
    let mut out = BTreeMap::new();
    for row in client
        .query(&format!("SELECT value FROM {array}"), &[])
        .await
        .unwrap()
    {
        // Missing cells come as NULL.
        let Some(v) = row.get::<_, Option<f32>>("value") else {
            continue;
        };
        let time: SystemTime = row.get("time");
        let s = time.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        let t = ((s - pg::T0) / 900) as usize;
        out.insert((row.get::<_, i64>("asset"), t), v as f64);
    }
    out
}

async fn copy_csv(client: &Client, data: String) -> Result<u64, tokio_postgres::Error> {
    let sink = client.copy_in::<_, Bytes>(COPY_CSV).await?;
    futures::pin_mut!(sink);
    sink.send(Bytes::from(data)).await?;
    sink.finish().await
}

async fn version(client: &Client, array: &str) -> String {
    let rows = client.simple_query("SHOW ARRAYS").await.unwrap();
    rows.iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) if r.get("name") == Some(array) => {
                r.get("version").map(str::to_string)
            }
            _ => None,
        })
        .expect("array listed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_csv_and_binary_then_read_back() {
    let pg = start(&[]);
    let (client, _) = pg.connect(None).await.unwrap();

    let sent = rows(&[11, 12], 6);
    assert_eq!(copy_csv(&client, csv(&sent)).await.unwrap(), 12);
    assert_eq!(read_back(&client, "power").await, sent);
    assert_eq!(version(&client, "power").await, "1");

    // Binary: a new asset and later times, int8 / timestamptz / int4 / float8.
    let sink = client
        .copy_in("COPY power (asset_id, ts, version, value) FROM STDIN WITH (FORMAT binary)")
        .await
        .unwrap();
    let writer = BinaryCopyInWriter::new(
        sink,
        &[Type::INT8, Type::TIMESTAMPTZ, Type::INT4, Type::FLOAT8],
    );
    futures::pin_mut!(writer);
    let more = rows(&[13], 8);
    for ((l, t), v) in &more {
        let time = UNIX_EPOCH + Duration::from_secs(time_s(*t) as u64);
        writer.as_mut().write(&[l, &time, &2i32, v]).await.unwrap();
    }
    assert_eq!(writer.finish().await.unwrap(), 8);
    let mut all = sent.clone();
    all.extend(more);
    assert_eq!(read_back(&client, "power").await, all);
    assert_eq!(version(&client, "power").await, "2");

    // A malformed line 3: an error naming it, nothing committed.
    let mut bad = csv(&rows(&[11], 2)).replace(",0.25\n", ",0.5\n");
    bad.push_str(&format!("11,{},1,not-a-number\n", iso(2)));
    let e = copy_csv(&client, bad).await.unwrap_err();
    let db = e.as_db_error().expect("an ErrorResponse");
    assert_eq!(db.code().code(), "22P02");
    assert!(db.message().contains("line 3"), "{}", db.message());
    assert_eq!(db.where_(), Some("COPY power, line 3, column value"));
    assert_eq!(version(&client, "power").await, "2");
    assert_eq!(read_back(&client, "power").await, all);
    // The session goes on.
    assert_eq!(client.query("SELECT 1", &[]).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_copy_with_legacy_csv_header() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let pg = start(&[]);
    let sent = rows(&[21, 22], 3);
    let mut child = Command::new("psql")
        .args([
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "tester",
        ])
        .args(["-p", &pg.port.to_string(), "-d", "arrayq", "-c"])
        .arg("COPY power (asset_id, ts, version, value) FROM STDIN WITH CSV HEADER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql");
    // Postgres' own timestamp text form, with a short zone.
    let body: String = sent
        .iter()
        .map(|((l, t), v)| format!("{l},{},1,{v}\n", pg::pg_time_text(time_s(*t))))
        .collect();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("asset_id,ts,version,value\n{body}").as_bytes())
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "COPY 6");
    let (client, _) = pg.connect(None).await.unwrap();
    assert_eq!(read_back(&client, "power").await, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_copy_is_ingested_in_overlapping_batches_and_a_bad_row_in_the_first_fails_it_all() {
    let pg = start(&[]);
    let (client, _) = pg.connect(None).await.unwrap();
    // 150,000 rows: more than two ingest batches.
    let labels: Vec<i64> = (1..=100).collect();
    let sent = rows(&labels, 1500);
    let mut lines: Vec<String> = csv(&sent).lines().map(str::to_string).collect();
    let good = lines.join("\n") + "\n";
    // Line 10 five minutes off the quarter-hour grid.
    let t = iso(9);
    let off = chrono::DateTime::from_timestamp(time_s(9) + 300, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    lines[9] = lines[9].replace(&t, &off);
    let bad = lines.join("\n") + "\n";
    let e = copy_csv(&client, bad).await.unwrap_err();
    let db = e.as_db_error().expect("an ErrorResponse");
    assert!(db.message().contains("line 10"), "{}", db.message());
    assert!(!version_listed(&client, "power").await || version(&client, "power").await == "0");
    assert_eq!(copy_csv(&client, good).await.unwrap(), 150_000);
    assert_eq!(read_back(&client, "power").await, sent);
}

/// Whether SHOW ARRAYS lists `array`.
async fn version_listed(client: &Client, array: &str) -> bool {
    let rows = client.simple_query("SHOW ARRAYS").await.unwrap();
    rows.iter().any(
        |m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(r) if r.get("name") == Some(array)),
    )
}
