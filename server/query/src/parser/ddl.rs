//! The hand-written parser of array DDL (`CREATE ARRAY`, `ALTER ARRAY ... ADD
//! LAYOUT`, `DROP ARRAY`) on sqlparser's tokens: SQL has no words for arrays.

use super::{dtype_of, err_at, span_of, Cursor};
use crate::ast::*;
use crate::error::{QueryError, Span};
use crate::timeutil::{parse_duration, parse_instant};
use arrayq_storage::MetadataMap;
use sqlparser::tokenizer::Token;

pub(crate) fn parse_create(c: &mut Cursor) -> Result<Statement, QueryError> {
    c.expect_kw("CREATE")?;
    c.expect_kw("ARRAY")?;
    let mut if_not_exists = false;
    if c.peek_kw("IF") {
        c.next();
        c.expect_kw("NOT")?;
        c.expect_kw("EXISTS")?;
        if_not_exists = true;
    }
    let name_span = span_of(c.cur().span);
    let name = c.ident("an array name")?;
    if !c.peek(&Token::LParen) {
        return parse_create_as(
            c,
            Name {
                value: name,
                span: name_span,
            },
            if_not_exists,
        );
    }
    c.expect(&Token::LParen)?;
    let mut dims = Vec::new();
    let mut attrs = Vec::new();
    loop {
        let item_span = span_of(c.cur().span);
        let item = c.ident("a dimension or attribute name")?;
        parse_item(c, item, item_span, &mut dims, &mut attrs)?;
        if c.eat(&Token::Comma) {
            continue;
        }
        c.expect(&Token::RParen)?;
        break;
    }
    let metadata = parse_metadata(c)?;
    let options = parse_with(c)?;
    c.expect_end()?;
    Ok(Statement::CreateArray(CreateArray {
        name,
        if_not_exists,
        dims,
        attrs,
        metadata,
        options,
    }))
}

fn parse_item(
    c: &mut Cursor,
    name: String,
    name_span: Span,
    dims: &mut Vec<DimDef>,
    attrs: &mut Vec<AttrDef>,
) -> Result<(), QueryError> {
    // Optional type: one or two words (DOUBLE PRECISION).
    let type_tok = c.cur();
    let mut tname = None;
    if !c.peek_kw("LABELS") {
        let mut t = c.ident("a type (REAL, DOUBLE, TIMESTAMP, INT, ...) or LABELS")?;
        if t.eq_ignore_ascii_case("double") && c.peek_kw("PRECISION") {
            c.next();
            t.push_str(" precision");
        }
        tname = Some(t);
    }
    let is_time = tname.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case("timestamp") || t.eq_ignore_ascii_case("timestamptz")
    });
    let is_dim = c.peek_kw("START") || c.peek_kw("LABELS") || is_time;
    if !is_dim {
        let t = tname.unwrap_or_default();
        let dtype =
            dtype_of(&t).ok_or_else(|| err_at(&type_tok, format!("unknown element type '{t}'")))?;
        let mut fill = None;
        if c.peek_kw("FILL") || c.peek_kw("DEFAULT") {
            c.next();
            fill = Some(if c.peek_kw("NAN") {
                c.next();
                f64::NAN
            } else {
                c.number("the fill value")?
            });
        }
        let metadata = parse_metadata(c)?;
        attrs.push(AttrDef {
            name,
            dtype,
            fill,
            metadata,
        });
        return Ok(());
    }
    // `TEXT LABELS (...)`: text labels; other type names before LABELS are numeric.
    let is_text = tname.as_deref().is_some_and(is_text_type);
    if let Some(t) = &tname {
        if is_text && !c.peek_kw("LABELS") {
            return Err(err_at(
                &type_tok,
                format!(
                    "'{t}' dimensions are label dimensions: write {name} {t} LABELS ('a', ...)"
                ),
            ));
        }
        if !is_time && !is_text && dtype_of(t).is_none() {
            return Err(err_at(&type_tok, format!("unknown coordinate type '{t}'")));
        }
    }
    let mut start_num = None;
    let mut start_ns = None;
    let mut step_num = None;
    let mut step_ns = None;
    let mut labels = None;
    let mut length = None;
    let mut growable = false;
    loop {
        if c.peek_kw("START") {
            c.next();
            if is_time {
                start_ns = Some(time_text(c, "the start timestamp", parse_instant, |s| {
                    format!("'{s}' is not an ISO-8601 timestamp (START of '{name}')")
                })?);
            } else {
                start_num = Some(c.number("START")?);
            }
        } else if c.peek_kw("STEP") {
            c.next();
            if is_time {
                step_ns = Some(time_text(
                    c,
                    "the step, e.g. '1 hour'",
                    parse_duration,
                    |s| format!("'{s}' is not a duration like '1 hour' (STEP of '{name}')"),
                )?);
            } else {
                step_num = Some(c.number("STEP")?);
            }
        } else if c.peek_kw("LENGTH") {
            c.next();
            let t = c.cur();
            let n = c.integer("LENGTH")?;
            if n < 0 {
                return Err(err_at(&t, "LENGTH must not be negative"));
            }
            length = Some(n as u64);
        } else if c.peek_kw("GROWABLE") {
            c.next();
            growable = true;
        } else if c.peek_kw("LABELS") {
            c.next();
            c.expect(&Token::LParen)?;
            // Without a type name the first label decides the kind.
            let text = is_text
                || (tname.is_none() && matches!(c.cur().token, Token::SingleQuotedString(_)));
            let mut ints = Vec::new();
            let mut texts = Vec::new();
            if !c.peek(&Token::RParen) {
                loop {
                    if text {
                        texts.push(c.string("a text label ('...')")?);
                    } else {
                        ints.push(c.integer("an integer label (or write TEXT LABELS)")?);
                    }
                    if !c.eat(&Token::Comma) {
                        break;
                    }
                }
            }
            c.expect(&Token::RParen)?;
            labels = Some(if text {
                DimKind::TextLabels(texts)
            } else {
                DimKind::Labels(ints)
            });
        } else {
            break;
        }
    }
    let metadata = parse_metadata(c)?;
    let here = c.cur();
    let kind = if let Some(l) = labels {
        l
    } else if is_time {
        DimKind::Time {
            start_ns: start_ns.ok_or_else(|| {
                err_at(&here, format!("time dimension '{name}' needs START '...'"))
            })?,
            step_ns: step_ns.ok_or_else(|| {
                err_at(&here, format!("time dimension '{name}' needs STEP '...'"))
            })?,
        }
    } else {
        DimKind::Regular {
            start: start_num
                .ok_or_else(|| err_at(&here, format!("dimension '{name}' needs START")))?,
            step: step_num
                .ok_or_else(|| err_at(&here, format!("dimension '{name}' needs STEP")))?,
        }
    };
    dims.push(DimDef {
        name,
        span: name_span,
        kind,
        length,
        growable,
        metadata,
    });
    Ok(())
}

