//! `FROM reproject(...)` against pyproj + scipy (the tools users would otherwise
//! use) on the ERA5 cube at scale XS: target cell centres agree with pyproj within
//! 1e-9 degrees, bilinear maps with `scipy.ndimage.map_coordinates(order=1)` within
//! 1e-4 relative, aggregates over reprojected maps with numpy's; EXPLAIN shows the
//! regrid step; bad arguments are errors at their position.

mod common;

use arrayq_query::{
    CoordValues, Engine, EngineConfig, Execution, QueryContext, QueryError, QueryResult,
};
use arrayq_regrid::{coord_map, Bounds, SourceGrid, TargetGrid, Transformer};
use arrayq_storage::Store;
use arrayq_tests::{python, workspace_root, write_npy_f32, write_npy_f64};
use arrayq_workload::{era5, Scale};
use serde_json::Value;
use std::process::Command;

const TMERC: &str = "+proj=tmerc +lon_0=15 +datum=WGS84";
const BOUNDS: [f64; 4] = [-2_020_000.0, 4_040_000.0, 1_400_000.0, 7_450_000.0];

fn engine() -> &'static Engine {
    common::xs_engine()
}

fn run(sql: &str) -> Result<QueryResult, QueryError> {
    match engine().execute(sql, &QueryContext::default())? {
        Execution::Rows(s) => s.collect_all(),
        _ => panic!("not a query: {sql}"),
    }
}

fn q7(method: &str, filter: &str) -> String {
    format!(
        "SELECT t2m FROM reproject(era5, crs => '{TMERC}', resolution => 10000, bounds => ({}, {}, {}, {}), method => '{method}') {filter}",
        BOUNDS[0], BOUNDS[1], BOUNDS[2], BOUNDS[3]
    )
}

