//! Q7 (one ERA5 map reprojected to a 10 km transverse Mercator grid) through a real
//! `arrayqd` and the `arrayq` shell: `--format npy` against pyproj + scipy
//! (`tests/reference/reproject_ref.py`), `--format json` coordinates against the
//! grid's formula.

use arrayq_tests::{arrayq_ok, python, read_npy_f32, run_reference, workspace_root, TestServer};
use std::process::Command;

const Q7: &str = "SELECT t2m FROM reproject(era5, crs => '+proj=tmerc +lon_0=15 +datum=WGS84', \
    resolution => 10000, bounds => (-2020000, 4040000, 1400000, 7450000), method => 'bilinear') \
    WHERE time = '2023-01-01T12:00:00Z'";

#[test]
fn q7_streams_through_grpc_and_the_shell_and_matches_scipy() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path());
    let addr = server.addr().to_string();
    arrayq_ok(&addr, &["demo", "era5", "--scale", "XS", "--name", "era5"]);

    let ours = dir.path().join("q7.npy");
    arrayq_ok(
        &addr,
        &["-c", Q7, "--format", "npy", "-o", ours.to_str().unwrap()],
    );
    let got = read_npy_f32(&ours).unwrap();
    assert_eq!(got.shape, [341, 342]);

    let cube = dir.path().join("cube.npy");
    let r = run_reference(&["--era5", "XS", "--out", cube.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let out = Command::new(python())
        .arg(workspace_root().join("tests/reference/reproject_ref.py"))
        .args(["--src", cube.to_str().unwrap(), "--maps", "12:13"])
        .args(["--grid", "72,-0.25,-25,0.25"])
        .args(["--crs", "+proj=tmerc +lon_0=15 +datum=WGS84"])
        .args([
            "--bounds=-2020000,4040000,1400000,7450000",
            "--res",
            "10000",
        ])
        .args(["--ours", ours.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reproject_ref.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rel = want["max_rel_diff"].as_f64().unwrap();
    assert!(rel <= 1e-4, "arrayq differs from scipy by {rel} (relative)");
    assert_eq!(want["nan_differ"], 0);
    assert!(want["compared"].as_u64().unwrap() > 100_000);

    // JSON: y from the top, x from the left, cell centres in metres.
    let window = Q7.replace(
        "WHERE",
        "WHERE y BETWEEN 7400000 AND 7450000 AND x BETWEEN -2020000 AND -2000000 AND",
    );
    let j: serde_json::Value =
        serde_json::from_str(arrayq_ok(&addr, &["-c", &window, "--format", "json"]).trim())
            .unwrap();
    assert_eq!(j["dims"], serde_json::json!(["y", "x"]));
    assert_eq!(
        j["coords"]["y"],
        serde_json::json!([7445000.0, 7435000.0, 7425000.0, 7415000.0, 7405000.0])
    );
    assert_eq!(
        j["coords"]["x"],
        serde_json::json!([-2015000.0, -2005000.0])
    );
}
