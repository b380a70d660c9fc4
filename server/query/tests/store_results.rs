//! Storing results: `CREATE ARRAY name [WITH (...)] AS SELECT ...`, `INSERT INTO
//! name SELECT ...` and `INSERT INTO name [(cols)] VALUES ...`. The source holds a
//! closed formula; expected values are computed here from it, never read back from
//! an arrayq result.

use arrayq_query::{Engine, EngineConfig, Execution, QueryContext, QueryResult};
use arrayq_storage::{Buffer, Store};
use ndarray::{ArrayD, IxDyn};

const NT: usize = 48; // two days of hours
const NLAT: usize = 3;
const NLON: usize = 4;

/// t2m[t, i, j] = 280 + t / 10 + i - j / 4 (exact in f32 to well under 1e-4).
fn t2m(t: usize, i: usize, j: usize) -> f64 {
    280.0 + t as f64 / 10.0 + i as f64 - j as f64 / 4.0
}

fn engine() -> Engine {
    let e = Engine::new(Store::temporary().unwrap(), EngineConfig::default());
    run(
        &e,
        "CREATE ARRAY cube (
            time TIMESTAMP START '2023-01-01T00:00:00Z' STEP '1 hour' LENGTH 48,
            lat DOUBLE START 52 STEP -1 LENGTH 3 METADATA (units = 'degrees_north'),
            lon DOUBLE START 4 STEP 0.5 LENGTH 4,
            t2m REAL METADATA (units = 'K')
         ) WITH (chunks = (24, 3, 4))",
    );
    let vals: Vec<f32> = (0..NT)
        .flat_map(|t| (0..NLAT).flat_map(move |i| (0..NLON).map(move |j| t2m(t, i, j) as f32)))
        .collect();
    let mut tx = e.store().begin_write("cube").unwrap();
    let data = ArrayD::from_shape_vec(IxDyn(&[NT, NLAT, NLON]), vals).unwrap();
    tx.write("t2m", &[0, 0, 0], Buffer::F32(data)).unwrap();
    tx.commit().unwrap();
    e
}

fn run(e: &Engine, sql: &str) -> (String, Option<u64>) {
    match e.execute(sql, &QueryContext::default()) {
        Ok(Execution::Done {
            message, version, ..
        }) => (message, version),
        Ok(_) => panic!("{sql}: not a statement"),
        Err(err) => panic!("{}", err.render(sql)),
    }
}

fn query(e: &Engine, sql: &str) -> QueryResult {
    match e.execute(sql, &QueryContext::default()) {
        Ok(Execution::Rows(s)) => s.collect_all().unwrap(),
        Ok(_) => panic!("{sql}: not rows"),
        Err(err) => panic!("{}", err.render(sql)),
    }
}

fn error(e: &Engine, sql: &str) -> String {
    match e.execute(sql, &QueryContext::default()) {
        Ok(Execution::Rows(s)) => s.collect_all().map(|_| ()).unwrap_err().to_string(),
        Ok(_) => panic!("{sql}: no error"),
        Err(err) => err.to_string(),
    }
}

fn describe(e: &Engine, name: &str) -> Vec<Vec<String>> {
    match e.execute(&format!("DESCRIBE {name}"), &QueryContext::default()) {
        Ok(Execution::Table(t)) => t.rows,
        _ => panic!("DESCRIBE {name}"),
    }
}

fn values(r: &QueryResult) -> Vec<f64> {
    r.columns[0].to_f64_vec()
}

#[test]
fn create_array_as_stores_daily_means_with_a_regular_day_axis() {
    let e = engine();
    let (msg, version) = run(
        &e,
        "CREATE ARRAY daily WITH (chunks = (1, 3, 4)) AS
         SELECT avg(t2m) AS t2m FROM cube GROUP BY date_trunc('day', time), lat, lon",
    );
    assert_eq!(
        msg,
        "created array 'daily' from the query: 24 cells (time x lat x lon)"
    );
    assert_eq!(version, Some(1));
    let d = describe(&e, "daily");
    assert_eq!(
        d[0][3],
        "start 2023-01-01T00:00:00Z step 1 day length 2 growable"
    );
    assert_eq!(d[1][3], "start 52 step -1 length 3");
    assert!(
        d.iter().any(|r| r[0] == "layout" && r[2] == "(1, 3, 4)"),
        "{d:?}"
    );
    // lat kept its description through GROUP BY; avg(t2m) is computed: none.
    assert!(d
        .iter()
        .any(|r| r == &["metadata", "lat", "units", "degrees_north"]));
    assert!(
        !d.iter().any(|r| r[0] == "metadata" && r[1] == "t2m"),
        "{d:?}"
    );

    let r = query(&e, "SELECT t2m FROM daily");
    assert_eq!(r.header.shape, [2, NLAT, NLON]);
    let got = values(&r);
    for day in 0..2 {
        for i in 0..NLAT {
            for j in 0..NLON {
                let want = (0..24).map(|h| t2m(24 * day + h, i, j)).sum::<f64>() / 24.0;
                let k = (day * NLAT + i) * NLON + j;
                assert!(
                    (got[k] - want).abs() < 1e-3,
                    "{day},{i},{j}: {} vs {want}",
                    got[k]
                );
            }
        }
    }
}

