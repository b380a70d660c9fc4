//! The part of a scalar aggregate summed from chunk statistics: one partial over
//! the single group, merged with the partials of the chunks read like any other.

use super::accumulator::{GroupStats, NeededStats};
use super::tasks::Partial;
use crate::logical::ChunkStatistics;
pub(super) use crate::physical::scan::chunk_of;
use crate::physical::scan::ScanExec;

/// The partial of the whole chunks: per input, its merged statistics as the
/// single group's count, sum (unshifted: shift 0) and extrema.
pub(super) fn partial(s: &ChunkStatistics, needs: &[NeededStats]) -> Partial {
    // Extrema in f64: the merge at the end takes either form.
    let f64_needs: Vec<NeededStats> = needs
        .iter()
        .map(|&n| NeededStats { f32: false, ..n })
        .collect();
    let mut part = Partial::new(0, 1, &f64_needs);
    for ((acc, need), st) in part.accs.iter_mut().zip(&f64_needs).zip(&s.merged) {
        if st.count == 0 {
            continue; // saw nothing: the shift stays NaN
        }
        fill(acc, *need, st);
    }
    part
}

fn fill(acc: &mut GroupStats, need: NeededStats, st: &arrayq_storage::ChunkStats) {
    acc.shift = 0.0;
    acc.counts_mut()[0] = st.count;
    if need.sum {
        acc.sums[0] = st.sum;
    }
    if need.min {
        acc.mins[0] = st.min;
    }
    if need.max {
        acc.maxs[0] = st.max;
    }
}

/// EXPLAIN's lines for the statistics' share of the aggregate.
pub(super) fn explain(s: &ChunkStatistics, scan: &ScanExec) -> Vec<String> {
    let layout = &scan.schema().layouts[s.layout];
    vec![
        format!(
            "  source: chunk statistics of layout '{}' for {} whole chunk(s) ({} of raw cells not decoded); {} chunk(s) cut by the region or without statistics are read",
            layout.name,
            s.whole.len(),
            crate::physical::explain::fmt_bytes(s.bytes_skipped),
            s.decoded_chunks
        ),
        "  why: every call is count, sum, avg, min or max of a stored attribute over all cells (no group, no value condition): a chunk's count, sum and extrema kept at commit give its share exactly".into(),
    ]
}
