//! The parser: sqlparser's tokenizer for everything, sqlparser's parser (with a
//! custom dialect) for queries, and a small hand-written parser for array DDL, which
//! SQL has no words for. Every syntax error carries a 1-based line:column.

use crate::ast::*;
use crate::error::{QueryError, Span};
use arrayq_storage::DType;
use sqlparser::ast as sq;
use sqlparser::ast::Spanned;
use sqlparser::dialect::Dialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Span as SqSpan, Token, TokenWithSpan, Tokenizer};

/// The SQL dialect of arrayq: plain identifiers, `"quoted"` identifiers,
/// `'string'` literals. No array syntax of its own: array DDL is parsed by arrayq.
#[derive(Debug, Default, Clone, Copy)]
pub struct ArrayqDialect;

impl Dialect for ArrayqDialect {
    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_ascii_alphabetic() || ch == '_'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_ascii_alphanumeric() || ch == '_'
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '"'
    }
}

const DIALECT: ArrayqDialect = ArrayqDialect;

/// Parses one statement (a trailing `;` is allowed).
pub fn parse(sql: &str) -> Result<Statement, QueryError> {
    let all = tokenize(sql)?;
    let mut toks: Vec<TokenWithSpan> = all
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    // Trailing semicolons.
    while matches!(toks.last().map(|t| &t.token), Some(Token::SemiColon)) {
        toks.pop();
    }
    if toks.is_empty() {
        let (line, column) = end_location(sql);
        return Err(QueryError::parse_at("empty statement", line, column, None));
    }
    if let Some(t) = toks.iter().find(|t| t.token == Token::SemiColon) {
        return Err(err_at(t, "only one statement at a time is supported"));
    }
    let mut c = Cursor {
        toks: &toks,
        pos: 0,
        sql,
    };
    if c.peek_kw("CREATE") {
        return crate::ddl::parse_create(&mut c);
    }
    if c.peek_kw("ALTER") {
        return crate::ddl::parse_alter(&mut c);
    }
    if c.peek_kw("DROP") {
        return crate::ddl::parse_drop(&mut c);
    }
    if c.peek_kw("SHOW") {
        c.next();
        c.expect_kw("ARRAYS")?;
        c.expect_end()?;
        return Ok(Statement::ShowArrays);
    }
    if c.peek_kw("DESCRIBE") || c.peek_kw("DESC") {
        c.next();
        if c.peek_kw("ARRAY") {
            c.next();
        }
        let name = c.name("an array name")?;
        c.expect_end()?;
        return Ok(Statement::Describe(name));
    }
    let mut explain = None;
    if c.peek_kw("EXPLAIN") {
        c.next();
        let analyze = c.peek_kw("ANALYZE") || c.peek_kw("ANALYSE");
        if analyze {
            c.next();
        }
        explain = Some(analyze);
    }
    if !c.peek_kw("SELECT") {
        // `EXPLAIN` alone ends here: the cursor's current token is a synthetic EOF.
        let t = c.cur();
        return Err(err_at(
            &t,
            "expected SELECT, EXPLAIN, CREATE ARRAY, ALTER ARRAY, DROP ARRAY, SHOW ARRAYS or DESCRIBE",
        ));
    }
    let rest = toks[c.pos..].to_vec();
    let select = parse_select(sql, rest)?;
    Ok(match explain {
        Some(analyze) => Statement::Explain {
            analyze,
            query: Box::new(select),
        },
        None => Statement::Select(Box::new(select)),
    })
}

pub(crate) fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>, QueryError> {
    Tokenizer::new(&DIALECT, sql)
        .tokenize_with_location()
        .map_err(|e| {
            QueryError::parse_at(
                strip_location(&e.message),
                e.location.line.max(1),
                e.location.column.max(1),
                None,
            )
        })
}

fn end_location(sql: &str) -> (u64, u64) {
    let line = sql.lines().count().max(1) as u64;
    let col = sql.lines().last().map(|l| l.chars().count()).unwrap_or(0) as u64 + 1;
    (line, col)
}

