//! Planning: binds names and types, turns the WHERE clause into a hyperslab (plus
//! label picks) pushed into storage, resolves GROUP BY keys (dimensions, calendar
//! buckets) and chooses the layout with the fewest bytes to read.

use crate::ast::*;
use crate::error::{not_found, QueryError};
use crate::eval::{EType, Func, Lit, PExpr};
use crate::timeutil::{date_trunc, format_instant, parse_instant, parse_tz, TruncUnit};
use crate::{CoordValues, ResultHeader};
use arrayq_storage::{ArraySchema, Coordinate, DType, LayoutCost, Region, Snapshot};
use chrono_tz::Tz;
use std::collections::BTreeSet;
use std::ops::Range;

/// Marks an index that is not selected (label picks) in index maps.
pub const SKIP: u32 = u32::MAX;

/// What the query selects along one dimension.
#[derive(Clone, Debug)]
pub struct DimSel {
    /// Bounding index range read from storage.
    pub range: Range<u64>,
    /// Selected absolute indices within `range` (ascending) when not all of it.
    pub picks: Option<Vec<u64>>,
    /// Selected by `=`: the dimension is dropped from element-wise results.
    pub squeeze: bool,
}

impl DimSel {
    pub fn count(&self) -> usize {
        match &self.picks {
            Some(p) => p.len(),
            None => (self.range.end - self.range.start) as usize,
        }
    }

    /// Selected absolute indices.
    pub fn indices(&self) -> Vec<u64> {
        match &self.picks {
            Some(p) => p.clone(),
            None => self.range.clone().collect(),
        }
    }

    /// For every index of `range` (relative), its position among the selected ones.
    pub fn positions(&self) -> Vec<u32> {
        match &self.picks {
            None => (0..self.range.end - self.range.start)
                .map(|i| i as u32)
                .collect(),
            Some(p) => {
                let mut m = vec![SKIP; (self.range.end - self.range.start) as usize];
                for (k, &i) in p.iter().enumerate() {
                    m[(i - self.range.start) as usize] = k as u32;
                }
                m
            }
        }
    }
}

/// A calendar bucket: unit and optional time zone.
pub type Trunc = (TruncUnit, Option<Tz>);

/// One kept dimension of an aggregate result.
#[derive(Clone, Debug)]
pub struct GroupKey {
    pub dim: usize,
    pub name: String,
    pub trunc: Option<(TruncUnit, Option<Tz>)>,
    /// Region-relative index -> group position (or [`SKIP`]).
    pub map: Vec<u32>,
    pub len: usize,
    pub coords: CoordValues,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    VarPop,
    VarSamp,
    StdPop,
    StdSamp,
}

impl AggFunc {
    pub fn parse(name: &str) -> Option<AggFunc> {
        Some(match name {
            "count" => AggFunc::Count,
            "sum" => AggFunc::Sum,
            "avg" | "mean" => AggFunc::Avg,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "var_pop" => AggFunc::VarPop,
            "variance" | "var_samp" | "var" => AggFunc::VarSamp,
            "stddev_pop" => AggFunc::StdPop,
            "stddev" | "stddev_samp" | "std" => AggFunc::StdSamp,
            _ => return None,
        })
    }

    pub const NAMES: [&'static str; 14] = [
        "count",
        "sum",
        "avg",
        "mean",
        "min",
        "max",
        "var_pop",
        "variance",
        "var_samp",
        "var",
        "stddev_pop",
        "stddev",
        "stddev_samp",
        "std",
    ];
}

/// An aggregate input expression with the statistics it needs.
#[derive(Clone, Debug)]
pub struct AggInput {
    pub expr: PExpr,
    pub text: String,
    /// Which statistics the calls on this input need (a count is always kept).
    pub sum: bool,
    pub min: bool,
    pub max: bool,
    pub var: bool,
}

#[derive(Clone, Debug)]
pub struct AggCall {
    pub func: AggFunc,
    pub input: usize,
}

#[derive(Clone, Debug)]
pub enum Kind {
    /// Element-wise: one expression per output column over the selected cells.
    Project { cols: Vec<PExpr> },
    /// Partial aggregates per chunk, merged; `outputs` read the calls as slots.
    Aggregate {
        inputs: Vec<AggInput>,
        calls: Vec<AggCall>,
        outputs: Vec<PExpr>,
        groups: Vec<GroupKey>,
    },
}

/// Why the plan reads the layout it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutWhy {
    /// Named by the query: `FROM a WITH (layout = 'x')`.
    Forced,
    /// Nothing is read.
    Empty,
    /// The least estimated bytes (ties: fewer chunks, then the primary).
    LeastBytes,
    /// Within [`NEAR_BYTES`] of the least estimated bytes, with smaller chunks.
    SmallerChunks,
}

/// Layouts whose estimated bytes are within this fraction of the least count as
/// equally cheap to fetch and decode; among them the planner takes the one with the
/// smallest chunks (decoded size), which decode into cache, spread more evenly over
/// the workers and stream in smaller slabs (a full scan reads as many bytes through
/// map tiles as through year-long pencils, but a pencil decodes to 2.2 MB).
pub const NEAR_BYTES: f64 = 0.1;

/// The layout to read: the least estimated bytes, unless another is within
/// [`NEAR_BYTES`] of it with smaller chunks.
fn choose_layout(candidates: &[LayoutCost]) -> (usize, LayoutWhy) {
    let Some(least) = candidates
        .iter()
        .min_by_key(|c| (c.est_bytes, c.chunks, c.layout))
    else {
        return (0, LayoutWhy::Empty);
    };
    let limit = least.est_bytes as f64 * (1.0 + NEAR_BYTES);
    let cells = |c: &LayoutCost| c.chunk_shape.iter().product::<u64>();
    let best = candidates
        .iter()
        .filter(|c| c.est_bytes as f64 <= limit)
        .min_by_key(|c| (cells(c), c.est_bytes, c.chunks, c.layout))
        .unwrap_or(least);
    if best.layout == least.layout || cells(best) == cells(least) {
        (least.layout, LayoutWhy::LeastBytes)
    } else {
        (best.layout, LayoutWhy::SmallerChunks)
    }
}

/// A planned query, ready for execution.
pub struct Plan {
    pub snap: Snapshot,
    pub dims: Vec<DimSel>,
    pub region: Region,
    pub empty: bool,
    /// Slot -> attribute index.
    pub attrs: Vec<usize>,
    pub kind: Kind,
    pub header: ResultHeader,
    pub col_dtypes: Vec<DType>,
    pub col_texts: Vec<String>,
    pub layout: usize,
    pub layout_why: LayoutWhy,
    pub candidates: Vec<LayoutCost>,
    pub filters: Vec<String>,
    pub result_bytes: u64,
    pub state_bytes: u64,
}

