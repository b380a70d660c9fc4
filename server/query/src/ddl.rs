//! Array DDL: `CREATE ARRAY`, `ALTER ARRAY ... ADD LAYOUT`, `DROP ARRAY`, and the
//! catalog listings `SHOW ARRAYS` / `DESCRIBE`.

use crate::ast::*;
use crate::error::{not_found, QueryError, Span};
use crate::parser::{dtype_of, err_at, span_of, Cursor};
use crate::timeutil::{format_instant, parse_duration, parse_instant};
use crate::{Execution, TextTable};
use arrayq_storage::{
    ArraySchema, AsOf, Attribute, BytesToBytes, CodecChain, Coordinate, DType, Dimension, Layout,
    Scalar, Store,
};
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
    let name = c.ident("an array name")?;
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
    let options = parse_with(c)?;
    c.expect_end()?;
    Ok(Statement::CreateArray(CreateArray {
        name,
        if_not_exists,
        dims,
        attrs,
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
        attrs.push(AttrDef { name, dtype, fill });
        return Ok(());
    }
    if let Some(t) = &tname {
        if !is_time && dtype_of(t).is_none() {
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
            let mut v = Vec::new();
            if !c.peek(&Token::RParen) {
                loop {
                    v.push(c.integer("a label")?);
                    if !c.eat(&Token::Comma) {
                        break;
                    }
                }
            }
            c.expect(&Token::RParen)?;
            labels = Some(v);
        } else {
            break;
        }
    }
    let here = c.cur();
    let kind = if let Some(l) = labels {
        DimKind::Labels(l)
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
    });
    Ok(())
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

fn opt<'o>(opts: &'o [Opt], key: &str) -> Option<&'o Opt> {
    opts.iter().find(|o| o.key == key)
}

fn opt_num(opts: &[Opt], key: &str) -> Result<Option<(f64, Span)>, QueryError> {
    match opt(opts, key) {
        None => Ok(None),
        Some(Opt {
            value: OptValue::Number(n),
            value_span,
            ..
        }) => Ok(Some((*n, *value_span))),
        Some(o) => {
            Err(QueryError::type_error(format!("option '{key}' takes a number")).at(o.value_span))
        }
    }
}

fn opt_str(opts: &[Opt], key: &str) -> Result<Option<(String, Span)>, QueryError> {
    match opt(opts, key) {
        None => Ok(None),
        Some(Opt {
            value: OptValue::Str(s),
            value_span,
            ..
        }) => Ok(Some((s.clone(), *value_span))),
        Some(o) => Err(
            QueryError::type_error(format!("option '{key}' takes a name or string"))
                .at(o.value_span),
        ),
    }
}

const KNOWN_OPTS: [&str; 4] = ["chunks", "zstd_level", "codec", "layout"];

fn check_opts(opts: &[Opt], allowed: &[&str]) -> Result<(), QueryError> {
    for o in opts {
        if !allowed.contains(&o.key.as_str()) {
            return Err(not_found("option", &o.key, "", allowed.iter().copied()).at(o.key_span));
        }
    }
    Ok(())
}

fn codec_from(opts: &[Opt], esize: usize) -> Result<CodecChain, QueryError> {
    let (level, level_span) = opt_num(opts, "zstd_level")?.unwrap_or((3.0, Span::default()));
    if level.fract() != 0.0 {
        return Err(QueryError::type_error("zstd_level must be an integer").at(level_span));
    }
    let level = level as i32;
    let (codec, codec_span) =
        opt_str(opts, "codec")?.unwrap_or_else(|| ("shuffle_zstd".into(), Span::default()));
    Ok(match codec.to_ascii_lowercase().as_str() {
        "shuffle_zstd" => CodecChain::shuffle_zstd(esize, level),
        "zstd" => CodecChain::zstd(level),
        "raw" | "none" => CodecChain::raw(),
        other => {
            return Err(
                not_found("codec", other, "", ["shuffle_zstd", "zstd", "raw"]).at(codec_span),
            );
        }
    })
}

fn codec_text(c: &CodecChain) -> String {
    if c.bytes_to_bytes.is_empty() {
        return "raw".into();
    }
    c.bytes_to_bytes
        .iter()
        .map(|b| match b {
            BytesToBytes::Shuffle { elem_size } => format!("shuffle({elem_size})"),
            BytesToBytes::Zstd { level } => format!("zstd({level})"),
        })
        .collect::<Vec<_>>()
        .join("+")
}

