//! Packed values (`scale_factor`, `add_offset`), missing values (`_FillValue`,
//! `missing_value`) and evenly spaced coordinates.

/// How stored values become physical ones: `value * scale + offset`, with the
/// stored fill and missing values (compared before unpacking) read as NaN.
#[derive(Clone, Debug, PartialEq)]
pub struct Packing {
    pub scale: f64,
    pub offset: f64,
    pub missing: Vec<f64>,
}

impl Packing {
    /// The packing a variable's numeric attributes describe (`number(name)`: the
    /// attribute's first value as f64, if it is a number).
    pub fn from_attrs(number: impl Fn(&str) -> Option<f64>) -> Packing {
        let mut missing: Vec<f64> = ["_FillValue", "missing_value"]
            .iter()
            .filter_map(|n| number(n))
            .collect();
        missing.dedup();
        Packing {
            scale: number("scale_factor").unwrap_or(1.0),
            offset: number("add_offset").unwrap_or(0.0),
            missing,
        }
    }

    /// Also reads `v` as missing (a Zarr v2 array's `fill_value`).
    pub fn add_missing(&mut self, v: f64) {
        if !self.missing.contains(&v) {
            self.missing.push(v);
        }
    }

    /// Unpacks stored values (read as f64) into float32.
    pub fn unpack(&self, raw: &[f64], out: &mut Vec<u8>) {
        out.reserve(raw.len() * 4);
        for &v in raw {
            let x = if v.is_nan() || self.missing.contains(&v) {
                f32::NAN
            } else {
                (v * self.scale + self.offset) as f32
            };
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
}

/// `(start, step)` of evenly spaced values (relative tolerance 1e-6 of the step;
/// the step is the mean, so float32 coordinates keep their intended spacing).
pub fn regular(c: &[f64]) -> Option<(f64, f64)> {
    match c.len() {
        0 => None,
        1 => Some((c[0], 1.0)),
        n => {
            let step = (c[n - 1] - c[0]) / (n - 1) as f64;
            let ok = step != 0.0
                && c.iter().enumerate().all(|(k, &v)| {
                    (v - (c[0] + k as f64 * step)).abs()
                        <= 1e-6 * step.abs().max(1e-12) + 1e-9 * v.abs()
                });
            ok.then_some((c[0], step))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_fill_reads_missing() {
        let p = Packing::from_attrs(|n| match n {
            "scale_factor" => Some(0.5),
            "add_offset" => Some(10.0),
            "_FillValue" => Some(-1.0),
            _ => None,
        });
        let mut out = Vec::new();
        p.unpack(&[2.0, -1.0], &mut out);
        let v: Vec<f32> = out
            .chunks(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(v[0], 11.0);
        assert!(v[1].is_nan());
        assert_eq!(regular(&[90.0, 89.75, 89.5]), Some((90.0, -0.25)));
        assert_eq!(regular(&[0.0, 1.0, 3.0]), None);
    }
}
