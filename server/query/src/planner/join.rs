//! Joins of two arrays on shared dimensions: `FROM a l JOIN b r ON l.lat = r.lat
//! AND extract(month FROM l.time) = r.month`. The result has the left side's
//! (selected) shape; each left cell meets the right cell whose coordinate on every
//! right dimension equals the value the ON clause pairs it with (a left coordinate,
//! or a calendar component of a left time coordinate), broadcasting over the left
//! dimensions the ON clause does not name. Missing matches are NaN.
//!
//! The right array's attributes become extra attributes of a joined schema (named
//! `r.attr`) whose slots the scan fills from the right array, read whole into
//! memory (see [`JoinSpec`]); the left side keeps its pushdown and layout choice.

use super::binder::Binder;
use super::bucket_map::bucket_value;
use super::buckets::{bucket_of, BUCKET_FUNCS};
use super::where_clause::conjuncts;
use crate::ast::*;
use crate::error::{not_found, QueryError};
use crate::logical::Bucket;
use crate::memory::{MemoryPool, MemoryReservation};
use crate::physical::NO_MATCH;
use arrayq_storage::{ArraySchema, Attribute, CoordValue, Coordinate, DType, Snapshot};
use std::collections::HashMap;

/// How the right side's cells are found for the left's: one key per right
/// dimension, the right values read when the query runs.
pub struct JoinSpec {
    pub right: Snapshot,
    /// How the query names each side (alias, else the array's name).
    pub left_name: String,
    pub right_name: String,
    pub left_array: String,
    /// Attribute `a >= nleft` of the joined schema is the right's attribute `a - nleft`.
    pub nleft: usize,
    pub keys: Vec<JoinKey>,
    /// The right attributes the query reads (set once its expressions are bound).
    pub used: Vec<bool>,
    /// The box of the right array read: the right cells the left's selection meets.
    pub rbox: arrayq_storage::Region,
    /// The values read, per right attribute (empty when unused; filled on first use),
    /// with the memory they hold.
    pub values: parking_lot::Mutex<Option<JoinValues>>,
}

/// The right side's values and their reservation of the query's memory.
pub type JoinValues = (std::sync::Arc<Vec<Vec<f64>>>, MemoryReservation);

/// A right dimension and the left dimension its index comes from.
pub struct JoinKey {
    pub right_dim: usize,
    pub left_dim: usize,
    /// A bucket of the left coordinate (`extract(month FROM time)`,
    /// `date_trunc('day', time)`, `floor(lat)`; else the coordinate itself).
    pub bucket: Option<Bucket>,
    /// Left index -> right index, or [`NO_MATCH`].
    pub map: Vec<usize>,
    /// The ON equality as written (for EXPLAIN).
    pub text: String,
}

impl JoinSpec {
    /// The ON keys, for EXPLAIN.
    pub fn describe(&self) -> String {
        let keys: Vec<&str> = self.keys.iter().map(|k| k.text.as_str()).collect();
        format!(
            "Join: {} {} with {} {} on {} (right cells held in memory; no match is NaN)",
            self.left_array,
            self.left_name,
            self.right.schema().name,
            self.right_name,
            keys.join(" AND ")
        )
    }

    /// The right's values of every attribute (as f64, NaN where missing), read on
    /// first use; what they take (and, while one is read, its stored type's copy)
    /// is charged to the query's memory bound and held as long as the plan is.
    pub fn values(
        &self,
        memory: &std::sync::Arc<MemoryPool>,
    ) -> Result<std::sync::Arc<Vec<Vec<f64>>>, QueryError> {
        let mut v = self.values.lock();
        if let Some((v, _)) = v.as_ref() {
            return Ok(v.clone());
        }
        let schema = self.right.schema();
        let region = &self.rbox;
        let n = region.len() as usize;
        let mut mem = memory.reservation("Join");
        let mut out = Vec::new();
        for (a, &used) in schema.attrs.iter().zip(&self.used) {
            if !used || n == 0 {
                out.push(Vec::new());
                continue;
            }
            let what = format!(
                "the right side '{}' held in memory: {n} cells of '{}' (read as stored, then as 8-byte values)",
                schema.name, a.name
            );
            let read = (n * a.dtype.size()) as u64;
            mem.try_grow(read + 8 * n as u64, &what)?;
            let b = self
                .right
                .read(&a.name, region)
                .map_err(QueryError::from_storage)?;
            out.push(crate::eval::Col::from_buffer(b).f64s(n));
            mem.shrink(read);
        }
        let out = std::sync::Arc::new(out);
        *v = Some((out.clone(), mem));
        Ok(out)
    }
}

