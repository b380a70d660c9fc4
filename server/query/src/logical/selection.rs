//! What a query selects along each dimension: the hyperslab read from storage plus
//! label picks inside it.

use arrayq_storage::Region;
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
    /// The whole of a dimension of `len` cells.
    pub fn all(len: u64) -> DimSel {
        DimSel {
            range: 0..len,
            picks: None,
            squeeze: false,
        }
    }

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

/// The pieces of `region` cut along the chunks of `chunk_shape`, row-major.
pub fn chunk_pieces(region: &Region, chunk_shape: &[u64]) -> Vec<Region> {
    region
        .chunks(chunk_shape)
        .iter()
        .map(|c| {
            Region::of_chunk(c, chunk_shape)
                .intersect(region)
                .expect("chunk touches region")
        })
        .collect()
}
