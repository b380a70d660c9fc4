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

    /// `extract(fortnight FROM time)` parses, so the planner can say which fields
    /// there are (and where the wrong one is).
    fn allow_extract_custom(&self) -> bool {
        true
    }

    fn allow_extract_single_quotes(&self) -> bool {
        true
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
        return ddl::parse_create(&mut c);
    }
    if c.peek_kw("INSERT") {
        return insert::parse_insert(&mut c);
    }
    if c.peek_kw("ALTER") {
        return ddl::parse_alter(&mut c);
    }
    if c.peek_kw("DROP") {
        return ddl::parse_drop(&mut c);
    }
    if c.peek_kw("VACUUM") {
        return retention::parse_vacuum(&mut c);
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
    if !c.peek_kw("SELECT") && !c.peek_kw("WITH") {
        // `EXPLAIN` alone ends here: the cursor's current token is a synthetic EOF.
        let t = c.cur();
        return Err(err_at(
            &t,
            "expected SELECT, EXPLAIN, CREATE ARRAY, INSERT INTO, ALTER ARRAY, DROP ARRAY, SHOW ARRAYS, DESCRIBE or VACUUM",
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

/// The rest of the statement, from the cursor's `SELECT` on, as a query (of
/// `CREATE ARRAY ... AS` and `INSERT INTO ...`).
pub(crate) fn select_from(c: &mut Cursor) -> Result<Select, QueryError> {
    if !c.peek_kw("SELECT") && !c.peek_kw("WITH") {
        return Err(err_at(&c.cur(), "expected SELECT"));
    }
    let rest = c.toks[c.pos..].to_vec();
    c.pos = c.toks.len();
    parse_select(c.sql, rest)
}

fn parse_select(sql: &str, mut toks: Vec<TokenWithSpan>) -> Result<Select, QueryError> {
    let (as_of, as_of_span) = extract_as_of(&mut toks)?;
    let group_names = group_names::take_group_names(&mut toks);
    let conv = Converter {
        toks: toks.clone(),
        group_names,
    };
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

mod convert;
mod ddl;
mod from_clause;
mod group_names;
mod insert;
mod order;
mod reproject;
mod retention;
mod rollup;
mod spans;
#[cfg(test)]
mod tests;
mod window;

pub(crate) use convert::dtype_of;
use convert::Converter;
