//! Window functions: `f(x) OVER (ORDER BY dim [frame])` as a whole SELECT item.
//! The argument is projected like any element-wise expression (as f64, missing
//! cells NaN); a [`WindowCol`] then replaces that column by `f` over frames along
//! `dim`, separately for every cell of the other dimensions. Windows run after
//! WHERE: a frame only sees the selected cells. `RANGE` frames with an interval
//! are the `ROWS` frame of interval / step rows on a regular time dimension.

use super::binder::{Binder, Mode};
use crate::ast::*;
use crate::error::{not_found, QueryError};
use crate::eval::{EType, PExpr};
use crate::logical::{DimSel, WindowCol, WindowFunc};
use crate::timeutil::parse_duration;
use arrayq_storage::{Coordinate, DType};

/// The first window call in `e`, if any.
pub(super) fn find_window(e: &Expr) -> Option<&Expr> {
    match &e.kind {
        ExprKind::Window(_) => Some(e),
        ExprKind::Unary { expr, .. } | ExprKind::Cast { expr, .. } => find_window(expr),
        ExprKind::Binary { left, right, .. } => find_window(left).or_else(|| find_window(right)),
        ExprKind::Between {
            expr, low, high, ..
        } => find_window(expr)
            .or_else(|| find_window(low))
            .or_else(|| find_window(high)),
        ExprKind::InList { expr, list, .. } => {
            find_window(expr).or_else(|| list.iter().find_map(find_window))
        }
        ExprKind::Func { args, .. } => args.iter().find_map(find_window),
        ExprKind::Case {
            operand,
            whens,
            otherwise,
        } => operand
            .as_deref()
            .and_then(find_window)
            .or_else(|| {
                whens
                    .iter()
                    .find_map(|(w, t)| find_window(w).or_else(|| find_window(t)))
            })
            .or_else(|| otherwise.as_deref().and_then(find_window)),
        _ => None,
    }
}

