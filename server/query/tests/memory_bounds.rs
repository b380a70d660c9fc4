//! The per-query memory bound (`QueryContext::max_memory_bytes`, the server's
//! `--max-query-memory-bytes`): each operator that holds data (sort, window,
//! aggregation state, quantiles' held values, a join's right side) fails with
//! `ResourcesExhausted` naming itself, what it needed and the limit; under the
//! bound the same operator answers with the values computed here from the ERA5
//! formula (`era5::cube`).

mod common;

use arrayq_query::{Execution, QueryContext, QueryError, QueryResult};
use arrayq_workload::{era5, Scale};

const RAISE: &str = "select less, or raise the limit (arrayqd --max-query-memory-bytes)";
/// Cells of one ERA5 map.
const MAP: usize = era5::N_LAT * era5::N_LON;

fn with_limit(sql: &str, limit: u64) -> Result<QueryResult, QueryError> {
    let ctx = QueryContext {
        max_memory_bytes: Some(limit),
        ..Default::default()
    };
    match common::xs_engine().execute(sql, &ctx)? {
        Execution::Rows(s) => s.collect_all(),
        _ => panic!("not a query: {sql}"),
    }
}

/// The message of the `ResourcesExhausted` error `sql` fails with under `limit`.
fn refused(sql: &str, limit: u64) -> String {
    match with_limit(sql, limit) {
        Err(QueryError::ResourcesExhausted(m)) => m,
        Err(e) => panic!("not RESOURCE_EXHAUSTED: {e}"),
        Ok(_) => panic!("{sql} passed a limit of {limit} bytes"),
    }
}

/// Hour `t` at lat index `i`, lon index `j`, from the formula.
fn cell(cube: &ndarray::Array3<f32>, t: usize, i: usize, j: usize) -> f32 {
    cube[[t, i, j]]
}

#[test]
fn sort_keys_past_the_bound_are_refused_and_a_top_5_under_it_is_exact() {
    let sql = "SELECT t2m FROM era5 WHERE time = '2023-01-01T00:00:00Z' ORDER BY t2m DESC LIMIT 5";
    // The map's values (4 bytes a cell) fit in 500000 bytes; its two sort keys
    // (t2m and the cell index, 8 bytes a cell each) do not.
    assert_eq!(
        refused(sql, 500_000),
        format!(
            "Sort needs {} bytes more for its sort keys ({} held by this operator, {} by the whole query), over the query memory limit of 500000 bytes; {RAISE}",
            16 * MAP,
            4 * MAP,
            4 * MAP
        )
    );
    let r = with_limit(sql, 2_000_000).unwrap();
    let cube = era5::cube(Scale::XS);
    let mut cells: Vec<(f32, usize)> = (0..MAP)
        .map(|c| (cell(&cube, 0, c / era5::N_LON, c % era5::N_LON), c))
        .collect();
    // Descending by value, ties in row-major order.
    cells.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let t2m = r.columns.last().unwrap().to_f64_vec();
    let want: Vec<f64> = cells[..5].iter().map(|c| c.0 as f64).collect();
    assert_eq!(t2m, want);
}

#[test]
fn window_frames_past_the_bound_are_refused_and_a_lag_under_it_is_exact() {
    let n = era5::n_time(Scale::XS) * MAP;
    let sql = "SELECT lag(t2m) OVER (ORDER BY time) AS p FROM era5";
    // The whole cube as f64 fits in 20 MB; the column, its pencils and the output
    // (24 bytes a cell) do not.
    assert_eq!(
        refused(sql, 20_000_000),
        format!(
            "Window needs {} bytes more for its window frames ({} held by this operator, {} by the whole query), over the query memory limit of 20000000 bytes; {RAISE}",
            24 * n,
            8 * n,
            8 * n
        )
    );
    let sql = "SELECT lag(t2m) OVER (ORDER BY time) AS p FROM era5 WHERE lat = 60 AND lon = 0";
    let r = with_limit(sql, 100_000).unwrap();
    let cube = era5::cube(Scale::XS);
    // lat 60 is index (72 - 60) / 0.25 = 48, lon 0 index 25 / 0.25 = 100.
    let want: Vec<f64> = (0..era5::n_time(Scale::XS))
        .map(|t| match t {
            0 => f64::NAN,
            _ => cell(&cube, t - 1, 48, 100) as f64,
        })
        .collect();
    let got = r.columns[0].to_f64_vec();
    assert_eq!(got.len(), want.len());
    assert!(got[0].is_nan(), "{}", got[0]);
    assert_eq!(got[1..], want[1..]);
}

