//! The standard query suites Q1-Q6 (ERA5 cube) and E1-E4 (energy portfolio) at
//! scale XS, written in arrayq SQL and checked against the project's independent
//! numpy reference (`tests/reference/workload_ref.py`).

use arrayq_query::{Engine, EngineConfig, Execution, QueryContext, QueryResult};
use arrayq_storage::Store;
use arrayq_tests::{read_npy_f32, read_npy_f64};
use arrayq_workload::{energy, load, Scale};
use chrono::{DateTime, Utc};
use serde_json::Value;

fn run(engine: &Engine, sql: &str) -> QueryResult {
    match engine.execute(sql, &QueryContext::default()) {
        Ok(Execution::Rows(s)) => s
            .collect_all()
            .unwrap_or_else(|e| panic!("{}", e.render(sql))),
        Ok(_) => panic!("not a query: {sql}"),
        Err(e) => panic!("{}", e.render(sql)),
    }
}

fn reference(args: &[&str]) -> Value {
    let out = arrayq_tests::run_reference(args);
    assert!(
        out.status.success(),
        "reference failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("reference prints JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(1e-12) || (got.is_nan() && want.is_nan())
}

fn assert_close(what: &str, got: &[f64], want: &[f64], rel: f64) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} values, expected {}",
        got.len(),
        want.len()
    );
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(close(*g, *w, rel), "{what}[{k}]: got {g}, expected {w}");
    }
}

