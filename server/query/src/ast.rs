//! arrayq's own syntax tree: what the parser produces from sqlparser's AST (queries)
//! or from tokens directly (array DDL).

use crate::error::Span;
use arrayq_storage::{DType, MetadataMap};

/// One statement of the language.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    Select(Box<Select>),
    Explain {
        analyze: bool,
        query: Box<Select>,
    },
    CreateArray(CreateArray),
    /// `CREATE ARRAY name [WITH (...)] AS SELECT ...`
    CreateArrayAs(CreateArrayAs),
    /// `INSERT INTO name SELECT ...` / `INSERT INTO name [(cols)] VALUES (...), ...`
    Insert(Insert),
    AddLayout(AddLayout),
    AlterRollup(AlterRollup),
    DropArray {
        name: Name,
        if_exists: bool,
    },
    ShowArrays,
    Describe(Name),
    /// `VACUUM name [KEEP n VERSIONS | OLDER THAN '...']`: an administrative
    /// statement of its own kind (it removes history).
    Vacuum(Vacuum),
    /// `ALTER ARRAY name SET (retain = '...', retain_versions = n)` /
    /// `ALTER ARRAY name RESET (retain, retain_versions)`
    AlterRetention(AlterRetention),
}

/// A name in the query text and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Name {
    pub value: String,
    pub span: Span,
}

/// Which version a query reads.
#[derive(Clone, Debug, PartialEq)]
pub enum AsOfSpec {
    Latest,
    Version(u64),
    /// An ISO-8601 instant (UTC unless it carries an offset).
    Timestamp(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Select {
    pub items: Vec<SelectItem>,
    /// `WITH name AS (query), ...`: named queries that the FROM and JOIN (and the
    /// queries of later CTEs) read like arrays.
    pub ctes: Vec<Cte>,
    /// The array read, or the name of a CTE or of the subquery in `from_query`.
    pub from: Name,
    /// `FROM (SELECT ...) [alias]`: the subquery read (named `from`).
    pub from_query: Option<Box<Select>>,
    pub as_of: AsOfSpec,
    /// Where the `AS OF ...` value is (unknown when there is none).
    pub as_of_span: Span,
    pub filter: Option<Expr>,
    pub group_by: Vec<Expr>,
    /// `GROUP BY key AS name`: the result dimension's name, per key of `group_by`.
    pub group_names: Vec<Option<Name>>,
    /// `FROM name WITH (layout = 'x')`: read through layout `x` instead of the one the
    /// planner would choose (benchmarks, diagnosis).
    pub layout: Option<Name>,
    /// `FROM reproject(from, ...)`: the query reads `from` on a projected grid.
    pub reproject: Option<Reproject>,
    /// `HAVING cond` (aggregate queries).
    pub having: Option<Expr>,
    /// `ORDER BY ...`, `LIMIT n`, `OFFSET m`: the result becomes a table of rows.
    pub order: OrderSpec,
    /// `FROM a [alias] JOIN b [alias] ON ...`: a join of two arrays.
    pub join: Option<Join>,
}

/// `WITH name AS (query)`: a query named for the FROM and JOIN clauses after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Cte {
    pub name: Name,
    pub query: Box<Select>,
}

/// `FROM left [AS] l JOIN right [AS] r ON cond`: cells of the left array meet the
/// cells of the right one with equal coordinates on the dimensions `cond` pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct Join {
    /// The left array's alias (the array's own name qualifies it too).
    pub left_alias: Option<Name>,
    /// The right array, or the name of a CTE or of the subquery in `right_query`.
    pub right: Name,
    pub right_alias: Option<Name>,
    /// `JOIN (SELECT ...) alias`: the subquery read (named `right`).
    pub right_query: Option<Box<Select>>,
    /// The ON condition: equalities joined by AND.
    pub on: Expr,
}