pub(crate) fn token_text(t: &Token) -> String {
    t.to_string()
}

pub(crate) fn err_at(t: &TokenWithSpan, msg: impl Into<String>) -> QueryError {
    let Location { line, column } = t.span.start;
    let tok = match &t.token {
        Token::EOF => None,
        other => Some(token_text(other)),
    };
    let mut m = msg.into();
    if let Some(tk) = &tok {
        m.push_str(&format!(", found '{tk}'"));
    } else {
        m.push_str(", found end of input");
    }
    QueryError::parse_at(m, line, column, tok)
}

fn strip_location(m: &str) -> String {
    match m.find(" at Line: ") {
        Some(i) => m[..i].to_string(),
        None => m.to_string(),
    }
}

/// A cursor over non-whitespace tokens (for DDL and clause pre-processing).
pub(crate) struct Cursor<'a> {
    pub toks: &'a [TokenWithSpan],
    pub pos: usize,
    pub sql: &'a str,
}

impl Cursor<'_> {
    pub fn peek_tok(&self) -> Option<&TokenWithSpan> {
        self.toks.get(self.pos)
    }

    /// The current token, or a synthetic EOF at the end of the input.
    pub fn cur(&self) -> TokenWithSpan {
        match self.toks.get(self.pos) {
            Some(t) => t.clone(),
            None => {
                let (line, column) = end_location(self.sql);
                let loc = Location { line, column };
                TokenWithSpan::at(Token::EOF, loc, loc)
            }
        }
    }

    pub fn next(&mut self) -> TokenWithSpan {
        let t = self.cur();
        self.pos += 1;
        t
    }

    pub fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.peek_tok().map(|t| &t.token), Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
    }

    pub fn expect_kw(&mut self, kw: &str) -> Result<(), QueryError> {
        if self.peek_kw(kw) {
            self.pos += 1;
            Ok(())
        } else {
            Err(err_at(&self.cur(), format!("expected {kw}")))
        }
    }

    pub fn peek(&self, t: &Token) -> bool {
        self.peek_tok().map(|x| &x.token) == Some(t)
    }

    pub fn eat(&mut self, t: &Token) -> bool {
        if self.peek(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, t: &Token) -> Result<(), QueryError> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(err_at(&self.cur(), format!("expected '{t}'")))
        }
    }

    pub fn expect_end(&self) -> Result<(), QueryError> {
        match self.peek_tok() {
            None => Ok(()),
            Some(t) => Err(err_at(t, "expected end of statement")),
        }
    }

    /// An identifier and where it is.
    pub fn name(&mut self, what: &str) -> Result<Name, QueryError> {
        let span = span_of(self.cur().span);
        Ok(Name {
            value: self.ident(what)?,
            span,
        })
    }

    pub fn ident(&mut self, what: &str) -> Result<String, QueryError> {
        match self.peek_tok().map(|t| &t.token) {
            Some(Token::Word(w)) => {
                let v = w.value.clone();
                self.pos += 1;
                Ok(v)
            }
            _ => Err(err_at(&self.cur(), format!("expected {what}"))),
        }
    }

    /// A (possibly negative) number.
    pub fn number(&mut self, what: &str) -> Result<f64, QueryError> {
        let neg = self.eat(&Token::Minus);
        if !neg {
            self.eat(&Token::Plus);
        }
        match self.peek_tok().map(|t| &t.token) {
            Some(Token::Number(s, _)) => {
                let v: f64 = s
                    .parse()
                    .map_err(|_| err_at(&self.cur(), format!("malformed number for {what}")))?;
                self.pos += 1;
                Ok(if neg { -v } else { v })
            }
            _ => Err(err_at(&self.cur(), format!("expected a number for {what}"))),
        }
    }

    pub fn integer(&mut self, what: &str) -> Result<i64, QueryError> {
        let t = self.cur();
        let v = self.number(what)?;
        if v.fract() != 0.0 || v.abs() > 9.0e15 {
            return Err(err_at(&t, format!("expected an integer for {what}")));
        }
        Ok(v as i64)
    }

    pub fn string(&mut self, what: &str) -> Result<String, QueryError> {
        match self.peek_tok().map(|t| &t.token) {
            Some(Token::SingleQuotedString(s)) => {
                let v = s.clone();
                self.pos += 1;
                Ok(v)
            }
            _ => Err(err_at(
                &self.cur(),
                format!("expected a quoted string for {what}"),
            )),
        }
    }
}

