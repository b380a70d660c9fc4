//! Where cells given by coordinates go in an existing array (`INSERT`): each
//! dimension's coordinates become its indices, labels the array does not have yet
//! are appended when the dimension may grow, and values become the attribute's
//! type without silent loss.

use crate::error::QueryError;
use crate::CoordValues;
use arrayq_storage::{Buffer, Coordinate, DType, Dimension, LabelRef, Scalar};
use std::collections::HashMap;

/// The indices of one dimension's coordinates, and the labels to append first.
#[derive(Debug, Default)]
pub(super) struct DimPlacement {
    pub indices: Vec<u64>,
    pub new_int_labels: Vec<i64>,
    pub new_text_labels: Vec<String>,
}

impl DimPlacement {
    /// The first index when the indices run `start, start + 1, ...`.
    pub fn contiguous_start(&self) -> Option<u64> {
        let first = *self.indices.first()?;
        let run = self.indices.iter().enumerate();
        run.clone()
            .all(|(k, &i)| i == first + k as u64)
            .then_some(first)
    }
}

fn mismatch(dim: &Dimension, got: &str) -> QueryError {
    let has = match dim.coord {
        Coordinate::Regular { .. } => "numbers",
        Coordinate::Time { .. } => "timestamps",
        Coordinate::Labels { .. } => "integer labels",
        Coordinate::TextLabels { .. } => "text labels",
    };
    QueryError::type_error(format!(
        "dimension '{}' holds {has}; the cells given have {got}",
        dim.name
    ))
}

fn outside(dim: &Dimension, what: String) -> QueryError {
    QueryError::plan(format!(
        "{what} is outside dimension '{}' (length {}{})",
        dim.name,
        dim.len,
        if dim.growable { "" } else { ", not growable" }
    ))
}

/// Places `coords` (one per cell or per result index) along `dim`.
pub(super) fn place(dim: &Dimension, coords: &CoordValues) -> Result<DimPlacement, QueryError> {
    let mut p = DimPlacement::default();
    let in_range = |i: u64, what: &dyn Fn() -> String| {
        if i < dim.len || dim.growable {
            Ok(i)
        } else {
            Err(outside(dim, what()))
        }
    };
    match (&dim.coord, coords) {
        (Coordinate::Regular { start, step }, CoordValues::Numbers(v)) => {
            for &c in v {
                let at = (c - start) / step;
                let i = at.round();
                if (at - i).abs() > 1e-6 || i < 0.0 {
                    return Err(outside(dim, format!("coordinate {c} (not on its grid)")));
                }
                p.indices
                    .push(in_range(i as u64, &|| format!("coordinate {c}"))?);
            }
        }
        (Coordinate::Time { start_ns, step_ns }, CoordValues::Times(v)) => {
            for &t in v {
                let d = t - start_ns;
                if d < 0 || d % step_ns != 0 {
                    let text = arrayq_storage::time::format_unix_ns(t);
                    return Err(outside(dim, format!("time {text} (not on its grid)")));
                }
                let text = || arrayq_storage::time::format_unix_ns(t);
                p.indices.push(in_range((d / step_ns) as u64, &text)?);
            }
        }
        (Coordinate::Labels { .. }, CoordValues::Labels(v)) => {
            let mut fresh: HashMap<i64, u64> = HashMap::new();
            for &l in v {
                let i = match dim.coord.label_position(LabelRef::Int(l)) {
                    Some(i) => i,
                    None => *fresh.entry(l).or_insert_with(|| {
                        p.new_int_labels.push(l);
                        dim.len + p.new_int_labels.len() as u64 - 1
                    }),
                };
                p.indices.push(in_range(i, &|| format!("label {l}"))?);
            }
        }
        (Coordinate::TextLabels { .. }, CoordValues::Texts(v)) => {
            let mut fresh: HashMap<&str, u64> = HashMap::new();
            for l in v {
                let i = match dim.coord.label_position(LabelRef::Text(l)) {
                    Some(i) => i,
                    None => *fresh.entry(l).or_insert_with(|| {
                        p.new_text_labels.push(l.clone());
                        dim.len + p.new_text_labels.len() as u64 - 1
                    }),
                };
                p.indices.push(in_range(i, &|| format!("label '{l}'"))?);
            }
        }
        (_, CoordValues::Numbers(_)) => return Err(mismatch(dim, "numbers")),
        (_, CoordValues::Times(_)) => return Err(mismatch(dim, "timestamps")),
        (_, CoordValues::Labels(_)) => return Err(mismatch(dim, "integer labels")),
        (_, CoordValues::Texts(_)) => return Err(mismatch(dim, "text labels")),
    }
    Ok(p)
}

