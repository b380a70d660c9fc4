//! A statement's answer as Postgres rows: one column per result dimension (its
//! coordinates), then one per result column, rows in row-major order of the
//! result's shape. Dimension columns are not expanded: row `r` reads coordinate
//! `(r / stride) % len`, so a large result costs its columns, not a copy per row.

use std::sync::Arc;

use arrayq_query::{CoordValues, QueryResult, ResultHeader};
use arrayq_storage::time::is_unix_ns_units;
use arrayq_storage::{Buffer, DType};
use bytes::BytesMut;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::api::Type;
use pgwire::messages::data::DataRow;

use crate::pg::types::{buffer_values, dtype_type, u64_values, Values};
use crate::table_result::{TableColumn, TableValues};

/// One output column.
#[derive(Clone, Debug, PartialEq)]
pub struct Col {
    pub name: String,
    pub ty: Type,
    pub values: Values,
    /// Rows per step through `values` (1 for attribute columns).
    pub stride: usize,
}

/// A whole answer: its columns and number of rows, and its command tag.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub cols: Vec<Col>,
    pub rows: usize,
    pub tag: String,
}

/// The column names and types of a query result, known from its header alone
/// (what Describe answers before anything runs).
pub fn header_schema(h: &ResultHeader) -> Vec<(String, Type)> {
    let dims = if h.scalar { &[][..] } else { &h.coords[..] };
    let mut out: Vec<(String, Type)> = dims
        .iter()
        .zip(&h.dims)
        .map(|(c, name)| (name.clone(), coord_type(c)))
        .collect();
    out.extend(h.columns.iter().enumerate().map(|(k, (n, d))| {
        let ty = match is_time_column(h, k) {
            true => Type::TIMESTAMPTZ,
            false => dtype_type(*d),
        };
        (n.clone(), ty)
    }));
    out
}

/// An int64 column of UTC nanoseconds (a time dimension shown as a column).
fn is_time_column(h: &ResultHeader, k: usize) -> bool {
    let units = h.metadata.column(k).get("units").map(String::as_str);
    h.columns[k].1 == DType::I64 && is_unix_ns_units(units)
}

fn coord_type(c: &CoordValues) -> Type {
    match c {
        CoordValues::Numbers(_) => Type::FLOAT8,
        CoordValues::Times(_) => Type::TIMESTAMPTZ,
        CoordValues::Labels(_) => Type::INT8,
        CoordValues::Texts(_) => Type::TEXT,
    }
}

impl Table {
    /// A collected query result.
    pub fn from_result(r: QueryResult) -> Result<Table, String> {
        let h = &r.header;
        let schema = header_schema(h);
        let rows = if h.scalar { 1 } else { h.len() };
        let mut cols = Vec::with_capacity(schema.len());
        if !h.scalar {
            let mut stride = rows;
            for (k, c) in h.coords.iter().enumerate() {
                let len = h.shape[k].max(1);
                stride /= len;
                let values = match c {
                    CoordValues::Numbers(v) => Values::F64(v.clone()),
                    CoordValues::Times(v) => Values::Time(v.clone()),
                    CoordValues::Labels(v) => Values::I64(v.clone()),
                    CoordValues::Texts(v) => Values::Text(v.clone()),
                };
                let (name, ty) = schema[k].clone();
                cols.push(Col {
                    name,
                    ty,
                    values,
                    stride: stride.max(1),
                });
            }
        }
        let first = cols.len();
        for (k, b) in r.columns.iter().enumerate() {
            let (name, ty) = schema[first + k].clone();
            let values = match (b, is_time_column(h, k)) {
                (Buffer::I64(a), true) => Values::Time(a.iter().copied().collect()),
                _ => buffer_values(b).map_err(|e| format!("column {name}: {e}"))?,
            };
            cols.push(Col {
                name,
                ty,
                values,
                stride: 1,
            });
        }
        Ok(Table {
            cols,
            rows,
            tag: "SELECT".into(),
        })
    }

    /// A table answer (SHOW ARRAYS, DESCRIBE, a DDL outcome) from the columns the
    /// gRPC door sends too; text as `text`, counts as `int8`.
    pub fn from_columns(columns: Vec<TableColumn>, tag: &str) -> Result<Table, String> {
        let rows = columns.first().map_or(0, |c| match &c.values {
            TableValues::Text(v) => v.len(),
            TableValues::U64(v) => v.len(),
        });
        let cols = columns
            .into_iter()
            .map(|c| {
                let (ty, values) = match c.values {
                    TableValues::Text(v) => (Type::TEXT, Values::Text(v)),
                    TableValues::U64(v) => (Type::INT8, Values::I64(u64_values(v.into_iter())?)),
                };
                Ok(Col {
                    name: c.name,
                    ty,
                    values,
                    stride: 1,
                })
            })
            .collect::<Result<Vec<Col>, String>>()?;
        Ok(Table {
            cols,
            rows,
            tag: tag.into(),
        })
    }

