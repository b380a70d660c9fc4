//! Typed, vectorised element-wise expressions: every operator runs as one tight loop
//! over a whole chunk (no per-element dispatch).

use crate::ast::{BinOp, UnOp};
use arrayq_storage::{Coordinate, DType};

mod column;

pub use column::{lit_f64, lit_i64, Col};

/// The evaluation types (storage dtypes widen to these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EType {
    Bool,
    I64,
    F32,
    F64,
}

impl EType {
    pub fn of(d: DType) -> EType {
        match d {
            DType::F32 => EType::F32,
            DType::F64 => EType::F64,
            DType::Bool => EType::Bool,
            _ => EType::I64,
        }
    }

    pub fn dtype(self) -> DType {
        match self {
            EType::Bool => DType::Bool,
            EType::I64 => DType::I64,
            EType::F32 => DType::F32,
            EType::F64 => DType::F64,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, EType::F32 | EType::F64)
    }

    pub fn is_numeric(self) -> bool {
        self != EType::Bool
    }

    pub fn name(self) -> &'static str {
        match self {
            EType::Bool => "bool",
            EType::I64 => "integer",
            EType::F32 => "f32",
            EType::F64 => "f64",
        }
    }
}

/// A literal value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lit {
    F(f64),
    I(i64),
    B(bool),
}

/// Scalar functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Abs,
    Sqrt,
    Exp,
    Ln,
    Log10,
    Round,
    Floor,
    Ceil,
    Sin,
    Cos,
    Tan,
    Radians,
    Degrees,
    Power,
    IsNan,
    Sign,
}

impl Func {
    pub fn parse(name: &str) -> Option<Func> {
        Some(match name {
            "abs" => Func::Abs,
            "sqrt" => Func::Sqrt,
            "exp" => Func::Exp,
            "ln" | "log" => Func::Ln,
            "log10" => Func::Log10,
            "round" => Func::Round,
            "floor" => Func::Floor,
            "ceil" | "ceiling" => Func::Ceil,
            "sin" => Func::Sin,
            "cos" => Func::Cos,
            "tan" => Func::Tan,
            "radians" => Func::Radians,
            "degrees" => Func::Degrees,
            "power" | "pow" => Func::Power,
            "isnan" => Func::IsNan,
            "sign" => Func::Sign,
            _ => return None,
        })
    }

    pub const NAMES: [&'static str; 16] = [
        "abs", "sqrt", "exp", "ln", "log10", "round", "floor", "ceil", "sin", "cos", "tan",
        "radians", "degrees", "power", "isnan", "sign",
    ];

    pub fn arity(self) -> (usize, usize) {
        match self {
            Func::Power => (2, 2),
            Func::Round => (1, 2),
            _ => (1, 1),
        }
    }
}

/// A bound, typed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum PExpr {
    /// An input column: an attribute (scans) or an aggregate result (final step).
    Slot {
        k: usize,
        ty: EType,
    },
    /// The coordinate of dimension `dim` (f64 for numbers, i64 ns / labels otherwise).
    Coord {
        dim: usize,
        ty: EType,
    },
    /// A literal; `weak` floats adopt the other operand's float width (like numpy).
    Lit {
        v: Lit,
        weak: bool,
    },
    Unary {
        op: UnOp,
        e: Box<PExpr>,
        ty: EType,
    },
    /// `opty` is the type both operands are converted to.
    Binary {
        op: BinOp,
        l: Box<PExpr>,
        r: Box<PExpr>,
        opty: EType,
        ty: EType,
    },
    Func {
        f: Func,
        args: Vec<PExpr>,
        opty: EType,
        ty: EType,
    },
    Case {
        whens: Vec<(PExpr, PExpr)>,
        otherwise: Option<Box<PExpr>>,
        ty: EType,
    },
    Cast {
        e: Box<PExpr>,
        to: DType,
        ty: EType,
    },
}

impl PExpr {
    pub fn ty(&self) -> EType {
        match self {
            PExpr::Slot { ty, .. }
            | PExpr::Coord { ty, .. }
            | PExpr::Unary { ty, .. }
            | PExpr::Binary { ty, .. }
            | PExpr::Func { ty, .. }
            | PExpr::Case { ty, .. }
            | PExpr::Cast { ty, .. } => *ty,
            PExpr::Lit { v: Lit::F(_), .. } => EType::F64,
            PExpr::Lit { v: Lit::I(_), .. } => EType::I64,
            PExpr::Lit { v: Lit::B(_), .. } => EType::Bool,
        }
    }

    pub fn is_lit(&self) -> bool {
        matches!(self, PExpr::Lit { .. })
    }
}