/// `ORDER BY`, `LIMIT` and `OFFSET` of a query (all empty when absent).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrderSpec {
    pub keys: Vec<OrderKey>,
    /// `LIMIT n` and where `n` is written.
    pub limit: Option<(u64, Span)>,
    pub offset: Option<(u64, Span)>,
}

impl OrderSpec {
    /// Whether the query asks for a table of rows.
    pub fn is_table(&self) -> bool {
        !self.keys.is_empty() || self.limit.is_some() || self.offset.is_some()
    }
}

/// One `ORDER BY` key: `expr [ASC|DESC] [NULLS FIRST|LAST]`.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderKey {
    pub expr: Expr,
    pub desc: bool,
    /// As written; `None` takes PostgreSQL's default (NULLS LAST for ASC, FIRST for DESC).
    pub nulls_first: Option<bool>,
}

/// The arguments of `reproject(array, crs => ..., resolution => ..., ...)`, each with
/// where it was written (unknown when absent).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reproject {
    /// The whole `reproject(...)` call.
    pub span: Span,
    pub crs: Option<(String, Span)>,
    pub src_crs: Option<(String, Span)>,
    pub resolution: Option<(f64, Span)>,
    /// `(xmin, ymin, xmax, ymax)` in target units.
    pub bounds: Option<([f64; 4], Span)>,
    pub method: Option<(String, Span)>,
    /// The source's (y, x) dimensions: `dims => ('lat', 'lon')`.
    pub dims: Option<([String; 2], Span)>,
    /// `like => other_array`: the target grid of another array's y/x dimensions.
    pub like: Option<Name>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SelectItem {
    Wildcard(Span),
    Expr { expr: Expr, alias: Option<String> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Eq => "=",
            BinOp::NotEq => "<>",
            BinOp::Lt => "<",
            BinOp::LtEq => "<=",
            BinOp::Gt => ">",
            BinOp::GtEq => ">=",
            BinOp::And => "AND",
            BinOp::Or => "OR",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::NotEq | BinOp::Lt | BinOp::LtEq | BinOp::Gt | BinOp::GtEq
        )
    }

    pub fn is_logical(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

/// An expression and the text it was written as (for error positions).
#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }
}

/// Expressions are equal when they say the same thing, wherever they are written
/// (a GROUP BY key matches the select item it repeats).
impl PartialEq for Expr {
    fn eq(&self, other: &Expr) -> bool {
        self.kind == other.kind
    }
}

impl From<ExprKind> for Expr {
    fn from(kind: ExprKind) -> Expr {
        Expr::new(kind, Span::default())
    }
}

/// An expression (element-wise, aggregate or predicate; the planner tells them apart).
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Ident(String),
    /// A numeric literal; `int` when written without a fraction or exponent.
    Number {
        value: f64,
        int: bool,
        text: String,
    },
    Str(String),
    Bool(bool),
    Unary {
        op: UnOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// Function call, lower-case name; `star` for `count(*)`.
    Func {
        name: String,
        args: Vec<Expr>,
        star: bool,
    },
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    Cast {
        expr: Box<Expr>,
        dtype: DType,
    },
    /// `f(args) OVER (ORDER BY dim [frame])`: a window along one dimension.
    Window(Box<WindowCall>),
}

/// A window function call: `func` (a [`ExprKind::Func`]) over frames along the
/// dimension `order_by`, per cell of the other dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowCall {
    pub func: Expr,
    pub order_by: Name,
    pub desc: bool,
    /// `ROWS | RANGE BETWEEN ... AND ...`; `None` is the default frame (from the
    /// start to the current row).
    pub frame: Option<Frame>,
}

/// A window frame as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// `RANGE` (offsets are intervals of the ORDER BY coordinate) or `ROWS`.
    pub range: bool,
    pub start: FrameBound,
    pub end: FrameBound,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FrameBound {
    UnboundedPreceding,
    Preceding(FrameOffset),
    CurrentRow,
    Following(FrameOffset),
    UnboundedFollowing,
}

/// An offset of a frame bound: a number of rows, or an interval (`RANGE`).
#[derive(Clone, Debug, PartialEq)]
pub enum FrameOffset {
    Rows(u64),
    Interval(String),
}

