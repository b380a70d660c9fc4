//! The parser: sqlparser's tokenizer for everything, sqlparser's parser (with a
//! custom dialect) for queries, and a small hand-written parser for array DDL, which
//! SQL has no words for. Every syntax error carries a 1-based line:column.

use crate::ast::*;
use crate::error::QueryError;
use arrayq_storage::DType;
use sqlparser::ast as sq;
use sqlparser::dialect::Dialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

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
        let name = c.ident("an array name")?;
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
/// from the tokens (sqlparser knows none of them for a plain dialect).
fn extract_as_of(toks: &mut Vec<TokenWithSpan>) -> Result<AsOfSpec, QueryError> {
    let mut found: Option<AsOfSpec> = None;
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
        found = Some(spec);
        toks.drain(i..=j);
    }
    Ok(found.unwrap_or(AsOfSpec::Latest))
}

fn parse_select(sql: &str, mut toks: Vec<TokenWithSpan>) -> Result<Select, QueryError> {
    let as_of = extract_as_of(&mut toks)?;
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
        return Err(QueryError::Plan(
            "only SELECT queries are supported here".into(),
        ));
    };
    convert_query(*q, as_of)
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
    QueryError::Plan(format!("{what} is not supported by arrayq"))
}

fn convert_query(q: sq::Query, as_of: AsOfSpec) -> Result<Select, QueryError> {
    if q.with.is_some() {
        return Err(unsupported("WITH"));
    }
    if q.order_by.is_some() {
        return Err(unsupported(
            "ORDER BY (results are ordered by their coordinates)",
        ));
    }
    if q.limit_clause.is_some() || q.fetch.is_some() {
        return Err(unsupported(
            "LIMIT (select a smaller region with WHERE instead)",
        ));
    }
    let sq::SetExpr::Select(s) = *q.body else {
        return Err(unsupported("set operations and VALUES"));
    };
    let s = *s;
    if s.distinct.is_some() {
        return Err(unsupported("DISTINCT"));
    }
    if s.having.is_some() {
        return Err(unsupported("HAVING"));
    }
    if s.into.is_some() || s.top.is_some() || s.qualify.is_some() || s.prewhere.is_some() {
        return Err(unsupported("this SELECT clause"));
    }
    if s.from.len() != 1 {
        return Err(QueryError::Plan(
            "a query reads exactly one array: SELECT ... FROM name".into(),
        ));
    }
    let twj = s.from.into_iter().next().unwrap();
    if !twj.joins.is_empty() {
        return Err(unsupported("JOIN"));
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
                let name = table_option(&h)?;
                if layout.replace(name).is_some() {
                    return Err(QueryError::Plan("WITH (layout = ...) given twice".into()));
                }
            }
            if args.is_some() {
                return Err(unsupported("table functions"));
            }
            if version.is_some() {
                return Err(unsupported(
                    "this time-travel syntax (use AS OF VERSION n or AS OF TIMESTAMP '...')",
                ));
            }
            if alias.is_some() {
                return Err(unsupported("array aliases"));
            }
            object_name(&name)
        }
        _ => return Err(unsupported("subqueries and derived tables")),
    };
    let mut items = Vec::new();
    for it in s.projection {
        items.push(match it {
            sq::SelectItem::Wildcard(_) => SelectItem::Wildcard,
            sq::SelectItem::UnnamedExpr(e) => SelectItem::Expr {
                expr: convert_expr(e)?,
                alias: None,
            },
            sq::SelectItem::ExprWithAlias { expr, alias } => SelectItem::Expr {
                expr: convert_expr(expr)?,
                alias: Some(alias.value),
            },
            sq::SelectItem::QualifiedWildcard(..) => {
                return Err(unsupported("qualified wildcards"))
            }
        });
    }
    let filter = s.selection.map(convert_expr).transpose()?;
    let group_by = match s.group_by {
        sq::GroupByExpr::Expressions(exprs, mods) => {
            if !mods.is_empty() {
                return Err(unsupported("GROUP BY modifiers"));
            }
            exprs
                .into_iter()
                .map(convert_expr)
                .collect::<Result<_, _>>()?
        }
        sq::GroupByExpr::All(_) => return Err(unsupported("GROUP BY ALL")),
    };
    Ok(Select {
        items,
        from,
        as_of,
        filter,
        group_by,
        layout,
    })
}