impl Plan {
    pub fn coords(&self) -> Vec<Coordinate> {
        self.snap
            .schema()
            .dims
            .iter()
            .map(|d| d.coord.clone())
            .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum CLit {
    Num(f64),
    Time(i64),
    Label(i64),
}

impl std::fmt::Display for CLit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CLit::Num(v) => write!(f, "{v}"),
            CLit::Time(t) => write!(f, "'{}'", format_instant(*t)),
            CLit::Label(l) => write!(f, "{l}"),
        }
    }
}

enum Constraint {
    Eq(CLit),
    Lo(CLit, bool),
    Hi(CLit, bool),
    In(Vec<CLit>),
    NotIn(Vec<CLit>),
}

struct Binder<'a> {
    schema: &'a ArraySchema,
    /// Slot -> attribute index.
    attrs: Vec<usize>,
}

enum Name {
    Attr(usize),
    Dim(usize),
}

impl Binder<'_> {
    fn resolve(&self, name: &str) -> Result<Name, QueryError> {
        let s = self.schema;
        if let Some(i) = s.attrs.iter().position(|a| a.name == name) {
            return Ok(Name::Attr(i));
        }
        if let Some(i) = s.dims.iter().position(|d| d.name == name) {
            return Ok(Name::Dim(i));
        }
        let ci_a: Vec<usize> = (0..s.attrs.len())
            .filter(|&i| s.attrs[i].name.eq_ignore_ascii_case(name))
            .collect();
        let ci_d: Vec<usize> = (0..s.dims.len())
            .filter(|&i| s.dims[i].name.eq_ignore_ascii_case(name))
            .collect();
        match (ci_a.len(), ci_d.len()) {
            (1, 0) => return Ok(Name::Attr(ci_a[0])),
            (0, 1) => return Ok(Name::Dim(ci_d[0])),
            _ => {}
        }
        let all: Vec<&str> = s
            .attrs
            .iter()
            .map(|a| a.name.as_str())
            .chain(s.dims.iter().map(|d| d.name.as_str()))
            .collect();
        Err(not_found(
            "attribute or dimension",
            name,
            &format!(" in array '{}'", s.name),
            all,
        ))
    }

    fn slot(&mut self, attr: usize) -> usize {
        match self.attrs.iter().position(|&a| a == attr) {
            Some(k) => k,
            None => {
                self.attrs.push(attr);
                self.attrs.len() - 1
            }
        }
    }
}

fn type_err(m: impl Into<String>) -> QueryError {
    QueryError::type_error(m)
}

/// The common operand type of two numeric expressions; weak literals adopt the
/// other side's type (so `t2m - 273.15` stays f32, as in numpy).
fn unify(l: &PExpr, r: &PExpr) -> EType {
    let (lt, rt) = (l.ty(), r.ty());
    let weak = |e: &PExpr| matches!(e, PExpr::Lit { weak: true, .. });
    match (weak(l), weak(r)) {
        (true, false) => adopt(lt, rt),
        (false, true) => adopt(rt, lt),
        _ => {
            if (lt == EType::I64 && rt == EType::F32) || (lt == EType::F32 && rt == EType::I64) {
                EType::F64
            } else {
                lt.max(rt)
            }
        }
    }
}

fn adopt(lit: EType, other: EType) -> EType {
    if other.is_float() {
        other
    } else if lit == EType::F64 {
        EType::F64
    } else {
        other.max(EType::I64)
    }
}

/// Binding mode: scans see attributes and coordinates; final expressions of an
/// aggregate query see aggregate calls only.
enum Mode<'m> {
    Scan,
    Final {
        inputs: &'m mut Vec<AggInput>,
        calls: &'m mut Vec<AggCall>,
        call_keys: &'m mut Vec<String>,
    },
}

