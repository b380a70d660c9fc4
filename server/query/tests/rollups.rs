//! Aggregates answered from a rollup, against a model of the writes: random writes,
//! overwrites, NaNs, time windows that cut days at either edge, groups by UTC days
//! (from the rollup), by days of another zone (raw), versions and time travel; and
//! EXPLAIN ANALYZE naming the source and reading only rollup chunks for whole days.

mod common;

use common::writes::{apply, run, same, write_strategy, Write};

use arrayq_query::{Engine, EngineConfig, Execution, QueryContext};
use arrayq_storage::time::format_unix_ns;
use arrayq_storage::Store;
use chrono::TimeZone;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;

/// 40 steps of 3 hours from 04:00 UTC (the first and last days are partial) x 3.
const N: [usize; 2] = [40, 3];
const T0: i64 = 1_672_545_600_000_000_000; // 2023-01-01T04:00:00Z
const STEP: i64 = 3 * 3_600_000_000_000;
const DAY: i64 = 86_400_000_000_000;

fn engine() -> Engine {
    let e = Engine::new(Store::temporary().unwrap(), EngineConfig::default());
    run(
        &e,
        "CREATE ARRAY a (time TIMESTAMP START '2023-01-01T04:00:00Z' STEP '3 hours' LENGTH 40, \
         x DOUBLE START 0 STEP 1 LENGTH 3, v REAL) WITH (chunks = (5, 2))",
    );
    e
}

fn explain(e: &Engine, sql: &str) -> (String, u64) {
    match e
        .execute(&format!("EXPLAIN ANALYZE {sql}"), &QueryContext::default())
        .unwrap()
    {
        Execution::Explain(x) => {
            let s = x.analyze.expect("EXPLAIN ANALYZE runs the query");
            (x.text, s.chunks_read)
        }
        _ => panic!("not an explanation"),
    }
}

/// How a query groups time.
#[derive(Clone, Copy, Debug)]
enum TimeKey {
    None,
    UtcDay,
    /// Days in America/New_York: they cut UTC days, so no rollup answers them.
    NewYorkDay,
}

/// The model's answer: per column (count, sum, avg, min, max), per group in
/// row-major order (time groups ascending, then x).
fn model_answer(m: &ArrayD<f32>, t: (usize, usize), key: TimeKey) -> Vec<f64> {
    let bucket = |i: usize| -> i64 {
        let ns = T0 + i as i64 * STEP;
        match key {
            TimeKey::None => 0,
            TimeKey::UtcDay => ns.div_euclid(DAY),
            TimeKey::NewYorkDay => {
                let local = chrono_tz::America::New_York
                    .timestamp_nanos(ns)
                    .naive_local();
                local
                    .and_utc()
                    .timestamp_nanos_opt()
                    .unwrap()
                    .div_euclid(DAY)
            }
        }
    };
    let mut buckets: Vec<i64> = (t.0..t.1).map(bucket).collect();
    buckets.dedup();
    let mut cols = vec![Vec::new(); 5];
    for b in &buckets {
        for x in 0..N[1] {
            let vals: Vec<f64> = (t.0..t.1)
                .filter(|&i| bucket(i) == *b)
                .map(|i| m[[i, x]] as f64)
                .filter(|v| !v.is_nan())
                .collect();
            let n = vals.len() as f64;
            let sum: f64 = vals.iter().sum();
            let (lo, hi) = vals
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            let got = if vals.is_empty() {
                [0.0, f64::NAN, f64::NAN, f64::NAN, f64::NAN]
            } else {
                [n, sum, sum / n, lo, hi]
            };
            for (c, v) in cols.iter_mut().zip(got) {
                c.push(v);
            }
        }
    }
    cols.concat()
}

fn query(t: (usize, usize), key: TimeKey, version: Option<usize>) -> String {
    let group = match key {
        TimeKey::None => "x",
        TimeKey::UtcDay => "date_trunc('day', time), x",
        TimeKey::NewYorkDay => "date_trunc('day', time, 'America/New_York'), x",
    };
    let asof = version.map_or(String::new(), |v| format!(" AS OF VERSION {v}"));
    format!(
        "SELECT count(v), sum(v), avg(v), min(v), max(v) FROM a{asof} \
         WHERE time >= '{}' AND time < '{}' GROUP BY {group}",
        format_unix_ns(T0 + t.0 as i64 * STEP),
        format_unix_ns(T0 + t.1 as i64 * STEP)
    )
}

const ADD_ROLLUP: &str = "ALTER ARRAY a ADD ROLLUP daily AS SELECT avg(v), min(v), max(v) \
                          GROUP BY date_trunc('day', time), x";

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn rollup_answers_equal_the_model_through_writes_windows_and_versions(
        before in prop::collection::vec(write_strategy(N), 0..3),
        after in prop::collection::vec(write_strategy(N), 1..4),
        windows in prop::collection::vec((0..N[0], 1..=N[0]), 1..4),
    ) {
        let e = engine();
        let mut model = ArrayD::from_elem(IxDyn(&N), f32::NAN);
        let mut versions = vec![model.clone()];
        for w in &before {
            apply(&e, &mut model, w);
            versions.push(model.clone());
        }
        run(&e, ADD_ROLLUP);
        versions.push(model.clone());
        let with_rollup = versions.len() - 1;
        for w in &after {
            apply(&e, &mut model, w);
            versions.push(model.clone());
        }
        for &(t0, len) in &windows {
            let t = (t0, (t0 + len).min(N[0]));
            for key in [TimeKey::None, TimeKey::UtcDay, TimeKey::NewYorkDay] {
                let sql = query(t, key, None);
                let (got, want) = (run(&e, &sql), model_answer(&model, t, key));
                prop_assert!(same(&got, &want), "{sql}: {got:?} vs {want:?}");
                // Time travel: the rollup's first version, and one before it (none).
                for v in [with_rollup, with_rollup - 1] {
                    let sql = query(t, key, Some(v));
                    let (got, want) = (run(&e, &sql), model_answer(&versions[v], t, key));
                    prop_assert!(same(&got, &want), "{sql}: {got:?} vs {want:?}");
                }
            }
        }
    }
}

