//! Answers of the query suites and how they are compared: arrayq's against the
//! workload generator, every other system's against arrayq.

use anyhow::{Context, Result};
use serde_json::Value;

use arrayq_query::QueryResult;

/// Relative tolerance of sums and means of float32 data (bench/peers/README.md).
pub const REL_TOL: f64 = 1e-5;

/// An answer, as much of it as a system reports: shape, float64 sum, first and last
/// values (C order), and every value when known.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    /// Dimensions (empty for a scalar).
    pub shape: Vec<usize>,
    /// Float64 sum of every value.
    pub sum: f64,
    /// The first values (C order).
    pub head: Vec<f64>,
    /// The last values (C order).
    pub tail: Vec<f64>,
    /// Every value, when known.
    pub values: Option<Vec<f64>>,
}

/// Values shown at each end of an answer (as `peerlib.EDGE`).
const EDGE: usize = 5;

impl Answer {
    /// From every value (row-major); `shape` empty for a scalar.
    pub fn from_values(shape: Vec<usize>, values: Vec<f64>) -> Answer {
        let k = values.len().min(EDGE);
        Answer {
            shape,
            sum: values.iter().sum(),
            head: values[..k].to_vec(),
            tail: values[values.len() - k..].to_vec(),
            values: Some(values),
        }
    }

    /// From arrayq's in-process result (first column).
    pub fn from_query(r: &QueryResult) -> Answer {
        let shape = if r.header.scalar {
            vec![]
        } else {
            r.header.shape.clone()
        };
        Answer::from_values(shape, r.columns[0].to_f64_vec())
    }

    /// From the gRPC client's result (first column).
    pub fn from_client(r: &arrayq_client::QueryResult) -> Answer {
        let shape = if r.scalar { vec![] } else { r.shape.clone() };
        Answer::from_values(shape, r.columns[0].values.to_f64_vec())
    }

    /// From a peer's `answer` digest (`peerlib.digest`).
    pub fn from_digest(d: &Value) -> Result<Answer> {
        let nums = |k: &str| -> Option<Vec<f64>> {
            d.get(k)?
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
        };
        let shape: Vec<usize> = d
            .get("shape")
            .and_then(Value::as_array)
            .context("answer without shape")?
            .iter()
            .map(|x| x.as_u64().unwrap_or(0) as usize)
            .collect();
        if shape.is_empty() {
            let v = d
                .get("value")
                .and_then(Value::as_f64)
                .context("scalar answer without value")?;
            return Ok(Answer::from_values(vec![], vec![v]));
        }
        Ok(Answer {
            shape,
            sum: d.get("sum").and_then(Value::as_f64).context("no sum")?,
            head: nums("head").unwrap_or_default(),
            tail: nums("tail").unwrap_or_default(),
            values: nums("values"),
        })
    }
}

/// `|a - b| <= rel * max(|a|, |b|)` (NaN equals NaN).
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    (a - b).abs() <= rel * a.abs().max(b.abs())
}

/// Compares `got` with `want`: `exact` demands equal float32 values (values of the
/// cube itself), otherwise values agree within `rel` with an absolute floor of `rel`
/// times the largest magnitude (entries near zero) and sums within `rel`. Compares
/// every value when both sides have them, else the sum and the values at both ends.
/// `Err` says what differs.
pub fn compare(got: &Answer, want: &Answer, exact: bool, rel: f64) -> Result<(), String> {
    let norm = |s: &[usize]| -> Vec<usize> { s.iter().copied().filter(|&d| d != 1).collect() };
    if norm(&got.shape) != norm(&want.shape) {
        return Err(format!("shape {:?}, expected {:?}", got.shape, want.shape));
    }
    let scale = |v: &[f64]| v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let same = |g: &[f64], w: &[f64], floor: f64| -> Result<(), String> {
        if g.len() != w.len() {
            return Err(format!("{} values, expected {}", g.len(), w.len()));
        }
        let bad: Vec<usize> = (0..g.len())
            .filter(|&k| {
                if exact {
                    g[k] as f32 != w[k] as f32
                } else if g[k].is_nan() || w[k].is_nan() {
                    !(g[k].is_nan() && w[k].is_nan())
                } else {
                    (g[k] - w[k]).abs() > (rel * w[k].abs()).max(floor)
                }
            })
            .collect();
        match bad.first() {
            None => Ok(()),
            Some(&k) => Err(format!(
                "{} of {} values differ, first at {k}: {} vs {}",
                bad.len(),
                g.len(),
                g[k],
                w[k]
            )),
        }
    };
    if let (Some(g), Some(w)) = (&got.values, &want.values) {
        return same(g, w, rel * scale(w));
    }
    if !close(got.sum, want.sum, rel) {
        return Err(format!(
            "sum {} vs {} (rel err {:.1e})",
            got.sum,
            want.sum,
            (got.sum - want.sum).abs() / want.sum.abs().max(1e-300)
        ));
    }
    let floor = rel * scale(&want.head).max(scale(&want.tail));
    same(&got.head, &want.head, floor).map_err(|e| format!("head: {e}"))?;
    same(&got.tail, &want.tail, floor).map_err(|e| format!("tail: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_compare() {
        let a = Answer::from_values(vec![3], vec![1.0, 2.0, 3.0]);
        assert!(compare(&a, &a, true, REL_TOL).is_ok());
        let b = Answer::from_values(vec![3], vec![1.0, 2.0, 3.0001]);
        assert!(compare(&b, &a, true, REL_TOL).is_err());
        assert!(compare(&b, &a, false, 1e-3).is_ok());
        // A digest without values: sum and ends.
        let d = Answer {
            values: None,
            ..a.clone()
        };
        assert!(compare(&d, &a, false, REL_TOL).is_ok());
        let s = Answer::from_values(vec![], vec![272.5]);
        let t = Answer::from_values(vec![1], vec![272.5 * (1.0 + 2e-6)]);
        assert!(compare(&t, &s, false, REL_TOL).is_ok());
        let wrong_shape = Answer::from_values(vec![2], vec![1.0, 2.0]);
        assert!(compare(&wrong_shape, &a, false, REL_TOL).is_err());
    }

    #[test]
    fn digests_parse() {
        let v: Value =
            serde_json::json!({"shape": [], "dtype": "float64", "value": 3.5, "sum": 3.5});
        assert_eq!(Answer::from_digest(&v).unwrap().values, Some(vec![3.5]));
        let v: Value = serde_json::json!({"shape": [2, 2], "sum": 10.0, "head": [1.0, 2.0], "tail": [3.0, 4.0]});
        let a = Answer::from_digest(&v).unwrap();
        assert_eq!(a.shape, vec![2, 2]);
        assert!(a.values.is_none());
    }
}