    /// One text column of lines (EXPLAIN's `QUERY PLAN`, SHOW of a setting).
    pub fn text(name: &str, lines: Vec<String>, tag: &str) -> Table {
        Table {
            rows: lines.len(),
            cols: vec![Col {
                name: name.into(),
                ty: Type::TEXT,
                values: Values::Text(lines),
                stride: 1,
            }],
            tag: tag.into(),
        }
    }

    /// Reorders and fills the columns to a schema announced before running (by
    /// name; a column the answer lacks becomes NULLs).
    pub fn fit(mut self, schema: &[(String, Type)]) -> Table {
        let rows = self.rows;
        self.cols = schema
            .iter()
            .map(
                |(name, ty)| match self.cols.iter().position(|c| &c.name == name) {
                    Some(k) => self.cols.swap_remove(k),
                    None => Col {
                        name: name.clone(),
                        ty: ty.clone(),
                        values: Values::Null(rows),
                        stride: 1,
                    },
                },
            )
            .collect();
        self
    }

    pub fn schema(&self) -> Vec<(String, Type)> {
        self.cols
            .iter()
            .map(|c| (c.name.clone(), c.ty.clone()))
            .collect()
    }

    /// Encodes rows `from..to` in the per-column formats given.
    pub fn encode(&self, from: usize, to: usize, formats: &[FieldFormat]) -> Vec<DataRow> {
        let mut buf = BytesMut::with_capacity(64 * (to - from).max(1));
        (from..to)
            .map(|r| {
                for (k, c) in self.cols.iter().enumerate() {
                    let len = c.values.len().max(1);
                    c.values.encode((r / c.stride) % len, formats[k], &mut buf);
                }
                DataRow::new(buf.split(), self.cols.len() as i16)
            })
            .collect()
    }
}

/// RowDescription fields of a schema in the formats the client asked for.
pub fn fields(schema: &[(String, Type)], format: &Format) -> Arc<Vec<FieldInfo>> {
    Arc::new(
        schema
            .iter()
            .enumerate()
            .map(|(k, (n, t))| {
                FieldInfo::new(n.clone(), None, None, t.clone(), format_of(format, k))
            })
            .collect(),
    )
}

/// The format of column `k`; a single code applies to all columns.
pub fn format_of(f: &Format, k: usize) -> FieldFormat {
    match f {
        Format::Individual(v) if v.len() == 1 => FieldFormat::from(v[0]),
        Format::Individual(v) if v.is_empty() => FieldFormat::Text,
        Format::Individual(v) => v
            .get(k)
            .map_or(FieldFormat::Text, |c| FieldFormat::from(*c)),
        other => other.format_for(k),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrayq_query::QueryStats;
    use arrayq_storage::{Buffer, DType};

    #[test]
    fn rows_are_row_major_with_coordinates() {
        let header = ResultHeader {
            dims: vec!["t".into(), "x".into()],
            coords: vec![
                CoordValues::Times(vec![0, 1_000_000_000]),
                CoordValues::Labels(vec![7, 8, 9]),
            ],
            shape: vec![2, 3],
            columns: vec![("v".into(), DType::F32)],
            scalar: false,
            notes: vec![],
            layout: String::new(),
            version: 1,
            metadata: Default::default(),
        };
        let v: Vec<u8> = (0..6).flat_map(|k| (k as f32).to_le_bytes()).collect();
        let r = QueryResult {
            header,
            columns: vec![Buffer::from_le_bytes(DType::F32, &[2, 3], &v).unwrap()],
            stats: QueryStats::default(),
        };
        let t = Table::from_result(r).unwrap();
        assert_eq!(t.rows, 6);
        let types: Vec<Type> = t.cols.iter().map(|c| c.ty.clone()).collect();
        assert_eq!(types, [Type::TIMESTAMPTZ, Type::INT8, Type::FLOAT4]);
        let rows = t.encode(0, 6, &[FieldFormat::Text; 3]);
        let row4 = String::from_utf8_lossy(&rows[4].data).to_string();
        // row 4 = (t index 1, x index 1): 1970-01-01 00:00:01+00, 8, 4
        assert!(row4.contains("00:00:01+00") && row4.contains('8') && row4.ends_with('4'));
        let fitted = t.fit(&[("v".into(), Type::FLOAT4), ("w".into(), Type::TEXT)]);
        assert_eq!(fitted.cols[1].values, Values::Null(6));
    }
}
