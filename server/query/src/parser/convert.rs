//! sqlparser's query AST into arrayq's, spans restored from the statement's tokens.

use super::from_clause::FromClause;
use super::spans::is_kw_at;
use super::*;

/// Turns sqlparser's query AST into arrayq's, with the span of every expression.
/// sqlparser's spans leave out parentheses, operators and keywords around their
/// operands (`(a + b)`, `-x`, `CAST(x AS INT)`, `f(x)` ends at `x`); the tokens of
/// the statement give them back.
pub(super) struct Converter {
    /// Non-whitespace tokens, in text order.
    pub(super) toks: Vec<TokenWithSpan>,
    /// `GROUP BY key AS name` names, taken out of the tokens before parsing.
    pub(super) group_names: super::group_names::GroupNames,
}

impl Converter {
    pub(super) fn query(
        &self,
        q: sq::Query,
        as_of: AsOfSpec,
        as_of_span: Span,
    ) -> Result<Select, QueryError> {
        let ctes = match q.with {
            Some(w) => self.ctes(w)?,
            None => Vec::new(),
        };
        let order = self.order_spec(q.order_by, q.limit_clause)?;
        if q.fetch.is_some() {
            return Err(unsupported("FETCH (use LIMIT n)").at(self.keyword("FETCH")));
        }
        let sq::SetExpr::Select(s) = *q.body else {
            let at = ["UNION", "EXCEPT", "INTERSECT", "VALUES"]
                .iter()
                .map(|k| self.keyword(k))
                .find(Span::is_known)
                .unwrap_or_default();
            return Err(unsupported("set operations and VALUES").at(at));
        };
        let s = *s;
        if s.distinct.is_some() {
            return Err(unsupported("DISTINCT").at(self.keyword("DISTINCT")));
        }
        if s.into.is_some() || s.top.is_some() || s.qualify.is_some() || s.prewhere.is_some() {
            let at = ["INTO", "TOP", "QUALIFY", "PREWHERE"]
                .iter()
                .map(|k| self.keyword(k))
                .find(Span::is_known)
                .unwrap_or_default();
            return Err(unsupported("this SELECT clause").at(at));
        }
        let select_at = s.select_token.0.span.start;
        let FromClause {
            from,
            from_query,
            layout,
            reproject,
            join,
        } = self.relations(s.from, span_of(s.select_token.0.span))?;
        let mut items = Vec::new();
        for it in s.projection {
            let at = span_of(it.span());
            items.push(match it {
                sq::SelectItem::Wildcard(w) => {
                    SelectItem::Wildcard(span_of(w.wildcard_token.0.span))
                }
                sq::SelectItem::UnnamedExpr(e) => SelectItem::Expr {
                    expr: self.expr(e)?,
                    alias: None,
                },
                sq::SelectItem::ExprWithAlias { expr, alias } => SelectItem::Expr {
                    expr: self.expr(expr)?,
                    alias: Some(alias.value),
                },
                sq::SelectItem::QualifiedWildcard(..) => {
                    return Err(unsupported("qualified wildcards").at(at))
                }
            });
        }
        let filter = s.selection.map(|e| self.expr(e)).transpose()?;
        let group_by = match s.group_by {
            sq::GroupByExpr::Expressions(exprs, mods) => {
                if !mods.is_empty() {
                    return Err(unsupported("GROUP BY modifiers").at(self.keyword("GROUP")));
                }
                exprs
                    .into_iter()
                    .map(|e| self.expr(e))
                    .collect::<Result<Vec<_>, _>>()?
            }
            sq::GroupByExpr::All(_) => {
                return Err(unsupported("GROUP BY ALL").at(self.keyword("GROUP")))
            }
        };
        let having = s.having.map(|e| self.expr(e)).transpose()?;
        let group_names = self.group_names_of(select_at, group_by.len());
        Ok(Select {
            items,
            ctes,
            from,
            from_query,
            group_names,
            as_of,
            as_of_span,
            filter,
            group_by,
            layout,
            reproject,
            having,
            order,
            join,
        })
    }

