//! The parts of an aggregation: functions, their inputs (with the statistics they
//! need) and the group keys that keep dimensions.

use super::Bucket;
use crate::eval::PExpr;
use crate::CoordValues;

/// One kept dimension of an aggregate result.
#[derive(Clone, Debug)]
pub struct GroupKey {
    pub dim: usize,
    pub name: String,
    /// How the key buckets the dimension (none: every selected index is a group).
    pub bucket: Option<Bucket>,
    /// Region-relative index -> group position (or [`SKIP`](super::SKIP)).
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
    /// `median(x)`, `quantile(x, q)`, `percentile_cont(q) WITHIN GROUP (ORDER BY
    /// x)`: exact, interpolated linearly between the closest ranks (numpy's default).
    Quantile,
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
            "median" | "quantile" | "percentile_cont" => AggFunc::Quantile,
            _ => return None,
        })
    }

    pub const NAMES: [&'static str; 17] = [
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
        "median",
        "quantile",
        "percentile_cont",
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
    /// Every value of a group is held (quantiles).
    pub hold: bool,
}

#[derive(Clone, Debug)]
pub struct AggCall {
    pub func: AggFunc,
    pub input: usize,
    /// The fraction of a quantile (0.5 for the median).
    pub q: Option<f64>,
}

impl GroupKey {
    /// The key as written in a query (for EXPLAIN): the dimension, or its bucket.
    pub fn text(&self, dim_name: &str) -> String {
        match &self.bucket {
            None => dim_name.to_string(),
            Some(b) => b.text(dim_name),
        }
    }
}
