//! `ALTER ARRAY a ADD ROLLUP name AS SELECT f(attr), ... GROUP BY date_trunc('day',
//! time), dim, ...` and `ALTER ARRAY a DROP ROLLUP name`.

use super::{err_at, span_of, Cursor};
use crate::ast::{AlterRollup, Name, RollupCall, RollupChange, Statement};
use crate::error::QueryError;
use sqlparser::tokenizer::Token;

/// After `ALTER ARRAY a`, at `ADD ROLLUP` or `DROP ROLLUP`.
pub(crate) fn parse_alter_rollup(c: &mut Cursor, array: Name) -> Result<Statement, QueryError> {
    if c.peek_kw("DROP") {
        c.expect_kw("DROP")?;
        c.expect_kw("ROLLUP")?;
        let name = c.name("a rollup name")?;
        c.expect_end()?;
        return Ok(Statement::AlterRollup(AlterRollup {
            array,
            change: RollupChange::Drop { name },
        }));
    }
    c.expect_kw("ADD")?;
    c.expect_kw("ROLLUP")?;
    let name = c.name("a rollup name")?;
    c.expect_kw("AS")?;
    c.expect_kw("SELECT")?;
    let mut calls = Vec::new();
    loop {
        let span = span_of(c.cur().span);
        let func = c.ident("an aggregate (avg, sum, count, min, max)")?;
        c.expect(&Token::LParen)?;
        let attr = c.name("an attribute name")?;
        c.expect(&Token::RParen)?;
        calls.push(RollupCall {
            func: func.to_ascii_lowercase(),
            attr,
            span,
        });
        if !c.eat(&Token::Comma) {
            break;
        }
    }
    c.expect_kw("GROUP")?;
    c.expect_kw("BY")?;
    let mut day: Option<Name> = None;
    let mut dims = Vec::new();
    loop {
        let t = c.cur();
        let word = c.name("date_trunc('day', time) or a dimension")?;
        if word.value.eq_ignore_ascii_case("date_trunc") && c.eat(&Token::LParen) {
            let unit_tok = c.cur();
            let unit = c.string("the unit 'day'")?;
            if !unit.eq_ignore_ascii_case("day") {
                return Err(err_at(
                    &unit_tok,
                    format!("rollups bucket by 'day', not '{unit}'"),
                ));
            }
            c.expect(&Token::Comma)?;
            let dim = c.name("a time dimension")?;
            if c.peek(&Token::Comma) {
                return Err(err_at(
                    &c.cur(),
                    "rollups bucket UTC days: no time zone (queries in other zones combine them with raw reads)",
                ));
            }
            c.expect(&Token::RParen)?;
            if day.is_some() {
                return Err(err_at(&t, "a rollup has one date_trunc('day', ...) key"));
            }
            day = Some(dim);
        } else {
            dims.push(word);
        }
        if !c.eat(&Token::Comma) {
            break;
        }
    }
    c.expect_end()?;
    let Some(day) = day else {
        return Err(err_at(
            &c.cur(),
            "a rollup groups by date_trunc('day', <time dimension>)",
        ));
    };
    Ok(Statement::AlterRollup(AlterRollup {
        array,
        change: RollupChange::Add {
            name,
            calls,
            day,
            dims,
        },
    }))
}
