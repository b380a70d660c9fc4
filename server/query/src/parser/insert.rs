//! `INSERT INTO name SELECT ...` and `INSERT INTO name [(col, ...)] VALUES (...), ...`
//! on the DDL cursor: sqlparser would accept them, but array cells are placed by
//! coordinates, not appended as rows, so the statement has a shape of its own.

use super::{err_at, span_of, Cursor};
use crate::ast::*;
use crate::error::QueryError;
use sqlparser::tokenizer::Token;

pub(crate) fn parse_insert(c: &mut Cursor) -> Result<Statement, QueryError> {
    c.expect_kw("INSERT")?;
    c.expect_kw("INTO")?;
    let into = c.name("an array name")?;
    let mut columns = Vec::new();
    if c.eat(&Token::LParen) {
        loop {
            columns.push(c.name("a dimension or attribute name")?);
            if !c.eat(&Token::Comma) {
                break;
            }
        }
        c.expect(&Token::RParen)?;
    }
    let source = if c.peek_kw("SELECT") {
        if let Some(first) = columns.first() {
            return Err(QueryError::plan(
                "INSERT ... SELECT places cells by the result's dimension and column names; drop the column list (rename with AS in the SELECT)",
            )
            .at(first.span));
        }
        InsertSource::Select(Box::new(super::select_from(c)?))
    } else if c.peek_kw("VALUES") {
        c.next();
        let mut rows = Vec::new();
        loop {
            rows.push(row(c)?);
            if !c.eat(&Token::Comma) {
                break;
            }
        }
        c.expect_end()?;
        InsertSource::Values { columns, rows }
    } else {
        return Err(err_at(&c.cur(), "expected SELECT or VALUES"));
    };
    Ok(Statement::Insert(Insert { into, source }))
}

/// `(literal, ...)`
fn row(c: &mut Cursor) -> Result<Vec<Literal>, QueryError> {
    c.expect(&Token::LParen)?;
    let mut out = Vec::new();
    loop {
        out.push(literal(c)?);
        if !c.eat(&Token::Comma) {
            break;
        }
    }
    c.expect(&Token::RParen)?;
    Ok(out)
}

fn literal(c: &mut Cursor) -> Result<Literal, QueryError> {
    let t = c.cur();
    let span = span_of(t.span);
    let value = match &t.token {
        Token::SingleQuotedString(s) => {
            c.next();
            LiteralValue::Text(s.clone())
        }
        Token::Word(w) if w.quote_style.is_none() => {
            let v = match w.value.to_ascii_uppercase().as_str() {
                "NULL" => LiteralValue::Null,
                "TRUE" => LiteralValue::Bool(true),
                "FALSE" => LiteralValue::Bool(false),
                "NAN" => LiteralValue::Number(f64::NAN),
                _ => {
                    return Err(err_at(
                        &t,
                        "expected a constant (number, 'text', TRUE, FALSE, NULL)",
                    ))
                }
            };
            c.next();
            v
        }
        _ => LiteralValue::Number(c.number("a value")?),
    };
    Ok(Literal { value, span })
}
