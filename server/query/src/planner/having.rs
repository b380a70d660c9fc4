//! `HAVING`: a condition over a group's aggregates. It is bound like the select
//! items (aggregate calls it adds are computed with theirs); a select alias in it
//! stands for its expression (`HAVING m > 290` with `avg(t2m) AS m`).

use super::binder::{Binder, Mode};
use super::typing::type_err;
use super::where_clause::strip_parens;
use crate::ast::*;
use crate::error::QueryError;
use crate::eval::{EType, PExpr};

/// Binds the HAVING condition over the aggregate calls of `mode`.
pub(super) fn bind_having(
    binder: &mut Binder,
    having: &Expr,
    items: &[(Expr, Option<String>)],
    mode: &mut Mode,
) -> Result<(PExpr, String), QueryError> {
    let e = with_aliases(having, items);
    let p = binder.bind(&e, mode)?;
    if p.ty() != EType::Bool {
        return Err(type_err(format!(
            "HAVING needs a condition, {having} is {}",
            p.ty().name()
        ))
        .at(having.span));
    }
    Ok((p, strip_parens(&having.to_string())))
}

/// The error for HAVING in a query without GROUP BY or aggregates.
pub(super) fn having_without_groups(having: &Expr) -> QueryError {
    QueryError::plan(
        "HAVING filters groups of an aggregate query (GROUP BY or aggregates in SELECT); to mask cells by value use WHERE",
    )
    .at(having.span)
}

/// `e` with every identifier naming a select alias replaced by the aliased
/// expression (kept where written, for error positions).
fn with_aliases(e: &Expr, items: &[(Expr, Option<String>)]) -> Expr {
    let alias = |n: &str| {
        items
            .iter()
            .find(|(_, a)| a.as_deref() == Some(n))
            .or_else(|| {
                items
                    .iter()
                    .find(|(_, a)| a.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(n)))
            })
            .map(|(x, _)| x)
    };
    let b = |x: &Expr| Box::new(with_aliases(x, items));
    let kind = match &e.kind {
        ExprKind::Ident(n) => match alias(n) {
            Some(x) => x.kind.clone(),
            None => e.kind.clone(),
        },
        ExprKind::Unary { op, expr } => ExprKind::Unary {
            op: *op,
            expr: b(expr),
        },
        ExprKind::Binary { op, left, right } => ExprKind::Binary {
            op: *op,
            left: b(left),
            right: b(right),
        },
        ExprKind::Between {
            expr,
            low,
            high,
            negated,
        } => ExprKind::Between {
            expr: b(expr),
            low: b(low),
            high: b(high),
            negated: *negated,
        },
        ExprKind::InList {
            expr,
            list,
            negated,
        } => ExprKind::InList {
            expr: b(expr),
            list: list.iter().map(|x| with_aliases(x, items)).collect(),
            negated: *negated,
        },
        ExprKind::Case {
            operand,
            whens,
            otherwise,
        } => ExprKind::Case {
            operand: operand.as_deref().map(b),
            whens: whens
                .iter()
                .map(|(w, t)| (with_aliases(w, items), with_aliases(t, items)))
                .collect(),
            otherwise: otherwise.as_deref().map(b),
        },
        ExprKind::Cast { expr, dtype } => ExprKind::Cast {
            expr: b(expr),
            dtype: *dtype,
        },
        // Aggregate arguments read attributes, never aliases.
        other => other.clone(),
    };
    Expr::new(kind, e.span)
}
