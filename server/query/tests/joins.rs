//! Joins of arrays on the ERA5 cube at scale XS, against xarray
//! (`tests/reference/join_ref.py`, run at test time): anomalies from a monthly and
//! an hour-of-day climatology stored with CREATE ARRAY ... AS (a computed join key),
//! one hour minus the per-cell mean (a plain lat/lon join, numpy broadcasting) and
//! an aggregate over a join.

mod common;

use arrayq_query::{Engine, Execution, QueryContext, QueryResult};
use arrayq_workload::era5;
use serde_json::Value;
use std::sync::OnceLock;

/// The XS cube with three climatologies stored beside it (once per test binary).
fn engine() -> &'static Engine {
    static READY: OnceLock<()> = OnceLock::new();
    let engine = common::xs_engine();
    READY.get_or_init(|| {
        for sql in [
            "CREATE ARRAY clim AS SELECT extract(month FROM time) AS month, avg(t2m) AS t2m FROM era5 GROUP BY month, lat, lon",
            "CREATE ARRAY hclim AS SELECT extract(hour FROM time) AS hour, avg(t2m) AS t2m FROM era5 GROUP BY hour, lat, lon",
            "CREATE ARRAY tmean AS SELECT avg(t2m) AS t2m FROM era5 GROUP BY lat, lon",
        ] {
            engine
                .execute(sql, &QueryContext::default())
                .unwrap_or_else(|e| panic!("{}", e.render(sql)));
        }
    });
    engine
}

fn run(sql: &str) -> QueryResult {
    common::rows(engine(), sql)
}

/// The selected hours of the monthly anomaly (inclusive) and the plain join's hour.
const T0: usize = 6;
const T1: usize = 30;
const TP: usize = 13;

/// Hour `h` of the cube (which starts at 2023-01-01T00:00:00Z and spans 2 days).
fn hour(h: usize) -> String {
    assert_eq!(era5::time_ns(0), 1_672_531_200_000_000_000);
    format!("2023-01-{:02}T{:02}:00:00Z", 1 + h / 24, h % 24)
}

/// xarray's answers, computed once.
fn reference() -> &'static Value {
    static REF: OnceLock<Value> = OnceLock::new();
    REF.get_or_init(|| {
        let args = [
            format!("--time0={}", hour(0).trim_end_matches('Z')),
            format!("--t0={T0}"),
            format!("--t1={T1}"),
            format!("--tp={TP}"),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::xs_reference("join_ref.py", &args)
    })
}

/// Column `c` of a result equals the reference grid `key`, cell by cell.
fn assert_grid(r: &QueryResult, c: usize, key: &str) {
    common::assert_cells(&r.columns[c].to_f64_vec(), &reference()[key], key, 1e-6);
}

#[test]
fn monthly_anomaly_joins_on_a_computed_key() {
    let r = run(&format!(
        "SELECT e.t2m - c.t2m AS anomaly FROM era5 e JOIN clim c \
         ON extract(month FROM e.time) = c.month AND e.lat = c.lat AND e.lon = c.lon \
         WHERE e.time BETWEEN '{}' AND '{}'",
        hour(T0),
        hour(T1)
    ));
    assert_eq!(r.header.shape, vec![T1 - T0 + 1, era5::N_LAT, era5::N_LON]);
    assert_grid(&r, 0, "month_anom");
}

#[test]
fn hour_of_day_anomaly_matches_xarray_groupby() {
    let r = run(
        "SELECT e.t2m - h.t2m AS anomaly FROM era5 AS e JOIN hclim AS h \
         ON e.lat = h.lat AND e.lon = h.lon AND extract(hour FROM e.time) = h.hour",
    );
    assert_grid(&r, 0, "hour_anom");
}

#[test]
fn plain_join_broadcasts_like_numpy() {
    let r = run(&format!(
        "SELECT e.t2m - m.t2m AS anomaly FROM era5 e JOIN tmean m ON e.lat = m.lat AND e.lon = m.lon \
         WHERE e.time = '{}'",
        hour(TP)
    ));
    assert_eq!(r.header.shape, vec![era5::N_LAT, era5::N_LON]);
    assert_grid(&r, 0, "plain");
}

#[test]
fn aggregates_take_joined_expressions() {
    let r = run(
        "SELECT avg(e.t2m - m.t2m) AS a FROM era5 e JOIN tmean m ON e.lat = m.lat AND e.lon = m.lon \
         GROUP BY e.lat",
    );
    assert_eq!(r.header.shape, vec![era5::N_LAT]);
    // Means of anomalies are near zero: compare absolutely.
    let ours = r.columns[0].to_f64_vec();
    let want = reference()["lat_mean"].as_array().unwrap();
    for (o, w) in ours.iter().zip(want) {
        assert!((o - w.as_f64().unwrap()).abs() < 1e-6, "{o} vs {w}");
    }
}

#[test]
fn a_right_side_over_the_memory_limit_is_refused() {
    let engine = engine();
    let ctx = QueryContext {
        max_memory_bytes: Some(1000),
        ..QueryContext::default()
    };
    // A scalar result, but the right cells it meets are a whole map (43 k cells).
    let sql = "SELECT avg(e.t2m - m.t2m) AS a FROM era5 e JOIN tmean m \
               ON e.lat = m.lat AND e.lon = m.lon WHERE e.time = '2023-01-01T00:00:00Z'";
    // The right side is read (and charged) when the query runs.
    let err = match engine.execute(sql, &ctx) {
        Ok(Execution::Rows(s)) => s.collect_all().err(),
        Ok(_) => panic!("not a query"),
        Err(e) => Some(e),
    }
    .expect("a right side of 43 k cells passed a 1000-byte limit")
    .to_string();
    assert!(
        err.contains("Join needs 687888 bytes more for the right side 'tmean'"),
        "{err}"
    );
    // Selecting one cell reads one right cell.
    let sql =
        "SELECT e.t2m - m.t2m AS a FROM era5 e JOIN tmean m ON e.lat = m.lat AND e.lon = m.lon \
               WHERE e.lat = 50 AND e.lon = 0 AND e.time = '2023-01-01T00:00:00Z'";
    match engine.execute(sql, &ctx) {
        Ok(Execution::Rows(s)) => {
            assert!(s.collect_all().unwrap().columns[0].to_f64_vec()[0].is_finite())
        }
        Ok(_) => panic!("not a query"),
        Err(e) => panic!("{}", e.render(sql)),
    }
}
