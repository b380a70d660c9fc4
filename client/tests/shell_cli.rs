//! The `arrayq` binary against a real `arrayqd`: -c / -f / stdin scripts,
//! the output formats, errors with carets and exit codes, `load npy`,
//! tokens and TLS.

mod common;

use std::io::Write;
use std::process::Stdio;

use arrayq_client::npy::{read_npy, write_npy};
use arrayq_client::DType;
use common::{stderr, stdout, Server};

const CREATE_T: &str = "CREATE ARRAY t (time TIMESTAMP START '2023-01-01T00:00:00Z' STEP '1 hour' \
                        LENGTH 3 GROWABLE, x INT START 10 STEP 5 LENGTH 4, v REAL, n BIGINT)";

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i64_bytes(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `t` with v = 0.5 * i (NaN at cell 1) and n = 100 + i over its 3 x 4 cells.
fn setup_t(s: &Server) -> (Vec<f32>, Vec<i64>) {
    assert!(s
        .ok(&["-c", CREATE_T])
        .contains("| created array 't' | t     |       0"));
    let v: Vec<f32> = (0..12)
        .map(|i| if i == 1 { f32::NAN } else { i as f32 * 0.5 })
        .collect();
    let n: Vec<i64> = (0..12).map(|i| 100 + i).collect();
    let vf = s.dir.path().join("v.npy");
    let nf = s.dir.path().join("n.npy");
    write_npy(
        std::fs::File::create(&vf).unwrap(),
        DType::F32,
        &[3, 4],
        &f32_bytes(&v),
    )
    .unwrap();
    write_npy(
        std::fs::File::create(&nf).unwrap(),
        DType::I64,
        &[3, 4],
        &i64_bytes(&n),
    )
    .unwrap();
    let out = s.ok(&[
        "load",
        "npy",
        vf.to_str().unwrap(),
        "--array",
        "t",
        "--attr",
        "v",
    ]);
    assert!(
        out.contains("wrote 12 cells of t.v at [0, 0], version 1"),
        "{out}"
    );
    let out = s.ok(&[
        "load",
        "npy",
        nf.to_str().unwrap(),
        "--array",
        "t",
        "--attr",
        "n",
    ]);
    assert!(out.contains("version 2"), "{out}");
    (v, n)
}

#[test]
fn output_formats() {
    let s = Server::start();
    let (v, n) = setup_t(&s);

    // JSON: one object, coordinates and row-major values, NaN as null.
    let out = s.ok(&["-c", "SELECT v, n FROM t", "--format", "json"]);
    let j: serde_json::Value = serde_json::from_str(out.trim()).expect("valid JSON");
    assert_eq!(j["dims"], serde_json::json!(["time", "x"]));
    assert_eq!(j["shape"], serde_json::json!([3, 4]));
    assert_eq!(
        j["coords"]["time"],
        serde_json::json!([
            "2023-01-01T00:00:00Z",
            "2023-01-01T01:00:00Z",
            "2023-01-01T02:00:00Z"
        ])
    );
    assert_eq!(
        j["coords"]["x"],
        serde_json::json!([10.0, 15.0, 20.0, 25.0])
    );
    let jv = j["values"]["v"].as_array().unwrap();
    assert_eq!(jv.len(), 12);
    assert!(jv[1].is_null());
    for (i, x) in v.iter().enumerate().filter(|(i, _)| *i != 1) {
        assert_eq!(jv[i].as_f64().unwrap() as f32, *x);
    }
    let jn: Vec<i64> = j["values"]["n"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert_eq!(jn, n);

    // A scalar: dims [] and one value.
    let out = s.ok(&["-c", "SELECT sum(n) FROM t", "--format", "json"]);
    let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(j["dims"], serde_json::json!([]));
    assert_eq!(j["shape"], serde_json::json!([]));
    assert_eq!(j["coords"], serde_json::json!({}));
    let vals = j["values"].as_object().unwrap();
    assert_eq!(vals.len(), 1);
    let total: i64 = n.iter().sum();
    assert_eq!(
        vals.values().next().unwrap()[0].as_f64().unwrap(),
        total as f64
    );

    // CSV.
    let out = s.ok(&["-c", "SELECT v FROM t WHERE x = 15", "--format", "csv"]);
    assert_eq!(
        out,
        "time,v\n2023-01-01T00:00:00Z,NaN\n2023-01-01T01:00:00Z,2.5\n2023-01-01T02:00:00Z,4.5\n"
    );

    // Table.
    let out = s.ok(&["-c", "SELECT v FROM t WHERE x = 15"]);
    assert!(out.contains(" 2023-01-01T00:00:00Z | NaN\n"), "{out}");
    assert!(out.contains("(3 rows)"), "{out}");

    // npy into a file, read back.
    let file = s.dir.path().join("out.npy");
    let o = s.run(&[
        "-c",
        "SELECT v FROM t",
        "--format",
        "npy",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        o.stdout.is_empty(),
        "npy to a file prints nothing on stdout"
    );
    let a = read_npy(std::fs::File::open(&file).unwrap()).unwrap();
    assert_eq!(a.shape, vec![3, 4]);
    assert_eq!(a.dtype, DType::F32);
    assert_eq!(a.data, f32_bytes(&v));

    // npy on stdout: two columns make a structured array.
    let o = s.run(&["-c", "SELECT v, n FROM t", "--format", "npy"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let raw = o.stdout;
    assert!(raw.starts_with(b"\x93NUMPY\x01\x00"));
    let hlen = u16::from_le_bytes([raw[8], raw[9]]) as usize;
    let header = std::str::from_utf8(&raw[10..10 + hlen]).unwrap();
    assert!(header.contains("[('v', '<f4'), ('n', '<i8')"), "{header}");
    assert!(header.contains("'shape': (3, 4,"), "{header}");
    let data = &raw[10 + hlen..];
    assert_eq!(data.len(), 12 * 12);
    let n5 = i64::from_le_bytes(data[5 * 12 + 4..5 * 12 + 12].try_into().unwrap());
    assert_eq!(n5, 105);

    // -o with a text format.
    let file = s.dir.path().join("out.csv");
    let o = s.run(&[
        "-c",
        "SELECT n FROM t WHERE time = '2023-01-01T02:00:00Z'",
        "--format",
        "csv",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "x,n\n10,108\n15,109\n20,110\n25,111\n"
    );

    // Catalog answers are results like any other: JSON with one column per field,
    // the array names as strings; CSV quoting fields with commas; no .npy form.
    let out = s.ok(&["-c", "SHOW ARRAYS", "--format", "json"]);
    let j: serde_json::Value = serde_json::from_str(out.trim()).expect("valid JSON");
    assert_eq!(j["dims"], serde_json::json!(["row"]));
    assert_eq!(j["shape"], serde_json::json!([1]));
    assert_eq!(j["coords"]["row"], serde_json::json!([0]));
    assert_eq!(
        j["values"],
        serde_json::json!({
            "name": ["t"],
            "dimensions": ["time(3), x(4)"],
            "attributes": ["v f32, n i64"],
            "layouts": ["primary"],
            "version": ["2"],
        })
    );
    let out = s.ok(&["-c", "SHOW ARRAYS", "--format", "csv"]);
    assert_eq!(
        out,
        "row,name,dimensions,attributes,layouts,version\n0,t,\"time(3), x(4)\",\"v f32, n i64\",primary,2\n"
    );
    let o = s.run(&["-c", "SHOW ARRAYS", "--format", "npy"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("column 'name' holds text, which .npy cannot hold"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn scripts_errors_and_exit_codes() {
    let s = Server::start();
    let script = "-- a script\n\
                  CREATE ARRAY s (i INT START 0 STEP 1 LENGTH 2, a REAL);\n\
                  SHOW ARRAYS;\n\
                  SELECT a\n  FROM s\n WHERE i >> 1;\n\
                  DESCRIBE s;\n";
    let path = s.dir.path().join("s.sql");
    std::fs::write(&path, script).unwrap();
    let o = s.run(&["-f", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("| created array 's' | s     |       0"),
        "{out}"
    );
    // SHOW ARRAYS: a table with a row per array.
    assert!(
        out.contains("   0 | s    | i(2)       | a f32      | primary |"),
        "{out}"
    );
    assert!(
        !out.contains("| dimension "),
        "the script stops at the error: {out}"
    );
    // The error points into line 6 of the file, with a caret under it.
    let err = stderr(&o);
    let prefix = format!("{}:6:", path.display());
    assert!(err.starts_with(&prefix), "{err}");
    let col: usize = err[prefix.len()..]
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(err.contains("ERROR:  INVALID_ARGUMENT:"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines[1], "LINE 6:  WHERE i >> 1;", "{err}");
    assert_eq!(
        lines[2].find('^'),
        Some("LINE 6: ".len() + col - 1),
        "{err}"
    );
    assert!((9..=12).contains(&col), "caret near '>>': {err}");

    // -c: caret relative to the command text.
    let o = s.run(&["-c", "SELECT a FRM s"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.starts_with("ERROR:  INVALID_ARGUMENT: "), "{err}");
    assert!(err.contains("\nLINE 1: SELECT a FRM s\n"), "{err}");
    assert!(err.trim_end().ends_with('^'), "{err}");

    // Errors without a position.
    let o = s.run(&["-c", "SELECT nope FROM s"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));
    let o = s.run(&["-c", "DESCRIBE missing"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("NOT_FOUND"), "{}", stderr(&o));
    let o = s.run(&["-c", "DROP ARRAY IF EXISTS missing"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // A script on standard input (not a terminal).
    let mut child = s
        .arrayq()
        .args(["--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT a FROM s;\nSELECT a FROM s WHERE i = 1;\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "i,a\n0,NaN\n1,NaN\na\nNaN\n");

    // Nothing listening: exit status 2.
    let o = s
        .arrayq()
        .env("ARRAYQ_ADDR", "127.0.0.1:1")
        .args(["-c", "SHOW ARRAYS"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot connect"), "{}", stderr(&o));
}

#[test]
fn load_npy_regions_and_conversions() {
    let s = Server::start();
    s.ok(&[
        "-c",
        "CREATE ARRAY c (time TIMESTAMP START '2023-01-01T00:00:00Z' STEP '1 hour' LENGTH 2 GROWABLE, \
         lat REAL START 10 STEP 1 LENGTH 3, lon REAL START 0 STEP 1 LENGTH 4, k INT)",
    ]);
    // A 2-D map (f64) into the 3-D cube at time index 2: converted to i32,
    // and the growable time dimension grows to 3.
    let map: Vec<f64> = (0..12).map(|i| i as f64 * 2.0).collect();
    let file = s.dir.path().join("map.npy");
    let bytes: Vec<u8> = map.iter().flat_map(|x| x.to_le_bytes()).collect();
    write_npy(
        std::fs::File::create(&file).unwrap(),
        DType::F64,
        &[3, 4],
        &bytes,
    )
    .unwrap();
    let o = s.run(&[
        "load",
        "npy",
        file.to_str().unwrap(),
        "--array",
        "c",
        "--attr",
        "k",
        "--start",
        "2,0,0",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("wrote 12 cells of c.k at [2, 0, 0]"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("converting f64 values to i32"),
        "{}",
        stderr(&o)
    );
    let out = s.ok(&["-c", "SHOW ARRAYS"]);
    assert!(out.contains("time(3), lat(3), lon(4)"), "{out}");
    let out = s.ok(&[
        "-c",
        "SELECT k FROM c WHERE time = '2023-01-01T02:00:00Z' AND lat = 11",
        "--format",
        "json",
    ]);
    let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(j["values"]["k"], serde_json::json!([8, 10, 12, 14]));

    // Errors: unknown attribute, too many dimensions, wrong --start, not npy.
    let o = s.run(&[
        "load",
        "npy",
        file.to_str().unwrap(),
        "--array",
        "c",
        "--attr",
        "zz",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no attribute 'zz' (attributes: k)"),
        "{}",
        stderr(&o)
    );
    let o = s.run(&[
        "load",
        "npy",
        file.to_str().unwrap(),
        "--array",
        "c",
        "--attr",
        "k",
        "--start",
        "0,0",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--start has 2 entries"),
        "{}",
        stderr(&o)
    );
    let o = s.run(&[
        "load",
        "npy",
        file.to_str().unwrap(),
        "--array",
        "c",
        "--attr",
        "k",
        "--start",
        "0,1,0",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a region past a fixed dimension fails on the server"
    );
    let bad = s.dir.path().join("bad.npy");
    std::fs::write(&bad, b"not numpy").unwrap();
    let o = s.run(&[
        "load",
        "npy",
        bad.to_str().unwrap(),
        "--array",
        "c",
        "--attr",
        "k",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad magic"), "{}", stderr(&o));
    let o = s.run(&[
        "load",
        "npy",
        file.to_str().unwrap(),
        "--array",
        "nothere",
        "--attr",
        "k",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("NOT_FOUND"), "{}", stderr(&o));
}

#[test]
fn bearer_token() {
    let s = Server::start_with(&["--auth-token", "s3cret"]);
    let o = s.run(&["-c", "SHOW ARRAYS"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("UNAUTHENTICATED"), "{}", stderr(&o));
    let o = s.run(&["--token", "wrong", "-c", "SHOW ARRAYS"]);
    assert_eq!(o.status.code(), Some(1));
    let o = s
        .arrayq()
        .env("ARRAYQ_TOKEN", "s3cret")
        .args(["-c", "SHOW ARRAYS"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("(0 rows)"), "{}", stdout(&o));
}

#[test]
fn tls_with_ca_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let s = Server::start_with(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let port = s.addr.rsplit(':').next().unwrap().to_string();
    let o = s
        .arrayq()
        .args([
            "--addr",
            &format!("https://localhost:{port}"),
            "--ca-cert",
            cert.to_str().unwrap(),
        ])
        .args([
            "-c",
            "CREATE ARRAY z (i INT START 0 STEP 1 LENGTH 2, a REAL)",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // By IP address, naming the certificate's host explicitly.
    let o = s
        .arrayq()
        .args([
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--ca-cert",
            cert.to_str().unwrap(),
        ])
        .args(["--tls-domain", "localhost", "-c", "SHOW ARRAYS"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(" z "), "{}", stdout(&o));
    // Without the CA (plain HTTP/2) the shell cannot talk to it.
    let o = s.run(&["-c", "SHOW ARRAYS"]);
    assert_ne!(o.status.code(), Some(0));
}
