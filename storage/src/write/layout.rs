//! Adding a physical layout: a new version whose data is the head's, copied into
//! the new layout's chunks.

use super::encode::fill_chunk;
use super::le_bytes;
use crate::chunk_stats::ChunkStats;
use crate::disk_space::stored_chunk_bound;
use crate::error::Result;
use crate::keys;
use crate::meta::{ChangeKind, CommitInfo, LayoutStats, VersionMeta};
use crate::region::{copy_box, Region};
use crate::schema::Layout;
use crate::store::{now_ns, ArrayState, Store};
use rayon::prelude::*;

/// One encoded chunk of a new layout: its key, stored bytes and statistics.
type KeyedChunk = (Vec<u8>, Vec<u8>, Option<ChunkStats>);

impl Store {
    /// Adds a physical layout and fills it from the current data, as a new version.
    pub fn add_layout(&self, array: &str, layout: Layout) -> Result<CommitInfo> {
        let _w = self.inner.commit_lock.lock();
        let st = self.state(array)?;
        let mark = self.inner.segments.append_mark();
        self.add_layout_locked(&st, layout)
            .map_err(|e| self.undo_pending(&st, &mark, e))
    }

    fn add_layout_locked(&self, st: &ArrayState, mut layout: Layout) -> Result<CommitInfo> {
        let mut schema = st.head.schema.clone();
        let mut names = schema.layouts.iter().map(|l| l.name.clone()).collect();
        crate::schema::check_layout(&layout, schema.dims.len(), &mut names)?;
        layout.id = schema.layouts.iter().map(|l| l.id + 1).max().unwrap_or(0);
        layout.key_offset = inherited_key_offset(&schema.layouts, &layout.chunk_shape);
        let snap = crate::Snapshot::new(self.clone(), st.head.clone());
        let version = st.head.version + 1;
        let shape = schema.shape();
        let full = Region::full(&shape);
        let chunks = full.chunks(&layout.chunk_shape);
        let mut stats = LayoutStats::default();
        let raw = layout.chunk_len() as u64
            * schema
                .attrs
                .iter()
                .map(|a| a.dtype.size() as u64)
                .sum::<u64>();
        let bound = chunks.len() as u64 * stored_chunk_bound(raw as usize);
        self.ensure_space(bound, "the new layout")?;
        self.mark_pending(st.id, version)?;
        for a in 0..schema.attrs.len() {
            let attr = &schema.attrs[a];
            let fill = attr.fill_value().to_le_bytes(attr.dtype);
            let esize = attr.dtype.size();
            let group = (self.inner.opts.batch_bytes / (layout.chunk_len() * esize)).max(1);
            for part in chunks.chunks(group) {
                let encoded: Vec<Option<KeyedChunk>> = part
                    .par_iter()
                    .map(|c| -> Result<_> {
                        let creg = Region::of_chunk(c, &layout.chunk_shape);
                        let inside = creg.intersect(&full).expect("chunk of the array");
                        let data = snap.read_with(a, &inside, Default::default())?;
                        let bytes = le_bytes(&data);
                        if bytes.chunks_exact(esize).all(|e| e == fill.as_slice()) {
                            return Ok(None); // nothing but fill: store nothing
                        }
                        let mut raw = fill_chunk(&fill, layout.chunk_len());
                        let cshape: Vec<usize> =
                            layout.chunk_shape.iter().map(|&x| x as usize).collect();
                        copy_box(
                            &bytes,
                            &inside.shape(),
                            &vec![0; cshape.len()],
                            &mut raw,
                            &cshape,
                            &vec![0; cshape.len()],
                            &inside.shape(),
                            esize,
                        );
                        let key = keys::with_version(
                            &keys::chunk_prefix(st.id, layout.id, attr.id, &layout.key_coords(c)),
                            version,
                        );
                        let chunk_stats = ChunkStats::compute(&raw, attr.dtype);
                        Ok(Some((key, layout.codec.encode(&raw)?, chunk_stats)))
                    })
                    .collect::<Result<_>>()?;
                let mut batch = sled::Batch::default();
                for (k, v, chunk_stats) in encoded.into_iter().flatten() {
                    stats.chunks += 1;
                    stats.bytes += v.len() as u64;
                    self.count_written(v.len());
                    batch.insert(k, self.put_chunk_value(&v, chunk_stats)?);
                }
                self.inner.tree.apply_batch(batch)?;
            }
        }
        self.sync()?;
        schema.layouts.push(layout);
        let mut all_stats = st.head.stats.clone();
        all_stats.push(stats);
        let meta = VersionMeta {
            array_id: st.id,
            version,
            timestamp_ns: now_ns(),
            schema,
            stats: all_stats,
            cells_written: 0,
            marks: st.head.marks.clone(),
            rollups: st.head.rollups.clone(),
            rollup_stats: st.head.rollup_stats.clone(),
        };
        self.finish_commit(
            sled::Batch::default(),
            meta,
            ChangeKind::AddLayout,
            vec![],
            Some(st),
        )
    }
}

/// The key offset of a layout added to an array whose layouts already reserve room
/// before their start: the same number of cells, in the new layout's chunks.
pub(super) fn inherited_key_offset(layouts: &[Layout], chunk_shape: &[u64]) -> Vec<u64> {
    let reserve = |d: usize| {
        layouts
            .iter()
            .map(|l| l.key_offset.get(d).copied().unwrap_or(0) * l.chunk_shape[d])
            .min()
            .unwrap_or(0)
    };
    let offset: Vec<u64> = (0..chunk_shape.len())
        .map(|d| reserve(d) / chunk_shape[d])
        .collect();
    if offset.iter().all(|&o| o == 0) {
        Vec::new()
    } else {
        offset
    }
}