impl JoinSpec {
    /// Marks the right attributes the scan's slots read (`attrs`: slot -> attribute
    /// of the joined schema) and the right box the left's selection (`left`: index
    /// ranges per left dimension) meets.
    pub fn set_used(&mut self, attrs: &[usize], left: &[std::ops::Range<u64>]) {
        for &a in attrs.iter().filter(|&&a| a >= self.nleft) {
            self.used[a - self.nleft] = true;
        }
        for k in &self.keys {
            let r = &left[k.left_dim];
            let hit = k.map[r.start as usize..r.end as usize]
                .iter()
                .filter(|&&m| m != NO_MATCH);
            let (lo, hi) = hit.fold((u64::MAX, 0), |(lo, hi), &m| {
                (lo.min(m as u64), hi.max(m as u64 + 1))
            });
            self.rbox.0[k.right_dim] = if lo < hi { lo..hi } else { 0..0 };
        }
    }
}

/// The right's values as the joined schema types them: f32 stays, the rest f64.
fn joined_dtype(d: DType) -> DType {
    match d {
        DType::F32 => DType::F32,
        _ => DType::F64,
    }
}

/// The left schema with the right's attributes appended as `r.attr`.
pub fn joined_schema(left: &ArraySchema, spec: &JoinSpec) -> ArraySchema {
    let mut s = left.clone();
    for a in &spec.right.schema().attrs {
        let mut a: Attribute = a.clone();
        a.name = format!("{}.{}", spec.right_name, a.name);
        a.dtype = joined_dtype(a.dtype);
        s.attrs.push(a);
    }
    s
}

/// What a name of the ON clause is.
enum Side {
    Left { dim: usize, bucket: Option<Bucket> },
    Right(usize),
}

struct Names<'a> {
    left: &'a ArraySchema,
    right: &'a ArraySchema,
    left_q: Vec<String>,
    right_q: Vec<String>,
}