/// One option of `FROM name WITH (...)`: only `layout = 'name'` (or a bare name).
fn table_option(h: &sq::Expr) -> Result<String, QueryError> {
    let bad = || {
        QueryError::Plan(format!(
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
    match right.as_ref() {
        sq::Expr::Identifier(i) => Ok(i.value.clone()),
        sq::Expr::Value(v) => match &v.value {
            sq::Value::SingleQuotedString(s) => Ok(s.clone()),
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

/// Maps an SQL type name to a dtype.
pub(crate) fn dtype_of(name: &str) -> Option<DType> {
    let n = name.to_ascii_lowercase();
    let n = n.split('(').next().unwrap_or("").trim().to_string();
    match n.as_str() {
        "double precision" | "float8" | "double" => Some(DType::F64),
        "float4" | "real" | "float" => Some(DType::F32),
        "int2" => Some(DType::I16),
        "int4" => Some(DType::I32),
        "int8" => Some(DType::I64),
        "bool" | "boolean" => Some(DType::Bool),
        other => DType::parse(other),
    }
}

fn convert_expr(e: sq::Expr) -> Result<Expr, QueryError> {
    use sq::Expr as E;
    let b = |e: sq::Expr| convert_expr(e).map(Box::new);
    Ok(match e {
        E::Identifier(i) => Expr::Ident(i.value),
        E::CompoundIdentifier(parts) => {
            // array.attr: keep the last part (one array per query).
            Expr::Ident(parts.last().map(|p| p.value.clone()).unwrap_or_default())
        }
        E::Value(v) => match v.value {
            sq::Value::Number(s, _) => {
                let value: f64 = s
                    .parse()
                    .map_err(|_| QueryError::Type(format!("malformed number '{s}'")))?;
                let int = !s.contains(['.', 'e', 'E']);
                Expr::Number {
                    value,
                    int,
                    text: s,
                }
            }
            sq::Value::SingleQuotedString(s) => Expr::Str(s),
            sq::Value::Boolean(b) => Expr::Bool(b),
            sq::Value::Null => return Err(unsupported("NULL (arrays use NaN for missing values)")),
            other => return Err(unsupported(&format!("the literal {other}"))),
        },
        E::TypedString { value, .. } => match value.value {
            sq::Value::SingleQuotedString(s) => Expr::Str(s),
            other => Expr::Str(other.to_string()),
        },
        E::Nested(e) => convert_expr(*e)?,
        E::UnaryOp { op, expr } => match op {
            sq::UnaryOperator::Minus => match convert_expr(*expr)? {
                Expr::Number { value, int, text } => Expr::Number {
                    value: -value,
                    int,
                    text: format!("-{text}"),
                },
                other => Expr::Unary {
                    op: UnOp::Neg,
                    expr: Box::new(other),
                },
            },
            sq::UnaryOperator::Plus => convert_expr(*expr)?,
            sq::UnaryOperator::Not => Expr::Unary {
                op: UnOp::Not,
                expr: b(*expr)?,
            },
            other => return Err(unsupported(&format!("the operator {other}"))),
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
                other => return Err(unsupported(&format!("the operator {other}"))),
            };
            Expr::Binary {
                op,
                left: b(*left)?,
                right: b(*right)?,
            }
        }
        E::Between {
            expr,
            negated,
            low,
            high,
        } => Expr::Between {
            expr: b(*expr)?,
            low: b(*low)?,
            high: b(*high)?,
            negated,
        },
        E::InList {
            expr,
            list,
            negated,
        } => Expr::InList {
            expr: b(*expr)?,
            list: list
                .into_iter()
                .map(convert_expr)
                .collect::<Result<_, _>>()?,
            negated,
        },
        E::Function(f) => convert_function(f)?,
        E::Floor { expr, .. } => Expr::Func {
            name: "floor".into(),
            args: vec![convert_expr(*expr)?],
            star: false,
        },
        E::Ceil { expr, .. } => Expr::Func {
            name: "ceil".into(),
            args: vec![convert_expr(*expr)?],
            star: false,
        },
        E::Case {
            operand,
            conditions,
            else_result,
            ..
        } => Expr::Case {
            operand: operand.map(|o| b(*o)).transpose()?,
            whens: conditions
                .into_iter()
                .map(|w| Ok((convert_expr(w.condition)?, convert_expr(w.result)?)))
                .collect::<Result<_, QueryError>>()?,
            otherwise: else_result.map(|o| b(*o)).transpose()?,
        },
        E::Cast {
            expr,
            data_type,
            format,
            ..
        } => {
            if format.is_some() {
                return Err(unsupported("CAST ... FORMAT"));
            }
            let name = data_type.to_string();
            let dtype = dtype_of(&name).ok_or_else(|| {
                QueryError::Type(format!("cannot cast to {name}: not an array element type"))
            })?;
            Expr::Cast {
                expr: b(*expr)?,
                dtype,
            }
        }
        E::IsNull(_) | E::IsNotNull(_) => {
            return Err(unsupported(
                "IS NULL (use isnan(x) for missing float values)",
            ))
        }
        other => return Err(unsupported(&format!("the expression '{other}'"))),
    })
}

fn convert_function(f: sq::Function) -> Result<Expr, QueryError> {
    let name = object_name(&f.name).to_ascii_lowercase();
    if f.over.is_some() {
        return Err(unsupported("window functions"));
    }
    if f.filter.is_some() {
        return Err(unsupported("FILTER in aggregates"));
    }
    let mut args = Vec::new();
    let mut star = false;
    match f.args {
        sq::FunctionArguments::None => {}
        sq::FunctionArguments::Subquery(_) => return Err(unsupported("subqueries")),
        sq::FunctionArguments::List(l) => {
            if l.duplicate_treatment.is_some() || !l.clauses.is_empty() {
                return Err(unsupported(&format!("DISTINCT/clauses in {name}()")));
            }
            for a in l.args {
                match a {
                    sq::FunctionArg::Unnamed(sq::FunctionArgExpr::Expr(e)) => {
                        args.push(convert_expr(e)?)
                    }
                    sq::FunctionArg::Unnamed(sq::FunctionArgExpr::Wildcard) => star = true,
                    _ => {
                        return Err(unsupported(&format!(
                            "named or qualified arguments in {name}()"
                        )))
                    }
                }
            }
        }
    }
    let _ = Keyword::NoKeyword;
    Ok(Expr::Func { name, args, star })
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
        assert_eq!(s.from, "power");
        assert_eq!(s.as_of, AsOfSpec::Version(2));
        assert_eq!(s.group_by, vec![Expr::Ident("time".into())]);
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
        assert_eq!(s.layout.as_deref(), Some("maps"));
        let s = sel("SELECT t2m FROM era5 AS OF VERSION 2 WITH (layout = pencils)");
        assert_eq!(s.layout.as_deref(), Some("pencils"));
        assert!(parse("SELECT t2m FROM era5 WITH (nolock)").is_err());
        assert!(parse("SELECT t2m FROM era5 WITH (layout = 'a', layout = 'b')").is_err());
    }

    #[test]
    fn negative_literals_and_cast() {
        let s = sel("SELECT CAST(t2m AS DOUBLE) FROM era5 WHERE lon > -5");
        let Some(Expr::Binary { right, .. }) = s.filter else {
            panic!()
        };
        assert!(matches!(*right, Expr::Number { value, .. } if value == -5.0));
    }
}