/// What expressions read: input columns, plus the box (for coordinates).
pub struct Inputs<'a> {
    pub slots: &'a [Col],
    /// Shape of the box the columns cover (row-major).
    pub shape: &'a [usize],
    /// Absolute index of the box's first cell along each dimension.
    pub origin: &'a [u64],
    pub coords: &'a [Coordinate],
    pub n: usize,
}

enum Side<T> {
    V(Vec<T>),
    S(T),
}

fn side_f32(c: Col, n: usize) -> Side<f32> {
    match c {
        Col::Const(l) => Side::S(lit_f64(l) as f32),
        c => Side::V(c.f32s(n)),
    }
}
fn side_f64(c: Col, n: usize) -> Side<f64> {
    match c {
        Col::Const(l) => Side::S(lit_f64(l)),
        c => Side::V(c.f64s(n)),
    }
}
fn side_i64(c: Col, n: usize) -> Side<i64> {
    match c {
        Col::Const(l) => Side::S(lit_i64(l)),
        c => Side::V(c.i64s(n)),
    }
}
fn side_bool(c: Col, n: usize) -> Side<bool> {
    match c {
        Col::Const(l) => Side::S(lit_f64(l) != 0.0),
        c => Side::V(c.bools(n)),
    }
}

#[inline]
fn zip<T: Copy, U: Clone>(a: Side<T>, b: Side<T>, n: usize, f: impl Fn(T, T) -> U) -> Vec<U> {
    match (a, b) {
        (Side::V(x), Side::V(y)) => x.iter().zip(&y).map(|(&p, &q)| f(p, q)).collect(),
        (Side::V(x), Side::S(q)) => x.iter().map(|&p| f(p, q)).collect(),
        (Side::S(p), Side::V(y)) => y.iter().map(|&q| f(p, q)).collect(),
        (Side::S(p), Side::S(q)) => vec![f(p, q); n],
    }
}

macro_rules! float_binop {
    ($op:expr, $a:expr, $b:expr, $n:expr, $col:ident) => {{
        let (a, b, n) = ($a, $b, $n);
        match $op {
            BinOp::Add => Col::$col(zip(a, b, n, |x, y| x + y)),
            BinOp::Sub => Col::$col(zip(a, b, n, |x, y| x - y)),
            BinOp::Mul => Col::$col(zip(a, b, n, |x, y| x * y)),
            BinOp::Div => Col::$col(zip(a, b, n, |x, y| x / y)),
            BinOp::Mod => Col::$col(zip(a, b, n, |x, y| x % y)),
            BinOp::Eq => Col::Bool(zip(a, b, n, |x, y| x == y)),
            BinOp::NotEq => Col::Bool(zip(a, b, n, |x, y| x != y)),
            BinOp::Lt => Col::Bool(zip(a, b, n, |x, y| x < y)),
            BinOp::LtEq => Col::Bool(zip(a, b, n, |x, y| x <= y)),
            BinOp::Gt => Col::Bool(zip(a, b, n, |x, y| x > y)),
            BinOp::GtEq => Col::Bool(zip(a, b, n, |x, y| x >= y)),
            BinOp::And | BinOp::Or => unreachable!("logical ops are bound to bool"),
        }
    }};
}

fn binary(op: BinOp, opty: EType, a: Col, b: Col, n: usize) -> Col {
    match opty {
        EType::F32 => float_binop!(op, side_f32(a, n), side_f32(b, n), n, F32),
        EType::F64 => float_binop!(op, side_f64(a, n), side_f64(b, n), n, F64),
        EType::I64 => {
            let (a, b) = (side_i64(a, n), side_i64(b, n));
            match op {
                BinOp::Add => Col::I64(zip(a, b, n, |x, y| x.wrapping_add(y))),
                BinOp::Sub => Col::I64(zip(a, b, n, |x, y| x.wrapping_sub(y))),
                BinOp::Mul => Col::I64(zip(a, b, n, |x, y| x.wrapping_mul(y))),
                // Integer division is bound as f64 (true division); modulo by 0 gives 0.
                BinOp::Div => Col::F64(zip(a, b, n, |x, y| x as f64 / y as f64)),
                BinOp::Mod => Col::I64(zip(
                    a,
                    b,
                    n,
                    |x, y| if y == 0 { 0 } else { x.wrapping_rem(y) },
                )),
                BinOp::Eq => Col::Bool(zip(a, b, n, |x, y| x == y)),
                BinOp::NotEq => Col::Bool(zip(a, b, n, |x, y| x != y)),
                BinOp::Lt => Col::Bool(zip(a, b, n, |x, y| x < y)),
                BinOp::LtEq => Col::Bool(zip(a, b, n, |x, y| x <= y)),
                BinOp::Gt => Col::Bool(zip(a, b, n, |x, y| x > y)),
                BinOp::GtEq => Col::Bool(zip(a, b, n, |x, y| x >= y)),
                BinOp::And | BinOp::Or => unreachable!(),
            }
        }
        EType::Bool => {
            let (a, b) = (side_bool(a, n), side_bool(b, n));
            match op {
                BinOp::And => Col::Bool(zip(a, b, n, |x, y| x && y)),
                BinOp::Or => Col::Bool(zip(a, b, n, |x, y| x || y)),
                BinOp::Eq => Col::Bool(zip(a, b, n, |x, y| x == y)),
                BinOp::NotEq => Col::Bool(zip(a, b, n, |x, y| x != y)),
                _ => unreachable!("arithmetic on bool is a type error"),
            }
        }
    }
}

