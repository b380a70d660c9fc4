//! Window functions along one dimension of the gridded result, per cell of the
//! other dimensions (a "pencil" of cells).

use super::{LogicalPlan, OutputColumn};

/// What a window computes over its frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowFunc {
    Avg,
    Sum,
    Min,
    Max,
    Count,
    /// The value `n` rows before (after, for `Lead`) along the dimension.
    Lag(usize),
    Lead(usize),
}

impl WindowFunc {
    pub fn parse(name: &str) -> Option<WindowFunc> {
        Some(match name {
            "avg" | "mean" => WindowFunc::Avg,
            "sum" => WindowFunc::Sum,
            "min" => WindowFunc::Min,
            "max" => WindowFunc::Max,
            "count" => WindowFunc::Count,
            "lag" => WindowFunc::Lag(1),
            "lead" => WindowFunc::Lead(1),
            _ => return None,
        })
    }
}

/// One windowed column: the input column `column` (the function's argument, as
/// f64) is replaced by the function over frames along grid axis `axis` (`None`:
/// the dimension was squeezed out, every pencil is one cell long).
#[derive(Clone, Debug)]
pub struct WindowCol {
    pub column: usize,
    pub func: WindowFunc,
    pub axis: Option<usize>,
    /// Frame bounds relative to the current index, ascending along the axis
    /// (`None`: unbounded).
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// For EXPLAIN: `avg(t2m) OVER (ORDER BY time ROWS 23 PRECEDING..CURRENT ROW)`.
    pub text: String,
}

/// The input's columns with some of them replaced by windows; the grid is kept.
pub struct WindowNode {
    pub input: Box<LogicalPlan>,
    /// The input grid's extents (the result's shape).
    pub shape: Vec<usize>,
    pub windows: Vec<WindowCol>,
    /// The output columns (windowed ones with their own dtypes).
    pub columns: Vec<OutputColumn>,
}
