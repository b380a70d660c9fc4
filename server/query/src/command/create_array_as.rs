//! `CREATE ARRAY name [WITH (...)] AS SELECT ...`: a query result stored as a new
//! array. Its dimensions take the result's coordinates (evenly spaced numbers and
//! timestamps become regular dimensions, other integers labels, text labels text
//! labels), its attributes the result's columns, its metadata the descriptions the
//! result carries; the `WITH` options make its layout as for `CREATE ARRAY`.

use super::create_array::layout_from_options;
use super::options::{check_opts, KNOWN_OPTS};
use super::{ingest_error, write_columns, Placement};
use crate::ast::{CreateArrayAs, Name, Opt};
use crate::error::QueryError;
use crate::spacing::{regular_spacing, time_spacing};
use crate::{CoordValues, Execution, QueryResult};
use arrayq_storage::schema::valid_name;
use arrayq_storage::{ArraySchema, Attribute, Coordinate, Dimension, Metadata, Store};

pub(crate) fn create_array_as(
    store: &Store,
    c: &CreateArrayAs,
    result: QueryResult,
) -> Result<Execution, QueryError> {
    check_opts(&c.options, &KNOWN_OPTS)?;
    let name = &c.name.value;
    if store.list_arrays().contains(name) {
        if c.if_not_exists {
            return Ok(Execution::Done {
                message: format!("array '{name}' already exists"),
                array: Some(name.clone()),
                version: None,
            });
        }
        return Err(QueryError::plan(format!("array '{name}' already exists")).at(c.name.span));
    }
    let cells = result.header.len();
    let shape = result.header.dims.join(" x ");
    let version = store_result(store, &c.name, &c.options, result)?;
    Ok(Execution::Done {
        message: format!("created array '{name}' from the query: {cells} cells ({shape})"),
        array: Some(name.clone()),
        version: Some(version),
    })
}

/// Creates array `name` (with the `WITH` options) from `result` and writes the result
/// into it, in one statement: a failed write drops the array again, so either the
/// whole result is there or nothing. Returns the version written.
pub(crate) fn store_result(
    store: &Store,
    name: &Name,
    options: &[Opt],
    result: QueryResult,
) -> Result<u64, QueryError> {
    let schema = schema_of(&name.value, &result, options)?;
    store
        .create_array(schema)
        .map_err(|e| QueryError::from_storage(e).at(name.span))?;
    let written = store
        .ingest(&name.value)
        .map_err(ingest_error)
        .and_then(|mut sink| {
            let start = Placement::Block(vec![0; result.header.shape.len()]);
            let names = result.header.columns.iter().map(|(n, _)| n.clone());
            write_columns(&mut sink, names.zip(result.columns).collect(), &start)?;
            sink.commit().map_err(ingest_error)
        });
    match written {
        Ok(info) => Ok(info.version),
        Err(e) => {
            let _ = store.drop_array(&name.value);
            Err(e)
        }
    }
}

/// The new array's schema: a dimension per result dimension, an attribute per
/// column, the result's descriptions as metadata.
fn schema_of(name: &str, result: &QueryResult, options: &[Opt]) -> Result<ArraySchema, QueryError> {
    let h = &result.header;
    if h.scalar {
        return Err(QueryError::plan(
            "the query returns a single value: an array needs dimensions (GROUP BY them or select a region)",
        ));
    }
    if h.is_empty() {
        return Err(QueryError::plan(
            "the query selects no cells: nothing to store",
        ));
    }
    let dims = h
        .dims
        .iter()
        .zip(&h.coords)
        .map(|(name, coords)| dimension_of(name, coords))
        .collect::<Result<Vec<_>, _>>()?;
    let mut attrs = Vec::with_capacity(h.columns.len());
    for (col, dtype) in &h.columns {
        if !valid_name(col) {
            return Err(QueryError::plan(format!(
                "column '{col}' needs a name to become an attribute: write it AS a_name"
            )));
        }
        attrs.push(Attribute::new(col, *dtype, None));
    }
    let esize = attrs.iter().map(|a| a.dtype.size()).max().unwrap_or(4);
    let layout = layout_from_options(options, &dims, esize)?;
    let mut metadata = Metadata::default();
    for (d, dim) in h.dims.iter().enumerate() {
        metadata.set(dim, h.metadata.dim(d).clone());
    }
    for (k, (col, _)) in h.columns.iter().enumerate() {
        metadata.set(col, h.metadata.column(k).clone());
    }
    Ok(ArraySchema {
        name: name.to_string(),
        dims,
        attrs,
        layouts: vec![layout],
        metadata,
    })
}

/// A stored dimension for a result dimension. A single timestamp gets a step of one
/// hour and a single number a step of one (a later INSERT extends from there).
fn dimension_of(name: &str, coords: &CoordValues) -> Result<Dimension, QueryError> {
    let len = coords.len() as u64;
    let (coord, growable) = match coords {
        CoordValues::Numbers(v) => match (regular_spacing(v), v.as_slice()) {
            (Some((start, step)), _) => (Coordinate::Regular { start, step }, false),
            (None, [one]) => (Coordinate::Regular { start: *one, step: 1.0 }, false),
            (None, _) if v.iter().all(|x| x.fract() == 0.0 && x.abs() < 9.0e15) => {
                (Coordinate::int_labels(v.iter().map(|&x| x as i64).collect()), true)
            }
            (None, _) => {
                return Err(QueryError::plan(format!(
                    "dimension '{name}': its coordinates are neither evenly spaced nor integers, so they cannot be stored"
                )))
            }
        },
        CoordValues::Times(v) => match (time_spacing(v), v.as_slice()) {
            (Some((start_ns, step_ns)), _) => (Coordinate::Time { start_ns, step_ns }, true),
            (None, [one]) => (
                Coordinate::Time {
                    start_ns: *one,
                    step_ns: 3_600_000_000_000,
                },
                true,
            ),
            (None, _) => {
                return Err(QueryError::plan(format!(
                    "dimension '{name}': its timestamps are not evenly spaced (calendar months?), and a time dimension needs a fixed step; group by extract(month FROM ...) for month keys"
                )))
            }
        },
        CoordValues::Labels(v) => (Coordinate::int_labels(v.clone()), true),
        CoordValues::Texts(v) => (Coordinate::text_labels(v.iter().cloned()), true),
    };
    Ok(Dimension {
        name: name.to_string(),
        coord,
        len,
        growable,
    })
}
