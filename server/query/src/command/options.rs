//! The `WITH (...)` options of `CREATE ARRAY` and `ADD LAYOUT`, and the codec chain
//! they describe.

use crate::ast::{Opt, OptValue};
use crate::error::{not_found, QueryError, Span};
use arrayq_storage::{BytesToBytes, CodecChain};

pub(super) fn opt<'o>(opts: &'o [Opt], key: &str) -> Option<&'o Opt> {
    opts.iter().find(|o| o.key == key)
}

pub(super) fn opt_num(opts: &[Opt], key: &str) -> Result<Option<(f64, Span)>, QueryError> {
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

pub(super) fn opt_str(opts: &[Opt], key: &str) -> Result<Option<(String, Span)>, QueryError> {
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

pub(super) const KNOWN_OPTS: [&str; 4] = ["chunks", "zstd_level", "codec", "layout"];

pub(super) fn check_opts(opts: &[Opt], allowed: &[&str]) -> Result<(), QueryError> {
    for o in opts {
        if !allowed.contains(&o.key.as_str()) {
            return Err(not_found("option", &o.key, "", allowed.iter().copied()).at(o.key_span));
        }
    }
    Ok(())
}

pub(super) fn codec_from(opts: &[Opt], esize: usize) -> Result<CodecChain, QueryError> {
    let (level, level_span) = opt_num(opts, "zstd_level")?.unwrap_or((
        f64::from(arrayq_storage::schema::DEFAULT_ZSTD_LEVEL),
        Span::default(),
    ));
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

pub(super) fn codec_text(c: &CodecChain) -> String {
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
