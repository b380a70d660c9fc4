//! Encoding a commit's chunks: every chunk the writes touch, in every layout and
//! attribute, read back when only partly overwritten, encoded and stored on rayon.

use super::PendingWrite;
use crate::chunk_stats::ChunkStats;
use crate::disk_space::stored_chunk_bound;
use crate::error::{Result, StorageError};
use crate::keys;
use crate::meta::LayoutStats;
use crate::region::{is_contiguous, offset_of, Region};
use crate::schema::{ArraySchema, Layout};
use crate::store::{ArrayState, Store};
use crate::write_source::copy_box_from;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// What the workers encoding one layout's chunks of one attribute share.
struct EncodeJob<'a> {
    st: &'a ArrayState,
    schema: &'a ArraySchema,
    layout: &'a Layout,
    attr: &'a crate::schema::Attribute,
    writes: &'a [PendingWrite],
    full: &'a Region,
    version: u64,
}

/// One encoded chunk: its key, stored bytes, the size of the version it replaces and
/// its statistics.
type Encoded = (Vec<u8>, Vec<u8>, Option<usize>, Option<ChunkStats>);

impl EncodeJob<'_> {
    /// Encodes chunk `c`; `mine` are the writes touching it, in order (later ones win).
    fn encode(&self, store: &Store, c: &[u64], mine: &[usize]) -> Result<Encoded> {
        let (layout, attr, st) = (self.layout, self.attr, self.st);
        let cs = &layout.chunk_shape;
        let esize = attr.dtype.size();
        let key = keys::with_version(
            &keys::chunk_prefix(st.id, layout.id, attr.id, &layout.key_coords(c)),
            self.version,
        );
        let old = store.fetch_chunk(
            st.id,
            layout.id,
            attr.id,
            &layout.key_coords(c),
            st.head.version,
        )?;
        let old_len = old.as_ref().map(|(_, b)| b.len());
        let creg = Region::of_chunk(c, cs);
        // A chunk one write covers entirely (within the array) need not be read back:
        // nothing of the old one survives.
        let inside = creg.intersect(self.full).expect("chunk of the array");
        let cover = mine
            .iter()
            .rev()
            .find(|&&w| inside.intersect(&self.writes[w].region).as_ref() == Some(&inside));
        if let Some(&w) = cover.filter(|&&w| Some(&w) == mine.last()) {
            // Fast path: the last write touching this unpadded chunk covers it as one
            // contiguous run of its source; encode straight from there.
            let wr = &self.writes[w].region;
            let wshape = wr.shape();
            if inside == creg && is_contiguous(&wshape, &creg.shape()) {
                let start: Vec<usize> = creg
                    .0
                    .iter()
                    .zip(&wr.0)
                    .map(|(a, b)| (a.start - b.start) as usize)
                    .collect();
                let off = offset_of(&wshape, &start) * esize;
                let len = layout.chunk_len() * esize;
                let source = &self.writes[w].data;
                let raw = match source.as_slice() {
                    Some(all) => Cow::Borrowed(&all[off..off + len]),
                    None => {
                        let mut raw = vec![0u8; len];
                        source.read_at(off, &mut raw)?;
                        Cow::Owned(raw)
                    }
                };
                let stats = ChunkStats::compute(&raw, attr.dtype);
                return Ok((key, layout.codec.encode(&raw)?, old_len, stats));
            }
        }
        let mut raw = match (&old, cover) {
            (Some((v, bytes)), None) => {
                let mut raw = vec![0u8; layout.chunk_len() * esize];
                if !layout.codec.decode_into(bytes, &mut raw)? {
                    return Err(StorageError::Corrupt {
                        array: self.schema.name.clone(),
                        layout: layout.name.clone(),
                        attr: attr.name.clone(),
                        chunk: c.to_vec(),
                        version: *v,
                    });
                }
                raw
            }
            _ => fill_chunk(
                &attr.fill_value().to_le_bytes(attr.dtype),
                layout.chunk_len(),
            ),
        };
        let cshape: Vec<usize> = cs.iter().map(|&x| x as usize).collect();
        for &w in mine {
            let wr = &self.writes[w].region;
            if let Some(i) = creg.intersect(wr) {
                let rel = |base: &Region| -> Vec<usize> {
                    i.0.iter()
                        .zip(&base.0)
                        .map(|(a, b)| (a.start - b.start) as usize)
                        .collect()
                };
                copy_box_from(
                    &*self.writes[w].data,
                    &wr.shape(),
                    &rel(wr),
                    &mut raw,
                    &cshape,
                    &rel(&creg),
                    &i.shape(),
                    esize,
                )?;
            }
        }
        let stats = ChunkStats::compute(&raw, attr.dtype);
        Ok((key, layout.codec.encode(&raw)?, old_len, stats))
    }
}