/// `METADATA (key = 'value', ...)` if it comes next (keys are names or quoted
/// texts, values texts); an empty map otherwise. A repeated key is an error at it.
fn parse_metadata(c: &mut Cursor) -> Result<MetadataMap, QueryError> {
    let mut map = MetadataMap::new();
    if !c.peek_kw("METADATA") {
        return Ok(map);
    }
    c.next();
    c.expect(&Token::LParen)?;
    loop {
        let key_tok = c.cur();
        let key = match &key_tok.token {
            Token::SingleQuotedString(_) => c.string("a metadata key")?,
            _ => c.ident("a metadata key (a name or 'quoted text')")?,
        };
        c.expect(&Token::Eq)?;
        let value = c.string("a metadata value ('quoted text')")?;
        if map.insert(key.clone(), value).is_some() {
            let at = key_tok.span.start;
            let text = super::token_text(&key_tok.token);
            let msg = format!("metadata key '{key}' is repeated");
            return Err(QueryError::parse_at(msg, at.line, at.column, Some(text)));
        }
        if !c.eat(&Token::Comma) {
            break;
        }
    }
    c.expect(&Token::RParen)?;
    Ok(map)
}

/// `CREATE ARRAY name [WITH (...)] AS SELECT ...` after the name.
fn parse_create_as(
    c: &mut Cursor,
    name: Name,
    if_not_exists: bool,
) -> Result<Statement, QueryError> {
    let options = parse_with(c)?;
    if !c.peek_kw("AS") {
        let t = c.cur();
        return Err(err_at(
            &t,
            "expected '(' and the dimensions and attributes, or [WITH (...)] AS SELECT ...",
        ));
    }
    c.next();
    let query = super::select_from(c)?;
    Ok(Statement::CreateArrayAs(CreateArrayAs {
        name,
        if_not_exists,
        options,
        query: Box::new(query),
    }))
}