impl Binder<'_> {
    /// Binds `e`; errors point at `e` unless a part of it knows better.
    fn bind(&mut self, e: &Expr, mode: &mut Mode) -> Result<PExpr, QueryError> {
        self.bind_kind(e, mode).map_err(|err| err.at(e.span))
    }

    fn bind_kind(&mut self, e: &Expr, mode: &mut Mode) -> Result<PExpr, QueryError> {
        Ok(match &e.kind {
            ExprKind::Ident(name) => match self.resolve(name)? {
                Name::Attr(a) => {
                    if matches!(mode, Mode::Final { .. }) {
                        return Err(QueryError::plan(format!(
                            "attribute '{name}' must be inside an aggregate (e.g. avg({name})) in an aggregate query"
                        )));
                    }
                    let ty = EType::of(self.schema.attrs[a].dtype);
                    PExpr::Slot { k: self.slot(a), ty }
                }
                Name::Dim(d) => {
                    if matches!(mode, Mode::Final { .. }) {
                        return Err(QueryError::plan(format!(
                            "dimension '{name}' is not a value of an aggregate query; list it in GROUP BY to keep it"
                        )));
                    }
                    let ty = match self.schema.dims[d].coord {
                        Coordinate::Regular { .. } => EType::F64,
                        _ => EType::I64,
                    };
                    PExpr::Coord { dim: d, ty }
                }
            },
            ExprKind::Number { value, int, text } => {
                if *int && value.abs() < 9.0e15 {
                    PExpr::Lit { v: Lit::I(*value as i64), weak: true }
                } else if value.is_finite() {
                    PExpr::Lit { v: Lit::F(*value), weak: true }
                } else {
                    return Err(type_err(format!("number '{text}' is out of range")));
                }
            }
            ExprKind::Bool(b) => PExpr::Lit { v: Lit::B(*b), weak: false },
            ExprKind::Str(s) => {
                return Err(type_err(format!(
                    "the string '{s}' is not a value here: strings are only coordinates in WHERE (timestamps) or arguments of date_trunc"
                )))
            }
            ExprKind::Unary { op, expr } => {
                let x = self.bind(expr, mode)?;
                match op {
                    UnOp::Neg => {
                        if !x.ty().is_numeric() {
                            return Err(type_err(format!("cannot negate the bool expression {expr}")));
                        }
                        let ty = x.ty();
                        PExpr::Unary { op: *op, e: Box::new(x), ty }
                    }
                    UnOp::Not => {
                        if x.ty() != EType::Bool {
                            return Err(type_err(format!("NOT needs a bool, {expr} is {}", x.ty().name())));
                        }
                        PExpr::Unary { op: *op, e: Box::new(x), ty: EType::Bool }
                    }
                }
            }
            ExprKind::Binary { op, left, right } => {
                // A string compared with a time coordinate is a timestamp.
                let (l, r) = (self.bind_operand(left, right, mode)?, self.bind_operand(right, left, mode)?);
                self.binary(*op, l, r, left, right)?
            }
            ExprKind::Between { expr, low, high, negated } => {
                let x = self.bind(expr, mode)?;
                let lo = self.bind_operand(low, expr, mode)?;
                let hi = self.bind_operand(high, expr, mode)?;
                let a = self.binary(BinOp::GtEq, x.clone(), lo, expr, low)?;
                let b = self.binary(BinOp::LtEq, x, hi, expr, high)?;
                let both = PExpr::Binary { op: BinOp::And, l: Box::new(a), r: Box::new(b), opty: EType::Bool, ty: EType::Bool };
                if *negated {
                    PExpr::Unary { op: UnOp::Not, e: Box::new(both), ty: EType::Bool }
                } else {
                    both
                }
            }
            ExprKind::InList { expr, list, negated } => {
                let x = self.bind(expr, mode)?;
                let mut acc: Option<PExpr> = None;
                for item in list {
                    let v = self.bind_operand(item, expr, mode)?;
                    let eq = self.binary(BinOp::Eq, x.clone(), v, expr, item)?;
                    acc = Some(match acc {
                        None => eq,
                        Some(a) => PExpr::Binary { op: BinOp::Or, l: Box::new(a), r: Box::new(eq), opty: EType::Bool, ty: EType::Bool },
                    });
                }
                let acc = acc.unwrap_or(PExpr::Lit { v: Lit::B(false), weak: false });
                if *negated {
                    PExpr::Unary { op: UnOp::Not, e: Box::new(acc), ty: EType::Bool }
                } else {
                    acc
                }
            }
            ExprKind::Func { name, args, star } => self.bind_func(name, args, *star, e, mode)?,
            ExprKind::Case { operand, whens, otherwise } => {
                let mut bw = Vec::new();
                for (w, t) in whens {
                    let cond = match operand {
                        Some(o) => {
                            let l = self.bind(o, mode)?;
                            let r = self.bind_operand(w, o, mode)?;
                            self.binary(BinOp::Eq, l, r, o, w)?
                        }
                        None => self.bind(w, mode)?,
                    };
                    if cond.ty() != EType::Bool {
                        return Err(type_err(format!("CASE WHEN needs a bool condition, {w} is {}", cond.ty().name())));
                    }
                    bw.push((cond, self.bind(t, mode)?));
                }
                let other = otherwise.as_ref().map(|o| self.bind(o, mode)).transpose()?;
                let mut ty: Option<PExpr> = None;
                for v in bw.iter().map(|(_, v)| v).chain(other.iter()) {
                    ty = Some(match ty {
                        None => v.clone(),
                        Some(t) => {
                            if (t.ty() == EType::Bool) != (v.ty() == EType::Bool) {
                                return Err(type_err("CASE branches mix bool and numeric values"));
                            }
                            let u = unify(&t, v);
                            if t.is_lit() && v.is_lit() {
                                PExpr::Lit { v: if u == EType::F64 { Lit::F(0.0) } else { Lit::I(0) }, weak: true }
                            } else {
                                PExpr::Slot { k: 0, ty: u }
                            }
                        }
                    });
                }
                let mut ty = ty.map(|t| t.ty()).unwrap_or(EType::F64);
                let otherwise = match other {
                    Some(o) => o,
                    None => {
                        if ty == EType::I64 {
                            ty = EType::F64;
                        }
                        if ty == EType::Bool {
                            PExpr::Lit { v: Lit::B(false), weak: false }
                        } else {
                            PExpr::Lit { v: Lit::F(f64::NAN), weak: true }
                        }
                    }
                };
                PExpr::Case { whens: bw, otherwise: Some(Box::new(otherwise)), ty }
            }
            ExprKind::Cast { expr, dtype } => {
                let x = self.bind(expr, mode)?;
                PExpr::Cast { e: Box::new(x), to: *dtype, ty: EType::of(*dtype) }
            }
        })
    }

    /// Binds `e`; a string literal facing a time coordinate becomes its instant (ns).
    fn bind_operand(
        &mut self,
        e: &Expr,
        other: &Expr,
        mode: &mut Mode,
    ) -> Result<PExpr, QueryError> {
        if let (ExprKind::Str(s), ExprKind::Ident(name)) = (&e.kind, &other.kind) {
            if let Ok(Name::Dim(d)) = self.resolve(name) {
                if matches!(self.schema.dims[d].coord, Coordinate::Time { .. }) {
                    let t = parse_instant(s).ok_or_else(|| {
                        type_err(format!(
                            "'{s}' is not an ISO-8601 timestamp (compared with '{name}')"
                        ))
                        .at(e.span)
                    })?;
                    return Ok(PExpr::Lit {
                        v: Lit::I(t),
                        weak: false,
                    });
                }
            }
        }
        if let ExprKind::Str(s) = &e.kind {
            return Err(
                type_err(format!("cannot compare {other} with the string '{s}'")).at(e.span),
            );
        }
        self.bind(e, mode)
    }

    fn binary(
        &self,
        op: BinOp,
        l: PExpr,
        r: PExpr,
        le: &Expr,
        re: &Expr,
    ) -> Result<PExpr, QueryError> {
        let (lt, rt) = (l.ty(), r.ty());
        if op.is_logical() {
            if lt != EType::Bool || rt != EType::Bool {
                return Err(type_err(format!(
                    "{} needs bool operands: {le} is {}, {re} is {}",
                    op.symbol(),
                    lt.name(),
                    rt.name()
                )));
            }
            return Ok(PExpr::Binary {
                op,
                l: Box::new(l),
                r: Box::new(r),
                opty: EType::Bool,
                ty: EType::Bool,
            });
        }
        if op.is_comparison() {
            if lt == EType::Bool || rt == EType::Bool {
                if lt == rt && matches!(op, BinOp::Eq | BinOp::NotEq) {
                    return Ok(PExpr::Binary {
                        op,
                        l: Box::new(l),
                        r: Box::new(r),
                        opty: EType::Bool,
                        ty: EType::Bool,
                    });
                }
                return Err(type_err(format!(
                    "cannot compare {le} ({}) with {re} ({})",
                    lt.name(),
                    rt.name()
                )));
            }
            let opty = unify(&l, &r);
            return Ok(PExpr::Binary {
                op,
                l: Box::new(l),
                r: Box::new(r),
                opty,
                ty: EType::Bool,
            });
        }
        if lt == EType::Bool || rt == EType::Bool {
            let which = if lt == EType::Bool { le } else { re };
            return Err(type_err(format!(
                "arithmetic '{}' on the bool expression {which}; CAST it to a number first",
                op.symbol()
            ))
            .at(which.span));
        }
        let opty = unify(&l, &r);
        let ty = if op == BinOp::Div && opty == EType::I64 {
            EType::F64
        } else {
            opty
        };
        Ok(PExpr::Binary {
            op,
            l: Box::new(l),
            r: Box::new(r),
            opty,
            ty,
        })
    }

    fn bind_func(
        &mut self,
        name: &str,
        args: &[Expr],
        star: bool,
        whole: &Expr,
        mode: &mut Mode,
    ) -> Result<PExpr, QueryError> {
        if let Some(agg) = AggFunc::parse(name) {
            let Mode::Final {
                inputs,
                calls,
                call_keys,
            } = mode
            else {
                return Err(QueryError::plan(format!("aggregate {name}() cannot be used here (nested in another aggregate, or in WHERE)")));
            };
            let key = whole.to_string();
            if let Some(k) = call_keys.iter().position(|c| *c == key) {
                let ty = if agg == AggFunc::Count {
                    EType::I64
                } else {
                    EType::F64
                };
                return Ok(PExpr::Slot { k, ty });
            }
            let (expr, text) = if star {
                if agg != AggFunc::Count || !args.is_empty() {
                    return Err(QueryError::plan(format!(
                        "{name}(*) is not valid; only count(*)"
                    )));
                }
                (
                    PExpr::Lit {
                        v: Lit::I(1),
                        weak: false,
                    },
                    "*".to_string(),
                )
            } else {
                if args.len() != 1 {
                    return Err(QueryError::plan(format!(
                        "{name}() takes one argument, got {}",
                        args.len()
                    )));
                }
                let x = self.bind(&args[0], &mut Mode::Scan)?;
                (x, args[0].to_string())
            };
            if agg != AggFunc::Count && expr.ty() == EType::Bool {
                return Err(type_err(format!(
                    "{name}() of the bool expression {text}; use count() or {name}(CAST({text} AS INT))"
                ))
                .at(args[0].span));
            }
            let input = match inputs.iter().position(|i| i.text == text) {
                Some(i) => i,
                None => {
                    inputs.push(AggInput {
                        expr,
                        text,
                        sum: false,
                        min: false,
                        max: false,
                        var: false,
                    });
                    inputs.len() - 1
                }
            };
            match agg {
                AggFunc::Min => inputs[input].min = true,
                AggFunc::Max => inputs[input].max = true,
                AggFunc::Sum | AggFunc::Avg => inputs[input].sum = true,
                AggFunc::VarPop | AggFunc::VarSamp | AggFunc::StdPop | AggFunc::StdSamp => {
                    inputs[input].sum = true;
                    inputs[input].var = true
                }
                AggFunc::Count => {}
            }
            calls.push(AggCall { func: agg, input });
            call_keys.push(key);
            let ty = if agg == AggFunc::Count {
                EType::I64
            } else {
                EType::F64
            };
            return Ok(PExpr::Slot {
                k: calls.len() - 1,
                ty,
            });
        }
        if name == "date_trunc" {
            return Err(QueryError::plan(
                "date_trunc(...) groups by calendar buckets: use it in GROUP BY (and optionally as a SELECT item naming the bucket dimension)",
            ));
        }
        let Some(f) = Func::parse(name) else {
            let all = Func::NAMES
                .iter()
                .chain(AggFunc::NAMES.iter())
                .copied()
                .chain(["date_trunc"]);
            return Err(not_found("function", name, "", all));
        };
        if star {
            return Err(QueryError::plan(format!("{name}(*) is not valid")));
        }
        let (lo, hi) = f.arity();
        if args.len() < lo || args.len() > hi {
            return Err(QueryError::plan(format!(
                "{name}() takes {lo}{} argument(s), got {}",
                if hi > lo {
                    format!("..{hi}")
                } else {
                    String::new()
                },
                args.len()
            )));
        }
        let bound: Vec<PExpr> = args
            .iter()
            .map(|a| self.bind(a, mode))
            .collect::<Result<_, _>>()?;
        for (a, b) in args.iter().zip(&bound) {
            if b.ty() == EType::Bool {
                return Err(type_err(format!("{name}() of the bool expression {a}")).at(a.span));
            }
        }
        if f == Func::Round
            && bound.len() == 2
            && !matches!(bound[1], PExpr::Lit { v: Lit::I(_), .. })
        {
            return Err(
                type_err("round(x, digits) needs an integer literal for digits").at(args[1].span),
            );
        }
        let t0 = bound[0].ty();
        let opty = match f {
            Func::Power => match unify(&bound[0], &bound[1]) {
                EType::I64 => EType::F64,
                t => t,
            },
            _ => t0,
        };
        let ty = match (f, opty) {
            (Func::IsNan, _) => EType::Bool,
            (Func::Abs | Func::Sign | Func::Round | Func::Floor | Func::Ceil, EType::I64) => {
                EType::I64
            }
            (_, EType::I64) => EType::F64,
            (_, t) => t,
        };
        Ok(PExpr::Func {
            f,
            args: bound,
            opty,
            ty,
        })
    }
}

