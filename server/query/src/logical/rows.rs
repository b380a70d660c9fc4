//! Nodes that change which cells or rows a result holds without changing how they
//! are computed: the value mask of a WHERE clause and the ordering of a result
//! into a table of rows.

use super::LogicalPlan;
use crate::eval::PExpr;
use crate::CoordValues;

/// Cells where `pred` is not true become missing (NaN) in the parent's values.
pub struct MaskNode {
    pub input: Box<LogicalPlan>,
    /// A bool expression over the scan's slots and coordinates.
    pub pred: PExpr,
    /// The conditions, as written (for EXPLAIN).
    pub text: String,
}

/// One key of an ordering: a column of the table (dimension columns first).
#[derive(Clone, Debug)]
pub struct SortKey {
    pub column: usize,
    pub desc: bool,
    pub nulls_first: bool,
    /// As EXPLAIN shows it: `m DESC NULLS FIRST`.
    pub text: String,
}

/// The gridded result of `input` as a table: one row per cell, the coordinates of
/// the grid's dimensions as the first columns, then the values; rows ordered by
/// `keys` (ties and no keys: row-major cell order), `offset` rows skipped, at most
/// `limit` kept.
pub struct SortNode {
    pub input: Box<LogicalPlan>,
    /// The grid the input produces, per dimension: name and coordinates.
    pub grid: Vec<(String, CoordValues)>,
    pub keys: Vec<SortKey>,
    pub limit: Option<u64>,
    pub offset: u64,
}

impl SortNode {
    /// Cells of the input grid.
    pub fn cells(&self) -> usize {
        self.grid.iter().map(|g| g.1.len()).product()
    }

    /// Rows of the table: the cells after OFFSET and LIMIT.
    pub fn rows(&self) -> usize {
        let after = (self.cells() as u64).saturating_sub(self.offset);
        self.limit.map_or(after, |l| after.min(l)) as usize
    }
}