/// Runs the pyproj + scipy reference over `maps` source maps (hours `hours`) and
/// arrayq's result of them.
fn reference(hours: std::ops::Range<usize>, ours: &[f32], shape: [usize; 3]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let cube = era5::cube(Scale::XS);
    let per = era5::N_LAT * era5::N_LON;
    let src = &cube.as_slice().unwrap()[hours.start * per..hours.end * per];
    let p = |n: &str| dir.path().join(n);
    write_npy_f32(p("src.npy"), &[hours.len(), era5::N_LAT, era5::N_LON], src).unwrap();
    write_npy_f32(p("ours.npy"), &shape, ours).unwrap();
    // arrayq's target cell centres: the coordinate map its queries use.
    let source = SourceGrid {
        y0: 72.0,
        dy: -0.25,
        ny: 153,
        x0: -25.0,
        dx: 0.25,
        nx: 281,
        geographic: true,
    };
    let b = Bounds {
        xmin: BOUNDS[0],
        ymin: BOUNDS[1],
        xmax: BOUNDS[2],
        ymax: BOUNDS[3],
    };
    let target = TargetGrid::covering(b, 10_000.0).unwrap();
    let (map, _) = coord_map(
        source,
        target,
        &Transformer::new(TMERC, "EPSG:4326").unwrap(),
    )
    .unwrap();
    let lonlat: Vec<f64> = map.src_x.iter().chain(&map.src_y).copied().collect();
    write_npy_f64(p("lonlat.npy"), &[2, target.ny, target.nx], &lonlat).unwrap();
    let out = Command::new(python())
        .arg(workspace_root().join("tests/reference/reproject_ref.py"))
        .args(["--src", p("src.npy").to_str().unwrap()])
        .args(["--grid", "72,-0.25,-25,0.25", "--crs", TMERC])
        .arg(format!(
            "--bounds={}",
            BOUNDS.map(|v| v.to_string()).join(",")
        ))
        .args(["--res", "10000"])
        .args(["--ours", p("ours.npy").to_str().unwrap()])
        .args(["--ours-lonlat", p("lonlat.npy").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reproject_ref.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn f32s(r: &QueryResult) -> Vec<f32> {
    r.columns[0]
        .to_f64_vec()
        .into_iter()
        .map(|v| v as f32)
        .collect()
}

#[test]
fn q7_one_map_matches_pyproj_and_scipy() {
    let r = run(&q7("bilinear", "WHERE time = '2023-01-01T12:00:00Z'")).unwrap();
    assert_eq!(r.header.dims, vec!["y", "x"]);
    assert_eq!(r.header.shape, vec![341, 342]);
    let want = reference(12..13, &f32s(&r), [1, 341, 342]);
    assert_eq!(want["shape"], serde_json::json!([341, 342]));
    let deg = want["max_deg_diff"].as_f64().unwrap();
    assert!(
        deg <= 1e-9,
        "target centres differ from pyproj's by {deg} degrees"
    );
    let rel = want["max_rel_diff"].as_f64().unwrap();
    assert!(
        rel <= 1e-4,
        "bilinear differs from scipy by {rel} (relative)"
    );
    assert_eq!(want["nan_differ"], 0, "cells NaN in one and not the other");
    assert!(want["compared"].as_u64().unwrap() > 100_000);
}

#[test]
fn a_day_of_maps_and_their_means_match_scipy() {
    let r = run(&q7("bilinear", "WHERE time < '2023-01-02T00:00:00Z'")).unwrap();
    assert_eq!(r.header.dims, vec!["time", "y", "x"]);
    assert_eq!(r.header.shape, vec![24, 341, 342]);
    let want = reference(0..24, &f32s(&r), [24, 341, 342]);
    assert!(want["max_rel_diff"].as_f64().unwrap() <= 1e-4);
    assert_eq!(want["nan_differ"], 0);
    // An aggregate over the reprojected maps: the mean of each map.
    let means = run(&q7(
        "bilinear",
        "WHERE time < '2023-01-02T00:00:00Z' GROUP BY time",
    )
    .replace("SELECT t2m", "SELECT time, avg(t2m)"))
    .unwrap();
    assert_eq!(means.header.dims, vec!["time"]);
    let got = means.columns[0].to_f64_vec();
    for (h, w) in want["means"].as_array().unwrap().iter().enumerate() {
        let w = w.as_f64().unwrap();
        assert!(
            (got[h] - w).abs() <= 1e-5 * w.abs(),
            "hour {h}: {} vs {w}",
            got[h]
        );
    }
}

#[test]
fn where_on_y_and_x_reads_a_window_of_the_target_grid() {
    let all = run(&q7("bilinear", "WHERE time = '2023-01-01T06:00:00Z'")).unwrap();
    let win = run(&q7(
        "bilinear",
        "WHERE time = '2023-01-01T06:00:00Z' AND y BETWEEN 5000000 AND 5500000 AND x BETWEEN 0 AND 300000",
    ))
    .unwrap();
    assert_eq!(win.header.shape, vec![50, 30]);
    // The window's cells are the whole map's cells at the same rows and columns:
    // y centres 5,495,000 .. 5,005,000 are rows 195 .. 244, x 5,000 .. 295,000 columns 202 .. 231.
    let (a, w) = (all.columns[0].to_f64_vec(), win.columns[0].to_f64_vec());
    for r in 0..50 {
        for c in 0..30 {
            assert_eq!(
                w[r * 30 + c].to_bits(),
                a[(195 + r) * 342 + 202 + c].to_bits()
            );
        }
    }
}

#[test]
fn explain_shows_the_regrid_step_its_source_box_and_the_transform_cache() {
    let sql = format!(
        "EXPLAIN {}",
        q7("cubic", "WHERE time = '2023-01-01T03:00:00Z'").replace("10000", "20000")
    );
    let text = |sql: &str| {
        engine()
            .explain(sql, false, &QueryContext::default())
            .unwrap()
            .text
    };
    let first = text(&sql);
    assert!(
        first.contains(
            "Regrid: era5 -> '+proj=tmerc +lon_0=15 +datum=WGS84', cubic, 171 x 171 cells"
        ),
        "{first}"
    );
    assert!(first.contains("transform: cache miss"), "{first}");
    assert!(first.contains("source box: lat "), "{first}");
    assert!(first.contains("Scan: era5"), "{first}");
    let second = text(&sql);
    assert!(second.contains("transform: cache hit"), "{second}");
    let analyzed = engine()
        .explain(&sql, true, &QueryContext::default())
        .unwrap()
        .text;
    assert!(analyzed.contains("Regrid"), "{analyzed}");
}

#[test]
fn bad_arguments_are_errors_at_their_position() {
    let err = |sql: &str| run(sql).unwrap_err().render(sql);
    let e = err("SELECT t2m FROM reproject(era5, crs => 'EPSG:3035', resolutoin => 10000)");
    assert!(
        e.contains("unknown reproject argument 'resolutoin'") && e.contains("line 1, column 53"),
        "{e}"
    );
    let e = err("SELECT t2m FROM reproject(era5, crs => '+proj=nonsense', resolution => 10000)");
    assert!(
        e.contains("PROJ cannot transform") && e.contains("line 1, column 40"),
        "{e}"
    );
    let e = err("SELECT t2m FROM reproject(era5, resolution => 10000)");
    assert!(e.contains("needs the target CRS"), "{e}");
    let e = err("SELECT t2m FROM reproject(era5, crs => 'EPSG:3035', resolution => 10000, method => 'lanczos')");
    assert!(e.contains("unknown reprojection method 'lanczos'"), "{e}");
    let e = err("SELECT t2m FROM reproject(era5, crs => 'EPSG:3035', resolution => -5)");
    assert!(e.contains("resolution must be a positive number"), "{e}");
    let e = err("SELECT t2m FROM reproject(era5, crs => 'EPSG:3035', resolution => 10000, dims => ('y', 'x'))");
    assert!(e.contains("has no dimension 'y'"), "{e}");
    let e = err("SELECT t2m FROM reproject(era5, crs => 'EPSG:3035', resolution => 1)");
    assert!(e.contains("over the limit"), "{e}");
}

#[test]
fn default_bounds_cover_the_transformed_source_snapped_outward() {
    // EPSG:3035 (LAEA Europe) at 50 km: the grid covers every source cell centre.
    let r = run("SELECT t2m FROM reproject(era5, crs => 'EPSG:3035', resolution => 50000) WHERE time = '2023-01-01T00:00:00Z'").unwrap();
    assert_eq!(r.header.dims, vec!["y", "x"]);
    let numbers = |c: &CoordValues| match c {
        CoordValues::Numbers(v) => v.clone(),
        other => panic!("{other:?}"),
    };
    let (y, x) = (numbers(&r.header.coords[0]), numbers(&r.header.coords[1]));
    // Cell centres sit half a cell inside edges that are multiples of 50 km.
    for v in [x[0], y[0]] {
        assert_eq!((v - 25_000.0).rem_euclid(50_000.0), 0.0, "centre {v}");
    }
    assert!(y[0] > y[1] && x[1] > x[0]);
}

#[test]
fn projected_source_with_src_crs_and_dims_to_lat_lon() {
    // A field on a 10 km LAEA Europe grid (EPSG:3035), dimensions named northing and
    // easting, reprojected to a 0.1 degree lat/lon grid: each cell against the exact
    // field at its centre.
    let smooth = |lat: f64, lon: f64| (2.0 * lat.to_radians()).sin() * lon.to_radians().cos();
    let store = Store::temporary().unwrap();
    let engine = Engine::new(store, EngineConfig::default());
    let exec = |sql: &str| match engine.execute(sql, &QueryContext::default()) {
        Ok(Execution::Rows(s)) => s
            .collect_all()
            .unwrap_or_else(|e| panic!("{}", e.render(sql))),
        Ok(_) => panic!("not a query"),
        Err(e) => panic!("{}", e.render(sql)),
    };
    engine
        .execute(
            "CREATE ARRAY laea (northing DOUBLE START 4000000 STEP -10000 LENGTH 221, \
             easting DOUBLE START 3000000 STEP 10000 LENGTH 251, f DOUBLE)",
            &QueryContext::default(),
        )
        .unwrap();
    let mut pts: Vec<(f64, f64)> = (0..221)
        .flat_map(|i| {
            (0..251).map(move |j| {
                (
                    3_000_000.0 + 10_000.0 * j as f64,
                    4_000_000.0 - 10_000.0 * i as f64,
                )
            })
        })
        .collect();
    Transformer::new("EPSG:3035", "EPSG:4326")
        .unwrap()
        .transform(&mut pts)
        .unwrap();
    let values: Vec<f64> = pts.iter().map(|&(lon, lat)| smooth(lat, lon)).collect();
    let mut tx = engine.store().begin_write("laea").unwrap();
    tx.write(
        "f",
        &[0, 0],
        arrayq_storage::Buffer::F64(
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[221, 251]), values).unwrap(),
        ),
    )
    .unwrap();
    tx.commit().unwrap();
    let r = exec(
        "SELECT f FROM reproject(laea, src_crs => 'EPSG:3035', dims => ('northing', 'easting'), \
         crs => 'EPSG:4326', resolution => 0.1, bounds => (0, 45, 20, 55))",
    );
    assert_eq!(r.header.dims, vec!["y", "x"]);
    assert_eq!(r.header.shape, vec![100, 200]);
    let got = r.columns[0].to_f64_vec();
    let mut max = 0.0f64;
    for (k, g) in got.iter().enumerate() {
        let (row, col) = (k / 200, k % 200);
        let (lat, lon) = (55.0 - 0.1 * (row as f64 + 0.5), 0.1 * (col as f64 + 0.5));
        assert!(g.is_finite(), "cell ({row}, {col}) is missing");
        max = max.max((g - smooth(lat, lon)).abs());
    }
    assert!(max < 1e-4, "max error {max}");
}

#[test]
fn like_takes_the_grid_of_another_array() {
    engine()
        .execute(
            "CREATE ARRAY grid10km (y DOUBLE START 7445000 STEP -10000 LENGTH 341, \
             x DOUBLE START -2015000 STEP 10000 LENGTH 342, v REAL)",
            &QueryContext::default(),
        )
        .unwrap();
    let like = run(&format!(
        "SELECT t2m FROM reproject(era5, crs => '{TMERC}', like => grid10km) WHERE time = '2023-01-01T07:00:00Z'"
    ))
    .unwrap();
    assert_eq!(like.header.shape, vec![341, 342]);
    // The grid of grid10km's own coordinates, by its formula.
    match (&like.header.coords[0], &like.header.coords[1]) {
        (CoordValues::Numbers(y), CoordValues::Numbers(x)) => {
            assert!(y
                .iter()
                .enumerate()
                .all(|(r, &v)| v == 7_445_000.0 - 10_000.0 * r as f64));
            assert!(x
                .iter()
                .enumerate()
                .all(|(c, &v)| v == -2_015_000.0 + 10_000.0 * c as f64));
        }
        other => panic!("{other:?}"),
    }
    let bounds = run(&q7("bilinear", "WHERE time = '2023-01-01T07:00:00Z'")).unwrap();
    assert_eq!(like.header.coords, bounds.header.coords);
    let (a, b) = (like.columns[0].to_f64_vec(), bounds.columns[0].to_f64_vec());
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    let e = run(&format!(
        "SELECT t2m FROM reproject(era5, crs => '{TMERC}', like => era5)"
    ))
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("needs regular dimensions 'y' (descending) and 'x'"),
        "{e}"
    );
}