impl std::fmt::Display for FrameBound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let off = |o: &FrameOffset| match o {
            FrameOffset::Rows(n) => n.to_string(),
            FrameOffset::Interval(s) => format!("INTERVAL '{s}'"),
        };
        match self {
            FrameBound::UnboundedPreceding => f.write_str("UNBOUNDED PRECEDING"),
            FrameBound::Preceding(o) => write!(f, "{} PRECEDING", off(o)),
            FrameBound::CurrentRow => f.write_str("CURRENT ROW"),
            FrameBound::Following(o) => write!(f, "{} FOLLOWING", off(o)),
            FrameBound::UnboundedFollowing => f.write_str("UNBOUNDED FOLLOWING"),
        }
    }
}

impl std::fmt::Display for WindowCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} OVER (ORDER BY {}", self.func, self.order_by.value)?;
        if self.desc {
            f.write_str(" DESC")?;
        }
        if let Some(fr) = &self.frame {
            let unit = if fr.range { "RANGE" } else { "ROWS" };
            write!(f, " {unit} BETWEEN {} AND {}", fr.start, fr.end)?;
        }
        f.write_str(")")
    }
}

impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::fmt::Display for ExprKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use ExprKind as Expr;
        match self {
            Expr::Ident(s) => write!(f, "{s}"),
            Expr::Number { text, .. } => write!(f, "{text}"),
            Expr::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Unary {
                op: UnOp::Neg,
                expr,
            } => write!(f, "-{expr}"),
            Expr::Unary {
                op: UnOp::Not,
                expr,
            } => write!(f, "NOT {expr}"),
            Expr::Binary { op, left, right } => write!(f, "({left} {} {right})", op.symbol()),
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let n = if *negated { "NOT " } else { "" };
                write!(f, "{expr} {n}BETWEEN {low} AND {high}")
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let n = if *negated { "NOT " } else { "" };
                write!(f, "{expr} {n}IN (")?;
                for (k, e) in list.iter().enumerate() {
                    if k > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str(")")
            }
            // Calls written in SQL's own syntax are shown that way.
            Expr::Func { name, args, .. } if name == "extract" && args.len() == 2 => {
                match &args[0].kind {
                    Expr::Str(field) => write!(f, "extract({field} FROM {})", args[1]),
                    other => write!(f, "extract({other} FROM {})", args[1]),
                }
            }
            Expr::Func { name, args, .. } if name == "percentile_cont" && args.len() == 2 => {
                write!(
                    f,
                    "percentile_cont({}) WITHIN GROUP (ORDER BY {})",
                    args[1], args[0]
                )
            }
            Expr::Func { name, args, star } => {
                write!(f, "{name}(")?;
                if *star {
                    f.write_str("*")?;
                }
                for (k, e) in args.iter().enumerate() {
                    if k > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str(")")
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => {
                f.write_str("CASE")?;
                if let Some(o) = operand {
                    write!(f, " {o}")?;
                }
                for (w, t) in whens {
                    write!(f, " WHEN {w} THEN {t}")?;
                }
                if let Some(e) = otherwise {
                    write!(f, " ELSE {e}")?;
                }
                f.write_str(" END")
            }
            Expr::Cast { expr, dtype } => write!(f, "CAST({expr} AS {dtype})"),
            Expr::Window(w) => write!(f, "{w}"),
        }
    }
}

