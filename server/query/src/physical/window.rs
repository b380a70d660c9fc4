//! Window: functions over frames along one dimension of the result, per pencil
//! (every cell of the other dimensions).
//!
//! The input's columns are gathered whole (charged, with each windowed column's
//! frames, to the query's memory bound). Each windowed column is cut into pencils along its axis, computed on
//! rayon, one pencil per task, in O(n): sums, counts and averages from running
//! prefix sums over the present values; min and max with a monotonic deque of
//! indices; lag and lead as shifts. Missing (NaN) values are skipped within a
//! frame; a frame with no present value gives NaN (count: 0).

use super::cells::col_bytes;
use super::emit::{after_whole_input, gather_columns};
use super::{BlockStream, ExecutionPlan, OperatorMetrics, TaskContext};
use crate::error::QueryError;
use crate::eval::Col;
use crate::logical::{WindowCol, WindowFunc};
use crate::memory::MemoryReservation;
use arrayq_storage::DType;
use rayon::prelude::*;
use std::collections::VecDeque;
use std::sync::atomic::Ordering as Atomic;
use std::sync::Arc;
use std::time::Instant;

pub struct WindowExec {
    pub input: Arc<dyn ExecutionPlan>,
    pub shape: Vec<usize>,
    /// The input's columns' dtypes (windowed columns: their f64 arguments).
    pub in_dtypes: Vec<DType>,
    /// The output columns' dtypes.
    pub dtypes: Vec<DType>,
    pub windows: Vec<WindowCol>,
    pub metrics: OperatorMetrics,
}

impl WindowExec {
    fn cells(&self) -> usize {
        self.shape.iter().product()
    }

    fn run(
        &self,
        stream: BlockStream,
        mem: &mut MemoryReservation,
    ) -> Result<Vec<Col>, QueryError> {
        let n = self.cells();
        let mut cols = gather_columns(stream, &self.in_dtypes, n, mem, "window")?;
        let t = Instant::now();
        for w in &self.windows {
            // The column as f64, its pencils and the output: 8 bytes a cell each.
            let frames = 24 * n as u64;
            mem.try_grow(frames, "its window frames")?;
            let before = col_bytes(&cols[w.column]);
            let x = std::mem::replace(&mut cols[w.column], Col::F64(Vec::new())).f64s(n);
            let out = window_column(&x, &self.shape, w);
            cols[w.column] = match w.func {
                WindowFunc::Count => Col::I64(out.into_iter().map(|v| v as i64).collect()),
                _ => Col::F64(out),
            };
            mem.shrink(frames + before);
            mem.try_grow(col_bytes(&cols[w.column]), "its output columns")?;
        }
        self.metrics.cells_in.fetch_add(n as u64, Atomic::Relaxed);
        self.metrics.cells_out.fetch_add(n as u64, Atomic::Relaxed);
        OperatorMetrics::add(&self.metrics.compute_ns, t);
        Ok(cols)
    }
}

/// One windowed column over a grid of `shape` (row-major).
pub fn window_column(x: &[f64], shape: &[usize], w: &WindowCol) -> Vec<f64> {
    let (len, inner) = match w.axis {
        Some(a) => (shape[a], shape[a + 1..].iter().product::<usize>()),
        None => (1, 1),
    };
    if x.is_empty() || len == 0 {
        return Vec::new();
    }
    let outer = x.len() / (len * inner);
    let pencils: Vec<Vec<f64>> = (0..outer * inner)
        .into_par_iter()
        .map(|p| {
            let (o, i) = (p / inner, p % inner);
            let base = o * len * inner + i;
            let v: Vec<f64> = (0..len).map(|k| x[base + k * inner]).collect();
            pencil(&v, w)
        })
        .collect();
    let mut out = vec![0.0; x.len()];
    for (p, v) in pencils.into_iter().enumerate() {
        let (o, i) = (p / inner, p % inner);
        let base = o * len * inner + i;
        for (k, y) in v.into_iter().enumerate() {
            out[base + k * inner] = y;
        }
    }
    out
}

/// The frame `[lo, hi)` of index `k` in a pencil of `len` (empty when lo >= hi).
fn frame(k: usize, len: usize, start: Option<i64>, end: Option<i64>) -> (usize, usize) {
    let k = k as i64;
    let len = len as i64;
    let lo = start.map_or(0, |s| (k + s).clamp(0, len));
    let hi = end.map_or(len, |e| (k + e + 1).clamp(0, len));
    (lo as usize, hi.max(lo) as usize)
}

