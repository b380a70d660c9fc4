//! Quantiles, time bins, calendar components and spatial blocks against numpy,
//! pandas and xarray (`tests/reference/groupby_ref.py`, run in the test venv) on a
//! cube of 2100 five-hourly maps (15 months, so months recur) of 8 x 8 cells with
//! scattered NaN and one pixel that is NaN throughout.

use arrayq_query::{
    CoordValues, Engine, EngineConfig, Execution, QueryContext, QueryError, QueryResult,
};
use arrayq_storage::{Buffer, Store};
use arrayq_tests::{python, workspace_root, write_npy_f32};
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;
use std::process::Command;
use std::sync::OnceLock;

const NT: usize = 2100;
const NY: usize = 8;
const NX: usize = 8;
/// UTC ns of 2023-01-01T00:00:00Z.
const T0: i64 = 1_672_531_200_000_000_000;
const STEP_H: i64 = 5;
const HOUR: i64 = 3_600_000_000_000;

fn value(t: usize, i: usize, j: usize) -> f32 {
    let h = arrayq_workload::splitmix64(((t as u64) << 20) + ((i as u64) << 10) + j as u64);
    if (i, j) == (0, 0) || h.is_multiple_of(29) {
        f32::NAN
    } else {
        // A seasonal cycle plus noise, so months and hours differ.
        let season = ((t as f32) * 5.0 / 24.0 / 365.0 * std::f32::consts::TAU).sin() * 10.0;
        270.0 + season + (h >> 40) as f32 / (1u64 << 24) as f32 * 20.0
    }
}

fn cube() -> Vec<f32> {
    let mut v = Vec::with_capacity(NT * NY * NX);
    for t in 0..NT {
        for i in 0..NY {
            for j in 0..NX {
                v.push(value(t, i, j));
            }
        }
    }
    v
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let e = Engine::new(Store::temporary().unwrap(), EngineConfig::default());
        // lat descends 50.75 .. 49.0 (floor(lat) blocks of 4), lon ascends 0 .. 1.75.
        let sql = format!(
            "CREATE ARRAY t (
                time TIMESTAMP START '2023-01-01T00:00:00Z' STEP '{STEP_H} hours' LENGTH {NT},
                lat DOUBLE START 50.75 STEP -0.25 LENGTH {NY},
                lon DOUBLE START 0 STEP 0.25 LENGTH {NX},
                v REAL
             ) WITH (chunks = (50, 3, 5))"
        );
        e.execute(&sql, &QueryContext::default()).unwrap();
        let data = ArrayD::from_shape_vec(IxDyn(&[NT, NY, NX]), cube()).unwrap();
        e.store()
            .write("t", "v", &[0, 0, 0], Buffer::F32(data))
            .unwrap();
        e
    })
}

