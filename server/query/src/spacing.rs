//! Evenly spaced coordinates: the test the gRPC header uses to send a dimension's
//! coordinates compactly (`start + i * step`) and `CREATE ARRAY ... AS SELECT` uses
//! to give a result dimension a regular coordinate. One rule for both.

/// `(start, step)` if `v` (at least two values) is `start + i * step` to within a
/// relative 1e-9 of the step, with a non-zero step.
pub fn regular_spacing(v: &[f64]) -> Option<(f64, f64)> {
    if v.len() < 2 || v.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let n = v.len() - 1;
    let step = (v[n] - v[0]) / n as f64;
    if step == 0.0 || !step.is_finite() {
        return None;
    }
    let tol = 1e-9 * step.abs();
    v.iter()
        .enumerate()
        .all(|(i, &x)| (x - (v[0] + i as f64 * step)).abs() <= tol)
        .then_some((v[0], step))
}

/// `(start, step)` if `v` (at least two values) is exactly `start + i * step`,
/// `step > 0`.
pub fn time_spacing(v: &[i64]) -> Option<(i64, i64)> {
    if v.len() < 2 {
        return None;
    }
    let step = v[1].checked_sub(v[0])?;
    if step <= 0 {
        return None;
    }
    v.windows(2)
        .all(|w| w[1].checked_sub(w[0]) == Some(step))
        .then_some((v[0], step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evenly_spaced_numbers_and_times() {
        assert_eq!(regular_spacing(&[72.0, 71.75, 71.5]), Some((72.0, -0.25)));
        assert_eq!(regular_spacing(&[1.0, 2.0, 4.0]), None);
        assert_eq!(regular_spacing(&[1.0]), None);
        assert_eq!(time_spacing(&[10, 20, 30]), Some((10, 10)));
        assert_eq!(time_spacing(&[10, 20, 40]), None);
    }
}
