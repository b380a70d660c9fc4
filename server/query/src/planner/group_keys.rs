//! GROUP BY keys: dimensions (by name, alias or position) and buckets of them
//! (`buckets`: calendar truncation, time bins, calendar components, numeric
//! blocks), with each key's index map and coordinates (`bucket_map`).

use super::binder::{Binder, Name};
use super::bucket_map::bucket_map;
use super::buckets::{bucket_of, BUCKET_FUNCS};
use crate::ast::*;
use crate::error::QueryError;
use crate::logical::{AggFunc, Bucket, DimSel, GroupKey};
use crate::CoordValues;
use arrayq_storage::Coordinate;

/// The coordinates of a dimension's selected indices, in order.
pub(super) fn coord_values(coord: &Coordinate, sel: &DimSel) -> CoordValues {
    // Straight from the selection: a dimension of 10^8 cells would otherwise build its
    // 800 MB index list first.
    match &sel.picks {
        Some(p) => coord_values_of(coord, p.iter().copied()),
        None => coord_values_of(coord, sel.range.clone()),
    }
}

/// The coordinates of the indices `idx` yields.
fn coord_values_of(coord: &Coordinate, idx: impl Iterator<Item = u64>) -> CoordValues {
    match coord {
        Coordinate::Regular { .. } => {
            CoordValues::Numbers(idx.map(|i| coord.value(i).as_f64()).collect())
        }
        Coordinate::Time { start_ns, step_ns } => {
            CoordValues::Times(idx.map(|i| start_ns + step_ns * i as i64).collect())
        }
        Coordinate::Labels { labels } => {
            CoordValues::Labels(idx.map(|i| labels[i as usize]).collect())
        }
        Coordinate::TextLabels { labels } => {
            CoordValues::Texts(idx.map(|i| labels[i as usize].clone()).collect())
        }
    }
}

/// A GROUP BY expression resolved: dimension plus optional bucket. Errors point at
/// the expression, or at the argument of the bucket function that is wrong.
pub(super) fn group_key_of(
    binder: &Binder,
    e: &Expr,
    items: &[(Expr, Option<String>)],
) -> Result<(usize, Option<Bucket>), QueryError> {
    group_key_kind(binder, e, items).map_err(|err| err.at(e.span))
}

pub(super) fn group_key_kind(
    binder: &Binder,
    e: &Expr,
    items: &[(Expr, Option<String>)],
) -> Result<(usize, Option<Bucket>), QueryError> {
    let schema = binder.schema;
    match &e.kind {
        ExprKind::Number {
            value, int: true, ..
        } => {
            let k = *value as usize;
            if k == 0 || k > items.len() {
                return Err(QueryError::plan(format!(
                    "GROUP BY {k}: there are {} select items",
                    items.len()
                )));
            }
            group_key_of(binder, &items[k - 1].0, &[])
        }
        ExprKind::Ident(n) => {
            if let Some((ie, _)) = items.iter().find(|(_, a)| a.as_deref() == Some(n.as_str())) {
                if ie != e && schema.dims.iter().all(|d| d.name != *n) {
                    return group_key_of(binder, ie, &[]);
                }
            }
            match binder.resolve(n)? {
                Name::Dim(d) => Ok((d, None)),
                Name::Attr(_) => Err(QueryError::plan(format!(
                    "GROUP BY keeps dimensions; '{n}' is an attribute (grouping by values is not supported)"
                ))),
            }
        }
        ExprKind::Func { name, args, .. } if BUCKET_FUNCS.contains(&name.as_str()) => {
            let (d, b) = bucket_of(binder, name, args)?;
            Ok((d, Some(b)))
        }
        ExprKind::Func { name, .. } if AggFunc::parse(name).is_some() => Err(QueryError::plan(
            format!("cannot GROUP BY an aggregate ({e})"),
        )),
        _ => Err(QueryError::plan(format!(
            "GROUP BY takes dimension names or buckets of one (date_trunc, date_bin, time_bucket, extract, floor(x / step), coarsen), got {e}"
        ))),
    }
}

/// The select items, expanded (`*` becomes every attribute), with their aliases.
pub(super) type Items = [(Expr, Option<String>)];

