//! Value masks, HAVING and ORDER BY ... LIMIT on the ERA5 cube at scale XS, against
//! numpy (`tests/reference/mask_ref.py`, run at test time): counts and averages of
//! the cells passing a threshold per grid cell, OR / NOT / CASE conditions, groups
//! failing HAVING, and the top rows of an ordering (ties in row-major cell order).

mod common;

use arrayq_query::{Engine, QueryResult};
use arrayq_workload::era5;
use serde_json::Value;
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    common::xs_engine()
}

fn run(sql: &str) -> QueryResult {
    common::rows(engine(), sql)
}

/// numpy's answers, computed once.
fn reference() -> &'static Value {
    static REF: OnceLock<Value> = OnceLock::new();
    REF.get_or_init(|| {
        common::xs_reference(
            "mask_ref.py",
            &["--lat0=72", "--dlat=-0.25", "--lon0=-25", "--dlon=0.25"],
        )
    })
}

/// A per-cell grid of the reference (null: missing).
fn want(key: &str) -> Vec<Option<f64>> {
    reference()[key]
        .as_array()
        .unwrap()
        .iter()
        .map(Value::as_f64)
        .collect()
}

/// Column `c` of a result equals the reference grid: missing where it is missing,
/// within `tol` (relative) elsewhere.
fn assert_grid(r: &QueryResult, c: usize, key: &str, tol: f64) {
    common::assert_cells(&r.columns[c].to_f64_vec(), &reference()[key], key, tol);
}

#[test]
fn count_and_avg_under_a_threshold_match_numpy() {
    let r =
        run("SELECT count(t2m) AS n, avg(t2m) AS m FROM era5 WHERE t2m > 290 GROUP BY lat, lon");
    assert_eq!(r.header.shape, vec![era5::N_LAT, era5::N_LON]);
    assert_grid(&r, 0, "hot_count", 0.0);
    // The threshold splits the data: some cells never pass, some often do.
    let n = r.columns[0].to_f64_vec();
    assert!(n.contains(&0.0) && n.iter().any(|&c| c > 10.0));
    assert_grid(&r, 1, "hot_avg", 1e-9);
}

#[test]
fn or_and_not_match_numpy() {
    let r =
        run("SELECT count(*) AS n FROM era5 WHERE t2m > 295 OR NOT (t2m > 270) GROUP BY lat, lon");
    assert_grid(&r, 0, "or_not_count", 0.0);
}

#[test]
fn case_in_where_matches_numpy() {
    // Sums of no cell are NaN in arrayq, 0 in numpy's where-sum: compare counts
    // first, then sums where something was summed.
    let r = run(
        "SELECT count(t2m) AS n, sum(t2m) AS s FROM era5 WHERE CASE WHEN lat > 55 THEN t2m > 285 ELSE t2m < 275 END GROUP BY lat, lon",
    );
    assert_grid(&r, 0, "case_count", 0.0);
    let n = r.columns[0].to_f64_vec();
    let s = r.columns[1].to_f64_vec();
    for ((n, s), w) in n.iter().zip(&s).zip(want("case_sum")) {
        let w = w.unwrap();
        if *n == 0.0 {
            assert!(s.is_nan() || *s == 0.0, "sum of no cell: {s}");
        } else {
            assert!((s - w).abs() <= 1e-9 * w.abs(), "sum {s} vs numpy {w}");
        }
    }
}

#[test]
fn having_masks_groups_like_numpy() {
    let r = run("SELECT avg(t2m) AS m FROM era5 GROUP BY lat, lon HAVING m > 280");
    assert_grid(&r, 0, "having_avg", 1e-9);
    let same = run("SELECT avg(t2m) AS m FROM era5 GROUP BY lat, lon HAVING avg(t2m) > 280");
    let bits = |r: &QueryResult| -> Vec<u64> {
        r.columns[0]
            .to_f64_vec()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    assert_eq!(bits(&r), bits(&same));
}

/// The rows `[lat, lon, value]` of a table result with those three columns.
fn rows(r: &QueryResult) -> Vec<[f64; 3]> {
    let c: Vec<Vec<f64>> = r.columns.iter().map(|c| c.to_f64_vec()).collect();
    (0..r.header.shape[0])
        .map(|i| [c[0][i], c[1][i], c[2][i]])
        .collect()
}

fn want_rows(key: &str) -> Vec<[f64; 3]> {
    reference()[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let r = r.as_array().unwrap();
            [0, 1, 2].map(|k| r[k].as_f64().unwrap())
        })
        .collect()
}

#[test]
fn top_k_and_offset_match_numpy_argsort() {
    let r = run("SELECT max(t2m) AS m FROM era5 GROUP BY lat, lon ORDER BY m DESC LIMIT 10");
    assert_eq!(r.header.dims, vec!["row"]);
    let names: Vec<&str> = r.header.columns.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, ["lat", "lon", "m"]);
    assert_eq!(rows(&r), want_rows("top15")[..10]);
    let r = run("SELECT max(t2m) AS m FROM era5 GROUP BY lat, lon ORDER BY m LIMIT 5 OFFSET 5");
    assert_eq!(rows(&r), want_rows("bottom_offset"));
    // A full sort agrees with the bounded one on its first rows.
    let all = run("SELECT max(t2m) AS m FROM era5 GROUP BY lat, lon ORDER BY m DESC");
    assert_eq!(all.header.shape, vec![era5::MAP_CELLS]);
    assert_eq!(rows(&all)[..15], want_rows("top15"));
}