fn contains_agg(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Func { name, args, .. } => {
            AggFunc::parse(name).is_some() || args.iter().any(contains_agg)
        }
        ExprKind::Unary { expr, .. } | ExprKind::Cast { expr, .. } => contains_agg(expr),
        ExprKind::Binary { left, right, .. } => contains_agg(left) || contains_agg(right),
        ExprKind::Between {
            expr, low, high, ..
        } => contains_agg(expr) || contains_agg(low) || contains_agg(high),
        ExprKind::InList { expr, list, .. } => contains_agg(expr) || list.iter().any(contains_agg),
        ExprKind::Case {
            operand,
            whens,
            otherwise,
        } => {
            operand.as_deref().is_some_and(contains_agg)
                || whens
                    .iter()
                    .any(|(a, b)| contains_agg(a) || contains_agg(b))
                || otherwise.as_deref().is_some_and(contains_agg)
        }
        _ => false,
    }
}

/// Output dtype of a column: attributes and casts keep their exact dtype.
fn out_dtype(e: &PExpr, attrs: &[usize], schema: &ArraySchema) -> DType {
    match e {
        PExpr::Slot { k, .. } => schema.attrs[attrs[*k]].dtype,
        PExpr::Cast { to, .. } => *to,
        other => other.ty().dtype(),
    }
}

/// The coordinate value `e` compares a dimension with; errors point at `e`.
fn coord_lit(schema: &ArraySchema, d: usize, e: &Expr) -> Result<CLit, QueryError> {
    coord_lit_kind(schema, d, e).map_err(|err| err.at(e.span))
}

fn coord_lit_kind(schema: &ArraySchema, d: usize, e: &Expr) -> Result<CLit, QueryError> {
    let dim = &schema.dims[d];
    match (&dim.coord, &e.kind) {
        (Coordinate::Time { .. }, ExprKind::Str(s)) => parse_instant(s)
            .map(CLit::Time)
            .ok_or_else(|| type_err(format!("'{s}' is not an ISO-8601 timestamp (compared with time dimension '{}')", dim.name))),
        (Coordinate::Time { .. }, other) => Err(type_err(format!(
            "time dimension '{}' is compared with {other}; write a timestamp string like '2023-01-01T00:00:00Z'",
            dim.name
        ))),
        (Coordinate::Regular { .. }, ExprKind::Number { value, .. }) => Ok(CLit::Num(*value)),
        (Coordinate::Regular { .. }, ExprKind::Str(s)) => Err(type_err(format!(
            "the string '{s}' is compared with the float coordinate '{}'",
            dim.name
        ))),
        (Coordinate::Labels { .. }, ExprKind::Number { value, int: true, .. }) => Ok(CLit::Label(*value as i64)),
        (Coordinate::Labels { .. }, other) => Err(type_err(format!(
            "label dimension '{}' is compared with {other}; labels are integers",
            dim.name
        ))),
        (_, other) => Err(type_err(format!("'{}' is compared with {other}; expected a number", dim.name))),
    }
}

