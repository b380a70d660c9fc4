//! `ORDER BY`, `LIMIT` and `OFFSET` from sqlparser's AST: keys stay expressions
//! (the planner resolves them against the result's columns); counts must be
//! non-negative integer literals.

use super::convert::Converter;
use super::*;

impl Converter {
    pub(super) fn order_spec(
        &self,
        order_by: Option<sq::OrderBy>,
        limit: Option<sq::LimitClause>,
    ) -> Result<OrderSpec, QueryError> {
        let mut spec = OrderSpec::default();
        if let Some(o) = order_by {
            if o.interpolate.is_some() {
                return Err(unsupported("INTERPOLATE").at(self.keyword("INTERPOLATE")));
            }
            let sq::OrderByKind::Expressions(exprs) = o.kind else {
                return Err(unsupported("ORDER BY ALL").at(self.keyword("ORDER")));
            };
            for e in exprs {
                if e.with_fill.is_some() {
                    return Err(unsupported("WITH FILL").at(self.keyword("FILL")));
                }
                spec.keys.push(OrderKey {
                    expr: self.expr(e.expr)?,
                    desc: e.options.asc == Some(false),
                    nulls_first: e.options.nulls_first,
                });
            }
        }
        match limit {
            None => {}
            Some(sq::LimitClause::LimitOffset {
                limit,
                offset,
                limit_by,
            }) => {
                if !limit_by.is_empty() {
                    return Err(unsupported("LIMIT BY").at(self.keyword("LIMIT")));
                }
                // `LIMIT ALL` arrives as no limit.
                spec.limit = limit.map(|e| self.count(e, "LIMIT")).transpose()?;
                spec.offset = offset.map(|o| self.count(o.value, "OFFSET")).transpose()?;
            }
            Some(sq::LimitClause::OffsetCommaLimit { .. }) => {
                return Err(unsupported("LIMIT offset, count (write LIMIT n OFFSET m)")
                    .at(self.keyword("LIMIT")))
            }
        }
        Ok(spec)
    }

    /// The row count of `LIMIT` / `OFFSET`: a non-negative integer literal.
    fn count(&self, e: sq::Expr, what: &str) -> Result<(u64, Span), QueryError> {
        let e = self.expr(e)?;
        match e.kind {
            ExprKind::Number {
                value, int: true, ..
            } if value >= 0.0 && value <= u64::MAX as f64 => Ok((value as u64, e.span)),
            ExprKind::Number { value, .. } if value < 0.0 => {
                Err(QueryError::plan(format!("{what} must not be negative, got {e}")).at(e.span))
            }
            _ => Err(QueryError::plan(format!(
                "{what} takes a row count (a non-negative integer), got {e}"
            ))
            .at(e.span)),
        }
    }
}
