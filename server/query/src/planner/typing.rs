//! Typing rules shared by the binder: operand unification, output dtypes, and
//! whether an expression aggregates.

use crate::ast::{Expr, ExprKind};
use crate::error::QueryError;
use crate::eval::{EType, PExpr};
use crate::logical::AggFunc;
use arrayq_storage::{ArraySchema, DType};

pub(super) fn type_err(m: impl Into<String>) -> QueryError {
    QueryError::type_error(m)
}

/// The common operand type of two numeric expressions; weak literals adopt the
/// other side's type (so `t2m - 273.15` stays f32, as in numpy).
pub(super) fn unify(l: &PExpr, r: &PExpr) -> EType {
    let (lt, rt) = (l.ty(), r.ty());
    let weak = |e: &PExpr| matches!(e, PExpr::Lit { weak: true, .. });
    match (weak(l), weak(r)) {
        (true, false) => adopt(lt, rt),
        (false, true) => adopt(rt, lt),
        _ => {
            if (lt == EType::I64 && rt == EType::F32) || (lt == EType::F32 && rt == EType::I64) {
                EType::F64
            } else {
                lt.max(rt)
            }
        }
    }
}

pub(super) fn adopt(lit: EType, other: EType) -> EType {
    if other.is_float() {
        other
    } else if lit == EType::F64 {
        EType::F64
    } else {
        other.max(EType::I64)
    }
}

pub(super) fn contains_agg(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Func { name, args, .. } => {
            AggFunc::parse(name).is_some() || args.iter().any(contains_agg)
        }
        ExprKind::Unary { expr, .. } | ExprKind::Cast { expr, .. } => contains_agg(expr),
        ExprKind::Binary { left, right, .. } => contains_agg(left) || contains_agg(right),
        ExprKind::Between {
            expr, low, high, ..
        } => contains_agg(expr) || contains_agg(low) || contains_agg(high),
        ExprKind::InList { expr, list, .. } => contains_agg(expr) || list.iter().any(contains_agg),
        ExprKind::Case {
            operand,
            whens,
            otherwise,
        } => {
            operand.as_deref().is_some_and(contains_agg)
                || whens
                    .iter()
                    .any(|(a, b)| contains_agg(a) || contains_agg(b))
                || otherwise.as_deref().is_some_and(contains_agg)
        }
        _ => false,
    }
}

/// Output dtype of a column: attributes and casts keep their exact dtype.
pub(super) fn out_dtype(e: &PExpr, attrs: &[usize], schema: &ArraySchema) -> DType {
    match e {
        PExpr::Slot { k, .. } => schema.attrs[attrs[*k]].dtype,
        PExpr::Cast { to, .. } => *to,
        other => other.ty().dtype(),
    }
}
