//! The WHERE clause split in two: conjuncts that select coordinates of one
//! dimension (`time BETWEEN ... AND ...`, `lat > 50`, `asset IN (1, 2)`) become
//! per-dimension constraints pushed into the scan, as before; every other conjunct
//! (conditions on attributes, OR, NOT, CASE, arithmetic on coordinates) becomes one
//! element-wise predicate, the mask: cells where it is not true are missing (NaN)
//! in the result, which keeps its shape.

use super::binder::{Binder, Mode, Name};
use super::typing::type_err;
use super::where_clause::{conjuncts, part_constraints, strip_parens, Constraint};
use crate::ast::*;
use crate::error::QueryError;
use crate::eval::{EType, PExpr};

/// The mask part of a WHERE clause: the bound predicate and its text (EXPLAIN).
pub(super) struct MaskPart {
    pub(super) pred: PExpr,
    pub(super) text: String,
}

pub(super) type PerDim = Vec<Vec<(Constraint, String)>>;

/// Splits the WHERE clause into pushed-down constraints and a mask (if any).
pub(super) fn split_where(
    binder: &mut Binder,
    filter: &Expr,
) -> Result<(PerDim, Option<MaskPart>), QueryError> {
    let mut per_dim: PerDim = (0..binder.schema.dims.len()).map(|_| Vec::new()).collect();
    let mut parts = Vec::new();
    conjuncts(filter, &mut parts);
    let mut mask: Option<MaskPart> = None;
    for p in parts {
        if pushable(binder, p) {
            // Errors point at the condition unless a name or value in it is to blame.
            part_constraints(binder, p, &mut per_dim).map_err(|e| e.at(p.span))?;
            continue;
        }
        let pred = binder.bind(p, &mut Mode::Scan)?;
        if pred.ty() != EType::Bool {
            return Err(type_err(format!(
                "WHERE needs a condition, {p} is {}",
                pred.ty().name()
            ))
            .at(p.span));
        }
        let text = strip_parens(&p.to_string());
        mask = Some(match mask {
            None => MaskPart { pred, text },
            Some(m) => MaskPart {
                pred: PExpr::Binary {
                    op: BinOp::And,
                    l: Box::new(m.pred),
                    r: Box::new(pred),
                    opty: EType::Bool,
                    ty: EType::Bool,
                },
                text: format!("{} AND {text}", m.text),
            },
        });
    }
    Ok((per_dim, mask))
}

/// Whether a conjunct selects coordinates of one dimension by literals, the shapes
/// the hyperslab takes. Unknown names count as pushable so that the constraint
/// path reports them as it always did.
fn pushable(binder: &Binder, p: &Expr) -> bool {
    let dim = |e: &Expr| match &e.kind {
        ExprKind::Ident(n) => match binder.resolve(n) {
            Ok(Name::Dim(d)) => Some(Some(d)),
            Ok(Name::Attr(_)) => None,
            Err(_) => Some(None),
        },
        _ => None,
    };
    let lit = |e: &Expr| matches!(e.kind, ExprKind::Number { .. } | ExprKind::Str(_));
    let labels = |d: Option<usize>| d.is_none_or(|d| binder.schema.dims[d].coord.is_labels());
    match &p.kind {
        ExprKind::Binary { op, left, right } if op.is_comparison() => {
            let d = match (dim(left), dim(right)) {
                (Some(d), None) if lit(right) => d,
                (None, Some(d)) if lit(left) => d,
                _ => return false,
            };
            // `<>` on a float or time axis is no hyperslab: mask it.
            *op != BinOp::NotEq || labels(d)
        }
        ExprKind::Between {
            expr,
            low,
            high,
            negated: false,
        } => dim(expr).is_some() && lit(low) && lit(high),
        ExprKind::InList {
            expr,
            list,
            negated,
        } => match dim(expr) {
            Some(d) => list.iter().all(lit) && (!negated || labels(d)),
            None => false,
        },
        // A bare bool attribute is a mask; a bare dimension is an error there.
        ExprKind::Ident(_) => dim(p).is_some(),
        _ => false,
    }
}