pub(crate) fn create_array(store: &Store, c: &CreateArray) -> Result<Execution, QueryError> {
    check_opts(&c.options, &KNOWN_OPTS)?;
    if c.if_not_exists && store.list_arrays().contains(&c.name) {
        return Ok(Execution::Done {
            message: format!("array '{}' already exists", c.name),
            array: Some(c.name.clone()),
            version: None,
        });
    }
    let mut dims = Vec::new();
    for d in &c.dims {
        let (coord, len) = match &d.kind {
            DimKind::Regular { start, step } => (
                Coordinate::Regular {
                    start: *start,
                    step: *step,
                },
                d.length,
            ),
            DimKind::Time { start_ns, step_ns } => (
                Coordinate::Time {
                    start_ns: *start_ns,
                    step_ns: *step_ns,
                },
                d.length,
            ),
            DimKind::Labels(l) => {
                if d.length.is_some_and(|n| n != l.len() as u64) {
                    return Err(QueryError::plan(format!(
                        "dimension '{}' has {} labels but LENGTH {}",
                        d.name,
                        l.len(),
                        d.length.unwrap()
                    ))
                    .at(d.span));
                }
                (
                    Coordinate::Labels { labels: l.clone() },
                    Some(l.len() as u64),
                )
            }
        };
        let len = match (len, d.growable) {
            (Some(n), _) => n,
            (None, true) => 0,
            (None, false) => {
                return Err(QueryError::plan(format!(
                    "dimension '{}' needs LENGTH n (or GROWABLE)",
                    d.name
                ))
                .at(d.span));
            }
        };
        dims.push(Dimension {
            name: d.name.clone(),
            coord,
            len,
            growable: d.growable,
        });
    }
    if dims.is_empty() {
        return Err(QueryError::plan(format!("array '{}' needs at least one dimension (NAME TYPE START .. STEP .. or NAME LABELS (...))", c.name)));
    }
    let attrs: Vec<Attribute> = c
        .attrs
        .iter()
        .map(|a| Attribute::new(&a.name, a.dtype, a.fill.map(Scalar::F64)))
        .collect();
    let esize = attrs.iter().map(|a| a.dtype.size()).max().unwrap_or(4);
    let chunks: Vec<u64> = match opt(&c.options, "chunks") {
        Some(Opt {
            value: OptValue::Tuple(v),
            value_span,
            ..
        }) => {
            if v.len() != dims.len() {
                return Err(QueryError::plan(format!(
                    "chunks has {} extents for {} dimensions",
                    v.len(),
                    dims.len()
                ))
                .at(*value_span));
            }
            if v.iter().any(|x| *x < 1.0 || x.fract() != 0.0) {
                return Err(
                    QueryError::plan("chunk extents must be positive integers").at(*value_span)
                );
            }
            v.iter().map(|&x| x as u64).collect()
        }
        Some(o) => {
            return Err(
                QueryError::type_error("chunks takes a tuple, e.g. chunks = (1, 153, 281)")
                    .at(o.value_span),
            )
        }
        None => default_chunks(&dims),
    };
    let lname = opt_str(&c.options, "layout")?
        .map(|(n, _)| n)
        .unwrap_or_else(|| "primary".into());
    let schema = ArraySchema {
        name: c.name.clone(),
        dims,
        attrs,
        layouts: vec![Layout::new(&lname, chunks, codec_from(&c.options, esize)?)],
    };
    let info = store
        .create_array(schema)
        .map_err(QueryError::from_storage)?;
    Ok(Execution::Done {
        message: format!("created array '{}'", c.name),
        array: Some(c.name.clone()),
        version: Some(info.version),
    })
}

fn default_chunks(dims: &[Dimension]) -> Vec<u64> {
    let mut v: Vec<u64> = dims
        .iter()
        .map(|d| if d.growable { 256 } else { d.len.clamp(1, 256) })
        .collect();
    while v.iter().product::<u64>() > 1 << 20 {
        let (i, _) = v.iter().enumerate().max_by_key(|(_, x)| **x).unwrap();
        v[i] = v[i].div_ceil(2);
    }
    v
}

pub(crate) fn add_layout(store: &Store, a: &AddLayout) -> Result<Execution, QueryError> {
    check_opts(&a.options, &["zstd_level", "codec"])?;
    let snap = store
        .snapshot(&a.array.value, AsOf::Latest)
        .map_err(|_| unknown_array(store, &a.array.value).at(a.array.span))?;
    let esize = snap
        .schema()
        .attrs
        .iter()
        .map(|x| x.dtype.size())
        .max()
        .unwrap_or(4);
    let rank = snap.schema().dims.len();
    if a.chunks.len() != rank {
        return Err(QueryError::plan(format!(
            "CHUNKS has {} extents for {rank} dimensions of '{}'",
            a.chunks.len(),
            a.array.value
        ))
        .at(a.chunks_span));
    }
    let layout = Layout::new(&a.layout, a.chunks.clone(), codec_from(&a.options, esize)?);
    let info = store
        .add_layout(&a.array.value, layout)
        .map_err(QueryError::from_storage)?;
    Ok(Execution::Done {
        message: format!("added layout '{}' to '{}'", a.layout, a.array.value),
        array: Some(a.array.value.clone()),
        version: Some(info.version),
    })
}