fn is_kw(t: &Token, kw: &str) -> bool {
    matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
}

/// Removes `AS OF VERSION n`, `AS OF TIMESTAMP '...'` and `FOR SYSTEM_TIME AS OF ...`
/// from the tokens (sqlparser knows none of them for a plain dialect); returns it and
/// the span of its value.
fn extract_as_of(toks: &mut Vec<TokenWithSpan>) -> Result<(AsOfSpec, Span), QueryError> {
    let mut found: Option<(AsOfSpec, Span)> = None;
    let mut i = 0;
    while i < toks.len() {
        let sys = is_kw(&toks[i].token, "FOR")
            && toks
                .get(i + 1)
                .is_some_and(|t| is_kw(&t.token, "SYSTEM_TIME"))
            && toks.get(i + 2).is_some_and(|t| is_kw(&t.token, "AS"))
            && toks.get(i + 3).is_some_and(|t| is_kw(&t.token, "OF"));
        let plain = is_kw(&toks[i].token, "AS")
            && toks.get(i + 1).is_some_and(|t| is_kw(&t.token, "OF"))
            && toks
                .get(i + 2)
                .is_some_and(|t| is_kw(&t.token, "VERSION") || is_kw(&t.token, "TIMESTAMP"));
        if !(sys || plain) {
            i += 1;
            continue;
        }
        if found.is_some() {
            return Err(err_at(&toks[i], "AS OF given twice"));
        }
        let mut j = i + if sys { 4 } else { 2 };
        let eof = || {
            let loc = toks
                .last()
                .map(|t| t.span.end)
                .unwrap_or(Location { line: 1, column: 1 });
            TokenWithSpan::at(Token::EOF, loc, loc)
        };
        let mut kind = if sys { "TIMESTAMP" } else { "" };
        if let Some(t) = toks.get(j) {
            if is_kw(&t.token, "VERSION") {
                kind = "VERSION";
                j += 1;
            } else if is_kw(&t.token, "TIMESTAMP") {
                kind = "TIMESTAMP";
                j += 1;
            }
        }
        let val = toks.get(j).cloned().unwrap_or_else(eof);
        let spec = match (&val.token, kind) {
            (Token::Number(s, _), "VERSION") => AsOfSpec::Version(
                s.parse()
                    .map_err(|_| err_at(&val, "AS OF VERSION needs a non-negative integer"))?,
            ),
            (Token::SingleQuotedString(s), "TIMESTAMP") => AsOfSpec::Timestamp(s.clone()),
            (_, "VERSION") => {
                return Err(err_at(&val, "AS OF VERSION needs a non-negative integer"))
            }
            _ => {
                return Err(err_at(
                    &val,
                    "AS OF TIMESTAMP needs a quoted ISO-8601 timestamp",
                ))
            }
        };
        found = Some((spec, span_of(val.span)));
        toks.drain(i..=j);
    }
    Ok(found.unwrap_or((AsOfSpec::Latest, Span::default())))
}

fn parse_select(sql: &str, mut toks: Vec<TokenWithSpan>) -> Result<Select, QueryError> {
    let (as_of, as_of_span) = extract_as_of(&mut toks)?;
    let conv = Converter { toks: toks.clone() };
    let mut parser = Parser::new(&DIALECT).with_tokens_with_locations(toks);
    let stmt = parser
        .parse_statement()
        .map_err(|e| parser_error(sql, &parser, e))?;
    // Anything after the statement.
    let next = parser.peek_token();
    if next.token != Token::EOF {
        return Err(err_at(&next, "expected end of statement"));
    }
    let sq::Statement::Query(q) = stmt else {
        return Err(QueryError::plan("only SELECT queries are supported here"));
    };
    conv.query(*q, as_of, as_of_span)
}