/// `CREATE ARRAY name (dims and attributes) WITH (options)`
#[derive(Clone, Debug, PartialEq)]
pub struct CreateArray {
    pub name: String,
    pub if_not_exists: bool,
    pub dims: Vec<DimDef>,
    pub attrs: Vec<AttrDef>,
    /// `METADATA (key = 'value', ...)` after the item list: the array's own.
    pub metadata: MetadataMap,
    pub options: Vec<Opt>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DimDef {
    pub name: String,
    /// Where the dimension's name is in the query text.
    pub span: Span,
    pub kind: DimKind,
    pub length: Option<u64>,
    pub growable: bool,
    pub metadata: MetadataMap,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DimKind {
    Regular {
        start: f64,
        step: f64,
    },
    /// START and STEP, parsed (UTC ns since the epoch, ns).
    Time {
        start_ns: i64,
        step_ns: i64,
    },
    Labels(Vec<i64>),
    /// `TEXT LABELS ('a', 'b')`.
    TextLabels(Vec<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct AttrDef {
    pub name: String,
    pub dtype: DType,
    pub fill: Option<f64>,
    pub metadata: MetadataMap,
}

/// `CREATE ARRAY name [WITH (...)] AS SELECT ...`: the result stored as a new array.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateArrayAs {
    pub name: Name,
    pub if_not_exists: bool,
    pub options: Vec<Opt>,
    pub query: Box<Select>,
}

/// `INSERT INTO name ...`
#[derive(Clone, Debug, PartialEq)]
pub struct Insert {
    pub into: Name,
    pub source: InsertSource,
}

#[derive(Clone, Debug, PartialEq)]
pub enum InsertSource {
    /// Cells of a query result, placed by their coordinates.
    Select(Box<Select>),
    /// Cells given one per row: dimension coordinates and attribute values in
    /// `columns` order (all dimensions, then all attributes, when none are named).
    Values {
        columns: Vec<Name>,
        rows: Vec<Vec<Literal>>,
    },
}

/// A constant of `VALUES`, with where it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Literal {
    pub value: LiteralValue,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LiteralValue {
    Number(f64),
    Text(String),
    Bool(bool),
    Null,
}

/// One `key = value` of `WITH (...)`, with where its key and value are written.
#[derive(Clone, Debug, PartialEq)]
pub struct Opt {
    pub key: String,
    pub value: OptValue,
    pub key_span: Span,
    pub value_span: Span,
}

/// Values of `WITH (...)` options.
#[derive(Clone, Debug, PartialEq)]
pub enum OptValue {
    Number(f64),
    Str(String),
    Tuple(Vec<f64>),
}

/// `ALTER ARRAY name ADD LAYOUT lname CHUNKS (...) [WITH (...)]`
#[derive(Clone, Debug, PartialEq)]
pub struct AddLayout {
    pub array: Name,
    pub layout: String,
    pub chunks: Vec<u64>,
    /// Where the CHUNKS list is (from its first extent to its last).
    pub chunks_span: Span,
    pub options: Vec<Opt>,
}

/// `ALTER ARRAY name ADD ROLLUP ... | DROP ROLLUP rname`
#[derive(Clone, Debug, PartialEq)]
pub struct AlterRollup {
    pub array: Name,
    pub change: RollupChange,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RollupChange {
    /// `ADD ROLLUP name AS SELECT f(attr), ... GROUP BY date_trunc('day', day), dims...`
    Add {
        name: Name,
        calls: Vec<RollupCall>,
        day: Name,
        dims: Vec<Name>,
    },
    Drop {
        name: Name,
    },
}

/// One aggregate of `ADD ROLLUP`'s select list: `func(attr)`.
#[derive(Clone, Debug, PartialEq)]
pub struct RollupCall {
    pub func: String,
    pub attr: Name,
    pub span: Span,
}

/// `VACUUM name [KEEP n VERSIONS | OLDER THAN '...']`
#[derive(Clone, Debug, PartialEq)]
pub struct Vacuum {
    pub array: Name,
    /// What to keep (`VACUUM name` alone: the newest version only).
    pub keep: arrayq_storage::Retention,
}

/// A change of an array's retention policy: `None` leaves a rule as it is,
/// `Some(None)` removes it (RESET), `Some(Some(x))` sets it (SET).
#[derive(Clone, Debug, PartialEq)]
pub struct AlterRetention {
    pub array: Name,
    pub versions: Option<Option<u64>>,
    pub max_age_ns: Option<Option<i64>>,
}
