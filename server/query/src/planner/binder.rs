//! Name binding and typing of expressions: attributes become slots of the scan,
//! dimensions their coordinates, literals adopt the type of what they meet.

use super::typing::{type_err, unify};
use crate::ast::*;
use crate::error::{not_found, QueryError};
use crate::eval::{EType, Lit, PExpr};
use crate::logical::{AggCall, AggInput};
use crate::timeutil::parse_instant;
use arrayq_storage::{ArraySchema, Coordinate};

pub(super) struct Binder<'a> {
    pub(super) schema: &'a ArraySchema,
    /// Slot -> attribute index.
    pub(super) attrs: Vec<usize>,
}

pub(super) enum Name {
    Attr(usize),
    Dim(usize),
}

impl Binder<'_> {
    pub(super) fn resolve(&self, name: &str) -> Result<Name, QueryError> {
        let s = self.schema;
        if let Some(i) = s.attrs.iter().position(|a| a.name == name) {
            return Ok(Name::Attr(i));
        }
        if let Some(i) = s.dims.iter().position(|d| d.name == name) {
            return Ok(Name::Dim(i));
        }
        let ci_a: Vec<usize> = (0..s.attrs.len())
            .filter(|&i| s.attrs[i].name.eq_ignore_ascii_case(name))
            .collect();
        let ci_d: Vec<usize> = (0..s.dims.len())
            .filter(|&i| s.dims[i].name.eq_ignore_ascii_case(name))
            .collect();
        match (ci_a.len(), ci_d.len()) {
            (1, 0) => return Ok(Name::Attr(ci_a[0])),
            (0, 1) => return Ok(Name::Dim(ci_d[0])),
            _ => {}
        }
        let all: Vec<&str> = s
            .attrs
            .iter()
            .map(|a| a.name.as_str())
            .chain(s.dims.iter().map(|d| d.name.as_str()))
            .collect();
        Err(not_found(
            "attribute or dimension",
            name,
            &format!(" in array '{}'", s.name),
            all,
        ))
    }

    pub(super) fn slot(&mut self, attr: usize) -> usize {
        match self.attrs.iter().position(|&a| a == attr) {
            Some(k) => k,
            None => {
                self.attrs.push(attr);
                self.attrs.len() - 1
            }
        }
    }
}

/// Binding mode: scans see attributes and coordinates; final expressions of an
/// aggregate query see aggregate calls only.
pub(super) enum Mode<'m> {
    Scan,
    Final {
        inputs: &'m mut Vec<AggInput>,
        calls: &'m mut Vec<AggCall>,
        call_keys: &'m mut Vec<String>,
    },
}

