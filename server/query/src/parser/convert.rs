//! sqlparser's query AST into arrayq's, spans restored from the statement's tokens.

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
    /// Index of the first token starting at or after `at`.
    fn first_from(&self, at: Location) -> usize {
        self.toks.partition_point(|t| loc(t.span.start) < loc(at))
    }

    fn tok(&self, i: usize) -> Option<&Token> {
        self.toks.get(i).map(|t| &t.token)
    }

    /// The index of the `)` closing the `(` at `open`.
    fn closing(&self, open: usize) -> Option<usize> {
        let mut depth = 0usize;
        for (k, t) in self.toks.iter().enumerate().skip(open) {
            match t.token {
                Token::LParen => depth += 1,
                Token::RParen => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(k);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// `inner` widened to the parentheses right around it, if any.
    pub(super) fn parenthesised(&self, inner: Span) -> Span {
        if !inner.is_known() {
            return inner;
        }
        let i = self.first_from(Location::new(inner.line, inner.column));
        if i == 0 || self.tok(i - 1) != Some(&Token::LParen) {
            return inner;
        }
        match self.closing(i - 1) {
            Some(c) => span_of(self.toks[i - 1].span).union(span_of(self.toks[c].span)),
            None => inner,
        }
    }

    /// `inner` widened to the `WORD( ... )` call around it (`CAST(x AS INT)`,
    /// `FLOOR(x)`), or to the prefix operator token before it (`-x`, `NOT x`).
    fn prefixed(&self, inner: Span, words: &[&str], op: Option<&Token>) -> Span {
        if !inner.is_known() {
            return inner;
        }
        let i = self.first_from(Location::new(inner.line, inner.column));
        if let Some(op) = op {
            return match i.checked_sub(1).map(|k| (k, &self.toks[k])) {
                Some((_, t)) if &t.token == op || words.iter().any(|w| is_kw(&t.token, w)) => {
                    span_of(t.span).union(inner)
                }
                _ => inner,
            };
        }
        if i >= 2
            && self.tok(i - 1) == Some(&Token::LParen)
            && words.iter().any(|w| is_kw(&self.toks[i - 2].token, w))
        {
            if let Some(c) = self.closing(i - 1) {
                return span_of(self.toks[i - 2].span).union(span_of(self.toks[c].span));
            }
        }
        inner
    }

    /// `from` extended over the `( ... )` that follows it (a call's argument list).
    fn with_args(&self, from: Span) -> Span {
        if !from.is_known() {
            return from;
        }
        let i = self.first_from(Location::new(from.end_line, from.end_column));
        if self.tok(i) != Some(&Token::LParen) {
            return from;
        }
        match self.closing(i) {
            Some(c) => from.union(span_of(self.toks[c].span)),
            None => from,
        }
    }

    /// `inner` extended over the `)` right after it (`x IN (1, 2)`).
    fn closed(&self, inner: Span) -> Span {
        if !inner.is_known() {
            return inner;
        }
        let i = self.first_from(Location::new(inner.end_line, inner.end_column));
        match self.toks.get(i) {
            Some(t) if t.token == Token::RParen => inner.union(span_of(t.span)),
            _ => inner,
        }
    }

    /// The first keyword `kw` of the statement (clauses arrayq rejects).
    pub(super) fn keyword(&self, kw: &str) -> Span {
        self.toks
            .iter()
            .find(|t| is_kw(&t.token, kw))
            .map(|t| span_of(t.span))
            .unwrap_or_default()
    }

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
        if s.from.len() != 1 {
            let at = match s.from.get(1) {
                Some(t) => span_of(t.relation.span()),
                None => span_of(s.select_token.0.span),
            };
            return Err(
                QueryError::plan("a query reads exactly one array: SELECT ... FROM name").at(at),
            );
        }
        let select_at = s.select_token.0.span.start;
        let mut twj = s.from.into_iter().next().unwrap();
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
    fn ctes(&self, w: sq::With) -> Result<Vec<Cte>, QueryError> {
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

    /// `f(args) OVER (ORDER BY dim [frame])`; its span runs to the `)` of the OVER
    /// clause.
    fn window(&self, func: Expr, w: sq::WindowType) -> Result<(ExprKind, Span), QueryError> {
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

/// Whether the token at `i` is keyword `kw`.
fn is_kw_at(c: &Converter, i: usize, kw: &str) -> bool {
    c.toks.get(i).is_some_and(|t| is_kw(&t.token, kw))
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

fn object_name(n: &sq::ObjectName) -> String {
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
