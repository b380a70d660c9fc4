//! FROM and JOIN: the array a query reads (by name, through `reproject(...)`, or a
//! subquery), the one it joins, and the queries `WITH` names.

use super::convert::{object_name, Converter};
use super::*;

/// What a SELECT's FROM clause names.
pub(super) struct FromClause {
    pub(super) from: Name,
    pub(super) from_query: Option<Box<Select>>,
    pub(super) layout: Option<Name>,
    pub(super) reproject: Option<Reproject>,
    /// With the left side's alias.
    pub(super) join: Option<Join>,
}

impl Converter {
    /// The FROM clause of a SELECT; `select` (its SELECT keyword) is where an
    /// error about a missing FROM points.
    pub(super) fn relations(
        &self,
        from: Vec<sq::TableWithJoins>,
        select: Span,
    ) -> Result<FromClause, QueryError> {
        if from.len() != 1 {
            let at = match from.get(1) {
                Some(t) => span_of(t.relation.span()),
                None => select,
            };
            return Err(
                QueryError::plan("a query reads exactly one array: SELECT ... FROM name").at(at),
            );
        }
        let mut twj = from.into_iter().next().unwrap();
        let join = match twj.joins.len() {
            0 => None,
            1 => Some(self.join(twj.joins.remove(0))?),
            _ => {
                return Err(QueryError::plan("a query joins at most two arrays")
                    .at(span_of(twj.joins[1].relation.span())))
            }
        };
        let mut left_alias = None;
        let mut layout = None;
        let mut reproject = None;
        let mut from_query = None;
        let from = match twj.relation {
            sq::TableFactor::Table {
                name,
                args,
                version,
                alias,
                with_hints,
                ..
            } => {
                for h in with_hints {
                    let at = span_of(h.span());
                    let name = table_option(&h).map_err(|e| e.at(at))?;
                    if layout.replace(name).is_some() {
                        return Err(QueryError::plan("WITH (layout = ...) given twice").at(at));
                    }
                }
                let name_span = span_of(name.span());
                let from_name = if let Some(args) = args {
                    if object_name(&name).eq_ignore_ascii_case("reproject") {
                        let (source, r) = self.reproject(self.with_args(name_span), args)?;
                        reproject = Some(r);
                        source
                    } else {
                        return Err(unsupported("table functions other than reproject(...)")
                            .at(self.with_args(name_span)));
                    }
                } else {
                    Name {
                        value: object_name(&name),
                        span: name_span,
                    }
                };
                let from = from_name;
                if version.is_some() {
                    return Err(unsupported(
                        "this time-travel syntax (use AS OF VERSION n or AS OF TIMESTAMP '...')",
                    )
                    .at(self.keyword("FOR")));
                }
                if let Some(a) = alias {
                    if join.is_none() {
                        return Err(
                            unsupported("array aliases outside a JOIN").at(span_of(a.name.span))
                        );
                    }
                    left_alias = Some(Name {
                        value: a.name.value,
                        span: span_of(a.name.span),
                    });
                }
                from
            }
            other => {
                let (name, query) = self.derived(other, join.is_some())?;
                from_query = Some(query);
                name
            }
        };
        Ok(FromClause {
            from,
            from_query,
            layout,
            reproject,
            join: join.map(|j| Join { left_alias, ..j }),
        })
    }

    /// `JOIN right [alias] ON cond` (inner joins only).
    fn join(&self, j: sq::Join) -> Result<Join, QueryError> {
        let at = span_of(j.relation.span());
        let on = match j.join_operator {
            sq::JoinOperator::Join(c) | sq::JoinOperator::Inner(c) => c,
            _ => return Err(unsupported("this kind of JOIN (use JOIN ... ON)").at(at)),
        };
        let on = match on {
            sq::JoinConstraint::On(e) => self.expr(e)?,
            _ => {
                return Err(QueryError::plan(
                    "a join of arrays needs ON: JOIN b ON a.lat = b.lat AND ...",
                )
                .at(at))
            }
        };
        if matches!(j.relation, sq::TableFactor::Derived { .. }) {
            let (right, query) = self.derived(j.relation, true)?;
            return Ok(Join {
                left_alias: None,
                right,
                right_alias: None,
                right_query: Some(query),
                on,
            });
        }
        let sq::TableFactor::Table {
            name,
            args: None,
            alias,
            with_hints,
            version: None,
            ..
        } = j.relation
        else {
            return Err(
                unsupported("this right side of a JOIN (name an array or a subquery)").at(at),
            );
        };
        if !with_hints.is_empty() {
            return Err(unsupported("WITH hints on the right side of a JOIN").at(at));
        }
        Ok(Join {
            left_alias: None,
            right: Name {
                value: object_name(&name),
                span: span_of(name.span()),
            },
            right_alias: alias.map(|a| Name {
                value: a.name.value,
                span: span_of(a.name.span),
            }),
            right_query: None,
            on,
        })
    }

