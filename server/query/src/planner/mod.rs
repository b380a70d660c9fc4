//! The logical planner: a SELECT against a snapshot becomes a [`QueryPlan`].
//!
//! Steps, one file each: names and types are bound (`binder`, `functions`,
//! `typing`); the WHERE clause is split (`mask`) into per-dimension constraints
//! (`where_clause`), which become a hyperslab with label picks (`hyperslab`), and a
//! value mask; GROUP BY becomes group keys with calendar buckets (`group_keys`);
//! HAVING a condition over the aggregates (`having`); ORDER BY / LIMIT a table of
//! rows (`order`); a JOIN (`join`) adds the right array's attributes to the
//! left's schema, filled by the scan. The tree it builds is
//! `[Sort ->] [Window ->] Projection | Aggregate -> [Mask ->] Filter -> Scan(whole
//! array)`, windows (`window`) over a projection of their arguments;
//! pushing the filter into the scan and choosing the layout are optimizer rules.

mod binder;
mod bucket_map;
mod buckets;
mod functions;
mod group_keys;
mod having;
mod hyperslab;
mod join;
mod mask;
mod order;
mod reproject;
mod typing;
mod where_clause;
mod window;

use crate::ast::*;
use crate::error::{not_found, QueryError};
use crate::eval::{EType, PExpr};
use crate::logical::{
    AggregateNode, DimSel, FilterNode, LogicalPlan, MaskNode, OutputColumn, ProjectionNode,
    QueryPlan, RegridNode, ScanNode, WindowNode,
};
use crate::{CoordValues, ResultHeader, ResultMetadata};
use arrayq_storage::{ArraySchema, Coordinate, DType, MetadataMap, Snapshot};
use binder::{Binder, Mode};
use group_keys::{coord_values, group_keys, is_group_key};
use having::{bind_having, having_without_groups};
use hyperslab::select_dim;
use mask::split_where;
use std::collections::BTreeSet;
use typing::{contains_agg, out_dtype};

pub use join::JoinSpec;
pub use reproject::regrid_node;

/// Plans a SELECT against a snapshot (or, with `regrid`, against the virtual array
/// on its target grid); results over `max_result_bytes` are refused here, before
/// anything is read (what operators hold meanwhile counts against the query's
/// memory bound as they run, see `crate::memory`).
#[cfg(test)]
pub fn plan_select(
    snap: Snapshot,
    sel: &Select,
    max_result_bytes: u64,
    regrid: Option<RegridNode>,
) -> Result<QueryPlan, QueryError> {
    plan_select_join(snap, sel, max_result_bytes, regrid, None)
}

