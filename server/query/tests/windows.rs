//! Window functions on the ERA5 cube at scale XS, against pandas
//! (`tests/reference/window_ref.py`, run at test time): rolling 24-hour means,
//! sums, extremes and counts, cumulative sums, lag / lead, a frame reaching ahead
//! and a window along latitude, cell by cell, over a WHERE selection whose masked
//! cells (`CASE WHEN t2m > 267.5 THEN t2m END`) are missing.

mod common;

use arrayq_query::{Engine, QueryResult};
use serde_json::Value;
use std::sync::OnceLock;

/// The selection: time from 06:00 (index 6), lat 62..57 (indices 40..=60), lon
/// 0..5 (indices 100..=120).
const WHERE: &str =
    "WHERE time >= '2023-01-01T06:00:00Z' AND lat BETWEEN 57 AND 62 AND lon BETWEEN 0 AND 5";
const X: &str = "CASE WHEN t2m > 267.5 THEN t2m END";

fn engine() -> &'static Engine {
    common::xs_engine()
}

fn run(sql: &str) -> QueryResult {
    common::rows(engine(), sql)
}

/// pandas' answers, computed once.
fn reference() -> &'static Value {
    static REF: OnceLock<Value> = OnceLock::new();
    REF.get_or_init(|| {
        common::xs_reference(
            "window_ref.py",
            &[
                "--t0=6",
                "--y0=40",
                "--y1=61",
                "--x0=100",
                "--x1=121",
                "--hot=267.5",
            ],
        )
    })
}

/// Column `c` of a result equals the reference grid: missing where it is missing,
/// within `tol` (relative) elsewhere.
fn assert_grid(r: &QueryResult, c: usize, key: &str, tol: f64) {
    assert_eq!(r.header.shape, vec![42, 21, 21], "{key}: shape");
    common::assert_cells(&r.columns[c].to_f64_vec(), &reference()[key], key, tol);
}

#[test]
fn the_selection_has_missing_cells() {
    // The test is only worth something if the mask leaves gaps (but not only gaps).
    let r = reference();
    let (missing, cells) = (r["missing"].as_u64().unwrap(), r["cells"].as_u64().unwrap());
    assert_eq!(cells, 42 * 21 * 21);
    assert!(
        missing > cells / 20 && missing < cells * 19 / 20,
        "{missing} of {cells} missing"
    );
}

#[test]
fn rolling_24_hours_match_pandas() {
    let r = run(&format!(
        "SELECT avg({X}) OVER (ORDER BY time ROWS BETWEEN 23 PRECEDING AND CURRENT ROW) AS a, \
                sum({X}) OVER (ORDER BY time ROWS BETWEEN 23 PRECEDING AND CURRENT ROW) AS s, \
                max({X}) OVER (ORDER BY time ROWS BETWEEN 23 PRECEDING AND CURRENT ROW) AS hi, \
                min({X}) OVER (ORDER BY time ROWS BETWEEN 23 PRECEDING AND CURRENT ROW) AS lo, \
                count({X}) OVER (ORDER BY time ROWS BETWEEN 23 PRECEDING AND CURRENT ROW) AS n \
         FROM era5 {WHERE}"
    ));
    assert_grid(&r, 0, "avg24", 1e-9);
    assert_grid(&r, 1, "sum24", 1e-9);
    assert_grid(&r, 2, "max24", 0.0);
    assert_grid(&r, 3, "min24", 0.0);
    assert_grid(&r, 4, "count24", 0.0);
}

#[test]
fn range_of_23_hours_is_24_rows() {
    let r = run(&format!(
        "SELECT avg({X}) OVER (ORDER BY time RANGE BETWEEN INTERVAL '23 hours' PRECEDING AND CURRENT ROW) AS a \
         FROM era5 {WHERE}"
    ));
    assert_grid(&r, 0, "avg24", 1e-9);
}

#[test]
fn cumulative_sum_matches_pandas_cumsum() {
    let r = run(&format!(
        "SELECT sum({X}) OVER (ORDER BY time) AS c FROM era5 {WHERE}"
    ));
    assert_grid(&r, 0, "cumsum", 1e-9);
}

#[test]
fn lag_and_lead_match_pandas_shift() {
    let r = run(&format!(
        "SELECT lag({X}) OVER (ORDER BY time) AS p, lead({X}, 2) OVER (ORDER BY time) AS q \
         FROM era5 {WHERE}"
    ));
    assert_grid(&r, 0, "lag1", 0.0);
    assert_grid(&r, 1, "lead2", 0.0);
    // Descending order swaps them.
    let d = run(&format!(
        "SELECT lead({X}) OVER (ORDER BY time DESC) AS p FROM era5 {WHERE}"
    ));
    assert_grid(&d, 0, "lag1", 0.0);
}

#[test]
fn a_frame_reaching_ahead_matches_pandas() {
    let r = run(&format!(
        "SELECT avg({X}) OVER (ORDER BY time ROWS BETWEEN 2 PRECEDING AND 3 FOLLOWING) AS a \
         FROM era5 {WHERE}"
    ));
    assert_grid(&r, 0, "avg_m2_p3", 1e-9);
}

#[test]
fn a_window_along_latitude_orders_by_coordinate() {
    // Latitude is stored north to south; ORDER BY lat runs south to north.
    let r = run(&format!(
        "SELECT sum({X}) OVER (ORDER BY lat ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s \
         FROM era5 {WHERE}"
    ));
    assert_grid(&r, 0, "lat_sum2", 1e-9);
}