fn parser_error(sql: &str, parser: &Parser, e: ParserError) -> QueryError {
    let msg = match e {
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
        ParserError::RecursionLimitExceeded => "expression nested too deeply".to_string(),
    };
    // sqlparser reports "... at Line: L, Column: C"; fall back to the current token.
    if let Some(i) = msg.find(" at Line: ") {
        let tail = &msg[i + " at Line: ".len()..];
        let mut it = tail.split(", Column: ");
        let line = it.next().and_then(|s| s.trim().parse::<u64>().ok());
        let col = it.next().and_then(|s| s.trim().parse::<u64>().ok());
        if let (Some(line), Some(col)) = (line, col) {
            let body = msg[..i].to_string();
            let token = body
                .rfind("found: ")
                .map(|k| body[k + 7..].trim().to_string())
                .filter(|t| t != "EOF");
            if line > 0 {
                return QueryError::parse_at(body, line, col, token);
            }
        }
    }
    let t = parser.peek_token();
    if t.token == Token::EOF || t.span.start.line == 0 {
        let (line, column) = end_location(sql);
        return QueryError::parse_at(format!("{msg} (at end of input)"), line, column, None);
    }
    QueryError::parse_at(
        msg,
        t.span.start.line,
        t.span.start.column,
        Some(token_text(&t.token)),
    )
}

fn unsupported(what: &str) -> QueryError {
    QueryError::plan(format!("{what} is not supported by arrayq"))
}

pub(crate) fn span_of(s: SqSpan) -> Span {
    Span::new(s.start.line, s.start.column, s.end.line, s.end.column)
}

fn loc(l: Location) -> (u64, u64) {
    (l.line, l.column)
}

