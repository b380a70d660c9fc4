//! The Postgres bridge against a real PostgreSQL: the energy portfolio's rows (every
//! version, written by the project's numpy reference as CSV and put into a table
//! with psql's `\copy`) are loaded with `arrayq load postgres` into a real arrayqd,
//! and E1-E4 are compared with the numpy reference's answers.

use std::path::Path;
use std::process::Output;

use arrayq_tests::{arrayq_command, run_reference, PgCluster, TestServer};
use serde_json::Value;

struct Setup {
    pg: PgCluster,
    server: TestServer,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn start() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let pg = PgCluster::start().unwrap_or_else(|e| panic!("{e}"));
        let server = TestServer::builder(dir.path().join("data"))
            .start()
            .unwrap_or_else(|e| panic!("{e}"));
        Setup {
            pg,
            server,
            _dir: dir,
        }
    }

    fn arrayq(&self, args: &[&str]) -> Output {
        arrayq_command(&self.server.addr().to_string())
            .args(args)
            .output()
            .expect("cannot run arrayq")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.arrayq(args);
        assert!(
            o.status.success(),
            "arrayq {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn json(&self, sql: &str) -> Value {
        serde_json::from_str(self.ok(&["-c", sql, "--format", "json"]).trim()).expect("JSON")
    }

    fn load(&self, query: &str, array: &str) -> Output {
        self.arrayq(&[
            "load",
            "postgres",
            "--url",
            self.pg.url(),
            "--query",
            query,
            "--array",
            array,
        ])
    }
}