impl Names<'_> {
    fn is_left(&self, q: &str) -> bool {
        self.left_q.iter().any(|n| n.eq_ignore_ascii_case(q))
    }
    fn is_right(&self, q: &str) -> bool {
        self.right_q.iter().any(|n| n.eq_ignore_ascii_case(q))
    }

    fn unknown_alias(&self, q: &str) -> QueryError {
        QueryError::unknown_name(format!(
            "unknown array or alias '{q}': the query reads {} and {}",
            describe_q(&self.left_q),
            describe_q(&self.right_q)
        ))
    }

    /// The ON side `e`: a dimension of one array, or a calendar field of a left time.
    fn side(&self, e: &Expr) -> Result<Side, QueryError> {
        match &e.kind {
            ExprKind::Ident(name) => {
                let (q, x) = split(name);
                let ldim = dim_of(self.left, x);
                let rdim = dim_of(self.right, x);
                let side = match q {
                    Some(q) if self.is_left(q) => ldim.map(|d| Side::Left { dim: d, bucket: None }),
                    Some(q) if self.is_right(q) => rdim.map(Side::Right),
                    Some(q) => return Err(self.unknown_alias(q).at(e.span)),
                    None => match (ldim, rdim) {
                        (Some(_), Some(_)) => {
                            return Err(QueryError::plan(format!(
                                "'{x}' is ambiguous: a dimension of both {} and {}; qualify it ({}.{x} or {}.{x})",
                                self.left.name, self.right.name, self.left_q[0], self.right_q[0]
                            ))
                            .at(e.span))
                        }
                        (Some(d), None) => Some(Side::Left { dim: d, bucket: None }),
                        (None, Some(d)) => Some(Side::Right(d)),
                        (None, None) => None,
                    },
                };
                side.ok_or_else(|| {
                    // Name the dimensions there are: a subquery's are its GROUP BY keys.
                    let s = match q {
                        Some(q) if self.is_right(q) => self.right,
                        _ => self.left,
                    };
                    let dims: Vec<&str> = s.dims.iter().map(|d| d.name.as_str()).collect();
                    QueryError::plan(format!(
                        "ON compares coordinates: '{name}' is not a dimension of {} (its dimensions: {})",
                        s.name,
                        dims.join(", ")
                    ))
                    .at(e.span)
                })
            }
            ExprKind::Func { name, args, .. } if BUCKET_FUNCS.contains(&name.as_str()) => {
                // The bucket functions of GROUP BY, over a left dimension.
                let mut args = args.clone();
                for a in &mut args {
                    self.left_names(a)?;
                }
                let binder = Binder {
                    schema: self.left,
                    attrs: Vec::new(),
                };
                let (dim, bucket) = bucket_of(&binder, name, &args).map_err(|err| err.at(e.span))?;
                if matches!(bucket, Bucket::Coarsen { .. }) {
                    return Err(QueryError::plan(
                        "coarsen(...) groups cells, not coordinates, so it cannot be a join key; use floor(x / step)",
                    )
                    .at(e.span));
                }
                Ok(Side::Left {
                    dim,
                    bucket: Some(bucket),
                })
            }
            _ => Err(QueryError::plan(
                "ON compares coordinates: a dimension of each array, or a bucket of a left dimension (extract(field FROM t), date_trunc('unit', t), date_bin, time_bucket, floor(x / step)), e.g. e.lat = c.lat",
            )
            .at(e.span)),
        }
    }

    /// Strips the left qualifier from the names in a computed key's argument (`e.time`
    /// -> `time`): a computed key is computed on the left.
    fn left_names(&self, e: &mut Expr) -> Result<(), QueryError> {
        walk(e, &mut |x: &mut Expr| {
            let ExprKind::Ident(name) = &x.kind else {
                return Ok(());
            };
            let (q, d) = split(name);
            match q {
                None => Ok(()),
                Some(q) if self.is_left(q) => {
                    x.kind = ExprKind::Ident(d.to_string());
                    Ok(())
                }
                Some(q) if self.is_right(q) => Err(QueryError::plan(
                    "a computed join key is computed on the left array's coordinates; compare the right's dimension as it is (e.g. extract(month FROM e.time) = c.month)",
                )
                .at(x.span)),
                Some(q) => Err(self.unknown_alias(q).at(x.span)),
            }
        })
    }
}

fn describe_q(q: &[String]) -> String {
    match q.len() {
        1 => q[0].clone(),
        _ => format!("{} (as {})", q[1], q[0]),
    }
}

/// `q.x` -> (Some(q), x); `x` -> (None, x).
fn split(name: &str) -> (Option<&str>, &str) {
    match name.rsplit_once('.') {
        Some((q, x)) => (Some(q), x),
        None => (None, name),
    }
}

fn dim_of(s: &ArraySchema, x: &str) -> Option<usize> {
    s.dims
        .iter()
        .position(|d| d.name == x)
        .or_else(|| s.dims.iter().position(|d| d.name.eq_ignore_ascii_case(x)))
}

fn attr_of(s: &ArraySchema, x: &str) -> Option<usize> {
    s.attrs
        .iter()
        .position(|a| a.name == x)
        .or_else(|| s.attrs.iter().position(|a| a.name.eq_ignore_ascii_case(x)))
}