/// Turns sqlparser's query AST into arrayq's, with the span of every expression.
/// sqlparser's spans leave out parentheses, operators and keywords around their
/// operands (`(a + b)`, `-x`, `CAST(x AS INT)`, `f(x)` ends at `x`); the tokens of
/// the statement give them back.
struct Converter {
    /// Non-whitespace tokens, in text order.
    toks: Vec<TokenWithSpan>,
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
    fn parenthesised(&self, inner: Span) -> Span {
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
    fn keyword(&self, kw: &str) -> Span {
        self.toks
            .iter()
            .find(|t| is_kw(&t.token, kw))
            .map(|t| span_of(t.span))
            .unwrap_or_default()
    }

    fn query(&self, q: sq::Query, as_of: AsOfSpec, as_of_span: Span) -> Result<Select, QueryError> {
        if let Some(w) = &q.with {
            return Err(unsupported("WITH").at(span_of(w.with_token.0.span)));
        }
        if q.order_by.is_some() {
            return Err(
                unsupported("ORDER BY (results are ordered by their coordinates)")
                    .at(self.keyword("ORDER")),
            );
        }
        if q.limit_clause.is_some() || q.fetch.is_some() {
            let at = ["LIMIT", "OFFSET", "FETCH"]
                .iter()
                .map(|k| self.keyword(k))
                .find(Span::is_known)
                .unwrap_or_default();
            return Err(unsupported("LIMIT (select a smaller region with WHERE instead)").at(at));
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
        if s.having.is_some() {
            return Err(unsupported("HAVING").at(self.keyword("HAVING")));
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
        let twj = s.from.into_iter().next().unwrap();
        if !twj.joins.is_empty() {
            return Err(unsupported("JOIN").at(self.keyword("JOIN")));
        }
        let mut layout = None;
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
                if args.is_some() {
                    return Err(unsupported("table functions").at(self.with_args(name_span)));
                }
                if version.is_some() {
                    return Err(unsupported(
                        "this time-travel syntax (use AS OF VERSION n or AS OF TIMESTAMP '...')",
                    )
                    .at(self.keyword("FOR")));
                }
                if let Some(a) = alias {
                    return Err(unsupported("array aliases").at(span_of(a.name.span)));
                }
                Name {
                    value: object_name(&name),
                    span: name_span,
                }
            }
            other => {
                return Err(unsupported("subqueries and derived tables")
                    .at(self.parenthesised(span_of(other.span()))))
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
                    .collect::<Result<_, _>>()?
            }
            sq::GroupByExpr::All(_) => {
                return Err(unsupported("GROUP BY ALL").at(self.keyword("GROUP")))
            }
        };
        Ok(Select {
            items,
            from,
            as_of,
            as_of_span,
            filter,
            group_by,
            layout,
        })
    }

    fn expr(&self, e: sq::Expr) -> Result<Expr, QueryError> {
        use sq::Expr as E;
        use ExprKind as K;
        let raw = span_of(e.span());
        let b = |e: sq::Expr| self.expr(e).map(Box::new);
        let (kind, span) = match e {
            E::Identifier(i) => (K::Ident(i.value), span_of(i.span)),
            E::CompoundIdentifier(parts) => {
                // array.attr: keep the last part (one array per query).
                let name = parts.last().map(|p| p.value.clone()).unwrap_or_default();
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

    fn function(&self, f: sq::Function) -> Result<(ExprKind, Span), QueryError> {
        let name = object_name(&f.name).to_ascii_lowercase();
        let span = self.with_args(span_of(f.name.span()));
        if f.over.is_some() {
            return Err(unsupported("window functions").at(self.keyword("OVER")));
        }
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
        Ok((ExprKind::Func { name, args, star }, span))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(sql: &str) -> Select {
        match parse(sql).unwrap() {
            Statement::Select(s) => *s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn select_with_as_of() {
        let s =
            sel("SELECT sum(value) FROM power AS OF VERSION 2 WHERE asset IN (1, 2) GROUP BY time");
        assert_eq!(s.from.value, "power");
        assert_eq!(s.as_of, AsOfSpec::Version(2));
        assert_eq!(s.group_by, vec![ExprKind::Ident("time".into()).into()]);
        let s = sel("SELECT * FROM power FOR SYSTEM_TIME AS OF '2026-01-01T00:00:00Z'");
        assert_eq!(s.as_of, AsOfSpec::Timestamp("2026-01-01T00:00:00Z".into()));
        let s = sel("SELECT * FROM power AS OF TIMESTAMP '2026-01-01T00:00:00Z';");
        assert_eq!(s.as_of, AsOfSpec::Timestamp("2026-01-01T00:00:00Z".into()));
    }

    #[test]
    fn syntax_error_position() {
        let e = parse("SELECT t2m\nFRM era5").unwrap_err();
        let (line, col) = e.position().unwrap();
        assert_eq!((line, col), (2, 5), "{e}"); // FRM parses as an alias of t2m
        let e = parse("SELECT 'abc").unwrap_err();
        assert!(e.position().is_some());
        let e = parse("SELECT a FROM").unwrap_err();
        assert!(e.position().is_some(), "{e:?}");
        // A statement that ends right after EXPLAIN is an error, not a panic.
        let e = parse("EXPLAIN ANALYZE").unwrap_err();
        assert!(e.to_string().contains("end of input"), "{e}");
    }

    #[test]
    fn forced_layout_option() {
        let s = sel("SELECT t2m FROM era5 WITH (layout = 'maps') WHERE lat = 5");
        assert_eq!(s.layout.map(|n| n.value).as_deref(), Some("maps"));
        let s = sel("SELECT t2m FROM era5 AS OF VERSION 2 WITH (layout = pencils)");
        assert_eq!(s.layout.map(|n| n.value).as_deref(), Some("pencils"));
        assert!(parse("SELECT t2m FROM era5 WITH (nolock)").is_err());
        assert!(parse("SELECT t2m FROM era5 WITH (layout = 'a', layout = 'b')").is_err());
    }

    #[test]
    fn negative_literals_and_cast() {
        let s = sel("SELECT CAST(t2m AS DOUBLE) FROM era5 WHERE lon > -5");
        let Some(ExprKind::Binary { right, .. }) = s.filter.map(|f| f.kind) else {
            panic!()
        };
        assert!(matches!(right.kind, ExprKind::Number { value, .. } if value == -5.0));
    }
}