pub(crate) fn drop_array(
    store: &Store,
    name: &str,
    if_exists: bool,
) -> Result<Execution, QueryError> {
    if !store.list_arrays().iter().any(|n| n == name) {
        if if_exists {
            return Ok(Execution::Done {
                message: format!("array '{name}' does not exist"),
                array: Some(name.to_string()),
                version: None,
            });
        }
        return Err(unknown_array(store, name));
    }
    store.drop_array(name).map_err(QueryError::from_storage)?;
    Ok(Execution::Done {
        message: format!("dropped array '{name}'"),
        array: Some(name.to_string()),
        version: None,
    })
}

pub(crate) fn unknown_array(store: &Store, name: &str) -> QueryError {
    let names = store.list_arrays();
    not_found("array", name, "", names.iter().map(|s| s.as_str()))
}

pub(crate) fn show_arrays(store: &Store) -> Result<Execution, QueryError> {
    let mut rows = Vec::new();
    for name in store.list_arrays() {
        let Ok(s) = store.snapshot(&name, AsOf::Latest) else {
            continue;
        };
        let sc = s.schema();
        rows.push(vec![
            name.clone(),
            sc.dims
                .iter()
                .map(|d| format!("{}({})", d.name, d.len))
                .collect::<Vec<_>>()
                .join(", "),
            sc.attrs
                .iter()
                .map(|a| format!("{} {}", a.name, a.dtype))
                .collect::<Vec<_>>()
                .join(", "),
            sc.layouts
                .iter()
                .map(|l| l.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
            s.version().to_string(),
        ]);
    }
    Ok(Execution::Table(TextTable {
        columns: ["array", "dimensions", "attributes", "layouts", "version"]
            .map(String::from)
            .to_vec(),
        rows,
    }))
}

pub(crate) fn coord_text(c: &Coordinate) -> String {
    match c {
        Coordinate::Regular { start, step } => format!("start {start} step {step}"),
        Coordinate::Time { start_ns, step_ns } => format!(
            "start {} step {}",
            format_instant(*start_ns),
            step_text(*step_ns)
        ),
        Coordinate::Labels { labels } => {
            let shown: Vec<String> = labels.iter().take(10).map(|l| l.to_string()).collect();
            let more = if labels.len() > 10 {
                format!(", ... ({} labels)", labels.len())
            } else {
                String::new()
            };
            format!("labels ({}{more})", shown.join(", "))
        }
    }
}

pub(crate) fn step_text(ns: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (7 * 86400 * 1_000_000_000, "week"),
        (86400 * 1_000_000_000, "day"),
        (3600 * 1_000_000_000, "hour"),
        (60 * 1_000_000_000, "minute"),
        (1_000_000_000, "second"),
    ];
    for (u, name) in UNITS {
        if ns % u == 0 {
            let n = ns / u;
            return format!("{n} {name}{}", if n == 1 { "" } else { "s" });
        }
    }
    format!("{ns} ns")
}

pub(crate) fn describe(store: &Store, name: &str) -> Result<Execution, QueryError> {
    let snap = store
        .snapshot(name, AsOf::Latest)
        .map_err(|_| unknown_array(store, name))?;
    let sc = snap.schema();
    let mut rows = Vec::new();
    for d in &sc.dims {
        let ty = match d.coord {
            Coordinate::Regular { .. } => "double",
            Coordinate::Time { .. } => "timestamp",
            Coordinate::Labels { .. } => "labels",
        };
        let mut det = format!("{} length {}", coord_text(&d.coord), d.len);
        if d.growable {
            det.push_str(" growable");
        }
        rows.push(vec!["dimension".into(), d.name.clone(), ty.into(), det]);
    }
    for a in &sc.attrs {
        let fill = a.fill_value();
        let ft = if a.dtype.is_float() && fill.as_f64().is_nan() {
            "NaN".to_string()
        } else {
            fill.to_string()
        };
        rows.push(vec![
            "attribute".into(),
            a.name.clone(),
            a.dtype.to_string(),
            format!("fill {ft}"),
        ]);
    }
    for (k, l) in sc.layouts.iter().enumerate() {
        let st = &snap.meta().stats[k];
        let shape: Vec<String> = l.chunk_shape.iter().map(|x| x.to_string()).collect();
        rows.push(vec![
            "layout".into(),
            l.name.clone(),
            format!("({})", shape.join(", ")),
            format!(
                "codec {}, {} chunks, {} bytes stored{}",
                codec_text(&l.codec),
                st.chunks,
                st.bytes,
                if k == 0 { ", primary" } else { "" }
            ),
        ]);
    }
    rows.push(vec![
        "version".into(),
        snap.version().to_string(),
        String::new(),
        format!("committed {}", format_instant(snap.timestamp_ns())),
    ]);
    Ok(Execution::Table(TextTable {
        columns: ["kind", "name", "type", "details"]
            .map(String::from)
            .to_vec(),
        rows,
    }))
}

#[allow(dead_code)]
fn _assert_dtype(_: DType) {}
