//! Subqueries and CTEs on the ERA5 cube at scale XS, against xarray
//! (`tests/reference/subquery_ref.py`, run at test time): a CTE climatology joined
//! like an array, the maximum of per-cell means from a subquery in FROM, two CTEs
//! the second reading the first, the monthly anomaly against a subquery joined on a
//! computed key (the month of the left's time) and the daily anomaly on date_trunc.

mod common;

use arrayq_query::{Engine, Execution, QueryContext, QueryError, QueryResult};
use arrayq_workload::era5;
use serde_json::Value;
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    common::xs_engine()
}

fn run(sql: &str) -> QueryResult {
    common::rows(engine(), sql)
}

/// The hour of the single-hour anomaly: 2023-01-01T12:00:00Z.
const TP: usize = 12;

/// xarray's answers, computed once.
fn reference() -> &'static Value {
    static REF: OnceLock<Value> = OnceLock::new();
    REF.get_or_init(|| {
        assert_eq!(era5::time_ns(0), 1_672_531_200_000_000_000);
        let tp = format!("--tp={TP}");
        common::xs_reference(
            "subquery_ref.py",
            &["--time0=2023-01-01T00:00:00", tp.as_str()],
        )
    })
}

/// Column `c` of a result equals the reference grid `key`, cell by cell.
fn assert_grid(r: &QueryResult, c: usize, key: &str) {
    common::assert_cells(&r.columns[c].to_f64_vec(), &reference()[key], key, 1e-6);
}

#[test]
fn cte_climatology_joins_like_an_array() {
    let r = run(
        "WITH clim AS (SELECT avg(t2m) AS t2m FROM era5 GROUP BY lat, lon) \
         SELECT e.t2m - c.t2m AS anomaly FROM era5 e JOIN clim c ON e.lat = c.lat AND e.lon = c.lon \
         WHERE e.time = '2023-01-01T12:00:00Z'",
    );
    assert_eq!(r.header.shape, vec![era5::N_LAT, era5::N_LON]);
    assert_grid(&r, 0, "hour_anom");
}

#[test]
fn max_of_per_cell_means_from_a_subquery() {
    let r = run("SELECT max(m) FROM (SELECT avg(t2m) AS m FROM era5 GROUP BY lat, lon) s");
    assert!(r.header.scalar);
    let want = reference()["max_mean"].as_f64().unwrap();
    let got = r.columns[0].to_f64_vec()[0];
    assert!((got - want).abs() <= 1e-9 * want.abs(), "{got} vs {want}");
}

#[test]
fn a_cte_reads_an_earlier_one() {
    let r = run(
        "WITH cell AS (SELECT avg(t2m) AS t2m FROM era5 GROUP BY lat, lon), \
              row_max AS (SELECT max(t2m) AS t2m FROM cell GROUP BY lat) \
         SELECT t2m FROM row_max",
    );
    assert_eq!(r.header.shape, vec![era5::N_LAT]);
    assert_grid(&r, 0, "row_max");
}

#[test]
fn monthly_anomaly_joins_a_subquery_on_the_month_of_time() {
    let r = run(
        "SELECT e.t2m - c.t2m AS anomaly FROM era5 e JOIN (SELECT avg(t2m) AS t2m FROM era5 \
         GROUP BY extract(month FROM time) AS month, lat, lon) c \
         ON extract(month FROM e.time) = c.month AND e.lat = c.lat AND e.lon = c.lon \
         WHERE e.time BETWEEN '2023-01-01' AND '2023-01-31T23:00:00Z'",
    );
    assert_eq!(
        r.header.shape,
        vec![
            era5::n_time(arrayq_workload::Scale::XS),
            era5::N_LAT,
            era5::N_LON
        ]
    );
    assert_grid(&r, 0, "month_anom");
}

#[test]
fn daily_anomaly_joins_a_subquery_on_date_trunc() {
    let r = run(
        "SELECT e.t2m - d.t2m AS anomaly FROM era5 e JOIN (SELECT avg(t2m) AS t2m FROM era5 \
         GROUP BY date_trunc('day', time) AS day, lat, lon) d \
         ON date_trunc('day', e.time) = d.day AND e.lat = d.lat AND e.lon = d.lon",
    );
    assert_grid(&r, 0, "day_anom");
}

#[test]
fn a_cte_read_twice_runs_once() {
    let sql = "EXPLAIN ANALYZE WITH c AS (SELECT avg(t2m) AS t2m FROM era5 GROUP BY lat, lon) \
               SELECT a.t2m - b.t2m AS zero FROM c a JOIN c b ON a.lat = b.lat AND a.lon = b.lon";
    let text = match engine().execute(sql, &QueryContext::default()) {
        Ok(Execution::Explain(x)) => x.text,
        Ok(_) => panic!("not an explanation"),
        Err(e) => panic!("{}", e.render(sql)),
    };
    assert_eq!(text.matches("Materialize: c ").count(), 1, "{text}");
    // The one run read the cube once: its scan's metrics are under the node.
    assert_eq!(text.matches("Scan: era5").count(), 1, "{text}");
    assert!(text.contains("  metrics: run "), "{text}");
}

#[test]
fn subquery_results_over_the_result_limit_are_refused() {
    // Each per-cell mean map is 43 k cells x 8 bytes = 344 kB; two of them exceed 500 kB
    // together, though the outer result (one value) is small.
    let ctx = QueryContext {
        max_result_bytes: Some(500_000),
        ..QueryContext::default()
    };
    let sql = "WITH a AS (SELECT avg(t2m) AS t2m FROM era5 GROUP BY lat, lon), \
                    b AS (SELECT max(t2m) AS t2m FROM era5 GROUP BY lat, lon) \
               SELECT max(x.t2m - y.t2m) AS d FROM a x JOIN b y ON x.lat = y.lat AND x.lon = y.lon";
    match engine().execute(sql, &ctx) {
        Err(QueryError::ResourcesExhausted(m)) => {
            assert!(m.contains("the results of the subqueries and CTEs read so far hold 687888 bytes (with 'b'), over the result limit of 500000 bytes"), "{m}")
        }
        Err(e) => panic!("not RESOURCE_EXHAUSTED: {e}"),
        Ok(_) => panic!("two 344 kB results passed a 500 kB limit"),
    }
}
