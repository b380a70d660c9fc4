//! Conjuncts of the WHERE clause as per-dimension constraints: comparisons,
//! BETWEEN and IN on dimension coordinates (`mask` decides which conjuncts come
//! here; the others mask values).

use super::binder::{Binder, Name};
use super::typing::type_err;
use crate::ast::*;
use crate::error::QueryError;
use crate::timeutil::{format_instant, parse_instant};
use arrayq_storage::{ArraySchema, Coordinate};

#[derive(Clone, Debug, PartialEq)]
pub(super) enum CLit {
    Num(f64),
    Time(i64),
    Label(i64),
    Text(String),
}

impl std::fmt::Display for CLit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CLit::Num(v) => write!(f, "{v}"),
            CLit::Time(t) => write!(f, "'{}'", format_instant(*t)),
            CLit::Label(l) => write!(f, "{l}"),
            CLit::Text(t) => write!(f, "'{t}'"),
        }
    }
}

pub(super) enum Constraint {
    Eq(CLit),
    Lo(CLit, bool),
    Hi(CLit, bool),
    In(Vec<CLit>),
    NotIn(Vec<CLit>),
}

/// The coordinate value `e` compares a dimension with; errors point at `e`.
pub(super) fn coord_lit(schema: &ArraySchema, d: usize, e: &Expr) -> Result<CLit, QueryError> {
    coord_lit_kind(schema, d, e).map_err(|err| err.at(e.span))
}

pub(super) fn coord_lit_kind(schema: &ArraySchema, d: usize, e: &Expr) -> Result<CLit, QueryError> {
    let dim = &schema.dims[d];
    match (&dim.coord, &e.kind) {
        (Coordinate::Time { .. }, ExprKind::Str(s)) => parse_instant(s)
            .map(CLit::Time)
            .ok_or_else(|| type_err(format!("'{s}' is not an ISO-8601 timestamp (compared with time dimension '{}')", dim.name))),
        (Coordinate::Time { .. }, other) => Err(type_err(format!(
            "time dimension '{}' is compared with {other}; write a timestamp string like '2023-01-01T00:00:00Z'",
            dim.name
        ))),
        (Coordinate::Regular { .. }, ExprKind::Number { value, .. }) => Ok(CLit::Num(*value)),
        (Coordinate::Regular { .. }, ExprKind::Str(s)) => Err(type_err(format!(
            "the string '{s}' is compared with the float coordinate '{}'",
            dim.name
        ))),
        (Coordinate::Labels { .. }, ExprKind::Number { value, int: true, .. }) => Ok(CLit::Label(*value as i64)),
        (Coordinate::Labels { .. }, other) => Err(type_err(format!(
            "label dimension '{}' is compared with {other}; labels are integers",
            dim.name
        ))),
        (Coordinate::TextLabels { .. }, ExprKind::Str(s)) => Ok(CLit::Text(s.clone())),
        (Coordinate::TextLabels { .. }, other) => Err(type_err(format!(
            "text label dimension '{}' is compared with {other}; labels are text, write them quoted like 'NL-WIND-042'",
            dim.name
        ))),
        (_, other) => Err(type_err(format!("'{}' is compared with {other}; expected a number", dim.name))),
    }
}