/// Binds a window item: the argument's projection expression (f64) and the window
/// over output column `column`, with the window's output dtype and the argument
/// as written.
pub(super) fn bind_window(
    binder: &mut Binder,
    w: &WindowCall,
    dims: &[DimSel],
    empty: bool,
    column: usize,
) -> Result<(PExpr, WindowCol, DType, String), QueryError> {
    let schema = binder.schema;
    let ExprKind::Func { name, args, star } = &w.func.kind else {
        return Err(QueryError::Internal("a window over no call".into()));
    };
    let Some(mut func) = WindowFunc::parse(name) else {
        return Err(QueryError::plan(format!(
            "{name}() is not a window function; windows compute avg, sum, min, max, count, lag and lead"
        ))
        .at(w.func.span));
    };
    let d = schema
        .dims
        .iter()
        .position(|x| x.name == w.order_by.value)
        .or_else(|| {
            let ci: Vec<usize> = (0..schema.dims.len())
                .filter(|&i| schema.dims[i].name.eq_ignore_ascii_case(&w.order_by.value))
                .collect();
            (ci.len() == 1).then(|| ci[0])
        })
        .ok_or_else(|| {
            not_found(
                "dimension",
                &w.order_by.value,
                &format!(
                    " in array '{}' (a window orders by a dimension)",
                    schema.name
                ),
                schema.dims.iter().map(|x| x.name.as_str()),
            )
            .at(w.order_by.span)
        })?;
    // Argument.
    let arg = match (func, args.as_slice(), *star) {
        (WindowFunc::Count, [], true) => Expr::new(
            ExprKind::Number {
                value: 1.0,
                int: true,
                text: "1".into(),
            },
            w.func.span,
        ),
        (WindowFunc::Lag(_) | WindowFunc::Lead(_), [x, n], false) => {
            let steps = match &n.kind {
                ExprKind::Number {
                    value, int: true, ..
                } if *value >= 0.0 => *value as usize,
                _ => {
                    return Err(QueryError::plan(format!(
                        "the offset of {name}(x, n) is a whole number of rows >= 0, not {n}"
                    ))
                    .at(n.span))
                }
            };
            func = match func {
                WindowFunc::Lag(_) => WindowFunc::Lag(steps),
                _ => WindowFunc::Lead(steps),
            };
            x.clone()
        }
        (_, [x], false) => x.clone(),
        _ => {
            let want = match func {
                WindowFunc::Lag(_) | WindowFunc::Lead(_) => "one or two arguments: (x) or (x, n)",
                _ => "one argument",
            };
            return Err(
                QueryError::plan(format!("window function {name}() takes {want}")).at(w.func.span),
            );
        }
    };
    let p = binder.bind(&arg, &mut Mode::Scan)?;
    if p.ty() == EType::Bool {
        return Err(QueryError::plan(format!(
            "{name}() over a window needs numbers, {arg} is bool"
        ))
        .at(arg.span));
    }
    let p = super::to_f64(p);
    let arg_text = arg.to_string();
    // Frame, ascending along the dimension.
    let step = match &schema.dims[d].coord {
        Coordinate::Time { step_ns, .. } => Some(step_ns.abs()),
        _ => None,
    };
    let dim_name = &schema.dims[d].name;
    let offset = |o: &FrameOffset, fr: &Frame| -> Result<i64, QueryError> {
        match (o, fr.range) {
            (FrameOffset::Rows(n), false) => Ok(*n as i64),
            (FrameOffset::Interval(s), true) => {
                let Some(step) = step else {
                    return Err(QueryError::plan(format!(
                        "RANGE with an interval needs a regular time dimension, '{dim_name}' is not one; use ROWS"
                    ))
                    .at(fr.span));
                };
                if dims[d].picks.is_some() {
                    return Err(QueryError::plan(format!(
                        "RANGE INTERVAL '{s}' needs evenly spaced '{dim_name}' cells, but WHERE picks some of them; use ROWS"
                    ))
                    .at(fr.span));
                }
                let ns = parse_duration(s).ok_or_else(|| {
                    QueryError::plan(format!("cannot read interval '{s}' (e.g. '23 hours', '30 minutes')"))
                        .at(fr.span)
                })?;
                if ns < 0 || ns % step != 0 {
                    return Err(QueryError::plan(format!(
                        "RANGE INTERVAL '{s}' is not a whole number of steps of '{dim_name}' ({}); use a multiple of the step",
                        step_text(step)
                    ))
                    .at(fr.span));
                }
                Ok(ns / step)
            }
            (FrameOffset::Rows(_), true) => Err(QueryError::plan(
                "RANGE offsets are intervals (RANGE INTERVAL '3 hours' PRECEDING); for a number of rows use ROWS",
            )
            .at(fr.span)),
            (FrameOffset::Interval(_), false) => Err(QueryError::plan(
                "ROWS offsets are whole numbers of rows; for an interval use RANGE INTERVAL '...' PRECEDING",
            )
            .at(fr.span)),
        }
    };
    let (mut start, mut end, frame_text) = match &w.frame {
        None => (
            None,
            Some(0),
            "ROWS UNBOUNDED PRECEDING..CURRENT ROW".to_string(),
        ),
        Some(fr) => {
            let b = |x: &FrameBound| -> Result<Option<i64>, QueryError> {
                Ok(match x {
                    FrameBound::UnboundedPreceding | FrameBound::UnboundedFollowing => None,
                    FrameBound::CurrentRow => Some(0),
                    FrameBound::Preceding(o) => Some(-offset(o, fr)?),
                    FrameBound::Following(o) => Some(offset(o, fr)?),
                })
            };
            let (s, e) = (b(&fr.start)?, b(&fr.end)?);
            if let (Some(s), Some(e)) = (s, e) {
                if s > e {
                    return Err(QueryError::plan(format!(
                        "the frame starts after it ends: {} .. {}",
                        fr.start, fr.end
                    ))
                    .at(fr.span));
                }
            }
            let show = |x: Option<i64>, start: bool| match x {
                None if start => "UNBOUNDED PRECEDING".to_string(),
                None => "UNBOUNDED FOLLOWING".to_string(),
                Some(0) => "CURRENT ROW".to_string(),
                Some(n) if n < 0 => format!("{} PRECEDING", -n),
                Some(n) => format!("{n} FOLLOWING"),
            };
            (s, e, format!("ROWS {}..{}", show(s, true), show(e, false)))
        }
    };
    let mut text_func = w.func.to_string();
    let mut order = w.order_by.value.clone();
    if w.desc {
        order.push_str(" DESC");
    }
    // Cells are stored in index order; ORDER BY is by coordinate value.
    let reversed = match &schema.dims[d].coord {
        Coordinate::Regular { step, .. } => *step < 0.0,
        Coordinate::Time { step_ns, .. } => *step_ns < 0,
        Coordinate::Labels { labels } => {
            let l = labels.as_slice();
            if l.windows(2).all(|p| p[0] < p[1]) {
                false
            } else if l.windows(2).all(|p| p[0] > p[1]) {
                true
            } else {
                return Err(QueryError::plan(format!(
                    "a window orders by '{dim_name}', whose labels are not sorted; windows run along dimensions with ordered coordinates"
                ))
                .at(w.order_by.span));
            }
        }
        Coordinate::TextLabels { .. } => {
            return Err(QueryError::plan(format!(
                "a window cannot order by the text label dimension '{dim_name}'; windows run along dimensions with ordered coordinates"
            ))
            .at(w.order_by.span))
        }
    };
    if w.desc != reversed {
        // Descending: preceding rows are the later cells.
        (start, end) = (end.map(|x| -x), start.map(|x| -x));
        func = match func {
            WindowFunc::Lag(n) => WindowFunc::Lead(n),
            WindowFunc::Lead(n) => WindowFunc::Lag(n),
            f => f,
        };
    }
    let text = match func {
        WindowFunc::Lag(_) | WindowFunc::Lead(_) => format!("{text_func} OVER (ORDER BY {order})"),
        _ => {
            if *star {
                text_func = format!("{name}(*)");
            }
            format!("{text_func} OVER (ORDER BY {order} {frame_text})")
        }
    };
    // The dimension's axis in the result grid (squeezed dimensions are gone).
    let kept = |x: &DimSel| !x.squeeze || empty;
    let axis = match kept(&dims[d]) {
        false => None,
        true => Some(dims[..d].iter().filter(|x| kept(x)).count()),
    };
    let dtype = match func {
        WindowFunc::Count => DType::I64,
        _ => DType::F64,
    };
    Ok((
        p,
        WindowCol {
            column,
            func,
            axis,
            start,
            end,
            text,
        },
        dtype,
        arg_text,
    ))
}

/// A time step as text: `1 hour`, `15 minutes`, `30 s`.
fn step_text(ns: i64) -> String {
    const S: i64 = 1_000_000_000;
    match ns {
        n if n % (3600 * S) == 0 => format!(
            "{} hour{}",
            n / (3600 * S),
            if n == 3600 * S { "" } else { "s" }
        ),
        n if n % (60 * S) == 0 => format!("{} minutes", n / (60 * S)),
        n if n % S == 0 => format!("{} s", n / S),
        n => format!("{n} ns"),
    }
}
