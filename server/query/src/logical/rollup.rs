//! An aggregate answered from a rollup: the whole UTC days of the region come from
//! the rollup's buckets, the hours at its edges (days the region cuts) are read raw.

use std::ops::Range;

/// Where an aggregate's whole days come from (set by the `rollup_source` rule).
#[derive(Debug)]
pub struct RollupSource {
    /// Index of the rollup in the snapshot's rollups.
    pub rollup: usize,
    pub name: String,
    /// The rollup's time dimension.
    pub dim: usize,
    /// Per aggregate input, the attribute index it reads.
    pub attrs: Vec<usize>,
    /// Day keys read from the rollup (see `arrayq_storage::DayGrid`).
    pub days: Range<u64>,
    /// The time indices those days hold.
    pub whole: Range<u64>,
    /// Time index ranges of the region outside whole days: read raw.
    pub edges: Vec<Range<u64>>,
    /// Why the rollup answers exactly (for EXPLAIN).
    pub why: String,
}
