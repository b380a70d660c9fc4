//! GROUP BY keys that bucket a dimension: `date_trunc`, `date_bin`, `time_bucket`,
//! `extract` / `date_part`, `floor(x / step)` and `coarsen(x, n)` resolved into a
//! dimension and a [`Bucket`]. Errors point at the argument that is wrong.

use super::binder::{Binder, Name};
use super::typing::type_err;
use crate::ast::*;
use crate::error::{not_found, QueryError};
use crate::logical::Bucket;
use crate::timeutil::{has_offset, parse_duration, parse_instant, parse_tz, Field, TruncUnit};
use arrayq_storage::Coordinate;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// The functions that bucket a dimension (GROUP BY keys, not values).
pub(super) const BUCKET_FUNCS: [&str; 7] = [
    "date_trunc",
    "date_bin",
    "time_bucket",
    "extract",
    "date_part",
    "floor",
    "coarsen",
];

/// TimescaleDB's default origin of `time_bucket`: a Monday, so week buckets start
/// on Mondays (and day buckets at midnight).
const TIME_BUCKET_ORIGIN: &str = "2000-01-03T00:00:00";

/// Resolves the bucket function call `name(args)`.
pub(super) fn bucket_of(
    binder: &Binder,
    name: &str,
    args: &[Expr],
) -> Result<(usize, Bucket), QueryError> {
    let arity = |lo: usize, hi: usize, usage: &str| {
        if args.len() < lo || args.len() > hi {
            Err(QueryError::plan(format!(
                "{usage} takes {lo}..{hi} arguments, got {}",
                args.len()
            )))
        } else {
            Ok(())
        }
    };
    match name {
        "date_trunc" => {
            arity(2, 3, "date_trunc(unit, time_dimension [, 'Time/Zone'])")?;
            let unit = string(&args[0], "date_trunc unit", "'day'")?;
            let unit = TruncUnit::parse(unit).ok_or_else(|| {
                not_found(
                    "date_trunc unit",
                    unit,
                    "",
                    ["minute", "hour", "day", "week", "month", "year"],
                )
                .at(args[0].span)
            })?;
            let d = time_dim(binder, &args[1], name)?;
            let tz = args.get(2).map(zone).transpose()?;
            Ok((d, Bucket::Trunc { unit, tz }))
        }
        "date_bin" | "time_bucket" => {
            let usage = if name == "date_bin" {
                arity(
                    3,
                    4,
                    "date_bin('stride', time_dimension, 'origin' [, 'Time/Zone'])",
                )?;
                "date_bin"
            } else {
                arity(
                    2,
                    4,
                    "time_bucket('stride', time_dimension [, 'Time/Zone' | 'origin'] [, 'origin'])",
                )?;
                "time_bucket"
            };
            let stride_text = string(&args[0], &format!("the {usage} stride"), "'3 hours'")?;
            let stride_ns = parse_duration(stride_text).ok_or_else(|| {
                type_err(format!("'{stride_text}' is not a stride: write a positive length like '15 minutes', '3 hours' or '7 days' (months and years vary in length: use date_trunc)"))
                    .at(args[0].span)
            })?;
            let d = time_dim(binder, &args[1], name)?;
            // date_bin(s, t, origin [, zone]); time_bucket(s, t [, zone | origin] [, origin]).
            let (tz, origin) = if name == "date_bin" {
                (args.get(3).map(zone).transpose()?, Some(&args[2]))
            } else {
                match (args.get(2), args.get(3)) {
                    (Some(a), None) if matches!(&a.kind, ExprKind::Str(s) if parse_instant(s).is_some()) => {
                        (None, Some(a))
                    }
                    (z, o) => (z.map(zone).transpose()?, o),
                }
            };
            let origin_ns = match origin {
                Some(o) => origin_of(o, tz)?,
                None => parse_instant(TIME_BUCKET_ORIGIN).expect("a valid instant"),
            };
            Ok((
                d,
                Bucket::Bin {
                    stride_ns,
                    origin_ns,
                    tz,
                    func: usage,
                    stride: stride_text.to_string(),
                    origin_written: origin.is_some(),
                },
            ))
        }
        "extract" | "date_part" => {
            if name == "date_part" {
                arity(2, 3, "date_part('field', time_dimension [, 'Time/Zone'])")?;
            }
            let f = string(&args[0], &format!("the {name} field"), "'month'")?;
            let field = Field::parse(f).ok_or_else(|| {
                not_found(&format!("{name} field"), f, "", Field::NAMES).at(args[0].span)
            })?;
            let d = time_dim(binder, &args[1], name)?;
            let tz = args.get(2).map(zone).transpose()?;
            Ok((d, Bucket::Extract { field, tz }))
        }
        "floor" => {
            arity(1, 1, "floor(dimension / step)")?;
            let (x, step, step_text) = match &args[0].kind {
                ExprKind::Binary {
                    op: BinOp::Div,
                    left,
                    right,
                } => match &right.kind {
                    ExprKind::Number { value, text, .. } if *value > 0.0 && value.is_finite() => {
                        (left.as_ref(), *value, text.clone())
                    }
                    _ => {
                        return Err(type_err(format!(
                        "the block size of floor(x / step) must be a positive number, got {right}"
                    ))
                        .at(right.span))
                    }
                },
                _ => (&args[0], 1.0, "1".to_string()),
            };
            let d = numeric_dim(binder, x, "floor")?;
            Ok((d, Bucket::Floor { step, step_text }))
        }
        "coarsen" => {
            arity(2, 2, "coarsen(dimension, n)")?;
            let d = numeric_dim(binder, &args[0], "coarsen")?;
            let n = match &args[1].kind {
                ExprKind::Number {
                    value, int: true, ..
                } if *value >= 1.0 && *value < 1e9 => *value as usize,
                _ => {
                    return Err(type_err(format!(
                        "coarsen(x, n) needs a positive integer n, got {}",
                        args[1]
                    ))
                    .at(args[1].span))
                }
            };
            Ok((d, Bucket::Coarsen { n }))
        }
        _ => unreachable!("not a bucket function: {name}"),
    }
}