macro_rules! float_func {
    ($f:expr, $v:expr, $args:expr, $n:expr, $col:ident, $t:ty) => {{
        let v: Vec<$t> = $v;
        match $f {
            Func::Abs => Col::$col(v.iter().map(|x| x.abs()).collect()),
            Func::Sqrt => Col::$col(v.iter().map(|x| x.sqrt()).collect()),
            Func::Exp => Col::$col(v.iter().map(|x| x.exp()).collect()),
            Func::Ln => Col::$col(v.iter().map(|x| x.ln()).collect()),
            Func::Log10 => Col::$col(v.iter().map(|x| x.log10()).collect()),
            Func::Floor => Col::$col(v.iter().map(|x| x.floor()).collect()),
            Func::Ceil => Col::$col(v.iter().map(|x| x.ceil()).collect()),
            Func::Sin => Col::$col(v.iter().map(|x| x.sin()).collect()),
            Func::Cos => Col::$col(v.iter().map(|x| x.cos()).collect()),
            Func::Tan => Col::$col(v.iter().map(|x| x.tan()).collect()),
            Func::Radians => Col::$col(v.iter().map(|x| x.to_radians()).collect()),
            Func::Degrees => Col::$col(v.iter().map(|x| x.to_degrees()).collect()),
            Func::IsNan => Col::Bool(v.iter().map(|x| x.is_nan()).collect()),
            Func::Sign => Col::$col(
                v.iter()
                    .map(|&x| {
                        if x > 0.0 {
                            1.0
                        } else if x < 0.0 {
                            -1.0
                        } else {
                            x
                        }
                    })
                    .collect(),
            ),
            Func::Round => {
                let digits = $args
                    .get(1)
                    .map(|d: &Col| match d {
                        Col::Const(l) => lit_i64(*l),
                        _ => 0,
                    })
                    .unwrap_or(0);
                if digits == 0 {
                    Col::$col(v.iter().map(|x| x.round()).collect())
                } else {
                    let s = (10.0 as $t).powi(digits as i32);
                    Col::$col(v.iter().map(|x| (x * s).round() / s).collect())
                }
            }
            Func::Power => {
                let e = $args.get(1).cloned().unwrap_or(Col::Const(Lit::F(1.0)));
                let e: Vec<$t> = match e {
                    Col::Const(l) => vec![lit_f64(l) as $t; $n],
                    c => c.f64s($n).iter().map(|&x| x as $t).collect(),
                };
                Col::$col(v.iter().zip(&e).map(|(x, y)| x.powf(*y)).collect())
            }
        }
    }};
}