fn iso(ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ns)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[test]
fn era5_q1_to_q6_match_numpy() {
    let store = Store::temporary().unwrap();
    load::load_era5(
        &store,
        "era5",
        Scale::XS,
        &[("maps", [1, 153, 281]), ("pencils", [48, 8, 8])],
        3,
        false,
    )
    .unwrap();
    // Every written chunk of both layouts is stored: 48 maps, 20 x 36 pencils (the
    // last pencils of each row and column pad 153 / 281 cells to multiples of 8).
    let stats = store
        .snapshot("era5", arrayq_storage::AsOf::Latest)
        .unwrap()
        .meta()
        .stats
        .clone();
    assert_eq!((stats[0].chunks, stats[1].chunks), (48, 20 * 36));
    // A full scan reads every chunk of a layout, estimated at the layout's average
    // stored chunk size: the planner takes the layout of fewer estimated bytes, or the
    // one of smaller chunks (pencils) when its estimate is within 10 % of the least.
    let estimate = |k: usize| (stats[k].chunks * (stats[k].bytes / stats[k].chunks)) as f64;
    let full_scan_layout = if estimate(1) <= estimate(0) * 1.1 {
        "pencils"
    } else {
        "maps"
    };
    let engine = Engine::new(store, EngineConfig::default());
    // Q4 and Q5 are whole maps: the reference writes them as .npy files.
    let outdir = tempfile::tempdir().unwrap();
    let want = reference(&[
        "--era5",
        "XS",
        "--queries",
        "--outdir",
        outdir.path().to_str().unwrap(),
    ]);

    // Q1: the timeseries at one point; pencils are cheaper.
    let r = run(
        &engine,
        "SELECT t2m FROM era5 WHERE lat = 52.0 AND lon = 5.0",
    );
    assert_eq!(r.header.dims, vec!["time"]);
    assert_eq!(r.header.layout, "pencils");
    assert_close("Q1", &r.columns[0].to_f64_vec(), &floats(&want["Q1"]), 0.0);

    // Q2: the map at one hour; map tiles are cheaper.
    let h = want["Q2_hour"].as_u64().unwrap() as usize;
    let sql = format!(
        "SELECT t2m FROM era5 WHERE time = '{}'",
        iso(arrayq_workload::era5::time_ns(h))
    );
    let r = run(&engine, &sql);
    assert_eq!(r.header.dims, vec!["lat", "lon"]);
    assert_eq!(r.header.shape, vec![153, 281]);
    assert_eq!(r.header.layout, "maps");
    let q2: Vec<f64> = want["Q2"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(floats)
        .collect();
    assert_close("Q2", &r.columns[0].to_f64_vec(), &q2, 0.0);
    let sum: f64 = r.columns[0].to_f64_vec().iter().sum();
    assert!(close(sum, want["Q2_sum"].as_f64().unwrap(), 1e-12));

    // Q3: hourly box mean. Here and below, f64 sums of f32 values that differ from
    // numpy's only in summation order: 1e-12 relative is a hundredfold margin.
    let r = run(&engine, "SELECT avg(t2m) FROM era5 WHERE lat BETWEEN 50 AND 54 AND lon BETWEEN 3 AND 8 GROUP BY time");
    assert_eq!(r.header.dims, vec!["time"]);
    // 3 x 3 pencils hold the 17 x 21 cell box; maps would read all 48 hours' maps.
    assert_eq!(r.header.layout, "pencils");
    assert_close(
        "Q3",
        &r.columns[0].to_f64_vec(),
        &floats(&want["Q3"]),
        1e-12,
    );

    // Q4: mean map over the first 7 days (the whole span at XS), cell by cell
    // against numpy's float64 means. Both sum 48 f32 values near 280 K in f64, so
    // only the summation order differs: well under 1e-12 relative.
    let r = run(
        &engine,
        "SELECT avg(t2m) AS t2m FROM era5 WHERE time < '2023-01-08T00:00:00Z' GROUP BY lat, lon",
    );
    assert_eq!(r.header.dims, vec!["lat", "lon"]);
    assert_eq!(r.header.shape, vec![153, 281]);
    assert_eq!(r.header.layout, full_scan_layout);
    let q4 = read_npy_f64(outdir.path().join("Q4.npy")).unwrap();
    assert_eq!(q4.shape, [153, 281]);
    assert_close("Q4", &r.columns[0].to_f64_vec(), &q4.data, 1e-12);
    let s: f64 = r.columns[0].to_f64_vec().iter().sum();
    assert!(
        close(s, want["Q4_sum"].as_f64().unwrap(), 1e-12),
        "Q4 sum {s}"
    );

    // Q5: daily maximum per cell over the first 7 days (2 days at XS); a maximum
    // picks one of the stored f32 values, so it equals numpy's exactly.
    let r = run(
        &engine,
        "SELECT max(t2m) FROM era5 WHERE time < '2023-01-08T00:00:00Z' GROUP BY date_trunc('day', time), lat, lon",
    );
    assert_eq!(r.header.dims, vec!["time", "lat", "lon"]);
    assert_eq!(r.header.shape, vec![2, 153, 281]);
    assert_eq!(r.header.layout, full_scan_layout);
    let q5 = read_npy_f32(outdir.path().join("Q5.npy")).unwrap();
    assert_eq!(q5.shape, [2, 153, 281]);
    let q5: Vec<f64> = q5.data.iter().map(|&v| v as f64).collect();
    assert_close("Q5", &r.columns[0].to_f64_vec(), &q5, 0.0);
    let s: f64 = r.columns[0].to_f64_vec().iter().sum();
    assert!(
        close(s, want["Q5_sum"].as_f64().unwrap(), 1e-12),
        "Q5 sum {s}"
    );

    // Q6: mean of the whole cube.
    // Answered from chunk statistics: every chunk is whole, and 'maps' has the fewest
    // to sum (48 against 720 pencils).
    let r = run(&engine, "SELECT avg(t2m) FROM era5");
    assert!(r.header.scalar);
    assert_eq!(r.header.layout, "maps");
    let q6 = r.columns[0].to_f64_vec()[0];
    assert!(close(q6, want["Q6"].as_f64().unwrap(), 1e-12), "Q6 {q6}");
}

#[test]
fn energy_e1_to_e4_match_numpy() {
    let store = Store::temporary().unwrap();
    let commits = load::load_energy(&store, "power", Scale::XS, false).unwrap();
    // One commit per ingest round; batches have up to 3 versions.
    assert_eq!(
        commits.iter().map(|c| c.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let engine = Engine::new(store, EngineConfig::default());
    let want = reference(&["--energy", "XS", "--queries"]);
    let (n_assets, n_days) = energy::sizes(Scale::XS);
    let ids: Vec<String> = (0..n_assets)
        .step_by(50)
        .map(|p| (p + 1).to_string())
        .collect();
    let win = floats(&want["E1_window"]);
    let (w0, w1) = (win[0] as usize, win[1] as usize);
    let window = format!(
        "time >= '{}' AND time < '{}'",
        iso(energy::ts_ns(w0)),
        iso(energy::ts_ns(w1))
    );

    // E1: portfolio sum per quarter-hour over one local week.
    let e1 = format!(
        "SELECT sum(value) FROM power WHERE asset IN ({}) AND {window} GROUP BY time",
        ids.join(", ")
    );
    let r = run(&engine, &e1);
    assert_close(
        "E1",
        &r.columns[0].to_f64_vec(),
        &floats(&want["E1"]),
        1e-12,
    );

    // E2: all assets over a local month (the whole span at XS).
    let days = energy::local_days(n_days);
    let month = &days[..days.len().min(31)];
    let (m0, m1) = (
        month[0].0,
        month[month.len() - 1].0 + month[month.len() - 1].1,
    );
    let r = run(
        &engine,
        &format!(
            "SELECT sum(value) FROM power WHERE time >= '{}' AND time < '{}'",
            iso(energy::ts_ns(m0)),
            iso(energy::ts_ns(m1))
        ),
    );
    assert!(close(
        r.columns[0].to_f64_vec()[0],
        want["E2_sum"].as_f64().unwrap(),
        1e-12
    ));

    // E3: energy per local day for 10 assets.
    let r = run(
        &engine,
        "SELECT sum(value * 0.25) AS mwh FROM power WHERE asset BETWEEN 1 AND 10 GROUP BY asset, date_trunc('day', time, 'Europe/Amsterdam')",
    );
    assert_eq!(r.header.shape, vec![10, n_days]);
    let e3: Vec<f64> = want["E3"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(floats)
        .collect();
    assert_close("E3", &r.columns[0].to_f64_vec(), &e3, 1e-12);

    // E4: E1 as known after round 2.
    let e4 = e1.replace("FROM power", "FROM power AS OF VERSION 2");
    let r = run(&engine, &e4);
    assert_eq!(r.header.version, 2);
    assert_close(
        "E4",
        &r.columns[0].to_f64_vec(),
        &floats(&want["E4"]),
        1e-12,
    );
}