#[test]
fn plain_references_keep_their_metadata_and_integer_groups_become_labels() {
    let e = engine();
    run(
        &e,
        "CREATE ARRAY noon AS SELECT t2m FROM cube WHERE time = '2023-01-01T12:00:00Z'",
    );
    let d = describe(&e, "noon");
    assert!(
        d.iter().any(|r| r == &["metadata", "t2m", "units", "K"]),
        "{d:?}"
    );
    let r = query(&e, "SELECT t2m FROM noon WHERE lat = 51 AND lon = 5");
    assert!((values(&r)[0] - t2m(12, 1, 2)).abs() < 1e-4);

    // The maximum over three irregular hours per latitude (a regular dimension).
    run(
        &e,
        "CREATE ARRAY hours AS SELECT max(t2m) AS peak FROM cube
         WHERE time IN ('2023-01-01T00:00:00Z', '2023-01-01T01:00:00Z', '2023-01-01T05:00:00Z')
         GROUP BY lat",
    );
    let r = query(&e, "SELECT peak FROM hours");
    let want: Vec<f64> = (0..NLAT).map(|i| t2m(5, i, 0)).collect();
    for (g, w) in values(&r).iter().zip(&want) {
        assert!((g - w).abs() < 1e-4, "{g} vs {w}");
    }

    // Integer coordinates that are not evenly spaced become labels.
    run(&e, "CREATE ARRAY ids (id LABELS (10, 20, 35), v REAL)");
    run(&e, "INSERT INTO ids VALUES (10, 1.0), (20, 2.0), (35, 3.5)");
    run(&e, "CREATE ARRAY ids2 AS SELECT v * 2 AS w FROM ids");
    let d = describe(&e, "ids2");
    assert_eq!(d[0][2], "labels", "{d:?}");
    assert_eq!(d[0][3], "labels (10, 20, 35) length 3 growable");
    assert_eq!(
        values(&query(&e, "SELECT w FROM ids2 WHERE id = 35")),
        [7.0]
    );
}

#[test]
fn insert_select_appends_the_next_day_and_insert_values_sets_cells() {
    let e = engine();
    run(
        &e,
        "CREATE ARRAY copy AS SELECT t2m FROM cube WHERE time < '2023-01-02T00:00:00Z'",
    );
    let (msg, v) = run(
        &e,
        "INSERT INTO copy SELECT t2m FROM cube WHERE time >= '2023-01-02T00:00:00Z'",
    );
    assert_eq!(msg, "inserted 288 cells into 'copy'");
    assert_eq!(v, Some(2));
    let r = query(&e, "SELECT t2m FROM copy");
    assert_eq!(r.header.shape, [NT, NLAT, NLON]);
    for (k, g) in values(&r).iter().enumerate() {
        let (t, i, j) = (k / (NLAT * NLON), k / NLON % NLAT, k % NLON);
        assert!((g - t2m(t, i, j)).abs() < 1e-4, "{t},{i},{j}");
    }

    // Single cells, the time dimension growing past its end (hour 49: hour 48 stays
    // missing), NULL as the fill.
    let (msg, _) = run(
        &e,
        "INSERT INTO copy (time, lat, lon, t2m) VALUES
           ('2023-01-03T01:00:00Z', 50, 4.5, 300.5),
           ('2023-01-01T00:00:00Z', 52, 4, NULL)",
    );
    assert_eq!(msg, "inserted 2 cells into 'copy'");
    let r = query(
        &e,
        "SELECT t2m FROM copy WHERE lat = 50 AND lon = 4.5 AND time >= '2023-01-03T00:00:00Z'",
    );
    let got = values(&r);
    assert_eq!(got.len(), 2);
    assert!(got[0].is_nan() && got[1] == 300.5, "{got:?}");
    let r = query(
        &e,
        "SELECT t2m FROM copy WHERE lat = 52 AND lon = 4 AND time = '2023-01-01T00:00:00Z'",
    );
    assert!(values(&r)[0].is_nan());
}