    /// `WITH a AS (...), b AS (...)`: each query named, names unique.
    pub(super) fn ctes(&self, w: sq::With) -> Result<Vec<Cte>, QueryError> {
        if w.recursive {
            return Err(unsupported("WITH RECURSIVE").at(self.keyword("RECURSIVE")));
        }
        let mut out: Vec<Cte> = Vec::new();
        for c in w.cte_tables {
            let name = Name {
                value: c.alias.name.value.clone(),
                span: span_of(c.alias.name.span),
            };
            if let Some(col) = c.alias.columns.first() {
                return Err(unsupported(
                    "column names after a CTE's name (name them with AS in its SELECT)",
                )
                .at(span_of(col.name.span)));
            }
            if c.materialized.is_some() || c.from.is_some() {
                return Err(
                    unsupported("this form of WITH (use WITH name AS (SELECT ...))").at(name.span),
                );
            }
            if let Some(first) = out
                .iter()
                .find(|o| o.name.value.eq_ignore_ascii_case(&name.value))
            {
                return Err(QueryError::plan(format!(
                    "WITH names '{}' twice (first at line {}, column {}): give each query its own name",
                    name.value, first.name.span.line, first.name.span.column
                ))
                .at(name.span));
            }
            let query = self.query(*c.query, AsOfSpec::Latest, Span::default())?;
            out.push(Cte {
                name,
                query: Box::new(query),
            });
        }
        Ok(out)
    }

    /// `(SELECT ...) [AS] alias`: the subquery and the name it is read by (its alias;
    /// without one, `subquery`, unless `needs_alias`: its names must be qualified).
    fn derived(
        &self,
        t: sq::TableFactor,
        needs_alias: bool,
    ) -> Result<(Name, Box<Select>), QueryError> {
        let at = self.parenthesised(span_of(t.span()));
        let sq::TableFactor::Derived {
            lateral,
            subquery,
            alias,
        } = t
        else {
            return Err(
                unsupported("this kind of FROM item (name an array, a CTE or a subquery)").at(at),
            );
        };
        if lateral {
            return Err(unsupported("LATERAL").at(self.keyword("LATERAL")));
        }
        let name =
            match alias {
                Some(a) => {
                    if let Some(col) = a.columns.first() {
                        return Err(unsupported(
                        "column names after a subquery's alias (name them with AS in its SELECT)",
                    )
                    .at(span_of(col.name.span)));
                    }
                    Name {
                        value: a.name.value,
                        span: span_of(a.name.span),
                    }
                }
                None if needs_alias => return Err(QueryError::plan(
                    "a subquery in a join needs an alias to qualify its names: (SELECT ...) AS c",
                )
                .at(at)),
                None => Name {
                    value: "subquery".into(),
                    span: at,
                },
            };
        let query = self.query(*subquery, AsOfSpec::Latest, Span::default())?;
        Ok((name, Box::new(query)))
    }
}

/// One option of `FROM name WITH (...)`: only `layout = 'name'` (or a bare name).
fn table_option(h: &sq::Expr) -> Result<Name, QueryError> {
    let bad = || {
        QueryError::plan(format!(
            "unsupported array option {h}: the only one is WITH (layout = 'name')"
        ))
    };
    let sq::Expr::BinaryOp { left, op, right } = h else {
        return Err(bad());
    };
    let key = match left.as_ref() {
        sq::Expr::Identifier(i) => i.value.to_ascii_lowercase(),
        _ => return Err(bad()),
    };
    if key != "layout" || *op != sq::BinaryOperator::Eq {
        return Err(bad());
    }
    let span = span_of(right.span());
    match right.as_ref() {
        sq::Expr::Identifier(i) => Ok(Name {
            value: i.value.clone(),
            span,
        }),
        sq::Expr::Value(v) => match &v.value {
            sq::Value::SingleQuotedString(s) => Ok(Name {
                value: s.clone(),
                span,
            }),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}
