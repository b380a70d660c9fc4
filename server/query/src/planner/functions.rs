//! Binding function calls: aggregates (in the final expressions of an aggregate
//! query) become call slots with the statistics they need; scalar functions are
//! typed by their arguments.

use super::binder::{Binder, Mode};
use super::typing::{type_err, unify};
use crate::ast::*;
use crate::error::{not_found, QueryError};
use crate::eval::{EType, Func, Lit, PExpr};
use crate::logical::{AggCall, AggFunc, AggInput};

impl Binder<'_> {
    pub(super) fn bind_func(
        &mut self,
        name: &str,
        args: &[Expr],
        star: bool,
        whole: &Expr,
        mode: &mut Mode,
    ) -> Result<PExpr, QueryError> {
        if let Some(agg) = AggFunc::parse(name) {
            let Mode::Final {
                inputs,
                calls,
                call_keys,
            } = mode
            else {
                return Err(QueryError::plan(format!("aggregate {name}() cannot be used here (nested in another aggregate, or in WHERE)")));
            };
            let key = whole.to_string();
            if let Some(k) = call_keys.iter().position(|c| *c == key) {
                let ty = if agg == AggFunc::Count {
                    EType::I64
                } else {
                    EType::F64
                };
                return Ok(PExpr::Slot { k, ty });
            }
            let (expr, text) = if star {
                if agg != AggFunc::Count || !args.is_empty() {
                    return Err(QueryError::plan(format!(
                        "{name}(*) is not valid; only count(*)"
                    )));
                }
                (
                    PExpr::Lit {
                        v: Lit::I(1),
                        weak: false,
                    },
                    "*".to_string(),
                )
            } else {
                let want = if matches!(name, "quantile" | "percentile_cont") {
                    2
                } else {
                    1
                };
                if args.len() != want {
                    return Err(QueryError::plan(match name {
                        "quantile" => {
                            format!("quantile(x, q) takes two arguments, got {}", args.len())
                        }
                        _ => format!("{name}() takes one argument, got {}", args.len()),
                    }));
                }
                let x = self.bind(&args[0], &mut Mode::Scan)?;
                (x, args[0].to_string())
            };
            let q = match (agg, name) {
                (AggFunc::Quantile, "median") => Some(0.5),
                (AggFunc::Quantile, _) => Some(fraction(&args[1])?),
                _ => None,
            };
            if agg != AggFunc::Count && expr.ty() == EType::Bool {
                return Err(type_err(format!(
                    "{name}() of the bool expression {text}; use count() or {name}(CAST({text} AS INT))"
                ))
                .at(args[0].span));
            }
            let input = match inputs.iter().position(|i| i.text == text) {
                Some(i) => i,
                None => {
                    inputs.push(AggInput {
                        expr,
                        text,
                        sum: false,
                        min: false,
                        max: false,
                        var: false,
                        hold: false,
                    });
                    inputs.len() - 1
                }
            };
            match agg {
                AggFunc::Min => inputs[input].min = true,
                AggFunc::Max => inputs[input].max = true,
                AggFunc::Sum | AggFunc::Avg => inputs[input].sum = true,
                AggFunc::VarPop | AggFunc::VarSamp | AggFunc::StdPop | AggFunc::StdSamp => {
                    inputs[input].sum = true;
                    inputs[input].var = true
                }
                AggFunc::Quantile => inputs[input].hold = true,
                AggFunc::Count => {}
            }
            calls.push(AggCall {
                func: agg,
                input,
                q,
            });
            call_keys.push(key);
            let ty = if agg == AggFunc::Count {
                EType::I64
            } else {
                EType::F64
            };
            return Ok(PExpr::Slot {
                k: calls.len() - 1,
                ty,
            });
        }
        if name != "floor" && super::buckets::BUCKET_FUNCS.contains(&name) {
            return Err(QueryError::plan(format!(
                "{name}(...) buckets a dimension: use it in GROUP BY (and optionally as a SELECT item naming the bucket dimension)"
            )));
        }
        let Some(f) = Func::parse(name) else {
            let all = Func::NAMES
                .iter()
                .chain(AggFunc::NAMES.iter())
                .copied()
                .chain(super::buckets::BUCKET_FUNCS);
            return Err(not_found("function", name, "", all));
        };
        if star {
            return Err(QueryError::plan(format!("{name}(*) is not valid")));
        }
        let (lo, hi) = f.arity();
        if args.len() < lo || args.len() > hi {
            return Err(QueryError::plan(format!(
                "{name}() takes {lo}{} argument(s), got {}",
                if hi > lo {
                    format!("..{hi}")
                } else {
                    String::new()
                },
                args.len()
            )));
        }
        let bound: Vec<PExpr> = args
            .iter()
            .map(|a| self.bind(a, mode))
            .collect::<Result<_, _>>()?;
        for (a, b) in args.iter().zip(&bound) {
            if b.ty() == EType::Bool {
                return Err(type_err(format!("{name}() of the bool expression {a}")).at(a.span));
            }
        }
        if f == Func::Round
            && bound.len() == 2
            && !matches!(bound[1], PExpr::Lit { v: Lit::I(_), .. })
        {
            return Err(
                type_err("round(x, digits) needs an integer literal for digits").at(args[1].span),
            );
        }
        let t0 = bound[0].ty();
        let opty = match f {
            Func::Power => match unify(&bound[0], &bound[1]) {
                EType::I64 => EType::F64,
                t => t,
            },
            _ => t0,
        };
        let ty = match (f, opty) {
            (Func::IsNan, _) => EType::Bool,
            (Func::Abs | Func::Sign | Func::Round | Func::Floor | Func::Ceil, EType::I64) => {
                EType::I64
            }
            (_, EType::I64) => EType::F64,
            (_, t) => t,
        };
        Ok(PExpr::Func {
            f,
            args: bound,
            opty,
            ty,
        })
    }
}

/// The fraction `q` of a quantile: a number in [0, 1], written as a constant.
fn fraction(a: &Expr) -> Result<f64, QueryError> {
    match &a.kind {
        ExprKind::Number { value, .. } if (0.0..=1.0).contains(value) => Ok(*value),
        ExprKind::Number { text, .. } => Err(QueryError::plan(format!(
            "the quantile fraction must be between 0 and 1, got {text}"
        ))
        .at(a.span)),
        _ => Err(QueryError::plan(format!(
            "the quantile fraction must be a constant between 0 and 1, got {a}"
        ))
        .at(a.span)),
    }
}