#[test]
fn insert_values_appends_new_text_labels() {
    let e = Engine::new(Store::temporary().unwrap(), EngineConfig::default());
    run(
        &e,
        "CREATE ARRAY power (asset TEXT LABELS ('NL-1') GROWABLE,
           time TIMESTAMP START '2023-01-01T00:00:00Z' STEP '15 minutes' LENGTH 4, value REAL)",
    );
    run(
        &e,
        "INSERT INTO power VALUES ('NL-2', '2023-01-01T00:15:00Z', 2.5), ('NL-1', '2023-01-01T00:30:00Z', 1.5), ('NL-2', '2023-01-01T00:45:00Z', 3.5)",
    );
    let r = query(&e, "SELECT value FROM power");
    assert_eq!(r.header.shape, [2, 4]);
    let got = values(&r);
    let want = [
        f64::NAN,
        f64::NAN,
        1.5,
        f64::NAN,
        f64::NAN,
        2.5,
        f64::NAN,
        3.5,
    ];
    for (g, w) in got.iter().zip(want) {
        assert!(g == &w || (g.is_nan() && w.is_nan()), "{got:?}");
    }
}

#[test]
fn misuses_are_clear_errors() {
    let e = engine();
    let m = error(
        &e,
        "CREATE ARRAY x AS SELECT avg(t2m) FROM cube GROUP BY lat",
    );
    assert!(m.contains("column 'avg(t2m)' needs a name"), "{m}");
    let m = error(&e, "CREATE ARRAY x AS SELECT avg(t2m) AS m FROM cube");
    assert!(m.contains("returns a single value"), "{m}");
    let m = error(&e, "CREATE ARRAY cube AS SELECT t2m FROM cube");
    assert!(
        m.contains("line 1, column 14: array 'cube' already exists"),
        "{m}"
    );
    let m = error(&e, "CREATE ARRAY x AS SELECT t2m FROM cube WHERE time = '2023-01-01T00:00:00Z' AND lon IN (4, 4.5, 5.5)");
    assert!(
        m.contains("dimension 'lon': its coordinates are neither evenly spaced nor integers"),
        "{m}"
    );
    let m = error(
        &e,
        "CREATE ARRAY x AS SELECT t2m FROM cube WHERE time < '2022-01-01T00:00:00Z'",
    );
    assert!(m.contains("no cells"), "{m}");
    let m = error(&e, "INSERT INTO cube SELECT t2m FROM cube WHERE lat = 51");
    assert!(
        m.contains("dimensions (time, lon) must be the array's"),
        "{m}"
    );
    let m = error(
        &e,
        "INSERT INTO cube (time, lat, lon, t2n) VALUES ('2023-01-01T00:00:00Z', 52, 4, 1)",
    );
    assert!(m.contains("t2n") && m.contains("did you mean 't2m'"), "{m}");
    let m = error(
        &e,
        "INSERT INTO cube VALUES ('2023-01-01T00:00:00Z', 52.5, 4, 1)",
    );
    assert!(m.contains("coordinate 52.5 (not on its grid)"), "{m}");
    let m = error(
        &e,
        "INSERT INTO cube VALUES ('2023-01-01T00:00:00Z', 52, 4)",
    );
    assert!(m.contains("a row of 3 values for 4 columns"), "{m}");
    assert!(!e.store().list_arrays().contains(&"x".to_string()));
}

#[test]
fn an_hourly_climatology_is_stored_with_an_hour_dimension() {
    let e = engine();
    run(
        &e,
        "CREATE ARRAY clim AS
         SELECT extract(hour FROM time) AS hour, avg(t2m) AS t2m FROM cube GROUP BY hour, lat, lon",
    );
    let d = describe(&e, "clim");
    assert_eq!(d[0][1], "hour");
    // Calendar components are integer labels (the values present, ascending).
    assert_eq!(d[0][2], "labels");
    assert!(d[0][3].starts_with("labels (0, 1, 2,") && d[0][3].ends_with("length 24 growable"));
    let r = query(
        &e,
        "SELECT t2m FROM clim WHERE hour = 13 AND lat = 50 AND lon = 5.5",
    );
    let want = (t2m(13, 2, 3) + t2m(37, 2, 3)) / 2.0;
    assert!(
        (values(&r)[0] - want).abs() < 1e-4,
        "{:?} vs {want}",
        values(&r)
    );
}