/// Plans the join of `sel` (whose left array is `left`) with `right`, and rewrites
/// the query's names onto the joined schema.
pub fn plan_join(
    left: &ArraySchema,
    right: Snapshot,
    sel: &Select,
    join: &Join,
) -> Result<(JoinSpec, Select), QueryError> {
    let rs = right.schema().clone();
    let mut left_q = vec![left.name.clone()];
    if let Some(a) = &join.left_alias {
        left_q.insert(0, a.value.clone());
    }
    let mut right_q = vec![rs.name.clone()];
    if let Some(a) = &join.right_alias {
        right_q.insert(0, a.value.clone());
    }
    if left_q[0].eq_ignore_ascii_case(&right_q[0]) {
        return Err(QueryError::plan(format!(
            "both sides of the join are named '{}': give them different aliases",
            left_q[0]
        ))
        .at(join
            .right_alias
            .as_ref()
            .map_or(join.right.span, |a| a.span)));
    }
    let names = Names {
        left,
        right: &rs,
        left_q,
        right_q,
    };
    // ON: one key per right dimension.
    let mut parts = Vec::new();
    conjuncts(&join.on, &mut parts);
    let mut keys: Vec<JoinKey> = Vec::new();
    for c in parts {
        let ExprKind::Binary {
            op: BinOp::Eq,
            left: a,
            right: b,
        } = &c.kind
        else {
            return Err(QueryError::plan(
                "ON is equalities of coordinates joined by AND, e.g. e.lat = c.lat AND e.lon = c.lon",
            )
            .at(c.span));
        };
        let (l, r) =
            match (names.side(a)?, names.side(b)?) {
                (l @ Side::Left { .. }, Side::Right(r))
                | (Side::Right(r), l @ Side::Left { .. }) => (l, r),
                _ => return Err(QueryError::plan(
                    "each ON equality pairs a dimension of the left array with one of the right",
                )
                .at(c.span)),
            };
        let Side::Left { dim, bucket } = l else {
            unreachable!()
        };
        if keys.iter().any(|k| k.right_dim == r) {
            return Err(QueryError::plan(format!(
                "dimension '{}' of {} is matched twice in ON",
                rs.dims[r].name, rs.name
            ))
            .at(c.span));
        }
        let map = key_map(left, dim, bucket.as_ref(), &rs, r).map_err(|e| e.at(c.span))?;
        keys.push(JoinKey {
            right_dim: r,
            left_dim: dim,
            bucket,
            map,
            text: c.to_string(),
        });
    }
    // Every right dimension is matched (a dimension of one coordinate need not be).
    for (r, d) in rs.dims.iter().enumerate() {
        if !keys.iter().any(|k| k.right_dim == r) {
            if d.len == 1 {
                keys.push(JoinKey {
                    right_dim: r,
                    left_dim: 0,
                    bucket: None,
                    map: vec![0; left.dims[0].len as usize],
                    text: format!("{}.{} (one coordinate)", names.right_q[0], d.name),
                });
                continue;
            }
            return Err(QueryError::plan(format!(
                "dimension '{}' of {} is not matched: ON must pair every dimension of the right array with a left coordinate (e.g. {}.{} = {}.{})",
                d.name, rs.name, names.left_q[0], d.name, names.right_q[0], d.name
            ))
            .at(join.on.span));
        }
    }
    let spec = JoinSpec {
        left_name: names.left_q[0].clone(),
        left_array: left.name.clone(),
        right_name: names.right_q[0].clone(),
        nleft: left.attrs.len(),
        keys,
        used: vec![false; rs.attrs.len()],
        rbox: arrayq_storage::Region(rs.dims.iter().map(|d| 0..d.len).collect()),
        values: parking_lot::Mutex::new(None),
        right,
    };
    let sel = rewrite_select(sel, &names, &spec)?;
    Ok((spec, sel))
}

