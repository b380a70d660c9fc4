//! `arrayq demo era5 --scale XS` against a real `arrayqd`: the cube is
//! generated in the client, loaded over gRPC, and queried with `arrayq -c`;
//! the answers are checked against the independent numpy reference
//! (`tests/reference/workload_ref.py`).
//!
//! Uses the `arrayq` and `arrayqd` binaries next to this test's executable
//! (target/debug), building them first if they are missing.

use std::process::Output;

use arrayq_tests::{arrayq_command, read_npy_f32, run_reference, ulp_diff, TestServer};
use arrayq_workload::era5;

/// `arrayqd` on 127.0.0.1:0 with a temporary store; killed on drop.
struct Server {
    _server: TestServer,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::builder(dir.path().join("data"))
            .clean_env()
            .log_file(dir.path().join("server.log"))
            .start()
            .unwrap_or_else(|e| panic!("{e}"));
        Server {
            addr: server.addr().to_string(),
            _server: server,
            _dir: dir,
        }
    }

    fn arrayq(&self, args: &[&str]) -> Output {
        arrayq_command(&self.addr)
            .args(args)
            .output()
            .expect("cannot run arrayq")
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.arrayq(args);
        assert!(
            o.status.success(),
            "arrayq {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn json(&self, sql: &str) -> serde_json::Value {
        serde_json::from_str(self.ok(&["-c", sql, "--format", "json"]).trim()).expect("JSON")
    }
}

#[test]
fn demo_era5_xs_matches_numpy() {
    let s = Server::start();
    let out = s.ok(&[
        "demo", "era5", "--scale", "XS", "--name", "cube", "--chunks", "12,50,50",
    ]);
    assert!(
        out.contains("loaded cube: time=48 x lat=153 x lon=281"),
        "{out}"
    );
    let desc = s.ok(&["-c", "DESCRIBE cube"]);
    assert!(desc.contains("| (12, 50, 50) "), "{desc}");
    assert!(
        desc.contains("start 2023-01-01T00:00:00Z step 1 hour length 48"),
        "{desc}"
    );
    // Loading again needs --replace.
    let again = s.arrayq(&["demo", "era5", "--scale", "XS", "--name", "cube"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--replace"));

    // The mean of the whole cube (Q6 of the reference, float64).
    let refq = run_reference(&["--era5", "XS", "--queries"]);
    assert!(
        refq.status.success(),
        "{}",
        String::from_utf8_lossy(&refq.stderr)
    );
    let expected: serde_json::Value = serde_json::from_slice(&refq.stdout).unwrap();
    let q6 = expected["Q6"].as_f64().unwrap();
    let j = s.json("SELECT avg(t2m) FROM cube");
    assert_eq!(j["dims"], serde_json::json!([]));
    let got = j["values"].as_object().unwrap().values().next().unwrap()[0]
        .as_f64()
        .unwrap();
    assert!(
        ((got - q6) / q6).abs() < 1e-9,
        "avg(t2m) = {got}, numpy says {q6}"
    );

    // A slab of raw values against the numpy cube, cell by cell.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cube.npy");
    let r = run_reference(&["--era5", "XS", "--out", path.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let cube = read_npy_f32(&path).unwrap();
    let (nlat, nlon) = (era5::N_LAT, era5::N_LON);
    let j = s.json(
        "SELECT t2m FROM cube WHERE time BETWEEN '2023-01-02T05:00:00Z' AND '2023-01-02T06:00:00Z' \
         AND lat BETWEEN 50 AND 51",
    );
    assert_eq!(j["dims"], serde_json::json!(["time", "lat", "lon"]));
    assert_eq!(j["shape"], serde_json::json!([2, 5, nlon]));
    let times = j["coords"]["time"].as_array().unwrap();
    assert_eq!(times[0], "2023-01-02T05:00:00Z");
    let lats: Vec<f64> = j["coords"]["lat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let lons: Vec<f64> = j["coords"]["lon"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let values = j["values"]["t2m"].as_array().unwrap();
    let mut k = 0;
    for h in [29usize, 30] {
        for &la in &lats {
            let i = ((era5::LAT0 - la) / 0.25).round() as usize;
            for &lo in &lons {
                let jj = ((lo - era5::LON0) / 0.25).round() as usize;
                let want = cube.data[(h * nlat + i) * nlon + jj];
                let got = values[k].as_f64().unwrap() as f32;
                assert!(
                    ulp_diff(got, want) <= 1,
                    "t2m[{h}, {la}, {lo}]: arrayq {got}, numpy {want}"
                );
                k += 1;
            }
        }
    }
    assert_eq!(k, values.len());
}
