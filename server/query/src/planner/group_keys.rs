//! GROUP BY keys: dimensions (by name, alias or position) and calendar buckets
//! (`date_trunc('unit', time[, 'Zone'])`), with each key's index map and
//! coordinates.

use super::binder::{Binder, Name};
use super::typing::type_err;
use crate::ast::*;
use crate::error::{not_found, QueryError};
use crate::logical::{AggFunc, DimSel, GroupKey, Trunc, SKIP};
use crate::timeutil::{date_trunc, parse_tz, TruncUnit};
use crate::CoordValues;
use arrayq_storage::Coordinate;

pub(super) fn coord_values(coord: &Coordinate, idx: &[u64]) -> CoordValues {
    match coord {
        Coordinate::Regular { .. } => {
            CoordValues::Numbers(idx.iter().map(|&i| coord.value(i).as_f64()).collect())
        }
        Coordinate::Time { start_ns, step_ns } => {
            CoordValues::Times(idx.iter().map(|&i| start_ns + step_ns * i as i64).collect())
        }
        Coordinate::Labels { labels } => {
            CoordValues::Labels(idx.iter().map(|&i| labels[i as usize]).collect())
        }
        Coordinate::TextLabels { labels } => {
            CoordValues::Texts(idx.iter().map(|&i| labels[i as usize].clone()).collect())
        }
    }
}

/// A GROUP BY expression resolved: dimension plus optional calendar bucket. Errors
/// point at the expression, or at the argument of date_trunc that is wrong.
pub(super) fn group_key_of(
    binder: &Binder,
    e: &Expr,
    items: &[(Expr, Option<String>)],
) -> Result<(usize, Option<Trunc>), QueryError> {
    group_key_kind(binder, e, items).map_err(|err| err.at(e.span))
}

pub(super) fn group_key_kind(
    binder: &Binder,
    e: &Expr,
    items: &[(Expr, Option<String>)],
) -> Result<(usize, Option<Trunc>), QueryError> {
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
        ExprKind::Func { name, args, .. } if name == "date_trunc" => {
            if args.len() < 2 || args.len() > 3 {
                return Err(QueryError::plan(
                    "date_trunc(unit, time_dimension [, 'Time/Zone']) takes 2 or 3 arguments",
                ));
            }
            let (ua, da) = (&args[0], &args[1]);
            let ExprKind::Str(unit) = &ua.kind else {
                return Err(type_err(format!(
                    "date_trunc unit must be a string like 'day', got {ua}"
                ))
                .at(ua.span));
            };
            let unit = TruncUnit::parse(unit).ok_or_else(|| {
                not_found(
                    "date_trunc unit",
                    unit,
                    "",
                    ["minute", "hour", "day", "week", "month", "year"],
                )
                .at(ua.span)
            })?;
            let ExprKind::Ident(dn) = &da.kind else {
                return Err(QueryError::plan(format!(
                    "date_trunc needs a time dimension, got {da}"
                ))
                .at(da.span));
            };
            let d = match binder.resolve(dn).map_err(|err| err.at(da.span))? {
                Name::Dim(d) => d,
                Name::Attr(_) => {
                    return Err(type_err(format!(
                        "date_trunc needs a time dimension; '{dn}' is an attribute"
                    ))
                    .at(da.span))
                }
            };
            if !matches!(schema.dims[d].coord, Coordinate::Time { .. }) {
                return Err(type_err(format!(
                    "date_trunc needs a time dimension; '{dn}' has {} coordinates",
                    schema.dims[d].coord.kind_name()
                ))
                .at(da.span));
            }
            let tz = match args.get(2) {
                None => None,
                Some(za) => match &za.kind {
                    ExprKind::Str(z) => Some(parse_tz(z).ok_or_else(|| {
                        QueryError::unknown_name(format!("unknown time zone '{z}'"))
                            .with_hint("use an IANA name like 'Europe/Amsterdam'")
                            .at(za.span)
                    })?),
                    _ => {
                        return Err(
                            type_err(format!("the time zone must be a string, got {za}"))
                                .at(za.span),
                        )
                    }
                },
            };
            Ok((d, Some((unit, tz))))
        }
        ExprKind::Func { name, .. } if AggFunc::parse(name).is_some() => Err(QueryError::plan(
            format!("cannot GROUP BY an aggregate ({e})"),
        )),
        _ => Err(QueryError::plan(format!(
            "GROUP BY takes dimension names or date_trunc('unit', time[, 'Zone']), got {e}"
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
    items: &Items,
    dims: &[DimSel],
) -> Result<(Vec<GroupKey>, Vec<Expr>), QueryError> {
    let schema = binder.schema;
    let mut groups: Vec<GroupKey> = Vec::new();
    let mut key_exprs: Vec<Expr> = Vec::new();
    for g in group_by {
        let (d, trunc) = group_key_of(binder, g, items)?;
        if groups.iter().any(|k| k.dim == d) {
            return Err(QueryError::plan(format!(
                "dimension '{}' appears twice in GROUP BY",
                schema.dims[d].name
            ))
            .at(g.span));
        }
        let s = &dims[d];
        let idx = s.indices();
        let (map, coords, len) = match trunc {
            None => (
                s.positions(),
                coord_values(&schema.dims[d].coord, &idx),
                idx.len(),
            ),
            Some((unit, tz)) => {
                let Coordinate::Time { start_ns, step_ns } = schema.dims[d].coord else {
                    unreachable!()
                };
                let pos = s.positions();
                let mut map = vec![SKIP; pos.len()];
                let mut starts: Vec<i64> = Vec::new();
                for (r, &p) in pos.iter().enumerate() {
                    if p == SKIP {
                        continue;
                    }
                    let t = start_ns + step_ns * (s.range.start + r as u64) as i64;
                    let b = date_trunc(t, unit, tz);
                    if starts.last() != Some(&b) {
                        starts.push(b);
                    }
                    map[r] = (starts.len() - 1) as u32;
                }
                let n = starts.len();
                (map, CoordValues::Times(starts), n)
            }
        };
        let default_name = schema.dims[d].name.clone();
        let alias_hit = match &g.kind {
            ExprKind::Ident(n) if schema.dims.iter().all(|x| x.name != *n) => items
                .iter()
                .find(|(_, a)| a.as_deref() == Some(n.as_str()))
                .map(|_| n.clone()),
            _ => None,
        };
        let name = alias_hit
            .or_else(|| {
                items
                    .iter()
                    .find(|(ie, _)| ie == g || matches!(&g.kind, ExprKind::Ident(n) if matches!(&ie.kind, ExprKind::Ident(m) if m == n)))
                    .and_then(|(_, a)| a.clone())
            })
            .unwrap_or(default_name);
        key_exprs.push(g.clone());
        groups.push(GroupKey {
            dim: d,
            name,
            trunc,
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
        || groups.iter().any(|g| matches!(&e.kind, ExprKind::Ident(n) if *n == schema.dims[g.dim].name || alias == Some(g.name.as_str()) && *n == g.name))
        || (matches!(&e.kind, ExprKind::Func { name, .. } if name == "date_trunc")
            && group_key_of(binder, e, &[]).is_ok_and(|(d, t)| groups.iter().any(|g| g.dim == d && g.trunc.map(|x| x.0) == t.map(|x| x.0))))
}