impl Binder<'_> {
    /// Binds `e`; errors point at `e` unless a part of it knows better.
    pub(super) fn bind(&mut self, e: &Expr, mode: &mut Mode) -> Result<PExpr, QueryError> {
        self.bind_kind(e, mode).map_err(|err| err.at(e.span))
    }

    pub(super) fn bind_kind(&mut self, e: &Expr, mode: &mut Mode) -> Result<PExpr, QueryError> {
        Ok(match &e.kind {
            ExprKind::Ident(name) => match self.resolve(name)? {
                Name::Attr(a) => {
                    if matches!(mode, Mode::Final { .. }) {
                        return Err(QueryError::plan(format!(
                            "attribute '{name}' must be inside an aggregate (e.g. avg({name})) in an aggregate query"
                        )));
                    }
                    let ty = EType::of(self.schema.attrs[a].dtype);
                    PExpr::Slot { k: self.slot(a), ty }
                }
                Name::Dim(d) => {
                    if matches!(mode, Mode::Final { .. }) {
                        return Err(QueryError::plan(format!(
                            "dimension '{name}' is not a value of an aggregate query; list it in GROUP BY to keep it"
                        )));
                    }
                    let ty = match self.schema.dims[d].coord {
                        Coordinate::Regular { .. } => EType::F64,
                        Coordinate::TextLabels { .. } => {
                            return Err(type_err(format!(
                                "text label dimension '{name}' has no numeric value; its labels are the result's coordinates (compare it with strings in WHERE, or GROUP BY it)"
                            ))
                            .at(e.span));
                        }
                        _ => EType::I64,
                    };
                    PExpr::Coord { dim: d, ty }
                }
            },
            ExprKind::Number { value, int, text } => {
                if *int && value.abs() < 9.0e15 {
                    PExpr::Lit { v: Lit::I(*value as i64), weak: true }
                } else if value.is_finite() {
                    PExpr::Lit { v: Lit::F(*value), weak: true }
                } else {
                    return Err(type_err(format!("number '{text}' is out of range")));
                }
            }
            ExprKind::Bool(b) => PExpr::Lit { v: Lit::B(*b), weak: false },
            ExprKind::Str(s) => {
                return Err(type_err(format!(
                    "the string '{s}' is not a value here: strings are only coordinates in WHERE (timestamps) or arguments of date_trunc"
                )))
            }
            ExprKind::Unary { op, expr } => {
                let x = self.bind(expr, mode)?;
                match op {
                    UnOp::Neg => {
                        if !x.ty().is_numeric() {
                            return Err(type_err(format!("cannot negate the bool expression {expr}")));
                        }
                        let ty = x.ty();
                        PExpr::Unary { op: *op, e: Box::new(x), ty }
                    }
                    UnOp::Not => {
                        if x.ty() != EType::Bool {
                            return Err(type_err(format!("NOT needs a bool, {expr} is {}", x.ty().name())));
                        }
                        PExpr::Unary { op: *op, e: Box::new(x), ty: EType::Bool }
                    }
                }
            }
            ExprKind::Binary { op, left, right } => {
                // A string compared with a time coordinate is a timestamp.
                let (l, r) = (self.bind_operand(left, right, mode)?, self.bind_operand(right, left, mode)?);
                self.binary(*op, l, r, left, right)?
            }
            ExprKind::Between { expr, low, high, negated } => {
                let x = self.bind(expr, mode)?;
                let lo = self.bind_operand(low, expr, mode)?;
                let hi = self.bind_operand(high, expr, mode)?;
                let a = self.binary(BinOp::GtEq, x.clone(), lo, expr, low)?;
                let b = self.binary(BinOp::LtEq, x, hi, expr, high)?;
                let both = PExpr::Binary { op: BinOp::And, l: Box::new(a), r: Box::new(b), opty: EType::Bool, ty: EType::Bool };
                if *negated {
                    PExpr::Unary { op: UnOp::Not, e: Box::new(both), ty: EType::Bool }
                } else {
                    both
                }
            }
            ExprKind::InList { expr, list, negated } => {
                let x = self.bind(expr, mode)?;
                let mut acc: Option<PExpr> = None;
                for item in list {
                    let v = self.bind_operand(item, expr, mode)?;
                    let eq = self.binary(BinOp::Eq, x.clone(), v, expr, item)?;
                    acc = Some(match acc {
                        None => eq,
                        Some(a) => PExpr::Binary { op: BinOp::Or, l: Box::new(a), r: Box::new(eq), opty: EType::Bool, ty: EType::Bool },
                    });
                }
                let acc = acc.unwrap_or(PExpr::Lit { v: Lit::B(false), weak: false });
                if *negated {
                    PExpr::Unary { op: UnOp::Not, e: Box::new(acc), ty: EType::Bool }
                } else {
                    acc
                }
            }
            ExprKind::Func { name, args, star } => self.bind_func(name, args, *star, e, mode)?,
            ExprKind::Window(_) => {
                return Err(QueryError::plan(
                    "a window function must be a whole SELECT item, e.g. SELECT avg(t2m) OVER (ORDER BY time) AS m FROM ...; it cannot be inside an expression, GROUP BY, HAVING or ORDER BY",
                ))
            }
            ExprKind::Case { operand, whens, otherwise } => {
                let mut bw = Vec::new();
                for (w, t) in whens {
                    let cond = match operand {
                        Some(o) => {
                            let l = self.bind(o, mode)?;
                            let r = self.bind_operand(w, o, mode)?;
                            self.binary(BinOp::Eq, l, r, o, w)?
                        }
                        None => self.bind(w, mode)?,
                    };
                    if cond.ty() != EType::Bool {
                        return Err(type_err(format!("CASE WHEN needs a bool condition, {w} is {}", cond.ty().name())));
                    }
                    bw.push((cond, self.bind(t, mode)?));
                }
                let other = otherwise.as_ref().map(|o| self.bind(o, mode)).transpose()?;
                let mut ty: Option<PExpr> = None;
                for v in bw.iter().map(|(_, v)| v).chain(other.iter()) {
                    ty = Some(match ty {
                        None => v.clone(),
                        Some(t) => {
                            if (t.ty() == EType::Bool) != (v.ty() == EType::Bool) {
                                return Err(type_err("CASE branches mix bool and numeric values"));
                            }
                            let u = unify(&t, v);
                            if t.is_lit() && v.is_lit() {
                                PExpr::Lit { v: if u == EType::F64 { Lit::F(0.0) } else { Lit::I(0) }, weak: true }
                            } else {
                                PExpr::Slot { k: 0, ty: u }
                            }
                        }
                    });
                }
                let mut ty = ty.map(|t| t.ty()).unwrap_or(EType::F64);
                let otherwise = match other {
                    Some(o) => o,
                    None => {
                        if ty == EType::I64 {
                            ty = EType::F64;
                        }
                        if ty == EType::Bool {
                            PExpr::Lit { v: Lit::B(false), weak: false }
                        } else {
                            PExpr::Lit { v: Lit::F(f64::NAN), weak: true }
                        }
                    }
                };
                PExpr::Case { whens: bw, otherwise: Some(Box::new(otherwise)), ty }
            }
            ExprKind::Cast { expr, dtype } => {
                let x = self.bind(expr, mode)?;
                PExpr::Cast { e: Box::new(x), to: *dtype, ty: EType::of(*dtype) }
            }
        })
    }

    /// Binds `e`; a string literal facing a time coordinate becomes its instant (ns).
    pub(super) fn bind_operand(
        &mut self,
        e: &Expr,
        other: &Expr,
        mode: &mut Mode,
    ) -> Result<PExpr, QueryError> {
        if let (ExprKind::Str(s), ExprKind::Ident(name)) = (&e.kind, &other.kind) {
            if let Ok(Name::Dim(d)) = self.resolve(name) {
                if matches!(self.schema.dims[d].coord, Coordinate::Time { .. }) {
                    let t = parse_instant(s).ok_or_else(|| {
                        type_err(format!(
                            "'{s}' is not an ISO-8601 timestamp (compared with '{name}')"
                        ))
                        .at(e.span)
                    })?;
                    return Ok(PExpr::Lit {
                        v: Lit::I(t),
                        weak: false,
                    });
                }
            }
        }
        if let ExprKind::Str(s) = &e.kind {
            return Err(
                type_err(format!("cannot compare {other} with the string '{s}'")).at(e.span),
            );
        }
        self.bind(e, mode)
    }

    pub(super) fn binary(
        &self,
        op: BinOp,
        l: PExpr,
        r: PExpr,
        le: &Expr,
        re: &Expr,
    ) -> Result<PExpr, QueryError> {
        let (lt, rt) = (l.ty(), r.ty());
        if op.is_logical() {
            if lt != EType::Bool || rt != EType::Bool {
                return Err(type_err(format!(
                    "{} needs bool operands: {le} is {}, {re} is {}",
                    op.symbol(),
                    lt.name(),
                    rt.name()
                )));
            }
            return Ok(PExpr::Binary {
                op,
                l: Box::new(l),
                r: Box::new(r),
                opty: EType::Bool,
                ty: EType::Bool,
            });
        }
        if op.is_comparison() {
            if lt == EType::Bool || rt == EType::Bool {
                if lt == rt && matches!(op, BinOp::Eq | BinOp::NotEq) {
                    return Ok(PExpr::Binary {
                        op,
                        l: Box::new(l),
                        r: Box::new(r),
                        opty: EType::Bool,
                        ty: EType::Bool,
                    });
                }
                return Err(type_err(format!(
                    "cannot compare {le} ({}) with {re} ({})",
                    lt.name(),
                    rt.name()
                )));
            }
            let opty = unify(&l, &r);
            return Ok(PExpr::Binary {
                op,
                l: Box::new(l),
                r: Box::new(r),
                opty,
                ty: EType::Bool,
            });
        }
        if lt == EType::Bool || rt == EType::Bool {
            let which = if lt == EType::Bool { le } else { re };
            return Err(type_err(format!(
                "arithmetic '{}' on the bool expression {which}; CAST it to a number first",
                op.symbol()
            ))
            .at(which.span));
        }
        let opty = unify(&l, &r);
        let ty = if op == BinOp::Div && opty == EType::I64 {
            EType::F64
        } else {
            opty
        };
        Ok(PExpr::Binary {
            op,
            l: Box::new(l),
            r: Box::new(r),
            opty,
            ty,
        })
    }
}