fn reference() -> &'static Value {
    static REF: OnceLock<Value> = OnceLock::new();
    REF.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cube.npy");
        write_npy_f32(&path, &[NT, NY, NX], &cube()).unwrap();
        let out = Command::new(python())
            .arg(workspace_root().join("tests/reference/groupby_ref.py"))
            .args(["--cube", path.to_str().unwrap()])
            .args([
                "--t0",
                "2023-01-01T00:00:00",
                "--step-hours",
                &STEP_H.to_string(),
            ])
            .args(["--lat=50.75,-0.25", "--lon=0,0.25"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "groupby_ref.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    })
}

fn run(sql: &str) -> Result<QueryResult, QueryError> {
    run_with(sql, &QueryContext::default())
}

fn run_with(sql: &str, ctx: &QueryContext) -> Result<QueryResult, QueryError> {
    match engine().execute(sql, ctx)? {
        Execution::Rows(s) => s.collect_all(),
        _ => panic!("not a query: {sql}"),
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

/// Column `c` of `r` equals `want` within `rel` (relative), NaN where it is NaN.
fn assert_close(r: &QueryResult, c: usize, want: &[f64], rel: f64, what: &str) {
    let got = r.columns[c].to_f64_vec();
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        if w.is_nan() || g.is_nan() {
            assert!(w.is_nan() && g.is_nan(), "{what}[{k}]: got {g}, want {w}");
        } else {
            assert!(
                (g - w).abs() <= rel * w.abs().max(1.0),
                "{what}[{k}]: got {g}, want {w}"
            );
        }
    }
}

fn labels(r: &QueryResult, d: usize) -> Vec<i64> {
    match &r.header.coords[d] {
        CoordValues::Labels(v) => v.clone(),
        other => panic!("labels expected, got {other:?}"),
    }
}

fn times(r: &QueryResult, d: usize) -> Vec<i64> {
    match &r.header.coords[d] {
        CoordValues::Times(v) => v.clone(),
        other => panic!("times expected, got {other:?}"),
    }
}

fn numbers(r: &QueryResult, d: usize) -> Vec<f64> {
    match &r.header.coords[d] {
        CoordValues::Numbers(v) => v.clone(),
        other => panic!("numbers expected, got {other:?}"),
    }
}

#[test]
fn quantiles_per_pixel_match_numpy() {
    let r = run("SELECT median(v), quantile(v, 0.1), percentile_cont(0.9) WITHIN GROUP (ORDER BY v) FROM t GROUP BY lat, lon").unwrap();
    assert_eq!(r.header.shape, vec![NY, NX]);
    let q = &reference()["q_pixel"];
    for (c, k) in ["0.5", "0.1", "0.9"].iter().enumerate() {
        assert_close(&r, c, &floats(&q[k]), 1e-12, &format!("quantile {k}"));
    }
    // The pixel that is NaN throughout has no quantile.
    assert!(r.columns[0].to_f64_vec()[0].is_nan());
}

#[test]
fn quantiles_per_month_and_pixel_match_numpy() {
    let r = run("SELECT extract(month FROM time) AS month, median(v), quantile(v, 0.1) AS p10, quantile(v, 0.9) AS p90 FROM t GROUP BY month, lat, lon").unwrap();
    assert_eq!(r.header.dims, vec!["month", "lat", "lon"]);
    assert_eq!(labels(&r, 0), ints(&reference()["months"]));
    let q = &reference()["q_month"];
    for (c, k) in ["0.5", "0.1", "0.9"].iter().enumerate() {
        assert_close(
            &r,
            c,
            &floats(&q[k]),
            1e-12,
            &format!("monthly quantile {k}"),
        );
    }
}

#[test]
fn calendar_components_match_xarray_groupby() {
    for (field, key) in [
        ("month", "mean_month"),
        ("hour", "mean_hour"),
        ("doy", "mean_doy"),
    ] {
        let sql = format!("SELECT extract({field} FROM time) AS {field}, avg(v) FROM t GROUP BY {field}, lat, lon");
        let r = run(&sql).unwrap();
        let want = &reference()[key];
        assert_eq!(r.header.dims[0], field);
        assert_eq!(labels(&r, 0), ints(&want["keys"]), "{field} values");
        assert_close(&r, 0, &floats(&want["values"]), 1e-9, key);
    }
    // Repeating the expression in GROUP BY names the dimension after the field.
    let r = run("SELECT avg(v) FROM t GROUP BY extract(month FROM time), lat, lon").unwrap();
    assert_eq!(r.header.dims, vec!["month", "lat", "lon"]);
    assert_close(
        &r,
        0,
        &floats(&reference()["mean_month"]["values"]),
        1e-9,
        "month",
    );
}

#[test]
fn date_bin_matches_pandas_resample_with_origin() {
    let r = run(
        "SELECT avg(v) FROM t GROUP BY date_bin('7 hours', time, '2023-01-01T02:00:00Z'), lat, lon",
    )
    .unwrap();
    let want = &reference()["bin7h"];
    let starts = times(&r, 0);
    assert_eq!(starts, ints(&want["starts"]));
    // The first sample (00:00) is in the bin that starts 5 hours before the origin.
    assert_eq!(starts[0], T0 - 5 * HOUR);
    assert_close(&r, 0, &floats(&want["values"]), 1e-9, "7-hour bins");
}

#[test]
fn local_day_buckets_match_pandas_in_the_zone() {
    let r = run("SELECT avg(v) FROM t GROUP BY time_bucket('1 day', time, 'Europe/Amsterdam')")
        .unwrap();
    let want = &reference()["day_ams"];
    assert_eq!(times(&r, 0), ints(&want["starts"]));
    assert_close(&r, 0, &floats(&want["values"]), 1e-9, "local days");
}

#[test]
fn floor_blocks_match_xarray_coarsen() {
    let r = run("SELECT avg(v) FROM t GROUP BY time, floor(lat / 1.0), floor(lon / 1.0)").unwrap();
    let want = &reference()["coarsen44"];
    assert_eq!(r.header.shape, vec![NT, 2, 2]);
    // Lower edges, in the array's order (latitude descends).
    assert_eq!(numbers(&r, 1), vec![50.0, 49.0]);
    assert_eq!(numbers(&r, 2), vec![0.0, 1.0]);
    let floor = |v: Vec<f64>| v.into_iter().map(f64::floor).collect::<Vec<_>>();
    assert_eq!(numbers(&r, 1), floor(floats(&want["lat"])));
    assert_eq!(numbers(&r, 2), floor(floats(&want["lon"])));
    assert_close(&r, 0, &floats(&want["values"]), 1e-9, "floor blocks");
}

#[test]
fn coarsen_matches_xarray_coarsen_trim() {
    let r = run("SELECT avg(v) FROM t GROUP BY time, coarsen(lat, 3), lon").unwrap();
    let want = &reference()["coarsen3"];
    assert_eq!(r.header.shape, vec![NT, 2, NX]);
    assert_eq!(numbers(&r, 1), floats(&want["lat"]));
    assert_close(&r, 0, &floats(&want["values"]), 1e-9, "coarsen(lat, 3)");
}

#[test]
fn quantile_state_over_the_bound_is_refused_with_its_numbers() {
    let ctx = QueryContext {
        max_memory_bytes: Some(200_000),
        ..Default::default()
    };
    // 64 groups x 2100 values x 4 bytes (f32) = 537600 bytes, over 200000.
    match run_with("SELECT median(v) FROM t GROUP BY lat, lon", &ctx) {
        Err(QueryError::ResourcesExhausted(m)) => {
            assert!(m.contains("(64 groups; quantiles hold every value of their groups: ~2100 values x 4 bytes each"), "{m}");
            assert!(m.contains("query memory limit of 200000 bytes"), "{m}");
        }
        other => panic!("{:?}", other.err()),
    }
    // A smaller region fits.
    let r = run_with(
        "SELECT median(v) FROM t WHERE time < '2023-01-05T00:00:00Z' GROUP BY lat, lon",
        &ctx,
    )
    .unwrap();
    assert_eq!(r.header.shape, vec![NY, NX]);
}
