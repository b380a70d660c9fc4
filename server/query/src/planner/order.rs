//! `ORDER BY`, `LIMIT`, `OFFSET`: the gridded result becomes a table of rows, one
//! per cell, with the grid's coordinates as its first columns (named after the
//! dimensions) and the values after them, along the one dimension `row` that
//! catalog answers use too, so every client reads it as it reads any result.
//!
//! The number of rows is known here, before anything is read (the header goes out
//! first): every cell is a row, missing values included; they sort as NULLs do in
//! PostgreSQL (last ascending, first descending, unless NULLS FIRST/LAST says).

use crate::ast::{ExprKind, OrderSpec};
use crate::error::{not_found, QueryError, Span};
use crate::logical::{LogicalPlan, OutputColumn, SortKey, SortNode};
use crate::timeutil::time_column_metadata;
use crate::{CoordValues, ResultHeader};
use arrayq_storage::{DType, MetadataMap};

/// Name of the one dimension of a table result.
pub const ROW_DIMENSION: &str = "row";

/// Puts a sort over `root` and turns `header` into the table's.
pub(super) fn order_table(
    order: &OrderSpec,
    mut header: ResultHeader,
    columns: &[OutputColumn],
    root: LogicalPlan,
) -> Result<(LogicalPlan, ResultHeader), QueryError> {
    let at = order
        .keys
        .first()
        .map(|k| k.expr.span)
        .or(order.limit.map(|l| l.1))
        .or(order.offset.map(|o| o.1))
        .unwrap_or_default();
    // The grid's coordinates as columns.
    let mut dim_cols = Vec::new();
    for (name, coords) in header.dims.iter().zip(&header.coords) {
        let dtype = match coords {
            CoordValues::Numbers(_) => DType::F64,
            CoordValues::Times(_) | CoordValues::Labels(_) => DType::I64,
            CoordValues::Texts(_) => {
                return Err(QueryError::plan(format!(
                    "a table of rows (ORDER BY, LIMIT) cannot show the text label dimension '{name}' yet; select one label with WHERE or aggregate it away"
                ))
                .at(at))
            }
        };
        dim_cols.push((name.clone(), dtype));
    }
    let names: Vec<&str> = dim_cols
        .iter()
        .map(|c| c.0.as_str())
        .chain(columns.iter().map(|c| c.name.as_str()))
        .collect();
    let mut keys = Vec::new();
    for k in &order.keys {
        let column = key_column(&k.expr, &names, columns, dim_cols.len())?;
        let nulls_first = k.nulls_first.unwrap_or(k.desc);
        let text = format!(
            "{} {} NULLS {}",
            names[column],
            if k.desc { "DESC" } else { "ASC" },
            if nulls_first { "FIRST" } else { "LAST" }
        );
        keys.push(SortKey {
            column,
            desc: k.desc,
            nulls_first,
            text,
        });
    }
    let node = SortNode {
        input: Box::new(root),
        grid: header
            .dims
            .iter()
            .cloned()
            .zip(header.coords.iter().cloned())
            .collect(),
        keys,
        limit: order.limit.map(|l| l.0),
        offset: order.offset.map_or(0, |o| o.0),
    };
    let rows = node.rows();
    let mut meta_cols: Vec<MetadataMap> = (0..dim_cols.len())
        .map(|d| match header.coords[d] {
            CoordValues::Times(_) => time_column_metadata(header.metadata.dim(d)),
            _ => header.metadata.dim(d).clone(),
        })
        .collect();
    meta_cols.extend((0..columns.len()).map(|c| header.metadata.column(c).clone()));
    header.metadata.dims = vec![MetadataMap::new()];
    header.metadata.columns = meta_cols;
    dim_cols.append(&mut header.columns);
    header.columns = dim_cols;
    header.dims = vec![ROW_DIMENSION.to_string()];
    header.coords = vec![CoordValues::Labels((0..rows as i64).collect())];
    header.shape = vec![rows];
    header.scalar = false;
    Ok((LogicalPlan::Sort(node), header))
}

/// The table column an ORDER BY key names: a position (1-based), a column or
/// dimension name, or an expression written as in the select list.
fn key_column(
    e: &crate::ast::Expr,
    names: &[&str],
    columns: &[OutputColumn],
    ndims: usize,
) -> Result<usize, QueryError> {
    let span: Span = e.span;
    if let ExprKind::Number {
        value, int: true, ..
    } = e.kind
    {
        return match value as usize {
            k if value >= 1.0 && k <= names.len() => Ok(k - 1),
            _ => Err(QueryError::plan(format!(
                "ORDER BY position {value} is not a column of the result (1 to {})",
                names.len()
            ))
            .at(span)),
        };
    }
    let text = e.to_string();
    if let Some(k) = names.iter().position(|n| *n == text) {
        return Ok(k);
    }
    if let Some(k) = columns.iter().position(|c| c.text == text) {
        return Ok(ndims + k);
    }
    let ci: Vec<usize> = (0..names.len())
        .filter(|&k| names[k].eq_ignore_ascii_case(&text))
        .collect();
    if ci.len() == 1 {
        return Ok(ci[0]);
    }
    Err(not_found(
        "result column",
        &text,
        " in ORDER BY (order by a result column, alias or dimension)",
        names.iter().copied(),
    )
    .at(span))
}
