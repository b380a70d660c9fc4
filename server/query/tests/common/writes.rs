//! Random writes of a 2-d `f32` attribute `v` of array `a` (boxes with some cells
//! NaN) applied both to an engine's store and to a model array, for the tests that
//! check answers from stored summaries against the model.

use arrayq_query::{Engine, Execution, QueryContext};
use arrayq_storage::Buffer;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;

/// A write: a box and a value pattern (some cells NaN).
#[derive(Clone, Debug)]
pub struct Write {
    pub start: [usize; 2],
    pub shape: [usize; 2],
    pub seed: u32,
    pub nan_every: usize,
}

/// Writes of any box inside an array of shape `n`.
pub fn write_strategy(n: [usize; 2]) -> impl Strategy<Value = Write> {
    (
        0..n[0],
        0..n[1],
        1..=n[0],
        1..=n[1],
        any::<u32>(),
        2..6usize,
    )
        .prop_map(move |(a, b, h, w, seed, nan_every)| Write {
            start: [a, b],
            shape: [h.min(n[0] - a), w.min(n[1] - b)],
            seed,
            nan_every,
        })
}

/// Commits `w` to `a.v` and applies it to `model`.
pub fn apply(e: &Engine, model: &mut ArrayD<f32>, w: &Write) {
    let block = ArrayD::from_shape_fn(IxDyn(&w.shape), |ix| {
        let k = ix[0] * 31 + ix[1] * 7 + w.seed as usize;
        if k.is_multiple_of(w.nan_every) {
            f32::NAN
        } else {
            (k % 1000) as f32 * 0.5 - 100.0
        }
    });
    for ((i, j), v) in block.indexed_iter().map(|(ix, v)| ((ix[0], ix[1]), *v)) {
        model[[w.start[0] + i, w.start[1] + j]] = v;
    }
    let start = [w.start[0] as u64, w.start[1] as u64];
    e.store()
        .write("a", "v", &start, Buffer::F32(block))
        .unwrap();
}

/// Every column of a statement's result as f64, one after another (nothing for a
/// statement without rows).
pub fn run(e: &Engine, sql: &str) -> Vec<f64> {
    match e.execute(sql, &QueryContext::default()) {
        Ok(Execution::Rows(s)) => {
            let r = s
                .collect_all()
                .unwrap_or_else(|err| panic!("{}", err.render(sql)));
            r.columns.iter().flat_map(|c| c.to_f64_vec()).collect()
        }
        Ok(_) => vec![],
        Err(err) => panic!("{}", err.render(sql)),
    }
}

/// Equal to 1e-9 relative, NaN matching NaN.
pub fn same(got: &[f64], want: &[f64]) -> bool {
    got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(g, w)| (g.is_nan() && w.is_nan()) || (g - w).abs() <= 1e-9 * w.abs().max(1.0))
}
