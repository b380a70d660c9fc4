//! The process-wide cache of coordinate maps, keyed by (source grid, target grid,
//! CRS pair), bounded in bytes (least recently used maps go first).

use crate::{Bounds, CoordMap, IndexBox, RegridError, SourceGrid, TargetGrid, Transformer};
use parking_lot::Mutex;
use std::sync::Arc;

type Key = ([u64; 7], [u64; 6], Transformer);

struct Cache {
    /// Most recently used last.
    entries: Vec<(Key, Arc<CoordMap>)>,
}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    entries: Vec::new(),
});

/// Bytes of coordinate maps kept (a 10 km map of Europe is ~4 MB).
const CACHE_BYTES: usize = 512 << 20;

/// Whether a coordinate map came from the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheLookup {
    Hit,
    Miss,
}

/// The coordinate map of a grid pair, from the cache or computed (outside the lock:
/// other queries go on meanwhile; two computing the same map keep the first).
pub fn coord_map(
    source: SourceGrid,
    target: TargetGrid,
    transformer: &Transformer,
) -> Result<(Arc<CoordMap>, CacheLookup), RegridError> {
    let key: Key = (source.key(), target.key(), transformer.clone());
    {
        let mut c = CACHE.lock();
        if let Some(p) = c.entries.iter().position(|(k, _)| *k == key) {
            let e = c.entries.remove(p);
            let map = e.1.clone();
            c.entries.push(e);
            return Ok((map, CacheLookup::Hit));
        }
    }
    let map = Arc::new(CoordMap::compute(source, target, transformer.clone())?);
    let mut c = CACHE.lock();
    if let Some((_, m)) = c.entries.iter().find(|(k, _)| *k == key) {
        return Ok((m.clone(), CacheLookup::Miss));
    }
    c.entries.push((key, map.clone()));
    let mut total: usize = c.entries.iter().map(|(_, m)| m.bytes()).sum();
    while total > CACHE_BYTES && c.entries.len() > 1 {
        total -= c.entries.remove(0).1.bytes();
    }
    Ok((map, CacheLookup::Miss))
}

type BoundsKey = ([u64; 7], Transformer);

static BOUNDS: Mutex<Vec<(BoundsKey, Bounds)>> = Mutex::new(Vec::new());

/// The bounding box, in the target CRS, of the source cell centres `cells`
/// transformed by `to_target` (cells PROJ cannot transform are left out); cached.
pub fn source_bounds(
    source: SourceGrid,
    cells: &IndexBox,
    to_target: &Transformer,
) -> Result<Bounds, RegridError> {
    let mut key_grid = source.key();
    // The box is part of the key: fold it into the grid's key.
    key_grid[2] ^= (cells.i.start as u64) << 32 | cells.i.end as u64;
    key_grid[5] ^= (cells.j.start as u64) << 32 | cells.j.end as u64;
    let key = (key_grid, to_target.clone());
    if let Some((_, b)) = BOUNDS.lock().iter().find(|(k, _)| *k == key) {
        return Ok(*b);
    }
    let mut pts: Vec<(f64, f64)> = cells
        .i
        .clone()
        .flat_map(|i| cells.j.clone().map(move |j| source.centre(i, j)))
        .collect();
    to_target.transform(&mut pts)?;
    let mut b = Bounds {
        xmin: f64::INFINITY,
        ymin: f64::INFINITY,
        xmax: f64::NEG_INFINITY,
        ymax: f64::NEG_INFINITY,
    };
    for (x, y) in pts.into_iter().filter(|p| p.0.is_finite()) {
        b.xmin = b.xmin.min(x);
        b.xmax = b.xmax.max(x);
        b.ymin = b.ymin.min(y);
        b.ymax = b.ymax.max(y);
    }
    if b.xmin > b.xmax {
        return Err(RegridError::Grid(format!(
            "no source cell centre can be transformed to '{}'",
            to_target.to
        )));
    }
    let mut all = BOUNDS.lock();
    if all.len() >= 64 {
        all.remove(0);
    }
    all.push((key, b));
    Ok(b)
}