/// The window function over one pencil.
fn pencil(v: &[f64], w: &WindowCol) -> Vec<f64> {
    let len = v.len();
    match w.func {
        WindowFunc::Lag(n) => (0..len)
            .map(|k| if k >= n { v[k - n] } else { f64::NAN })
            .collect(),
        WindowFunc::Lead(n) => (0..len)
            .map(|k| if k + n < len { v[k + n] } else { f64::NAN })
            .collect(),
        WindowFunc::Sum | WindowFunc::Avg | WindowFunc::Count => {
            // Prefix sums and counts of the present values.
            let mut sum = vec![0.0f64; len + 1];
            let mut cnt = vec![0u64; len + 1];
            for k in 0..len {
                let present = !v[k].is_nan();
                sum[k + 1] = sum[k] + if present { v[k] } else { 0.0 };
                cnt[k + 1] = cnt[k] + present as u64;
            }
            (0..len)
                .map(|k| {
                    let (lo, hi) = frame(k, len, w.start, w.end);
                    let c = cnt[hi] - cnt[lo];
                    match w.func {
                        WindowFunc::Count => c as f64,
                        _ if c == 0 => f64::NAN,
                        WindowFunc::Sum => sum[hi] - sum[lo],
                        _ => (sum[hi] - sum[lo]) / c as f64,
                    }
                })
                .collect()
        }
        WindowFunc::Min | WindowFunc::Max => {
            let max = w.func == WindowFunc::Max;
            // Indices of present values, their values monotonic (decreasing for max).
            let mut dq: VecDeque<usize> = VecDeque::new();
            let mut next = 0;
            (0..len)
                .map(|k| {
                    let (lo, hi) = frame(k, len, w.start, w.end);
                    while next < hi {
                        let x = v[next];
                        if !x.is_nan() {
                            while let Some(&b) = dq.back() {
                                let dominated = if max { v[b] <= x } else { v[b] >= x };
                                if !dominated {
                                    break;
                                }
                                dq.pop_back();
                            }
                            dq.push_back(next);
                        }
                        next += 1;
                    }
                    while dq.front().is_some_and(|&f| f < lo) {
                        dq.pop_front();
                    }
                    match dq.front() {
                        Some(&f) if lo < hi => v[f],
                        _ => f64::NAN,
                    }
                })
                .collect()
        }
    }
}

impl ExecutionPlan for WindowExec {
    fn name(&self) -> &'static str {
        "Window"
    }

    fn children(&self) -> Vec<&dyn ExecutionPlan> {
        vec![self.input.as_ref()]
    }

    fn fmt_explain(&self) -> Vec<String> {
        let texts: Vec<&str> = self.windows.iter().map(|w| w.text.as_str()).collect();
        let pencils = |w: &WindowCol| match w.axis {
            Some(a) => (self.cells() / self.shape[a].max(1), self.shape[a]),
            None => (self.cells(), 1),
        };
        let (np, len) = self.windows.first().map_or((0, 0), pencils);
        vec![
            format!("Window: {}", texts.join(", ")),
            format!(
                "  sliding frames over {np} pencils of {len} cells (rayon); frames see the selected cells only"
            ),
        ]
    }

    fn execute(self: Arc<Self>, ctx: Arc<TaskContext>) -> Result<BlockStream, QueryError> {
        let op = self.clone();
        after_whole_input(self.input.clone(), ctx, "Window", move |stream, mem| {
            Ok((op.run(stream, mem)?, op.dtypes.clone(), op.cells()))
        })
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(func: WindowFunc, start: Option<i64>, end: Option<i64>) -> WindowCol {
        WindowCol {
            column: 0,
            func,
            axis: Some(1),
            start,
            end,
            text: String::new(),
        }
    }

    /// The window by brute force: every frame read whole.
    fn naive(v: &[f64], w: &WindowCol) -> Vec<f64> {
        (0..v.len())
            .map(|k| {
                let (lo, hi) = frame(k, v.len(), w.start, w.end);
                let xs: Vec<f64> = v[lo..hi].iter().copied().filter(|x| !x.is_nan()).collect();
                match w.func {
                    WindowFunc::Count => xs.len() as f64,
                    _ if xs.is_empty() => f64::NAN,
                    WindowFunc::Sum => xs.iter().sum(),
                    WindowFunc::Avg => xs.iter().sum::<f64>() / xs.len() as f64,
                    WindowFunc::Min => xs.iter().copied().fold(f64::INFINITY, f64::min),
                    WindowFunc::Max => xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    _ => unreachable!(),
                }
            })
            .collect()
    }

    #[test]
    fn sliding_frames_match_reading_every_frame() {
        // Two pencils of 9 along axis 1 of a (2, 9, 1) grid, with gaps and ties.
        let nan = f64::NAN;
        let p = [3.0, nan, 1.0, 1.0, 7.0, nan, nan, 2.0, 5.0];
        let q = [nan, nan, nan, 4.0, -1.0, 4.0, 0.0, nan, 9.0];
        let x: Vec<f64> = p.iter().chain(&q).copied().collect();
        let frames = [
            (None, Some(0)),
            (Some(-2), Some(0)),
            (Some(-1), Some(2)),
            (Some(-3), Some(-2)),
            (Some(1), None),
            (None, None),
            (Some(0), Some(0)),
        ];
        let funcs = [
            WindowFunc::Avg,
            WindowFunc::Sum,
            WindowFunc::Min,
            WindowFunc::Max,
            WindowFunc::Count,
        ];
        for (s, e) in frames {
            for f in funcs {
                let w = col(f, s, e);
                let got = window_column(&x, &[2, 9, 1], &w);
                let want: Vec<f64> = [naive(&p, &w), naive(&q, &w)].concat();
                for (g, t) in got.iter().zip(&want) {
                    assert!(
                        (g.is_nan() && t.is_nan()) || g == t,
                        "{f:?} {s:?}..{e:?}: {got:?} vs {want:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn lag_and_lead_shift_along_the_axis() {
        // A (2, 3) grid along axis 0: pencils are the columns.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut w = col(WindowFunc::Lag(1), None, None);
        w.axis = Some(0);
        let lag = window_column(&x, &[2, 3], &w);
        assert!(lag[..3].iter().all(|v| v.is_nan()));
        assert_eq!(lag[3..], [1.0, 2.0, 3.0]);
        w.func = WindowFunc::Lead(1);
        let lead = window_column(&x, &[2, 3], &w);
        assert_eq!(lead[..3], [4.0, 5.0, 6.0]);
        assert!(lead[3..].iter().all(|v| v.is_nan()));
    }
}