    /// The `GROUP BY key AS name` names of the SELECT starting at `select_at`, one
    /// per key (`n` of them).
    fn group_names_of(&self, select_at: Location, n: usize) -> Vec<Option<Name>> {
        let mut out = vec![None; n];
        let mut depth = 0usize;
        for t in &self.toks[self.first_from(select_at)..] {
            match &t.token {
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => break,
                Token::RParen => depth -= 1,
                tok if depth == 0 && is_kw(tok, "GROUP") => {
                    let at = (t.span.start.line, t.span.start.column);
                    for (k, name) in self.group_names.get(&at).into_iter().flatten() {
                        if let Some(slot) = out.get_mut(*k) {
                            *slot = Some(name.clone());
                        }
                    }
                    break;
                }
                _ => {}
            }
        }
        out
    }

    pub(super) fn expr(&self, e: sq::Expr) -> Result<Expr, QueryError> {
        use sq::Expr as E;
        use ExprKind as K;
        let raw = span_of(e.span());
        let b = |e: sq::Expr| self.expr(e).map(Box::new);
        let (kind, span) = match e {
            E::Identifier(i) => (K::Ident(i.value), span_of(i.span)),
            E::CompoundIdentifier(parts) => {
                // array.attr or alias.attr: the planner resolves the qualifier.
                let name = parts
                    .iter()
                    .map(|p| p.value.as_str())
                    .collect::<Vec<_>>()
                    .join(".");
                (K::Ident(name), raw)
            }
            E::Value(v) => {
                let kind = match v.value {
                    sq::Value::Number(s, _) => {
                        let value: f64 = s.parse().map_err(|_| {
                            QueryError::type_error(format!("malformed number '{s}'")).at(raw)
                        })?;
                        let int = !s.contains(['.', 'e', 'E']);
                        K::Number {
                            value,
                            int,
                            text: s,
                        }
                    }
                    sq::Value::SingleQuotedString(s) => K::Str(s),
                    sq::Value::Boolean(b) => K::Bool(b),
                    sq::Value::Null => {
                        return Err(unsupported("NULL (arrays use NaN for missing values)").at(raw))
                    }
                    other => return Err(unsupported(&format!("the literal {other}")).at(raw)),
                };
                (kind, raw)
            }
            E::TypedString { value, .. } => {
                let kind = match value.value {
                    sq::Value::SingleQuotedString(s) => K::Str(s),
                    other => K::Str(other.to_string()),
                };
                (kind, raw)
            }
            E::Nested(e) => {
                let inner = self.expr(*e)?;
                let span = self.parenthesised(inner.span);
                (inner.kind, span)
            }
            E::UnaryOp { op, expr } => match op {
                sq::UnaryOperator::Minus => {
                    let x = self.expr(*expr)?;
                    let span = self.prefixed(x.span, &[], Some(&Token::Minus));
                    let kind = match x.kind {
                        K::Number { value, int, text } => K::Number {
                            value: -value,
                            int,
                            text: format!("-{text}"),
                        },
                        other => K::Unary {
                            op: UnOp::Neg,
                            expr: Box::new(Expr::new(other, x.span)),
                        },
                    };
                    (kind, span)
                }
                sq::UnaryOperator::Plus => {
                    let x = self.expr(*expr)?;
                    let span = self.prefixed(x.span, &[], Some(&Token::Plus));
                    (x.kind, span)
                }
                sq::UnaryOperator::Not => {
                    let x = b(*expr)?;
                    let span = self.prefixed(x.span, &["NOT"], Some(&Token::ExclamationMark));
                    (
                        K::Unary {
                            op: UnOp::Not,
                            expr: x,
                        },
                        span,
                    )
                }
                other => return Err(unsupported(&format!("the operator {other}")).at(raw)),
            },
            E::BinaryOp { left, op, right } => {
                use sq::BinaryOperator as O;
                let op = match op {
                    O::Plus => BinOp::Add,
                    O::Minus => BinOp::Sub,
                    O::Multiply => BinOp::Mul,
                    O::Divide => BinOp::Div,
                    O::Modulo => BinOp::Mod,
                    O::Eq => BinOp::Eq,
                    O::NotEq => BinOp::NotEq,
                    O::Lt => BinOp::Lt,
                    O::LtEq => BinOp::LtEq,
                    O::Gt => BinOp::Gt,
                    O::GtEq => BinOp::GtEq,
                    O::And => BinOp::And,
                    O::Or => BinOp::Or,
                    other => return Err(unsupported(&format!("the operator {other}")).at(raw)),
                };
                let (left, right) = (b(*left)?, b(*right)?);
                let span = left.span.union(right.span);
                (K::Binary { op, left, right }, span)
            }
            E::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let (expr, low, high) = (b(*expr)?, b(*low)?, b(*high)?);
                let span = expr.span.union(high.span);
                (
                    K::Between {
                        expr,
                        low,
                        high,
                        negated,
                    },
                    span,
                )
            }
            E::InList {
                expr,
                list,
                negated,
            } => {
                let expr = b(*expr)?;
                let list: Vec<Expr> = list
                    .into_iter()
                    .map(|e| self.expr(e))
                    .collect::<Result<_, _>>()?;
                let last = list.last().map(|e| e.span).unwrap_or(expr.span);
                let span = self.closed(expr.span.union(last));
                (
                    K::InList {
                        expr,
                        list,
                        negated,
                    },
                    span,
                )
            }
            E::Function(f) => self.function(f)?,
            E::Floor { expr, .. } => {
                let x = self.expr(*expr)?;
                let span = self.prefixed(x.span, &["FLOOR"], None);
                let kind = K::Func {
                    name: "floor".into(),
                    args: vec![x],
                    star: false,
                };
                (kind, span)
            }
            E::Extract { field, expr, .. } => self.extract(field, *expr)?,
            E::Ceil { expr, .. } => {
                let x = self.expr(*expr)?;
                let span = self.prefixed(x.span, &["CEIL", "CEILING"], None);
                let kind = K::Func {
                    name: "ceil".into(),
                    args: vec![x],
                    star: false,
                };
                (kind, span)
            }
            E::Case {
                case_token,
                end_token,
                operand,
                conditions,
                else_result,
            } => {
                let span = span_of(case_token.0.span).union(span_of(end_token.0.span));
                let kind = K::Case {
                    operand: operand.map(|o| b(*o)).transpose()?,
                    whens: conditions
                        .into_iter()
                        .map(|w| Ok((self.expr(w.condition)?, self.expr(w.result)?)))
                        .collect::<Result<_, QueryError>>()?,
                    otherwise: else_result.map(|o| b(*o)).transpose()?,
                };
                (kind, span)
            }
            E::Cast {
                expr,
                data_type,
                format,
                ..
            } => {
                let x = b(*expr)?;
                let span = self.prefixed(x.span, &["CAST", "TRY_CAST", "SAFE_CAST"], None);
                if format.is_some() {
                    return Err(unsupported("CAST ... FORMAT").at(span));
                }
                let name = data_type.to_string();
                let dtype = dtype_of(&name).ok_or_else(|| {
                    QueryError::type_error(format!(
                        "cannot cast to {name}: not an array element type"
                    ))
                    .at(span)
                })?;
                (K::Cast { expr: x, dtype }, span)
            }
            E::IsNull(_) | E::IsNotNull(_) => {
                return Err(
                    unsupported("IS NULL (use isnan(x) for missing float values)")
                        .at(self.closed_null(raw)),
                )
            }
            other => return Err(unsupported(&format!("the expression '{other}'")).at(raw)),
        };
        Ok(Expr::new(kind, span))
    }

    /// `x IS [NOT] NULL`: sqlparser's span covers `x` only.
    fn closed_null(&self, x: Span) -> Span {
        if !x.is_known() {
            return x;
        }
        let i = self.first_from(Location::new(x.end_line, x.end_column));
        let end = self.toks[i.min(self.toks.len())..]
            .iter()
            .take(3)
            .find(|t| is_kw(&t.token, "NULL"));
        match end {
            Some(t) => x.union(span_of(t.span)),
            None => x,
        }
    }

    /// `extract(field FROM x)` as the call `extract('field', x)`; the field keeps
    /// the position of its word (errors about it point there).
    fn extract(
        &self,
        field: sq::DateTimeField,
        x: sq::Expr,
    ) -> Result<(ExprKind, Span), QueryError> {
        let x = self.expr(x)?;
        let mut span = x.span;
        let mut field_span = Span::default();
        if x.span.is_known() {
            let i = self.first_from(Location::new(x.span.line, x.span.column));
            let call = (0..i).rev().find(|&k| {
                is_kw(&self.toks[k].token, "EXTRACT") && self.tok(k + 1) == Some(&Token::LParen)
            });
            if let Some(k) = call {
                if let Some(c) = self.closing(k + 1) {
                    span = span_of(self.toks[k].span).union(span_of(self.toks[c].span));
                    field_span = self
                        .toks
                        .get(k + 2)
                        .map(|t| span_of(t.span))
                        .unwrap_or_default();
                }
            }
        }
        let name = match &field {
            sq::DateTimeField::Custom(i) => i.value.clone(),
            other => other.to_string(),
        };
        let field = Expr::new(ExprKind::Str(name.to_ascii_lowercase()), field_span);
        let kind = ExprKind::Func {
            name: "extract".into(),
            args: vec![field, x],
            star: false,
        };
        Ok((kind, span))
    }

    /// `percentile_cont(q) WITHIN GROUP (ORDER BY x)` as the call
    /// `percentile_cont(x, q)` (the argument order of `quantile(x, q)`); its span
    /// covers the WITHIN GROUP clause.
    fn within_group(
        &self,
        name: &str,
        span: Span,
        order: Vec<sq::OrderByExpr>,
        mut args: Vec<Expr>,
    ) -> Result<(ExprKind, Span), QueryError> {
        let mut span = span;
        let end = self.first_from(Location::new(span.end_line, span.end_column));
        if is_kw_at(self, end, "WITHIN") && is_kw_at(self, end + 1, "GROUP") {
            if let Some(c) = self.closing(end + 2) {
                span = span.union(span_of(self.toks[c].span));
            }
        }
        if name != "percentile_cont" {
            return Err(
                unsupported(&format!("WITHIN GROUP in {name}() (only percentile_cont)")).at(span),
            );
        }
        let [o] = <[sq::OrderByExpr; 1]>::try_from(order).map_err(|_| {
            QueryError::plan(
                "percentile_cont(q) WITHIN GROUP (ORDER BY x) orders by one expression",
            )
            .at(span)
        })?;
        if o.options.asc == Some(false) {
            return Err(unsupported(
                "ORDER BY ... DESC in WITHIN GROUP (use percentile_cont(1 - q))",
            )
            .at(span));
        }
        if args.len() != 1 {
            return Err(QueryError::plan(format!(
                "percentile_cont(q) takes one argument, the fraction q, got {}",
                args.len()
            ))
            .at(span));
        }
        let x = self.expr(o.expr)?;
        args.insert(0, x);
        Ok((
            ExprKind::Func {
                name: name.into(),
                args,
                star: false,
            },
            span,
        ))
    }

    fn function(&self, f: sq::Function) -> Result<(ExprKind, Span), QueryError> {
        let name = object_name(&f.name).to_ascii_lowercase();
        let span = self.with_args(span_of(f.name.span()));
        let over = f.over;
        if f.filter.is_some() {
            return Err(unsupported("FILTER in aggregates").at(self.keyword("FILTER")));
        }
        let mut args = Vec::new();
        let mut star = false;
        match f.args {
            sq::FunctionArguments::None => {}
            sq::FunctionArguments::Subquery(_) => return Err(unsupported("subqueries").at(span)),
            sq::FunctionArguments::List(l) => {
                if l.duplicate_treatment.is_some() || !l.clauses.is_empty() {
                    return Err(unsupported(&format!("DISTINCT/clauses in {name}()")).at(span));
                }
                for a in l.args {
                    match a {
                        sq::FunctionArg::Unnamed(sq::FunctionArgExpr::Expr(e)) => {
                            args.push(self.expr(e)?)
                        }
                        sq::FunctionArg::Unnamed(sq::FunctionArgExpr::Wildcard) => star = true,
                        _ => {
                            return Err(unsupported(&format!(
                                "named or qualified arguments in {name}()"
                            ))
                            .at(span))
                        }
                    }
                }
            }
        }
        if !f.within_group.is_empty() {
            return self.within_group(&name, span, f.within_group, args);
        }
        if name == "percentile_cont" {
            return Err(QueryError::plan(
                "percentile_cont(q) needs WITHIN GROUP (ORDER BY x); or write quantile(x, q)",
            )
            .at(span));
        }
        let func = ExprKind::Func { name, args, star };
        match over {
            Some(w) => self.window(Expr::new(func, span), w),
            None => Ok((func, span)),
        }
    }
}

pub(super) fn object_name(n: &sq::ObjectName) -> String {
    n.0.iter()
        .map(|p| match p.as_ident() {
            Some(i) => i.value.clone(),
            None => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Maps an SQL type name (a type modifier such as `(24)` ignored) to a dtype, with
/// the one name mapping (`int8` is i64, `int1` / `tinyint` i8).
pub(crate) fn dtype_of(name: &str) -> Option<DType> {
    DType::from_name(name.split('(').next().unwrap_or(""))
}
