//! Writes kept in a model array and reads through a chosen layout, for the tests
//! that compare what the store returns with what was written.

use arrayq_storage::*;
use ndarray::{ArrayD, SliceInfoElem};

use super::as_f32;

/// Writes `block` (f32) to attribute `v` of array `a` at `start`, one commit, and
/// the same cells into `model`.
pub fn write_tracked(store: &Store, model: &mut ArrayD<f32>, start: &[u64], block: Buffer) {
    let cells = as_f32(block.clone());
    let at: Vec<SliceInfoElem> = start
        .iter()
        .zip(cells.shape())
        .map(|(&s, &n)| (s as usize..s as usize + n).into())
        .collect();
    model.slice_mut(at.as_slice()).assign(&cells);
    store.write("a", "v", start, block).unwrap();
}

/// The f32 values of attribute 0 in `region`, read through layout `layout`.
pub fn read_layout(snap: &Snapshot, region: &Region, layout: usize) -> ArrayD<f32> {
    as_f32(
        snap.read_with(
            0,
            region,
            ReadOptions {
                layout: Some(layout),
                ..Default::default()
            },
        )
        .unwrap(),
    )
}
