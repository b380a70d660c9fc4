//! An aggregate answered (in part) from chunk statistics: the chunks whose cells
//! the region holds whole are summed from the count, sum, minimum and maximum kept
//! at commit; only the chunks the region cuts (or that have no statistics) are read.

use arrayq_storage::ChunkStats;
use std::collections::HashSet;

/// Where a scalar aggregate's whole chunks come from (set by the
/// `chunk_statistics` optimizer rule).
#[derive(Debug)]
pub struct ChunkStatistics {
    /// The layout whose chunks are summed and whose cut chunks are read.
    pub layout: usize,
    /// Per aggregate input, the statistics of every whole chunk merged.
    pub merged: Vec<ChunkStats>,
    /// The whole chunks (grid coordinates of `layout`): the scan skips them.
    pub whole: HashSet<Vec<u64>>,
    /// Chunks of the region that are read and decoded (cut, or without statistics).
    pub decoded_chunks: u64,
    /// Raw bytes of the whole chunks' cells that are not decoded.
    pub bytes_skipped: u64,
}