/// `data` as a buffer of `dtype`: the same values, or an error naming `column` and
/// the first value that would change (a fraction or NaN into an integer, a number
/// out of the type's range).
pub(super) fn cast(data: Buffer, dtype: DType, column: &str) -> Result<Buffer, QueryError> {
    if data.dtype() == dtype {
        return Ok(data);
    }
    let shape = data.shape().to_vec();
    let values = data.to_f64_vec();
    scalars_to_buffer(values.into_iter().map(Scalar::F64), dtype, &shape, column)
}

/// Values (in row-major order) as a buffer of `dtype` and `shape`, each checked to
/// survive the conversion (NaN stays NaN in floats).
pub(super) fn scalars_to_buffer(
    values: impl Iterator<Item = Scalar>,
    dtype: DType,
    shape: &[usize],
    column: &str,
) -> Result<Buffer, QueryError> {
    let mut bytes = Vec::with_capacity(shape.iter().product::<usize>() * dtype.size());
    for v in values {
        let le = v.to_le_bytes(dtype);
        let back = Scalar::from_le_bytes(dtype, &le).as_f64();
        let x = v.as_f64();
        let same = back == x || (x.is_nan() && back.is_nan());
        if !same {
            return Err(QueryError::type_error(format!(
                "value {x} of '{column}' does not fit its attribute's type {dtype}"
            )));
        }
        bytes.extend_from_slice(&le);
    }
    Buffer::from_le_bytes(dtype, shape, &bytes)
        .map_err(|e| QueryError::Internal(format!("building '{column}': {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dim(coord: Coordinate, len: u64, growable: bool) -> Dimension {
        Dimension {
            name: "d".into(),
            coord,
            len,
            growable,
        }
    }

    #[test]
    fn regular_coordinates_become_indices_and_off_grid_ones_are_refused() {
        let d = dim(
            Coordinate::Regular {
                start: 72.0,
                step: -0.25,
            },
            5,
            false,
        );
        let p = place(&d, &CoordValues::Numbers(vec![71.5, 71.25])).unwrap();
        assert_eq!(p.indices, [2, 3]);
        assert_eq!(p.contiguous_start(), Some(2));
        let e = place(&d, &CoordValues::Numbers(vec![71.1])).unwrap_err();
        assert!(e.to_string().contains("71.1 (not on its grid)"), "{e}");
        let e = place(&d, &CoordValues::Numbers(vec![70.0])).unwrap_err();
        assert!(e.to_string().contains("length 5, not growable"), "{e}");
    }

    #[test]
    fn new_labels_are_appended_once_in_order_of_appearance() {
        let d = dim(Coordinate::int_labels(vec![7, 8]), 2, true);
        let p = place(&d, &CoordValues::Labels(vec![9, 7, 9, 10])).unwrap();
        assert_eq!(p.indices, [2, 0, 2, 3]);
        assert_eq!(p.new_int_labels, [9, 10]);
        assert_eq!(p.contiguous_start(), None);
    }

    #[test]
    fn casts_refuse_what_would_change() {
        let b = Buffer::from_le_bytes(
            DType::F64,
            &[2],
            &[1.0f64, 2.5].map(f64::to_le_bytes).concat(),
        )
        .unwrap();
        let e = cast(b, DType::I32, "v").unwrap_err();
        assert!(e.to_string().contains("value 2.5 of 'v'"), "{e}");
    }
}
