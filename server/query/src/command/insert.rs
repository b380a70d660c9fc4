//! `INSERT INTO name SELECT ...` and `INSERT INTO name [(cols)] VALUES (...), ...`:
//! cells placed by their coordinates into an existing array, in one commit (a
//! write like any other: versioned, with its change event). Dimensions that may
//! grow grow (new labels are appended, time extends); cells not given keep their
//! values; attributes not given are left as they are.

use super::placement::{cast, place, scalars_to_buffer, DimPlacement};
use super::{ingest_error, unknown_array, write_columns, Placement};
use crate::ast::{Literal, LiteralValue, Name};
use crate::error::{not_found, QueryError};
use crate::timeutil::parse_instant;
use crate::{CoordValues, Execution, QueryResult};
use arrayq_storage::{ArraySchema, AsOf, Coordinate, IngestSink, Scalar, Store};

fn schema_of(store: &Store, into: &Name) -> Result<ArraySchema, QueryError> {
    let snap = store
        .snapshot(&into.value, AsOf::Latest)
        .map_err(|_| unknown_array(store, &into.value).at(into.span))?;
    Ok(snap.schema().clone())
}

fn unknown_column(schema: &ArraySchema, name: &str) -> QueryError {
    let names = schema.dims.iter().map(|d| d.name.as_str());
    let names = names.chain(schema.attrs.iter().map(|a| a.name.as_str()));
    not_found(
        "dimension or attribute",
        name,
        &format!(" of array '{}'", schema.name),
        names,
    )
}

/// Appends the labels `placements` found new, then stages `columns` where
/// `cells` (the k-th index of every dimension for the k-th cell) or, without it,
/// the grid of the placements say, and commits.
fn commit(
    store: &Store,
    schema: &ArraySchema,
    placements: Vec<DimPlacement>,
    columns: Vec<(String, arrayq_storage::Buffer)>,
    listed: bool,
) -> Result<Execution, QueryError> {
    let mut sink: IngestSink = store.ingest(&schema.name).map_err(ingest_error)?;
    for (d, p) in schema.dims.iter().zip(&placements) {
        if !p.new_int_labels.is_empty() {
            sink.append_labels(&d.name, &p.new_int_labels)
                .map_err(ingest_error)?;
        }
        if !p.new_text_labels.is_empty() {
            sink.append_text_labels(&d.name, &p.new_text_labels)
                .map_err(ingest_error)?;
        }
    }
    let cells = if listed {
        placements.first().map_or(0, |p| p.indices.len())
    } else {
        placements.iter().map(|p| p.indices.len()).product()
    };
    let starts: Option<Vec<u64>> = placements.iter().map(|p| p.contiguous_start()).collect();
    let placement = match (listed, starts) {
        (false, Some(start)) => Placement::Block(start),
        (false, None) => Placement::Grid(placements.into_iter().map(|p| p.indices).collect()),
        (true, _) => {
            // The k-th cell's index tuple: the k-th index of every dimension.
            let flat = (0..cells).flat_map(|k| placements.iter().map(move |p| p.indices[k]));
            Placement::Listed(flat.collect())
        }
    };
    write_columns(&mut sink, columns, &placement)?;
    let info = sink.commit().map_err(ingest_error)?;
    Ok(Execution::Done {
        message: format!("inserted {cells} cells into '{}'", schema.name),
        array: Some(schema.name.clone()),
        version: Some(info.version),
    })
}