/// [`plan_select`] of a query that may join a second array (`right`, the
/// snapshot `sel.join` names).
pub fn plan_select_join(
    snap: Snapshot,
    sel: &Select,
    max_result_bytes: u64,
    mut regrid: Option<RegridNode>,
    right: Option<Snapshot>,
) -> Result<QueryPlan, QueryError> {
    let mut schema = match &regrid {
        Some(r) => r.schema.clone(),
        None => snap.schema().clone(),
    };
    let (join, sel) = match (&sel.join, right) {
        (Some(j), Some(right)) => {
            if regrid.is_some() {
                return Err(QueryError::plan("a join cannot read reproject(...)").at(j.right.span));
            }
            let (spec, sel) = join::plan_join(&schema, right, sel, j)?;
            schema = join::joined_schema(&schema, &spec);
            (Some(spec), sel)
        }
        (Some(j), None) => {
            return Err(QueryError::Internal(format!(
                "no snapshot of '{}'",
                j.right.value
            )))
        }
        (None, _) => (None, join::unqualify(sel)),
    };
    let sel = &sel;
    let mut binder = Binder {
        schema: &schema,
        attrs: Vec::new(),
    };
    let mut notes = Vec::new();

    if let Some(w) = sel.filter.as_ref().and_then(window::find_window) {
        return Err(QueryError::plan(
            "a window function cannot be in WHERE: WHERE selects the cells first, then windows run over the selected cells",
        )
        .at(w.span));
    }
    // Selection: coordinate constraints and the value mask.
    let (per_dim, mask) = match &sel.filter {
        Some(f) => split_where(&mut binder, f)?,
        None => ((0..schema.dims.len()).map(|_| Vec::new()).collect(), None),
    };
    let filters: Vec<String> = per_dim
        .iter()
        .flatten()
        .map(|(_, t)| t.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let dims: Vec<DimSel> = (0..schema.dims.len())
        .map(|d| select_dim(&schema, d, &per_dim[d], &mut notes))
        .collect();
    let empty = dims.iter().any(|d| d.count() == 0);

    // Items.
    let mut items: Vec<(Expr, Option<String>)> = Vec::new();
    for it in &sel.items {
        match it {
            SelectItem::Wildcard(span) => {
                for a in &schema.attrs {
                    items.push((Expr::new(ExprKind::Ident(a.name.clone()), *span), None));
                }
            }
            SelectItem::Expr { expr, alias } => items.push((expr.clone(), alias.clone())),
        }
    }
    let is_agg = !sel.group_by.is_empty() || items.iter().any(|(e, _)| contains_agg(e));
    let wildcard = sel.items.iter().find_map(|i| match i {
        SelectItem::Wildcard(span) => Some(*span),
        SelectItem::Expr { .. } => None,
    });
    let first_window = items.iter().find_map(|(e, _)| window::find_window(e));
    if let (true, Some(w)) = (is_agg, first_window) {
        return Err(QueryError::plan(
            "window functions cannot be combined with GROUP BY or aggregates: a window keeps one value per cell; aggregate first with CREATE ARRAY ... AS, or window without GROUP BY",
        )
        .at(w.span));
    }
    if let (false, Some(h)) = (is_agg, &sel.having) {
        return Err(having_without_groups(h));
    }
    if let (true, Some(span)) = (is_agg, wildcard) {
        return Err(
            QueryError::plan("SELECT * cannot be combined with aggregates or GROUP BY").at(span),
        );
    }

    /// The node above the filter, before the scan (which needs every slot) exists.
    enum Top {
        Projection(Vec<crate::eval::PExpr>),
        Aggregate(Box<AggregateParts>),
    }
    let mut columns = Vec::new();
    let column = |e: &Expr, alias: &Option<String>, dtype| OutputColumn {
        name: alias.clone().unwrap_or_else(|| e.to_string()),
        text: e.to_string(),
        dtype,
    };
    let header_dims: Vec<(String, CoordValues, usize)>;
    let mut state_bytes = 0u64;
    let mut state_what = String::new();
    let mut windows = Vec::new();
    let top = if !is_agg {
        let mut exprs = Vec::new();
        for (e, alias) in &items {
            if let ExprKind::Window(w) = &e.kind {
                let (p, wc, dtype, arg) =
                    window::bind_window(&mut binder, w, &dims, empty, exprs.len())?;
                windows.push((wc, arg));
                columns.push(column(e, alias, dtype));
                exprs.push(p);
                continue;
            }
            let mut p = binder.bind(e, &mut Mode::Scan)?;
            let mut dtype = out_dtype(&p, &binder.attrs, &schema);
            // Masked cells are NaN: integer and bool values are promoted to f64.
            if mask.is_some() && !p.ty().is_float() {
                (p, dtype) = (to_f64(p), DType::F64);
            }
            columns.push(column(e, alias, dtype));
            exprs.push(p);
        }
        header_dims = dims
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.squeeze || empty)
            .map(|(d, s)| {
                let dim = &schema.dims[d];
                (dim.name.clone(), coord_values(&dim.coord, s), s.count())
            })
            .collect();
        Top::Projection(exprs)
    } else {
        let (groups, key_exprs) =
            group_keys(&binder, &sel.group_by, &sel.group_names, &items, &dims)?;
        // Select items: group keys name dimensions; the rest are aggregate expressions.
        let mut inputs = Vec::new();
        let mut calls = Vec::new();
        let mut call_keys = Vec::new();
        let mut outputs = Vec::new();
        for (e, alias) in &items {
            if is_group_key(&binder, e, alias.as_deref(), &groups, &key_exprs) {
                continue;
            }
            let mut mode = Mode::Final {
                inputs: &mut inputs,
                calls: &mut calls,
                call_keys: &mut call_keys,
            };
            let p = binder.bind(e, &mut mode)?;
            columns.push(column(e, alias, p.ty().dtype()));
            outputs.push(p);
        }
        if outputs.is_empty() {
            return Err(QueryError::plan(
                "an aggregate query needs at least one aggregate, e.g. avg(t2m)",
            ));
        }
        let having = match &sel.having {
            Some(h) => {
                let mut mode = Mode::Final {
                    inputs: &mut inputs,
                    calls: &mut calls,
                    call_keys: &mut call_keys,
                };
                // Groups failing HAVING are NaN: counts are promoted to f64.
                for (o, c) in outputs.iter_mut().zip(columns.iter_mut()) {
                    if !o.ty().is_float() {
                        *o = to_f64(std::mem::replace(
                            o,
                            PExpr::Slot {
                                k: 0,
                                ty: EType::F64,
                            },
                        ));
                        c.dtype = DType::F64;
                    }
                }
                Some(bind_having(&mut binder, h, &items, &mut mode)?)
            }
            None => None,
        };
        let ngroups: u64 = groups.iter().map(|g| g.len as u64).product();
        state_bytes = ngroups
            * inputs
                .iter()
                .map(|i| 8 * (1 + i.sum as u64 + i.var as u64 + i.min as u64 + i.max as u64))
                .sum::<u64>();
        let cells: u64 = dims.iter().map(|d| d.count() as u64).product();
        let held = held_values(&inputs, ngroups, cells);
        state_what = match held.bytes {
            0 => format!("its aggregation state ({ngroups} groups)"),
            _ => format!(
                "its aggregation state ({ngroups} groups; quantiles hold every value of their groups: ~{} values x {} bytes each, {} bytes)",
                cells / ngroups.max(1),
                held.value_bytes,
                held.bytes
            ),
        };
        state_bytes += held.bytes;
        header_dims = groups
            .iter()
            .map(|g| (g.name.clone(), g.coords.clone(), g.len))
            .collect();
        Top::Aggregate(Box::new(AggregateParts {
            inputs,
            calls,
            outputs,
            groups,
            having,
        }))
    };
    let shape: Vec<usize> = header_dims.iter().map(|h| h.2).collect();
    let n: u64 = shape.iter().map(|&x| x as u64).product();
    let result_bytes: u64 = columns.iter().map(|c| c.dtype.size() as u64 * n).sum();
    if result_bytes > max_result_bytes {
        return Err(QueryError::ResourcesExhausted(format!(
            "the result would hold {result_bytes} bytes ({n} cells x {} columns), over the limit of {max_result_bytes} bytes; select a smaller region or aggregate",
            columns.len()
        )));
    }
    if empty {
        notes.push("the selection is empty".into());
    }
    // A forced layout is one of the source array's.
    let forced_layout = match &regrid {
        Some(_) => None,
        None => forced_layout(&schema, sel.layout.as_ref())?,
    };
    let scalar = header_dims.is_empty();
    let metadata = result_metadata(&schema, &header_dims, &items, &columns);
    let header = ResultHeader {
        dims: header_dims.iter().map(|h| h.0.clone()).collect(),
        coords: header_dims.into_iter().map(|h| h.1).collect(),
        shape,
        columns: columns.iter().map(|c| (c.name.clone(), c.dtype)).collect(),
        scalar,
        notes,
        layout: String::new(),
        version: snap.version(),
        metadata,
    };
    if let Some(r) = regrid.as_mut() {
        r.source.attrs = binder.attrs.clone();
    }
    let join = match join {
        Some(mut j) => {
            let ranges: Vec<_> = dims.iter().map(|d| d.range.clone()).collect();
            j.set_used(&binder.attrs, &ranges);
            Some(std::sync::Arc::new(j))
        }
        None => None,
    };
    let mut scan = ScanNode::whole(snap, binder.attrs, forced_layout, regrid.map(Box::new));
    scan.join = join;
    let mut filter = LogicalPlan::Filter(FilterNode {
        input: Box::new(LogicalPlan::Scan(scan)),
        dims,
        texts: filters,
    });
    if let Some(m) = mask {
        filter = LogicalPlan::Mask(MaskNode {
            input: Box::new(filter),
            pred: m.pred,
            text: m.text,
        });
    }
    let root = match top {
        Top::Projection(exprs) if !windows.is_empty() => {
            // The projection computes the windows' arguments as f64.
            let mut arg_columns = columns.clone();
            for (w, arg) in &windows {
                let c = &mut arg_columns[w.column];
                (c.dtype, c.text) = (DType::F64, arg.clone());
            }
            LogicalPlan::Window(WindowNode {
                input: Box::new(LogicalPlan::Projection(ProjectionNode {
                    input: Box::new(filter),
                    exprs,
                    columns: arg_columns,
                })),
                shape: header.shape.clone(),
                windows: windows.into_iter().map(|w| w.0).collect(),
                columns: columns.clone(),
            })
        }
        Top::Projection(exprs) => LogicalPlan::Projection(ProjectionNode {
            input: Box::new(filter),
            exprs,
            columns: columns.clone(),
        }),
        Top::Aggregate(parts) => LogicalPlan::Aggregate(AggregateNode {
            input: Box::new(filter),
            inputs: parts.inputs,
            calls: parts.calls,
            outputs: parts.outputs,
            groups: parts.groups,
            columns: columns.clone(),
            state_bytes,
            state_what,
            having: parts.having,
            statistics: None,
            rollup: None,
            rollup_skipped: None,
        }),
    };
    let (root, header) = match sel.order.is_table() {
        true => order::order_table(&sel.order, header, &columns, root)?,
        false => (root, header),
    };
    Ok(QueryPlan { root, header })
}

