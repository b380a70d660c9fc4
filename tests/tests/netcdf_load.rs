//! `arrayq load netcdf` against files written by netCDF4-python, through a real
//! `arrayqd`: the loaded values against xarray's decoding of the same files
//! (packing, fill and missing values, CF time, a NetCDF-3 file, files given out of
//! order); overlaps, gaps and a truncated file are errors naming the files and
//! leave the store unchanged.

use arrayq_tests::{
    arrayq_command, arrayq_ok, described_metadata, python, read_npy_f32, read_npy_f64,
    workspace_root, TestServer,
};
use std::path::Path;
use std::process::{Command, Output};

fn arrayq(addr: &str, args: &[&str]) -> Output {
    arrayq_command(addr)
        .args(args)
        .output()
        .expect("cannot run arrayq")
}

fn fails(addr: &str, args: &[&str]) -> String {
    let o = arrayq(addr, args);
    assert!(!o.status.success(), "arrayq {args:?} succeeded");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn query_npy(addr: &str, sql: &str, dir: &Path, name: &str) -> arrayq_tests::Npy<f32> {
    let out = dir.join(name);
    arrayq_ok(
        addr,
        &["-c", sql, "--format", "npy", "-o", out.to_str().unwrap()],
    );
    read_npy_f32(&out).unwrap()
}

fn assert_matches(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        if w.is_nan() {
            assert!(g.is_nan(), "{what}[{k}]: {g}, xarray reads a missing value");
        } else {
            assert!(
                ((g as f64) - w).abs() <= 1e-6 * w.abs(),
                "{what}[{k}]: {g}, xarray {w}"
            );
        }
    }
}

#[test]
fn netcdf_files_load_as_xarray_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let nc = dir.path().join("nc");
    std::fs::create_dir(&nc).unwrap();
    let out = Command::new(python())
        .arg(workspace_root().join("tests/reference/netcdf_make.py"))
        .args(["--outdir", nc.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "netcdf_make.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = |n: &str| nc.join(n).to_str().unwrap().to_string();

    let server = TestServer::start_in(dir.path());
    let addr = server.addr().to_string();

    // Overlapping files: an error naming both, and no array.
    let e = fails(
        &addr,
        &[
            "load",
            "netcdf",
            &f("day1.nc"),
            &f("overlap.nc"),
            &f("day2.nc"),
            "--array",
            "cube",
        ],
    );
    assert!(
        e.contains("overlap in time") && e.contains("overlap.nc"),
        "{e}"
    );
    // A gap without --allow-gaps.
    let e = fails(
        &addr,
        &[
            "load",
            "netcdf",
            &f("day4_classic.nc"),
            &f("day6.nc"),
            "--array",
            "cube",
        ],
    );
    assert!(
        e.contains("missing between") && e.contains("day6.nc") && e.contains("--allow-gaps"),
        "{e}"
    );
    // A truncated file.
    let e = fails(
        &addr,
        &["load", "netcdf", &f("truncated.nc"), "--array", "cube"],
    );
    assert!(e.contains("truncated.nc"), "{e}");
    assert!(arrayq_ok(&addr, &["-c", "SHOW ARRAYS"])
        .lines()
        .all(|l| !l.contains("cube")));

    // Four days, given out of order, one of them NetCDF-3.
    let loaded = arrayq_ok(
        &addr,
        &[
            "load",
            "netcdf",
            &f("day3.nc"),
            &f("day1.nc"),
            &f("day4_classic.nc"),
            &f("day2.nc"),
            "--array",
            "cube",
            "--rename",
            "valid_time=time",
            "--chunks",
            "24,5,6",
        ],
    );
    assert!(
        loaded.contains("loaded 4 files into cube: 96 x 10 x 12"),
        "{loaded}"
    );
    let desc = arrayq_ok(&addr, &["-c", "DESCRIBE cube"]);
    assert!(
        desc.contains("start 2023-01-01T00:00:00Z step 1 hour length 96"),
        "{desc}"
    );
    assert_eq!(meta["shape"], serde_json::json!([96, 10, 12]));
    // The files' text attributes became the array's metadata (under the renamed
    // dimension's name); the time encoding (units, calendar) and packing did not.
    assert_eq!(
        described_metadata(&addr, "cube"),
        [
            "cube,Conventions,CF-1.7",
            "time,long_name,time",
            "latitude,units,degrees_north",
            "longitude,units,degrees_east",
            "t2m,long_name,2 metre temperature",
            "t2m,standard_name,air_temperature",
            "t2m,units,K",
        ]
    );
    let t2m = query_npy(&addr, "SELECT t2m FROM cube", dir.path(), "t2m.npy");
    assert_eq!(t2m.shape, [96, 10, 12]);
    let want = read_npy_f64(nc.join("expected_t2m.npy")).unwrap();
    assert_matches("t2m", &t2m.data, &want.data);
    let u10 = query_npy(&addr, "SELECT u10 FROM cube", dir.path(), "u10.npy");
    assert_matches(
        "u10",
        &u10.data,
        &read_npy_f64(nc.join("expected_u10.npy")).unwrap().data,
    );
    let lat = arrayq_ok(&addr, &["-c", "SELECT t2m FROM cube WHERE time = '2023-01-01T05:00:00Z' AND latitude = 48.5 AND longitude = 4.0", "--format", "csv"]);
    assert!(lat.lines().count() == 2, "{lat}");

    // A truncated file appended to the loaded array: an error, the array unchanged.
    let before = arrayq_ok(&addr, &["-c", "DESCRIBE cube"]);
    let e = fails(
        &addr,
        &[
            "load",
            "netcdf",
            &f("truncated.nc"),
            "--array",
            "cube",
            "--rename",
            "valid_time=time",
        ],
    );
    assert!(e.contains("truncated.nc"), "{e}");
    assert_eq!(arrayq_ok(&addr, &["-c", "DESCRIBE cube"]), before);

    // A file whose header and coordinates read but one data chunk does not: the
    // load fails while streaming (after the first pass accepted the file), names
    // the file, and commits nothing.
    assert_eq!(meta["corrupt_chunk"], serde_json::json!(true), "{meta}");
    let e = fails(
        &addr,
        &[
            "load",
            "netcdf",
            &f("day5_corrupt.nc"),
            "--array",
            "cube",
            "--rename",
            "valid_time=time",
        ],
    );
    assert!(e.contains("day5_corrupt.nc"), "{e}");
    assert_eq!(arrayq_ok(&addr, &["-c", "DESCRIBE cube"]), before);

    // The day after the gap, with --allow-gaps: day 5 reads as missing.
    arrayq_ok(
        &addr,
        &[
            "load",
            "netcdf",
            &f("day4_classic.nc"),
            &f("day6.nc"),
            "--array",
            "gappy",
            "--allow-gaps",
        ],
    );
    let g = query_npy(&addr, "SELECT t2m FROM gappy", dir.path(), "gappy.npy");
    assert_eq!(g.shape, [72, 10, 12]);
    let day5 = &g.data[24 * 120..48 * 120];
    assert!(day5.iter().all(|v| v.is_nan()));
    let day4 = &g.data[..24 * 120];
    assert_matches("day 4", day4, &want.data[72 * 120..96 * 120]);
}