fn time_index_range(
    start: i64,
    step: i64,
    len: u64,
    lo: Option<(i64, bool)>,
    hi: Option<(i64, bool)>,
) -> Range<u64> {
    let (start, step) = (start as i128, step as i128);
    let mut a: i128 = 0;
    let mut b: i128 = len as i128;
    if let Some((v, incl)) = lo {
        let p = v as i128 - start;
        let i = if incl {
            ceil_div(p, step)
        } else {
            p.div_euclid(step) + 1
        };
        a = a.max(i);
    }
    if let Some((v, incl)) = hi {
        let p = v as i128 - start;
        let e = if incl {
            p.div_euclid(step) + 1
        } else {
            ceil_div(p, step)
        };
        b = b.min(e);
    }
    let a = a.clamp(0, len as i128) as u64;
    let b = b.clamp(0, len as i128) as u64;
    a..b.max(a)
}

fn ceil_div(p: i128, q: i128) -> i128 {
    -((-p).div_euclid(q))
}

fn nearest(coord: &Coordinate, len: u64, v: CLit) -> Option<u64> {
    match (coord, v) {
        (Coordinate::Time { start_ns, step_ns }, CLit::Time(t)) => {
            let (p, s) = (t as i128 - *start_ns as i128, *step_ns as i128);
            let i = (2 * p + s).div_euclid(2 * s);
            (0..len as i128).contains(&i).then_some(i as u64)
        }
        (Coordinate::Regular { .. }, CLit::Num(x)) => coord.nearest(x, len),
        (Coordinate::Labels { .. }, CLit::Label(l)) => coord.label_index(l),
        _ => None,
    }
}

fn grid_text(coord: &Coordinate, len: u64) -> String {
    if len == 0 {
        return "empty".into();
    }
    let f = |i: u64| match coord.value(i) {
        arrayq_storage::CoordValue::Number(x) => format!("{x}"),
        arrayq_storage::CoordValue::Time(t) => format_instant(t),
        arrayq_storage::CoordValue::Label(l) => l.to_string(),
    };
    match coord {
        Coordinate::Labels { labels } if labels.len() > 8 => format!("{} labels", labels.len()),
        Coordinate::Labels { labels } => labels
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        _ => format!("{} .. {}", f(0), f(len - 1)),
    }
}

/// Applies the constraints of one dimension.
fn select_dim(
    schema: &ArraySchema,
    d: usize,
    cons: &[(Constraint, String)],
    notes: &mut Vec<String>,
) -> DimSel {
    let dim = &schema.dims[d];
    let len = dim.len;
    let mut range = 0..len;
    let mut picks: Option<BTreeSet<u64>> = None;
    let mut squeeze = false;
    let restrict = |range: &mut Range<u64>, r: Range<u64>| {
        let a = range.start.max(r.start);
        let b = range.end.min(r.end).max(a);
        *range = a..b;
    };
    let label_of = |i: u64| match &dim.coord {
        Coordinate::Labels { labels } => labels[i as usize],
        _ => 0,
    };
    for (c, text) in cons {
        match c {
            Constraint::Eq(v) => match nearest(&dim.coord, len, *v) {
                Some(i) => {
                    restrict(&mut range, i..i + 1);
                    squeeze = true;
                }
                None => {
                    notes.push(format!(
                        "{text}: {v} lies outside the grid of '{}' ({}), nothing selected",
                        dim.name,
                        grid_text(&dim.coord, len)
                    ));
                    range = 0..0;
                }
            },
            Constraint::Lo(v, incl) | Constraint::Hi(v, incl) => {
                let is_lo = matches!(c, Constraint::Lo(..));
                let r = match (&dim.coord, v) {
                    (Coordinate::Time { start_ns, step_ns }, CLit::Time(t)) => {
                        let b = Some((*t, *incl));
                        if is_lo {
                            time_index_range(*start_ns, *step_ns, len, b, None)
                        } else {
                            time_index_range(*start_ns, *step_ns, len, None, b)
                        }
                    }
                    (Coordinate::Regular { .. }, CLit::Num(x)) => {
                        let b = Some((*x, *incl));
                        if is_lo {
                            dim.coord.index_range(b, None, len)
                        } else {
                            dim.coord.index_range(None, b, len)
                        }
                    }
                    (Coordinate::Labels { .. }, CLit::Label(l)) => {
                        let keep: BTreeSet<u64> = (0..len)
                            .filter(|&i| {
                                let x = label_of(i);
                                match (is_lo, incl) {
                                    (true, true) => x >= *l,
                                    (true, false) => x > *l,
                                    (false, true) => x <= *l,
                                    (false, false) => x < *l,
                                }
                            })
                            .collect();
                        picks = Some(match picks.take() {
                            None => keep,
                            Some(p) => p.intersection(&keep).copied().collect(),
                        });
                        0..len
                    }
                    _ => 0..len,
                };
                restrict(&mut range, r);
                if range.is_empty() {
                    notes.push(format!(
                        "{text}: no cell of '{}' ({}) satisfies it",
                        dim.name,
                        grid_text(&dim.coord, len)
                    ));
                }
            }
            Constraint::In(vals) => {
                let mut set = BTreeSet::new();
                for v in vals {
                    match nearest(&dim.coord, len, *v) {
                        Some(i) => {
                            set.insert(i);
                        }
                        None => notes.push(format!(
                            "{v} is not in '{}' ({}); ignored",
                            dim.name,
                            grid_text(&dim.coord, len)
                        )),
                    }
                }
                picks = Some(match picks.take() {
                    None => set,
                    Some(p) => p.intersection(&set).copied().collect(),
                });
            }
            Constraint::NotIn(vals) => {
                let drop: BTreeSet<u64> = vals
                    .iter()
                    .filter_map(|v| nearest(&dim.coord, len, *v))
                    .collect();
                let base = picks.take().unwrap_or_else(|| (0..len).collect());
                picks = Some(base.difference(&drop).copied().collect());
            }
        }
    }
    if let Some(p) = picks {
        let p: Vec<u64> = p.into_iter().filter(|i| range.contains(i)).collect();
        if p.is_empty() {
            if !range.is_empty() {
                notes.push(format!("no cell of '{}' satisfies the selection", dim.name));
            }
            return DimSel {
                range: 0..0,
                picks: None,
                squeeze: false,
            };
        }
        let r = p[0]..p[p.len() - 1] + 1;
        let contiguous = p.len() as u64 == r.end - r.start;
        return DimSel {
            range: r,
            picks: (!contiguous).then_some(p),
            squeeze: squeeze && !range.is_empty(),
        };
    }
    let squeeze = squeeze && !range.is_empty();
    DimSel {
        range,
        picks: None,
        squeeze,
    }
}