/// The array's descriptions of what the result shows unchanged: dimensions of the
/// array (by name) and columns that are a plain attribute reference (renamed or
/// not); computed columns get none, as their units may differ.
fn result_metadata(
    schema: &ArraySchema,
    header_dims: &[(String, CoordValues, usize)],
    items: &[(Expr, Option<String>)],
    columns: &[OutputColumn],
) -> ResultMetadata {
    let is_dim = |name: &str| schema.dims.iter().any(|d| d.name == name);
    let dims = header_dims
        .iter()
        .map(|(name, _, _)| match is_dim(name) {
            true => schema.metadata.of(name).clone(),
            false => MetadataMap::new(),
        })
        .collect();
    let columns = columns
        .iter()
        .map(|c| {
            let source = items.iter().find_map(|(e, alias)| {
                let name = alias.clone().unwrap_or_else(|| e.to_string());
                match &e.kind {
                    ExprKind::Ident(attr) if name == c.name => Some(attr),
                    _ => None,
                }
            });
            match source {
                Some(attr) if schema.attrs.iter().any(|a| &a.name == attr) => {
                    schema.metadata.of(attr).clone()
                }
                Some(dim)
                    if schema
                        .dims
                        .iter()
                        .any(|d| &d.name == dim && matches!(d.coord, Coordinate::Time { .. })) =>
                {
                    crate::timeutil::time_column_metadata(schema.metadata.of(dim))
                }
                _ => MetadataMap::new(),
            }
        })
        .collect();
    ResultMetadata { dims, columns }
}

