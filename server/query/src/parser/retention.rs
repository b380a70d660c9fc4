//! `VACUUM name [KEEP n VERSIONS | OLDER THAN '...']` and the retention settings of
//! `ALTER ARRAY name SET (...)` / `RESET (...)`.

use super::{err_at, span_of, Cursor};
use crate::ast::{AlterRetention, Name, Statement, Vacuum};
use crate::error::{not_found, QueryError};
use crate::timeutil::parse_duration;
use arrayq_storage::Retention;
use sqlparser::tokenizer::Token;

/// The settings `SET (...)` and `RESET (...)` know.
const SETTINGS: [&str; 2] = ["retain", "retain_versions"];

pub(crate) fn parse_vacuum(c: &mut Cursor) -> Result<Statement, QueryError> {
    c.expect_kw("VACUUM")?;
    let array = c.name("an array name")?;
    let keep = if c.peek_kw("KEEP") {
        c.next();
        let n = versions_count(c, "KEEP")?;
        if !(c.peek_kw("VERSIONS") || c.peek_kw("VERSION")) {
            return Err(err_at(&c.cur(), "expected VERSIONS"));
        }
        c.next();
        Retention {
            versions: Some(n),
            max_age_ns: None,
        }
    } else if c.peek_kw("OLDER") {
        c.next();
        c.expect_kw("THAN")?;
        Retention {
            versions: None,
            max_age_ns: Some(interval(c, "OLDER THAN")?),
        }
    } else {
        Retention::NEWEST_ONLY
    };
    c.expect_end()?;
    Ok(Statement::Vacuum(Vacuum { array, keep }))
}

/// `SET (key = value, ...)` or `RESET (key, ...)` after `ALTER ARRAY name`.
pub(crate) fn parse_alter_retention(c: &mut Cursor, array: Name) -> Result<Statement, QueryError> {
    let set = c.peek_kw("SET");
    c.next();
    c.expect(&Token::LParen)?;
    let mut alter = AlterRetention {
        array,
        versions: None,
        max_age_ns: None,
    };
    loop {
        let key_tok = c.cur();
        let key = c.ident("a setting (retain or retain_versions)")?;
        let key = key.to_ascii_lowercase();
        let repeated = match key.as_str() {
            "retain" => alter.max_age_ns.is_some(),
            "retain_versions" => alter.versions.is_some(),
            _ => return Err(not_found("setting", &key, "", SETTINGS).at(span_of(key_tok.span))),
        };
        if repeated {
            return Err(err_at(&key_tok, format!("setting '{key}' is repeated")));
        }
        if set {
            c.expect(&Token::Eq)?;
            if key == "retain" {
                alter.max_age_ns = Some(Some(interval(c, "retain")?));
            } else {
                alter.versions = Some(Some(versions_count(c, "retain_versions")?));
            }
        } else if key == "retain" {
            alter.max_age_ns = Some(None);
        } else {
            alter.versions = Some(None);
        }
        if !c.eat(&Token::Comma) {
            break;
        }
    }
    c.expect(&Token::RParen)?;
    c.expect_end()?;
    Ok(Statement::AlterRetention(alter))
}

/// A positive whole number of versions, or an error at it.
fn versions_count(c: &mut Cursor, what: &str) -> Result<u64, QueryError> {
    let t = c.cur();
    let n = c.integer(&format!("the number of versions of {what}"))?;
    if n < 1 {
        return Err(err_at(
            &t,
            format!("{what} needs a positive number of versions (at least 1)"),
        ));
    }
    Ok(n as u64)
}

/// A quoted interval (`'30 days'`, `'12 hours'`, `'PT15M'`) in ns, or an error at it.
fn interval(c: &mut Cursor, what: &str) -> Result<i64, QueryError> {
    let t = c.cur();
    let s = c.string(&format!("the interval of {what}, e.g. '30 days'"))?;
    parse_duration(&s).filter(|ns| *ns > 0).ok_or_else(|| {
        QueryError::type_error(format!(
            "'{s}' is not a positive interval like '30 days' ({what})"
        ))
        .at(span_of(t.span))
    })
}
