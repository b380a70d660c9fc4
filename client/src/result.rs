//! Query results on the client: dimensions with coordinates, typed columns
//! ([`ColumnValues`]: numbers as [`arrayq_format::Buffer`]s, or text, shaped like
//! the result), notes and statistics.

use std::collections::BTreeMap;
use std::time::Duration;

use arrayq_format::{Buffer, CoordValue, DType};
use arrayq_proto::v1;

pub use crate::column_builder::buffer_from_le;
pub(crate) use crate::column_builder::ColumnBuilder;
use crate::error::{Error, Result};
use crate::values::{ColumnType, ColumnValues};
use arrayq_format::time::{format_unix_ns, is_unix_ns_units};

/// The coordinates of one result dimension.
#[derive(Clone, Debug, PartialEq)]
pub enum Coords {
    /// Evenly spaced numbers: coordinate `i` is `start + i * step`.
    Regular {
        /// Coordinate of index 0.
        start: f64,
        /// Distance between neighbours.
        step: f64,
    },
    /// Evenly spaced timestamps (Unix nanoseconds, UTC).
    Time {
        /// Timestamp of index 0.
        start_ns: i64,
        /// Distance between neighbours, nanoseconds.
        step_ns: i64,
    },
    /// Explicit numbers, one per index.
    Values(Vec<f64>),
    /// Explicit timestamps (Unix nanoseconds, UTC), one per index.
    Times(Vec<i64>),
    /// Integer labels, one per index.
    Labels(Vec<i64>),
    /// Text labels, one per index.
    TextLabels(Vec<String>),
}

impl Coords {
    /// The coordinate of index `i` (must be below the dimension's length for
    /// the list forms).
    pub fn get(&self, i: usize) -> CoordValue {
        match self {
            Coords::Regular { start, step } => CoordValue::Number(start + step * i as f64),
            Coords::Time { start_ns, step_ns } => {
                CoordValue::Time(start_ns.saturating_add(step_ns.saturating_mul(i as i64)))
            }
            Coords::Values(v) => CoordValue::Number(v[i]),
            Coords::Times(v) => CoordValue::Time(v[i]),
            Coords::Labels(v) => CoordValue::Label(v[i]),
            Coords::TextLabels(v) => CoordValue::Text(v[i].clone()),
        }
    }

    /// True for timestamp coordinates.
    pub fn is_time(&self) -> bool {
        matches!(self, Coords::Time { .. } | Coords::Times(_))
    }

    /// The coordinate of index `i` as text: ISO-8601 (UTC) for timestamps,
    /// the shortest round-trip decimal for numbers, the label itself for labels.
    pub fn text(&self, i: usize) -> String {
        coord_text(self.get(i))
    }

    fn from_proto(c: Option<v1::result_dimension::Coordinates>) -> Result<Coords> {
        use v1::result_dimension::Coordinates as C;
        Ok(match c {
            Some(C::Regular(r)) => Coords::Regular {
                start: r.start,
                step: r.step,
            },
            Some(C::Time(t)) => Coords::Time {
                start_ns: t.start_unix_ns,
                step_ns: t.step_ns,
            },
            Some(C::Values(l)) => Coords::Values(l.values),
            Some(C::TimesUnixNs(l)) => Coords::Times(l.values),
            Some(C::Labels(l)) => Coords::Labels(l.values),
            Some(C::TextLabels(l)) => Coords::TextLabels(l.values),
            None => {
                return Err(Error::Protocol(
                    "result dimension without coordinates".into(),
                ))
            }
        })
    }
}

/// A coordinate as text (see [`Coords::text`]).
pub fn coord_text(v: CoordValue) -> String {
    match v {
        CoordValue::Number(x) => format_f64(x),
        CoordValue::Time(ns) => format_unix_ns(ns),
        CoordValue::Label(l) => l.to_string(),
        CoordValue::Text(t) => t,
    }
}

/// Shortest round-trip text of a float (`NaN`, `inf`, `-inf` for the
/// non-finite values; integers without a fraction).
pub fn format_f64(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{x}")
    }
}

/// Shortest round-trip text of an `f32`.
pub fn format_f32(x: f32) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{x}")
    }
}

/// One dimension of a result.
#[derive(Clone, Debug, PartialEq)]
pub struct Dim {
    /// Dimension name (or its alias in the query).
    pub name: String,
    /// Coordinates along it.
    pub coords: Coords,
    /// The array dimension's descriptions (CF attributes such as units,
    /// long_name), when the result shows one unchanged.
    pub metadata: BTreeMap<String, String>,
}

/// Name and type of a result column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Column name (attribute, alias, expression text, or a field of a listing).
    pub name: String,
    /// Numeric element type, or text.
    pub column_type: ColumnType,
    /// The attribute's descriptions (CF attributes such as units, long_name),
    /// when the column is a plain attribute reference.
    pub metadata: BTreeMap<String, String>,
}