/// Left index -> right index along the right dimension `r`, for the value the left
/// dimension `d` gives (its coordinate, or its `bucket`).
fn key_map(
    left: &ArraySchema,
    d: usize,
    bucket: Option<&Bucket>,
    right: &ArraySchema,
    r: usize,
) -> Result<Vec<usize>, QueryError> {
    let lc = &left.dims[d].coord;
    let rd = &right.dims[r];
    let n = left.dims[d].len;
    let values: Vec<CoordValue> = (0..n)
        .map(|i| match bucket {
            Some(b) => bucket_value(b, lc, i).unwrap_or(CoordValue::Number(f64::NAN)),
            None => lc.value(i),
        })
        .collect();
    let mismatch = || {
        QueryError::type_error(format!(
            "ON compares a {} with dimension '{}' of {}, which has {} coordinates",
            match bucket {
                Some(b) => b.text(&left.dims[d].name),
                None => format!("{} coordinate", lc.kind_name()),
            },
            rd.name,
            right.name,
            rd.coord.kind_name()
        ))
    };
    let len = rd.len;
    let map = match &rd.coord {
        Coordinate::Regular { start, step } => {
            let mut out = Vec::with_capacity(n as usize);
            for v in &values {
                let x = match v {
                    CoordValue::Number(x) => *x,
                    CoordValue::Label(i) => *i as f64,
                    _ => return Err(mismatch()),
                };
                let j = ((x - start) / step).round();
                let ok = j >= 0.0
                    && (j as u64) < len
                    && (start + j * step - x).abs() <= 1e-6 * step.abs().max(1e-12);
                out.push(if ok { j as usize } else { NO_MATCH });
            }
            out
        }
        Coordinate::Time { start_ns, step_ns } => {
            let mut out = Vec::with_capacity(n as usize);
            for v in &values {
                let CoordValue::Time(t) = v else {
                    return Err(mismatch());
                };
                let off = t - start_ns;
                let ok = *step_ns != 0
                    && off % step_ns == 0
                    && (0..len as i64).contains(&(off / step_ns));
                out.push(if ok {
                    (off / step_ns) as usize
                } else {
                    NO_MATCH
                });
            }
            out
        }
        Coordinate::Labels { .. } | Coordinate::TextLabels { .. } => {
            let mut index: HashMap<String, usize> = HashMap::new();
            for j in 0..len {
                index.insert(label_key(&rd.coord.value(j)), j as usize);
            }
            let mut out = Vec::with_capacity(n as usize);
            for v in &values {
                let text = matches!(rd.coord, Coordinate::TextLabels { .. });
                let key = match (v, text) {
                    (CoordValue::Text(_), true) => label_key(v),
                    (CoordValue::Label(_), false) => label_key(v),
                    (CoordValue::Number(x), false) if x.fract() == 0.0 => {
                        label_key(&CoordValue::Label(*x as i64))
                    }
                    (CoordValue::Number(_), false) => String::new(),
                    _ => return Err(mismatch()),
                };
                out.push(index.get(&key).copied().unwrap_or(NO_MATCH));
            }
            out
        }
    };
    Ok(map)
}

fn label_key(v: &CoordValue) -> String {
    match v {
        CoordValue::Label(i) => format!("i{i}"),
        CoordValue::Text(s) => format!("t{s}"),
        other => format!("n{}", other.as_f64()),
    }
}

/// `sel` with names on the joined schema: `l.x` -> `x`, `r.attr` -> the joined
/// attribute `r.attr`, `r.dim` (matched to a left coordinate) -> the left dimension.
fn rewrite_select(sel: &Select, names: &Names, spec: &JoinSpec) -> Result<Select, QueryError> {
    let mut out = sel.clone();
    rewrite_all(&mut out, &mut |e: &mut Expr| rename(e, names, spec))?;
    Ok(out)
}