/// `(a = 1)` -> `a = 1` (expressions display fully parenthesised).
pub(super) fn strip_parens(s: &str) -> String {
    let b = s.as_bytes();
    if b.first() == Some(&b'(') && b.last() == Some(&b')') {
        let mut depth = 0i32;
        for (i, &c) in b.iter().enumerate() {
            match c {
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
            if depth == 0 && i + 1 < b.len() {
                return s.to_string();
            }
        }
        return s[1..s.len() - 1].to_string();
    }
    s.to_string()
}

pub(super) fn conjuncts<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match &e.kind {
        ExprKind::Binary {
            op: BinOp::And,
            left,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        _ => out.push(e),
    }
}

pub(super) fn flip(op: BinOp) -> BinOp {
    match op {
        BinOp::Lt => BinOp::Gt,
        BinOp::LtEq => BinOp::GtEq,
        BinOp::Gt => BinOp::Lt,
        BinOp::GtEq => BinOp::LtEq,
        o => o,
    }
}

/// Adds the constraints of one conjunct of the WHERE clause.
pub(super) fn part_constraints(
    binder: &Binder,
    p: &Expr,
    per_dim: &mut [Vec<(Constraint, String)>],
) -> Result<(), QueryError> {
    let schema = binder.schema;
    {
        let text = strip_parens(&p.to_string());
        let dim_of = |e: &Expr| -> Result<Option<usize>, QueryError> {
            match &e.kind {
                ExprKind::Ident(n) => match binder.resolve(n).map_err(|err| err.at(e.span))? {
                    Name::Dim(d) => Ok(Some(d)),
                    Name::Attr(_) => Err(attr_in_where(n).at(e.span)),
                },
                _ => Ok(None),
            }
        };
        let bad = || {
            QueryError::plan(format!(
                "unsupported WHERE condition {text}: use dim = v, <, <=, >, >=, BETWEEN, IN (...) on dimensions, combined with AND"
            ))
        };
        match &p.kind {
            ExprKind::Binary { op, left, right } if op.is_comparison() => {
                let (d, lit, op) = match (dim_of(left)?, dim_of(right)?) {
                    (Some(d), None) => (d, right.as_ref(), *op),
                    (None, Some(d)) => (d, left.as_ref(), flip(*op)),
                    _ => return Err(bad()),
                };
                let v = coord_lit(schema, d, lit)?;
                let c = match op {
                    BinOp::Eq => Constraint::Eq(v),
                    BinOp::Lt => Constraint::Hi(v, false),
                    BinOp::LtEq => Constraint::Hi(v, true),
                    BinOp::Gt => Constraint::Lo(v, false),
                    BinOp::GtEq => Constraint::Lo(v, true),
                    BinOp::NotEq => {
                        if !schema.dims[d].coord.is_labels() {
                            return Err(QueryError::plan(format!(
                                "'<>' is only supported on label dimensions ({text})"
                            )));
                        }
                        Constraint::NotIn(vec![v])
                    }
                    _ => return Err(bad()),
                };
                per_dim[d].push((c, text));
            }
            ExprKind::Between {
                expr,
                low,
                high,
                negated: false,
            } => {
                let d = dim_of(expr)?.ok_or_else(bad)?;
                let lo = coord_lit(schema, d, low)?;
                let hi = coord_lit(schema, d, high)?;
                per_dim[d].push((Constraint::Lo(lo, true), text.clone()));
                per_dim[d].push((Constraint::Hi(hi, true), text));
            }
            ExprKind::InList {
                expr,
                list,
                negated,
            } => {
                let d = dim_of(expr)?.ok_or_else(bad)?;
                let vals = list
                    .iter()
                    .map(|e| coord_lit(schema, d, e))
                    .collect::<Result<Vec<_>, _>>()?;
                if *negated {
                    if !schema.dims[d].coord.is_labels() {
                        return Err(QueryError::plan(format!(
                            "NOT IN is only supported on label dimensions ({text})"
                        )));
                    }
                    per_dim[d].push((Constraint::NotIn(vals), text));
                } else {
                    per_dim[d].push((Constraint::In(vals), text));
                }
            }
            ExprKind::Binary { op: BinOp::Or, .. } => {
                return Err(QueryError::plan(format!(
                "OR is not supported in WHERE ({text}); use IN (...) to select several coordinates"
            )))
            }
            ExprKind::Ident(n) => {
                dim_of(p)?;
                return Err(QueryError::plan(format!("'{n}' alone is not a condition")));
            }
            _ => {
                // Name errors first (unknown names, attributes), then the shape error.
                check_names(binder, p)?;
                return Err(bad());
            }
        }
    }
    Ok(())
}

pub(super) fn attr_in_where(n: &str) -> QueryError {
    QueryError::plan(format!(
        "WHERE selects coordinates of dimensions, but '{n}' is an attribute; to mask values use CASE WHEN ... THEN {n} END"
    ))
}

pub(super) fn check_names(binder: &Binder, e: &Expr) -> Result<(), QueryError> {
    match &e.kind {
        ExprKind::Ident(n) => match binder.resolve(n).map_err(|err| err.at(e.span))? {
            Name::Attr(_) => Err(attr_in_where(n).at(e.span)),
            Name::Dim(_) => Ok(()),
        },
        ExprKind::Unary { expr, .. } | ExprKind::Cast { expr, .. } => check_names(binder, expr),
        ExprKind::Binary { left, right, .. } => {
            check_names(binder, left)?;
            check_names(binder, right)
        }
        ExprKind::Between {
            expr, low, high, ..
        } => {
            check_names(binder, expr)?;
            check_names(binder, low)?;
            check_names(binder, high)
        }
        ExprKind::Func { args, .. } => args.iter().try_for_each(|a| check_names(binder, a)),
        _ => Ok(()),
    }
}