/// What a result looks like, known as soon as the stream starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// Result dimensions, in order (empty for a scalar result).
    pub dims: Vec<Dim>,
    /// Extent of each dimension.
    pub shape: Vec<usize>,
    /// The columns.
    pub columns: Vec<ColumnInfo>,
    /// A single value per column, no dimensions.
    pub scalar: bool,
    /// Remarks from the server (for example "empty selection").
    pub notes: Vec<String>,
}

impl Header {
    /// Number of elements of every column (1 for a scalar result).
    pub fn len(&self) -> usize {
        if self.scalar {
            1
        } else {
            self.shape.iter().product()
        }
    }

    /// True if the columns hold no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn from_proto(h: v1::ResultHeader) -> Result<Header> {
        if h.dimensions.len() != h.shape.len() {
            return Err(Error::Protocol(format!(
                "{} dimensions but {} shape entries",
                h.dimensions.len(),
                h.shape.len()
            )));
        }
        let mut dims = Vec::with_capacity(h.dimensions.len());
        for d in h.dimensions {
            dims.push(Dim {
                name: d.name,
                coords: Coords::from_proto(d.coordinates)?,
                metadata: d.metadata.into_iter().collect(),
            });
        }
        let shape = h
            .shape
            .iter()
            .map(|&n| usize::try_from(n).map_err(|_| Error::Protocol("shape overflows".into())))
            .collect::<Result<Vec<_>>>()?;
        let mut columns = Vec::with_capacity(h.columns.len());
        for c in h.columns {
            let column_type = ColumnType::from_wire(c.dtype)
                .map_err(|e| Error::Protocol(format!("column '{}': {e}", c.name)))?;
            columns.push(ColumnInfo {
                name: c.name,
                column_type,
                metadata: c.metadata.into_iter().collect(),
            });
        }
        Ok(Header {
            dims,
            shape,
            columns,
            scalar: h.scalar,
            notes: h.notes,
        })
    }
}

/// Execution statistics of a query (from the stream's footer).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Chunks read from storage.
    pub chunks_read: u64,
    /// Compressed bytes read.
    pub bytes_read: u64,
    /// Bytes after decompression.
    pub bytes_decoded: u64,
    /// Server-side wall time.
    pub elapsed: Duration,
    /// The layout read (empty if none).
    pub layout: String,
    /// The array version read.
    pub version: u64,
}

impl From<v1::QueryStats> for QueryStats {
    fn from(s: v1::QueryStats) -> Self {
        QueryStats {
            chunks_read: s.chunks_read,
            bytes_read: s.bytes_read,
            bytes_decoded: s.bytes_decoded,
            elapsed: Duration::from_nanos(s.elapsed_ns),
            layout: s.layout,
            version: s.version,
        }
    }
}

/// One column of a result: its name and values (numbers or text shaped like the
/// result; 0-dimensional for a scalar result).
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// The values, row-major over the result's dimensions.
    pub values: ColumnValues,
    /// The attribute's descriptions (CF attributes such as units, long_name),
    /// when the column is a plain attribute reference.
    pub metadata: BTreeMap<String, String>,
}

impl Column {
    /// Type of the values.
    pub fn column_type(&self) -> ColumnType {
        self.values.column_type()
    }

    /// The timestamps of an int64 column whose `units` say it holds UTC
    /// nanoseconds (a time dimension shown as a column); `None` for others.
    pub fn times(&self) -> Option<&ndarray::ArrayD<i64>> {
        match &self.values {
            ColumnValues::Numeric(Buffer::I64(a))
                if is_unix_ns_units(self.metadata.get("units").map(String::as_str)) =>
            {
                Some(a)
            }
            _ => None,
        }
    }
}

/// A complete query result.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    /// Result dimensions with their coordinates (empty for a scalar).
    pub dims: Vec<Dim>,
    /// Extent of each dimension.
    pub shape: Vec<usize>,
    /// The columns, each holding `len()` values shaped like `shape`.
    pub columns: Vec<Column>,
    /// True for a single value per column (dims and shape are empty).
    pub scalar: bool,
    /// Remarks from the server.
    pub notes: Vec<String>,
    /// What the query did.
    pub stats: QueryStats,
}

