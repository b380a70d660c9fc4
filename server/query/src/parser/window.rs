//! `f(args) OVER (ORDER BY dim [frame])`: the window spec and its frame.

use super::convert::Converter;
use super::spans::is_kw_at;
use super::*;

impl Converter {
    /// `f(args) OVER (ORDER BY dim [frame])`; its span runs to the `)` of the OVER
    /// clause.
    pub(super) fn window(
        &self,
        func: Expr,
        w: sq::WindowType,
    ) -> Result<(ExprKind, Span), QueryError> {
        let mut span = func.span;
        let end = self.first_from(Location::new(span.end_line, span.end_column));
        if is_kw_at(self, end, "OVER") {
            if let Some(c) = self.closing(end + 1) {
                span = span.union(span_of(self.toks[c].span));
            }
        }
        let spec = match w {
            sq::WindowType::WindowSpec(s) => s,
            sq::WindowType::NamedWindow(_) => {
                return Err(unsupported("named windows (write OVER (ORDER BY dim ...))").at(span))
            }
        };
        if let Some(p) = spec.partition_by.first() {
            return Err(QueryError::plan(
                "PARTITION BY is not needed: a window runs along its ORDER BY dimension separately for every cell of the other dimensions",
            )
            .at(span_of(p.span()).union(self.keyword("PARTITION"))));
        }
        let order = match <[sq::OrderByExpr; 1]>::try_from(spec.order_by) {
            Ok([o]) => o,
            Err(v) if v.is_empty() => {
                return Err(QueryError::plan(
                    "a window needs ORDER BY one dimension, e.g. OVER (ORDER BY time)",
                )
                .at(span))
            }
            Err(_) => return Err(QueryError::plan("a window orders by one dimension").at(span)),
        };
        let order_by = match &order.expr {
            sq::Expr::Identifier(i) => Name {
                value: i.value.clone(),
                span: span_of(i.span),
            },
            // `e.time` in a join: the result's dimensions are the left array's.
            sq::Expr::CompoundIdentifier(parts) if !parts.is_empty() => Name {
                value: parts[parts.len() - 1].value.clone(),
                span: span_of(order.expr.span()),
            },
            other => {
                return Err(QueryError::plan(format!(
                    "a window orders by a dimension, not by {other}"
                ))
                .at(span_of(other.span())))
            }
        };
        let frame = match spec.window_frame {
            None => None,
            Some(fr) => {
                let fspan = self.keyword("ROWS").union(self.keyword("RANGE"));
                let range = match fr.units {
                    sq::WindowFrameUnits::Rows => false,
                    sq::WindowFrameUnits::Range => true,
                    sq::WindowFrameUnits::Groups => {
                        return Err(
                            unsupported("GROUPS frames (use ROWS)").at(self.keyword("GROUPS"))
                        )
                    }
                };
                let start = self.frame_bound(fr.start_bound, true, span)?;
                let end = match fr.end_bound {
                    Some(b) => self.frame_bound(b, false, span)?,
                    None => FrameBound::CurrentRow,
                };
                Some(Frame {
                    range,
                    start,
                    end,
                    span: if fspan.is_known() { fspan } else { span },
                })
            }
        };
        let call = WindowCall {
            func,
            order_by,
            desc: order.options.asc == Some(false),
            frame,
        };
        Ok((ExprKind::Window(Box::new(call)), span))
    }

    fn frame_bound(
        &self,
        b: sq::WindowFrameBound,
        start: bool,
        span: Span,
    ) -> Result<FrameBound, QueryError> {
        let offset = |e: Box<sq::Expr>| -> Result<FrameOffset, QueryError> {
            let bad = |e: &sq::Expr| {
                QueryError::plan(format!(
                    "a frame offset is a whole number of rows (ROWS 3 PRECEDING) or an interval (RANGE INTERVAL '3 hours' PRECEDING), not {e}"
                ))
                .at(span_of(e.span()))
            };
            match *e {
                sq::Expr::Value(ref v) => match &v.value {
                    sq::Value::Number(n, _) => {
                        n.parse::<u64>().map(FrameOffset::Rows).map_err(|_| bad(&e))
                    }
                    sq::Value::SingleQuotedString(s) => Ok(FrameOffset::Interval(s.clone())),
                    _ => Err(bad(&e)),
                },
                sq::Expr::Interval(ref i) => match (i.value.as_ref(), &i.leading_field) {
                    (sq::Expr::Value(v), None) => match &v.value {
                        sq::Value::SingleQuotedString(s) => Ok(FrameOffset::Interval(s.clone())),
                        _ => Err(bad(&e)),
                    },
                    (sq::Expr::Value(v), Some(field)) => match &v.value {
                        sq::Value::SingleQuotedString(s) | sq::Value::Number(s, _) => Ok(
                            FrameOffset::Interval(format!("{s} {field}").to_ascii_lowercase()),
                        ),
                        _ => Err(bad(&e)),
                    },
                    _ => Err(bad(&e)),
                },
                _ => Err(bad(&e)),
            }
        };
        Ok(match b {
            sq::WindowFrameBound::CurrentRow => FrameBound::CurrentRow,
            sq::WindowFrameBound::Preceding(None) if start => FrameBound::UnboundedPreceding,
            sq::WindowFrameBound::Following(None) if !start => FrameBound::UnboundedFollowing,
            sq::WindowFrameBound::Preceding(Some(e)) => FrameBound::Preceding(offset(e)?),
            sq::WindowFrameBound::Following(Some(e)) => FrameBound::Following(offset(e)?),
            _ => {
                return Err(QueryError::plan(
                    "a frame cannot start at UNBOUNDED FOLLOWING nor end at UNBOUNDED PRECEDING",
                )
                .at(span))
            }
        })
    }
}