/// Evaluates `e` over the inputs; the result has `inputs.n` elements (or is a constant).
pub fn eval(e: &PExpr, inp: &Inputs) -> Col {
    let n = inp.n;
    match e {
        PExpr::Slot { k, .. } => inp.slots[*k].clone(),
        PExpr::Lit { v, .. } => Col::Const(*v),
        PExpr::Coord { dim, ty } => coord_col(*dim, *ty, inp),
        PExpr::Unary {
            op: UnOp::Neg,
            e,
            ty,
        } => match eval(e, inp).into_type(*ty, n) {
            Col::F32(v) => Col::F32(v.iter().map(|x| -x).collect()),
            Col::F64(v) => Col::F64(v.iter().map(|x| -x).collect()),
            Col::I64(v) => Col::I64(v.iter().map(|x| x.wrapping_neg()).collect()),
            other => other,
        },
        PExpr::Unary {
            op: UnOp::Not, e, ..
        } => Col::Bool(eval(e, inp).bools(n).iter().map(|x| !x).collect()),
        PExpr::Binary { op, l, r, opty, .. } => binary(*op, *opty, eval(l, inp), eval(r, inp), n),
        PExpr::Func { f, args, opty, .. } => {
            let mut vals: Vec<Col> = args.iter().map(|a| eval(a, inp)).collect();
            let first = vals.remove(0);
            let rest = {
                let mut r = vec![Col::Const(Lit::I(0))];
                r.extend(vals);
                r
            };
            match opty {
                EType::F32 => float_func!(f, first.f32s(n), rest, n, F32, f32),
                EType::F64 => float_func!(f, first.f64s(n), rest, n, F64, f64),
                EType::I64 => match f {
                    Func::Abs => Col::I64(first.i64s(n).iter().map(|x| x.wrapping_abs()).collect()),
                    Func::Sign => Col::I64(first.i64s(n).iter().map(|x| x.signum()).collect()),
                    Func::IsNan => Col::Bool(vec![false; n]),
                    Func::Round | Func::Floor | Func::Ceil => Col::I64(first.i64s(n)),
                    _ => float_func!(f, first.f64s(n), rest, n, F64, f64),
                },
                EType::Bool => Col::Bool(vec![false; n]),
            }
        }
        PExpr::Case {
            whens,
            otherwise,
            ty,
        } => {
            let mut out = match otherwise {
                Some(o) => eval(o, inp).into_type(*ty, n),
                None => Col::Const(Lit::F(f64::NAN)).into_type(*ty, n),
            };
            // Later WHENs are overridden by earlier ones: apply in reverse.
            for (cond, val) in whens.iter().rev() {
                let c = eval(cond, inp).bools(n);
                let v = eval(val, inp).into_type(*ty, n);
                out = select(&c, v, out);
            }
            out
        }
        PExpr::Cast { e, ty, to } => {
            let v = eval(e, inp);
            match to {
                DType::F32 => Col::F32(v.f32s(n)),
                DType::F64 => Col::F64(v.f64s(n)),
                DType::Bool => Col::Bool(v.bools(n)),
                _ => {
                    // Float -> integer: truncation toward zero, then wrap to the width.
                    let w = v.i64s(n);
                    let w = match to {
                        DType::I8 => w.iter().map(|&x| x as i8 as i64).collect(),
                        DType::I16 => w.iter().map(|&x| x as i16 as i64).collect(),
                        DType::I32 => w.iter().map(|&x| x as i32 as i64).collect(),
                        DType::U8 => w.iter().map(|&x| x as u8 as i64).collect(),
                        DType::U16 => w.iter().map(|&x| x as u16 as i64).collect(),
                        DType::U32 => w.iter().map(|&x| x as u32 as i64).collect(),
                        _ => w,
                    };
                    let _ = ty;
                    Col::I64(w)
                }
            }
        }
    }
}

fn select(c: &[bool], a: Col, b: Col) -> Col {
    fn sel<T: Copy>(c: &[bool], a: Vec<T>, mut b: Vec<T>) -> Vec<T> {
        for i in 0..c.len() {
            if c[i] {
                b[i] = a[i];
            }
        }
        b
    }
    let n = c.len();
    match b {
        Col::F32(bv) => Col::F32(sel(c, a.f32s(n), bv)),
        Col::F64(bv) => Col::F64(sel(c, a.f64s(n), bv)),
        Col::I64(bv) => Col::I64(sel(c, a.i64s(n), bv)),
        Col::Bool(bv) => Col::Bool(sel(c, a.bools(n), bv)),
        Col::Const(l) => Col::Const(l),
    }
}

fn coord_col(dim: usize, ty: EType, inp: &Inputs) -> Col {
    let shape = inp.shape;
    let inner: usize = shape[dim + 1..].iter().product();
    let outer: usize = shape[..dim].iter().product();
    let vals: Vec<f64> = (0..shape[dim] as u64)
        .map(|i| inp.coords[dim].value(inp.origin[dim] + i).as_f64())
        .collect();
    let ivals: Vec<i64> = (0..shape[dim] as u64)
        .map(|i| match inp.coords[dim].value(inp.origin[dim] + i) {
            arrayq_storage::CoordValue::Time(t) | arrayq_storage::CoordValue::Label(t) => t,
            arrayq_storage::CoordValue::Number(x) => x as i64,
            // The binder refuses text label dimensions as values.
            arrayq_storage::CoordValue::Text(_) => 0,
        })
        .collect();
    let mut f = Vec::new();
    let mut g = Vec::new();
    for _ in 0..outer {
        for k in 0..shape[dim] {
            if ty == EType::I64 {
                g.extend(std::iter::repeat_n(ivals[k], inner));
            } else {
                f.extend(std::iter::repeat_n(vals[k], inner));
            }
        }
    }
    if ty == EType::I64 {
        Col::I64(g)
    } else {
        Col::F64(f)
    }
}

#[cfg(test)]
mod tests;