/// The memory quantiles need: every selected value of each held input (4 bytes for
/// f32 inputs, 8 for the others) plus a vector per group and input.
struct Held {
    bytes: u64,
    /// Bytes per held value, summed over the held inputs.
    value_bytes: u64,
}

fn held_values(inputs: &[crate::logical::AggInput], ngroups: u64, cells: u64) -> Held {
    let value_bytes: u64 = inputs
        .iter()
        .filter(|i| i.hold)
        .map(|i| {
            if i.expr.ty() == crate::eval::EType::F32 {
                4
            } else {
                8
            }
        })
        .sum();
    let vectors = inputs.iter().filter(|i| i.hold).count() as u64 * ngroups * 24;
    Held {
        bytes: cells * value_bytes + if value_bytes > 0 { vectors } else { 0 },
        value_bytes,
    }
}

/// What binding an aggregate query produced.
struct AggregateParts {
    inputs: Vec<crate::logical::AggInput>,
    calls: Vec<crate::logical::AggCall>,
    outputs: Vec<crate::eval::PExpr>,
    groups: Vec<crate::logical::GroupKey>,
    having: Option<(PExpr, String)>,
}

/// `e` as f64 (where missing values must be NaN).
fn to_f64(e: PExpr) -> PExpr {
    PExpr::Cast {
        e: Box::new(e),
        to: DType::F64,
        ty: EType::F64,
    }
}

/// The layout named by `FROM a WITH (layout = 'x')`, if any.
pub fn forced_layout(
    schema: &ArraySchema,
    name: Option<&Name>,
) -> Result<Option<usize>, QueryError> {
    let Some(name) = name else {
        return Ok(None);
    };
    schema
        .layouts
        .iter()
        .position(|l| l.name == name.value)
        .map(Some)
        .ok_or_else(|| {
            not_found(
                "layout",
                &name.value,
                &format!(" of array '{}'", schema.name),
                schema.layouts.iter().map(|l| l.name.as_str()),
            )
            .at(name.span)
        })
}
