//! `arrayq load zarr` and `arrayq export zarr|netcdf` through a real `arrayqd`:
//! Zarr v2 and v3 stores written by xarray load to xarray's own decoding of them
//! (packing, fill values, CF time); a corrupt chunk is an error naming the store
//! and variable that leaves the array unchanged; exports of a time range, a scalar
//! aggregate and a GROUP BY open in xarray with the values, coordinates
//! (datetime64 time) xarray computes from the source store
//! (tests/reference/export_check.py).

use arrayq_tests::{
    arrayq_command, arrayq_ok, described_metadata, python, read_npy_f32, read_npy_f64,
    workspace_root, TestServer,
};
use std::path::Path;
use std::process::Command;

fn fails(addr: &str, args: &[&str]) -> String {
    let o = arrayq_command(addr).args(args).output().unwrap();
    assert!(!o.status.success(), "arrayq {args:?} succeeded");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_matches(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        if w.is_nan() {
            assert!(g.is_nan(), "{what}[{k}]: {g}, xarray reads a missing value");
        } else {
            // float32 of xarray's value: within half a float32 step.
            assert!(
                ((g as f64) - w).abs() <= 6e-8 * w.abs(),
                "{what}[{k}]: {g}, xarray {w}"
            );
        }
    }
}

fn python_ok(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(workspace_root().join("tests/reference").join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn zarr_stores_load_and_results_export_as_xarray_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let z = dir.path().join("z");
    std::fs::create_dir(&z).unwrap();
    let meta: serde_json::Value = serde_json::from_str(&python_ok(
        "zarr_make.py",
        &["--outdir", z.to_str().unwrap()],
    ))
    .unwrap();
    assert_eq!(meta["shape"], serde_json::json!([48, 8, 9]));
    let p = |n: &str| z.join(n).to_str().unwrap().to_string();
    let server = TestServer::start_in(dir.path());
    let addr = server.addr().to_string();

    for fmt in ["v2", "v3"] {
        let array = format!("cube_{fmt}");
        let loaded = arrayq_ok(
            &addr,
            &[
                "load",
                "zarr",
                &p(&format!("{fmt}.zarr")),
                "--array",
                &array,
            ],
        );
        assert!(
            loaded.contains(&format!(
                "into {array}: 48 x 8 x 9 (3 variables: sp, t2m, u10"
            )),
            "{loaded}"
        );
        let desc = arrayq_ok(&addr, &["-c", &format!("DESCRIBE {array}")]);
        assert!(
            desc.contains("start 2023-01-01T00:00:00Z step 1 hour length 48")
                && desc.contains("start 52 step -0.25 length 8")
                && desc.contains("start 3 step 0.25 length 9"),
            "{desc}"
        );
        // The store's text attributes became the array's metadata; the time
        // encoding (units, calendar) and the packing did not.
        assert_eq!(
            described_metadata(&addr, &array),
            [
                format!("{array},Conventions,CF-1.7"),
                "latitude,units,degrees_north".into(),
                "t2m,long_name,2 metre temperature".into(),
                "t2m,units,K".into(),
                "u10,long_name,10 metre U wind component".into(),
                "u10,units,m s**-1".into(),
            ]
        );
        for var in ["t2m", "u10", "sp"] {
            let out = dir.path().join(format!("{fmt}_{var}.npy"));
            let sql = format!("SELECT {var} FROM {array}");
            arrayq_ok(
                &addr,
                &["-c", &sql, "--format", "npy", "-o", out.to_str().unwrap()],
            );
            let got = read_npy_f32(&out).unwrap();
            assert_eq!(got.shape, [48, 8, 9]);
            let want = read_npy_f64(z.join(format!("expected_{fmt}_{var}.npy"))).unwrap();
            assert_matches(&format!("{fmt} {var}"), &got.data, &want.data);
        }
    }

    // A chunk cut in half, appended to a loaded array: the store and variable are
    // named, nothing is committed.
    let before = arrayq_ok(&addr, &["-c", "DESCRIBE cube_v3"]);
    let e = fails(
        &addr,
        &["load", "zarr", &p("corrupt.zarr"), "--array", "cube_v3"],
    );
    assert!(e.contains("corrupt.zarr") && e.contains("'t2m'"), "{e}");
    assert_eq!(arrayq_ok(&addr, &["-c", "DESCRIBE cube_v3"]), before);

    let ex = dir.path().join("ex");
    std::fs::create_dir(&ex).unwrap();
    let queries = [
        ("range", "SELECT t2m, u10 FROM cube_v3 WHERE time BETWEEN '2023-01-01T06:00:00Z' AND '2023-01-01T17:00:00Z'"),
        ("scalar", "SELECT avg(sp) AS mean_sp FROM cube_v3"),
        ("bytime", "SELECT avg(t2m) AS t2m_mean FROM cube_v3 GROUP BY time"),
    ];
    for (name, sql) in queries {
        for (ext, args) in [
            ("v2.zarr", vec!["export", "zarr", "--zarr-format", "2"]),
            ("v3.zarr", vec!["export", "zarr"]),
            ("nc", vec!["export", "netcdf"]),
        ] {
            let out = ex.join(format!("{name}.{ext}"));
            let mut a = args.clone();
            a.extend(["--query", sql, out.to_str().unwrap()]);
            let said = arrayq_ok(&addr, &a);
            assert!(said.starts_with("exported"), "{said}");
        }
    }
    let checked = python_ok(
        "export_check.py",
        &[
            "--source",
            &p("v3.zarr"),
            "--outdir",
            ex.to_str().unwrap(),
            "--attrs",
        ],
    );
    assert_eq!(checked.matches(": ok").count(), 9, "{checked}");

    // An existing output is refused, and a failed query leaves no output.
    let e = fails(
        &addr,
        &[
            "export",
            "zarr",
            "--query",
            "SELECT t2m FROM cube_v3",
            ex.join("range.v3.zarr").to_str().unwrap(),
        ],
    );
    assert!(e.contains("exists already"), "{e}");
    let missing = ex.join("missing.nc");
    fails(
        &addr,
        &[
            "export",
            "netcdf",
            "--query",
            "SELECT t2m FROM nosuch",
            missing.to_str().unwrap(),
        ],
    );
    assert!(!Path::new(&missing).exists());
}