/// The energy portfolio's rows at `scale`, all versions, in table `power_rows`.
fn source_table(pg: &PgCluster, scale: &str, dir: &Path) {
    let csv = dir.join(format!("energy-{scale}.csv"));
    let out = run_reference(&["--energy", scale, "--csv", csv.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    pg.psql("CREATE TABLE power_rows (asset_id bigint, ts timestamptz, version int, value real)")
        .unwrap();
    pg.psql(&format!(
        "\\copy power_rows FROM '{}' WITH (FORMAT csv, HEADER)",
        csv.display()
    ))
    .unwrap();
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

/// Time windows of the reference's E1 as SQL.
fn window(want: &Value) -> String {
    let q0 = 1_672_527_600i64; // 2022-12-31T23:00:00Z, the portfolio's first quarter
    let w = floats(&want["E1_window"]);
    let iso = |q: f64| {
        chrono::DateTime::from_timestamp(q0 + q as i64 * 900, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    format!("time >= '{}' AND time < '{}'", iso(w[0]), iso(w[1]))
}

#[test]
fn bridge_loads_the_xs_portfolio_by_rounds_and_e1_to_e4_match_numpy() {
    bridge_loads_the_portfolio("XS", 20);
}

#[test]
fn bridge_loads_the_s_portfolio_by_rounds_and_e1_to_e4_match_numpy() {
    bridge_loads_the_portfolio("S", 200);
}

fn bridge_loads_the_portfolio(scale: &str, n_assets: i64) {
    let s = Setup::start();
    source_table(&s.pg, scale, s._dir.path());
    let o = s.load(
        "SELECT asset_id, ts, version, value FROM power_rows",
        "power",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8_lossy(&o.stdout);
    // Rounds 1-3 (versions per batch 1..3).
    let rows: usize =
        s.pg.psql("SELECT count(*) FROM power_rows")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    assert!(
        said.starts_with(&format!("loaded {rows} rows into 'power'")),
        "{said}"
    );
    assert!(said.contains("3 commit(s): version 1, 2, 3"), "{said}");

    let want: Value = {
        let out = run_reference(&["--energy", scale, "--queries"]);
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let ids: Vec<String> = (1..=n_assets).step_by(50).map(|a| a.to_string()).collect();
    let win = window(&want);
    let e1 = format!(
        "SELECT sum(value) FROM power WHERE asset IN ({}) AND {win} GROUP BY time",
        ids.join(", ")
    );
    let got = s.json(&e1);
    assert_close(
        &floats(&got["values"]["sum(value)"]),
        &floats(&want["E1"]),
        "E1",
    );
    let e4 = e1.replacen("FROM power", "FROM power AS OF VERSION 2", 1);
    let got = s.json(&e4);
    assert_close(
        &floats(&got["values"]["sum(value)"]),
        &floats(&want["E4"]),
        "E4",
    );
    // E2's month is every day of XS and S.
    let got = s.json("SELECT sum(value) AS s FROM power");
    let e2: f64 = floats(&got["values"]["s"])[0];
    assert_close(&[e2], &[want["E2_sum"].as_f64().unwrap()], "E2 (all days)");
    let got = s.json(
        "SELECT sum(value * 0.25) AS mwh FROM power WHERE asset BETWEEN 1 AND 10 \
         GROUP BY asset, date_trunc('day', time, 'Europe/Amsterdam')",
    );
    // The reference's rows are assets 1..=10; the result's follow the array's label
    // order, which it names.
    let e3: Vec<f64> = got["coords"]["asset"]
        .as_array()
        .expect("asset labels")
        .iter()
        .flat_map(|a| floats(&want["E3"][a.as_i64().unwrap() as usize - 1]))
        .collect();
    assert_close(&flatten(&got["values"]["mwh"]), &e3, "E3");
}

fn flatten(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flatten).collect(),
        x => vec![x.as_f64().unwrap_or(f64::NAN)],
    }
}

#[test]
fn a_source_column_of_the_wrong_type_is_named_before_anything_is_written() {
    let s = Setup::start();
    s.pg.psql(
        "CREATE TABLE src (asset_id bigint, ts timestamptz, version int, value text); \
         INSERT INTO src VALUES (1, '2023-01-01T00:00:00Z', 1, '3.5')",
    )
    .unwrap();
    let o = s.load("SELECT asset_id, ts, version, value FROM src", "power");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("column 'value' of the source query is text; the value must be a number"),
        "{err}"
    );
    let o = s.load("SELECT asset_id, ts AS t, version, value FROM src", "power");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the source query has no column 'ts' for the time (it has asset_id, t, version, value; name it with --time-col)"),
        "{err}"
    );
    let listed = s.json("SHOW ARRAYS");
    assert_eq!(
        listed["values"]["name"],
        serde_json::json!([]),
        "nothing created"
    );
}

#[test]
fn rows_off_the_quarter_hour_grid_fail_the_load_naming_the_row_and_commit_nothing() {
    let s = Setup::start();
    s.pg.psql(
        "CREATE TABLE src (asset_id int, ts timestamptz, value double precision); \
         INSERT INTO src VALUES (7, '2023-01-01T00:00:00Z', 1.5), (7, '2023-01-01T00:15:00Z', 2.5), \
         (7, '2023-01-01T00:20:00Z', 9.0)",
    )
    .unwrap();
    let o = s.load("SELECT asset_id, ts, value FROM src ORDER BY ts", "power");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("row 3: time 2023-01-01T00:20:00Z is not on the 15-minute grid"),
        "{err}"
    );
    // Created on first use (an empty array), but no rows committed.
    let got = s.json("SELECT count(value) AS n FROM power");
    assert_eq!(got["values"]["n"], serde_json::json!([0]));
    // Without a version column: one commit, NULL values read as missing.
    s.pg.psql("DELETE FROM src WHERE ts = '2023-01-01T00:20:00Z'; INSERT INTO src VALUES (8, '2023-01-01T00:30:00Z', NULL)").unwrap();
    let o = s.load("SELECT asset_id, ts, value FROM src", "power");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = s.json("SELECT value FROM power");
    // Row-major (asset x time): asset 7 then asset 8, quarter-hours 00:00-00:30.
    assert_eq!(
        got["values"]["value"],
        serde_json::json!([1.5, 2.5, null, null, null, null])
    );
}

#[test]
fn text_labels_from_a_text_column_are_stored_once_and_queried_by_name() {
    let s = Setup::start();
    s.pg.psql(
        "CREATE TABLE named (asset_id text, ts timestamptz, version int, value real); \
         INSERT INTO named SELECT a, timestamptz '2023-01-01T00:00:00Z' + q * interval '15 minutes', 1, \
         (CASE a WHEN 'NL-WIND-042' THEN 10 ELSE 20 END) + q \
         FROM unnest(ARRAY['NL-WIND-042', 'NL-SOLAR-007']) a, generate_series(0, 3) q",
    )
    .unwrap();
    let o = s.load("SELECT asset_id, ts, version, value FROM named", "named");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = s.json("SELECT value FROM named WHERE asset = 'NL-WIND-042'");
    assert_eq!(
        got["values"]["value"],
        serde_json::json!([10.0, 11.0, 12.0, 13.0])
    );
    let got =
        s.json("SELECT sum(value) AS s FROM named WHERE asset IN ('NL-WIND-042', 'NL-SOLAR-007')");
    assert_eq!(
        got["values"]["s"],
        serde_json::json!([(10 + 11 + 12 + 13 + 20 + 21 + 22 + 23) as f64])
    );
    // New labels of a round are appended in their sort order, whatever order the
    // source returned its rows in.
    let got = s.json("SELECT sum(value) AS s FROM named GROUP BY asset");
    assert_eq!(
        got["coords"]["asset"],
        serde_json::json!(["NL-SOLAR-007", "NL-WIND-042"])
    );
    assert_eq!(
        got["values"]["s"],
        serde_json::json!([(20 + 21 + 22 + 23) as f64, (10 + 11 + 12 + 13) as f64])
    );
}