#[test]
fn aggregation_state_past_the_bound_is_refused_and_a_max_under_it_is_exact() {
    let sql = "SELECT max(t2m) FROM era5 GROUP BY lat, lon";
    let m = refused(sql, 500_000);
    assert!(
        m.starts_with(&format!(
            "Aggregate needs {} bytes more for its aggregation state ({MAP} groups) (0 held by this operator, 0 by the whole query), over the query memory limit of 500000 bytes",
            16 * MAP
        )),
        "{m}"
    );
    assert!(m.ends_with(RAISE), "{m}");
    let r = with_limit(sql, 2_000_000).unwrap();
    let cube = era5::cube(Scale::XS);
    let want: Vec<f64> = (0..MAP)
        .map(|c| {
            (0..era5::n_time(Scale::XS))
                .map(|t| cell(&cube, t, c / era5::N_LON, c % era5::N_LON))
                .fold(f32::NEG_INFINITY, f32::max) as f64
        })
        .collect();
    assert_eq!(r.columns[0].to_f64_vec(), want);
}

#[test]
fn quantile_values_past_the_bound_are_refused_and_a_median_under_it_is_exact() {
    // 47 hours (an odd count: the median is one of the values), 9 x 9 cells.
    let sql = "SELECT median(t2m) FROM era5 WHERE time <= '2023-01-02T22:00:00Z' \
               AND lat BETWEEN 60 AND 62 AND lon BETWEEN 0 AND 2 GROUP BY lat, lon";
    let m = refused(sql, 10_000);
    assert!(
        m.starts_with("Aggregate needs ")
            && m.contains(
                "for its aggregation state (81 groups; quantiles hold every value of their groups: ~47 values x 4 bytes each"
            )
            && m.contains("over the query memory limit of 10000 bytes")
            && m.ends_with(RAISE),
        "{m}"
    );
    let r = with_limit(sql, 1_000_000).unwrap();
    assert_eq!(r.header.shape, vec![9, 9]);
    let cube = era5::cube(Scale::XS);
    // lat 62..60 are indices 40..=48, lon 0..2 indices 100..=108.
    let mut want = Vec::new();
    for i in 40..=48 {
        for j in 100..=108 {
            let mut v: Vec<f32> = (0..47).map(|t| cell(&cube, t, i, j)).collect();
            v.sort_by(f32::total_cmp);
            want.push(v[23] as f64);
        }
    }
    assert_eq!(r.columns[0].to_f64_vec(), want);
}

#[test]
fn a_join_right_side_past_the_bound_is_refused_and_under_it_is_exact() {
    let sql = "SELECT m.t2m AS before FROM era5 e \
               JOIN (SELECT t2m FROM era5 WHERE time = '2023-01-01T00:00:00Z') m \
               ON e.lat = m.lat AND e.lon = m.lon WHERE e.time = '2023-01-01T05:00:00Z'";
    // The right map read as stored (4 bytes a cell) and as f64 (8): 12 bytes a cell.
    let m = refused(sql, 400_000);
    assert!(
        m.starts_with(&format!("Join needs {} bytes more for the right side '", 12 * MAP))
            && m.contains(&format!(
                "held in memory: {MAP} cells of 't2m' (read as stored, then as 8-byte values) (0 held by this operator, 0 by the whole query), over the query memory limit of 400000 bytes"
            ))
            && m.ends_with(RAISE),
        "{m}"
    );
    let r = with_limit(sql, 1_000_000).unwrap();
    let cube = era5::cube(Scale::XS);
    let want: Vec<f64> = (0..MAP)
        .map(|c| cell(&cube, 0, c / era5::N_LON, c % era5::N_LON) as f64)
        .collect();
    assert_eq!(r.columns[0].to_f64_vec(), want);
}

#[test]
fn a_query_bound_tighter_than_the_engine_default_applies_and_default_passes() {
    // Without a context limit the engine's default (2 GiB) lets the window run.
    let sql =
        "SELECT lag(t2m) OVER (ORDER BY time) AS p FROM era5 WHERE time = '2023-01-01T01:00:00Z'";
    let r = with_limit(sql, u64::MAX).unwrap();
    assert_eq!(r.columns[0].to_f64_vec().len(), MAP);
    assert!(refused(sql, 1000).starts_with("Window needs "));
}
