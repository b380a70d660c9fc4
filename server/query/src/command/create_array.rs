//! `CREATE ARRAY`: a schema from the statement, its first layout from the options.

use super::options::{check_opts, codec_from, opt, opt_str, KNOWN_OPTS};
use crate::ast::*;
use crate::error::QueryError;
use crate::Execution;
use arrayq_storage::{
    ArraySchema, Attribute, Coordinate, Dimension, Layout, Metadata, Scalar, Store,
};

pub(crate) fn create_array(store: &Store, c: &CreateArray) -> Result<Execution, QueryError> {
    check_opts(&c.options, &KNOWN_OPTS)?;
    if c.if_not_exists && store.list_arrays().contains(&c.name) {
        return Ok(Execution::Done {
            message: format!("array '{}' already exists", c.name),
            array: Some(c.name.clone()),
            version: None,
        });
    }
    let mut dims = Vec::new();
    for d in &c.dims {
        let (coord, len) = match &d.kind {
            DimKind::Regular { start, step } => (
                Coordinate::Regular {
                    start: *start,
                    step: *step,
                },
                d.length,
            ),
            DimKind::Time { start_ns, step_ns } => (
                Coordinate::Time {
                    start_ns: *start_ns,
                    step_ns: *step_ns,
                },
                d.length,
            ),
            DimKind::Labels(_) | DimKind::TextLabels(_) => {
                let coord = match &d.kind {
                    DimKind::Labels(l) => Coordinate::int_labels(l.clone()),
                    DimKind::TextLabels(l) => Coordinate::text_labels(l.iter().cloned()),
                    _ => unreachable!("matched above"),
                };
                let n = coord.label_count() as u64;
                if d.length.is_some_and(|len| len != n) {
                    return Err(QueryError::plan(format!(
                        "dimension '{}' has {n} labels but LENGTH {}",
                        d.name,
                        d.length.unwrap()
                    ))
                    .at(d.span));
                }
                (coord, Some(n))
            }
        };
        let len = match (len, d.growable) {
            (Some(n), _) => n,
            (None, true) => 0,
            (None, false) => {
                return Err(QueryError::plan(format!(
                    "dimension '{}' needs LENGTH n (or GROWABLE)",
                    d.name
                ))
                .at(d.span));
            }
        };
        dims.push(Dimension {
            name: d.name.clone(),
            coord,
            len,
            growable: d.growable,
        });
    }
    if dims.is_empty() {
        return Err(QueryError::plan(format!("array '{}' needs at least one dimension (NAME TYPE START .. STEP .. or NAME LABELS (...))", c.name)));
    }
    let attrs: Vec<Attribute> = c
        .attrs
        .iter()
        .map(|a| Attribute::new(&a.name, a.dtype, a.fill.map(Scalar::F64)))
        .collect();
    let esize = attrs.iter().map(|a| a.dtype.size()).max().unwrap_or(4);
    let layout = layout_from_options(&c.options, &dims, esize)?;
    let schema = ArraySchema {
        name: c.name.clone(),
        dims,
        attrs,
        layouts: vec![layout],
        metadata: metadata_of(c),
    };
    let info = store
        .create_array(schema)
        .map_err(QueryError::from_storage)?;
    Ok(Execution::Done {
        message: format!("created array '{}'", c.name),
        array: Some(c.name.clone()),
        version: Some(info.version),
    })
}

/// The schema metadata of the statement's `METADATA (...)` clauses.
fn metadata_of(c: &CreateArray) -> Metadata {
    let mut m = Metadata {
        array: c.metadata.clone(),
        ..Metadata::default()
    };
    for (name, map) in c.dims.iter().map(|d| (&d.name, &d.metadata)) {
        m.set(name, map.clone());
    }
    for (name, map) in c.attrs.iter().map(|a| (&a.name, &a.metadata)) {
        m.set(name, map.clone());
    }
    m
}

/// The first layout of a new array from its `WITH` options: `chunks` (else the
/// default rule), the codec options, `layout` (its name).
pub(super) fn layout_from_options(
    options: &[Opt],
    dims: &[Dimension],
    esize: usize,
) -> Result<Layout, QueryError> {
    let chunks: Vec<u64> = match opt(options, "chunks") {
        Some(Opt {
            value: OptValue::Tuple(v),
            value_span,
            ..
        }) => {
            if v.len() != dims.len() {
                return Err(QueryError::plan(format!(
                    "chunks has {} extents for {} dimensions",
                    v.len(),
                    dims.len()
                ))
                .at(*value_span));
            }
            if v.iter().any(|x| *x < 1.0 || x.fract() != 0.0) {
                return Err(
                    QueryError::plan("chunk extents must be positive integers").at(*value_span)
                );
            }
            v.iter().map(|&x| x as u64).collect()
        }
        Some(o) => {
            return Err(
                QueryError::type_error("chunks takes a tuple, e.g. chunks = (1, 153, 281)")
                    .at(o.value_span),
            )
        }
        None => arrayq_storage::schema::default_chunk_shape(dims),
    };
    let lname = opt_str(options, "layout")?
        .map(|(n, _)| n)
        .unwrap_or_else(|| arrayq_storage::schema::DEFAULT_LAYOUT_NAME.into());
    Ok(Layout::new(&lname, chunks, codec_from(options, esize)?))
}
