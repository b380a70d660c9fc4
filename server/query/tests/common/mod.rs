//! What the query engine's reference tests share: the ERA5 cube at scale XS in one
//! engine per test binary, running a query to its result, and a Python reference
//! script run over the same cube.

#![allow(dead_code)] // each test binary uses its own part

pub mod writes;

use arrayq_query::{Engine, EngineConfig, Execution, QueryContext, QueryResult};
use arrayq_storage::Store;
use arrayq_tests::{python, workspace_root, write_npy_f32};
use arrayq_workload::{era5, load, Scale};
use serde_json::Value;
use std::process::Command;
use std::sync::OnceLock;

/// The ERA5 cube at scale XS as array `era5` (layouts `maps` (1, 153, 281) and
/// `days` (24, 32, 32)) in a temporary store, loaded once per test binary.
pub fn xs_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let store = Store::temporary().unwrap();
        load::load_era5(
            &store,
            "era5",
            Scale::XS,
            &[("maps", [1, 153, 281]), ("days", [24, 32, 32])],
            3,
            false,
        )
        .unwrap();
        Engine::new(store, EngineConfig::default())
    })
}

/// The result of `sql` on `engine`; panics with the rendered error.
pub fn rows(engine: &Engine, sql: &str) -> QueryResult {
    match engine.execute(sql, &QueryContext::default()) {
        Ok(Execution::Rows(s)) => s.collect_all().unwrap(),
        Ok(_) => panic!("not a query: {sql}"),
        Err(e) => panic!("{}", e.render(sql)),
    }
}

/// Runs `tests/reference/<script>` in the test venv over the XS cube (written as
/// `--src cube.npy`, float32 (time, lat, lon)) with `args`; its JSON output.
pub fn xs_reference(script: &str, args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let cube = era5::cube(Scale::XS);
    let src = dir.path().join("cube.npy");
    let shape = [era5::n_time(Scale::XS), era5::N_LAT, era5::N_LON];
    write_npy_f32(&src, &shape, cube.as_slice().unwrap()).unwrap();
    let out = Command::new(python())
        .arg(workspace_root().join("tests/reference").join(script))
        .args(["--src", src.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `ours` equals the reference grid `want` (a JSON list, null for missing) cell by
/// cell: missing where it is missing, within `tol` (relative, at least absolute 1)
/// elsewhere. `key` names the grid in the messages.
pub fn assert_cells(ours: &[f64], want: &Value, key: &str, tol: f64) {
    let want: Vec<Option<f64>> = want
        .as_array()
        .unwrap_or_else(|| panic!("{key}: not a list"))
        .iter()
        .map(Value::as_f64)
        .collect();
    assert_eq!(ours.len(), want.len(), "{key}: cells");
    let mut bad = 0;
    for (i, (o, w)) in ours.iter().zip(&want).enumerate() {
        let ok = match w {
            None => o.is_nan(),
            Some(w) => (o - w).abs() <= tol * w.abs().max(1.0),
        };
        if !ok {
            bad += 1;
            if bad <= 5 {
                eprintln!("{key}: cell {i}: ours {o}, reference {w:?}");
            }
        }
    }
    assert_eq!(bad, 0, "{key}: {bad} cells differ from the reference");
}
