//! The values of a result column: numbers (a typed [`Buffer`]) or text (the STRING
//! columns of catalog listings and DDL outcomes).

use std::fmt;

use arrayq_format::{Buffer, DType};
use arrayq_proto::v1;
use ndarray::{ArrayD, IxDyn};

use crate::error::{Error, Result};

/// The type of a result column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// Numbers or booleans of one element type.
    Numeric(DType),
    /// UTF-8 text (a result-only type: never an attribute's).
    Text,
}

impl ColumnType {
    /// The column type of a wire dtype value (`ResultColumn.dtype`).
    pub fn from_wire(v: i32) -> std::result::Result<ColumnType, arrayq_proto::ProtocolError> {
        // from_wire has refused UNSPECIFIED: every other type without elements is text.
        let d = v1::DType::from_wire(v)?;
        Ok(d.element().map_or(ColumnType::Text, ColumnType::Numeric))
    }

    /// The element type of a numeric column; `None` for text.
    pub fn dtype(self) -> Option<DType> {
        match self {
            ColumnType::Numeric(d) => Some(d),
            ColumnType::Text => None,
        }
    }
}

impl fmt::Display for ColumnType {
    /// The element type's name (`f32`, `i64`, ...) or `string`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::Numeric(d) => write!(f, "{d}"),
            ColumnType::Text => f.write_str("string"),
        }
    }
}

/// The values of one result column, row-major over the result's dimensions.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnValues {
    /// A numeric (or boolean) column.
    Numeric(Buffer),
    /// A text column.
    Text(ArrayD<String>),
}

impl ColumnValues {
    /// The column's type.
    pub fn column_type(&self) -> ColumnType {
        match self {
            ColumnValues::Numeric(b) => ColumnType::Numeric(b.dtype()),
            ColumnValues::Text(_) => ColumnType::Text,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            ColumnValues::Numeric(b) => b.len(),
            ColumnValues::Text(a) => a.len(),
        }
    }

    /// True without values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The extent of each dimension.
    pub fn shape(&self) -> &[usize] {
        match self {
            ColumnValues::Numeric(b) => b.shape(),
            ColumnValues::Text(a) => a.shape(),
        }
    }

    /// The numbers of a numeric column; `None` for text.
    pub fn numbers(&self) -> Option<&Buffer> {
        match self {
            ColumnValues::Numeric(b) => Some(b),
            ColumnValues::Text(_) => None,
        }
    }

    /// The text of a text column; `None` for numbers.
    pub fn text(&self) -> Option<&ArrayD<String>> {
        match self {
            ColumnValues::Numeric(_) => None,
            ColumnValues::Text(a) => Some(a),
        }
    }

    /// The values as `f64`, row-major (lossy for huge 64-bit integers; booleans as
    /// 0/1; every text value is NaN, text has no numeric value).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            ColumnValues::Numeric(b) => b.to_f64_vec(),
            ColumnValues::Text(a) => vec![f64::NAN; a.len()],
        }
    }

    /// The same values with a new shape holding as many elements.
    pub fn into_shape(self, shape: &[usize]) -> Result<ColumnValues> {
        match self {
            ColumnValues::Numeric(b) => b
                .into_shape(shape)
                .map(ColumnValues::Numeric)
                .map_err(|e| Error::InvalidInput(e.to_string())),
            ColumnValues::Text(a) => {
                let n = a.len();
                let v: Vec<String> = a.into_iter().collect();
                ArrayD::from_shape_vec(IxDyn(shape), v)
                    .map(ColumnValues::Text)
                    .map_err(|e| {
                        Error::InvalidInput(format!(
                            "{n} text values do not fit shape {shape:?}: {e}"
                        ))
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_types() {
        assert_eq!(
            ColumnType::from_wire(v1::DType::String as i32),
            Ok(ColumnType::Text)
        );
        assert_eq!(
            ColumnType::from_wire(v1::DType::I16 as i32),
            Ok(ColumnType::Numeric(DType::I16))
        );
        assert!(ColumnType::from_wire(0).is_err());
        // Attributes never have the result-only type.
        assert_eq!(
            crate::result::dtype_from_wire(v1::DType::String as i32)
                .unwrap_err()
                .to_string(),
            "dtype D_TYPE_STRING is a result-only type, not an element type"
        );
        assert_eq!(ColumnType::Text.to_string(), "string");
        assert_eq!(ColumnType::Numeric(DType::F64).to_string(), "f64");
    }

    #[test]
    fn text_values() {
        let v = ColumnValues::Text(
            ArrayD::from_shape_vec(IxDyn(&[3]), vec!["a".into(), "b".into(), "c".into()]).unwrap(),
        );
        assert_eq!(v.column_type(), ColumnType::Text);
        assert_eq!(v.len(), 3);
        assert!(v.numbers().is_none());
        assert!(v.to_f64_vec().iter().all(|x| x.is_nan()));
        let v = v.into_shape(&[3, 1]).unwrap();
        assert_eq!(v.shape(), &[3, 1]);
        assert_eq!(v.text().unwrap()[[2, 0]], "c");
        assert!(v.into_shape(&[2]).is_err());
    }
}
