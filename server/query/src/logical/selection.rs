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
        self.positions_in(self.range.clone())
    }

    /// For every absolute index of `r` (inside `range`), its position among the
    /// selected ones (SKIP where not selected): the part of [`DimSel::positions`] a
    /// slab of the output needs, without building the whole dimension's.
    pub fn positions_in(&self, r: std::ops::Range<u64>) -> Vec<u32> {
        match &self.picks {
            None => (r.start - self.range.start..r.end - self.range.start)
                .map(|i| i as u32)
                .collect(),
            Some(p) => {
                let mut m = vec![SKIP; (r.end - r.start) as usize];
                for (k, &i) in p.iter().enumerate() {
                    if r.contains(&i) {
                        m[(i - r.start) as usize] = k as u32;
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A slab's positions are the matching stretch of the whole dimension's.
    #[test]
    fn positions_in_a_stretch_are_that_stretch_of_the_whole() {
        let sel = |picks: Option<Vec<u64>>| DimSel {
            range: 10..30,
            picks,
            squeeze: false,
        };
        for s in [sel(None), sel(Some(vec![11, 12, 17, 25, 29]))] {
            let whole = s.positions();
            assert_eq!(whole.len(), 20);
            for (a, b) in [(10, 30), (10, 11), (12, 18), (17, 26), (29, 30)] {
                assert_eq!(
                    s.positions_in(a..b),
                    whole[(a - 10) as usize..(b - 10) as usize],
                    "{a}..{b} of {:?}",
                    s.picks
                );
            }
        }
        let picked = sel(Some(vec![11, 12, 17, 25, 29])).positions();
        let want: Vec<u32> = (10..30)
            .map(|i| match i {
                11 => 0,
                12 => 1,
                17 => 2,
                25 => 3,
                29 => 4,
                _ => SKIP,
            })
            .collect();
        assert_eq!(picked, want);
    }
}