#[test]
fn explain_names_the_rollup_and_whole_days_read_no_raw_chunk() {
    let e = engine();
    let mut model = ArrayD::from_elem(IxDyn(&N), f32::NAN);
    let all = Write {
        start: [0, 0],
        shape: N,
        seed: 3,
        nan_every: 5,
    };
    apply(&e, &mut model, &all);
    run(&e, ADD_ROLLUP);
    // 2023-01-02 and -03 whole: indices 7..23 (from 00:00 to 21:00 of the 3rd).
    let whole = (7, 23);
    let sql = query(whole, TimeKey::None, None);
    assert!(same(
        &run(&e, &sql),
        &model_answer(&model, whole, TimeKey::None)
    ));
    let (text, chunks) = explain(&e, &sql);
    assert!(
        text.contains(
            "source: rollup daily (2 whole UTC day(s) 2023-01-02..2023-01-03, time 7..23); no raw cells read"
        ),
        "{text}"
    );
    assert!(
        text.contains("why: every call is count, sum, avg, min or max"),
        "{text}"
    );
    // Two days x one chunk of 3 cells (1 day x 3 x) x three fields (count, sum, min,
    // max of v: four fields): 2 chunks per field.
    assert_eq!(chunks, 8, "{text}");
    // Cut at both edges: 05:00 on the 2nd (index 8, hour 07:00 is the next step) to
    // the 4th's 03:00: whole day the 3rd, raw hours at both edges.
    let cut = (8, 25);
    let sql = query(cut, TimeKey::UtcDay, None);
    assert!(same(
        &run(&e, &sql),
        &model_answer(&model, cut, TimeKey::UtcDay)
    ));
    let (text, _) = explain(&e, &sql);
    assert!(
        text.contains("source: rollup daily (1 whole UTC day(s) 2023-01-03..2023-01-03, time 15..23); raw cells read at the edges: time 8..15, time 23..25"),
        "{text}"
    );
    // Days of another zone cut UTC days: the cells are read, and EXPLAIN says why.
    let sql = query(whole, TimeKey::NewYorkDay, None);
    assert!(same(
        &run(&e, &sql),
        &model_answer(&model, whole, TimeKey::NewYorkDay)
    ));
    let (text, _) = explain(&e, &sql);
    assert!(
        text.contains("source: the cells (no rollup: rollup daily: date_trunc('day', time, 'America/New_York') cuts UTC days"),
        "{text}"
    );
    // A variance needs every value; a forced layout is obeyed.
    let (text, _) = explain(&e, "SELECT var_pop(v) FROM a GROUP BY x");
    assert!(
        text.contains("source: the cells (no rollup: varpop needs every value"),
        "{text}"
    );
    let (text, _) = explain(
        &e,
        "SELECT avg(v) FROM a WITH (layout = 'primary') GROUP BY x",
    );
    assert!(
        text.contains("no rollup: a layout is forced by WITH (layout = ...)"),
        "{text}"
    );
    // DROP ROLLUP: the same query reads the cells, with the same answer.
    run(&e, "ALTER ARRAY a DROP ROLLUP daily");
    let sql = query(whole, TimeKey::None, None);
    assert!(same(
        &run(&e, &sql),
        &model_answer(&model, whole, TimeKey::None)
    ));
    assert!(!explain(&e, &sql).0.contains("rollup"));
}

#[test]
fn add_rollup_errors_name_what_is_wrong() {
    let e = engine();
    let err = |sql: &str| match e.execute(sql, &QueryContext::default()) {
        Err(err) => err.to_string(),
        Ok(_) => panic!("{sql} succeeded"),
    };
    let msg = err("ALTER ARRAY a ADD ROLLUP d AS SELECT avg(v) GROUP BY date_trunc('day', time)");
    assert!(msg.contains("GROUP BY lacks 'x'"), "{msg}");
    let msg =
        err("ALTER ARRAY a ADD ROLLUP d AS SELECT median(v) GROUP BY date_trunc('day', time), x");
    assert!(msg.contains("not median"), "{msg}");
    let msg =
        err("ALTER ARRAY a ADD ROLLUP d AS SELECT avg(w) GROUP BY date_trunc('day', time), x");
    assert!(msg.contains("'w'"), "{msg}");
    let msg =
        err("ALTER ARRAY a ADD ROLLUP d AS SELECT avg(v) GROUP BY date_trunc('hour', time), x");
    assert!(msg.contains("rollups bucket by 'day', not 'hour'"), "{msg}");
    let msg = err("ALTER ARRAY a DROP ROLLUP nope");
    assert!(msg.contains("array 'a' has no rollup 'nope'"), "{msg}");
}