/// `(a = 1)` -> `a = 1` (expressions display fully parenthesised).
pub fn strip_parens(s: &str) -> String {
    let b = s.as_bytes();
    if b.first() == Some(&b'(') && b.last() == Some(&b')') {
        let mut depth = 0i32;
        for (i, &c) in b.iter().enumerate() {
            match c {
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
            if depth == 0 && i + 1 < b.len() {
                return s.to_string();
            }
        }
        return s[1..s.len() - 1].to_string();
    }
    s.to_string()
}

fn conjuncts<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match &e.kind {
        ExprKind::Binary {
            op: BinOp::And,
            left,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        _ => out.push(e),
    }
}

fn flip(op: BinOp) -> BinOp {
    match op {
        BinOp::Lt => BinOp::Gt,
        BinOp::LtEq => BinOp::GtEq,
        BinOp::Gt => BinOp::Lt,
        BinOp::GtEq => BinOp::LtEq,
        o => o,
    }
}

/// Turns the WHERE clause into per-dimension constraints.
fn where_to_constraints(
    binder: &Binder,
    filter: &Expr,
) -> Result<Vec<Vec<(Constraint, String)>>, QueryError> {
    let schema = binder.schema;
    let mut per_dim: Vec<Vec<(Constraint, String)>> =
        (0..schema.dims.len()).map(|_| Vec::new()).collect();
    let mut parts = Vec::new();
    conjuncts(filter, &mut parts);
    for p in parts {
        // Errors point at the condition unless a name or value in it is to blame.
        part_constraints(binder, p, &mut per_dim).map_err(|e| e.at(p.span))?;
    }
    Ok(per_dim)
}

/// Adds the constraints of one conjunct of the WHERE clause.
fn part_constraints(
    binder: &Binder,
    p: &Expr,
    per_dim: &mut [Vec<(Constraint, String)>],
) -> Result<(), QueryError> {
    let schema = binder.schema;
    {
        let text = strip_parens(&p.to_string());
        let dim_of = |e: &Expr| -> Result<Option<usize>, QueryError> {
            match &e.kind {
                ExprKind::Ident(n) => match binder.resolve(n).map_err(|err| err.at(e.span))? {
                    Name::Dim(d) => Ok(Some(d)),
                    Name::Attr(_) => Err(attr_in_where(n).at(e.span)),
                },
                _ => Ok(None),
            }
        };
        let bad = || {
            QueryError::plan(format!(
                "unsupported WHERE condition {text}: use dim = v, <, <=, >, >=, BETWEEN, IN (...) on dimensions, combined with AND"
            ))
        };
        match &p.kind {
            ExprKind::Binary { op, left, right } if op.is_comparison() => {
                let (d, lit, op) = match (dim_of(left)?, dim_of(right)?) {
                    (Some(d), None) => (d, right.as_ref(), *op),
                    (None, Some(d)) => (d, left.as_ref(), flip(*op)),
                    _ => return Err(bad()),
                };
                let v = coord_lit(schema, d, lit)?;
                let c = match op {
                    BinOp::Eq => Constraint::Eq(v),
                    BinOp::Lt => Constraint::Hi(v, false),
                    BinOp::LtEq => Constraint::Hi(v, true),
                    BinOp::Gt => Constraint::Lo(v, false),
                    BinOp::GtEq => Constraint::Lo(v, true),
                    BinOp::NotEq => {
                        if !matches!(schema.dims[d].coord, Coordinate::Labels { .. }) {
                            return Err(QueryError::plan(format!(
                                "'<>' is only supported on label dimensions ({text})"
                            )));
                        }
                        Constraint::NotIn(vec![v])
                    }
                    _ => return Err(bad()),
                };
                per_dim[d].push((c, text));
            }
            ExprKind::Between {
                expr,
                low,
                high,
                negated: false,
            } => {
                let d = dim_of(expr)?.ok_or_else(bad)?;
                let lo = coord_lit(schema, d, low)?;
                let hi = coord_lit(schema, d, high)?;
                per_dim[d].push((Constraint::Lo(lo, true), text.clone()));
                per_dim[d].push((Constraint::Hi(hi, true), text));
            }
            ExprKind::InList {
                expr,
                list,
                negated,
            } => {
                let d = dim_of(expr)?.ok_or_else(bad)?;
                let vals = list
                    .iter()
                    .map(|e| coord_lit(schema, d, e))
                    .collect::<Result<Vec<_>, _>>()?;
                if *negated {
                    if !matches!(schema.dims[d].coord, Coordinate::Labels { .. }) {
                        return Err(QueryError::plan(format!(
                            "NOT IN is only supported on label dimensions ({text})"
                        )));
                    }
                    per_dim[d].push((Constraint::NotIn(vals), text));
                } else {
                    per_dim[d].push((Constraint::In(vals), text));
                }
            }
            ExprKind::Binary { op: BinOp::Or, .. } => {
                return Err(QueryError::plan(format!(
                "OR is not supported in WHERE ({text}); use IN (...) to select several coordinates"
            )))
            }
            ExprKind::Ident(n) => {
                dim_of(p)?;
                return Err(QueryError::plan(format!("'{n}' alone is not a condition")));
            }
            _ => {
                // Name errors first (unknown names, attributes), then the shape error.
                check_names(binder, p)?;
                return Err(bad());
            }
        }
    }
    Ok(())
}

fn attr_in_where(n: &str) -> QueryError {
    QueryError::plan(format!(
        "WHERE selects coordinates of dimensions, but '{n}' is an attribute; to mask values use CASE WHEN ... THEN {n} END"
    ))
}

fn check_names(binder: &Binder, e: &Expr) -> Result<(), QueryError> {
    match &e.kind {
        ExprKind::Ident(n) => match binder.resolve(n).map_err(|err| err.at(e.span))? {
            Name::Attr(_) => Err(attr_in_where(n).at(e.span)),
            Name::Dim(_) => Ok(()),
        },
        ExprKind::Unary { expr, .. } | ExprKind::Cast { expr, .. } => check_names(binder, expr),
        ExprKind::Binary { left, right, .. } => {
            check_names(binder, left)?;
            check_names(binder, right)
        }
        ExprKind::Between {
            expr, low, high, ..
        } => {
            check_names(binder, expr)?;
            check_names(binder, low)?;
            check_names(binder, high)
        }
        ExprKind::Func { args, .. } => args.iter().try_for_each(|a| check_names(binder, a)),
        _ => Ok(()),
    }
}

fn coord_values(coord: &Coordinate, idx: &[u64]) -> CoordValues {
    match coord {
        Coordinate::Regular { .. } => {
            CoordValues::Numbers(idx.iter().map(|&i| coord.value(i).as_f64()).collect())
        }
        Coordinate::Time { start_ns, step_ns } => {
            CoordValues::Times(idx.iter().map(|&i| start_ns + step_ns * i as i64).collect())
        }
        Coordinate::Labels { labels } => {
            CoordValues::Labels(idx.iter().map(|&i| labels[i as usize]).collect())
        }
    }
}

/// A GROUP BY expression resolved: dimension plus optional calendar bucket. Errors
/// point at the expression, or at the argument of date_trunc that is wrong.
fn group_key_of(
    binder: &Binder,
    e: &Expr,
    items: &[(Expr, Option<String>)],
) -> Result<(usize, Option<Trunc>), QueryError> {
    group_key_kind(binder, e, items).map_err(|err| err.at(e.span))
}

fn group_key_kind(
    binder: &Binder,
    e: &Expr,
    items: &[(Expr, Option<String>)],
) -> Result<(usize, Option<Trunc>), QueryError> {
    let schema = binder.schema;
    match &e.kind {
        ExprKind::Number {
            value, int: true, ..
        } => {
            let k = *value as usize;
            if k == 0 || k > items.len() {
                return Err(QueryError::plan(format!(
                    "GROUP BY {k}: there are {} select items",
                    items.len()
                )));
            }
            group_key_of(binder, &items[k - 1].0, &[])
        }
        ExprKind::Ident(n) => {
            if let Some((ie, _)) = items.iter().find(|(_, a)| a.as_deref() == Some(n.as_str())) {
                if ie != e && schema.dims.iter().all(|d| d.name != *n) {
                    return group_key_of(binder, ie, &[]);
                }
            }
            match binder.resolve(n)? {
                Name::Dim(d) => Ok((d, None)),
                Name::Attr(_) => Err(QueryError::plan(format!(
                    "GROUP BY keeps dimensions; '{n}' is an attribute (grouping by values is not supported)"
                ))),
            }
        }
        ExprKind::Func { name, args, .. } if name == "date_trunc" => {
            if args.len() < 2 || args.len() > 3 {
                return Err(QueryError::plan(
                    "date_trunc(unit, time_dimension [, 'Time/Zone']) takes 2 or 3 arguments",
                ));
            }
            let (ua, da) = (&args[0], &args[1]);
            let ExprKind::Str(unit) = &ua.kind else {
                return Err(type_err(format!(
                    "date_trunc unit must be a string like 'day', got {ua}"
                ))
                .at(ua.span));
            };
            let unit = TruncUnit::parse(unit).ok_or_else(|| {
                not_found(
                    "date_trunc unit",
                    unit,
                    "",
                    ["minute", "hour", "day", "week", "month", "year"],
                )
                .at(ua.span)
            })?;
            let ExprKind::Ident(dn) = &da.kind else {
                return Err(QueryError::plan(format!(
                    "date_trunc needs a time dimension, got {da}"
                ))
                .at(da.span));
            };
            let d = match binder.resolve(dn).map_err(|err| err.at(da.span))? {
                Name::Dim(d) => d,
                Name::Attr(_) => {
                    return Err(type_err(format!(
                        "date_trunc needs a time dimension; '{dn}' is an attribute"
                    ))
                    .at(da.span))
                }
            };
            if !matches!(schema.dims[d].coord, Coordinate::Time { .. }) {
                return Err(type_err(format!(
                    "date_trunc needs a time dimension; '{dn}' has {} coordinates",
                    schema.dims[d].coord.kind_name()
                ))
                .at(da.span));
            }
            let tz = match args.get(2) {
                None => None,
                Some(za) => match &za.kind {
                    ExprKind::Str(z) => Some(parse_tz(z).ok_or_else(|| {
                        QueryError::unknown_name(format!("unknown time zone '{z}'"))
                            .with_hint("use an IANA name like 'Europe/Amsterdam'")
                            .at(za.span)
                    })?),
                    _ => {
                        return Err(
                            type_err(format!("the time zone must be a string, got {za}"))
                                .at(za.span),
                        )
                    }
                },
            };
            Ok((d, Some((unit, tz))))
        }
        ExprKind::Func { name, .. } if AggFunc::parse(name).is_some() => Err(QueryError::plan(
            format!("cannot GROUP BY an aggregate ({e})"),
        )),
        _ => Err(QueryError::plan(format!(
            "GROUP BY takes dimension names or date_trunc('unit', time[, 'Zone']), got {e}"
        ))),
    }
}

/// Plans a SELECT against a snapshot.
pub fn plan_select(
    snap: Snapshot,
    sel: &Select,
    max_result_bytes: u64,
) -> Result<Plan, QueryError> {
    let schema = snap.schema().clone();
    let mut binder = Binder {
        schema: &schema,
        attrs: Vec::new(),
    };
    let mut notes = Vec::new();

    // Selection.
    let per_dim = match &sel.filter {
        Some(f) => where_to_constraints(&binder, f)?,
        None => (0..schema.dims.len()).map(|_| Vec::new()).collect(),
    };
    let filters: Vec<String> = per_dim
        .iter()
        .flatten()
        .map(|(_, t)| t.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let dims: Vec<DimSel> = (0..schema.dims.len())
        .map(|d| select_dim(&schema, d, &per_dim[d], &mut notes))
        .collect();
    let empty = dims.iter().any(|d| d.count() == 0);
    let region = Region(dims.iter().map(|d| d.range.clone()).collect());

    // Items.
    let mut items: Vec<(Expr, Option<String>)> = Vec::new();
    for it in &sel.items {
        match it {
            SelectItem::Wildcard(span) => {
                for a in &schema.attrs {
                    items.push((Expr::new(ExprKind::Ident(a.name.clone()), *span), None));
                }
            }
            SelectItem::Expr { expr, alias } => items.push((expr.clone(), alias.clone())),
        }
    }
    let is_agg = !sel.group_by.is_empty() || items.iter().any(|(e, _)| contains_agg(e));
    let wildcard = sel.items.iter().find_map(|i| match i {
        SelectItem::Wildcard(span) => Some(*span),
        SelectItem::Expr { .. } => None,
    });
    if let (true, Some(span)) = (is_agg, wildcard) {
        return Err(
            QueryError::plan("SELECT * cannot be combined with aggregates or GROUP BY").at(span),
        );
    }

    let mut col_texts = Vec::new();
    let mut col_names = Vec::new();
    let kind;
    let header_dims;
    let mut col_dtypes = Vec::new();
    let mut state_bytes = 0u64;
    if !is_agg {
        let mut cols = Vec::new();
        for (e, alias) in &items {
            let p = binder.bind(e, &mut Mode::Scan)?;
            col_dtypes.push(out_dtype(&p, &binder.attrs, &schema));
            cols.push(p);
            col_texts.push(e.to_string());
            col_names.push(alias.clone().unwrap_or_else(|| e.to_string()));
        }
        let mut hd = Vec::new();
        for (d, s) in dims.iter().enumerate() {
            if s.squeeze && !empty {
                continue;
            }
            hd.push((
                schema.dims[d].name.clone(),
                coord_values(&schema.dims[d].coord, &s.indices()),
                s.count(),
            ));
        }
        header_dims = hd;
        kind = Kind::Project { cols };
    } else {
        // Group keys.
        let mut groups: Vec<GroupKey> = Vec::new();
        let mut key_exprs: Vec<Expr> = Vec::new();
        for g in &sel.group_by {
            let (d, trunc) = group_key_of(&binder, g, &items)?;
            if groups.iter().any(|k| k.dim == d) {
                return Err(QueryError::plan(format!(
                    "dimension '{}' appears twice in GROUP BY",
                    schema.dims[d].name
                ))
                .at(g.span));
            }
            let s = &dims[d];
            let idx = s.indices();
            let (map, coords, len) = match trunc {
                None => (
                    s.positions(),
                    coord_values(&schema.dims[d].coord, &idx),
                    idx.len(),
                ),
                Some((unit, tz)) => {
                    let Coordinate::Time { start_ns, step_ns } = schema.dims[d].coord else {
                        unreachable!()
                    };
                    let pos = s.positions();
                    let mut map = vec![SKIP; pos.len()];
                    let mut starts: Vec<i64> = Vec::new();
                    for (r, &p) in pos.iter().enumerate() {
                        if p == SKIP {
                            continue;
                        }
                        let t = start_ns + step_ns * (s.range.start + r as u64) as i64;
                        let b = date_trunc(t, unit, tz);
                        if starts.last() != Some(&b) {
                            starts.push(b);
                        }
                        map[r] = (starts.len() - 1) as u32;
                    }
                    let n = starts.len();
                    (map, CoordValues::Times(starts), n)
                }
            };
            let default_name = schema.dims[d].name.clone();
            let alias_hit = match &g.kind {
                ExprKind::Ident(n) if schema.dims.iter().all(|x| x.name != *n) => items
                    .iter()
                    .find(|(_, a)| a.as_deref() == Some(n.as_str()))
                    .map(|_| n.clone()),
                _ => None,
            };
            let name = alias_hit
                .or_else(|| {
                    items
                        .iter()
                        .find(|(ie, _)| ie == g || matches!(&g.kind, ExprKind::Ident(n) if matches!(&ie.kind, ExprKind::Ident(m) if m == n)))
                        .and_then(|(_, a)| a.clone())
                })
                .unwrap_or(default_name);
            key_exprs.push(g.clone());
            groups.push(GroupKey {
                dim: d,
                name,
                trunc,
                map,
                len,
                coords,
            });
        }
        // Select items: group keys name dimensions; the rest are aggregate expressions.
        let mut inputs = Vec::new();
        let mut calls = Vec::new();
        let mut call_keys = Vec::new();
        let mut outputs = Vec::new();
        for (e, alias) in &items {
            let is_key = key_exprs.iter().any(|k| k == e)
                || groups.iter().any(|g| matches!(&e.kind, ExprKind::Ident(n) if *n == schema.dims[g.dim].name || alias.as_deref() == Some(g.name.as_str()) && *n == g.name))
                || (matches!(&e.kind, ExprKind::Func { name, .. } if name == "date_trunc")
                    && group_key_of(&binder, e, &[]).is_ok_and(|(d, t)| groups.iter().any(|g| g.dim == d && g.trunc.map(|x| x.0) == t.map(|x| x.0))));
            if is_key {
                continue;
            }
            let mut mode = Mode::Final {
                inputs: &mut inputs,
                calls: &mut calls,
                call_keys: &mut call_keys,
            };
            let p = binder.bind(e, &mut mode)?;
            col_dtypes.push(p.ty().dtype());
            outputs.push(p);
            col_texts.push(e.to_string());
            col_names.push(alias.clone().unwrap_or_else(|| e.to_string()));
        }
        if outputs.is_empty() {
            return Err(QueryError::plan(
                "an aggregate query needs at least one aggregate, e.g. avg(t2m)",
            ));
        }
        let ngroups: u64 = groups.iter().map(|g| g.len as u64).product();
        state_bytes = ngroups
            * inputs
                .iter()
                .map(|i| 8 * (1 + i.sum as u64 + i.var as u64 + i.min as u64 + i.max as u64))
                .sum::<u64>();
        header_dims = groups
            .iter()
            .map(|g| (g.name.clone(), g.coords.clone(), g.len))
            .collect();
        kind = Kind::Aggregate {
            inputs,
            calls,
            outputs,
            groups,
        };
    }
    let shape: Vec<usize> = header_dims.iter().map(|h| h.2).collect();
    let n: u64 = shape.iter().map(|&x| x as u64).product();
    let result_bytes: u64 = col_dtypes.iter().map(|d| d.size() as u64 * n).sum();
    if result_bytes > max_result_bytes {
        return Err(QueryError::ResourcesExhausted(format!(
            "the result would hold {result_bytes} bytes ({n} cells x {} columns), over the limit of {max_result_bytes} bytes; select a smaller region or aggregate",
            col_dtypes.len()
        )));
    }
    if state_bytes > max_result_bytes.saturating_mul(2) {
        return Err(QueryError::ResourcesExhausted(format!(
            "the aggregation would need {state_bytes} bytes of state, over twice the result limit of {max_result_bytes} bytes"
        )));
    }
    if empty {
        notes.push("the selection is empty".into());
    }
    let candidates = snap.layout_costs(&region);
    let forced = match &sel.layout {
        None => None,
        Some(name) => Some(
            schema
                .layouts
                .iter()
                .position(|l| l.name == name.value)
                .ok_or_else(|| {
                    not_found(
                        "layout",
                        &name.value,
                        &format!(" of array '{}'", schema.name),
                        schema.layouts.iter().map(|l| l.name.as_str()),
                    )
                    .at(name.span)
                })?,
        ),
    };
    let (layout, layout_why) = match forced {
        Some(l) => (l, LayoutWhy::Forced),
        None if empty => (0, LayoutWhy::Empty),
        None => choose_layout(&candidates),
    };
    let scalar = header_dims.is_empty();
    let header = ResultHeader {
        dims: header_dims.iter().map(|h| h.0.clone()).collect(),
        coords: header_dims.into_iter().map(|h| h.1).collect(),
        shape,
        columns: col_names
            .into_iter()
            .zip(col_dtypes.iter().copied())
            .collect(),
        scalar,
        notes,
        layout: schema.layouts[layout].name.clone(),
        version: snap.version(),
    };
    Ok(Plan {
        snap,
        dims,
        region,
        empty,
        attrs: binder.attrs,
        kind,
        header,
        col_dtypes,
        col_texts,
        layout,
        layout_why,
        candidates,
        filters,
        result_bytes,
        state_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_ranges_are_exact() {
        let h = 3_600_000_000_000i64;
        assert_eq!(
            time_index_range(0, h, 48, Some((0, true)), Some((2 * h, true))),
            0..3
        );
        assert_eq!(
            time_index_range(0, h, 48, Some((0, false)), Some((2 * h, false))),
            1..2
        );
        assert_eq!(time_index_range(0, h, 48, Some((h / 2, true)), None), 1..48);
        assert_eq!(time_index_range(0, h, 48, None, Some((-1, true))), 0..0);
        let c = Coordinate::Time {
            start_ns: 0,
            step_ns: h,
        };
        assert_eq!(nearest(&c, 48, CLit::Time(h / 2 - 1)), Some(0));
        assert_eq!(nearest(&c, 48, CLit::Time(-h / 2 - 1)), None);
        assert_eq!(nearest(&c, 48, CLit::Time(47 * h + h / 2 - 1)), Some(47));
        assert_eq!(nearest(&c, 48, CLit::Time(48 * h)), None);
    }
}