/// A string literal argument (`what` names it in errors, `like` is an example).
fn string<'e>(a: &'e Expr, what: &str, like: &str) -> Result<&'e str, QueryError> {
    match &a.kind {
        ExprKind::Str(s) => Ok(s),
        _ => Err(type_err(format!("{what} must be a string like {like}, got {a}")).at(a.span)),
    }
}

fn zone(a: &Expr) -> Result<Tz, QueryError> {
    let z = string(a, "the time zone", "'Europe/Amsterdam'")?;
    parse_tz(z).ok_or_else(|| {
        QueryError::unknown_name(format!("unknown time zone '{z}'"))
            .with_hint("use an IANA name like 'Europe/Amsterdam'")
            .at(a.span)
    })
}

/// The origin of a bin: a UTC instant, or with a zone a wall-clock reading there
/// (an origin with an offset is first turned into that zone's wall clock).
fn origin_of(a: &Expr, tz: Option<Tz>) -> Result<i64, QueryError> {
    let s = string(a, "the origin", "'2023-01-01T00:00:00Z'")?;
    let t = parse_instant(s).ok_or_else(|| {
        type_err(format!("the origin '{s}' is not an ISO-8601 timestamp")).at(a.span)
    })?;
    Ok(match tz {
        Some(tz) if has_offset(s) => DateTime::<Utc>::from_timestamp_nanos(t)
            .with_timezone(&tz)
            .naive_local()
            .and_utc()
            .timestamp_nanos_opt()
            .unwrap_or(t),
        _ => t,
    })
}

/// The dimension named by `a`, which `what` needs.
fn dim_of(binder: &Binder, a: &Expr, func: &str, needs: &str) -> Result<usize, QueryError> {
    let ExprKind::Ident(dn) = &a.kind else {
        return Err(QueryError::plan(format!("{func} needs {needs}, got {a}")).at(a.span));
    };
    match binder.resolve(dn).map_err(|err| err.at(a.span))? {
        Name::Dim(d) => Ok(d),
        Name::Attr(_) => Err(type_err(format!(
            "{func} needs {needs}; '{dn}' is an attribute (grouping by values is not supported)"
        ))
        .at(a.span)),
    }
}

fn time_dim(binder: &Binder, a: &Expr, func: &str) -> Result<usize, QueryError> {
    let d = dim_of(binder, a, func, "a time dimension")?;
    let dim = &binder.schema.dims[d];
    if !matches!(dim.coord, Coordinate::Time { .. }) {
        return Err(type_err(format!(
            "{func} needs a time dimension; '{}' has {} coordinates",
            dim.name,
            dim.coord.kind_name()
        ))
        .at(a.span));
    }
    Ok(d)
}

fn numeric_dim(binder: &Binder, a: &Expr, func: &str) -> Result<usize, QueryError> {
    let d = dim_of(binder, a, func, "a numeric dimension")?;
    let dim = &binder.schema.dims[d];
    let ok = match dim.coord {
        Coordinate::Regular { .. } | Coordinate::Labels { .. } => true,
        Coordinate::Time { .. } => func == "coarsen",
        Coordinate::TextLabels { .. } => false,
    };
    if !ok {
        return Err(type_err(format!(
            "{func} needs a numeric dimension; '{}' has {} coordinates{}",
            dim.name,
            dim.coord.kind_name(),
            if func == "floor" {
                " (bucket times with date_bin or date_trunc)"
            } else {
                ""
            }
        ))
        .at(a.span));
    }
    Ok(d)
}
