//! Scalar aggregates answered from chunk statistics: the values against a model of
//! the writes (random writes, overwrites, NaN, boxes that cut chunks, time travel),
//! and EXPLAIN ANALYZE showing that whole chunks are not read.

mod common;

use common::writes::{apply, run, same, write_strategy, Write};

use arrayq_query::{Engine, EngineConfig, Execution, QueryContext};
use arrayq_storage::Store;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;

const N: [usize; 2] = [9, 7];

fn engine() -> Engine {
    let store = Store::temporary().unwrap();
    let e = Engine::new(store, EngineConfig::default());
    run(
        &e,
        "CREATE ARRAY a (x DOUBLE START 0 STEP 1 LENGTH 9, y DOUBLE START 0 STEP 1 LENGTH 7, \
         v REAL) WITH (chunks = (4, 3))",
    );
    e
}

/// count, sum, avg, min, max of the model's non-NaN cells in the box (NaN when
/// there are none, count 0).
fn model_answer(m: &ArrayD<f32>, x: (usize, usize), y: (usize, usize)) -> [f64; 5] {
    let vals: Vec<f64> = (x.0..x.1)
        .flat_map(|i| (y.0..y.1).map(move |j| (i, j)))
        .map(|(i, j)| m[[i, j]] as f64)
        .filter(|v| !v.is_nan())
        .collect();
    if vals.is_empty() {
        return [0.0, f64::NAN, f64::NAN, f64::NAN, f64::NAN];
    }
    let n = vals.len() as f64;
    let sum: f64 = vals.iter().sum();
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    [n, sum, sum / n, min, max]
}

fn query(x: (usize, usize), y: (usize, usize)) -> String {
    format!(
        "SELECT count(v), sum(v), avg(v), min(v), max(v) FROM a \
         WHERE x BETWEEN {} AND {} AND y BETWEEN {} AND {}",
        x.0,
        x.1 - 1,
        y.0,
        y.1 - 1
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn statistics_answer_as_the_model_through_writes_boxes_and_versions(
        writes in prop::collection::vec(write_strategy(N), 1..5),
        boxes in prop::collection::vec((0..N[0], 1..=N[0], 0..N[1], 1..=N[1]), 1..4),
    ) {
        let e = engine();
        let mut model = ArrayD::from_elem(IxDyn(&N), f32::NAN);
        let mut versions = vec![model.clone()];
        for w in &writes {
            apply(&e, &mut model, w);
            versions.push(model.clone());
        }
        for &(x0, h, y0, w) in &boxes {
            let x = (x0, (x0 + h).min(N[0]));
            let y = (y0, (y0 + w).min(N[1]));
            let got = run(&e, &query(x, y));
            let want = model_answer(&model, x, y);
            prop_assert!(same(&got, &want), "{}: {got:?} vs {want:?}", query(x, y));
            // Time travel: the first write's version.
            let q1 = query(x, y).replace("FROM a", "FROM a AS OF VERSION 1");
            let got = run(&e, &q1);
            let want = model_answer(&versions[1], x, y);
            prop_assert!(same(&got, &want), "{q1}: {got:?} vs {want:?}");
        }
    }
}

#[test]
fn whole_chunks_are_not_read_and_explain_names_the_statistics() {
    let e = engine();
    let mut model = ArrayD::from_elem(IxDyn(&N), f32::NAN);
    apply(
        &e,
        &mut model,
        &Write {
            start: [0, 0],
            shape: N,
            seed: 5,
            nan_every: 4,
        },
    );
    // x 0..=7 and y 0..=5 hold chunks (0..2) x (0..2) whole (4 x 3 each): 4 whole
    // chunks; the region touches no other chunk.
    let sql = "SELECT avg(v), count(v) FROM a WHERE x BETWEEN 0 AND 7 AND y BETWEEN 0 AND 5";
    let want = model_answer(&model, (0, 8), (0, 6));
    let got = run(&e, sql);
    assert!(
        (got[0] - want[2]).abs() <= 1e-9 * want[2].abs(),
        "{got:?} vs {want:?}"
    );
    assert_eq!(got[1], want[0]);
    match e
        .execute(&format!("EXPLAIN ANALYZE {sql}"), &QueryContext::default())
        .unwrap()
    {
        Execution::Explain(x) => {
            let s = x.analyze.expect("EXPLAIN ANALYZE runs the query");
            assert_eq!((s.chunks_read, s.bytes_decoded), (0, 0), "{}", x.text);
            assert!(
                x.text
                    .contains("source: chunk statistics of layout 'primary' for 4 whole chunk(s)")
                    && x.text
                        .contains("0 chunk(s) cut by the region or without statistics are read"),
                "{}",
                x.text
            );
        }
        _ => panic!("not an explanation"),
    }
    // x 1..=8 cuts the first x chunk (0..4) and holds the others whole (4..8, and
    // 8..9, the edge chunk padded with NaN); y 0..=5 holds both its chunks whole:
    // 4 whole chunks, 2 read.
    let sql = "SELECT sum(v) FROM a WHERE x BETWEEN 1 AND 8 AND y BETWEEN 0 AND 5";
    let got = run(&e, sql)[0];
    let want = model_answer(&model, (1, 9), (0, 6))[1];
    assert!((got - want).abs() <= 1e-9 * want.abs(), "{got} vs {want}");
    match e
        .execute(&format!("EXPLAIN ANALYZE {sql}"), &QueryContext::default())
        .unwrap()
    {
        Execution::Explain(x) => {
            let s = x.analyze.expect("EXPLAIN ANALYZE runs the query");
            assert_eq!(s.chunks_read, 2, "{}", x.text);
            assert!(x.text.contains("for 4 whole chunk(s)"), "{}", x.text);
        }
        _ => panic!("not an explanation"),
    }
}