/// `INSERT INTO name SELECT ...`: the result's dimensions are the array's (same
/// names, same order), its columns attributes of the array (by name).
pub(crate) fn insert_result(
    store: &Store,
    into: &Name,
    result: QueryResult,
) -> Result<Execution, QueryError> {
    let schema = schema_of(store, into)?;
    let h = &result.header;
    let want: Vec<&str> = schema.dims.iter().map(|d| d.name.as_str()).collect();
    if h.scalar || h.dims != want {
        return Err(QueryError::plan(format!(
            "the query's dimensions ({}) must be the array's, in its order ({})",
            h.dims.join(", "),
            want.join(", ")
        ))
        .at(into.span));
    }
    let placements = schema
        .dims
        .iter()
        .zip(&h.coords)
        .map(|(d, c)| place(d, c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut columns = Vec::with_capacity(h.columns.len());
    for ((col, _), data) in h.columns.iter().zip(result.columns) {
        let attr = schema
            .attrs
            .iter()
            .find(|a| &a.name == col)
            .ok_or_else(|| unknown_column(&schema, col))?;
        columns.push((attr.name.clone(), cast(data, attr.dtype, col)?));
    }
    commit(store, &schema, placements, columns, false)
}

/// `INSERT INTO name [(cols)] VALUES (...), ...`: one cell per row; the columns
/// name every dimension and some attributes (all dimensions, then all attributes,
/// when none are named); NULL is the attribute's fill value.
pub(crate) fn insert_values(
    store: &Store,
    into: &Name,
    columns: &[Name],
    rows: &[Vec<Literal>],
) -> Result<Execution, QueryError> {
    let schema = schema_of(store, into)?;
    let names: Vec<Name> = if columns.is_empty() {
        let all = schema.dims.iter().map(|d| &d.name);
        all.chain(schema.attrs.iter().map(|a| &a.name))
            .map(|n| Name {
                value: n.clone(),
                span: into.span,
            })
            .collect()
    } else {
        columns.to_vec()
    };
    for row in rows {
        if row.len() != names.len() {
            let at = row.first().map(|l| l.span).unwrap_or(into.span);
            return Err(QueryError::plan(format!(
                "a row of {} values for {} columns ({})",
                row.len(),
                names.len(),
                names
                    .iter()
                    .map(|n| n.value.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .at(at));
        }
    }
    let column_of = |name: &str| names.iter().position(|n| n.value == name);
    for n in &names {
        let known = schema.dims.iter().any(|d| d.name == n.value)
            || schema.attrs.iter().any(|a| a.name == n.value);
        if !known {
            return Err(unknown_column(&schema, &n.value).at(n.span));
        }
    }
    let mut placements = Vec::with_capacity(schema.dims.len());
    for d in &schema.dims {
        let k = column_of(&d.name).ok_or_else(|| {
            QueryError::plan(format!("the rows must give dimension '{}'", d.name)).at(into.span)
        })?;
        let coords = coordinates(&d.coord, rows.iter().map(|r| &r[k]))?;
        // One cell per row: each row's index along every dimension.
        placements.push(place(d, &coords)?);
    }
    let mut values = Vec::new();
    for a in &schema.attrs {
        let Some(k) = column_of(&a.name) else {
            continue;
        };
        let scalars = rows
            .iter()
            .map(|r| scalar(&r[k], a.fill_value()))
            .collect::<Result<Vec<_>, _>>()?;
        let data = scalars_to_buffer(scalars.into_iter(), a.dtype, &[rows.len()], &a.name)?;
        values.push((a.name.clone(), data));
    }
    // Rows are cells, not a grid.
    commit(store, &schema, placements, values, true)
}

/// The coordinates the literals give along a dimension of kind `coord`.
fn coordinates<'a>(
    coord: &Coordinate,
    lits: impl Iterator<Item = &'a Literal>,
) -> Result<CoordValues, QueryError> {
    let bad =
        |l: &Literal, want: &str| QueryError::type_error(format!("expected {want}")).at(l.span);
    Ok(match coord {
        Coordinate::Regular { .. } => CoordValues::Numbers(
            lits.map(|l| match l.value {
                LiteralValue::Number(x) => Ok(x),
                _ => Err(bad(l, "a number")),
            })
            .collect::<Result<_, _>>()?,
        ),
        Coordinate::Time { .. } => CoordValues::Times(
            lits.map(|l| match &l.value {
                LiteralValue::Text(t) => parse_instant(t)
                    .ok_or_else(|| bad(l, "an ISO-8601 timestamp like '2023-01-01T00:00:00Z'")),
                _ => Err(bad(l, "a timestamp in quotes")),
            })
            .collect::<Result<_, _>>()?,
        ),
        Coordinate::Labels { .. } => CoordValues::Labels(
            lits.map(|l| match l.value {
                LiteralValue::Number(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(x as i64),
                _ => Err(bad(l, "an integer label")),
            })
            .collect::<Result<_, _>>()?,
        ),
        Coordinate::TextLabels { .. } => CoordValues::Texts(
            lits.map(|l| match &l.value {
                LiteralValue::Text(t) => Ok(t.clone()),
                _ => Err(bad(l, "a text label in quotes")),
            })
            .collect::<Result<_, _>>()?,
        ),
    })
}

fn scalar(l: &Literal, fill: Scalar) -> Result<Scalar, QueryError> {
    match l.value {
        LiteralValue::Number(x) => Ok(Scalar::F64(x)),
        LiteralValue::Bool(b) => Ok(Scalar::Bool(b)),
        LiteralValue::Null => Ok(fill),
        LiteralValue::Text(_) => {
            Err(QueryError::type_error("expected a number (attributes hold numbers)").at(l.span))
        }
    }
}