/// Resolves the GROUP BY clause into group keys over the selection `dims`; also
/// returns the key expressions as written.
pub(super) fn group_keys(
    binder: &Binder,
    group_by: &[Expr],
    given_names: &[Option<crate::ast::Name>],
    items: &Items,
    dims: &[DimSel],
) -> Result<(Vec<GroupKey>, Vec<Expr>), QueryError> {
    let schema = binder.schema;
    let mut groups: Vec<GroupKey> = Vec::new();
    let mut key_exprs: Vec<Expr> = Vec::new();
    for (k, g) in group_by.iter().enumerate() {
        let (d, bucket) = group_key_of(binder, g, items)?;
        // A dimension is kept once; different buckets of it (month and hour of
        // the time) may be combined.
        if groups
            .iter()
            .any(|k| k.dim == d && (k.bucket.is_none() || bucket.is_none() || k.bucket == bucket))
        {
            return Err(QueryError::plan(format!(
                "dimension '{}' appears twice in GROUP BY",
                schema.dims[d].name
            ))
            .at(g.span));
        }
        let s = &dims[d];
        let (map, coords, len) = match &bucket {
            None => (
                s.positions(),
                coord_values(&schema.dims[d].coord, s),
                s.count(),
            ),
            Some(b) => bucket_map(b, &schema.dims[d].coord, s),
        };
        // A calendar component is named after it (`month`), other keys after their
        // dimension.
        let default_name = match &bucket {
            Some(Bucket::Extract { field, .. }) => field.name().to_string(),
            _ => schema.dims[d].name.clone(),
        };
        let alias_hit = match &g.kind {
            ExprKind::Ident(n) if schema.dims.iter().all(|x| x.name != *n) => items
                .iter()
                .find(|(_, a)| a.as_deref() == Some(n.as_str()))
                .map(|_| n.clone()),
            _ => None,
        };
        // `GROUP BY key AS name` names it first.
        let given = given_names.get(k).and_then(|n| n.as_ref());
        let name = given
            .map(|n| n.value.clone())
            .or(alias_hit)
            .or_else(|| {
                items
                    .iter()
                    .find(|(ie, _)| ie == g || matches!(&g.kind, ExprKind::Ident(n) if matches!(&ie.kind, ExprKind::Ident(m) if m == n)))
                    .and_then(|(_, a)| a.clone())
            })
            .unwrap_or(default_name);
        if groups.iter().any(|k| k.name == name) {
            return Err(QueryError::plan(format!(
                "two result dimensions would be named '{name}'; give one an alias in the select list"
            ))
            .at(g.span));
        }
        key_exprs.push(g.clone());
        groups.push(GroupKey {
            dim: d,
            name,
            bucket,
            map,
            len,
            coords,
        });
    }
    Ok((groups, key_exprs))
}

/// Whether select item `e` (aliased `alias`) names a group key rather than an
/// aggregate expression.
pub(super) fn is_group_key(
    binder: &Binder,
    e: &Expr,
    alias: Option<&str>,
    groups: &[GroupKey],
    key_exprs: &[Expr],
) -> bool {
    let schema = binder.schema;
    key_exprs.iter().any(|k| k == e)
        || groups.iter().any(|g| matches!(&e.kind, ExprKind::Ident(n) if *n == schema.dims[g.dim].name || *n == g.name && (alias == Some(g.name.as_str()) || schema.attrs.iter().all(|a| a.name != *n))))
        || (matches!(&e.kind, ExprKind::Func { name, .. } if BUCKET_FUNCS.contains(&name.as_str()))
            && group_key_of(binder, e, &[]).is_ok_and(|(d, b)| groups.iter().any(|g| g.dim == d && same_bucket(&g.bucket, &b))))
}

/// A select item's bucket names a group key's: the same bucket, except that a
/// calendar truncation written without its zone still names the zoned key (`SELECT
/// date_trunc('day', time) AS day ... GROUP BY date_trunc('day', time, 'Zone')`).
fn same_bucket(key: &Option<Bucket>, item: &Option<Bucket>) -> bool {
    match (key, item) {
        (Some(Bucket::Trunc { unit: a, .. }), Some(Bucket::Trunc { unit: b, .. })) => a == b,
        _ => key == item,
    }
}