/// Encodes and stores every chunk the writes touch, in every layout; returns the new
/// per-layout statistics. Chunks land at `version`, above the head, invisible to readers.
pub(super) fn write_chunks(
    store: &Store,
    st: &ArrayState,
    schema: &ArraySchema,
    writes: &[PendingWrite],
    version: u64,
) -> Result<Vec<LayoutStats>> {
    let mut stats = st.head.stats.clone();
    if writes.is_empty() {
        return Ok(stats);
    }
    // Chunk -> the writes touching it, in order, per layout and attribute: one pass
    // over the writes, so many small writes (one per batch of a day) stay cheap.
    let mut plan = Vec::new();
    for (li, layout) in schema.layouts.iter().enumerate() {
        for ai in 0..schema.attrs.len() {
            let mut touched: BTreeMap<Vec<u64>, Vec<usize>> = BTreeMap::new();
            for (w, pw) in writes.iter().enumerate().filter(|(_, pw)| pw.attr == ai) {
                for c in pw.region.chunks(&layout.chunk_shape) {
                    touched.entry(c).or_default().push(w);
                }
            }
            plan.push((li, ai, touched.into_iter().collect::<Vec<_>>()));
        }
    }
    let bound: u64 = plan
        .iter()
        .map(|(li, ai, touched)| {
            let raw = schema.layouts[*li].chunk_len() * schema.attrs[*ai].dtype.size();
            touched.len() as u64 * stored_chunk_bound(raw)
        })
        .sum();
    store.ensure_space(bound, "the commit")?;
    store.mark_pending(st.id, version)?;
    let tree = &store.inner.tree;
    let full = Region::full(&schema.shape());
    for (li, ai, touched) in plan {
        let (layout, attr) = (&schema.layouts[li], &schema.attrs[ai]);
        let job = EncodeJob {
            st,
            schema,
            layout,
            attr,
            writes,
            full: &full,
            version,
        };
        // Chunk-level atomicity is not needed (the commit point comes later), so
        // every worker inserts its chunk into sled itself: sled's inserts run
        // concurrently, a single batch would serialise them.
        let sizes: Vec<(usize, Option<usize>)> = touched
            .par_iter()
            .map(|(c, ws)| -> Result<_> {
                let (k, v, old, chunk_stats) = job.encode(store, c, ws)?;
                let n = v.len();
                tree.insert(k, store.put_chunk_value(&v, chunk_stats)?)?;
                store.count_written(n);
                Ok((n, old))
            })
            .collect::<Result<_>>()?;
        stats[li].add_stored(sizes);
    }
    // The commit point comes after every chunk is durable.
    store.sync()?;
    Ok(stats)
}

impl Store {
    pub(super) fn count_written(&self, n: usize) {
        let m = &self.inner.metrics;
        m.chunks_written.fetch_add(1, Ordering::Relaxed);
        m.bytes_written.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A raw chunk holding only `fill`.
pub(super) fn fill_chunk(fill: &[u8], n: usize) -> Vec<u8> {
    if fill.iter().all(|&b| b == 0) {
        return vec![0; n * fill.len()];
    }
    fill.repeat(n)
}
