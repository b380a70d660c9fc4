//! Subqueries and CTEs through a real `arrayqd` over gRPC, with the `arrayq` shell:
//! a CTE joined like an array, a subquery in FROM, and an error in a CTE's query
//! keeping its position in the statement.
//!
//! Uses the `arrayq` and `arrayqd` binaries next to this test's executable
//! (target/debug), building them first if they are missing.

use arrayq_tests::{arrayq_command, arrayq_ok, TestServer};

/// `g(time, x; v)`: 3 hours from 2023-01-01T00Z, x 0 and 1, v = 10 t + x.
fn setup(addr: &str) {
    arrayq_ok(
        addr,
        &[
            "-c",
            "CREATE ARRAY g (time TIMESTAMP START '2023-01-01T00:00:00Z' STEP '1 hour' LENGTH 3, \
             x DOUBLE START 0 STEP 1 LENGTH 2, v DOUBLE)",
        ],
    );
    arrayq_ok(
        addr,
        &[
            "-c",
            "INSERT INTO g VALUES ('2023-01-01T00:00:00Z', 0, 0), ('2023-01-01T00:00:00Z', 1, 1), \
             ('2023-01-01T01:00:00Z', 0, 10), ('2023-01-01T01:00:00Z', 1, 11), \
             ('2023-01-01T02:00:00Z', 0, 20), ('2023-01-01T02:00:00Z', 1, 21)",
        ],
    );
}

fn json(addr: &str, sql: &str) -> serde_json::Value {
    let out = arrayq_ok(addr, &["-c", sql, "--format", "json"]);
    serde_json::from_str(out.trim()).expect("JSON")
}

/// The values of column `c` of a JSON result, as numbers.
fn numbers(j: &serde_json::Value, c: &str) -> Vec<f64> {
    let values = j["values"][c].as_array();
    let values = values.unwrap_or_else(|| panic!("no column {c}: {j}"));
    values
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect()
}

#[test]
fn subqueries_and_ctes_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path());
    let addr = server.addr().to_string();
    setup(&addr);

    // The mean over time of 10 t + x is 10 + x, so each hour minus it is 10 t - 10.
    let j = json(
        &addr,
        "WITH m AS (SELECT avg(v) AS v FROM g GROUP BY x) \
         SELECT g.v - m.v AS d FROM g JOIN m ON g.x = m.x",
    );
    assert_eq!(j["dims"], serde_json::json!(["time", "x"]));
    assert_eq!(numbers(&j, "d"), [-10.0, -10.0, 0.0, 0.0, 10.0, 10.0]);

    // The largest of the means 10 and 11.
    let j = json(
        &addr,
        "SELECT max(v) AS top FROM (SELECT avg(v) AS v FROM g GROUP BY x) s",
    );
    assert_eq!(numbers(&j, "top"), [11.0]);

    // An unknown attribute inside the CTE: the position is in the whole statement.
    let sql = "WITH m AS (SELECT avg(w) AS v FROM g GROUP BY x) SELECT v FROM m";
    let out = arrayq_command(&addr).args(["-c", sql]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("INVALID_ARGUMENT: unknown attribute or dimension 'w' in array 'g'"),
        "{err}"
    );
    // The caret under column 23 of the statement, after the 8 characters of "LINE 1: ".
    let caret = format!("{}^", " ".repeat(8 + 22));
    assert!(err.lines().any(|l| l == caret), "{err}");
}