fn rename(e: &mut Expr, names: &Names, spec: &JoinSpec) -> Result<(), QueryError> {
    let ExprKind::Ident(name) = &e.kind else {
        return Ok(());
    };
    let (q, x) = split(name);
    let (l, r) = (names.left, names.right);
    let right_attr = |a: usize| format!("{}.{}", spec.right_name, r.attrs[a].name);
    let new = match q {
        Some(q) if names.is_left(q) => x.to_string(),
        Some(q) if names.is_right(q) => {
            if let Some(a) = attr_of(r, x) {
                right_attr(a)
            } else if let Some(d) = dim_of(r, x) {
                match spec.keys.iter().find(|k| k.right_dim == d) {
                    Some(k) if k.bucket.is_none() => l.dims[k.left_dim].name.clone(),
                    _ => {
                        return Err(QueryError::plan(format!(
                            "dimension '{x}' of {} is not a coordinate of the result (the result has the left array's dimensions)",
                            r.name
                        ))
                        .at(e.span))
                    }
                }
            } else {
                let all = r
                    .attrs
                    .iter()
                    .map(|a| a.name.as_str())
                    .chain(r.dims.iter().map(|d| d.name.as_str()));
                return Err(not_found(
                    "attribute or dimension",
                    x,
                    &format!(" in array '{}'", r.name),
                    all,
                )
                .at(e.span));
            }
        }
        Some(q) => return Err(names.unknown_alias(q).at(e.span)),
        None => {
            let in_left = attr_of(l, x).is_some() || dim_of(l, x).is_some();
            match attr_of(r, x) {
                Some(a) if attr_of(l, x).is_some() => {
                    return Err(QueryError::plan(format!(
                        "'{x}' is ambiguous: an attribute of both {} and {}; write {}.{x} or {}",
                        l.name,
                        r.name,
                        names.left_q[0],
                        right_attr(a)
                    ))
                    .at(e.span))
                }
                Some(a) if !in_left => right_attr(a),
                _ => return Ok(()),
            }
        }
    };
    e.kind = ExprKind::Ident(new);
    Ok(())
}

/// Strips qualifiers of a query over one array (`era5.t2m` -> `t2m`).
pub fn unqualify(sel: &Select) -> Select {
    let mut out = sel.clone();
    let f = &mut |e: &mut Expr| -> Result<(), QueryError> {
        if let ExprKind::Ident(name) = &e.kind {
            if let (Some(_), x) = split(name) {
                e.kind = ExprKind::Ident(x.to_string());
            }
        }
        Ok(())
    };
    let _ = rewrite_all(&mut out, f);
    out
}

fn rewrite_all(
    out: &mut Select,
    f: &mut dyn FnMut(&mut Expr) -> Result<(), QueryError>,
) -> Result<(), QueryError> {
    for it in &mut out.items {
        if let SelectItem::Expr { expr, .. } = it {
            walk(expr, f)?;
        }
    }
    if let Some(w) = &mut out.filter {
        walk(w, f)?;
    }
    for g in &mut out.group_by {
        walk(g, f)?;
    }
    if let Some(h) = &mut out.having {
        walk(h, f)?;
    }
    for k in &mut out.order.keys {
        walk(&mut k.expr, f)?;
    }
    Ok(())
}

/// Applies `f` to every sub-expression of `e` (children first).
fn walk(
    e: &mut Expr,
    f: &mut dyn FnMut(&mut Expr) -> Result<(), QueryError>,
) -> Result<(), QueryError> {
    match &mut e.kind {
        ExprKind::Ident(_) | ExprKind::Number { .. } | ExprKind::Str(_) | ExprKind::Bool(_) => {}
        ExprKind::Unary { expr, .. } | ExprKind::Cast { expr, .. } => walk(expr, f)?,
        ExprKind::Binary { left, right, .. } => {
            walk(left, f)?;
            walk(right, f)?;
        }
        ExprKind::Between {
            expr, low, high, ..
        } => {
            walk(expr, f)?;
            walk(low, f)?;
            walk(high, f)?;
        }
        ExprKind::InList { expr, list, .. } => {
            walk(expr, f)?;
            for x in list {
                walk(x, f)?;
            }
        }
        ExprKind::Func { args, .. } => {
            for x in args {
                walk(x, f)?;
            }
        }
        ExprKind::Case {
            operand,
            whens,
            otherwise,
        } => {
            if let Some(o) = operand {
                walk(o, f)?;
            }
            for (c, v) in whens {
                walk(c, f)?;
                walk(v, f)?;
            }
            if let Some(o) = otherwise {
                walk(o, f)?;
            }
        }
        ExprKind::Window(w) => walk(&mut w.func, f)?,
    }
    f(e)
}
