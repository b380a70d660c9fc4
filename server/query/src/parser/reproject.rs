//! `reproject(array, name => value, ...)` in FROM: the source array and the named
//! arguments, checked for names and literal types here (their meaning is the
//! planner's).

use super::convert::Converter;
use super::*;

impl Converter {
    pub(super) fn reproject(
        &self,
        call: Span,
        args: sq::TableFunctionArgs,
    ) -> Result<(Name, Reproject), QueryError> {
        let mut r = Reproject {
            span: call,
            ..Reproject::default()
        };
        let mut source = None;
        for arg in args.args {
            match arg {
                sq::FunctionArg::Unnamed(sq::FunctionArgExpr::Expr(e)) if source.is_none() => {
                    let at = span_of(e.span());
                    source = Some(match e {
                        sq::Expr::Identifier(i) => Name {
                            value: i.value,
                            span: at,
                        },
                        _ => {
                            return Err(QueryError::plan(
                                "reproject(...) takes the array's name first, e.g. reproject(era5, crs => 'EPSG:3035', resolution => 10000)",
                            )
                            .at(at))
                        }
                    });
                }
                sq::FunctionArg::Named {
                    name,
                    arg: sq::FunctionArgExpr::Expr(e),
                    ..
                } => self.reproject_arg(&mut r, name, e)?,
                other => {
                    return Err(QueryError::plan(format!(
                        "reproject(...) takes the array first, then named arguments (name => value), not '{other}'"
                    ))
                    .at(span_of(other.span())))
                }
            }
        }
        let source = source.ok_or_else(|| {
            QueryError::plan("reproject(...) needs the array to read as its first argument")
                .at(call)
        })?;
        if r.crs.is_none() {
            return Err(QueryError::plan(
                "reproject(...) needs the target CRS: crs => '+proj=...' or 'EPSG:nnnn'",
            )
            .at(call));
        }
        if r.resolution.is_none() && r.like.is_none() {
            return Err(QueryError::plan(
                "reproject(...) needs the target grid: resolution => metres (with optional bounds => (xmin, ymin, xmax, ymax)) or like => other_array",
            )
            .at(call));
        }
        Ok((source, r))
    }

    fn reproject_arg(
        &self,
        r: &mut Reproject,
        name: sq::Ident,
        e: sq::Expr,
    ) -> Result<(), QueryError> {
        let at = self.parenthesised(span_of(e.span()));
        let key = name.value.to_ascii_lowercase();
        let dup = || QueryError::plan(format!("reproject argument '{key}' given twice")).at(at);
        match key.as_str() {
            "crs" | "src_crs" | "method" => {
                let v = (string(&e, &key, at)?, at);
                let slot = match key.as_str() {
                    "crs" => &mut r.crs,
                    "src_crs" => &mut r.src_crs,
                    _ => &mut r.method,
                };
                if slot.replace(v).is_some() {
                    return Err(dup());
                }
            }
            "resolution" => {
                if r.resolution.replace((number(&e, &key, at)?, at)).is_some() {
                    return Err(dup());
                }
            }
            "bounds" => {
                let items = tuple(&e, 4, "bounds => (xmin, ymin, xmax, ymax)", at)?;
                let mut b = [0.0; 4];
                for (k, item) in items.iter().enumerate() {
                    b[k] = number(item, "bounds", at)?;
                }
                if r.bounds.replace((b, at)).is_some() {
                    return Err(dup());
                }
            }
            "dims" => {
                let items = tuple(&e, 2, "dims => ('y_dim', 'x_dim')", at)?;
                let d = [string(&items[0], "dims", at)?, string(&items[1], "dims", at)?];
                if r.dims.replace((d, at)).is_some() {
                    return Err(dup());
                }
            }
            "like" => match e {
                sq::Expr::Identifier(i) => {
                    let n = Name {
                        value: i.value,
                        span: at,
                    };
                    if r.like.replace(n).is_some() {
                        return Err(dup());
                    }
                }
                _ => {
                    return Err(
                        QueryError::plan("like => takes an array name, e.g. like => grid10km")
                            .at(at),
                    )
                }
            },
            _ => {
                return Err(QueryError::plan(format!(
                    "unknown reproject argument '{}' (expected crs, resolution, bounds, method, src_crs, dims or like)",
                    name.value
                ))
                .at(span_of(name.span)))
            }
        }
        Ok(())
    }
}

fn string(e: &sq::Expr, key: &str, at: Span) -> Result<String, QueryError> {
    match e {
        sq::Expr::Value(v) => {
            if let sq::Value::SingleQuotedString(s) = &v.value {
                return Ok(s.clone());
            }
        }
        sq::Expr::Identifier(i) if key == "dims" => return Ok(i.value.clone()),
        _ => {}
    }
    Err(QueryError::type_error(format!(
        "reproject argument '{key}' takes a string, e.g. '{}'",
        example(key)
    ))
    .at(at))
}

fn example(key: &str) -> &'static str {
    match key {
        "crs" | "src_crs" => "+proj=tmerc +lon_0=15",
        "method" => "bilinear",
        _ => "lat",
    }
}

fn number(e: &sq::Expr, key: &str, at: Span) -> Result<f64, QueryError> {
    let bad = || {
        QueryError::type_error(format!(
            "reproject argument '{key}' takes numbers, not '{e}'"
        ))
        .at(at)
    };
    match e {
        sq::Expr::Value(v) => match &v.value {
            sq::Value::Number(s, _) => s.parse().map_err(|_| bad()),
            _ => Err(bad()),
        },
        sq::Expr::UnaryOp {
            op: sq::UnaryOperator::Minus,
            expr,
        } => number(expr, key, at).map(|v| -v),
        sq::Expr::UnaryOp {
            op: sq::UnaryOperator::Plus,
            expr,
        } => number(expr, key, at),
        sq::Expr::Nested(inner) => number(inner, key, at),
        _ => Err(bad()),
    }
}

fn tuple<'a>(
    e: &'a sq::Expr,
    n: usize,
    form: &str,
    at: Span,
) -> Result<&'a [sq::Expr], QueryError> {
    match e {
        sq::Expr::Tuple(items) if items.len() == n => Ok(items),
        _ => Err(QueryError::plan(format!("expected {form}")).at(at)),
    }
}