#[test]
fn integer_attributes_become_float64_with_fill_values_missing() {
    // An identity reprojection (EPSG:4326 to itself on the source's own cells) with
    // nearest: every cell comes back as it is, as float64, the fill value as NaN.
    let engine = Engine::new(Store::temporary().unwrap(), EngineConfig::default());
    engine
        .execute(
            "CREATE ARRAY g (lat DOUBLE START 50 STEP -1 LENGTH 5, lon DOUBLE START 0 STEP 1 LENGTH 5, \
             v SMALLINT FILL -999)",
            &QueryContext::default(),
        )
        .unwrap();
    let mut values: Vec<i16> = (0..25).map(|k| (k / 5) * 10 + k % 5).collect();
    values[12] = -999;
    let mut tx = engine.store().begin_write("g").unwrap();
    tx.write(
        "v",
        &[0, 0],
        arrayq_storage::Buffer::I16(
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[5, 5]), values.clone()).unwrap(),
        ),
    )
    .unwrap();
    tx.commit().unwrap();
    let sql = "SELECT v FROM reproject(g, crs => 'EPSG:4326', resolution => 1, \
               bounds => (-0.5, 45.5, 4.5, 50.5), method => 'nearest')";
    let r = match engine.execute(sql, &QueryContext::default()).unwrap() {
        Execution::Rows(s) => s.collect_all().unwrap(),
        _ => unreachable!(),
    };
    assert_eq!(r.header.columns[0].1, arrayq_storage::DType::F64);
    assert_eq!(r.header.shape, vec![5, 5]);
    let got = r.columns[0].to_f64_vec();
    for (k, v) in values.iter().enumerate() {
        if *v == -999 {
            assert!(got[k].is_nan(), "the fill value came back as {}", got[k]);
        } else {
            assert_eq!(got[k], *v as f64, "cell {k}");
        }
    }
}