/// Type names that make a label dimension's labels text.
fn is_text_type(t: &str) -> bool {
    ["text", "varchar", "string"]
        .iter()
        .any(|x| t.eq_ignore_ascii_case(x))
}

/// A quoted time text (a timestamp or a duration) read into nanoseconds by `parse`;
/// a text it rejects is a type error at the string, worded by `bad`.
fn time_text(
    c: &mut Cursor,
    what: &str,
    parse: fn(&str) -> Option<i64>,
    bad: impl FnOnce(&str) -> String,
) -> Result<i64, QueryError> {
    let t = c.cur();
    let s = c.string(what)?;
    parse(&s).ok_or_else(|| QueryError::type_error(bad(&s)).at(span_of(t.span)))
}

fn parse_with(c: &mut Cursor) -> Result<Vec<Opt>, QueryError> {
    let mut out = Vec::new();
    if !c.peek_kw("WITH") {
        return Ok(out);
    }
    c.next();
    c.expect(&Token::LParen)?;
    loop {
        let key_span = span_of(c.cur().span);
        let key = c.ident("an option name")?.to_ascii_lowercase();
        c.expect(&Token::Eq)?;
        let first = c.pos;
        let value = if c.eat(&Token::LParen) {
            let mut v = Vec::new();
            loop {
                v.push(c.number("a tuple element")?);
                if !c.eat(&Token::Comma) {
                    break;
                }
            }
            c.expect(&Token::RParen)?;
            OptValue::Tuple(v)
        } else if let Some(Token::SingleQuotedString(_)) = c.peek_tok().map(|t| &t.token) {
            OptValue::Str(c.string("the option value")?)
        } else if let Some(Token::Word(_)) = c.peek_tok().map(|t| &t.token) {
            OptValue::Str(c.ident("the option value")?)
        } else {
            OptValue::Number(c.number("the option value")?)
        };
        let value_span = span_of(c.toks[first].span).union(span_of(c.toks[c.pos - 1].span));
        out.push(Opt {
            key,
            value,
            key_span,
            value_span,
        });
        if !c.eat(&Token::Comma) {
            break;
        }
    }
    c.expect(&Token::RParen)?;
    Ok(out)
}

pub(crate) fn parse_alter(c: &mut Cursor) -> Result<Statement, QueryError> {
    c.expect_kw("ALTER")?;
    c.expect_kw("ARRAY")?;
    let array = c.name("an array name")?;
    if c.peek_kw("SET") || c.peek_kw("RESET") {
        return super::retention::parse_alter_retention(c, array);
    }
    let rollup = |k: usize| matches!(c.toks.get(c.pos + k).map(|t| &t.token), Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("ROLLUP"));
    if (c.peek_kw("ADD") || c.peek_kw("DROP")) && rollup(1) {
        return super::rollup::parse_alter_rollup(c, array);
    }
    if !c.peek_kw("ADD") {
        return Err(err_at(
            &c.cur(),
            "expected ADD LAYOUT, ADD ROLLUP, DROP ROLLUP, SET (...) or RESET (...)",
        ));
    }
    c.expect_kw("ADD")?;
    c.expect_kw("LAYOUT")?;
    let layout = c.ident("a layout name")?;
    c.expect_kw("CHUNKS")?;
    c.expect(&Token::LParen)?;
    let mut chunks = Vec::new();
    let first = c.cur().span;
    let mut last;
    loop {
        let t = c.cur();
        last = t.span;
        let n = c.integer("a chunk extent")?;
        if n <= 0 {
            return Err(err_at(&t, "chunk extents must be positive"));
        }
        chunks.push(n as u64);
        if !c.eat(&Token::Comma) {
            break;
        }
    }
    c.expect(&Token::RParen)?;
    let options = parse_with(c)?;
    c.expect_end()?;
    Ok(Statement::AddLayout(AddLayout {
        array,
        layout,
        chunks,
        chunks_span: Span::new(
            first.start.line,
            first.start.column,
            last.end.line,
            last.end.column,
        ),
        options,
    }))
}

pub(crate) fn parse_drop(c: &mut Cursor) -> Result<Statement, QueryError> {
    c.expect_kw("DROP")?;
    c.expect_kw("ARRAY")?;
    let mut if_exists = false;
    if c.peek_kw("IF") {
        c.next();
        c.expect_kw("EXISTS")?;
        if_exists = true;
    }
    let name = c.name("an array name")?;
    c.expect_end()?;
    Ok(Statement::DropArray { name, if_exists })
}
