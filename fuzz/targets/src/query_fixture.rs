//! The query target's store: tiny versions of the arrays docs/query-language.md
//! queries (`era5`, `assets`, `clim`), created once per process and only read
//! afterwards.

use arrayq_query::{Engine, EngineConfig, Execution, QueryContext};
use arrayq_storage::{Buffer, Options, Store};
use ndarray::ArrayD;
use std::sync::OnceLock;
use std::time::Duration;

pub const N_TIME: usize = 24;
pub const N_LAT: usize = 6;
pub const N_LON: usize = 5;

const SETUP: &[&str] = &[
    "CREATE ARRAY era5 (
       time TIMESTAMP START '2023-01-01T00:00:00Z' STEP '1 hour' GROWABLE METADATA (long_name = 'time'),
       lat  DOUBLE START 54 STEP -0.5 LENGTH 6 METADATA (units = 'degrees_north'),
       lon  DOUBLE START 3 STEP 0.5 LENGTH 5,
       t2m  REAL METADATA (units = 'K')
     ) WITH (chunks = (8, 3, 5))",
    "ALTER ARRAY era5 ADD LAYOUT pencils CHUNKS (24, 2, 2)",
    "CREATE ARRAY assets (
       asset TEXT LABELS ('NL-WIND-042', 'NL-SOLAR-007') GROWABLE,
       time  TIMESTAMP START '2023-01-01T00:00:00Z' STEP '15 minutes' GROWABLE,
       value REAL
     )",
    "INSERT INTO assets (asset, time, value) VALUES
       ('NL-WIND-042', '2023-01-01T00:00:00Z', 1.5), ('NL-SOLAR-007', '2023-01-01T00:15:00Z', -2)",
];

/// The value of `era5.t2m` at (time, lat, lon): smooth, with a few NaNs.
pub fn t2m(t: usize, i: usize, j: usize) -> f32 {
    if (t + i + j).is_multiple_of(17) {
        return f32::NAN;
    }
    270.0 + (t % 24) as f32 * 0.5 - i as f32 * 1.25 + j as f32 * 0.75
}

/// The engine over the fixture store (built on first use). Queries are bounded
/// (1 MiB results, 2 s), so any text runs quickly.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<(tempfile::TempDir, Engine)> = OnceLock::new();
    &ENGINE.get_or_init(build).1
}

fn build() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = Options {
        durable: false,
        cache_bytes: 8 << 20,
        ..Options::default()
    };
    let store = Store::open_with(dir.path(), opts).expect("fixture store");
    let config = EngineConfig {
        max_result_bytes: 1 << 20,
        timeout: Some(Duration::from_secs(2)),
        block_bytes: 4 << 10,
        max_query_memory_bytes: 16 << 20,
    };
    let engine = Engine::new(store, config);
    let ctx = QueryContext::default();
    for sql in &SETUP[..2] {
        engine.execute(sql, &ctx).expect("fixture DDL");
    }
    let cube = ArrayD::from_shape_fn(vec![N_TIME, N_LAT, N_LON], |ix| t2m(ix[0], ix[1], ix[2]));
    let mut sink = engine.store().ingest("era5").expect("ingest era5");
    sink.write("t2m", &[0, 0, 0], &Buffer::F32(cube))
        .expect("stage era5");
    sink.commit().expect("commit era5");
    for sql in &SETUP[2..] {
        engine.execute(sql, &ctx).expect("fixture DDL");
    }
    let clim = "CREATE ARRAY clim AS SELECT extract(hour FROM time) AS hour, avg(t2m) AS t2m
                FROM era5 GROUP BY hour, lat, lon";
    match engine.execute(clim, &ctx).expect("fixture clim") {
        Execution::Done { .. } => {}
        _ => panic!("CREATE ARRAY AS answered something else than done"),
    }
    (dir, engine)
}