impl QueryResult {
    /// Builds a result from a header and the row-major values of each column
    /// (each of `header.len()` elements, any shape).
    pub fn new(
        header: Header,
        values: Vec<ColumnValues>,
        stats: QueryStats,
    ) -> Result<QueryResult> {
        if values.len() != header.columns.len() {
            return Err(Error::InvalidInput(format!(
                "{} buffers for {} columns",
                values.len(),
                header.columns.len()
            )));
        }
        let shape = if header.scalar {
            Vec::new()
        } else {
            header.shape.clone()
        };
        let mut columns = Vec::with_capacity(values.len());
        for (info, v) in header.columns.into_iter().zip(values) {
            if v.column_type() != info.column_type {
                return Err(Error::InvalidInput(format!(
                    "column '{}' is {} but its values are {}",
                    info.name,
                    info.column_type,
                    v.column_type()
                )));
            }
            let v = v
                .into_shape(&shape)
                .map_err(|e| Error::InvalidInput(format!("column '{}': {e}", info.name)))?;
            columns.push(Column {
                name: info.name,
                values: v,
                metadata: info.metadata,
            });
        }
        Ok(QueryResult {
            dims: header.dims,
            shape: header.shape,
            columns,
            scalar: header.scalar,
            notes: header.notes,
            stats,
        })
    }

    /// Number of cells (elements per column; 1 for a scalar result).
    pub fn len(&self) -> usize {
        if self.scalar {
            1
        } else {
            self.shape.iter().product()
        }
    }

    /// True if the result has no cells.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The dimension called `name`.
    pub fn dim(&self, name: &str) -> Option<&Dim> {
        self.dims.iter().find(|d| d.name == name)
    }

    /// Dimension names.
    pub fn dim_names(&self) -> Vec<&str> {
        self.dims.iter().map(|d| d.name.as_str()).collect()
    }

    /// The multi-index of flat (row-major) position `i`.
    pub fn index_of(&self, mut i: usize) -> Vec<usize> {
        let mut idx = vec![0; self.shape.len()];
        for d in (0..self.shape.len()).rev() {
            let n = self.shape[d].max(1);
            idx[d] = i % n;
            i /= n;
        }
        idx
    }

    /// Column `c` as `f64` values, row-major (lossy for huge 64-bit ints;
    /// booleans as 0/1; text as NaN).
    pub fn values_f64(&self, c: usize) -> Vec<f64> {
        self.columns[c].values.to_f64_vec()
    }
}

/// One piece of a column, as it arrives in a [`crate::QueryStream`].
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// Index of the column in [`Header::columns`].
    pub column: usize,
    /// Row-major element offset of the first value within the column.
    pub offset: usize,
    /// The values (1-dimensional).
    pub values: Buffer,
}

/// The storage [`DType`] of a wire dtype value of an attribute (never STRING, a
/// result-only type; see [`ColumnType::from_wire`] for result columns).
pub fn dtype_from_wire(v: i32) -> Result<DType, arrayq_proto::ProtocolError> {
    let d = v1::DType::from_wire(v)?;
    d.element().ok_or_else(|| {
        arrayq_proto::ProtocolError::new(format!(
            "dtype {} is a result-only type, not an element type",
            d.as_str_name()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ArrayD;

    #[test]
    fn coords_text() {
        let t = Coords::Time {
            start_ns: 1_672_531_200_000_000_000,
            step_ns: 3_600_000_000_000,
        };
        assert_eq!(t.text(1), "2023-01-01T01:00:00Z");
        let r = Coords::Regular {
            start: 72.0,
            step: -0.25,
        };
        assert_eq!(r.text(2), "71.5");
        assert_eq!(Coords::Labels(vec![7, 9]).text(1), "9");
        assert_eq!(format_f64(f64::NAN), "NaN");
        assert_eq!(format_f64(3.0), "3");
        assert_eq!(format_f32(0.1), "0.1");
    }

    #[test]
    fn build_and_index() {
        let header = Header {
            dims: vec![
                Dim {
                    name: "a".into(),
                    coords: Coords::Labels(vec![1, 2]),
                    metadata: Default::default(),
                },
                Dim {
                    name: "b".into(),
                    coords: Coords::Regular {
                        start: 0.0,
                        step: 1.0,
                    },
                    metadata: Default::default(),
                },
            ],
            shape: vec![2, 3],
            columns: vec![ColumnInfo {
                name: "x".into(),
                column_type: ColumnType::Numeric(DType::I32),
                metadata: Default::default(),
            }],
            scalar: false,
            notes: vec![],
        };
        let flat = Buffer::I32(ArrayD::from_shape_vec(vec![6], (0..6).collect()).unwrap());
        let r = QueryResult::new(
            header.clone(),
            vec![ColumnValues::Numeric(flat.clone())],
            QueryStats::default(),
        )
        .unwrap();
        assert_eq!(r.columns[0].values.shape(), &[2, 3]);
        assert_eq!(r.index_of(4), vec![1, 1]);
        assert_eq!(r.values_f64(0)[5], 5.0);
        assert_eq!(
            r.columns[0].values.numbers().unwrap().to_le_bytes().len(),
            24
        );
        // Text where the header announces numbers is refused, naming both types.
        let text = ColumnValues::Text(ArrayD::from_elem(vec![6], "v".to_string()));
        let e = QueryResult::new(header, vec![text], QueryStats::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            Error::InvalidInput("column 'x' is i32 but its values are string".into()).to_string()
        );
    }
}
