//! Records -> hyperslabs: cells given one by one (coordinates in index space and a
//! value, as a row-oriented loader reads them) are assembled into dense tiles aligned
//! with the first layout's chunks. A sealed tile becomes one block when every cell of
//! it was given, else one block per run of given cells along the innermost
//! dimension, so cells never given keep their stored values.

use crate::region::{for_each_run, Region};
use std::collections::HashMap;

/// A tile being assembled: its box, its bytes and which cells were given.
struct Tile {
    region: Region,
    bytes: Vec<u8>,
    given: Vec<bool>,
    count: usize,
}

/// A dense hyperslab produced by sealing tiles.
pub(crate) struct SealedBlock {
    pub attr: usize,
    pub region: Region,
    pub bytes: Vec<u8>,
}

/// The tiles of one sink, per attribute.
pub(crate) struct Tiles {
    tile_shape: Vec<u64>,
    /// Where each tile is in `list`.
    index: HashMap<(usize, Vec<u64>), usize>,
    /// Tiles in the order they were started, so sealing is deterministic.
    list: Vec<((usize, Vec<u64>), Tile)>,
    /// The tile the last cell went to: rows arrive mostly in order, so most cells
    /// find their tile here without hashing.
    last: Option<usize>,
    bytes: usize,
}

impl Tiles {
    pub(crate) fn new(tile_shape: Vec<u64>) -> Tiles {
        Tiles {
            tile_shape,
            index: HashMap::new(),
            list: Vec::new(),
            last: None,
            bytes: 0,
        }
    }

    /// Memory the tiles hold.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Sets the cells at `coords` (`rank` per cell, flat) of attribute `attr` to
    /// `values` (`esize` bytes each, little-endian). Coordinates are checked by the
    /// caller. A cell given twice keeps the later value.
    pub(crate) fn push(&mut self, attr: usize, esize: usize, coords: &[u64], values: &[u8]) {
        let rank = self.tile_shape.len();
        let tile_cells: usize = self.tile_shape.iter().map(|&n| n as usize).product();
        let mut key = vec![0u64; rank];
        for (cell, value) in coords.chunks_exact(rank).zip(values.chunks_exact(esize)) {
            for ((k, c), n) in key.iter_mut().zip(cell).zip(&self.tile_shape) {
                *k = c / n;
            }
            let hit = self
                .last
                .filter(|&t| self.list[t].0 .0 == attr && self.list[t].0 .1 == key);
            let t = match hit {
                Some(t) => t,
                None => {
                    let t = match self.index.get(&(attr, key.clone())) {
                        Some(&t) => t,
                        None => {
                            self.bytes += tile_cells * (esize + 1);
                            let tile = Tile {
                                region: Region::of_chunk(&key, &self.tile_shape),
                                bytes: vec![0; tile_cells * esize],
                                given: vec![false; tile_cells],
                                count: 0,
                            };
                            self.list.push(((attr, key.clone()), tile));
                            self.index.insert((attr, key.clone()), self.list.len() - 1);
                            self.list.len() - 1
                        }
                    };
                    self.last = Some(t);
                    t
                }
            };
            let tile = &mut self.list[t].1;
            let mut at = 0usize;
            for ((c, r), n) in cell.iter().zip(&tile.region.0).zip(&self.tile_shape) {
                at = at * *n as usize + (c - r.start) as usize;
            }
            tile.bytes[at * esize..(at + 1) * esize].copy_from_slice(value);
            if !tile.given[at] {
                tile.given[at] = true;
                tile.count += 1;
            }
        }
    }

    /// Moves every tile `cells` cells up along dimension `d` (a whole number of
    /// tiles), after the dimension grew backward by that much.
    pub(crate) fn shift(&mut self, d: usize, cells: u64) {
        let by = cells / self.tile_shape[d];
        debug_assert_eq!(by * self.tile_shape[d], cells, "whole tiles only");
        self.index.clear();
        for (t, ((a, key), tile)) in self.list.iter_mut().enumerate() {
            key[d] += by;
            let r = &mut tile.region.0[d];
            *r = r.start + cells..r.end + cells;
            self.index.insert((*a, key.clone()), t);
        }
    }

    /// Turns every tile into blocks (in the order the tiles were started) and
    /// frees them.
    pub(crate) fn seal(&mut self) -> Vec<SealedBlock> {
        let mut out = Vec::new();
        for ((attr, _), tile) in std::mem::take(&mut self.list) {
            seal_tile(attr, tile, &mut out);
        }
        self.index.clear();
        self.last = None;
        self.bytes = 0;
        out
    }
}

fn seal_tile(attr: usize, tile: Tile, out: &mut Vec<SealedBlock>) {
    if tile.count == tile.given.len() {
        out.push(SealedBlock {
            attr,
            region: tile.region,
            bytes: tile.bytes,
        });
        return;
    }
    let shape = tile.region.shape();
    let rank = shape.len();
    let esize = tile.bytes.len() / tile.given.len();
    let row = shape[rank - 1];
    // One call per row of the innermost dimension (in cells: esize 1).
    let mut rows = Vec::new();
    for_each_run(
        &shape,
        &vec![0; rank],
        &shape,
        &vec![0; rank],
        &shape,
        1,
        |s, _, _| rows.push(s),
    );
    for start in rows {
        let given = &tile.given[start..start + row];
        let mut i = 0;
        while i < row {
            if !given[i] {
                i += 1;
                continue;
            }
            let j = i + given[i..].iter().take_while(|&&g| g).count();
            // The row's leading index from its flat offset.
            let mut idx = vec![0u64; rank];
            let mut rest = start / row;
            for d in (0..rank - 1).rev() {
                idx[d] = (rest % shape[d]) as u64;
                rest /= shape[d];
            }
            let mut region = tile.region.clone();
            for (d, r) in region.0.iter_mut().enumerate().take(rank - 1) {
                let s = r.start + idx[d];
                *r = s..s + 1;
            }
            let base = tile.region.0[rank - 1].start;
            region.0[rank - 1] = base + i as u64..base + j as u64;
            out.push(SealedBlock {
                attr,
                region,
                bytes: tile.bytes[(start + i) * esize..(start + j) * esize].to_vec(),
            });
            i = j;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_tile_is_one_block_partial_tile_is_runs() {
        let mut t = Tiles::new(vec![2, 4]);
        // Tile (0,0) complete; tile (0,1) gets cells (0,4),(0,5) and (1,7).
        let mut coords = Vec::new();
        let mut values = Vec::new();
        for i in 0..2u64 {
            for j in 0..4u64 {
                coords.extend([i, j]);
                values.push((10 * i + j) as u8);
            }
        }
        coords.extend([0, 4, 0, 5, 1, 7]);
        values.extend([4, 5, 17]);
        t.push(0, 1, &coords, &values);
        let blocks = t.seal();
        assert_eq!(t.bytes(), 0);
        let got: Vec<(String, Vec<u8>)> = blocks
            .iter()
            .map(|b| (b.region.to_string(), b.bytes.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("[0..2, 0..4]".to_string(), vec![0, 1, 2, 3, 10, 11, 12, 13]),
                ("[0..1, 4..6]".to_string(), vec![4, 5]),
                ("[1..2, 7..8]".to_string(), vec![17]),
            ]
        );
    }
}
