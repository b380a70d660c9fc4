//! Writes: hyperslabs of any alignment, over many chunks, attributes and layouts,
//! committed atomically as one new version.

use crate::chunk_stats::ChunkStats;
use crate::coord::{Coordinate, LabelRef, Labels};
use crate::disk_space::stored_chunk_bound;
use crate::dtype::Buffer;
use crate::error::{Result, StorageError};
use crate::keys;
use crate::meta::{ChangeKind, CommitInfo, DimExtent, LayoutStats, VersionMeta};
use crate::region::{copy_box, is_contiguous, offset_of, Region};
use crate::schema::{ArraySchema, Layout};
use crate::store::{now_ns, ArrayState, Store};
use crate::write_source::{copy_box_from, BufferSource, WriteSource};
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

struct PendingWrite {
    attr: usize,
    region: Region,
    /// Row-major little-endian bytes of the region: a caller's buffer or staged data
    /// (possibly in a spill file), read chunk by chunk at commit.
    data: Box<dyn WriteSource>,
}

/// A set of writes that becomes one version when committed (or nothing at all).
pub struct WriteTx {
    store: Store,
    array: String,
    writes: Vec<PendingWrite>,
    labels: Vec<(usize, Labels)>,
    /// Cells added before the start of a dimension, in order.
    prepends: Vec<(usize, u64)>,
    /// Marks to set with the commit (see [`VersionMeta::marks`]).
    marks: Vec<(String, String)>,
    expect: Option<u64>,
    /// The schema the write was begun on, with the labels appended so far.
    schema: ArraySchema,
}

impl Store {
    /// Starts a write transaction on `array`; nothing is visible until `commit`.
    pub fn begin_write(&self, array: &str) -> Result<WriteTx> {
        let st = self.state(array)?;
        Ok(WriteTx {
            store: self.clone(),
            array: array.to_string(),
            writes: vec![],
            labels: vec![],
            prepends: vec![],
            marks: vec![],
            expect: None,
            schema: st.head.schema.clone(),
        })
    }

    /// One hyperslab of one attribute, committed on its own.
    pub fn write(
        &self,
        array: &str,
        attr: &str,
        start: &[u64],
        data: Buffer,
    ) -> Result<CommitInfo> {
        let mut tx = self.begin_write(array)?;
        tx.write(attr, start, data)?;
        tx.commit()
    }
}

impl WriteTx {
    /// Stages `data` at `start` (index space). Growable dimensions extend to fit.
    pub fn write(&mut self, attr: &str, start: &[u64], data: Buffer) -> Result<&mut Self> {
        let a = self.schema.attr_index(attr)?;
        let want = self.schema.attrs[a].dtype;
        if data.dtype() != want {
            return Err(StorageError::DTypeMismatch {
                attr: attr.to_string(),
                expected: want,
                got: data.dtype(),
            });
        }
        if start.len() != self.schema.dims.len() || data.shape().len() != start.len() {
            return Err(StorageError::ShapeMismatch(format!(
                "array '{}' has {} dimensions; write gives a start of rank {} and data of rank {}",
                self.array,
                self.schema.dims.len(),
                start.len(),
                data.shape().len()
            )));
        }
        let region = Region::from_start_shape(start, data.shape());
        let data = standard_layout(data);
        self.writes.push(PendingWrite {
            attr: a,
            region,
            data: Box::new(BufferSource::new(data)),
        });
        Ok(self)
    }

    /// Stages the bytes of `region` of attribute index `attr` from `data`, whose
    /// length the caller has checked.
    pub(crate) fn stage(&mut self, attr: usize, region: Region, data: Box<dyn WriteSource>) {
        debug_assert_eq!(
            data.len() as u64,
            region.len() * self.schema.attrs[attr].dtype.size() as u64
        );
        self.writes.push(PendingWrite { attr, region, data });
    }

    /// The schema the write was begun on, with the labels appended so far.
    pub(crate) fn schema(&self) -> &ArraySchema {
        &self.schema
    }

    /// Fails as the commit would if `region` lies outside the array once the labels
    /// appended so far are in (growable dimensions may be exceeded).
    pub(crate) fn check_region(&self, region: &Region) -> Result<()> {
        if region.rank() != self.schema.dims.len() {
            return Err(StorageError::ShapeMismatch(format!(
                "array '{}' has {} dimensions; the region {region} has {}",
                self.array,
                self.schema.dims.len(),
                region.rank()
            )));
        }
        // The labels appended so far are in `self.schema` already; only the shape is
        // grown (a schema clone per block would copy every label).
        fit_region(&self.schema, &mut self.schema.shape(), region)
    }

    /// Appends int64 labels to a growable int label dimension (e.g. new asset ids).
    pub fn append_labels(&mut self, dim: &str, labels: &[i64]) -> Result<&mut Self> {
        self.append_label_values(dim, Labels::Int(labels.to_vec()))
    }

    /// Appends text labels to a growable text label dimension (e.g. new asset names).
    pub fn append_text_labels<S: AsRef<str>>(
        &mut self,
        dim: &str,
        labels: &[S],
    ) -> Result<&mut Self> {
        let labels = labels.iter().map(|l| l.as_ref().to_string()).collect();
        self.append_label_values(dim, Labels::Text(labels))
    }

    /// Appends labels of either kind. Fails at once, naming the dimension and the label,
    /// when the dimension is not a growable label dimension of the labels' kind or a
    /// label is there already (in the schema or appended earlier in this write); the
    /// commit checks again against the head, which another commit may have grown.
    pub fn append_label_values(&mut self, dim: &str, labels: Labels) -> Result<&mut Self> {
        let d = self.schema.dim_index(dim)?;
        apply_labels(&mut self.schema, d, &labels)?;
        self.labels.push((d, labels));
        Ok(self)
    }

    /// Grows dimension `dim` backward by `cells` cells: index 0 moves `cells` steps
    /// earlier and every existing cell's index grows by `cells`. Regions of writes
    /// staged from now on are in the new indices. Only regular and time dimensions
    /// can grow backward, only by whole chunks of every layout, and only as far as
    /// the layouts' key offsets reserve (arrays made by the series ingest reserve
    /// plenty); stored chunks are not moved.
    pub fn prepend(&mut self, dim: &str, cells: u64) -> Result<&mut Self> {
        let d = self.schema.dim_index(dim)?;
        prepend_cells(&mut self.schema, d, cells)?;
        self.prepends.push((d, cells));
        Ok(self)
    }

    /// Sets mark `key` to `value` with this commit: readers of any later version
    /// see it (until a later commit sets it again), and it lands atomically with the
    /// data, so a loader that keeps its source position here never applies a row
    /// twice or loses one across crashes.
    pub fn set_mark(&mut self, key: &str, value: &str) -> &mut Self {
        self.marks.push((key.to_string(), value.to_string()));
        self
    }

    /// Fails the commit unless the head is still `version` (optimistic concurrency).
    pub fn expect_version(&mut self, version: u64) -> &mut Self {
        self.expect = Some(version);
        self
    }

    pub fn commit(self) -> Result<CommitInfo> {
        let store = self.store.clone();
        let _w = store.inner.commit_lock.lock();
        let st = store.state(&self.array)?;
        let mark = store.inner.segments.append_mark();
        self.commit_locked(&store, &st)
            .map_err(|e| store.undo_pending(&st, &mark, e))
    }

    /// The commit, under the commit lock, of a write begun on `st`'s array.
    fn commit_locked(self, store: &Store, st: &ArrayState) -> Result<CommitInfo> {
        if let Some(e) = self.expect {
            if e != st.head.version {
                return Err(StorageError::VersionConflict {
                    array: self.array.clone(),
                    expected: e,
                    found: st.head.version,
                });
            }
        }
        let mut schema = st.head.schema.clone();
        if let Some(r) = st.head.rollups.iter().find(|r| {
            self.prepends
                .iter()
                .any(|&(d, cells)| d != r.dim && cells > 0)
        }) {
            // Rollup cells are kept by index along the other dimensions.
            return Err(StorageError::SchemaConflict(format!(
                "array '{}' has rollup '{}': only its time dimension '{}' can grow backward",
                self.array, r.name, schema.dims[r.dim].name
            )));
        }
        if schema.attrs.len() != self.schema.attrs.len()
            || schema.dims.len() != self.schema.dims.len()
        {
            return Err(StorageError::SchemaConflict(format!(
                "array '{}' changed while the write was prepared",
                self.array
            )));
        }
        for &(d, cells) in &self.prepends {
            prepend_cells(&mut schema, d, cells)?;
        }
        // Another write may have grown a dimension backward since this one began:
        // its indices would be off.
        let moved = |(h, t): (&crate::schema::Dimension, &crate::schema::Dimension)| {
            matches!(
                h.coord,
                Coordinate::Regular { .. } | Coordinate::Time { .. }
            ) && h.coord != t.coord
        };
        if schema.dims.iter().zip(&self.schema.dims).any(moved) {
            return Err(StorageError::SchemaConflict(format!(
                "array '{}' grew backward while the write was prepared",
                self.array
            )));
        }
        let mut label_region: Option<Region> = None;
        for (d, new) in &self.labels {
            let r = apply_labels(&mut schema, *d, new)?;
            label_region = Some(match label_region {
                None => r,
                Some(b) => b.union(&r),
            });
        }
        grow_to_fit(&mut schema, self.writes.iter().map(|w| &w.region))?;
        let version = st.head.version + 1;
        let stats = write_chunks(store, st, &schema, &self.writes, version)?;
        let mut bbox: Option<Region> = label_region;
        for w in &self.writes {
            bbox = Some(match bbox {
                None => w.region.clone(),
                Some(b) => b.union(&w.region),
            });
        }
        let meta = VersionMeta {
            array_id: st.id,
            version,
            timestamp_ns: now_ns(),
            cells_written: cells_written(&self.writes),
            schema,
            stats,
            marks: {
                let mut m = st.head.marks.clone();
                m.extend(self.marks.iter().map(|(k, v)| (k.clone(), v.clone())));
                m
            },
            rollups: st.head.rollups.clone(),
            rollup_stats: st.head.rollup_stats.clone(),
        };
        let mut meta = meta;
        if !meta.rollups.is_empty() {
            // Cells a dimension grew by hold the fill value: their buckets change too.
            let mut affected = bbox.clone();
            for (d, (old, new)) in st
                .head
                .schema
                .dims
                .iter()
                .zip(&meta.schema.dims)
                .enumerate()
            {
                if new.len > old.len {
                    let mut grown = Region::full(&meta.schema.shape());
                    grown.0[d] = old.len..new.len;
                    affected = Some(match affected {
                        None => grown,
                        Some(b) => b.union(&grown),
                    });
                }
            }
            if let Some(affected) = affected {
                if self.writes.is_empty() {
                    store.mark_pending(st.id, version)?;
                }
                let snap = crate::Snapshot::new(store.clone(), std::sync::Arc::new(meta.clone()));
                meta.rollup_stats = crate::rollup::maintain(
                    store,
                    &snap,
                    st.head.version,
                    &affected,
                    &meta.rollup_stats,
                )?;
                store.sync()?;
            }
        }
        let region = bbox.map(|b| extents(&meta.schema, &b)).unwrap_or_default();
        store.finish_commit(
            sled::Batch::default(),
            meta,
            ChangeKind::Write,
            region,
            Some(st),
        )
    }
}

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

    /// Records (durably, with the first data) that `version` of array `id` is being
    /// written, so that open can remove its chunks if the commit never completes.
    pub(crate) fn mark_pending(&self, id: u32, version: u64) -> Result<()> {
        self.inner
            .tree
            .insert(keys::pending(id), &version.to_be_bytes())?;
        self.sync()
    }

    /// After a failed commit of `st`'s array (caller holds the commit lock): once its
    /// chunks were being written, removes them (they lie above the head, and a later
    /// commit of the same version must not find them) and the segment bytes appended
    /// since `mark`. Returns `e`, a full disk named as such. Should the undo fail too,
    /// the pending mark stays and the next open finishes the job.
    pub(crate) fn undo_pending(
        &self,
        st: &ArrayState,
        mark: &crate::segments::AppendMark,
        e: StorageError,
    ) -> StorageError {
        let t = &self.inner.tree;
        if let Ok(Some(_)) = t.get(keys::pending(st.id)) {
            let head = st.head.version;
            let undone = self
                .remove_chunks_where(st.id, |v| v > head)
                .and_then(|_| Ok(t.remove(keys::pending(st.id)).map(|_| ())?))
                .and_then(|_| self.inner.segments.roll_back(mark));
            if undone.is_ok() {
                let _ = self.sync();
            }
        }
        self.name_no_space(e)
    }

    fn count_written(&self, n: usize) {
        let m = &self.inner.metrics;
        m.chunks_written.fetch_add(1, Ordering::Relaxed);
        m.bytes_written.fetch_add(n as u64, Ordering::Relaxed);
    }
}

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

/// One encoded chunk of a new layout: its key, stored bytes and statistics.
type KeyedChunk = (Vec<u8>, Vec<u8>, Option<ChunkStats>);

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
fn write_chunks(
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
        let s = &mut stats[li];
        for (n, old) in sizes {
            match old {
                Some(o) => s.bytes = (s.bytes + n as u64).saturating_sub(o as u64),
                None => {
                    s.chunks += 1;
                    s.bytes += n as u64;
                }
            }
        }
    }
    // The commit point comes after every chunk is durable.
    store.sync()?;
    Ok(stats)
}

/// Moves the start of dimension `d` `cells` steps back (see [`WriteTx::prepend`]).
fn prepend_cells(schema: &mut ArraySchema, d: usize, cells: u64) -> Result<()> {
    let name = schema.dims[d].name.clone();
    let refuse = |why: String| {
        Err(StorageError::SchemaConflict(format!(
            "dimension '{name}' cannot grow backward by {cells} cells: {why}"
        )))
    };
    if cells == 0 {
        return Ok(());
    }
    if !schema.dims[d].growable {
        return refuse("it is not growable".into());
    }
    for l in &schema.layouts {
        let chunk = l.chunk_shape[d];
        let reserve = l.key_offset.get(d).copied().unwrap_or(0);
        if !cells.is_multiple_of(chunk) {
            return refuse(format!(
                "layout '{}' has chunks of {chunk} cells along it (whole chunks only)",
                l.name
            ));
        }
        if cells / chunk > reserve {
            return refuse(format!(
                "layout '{}' reserves only {reserve} chunks before its start",
                l.name
            ));
        }
    }
    let dim = &mut schema.dims[d];
    match &mut dim.coord {
        Coordinate::Regular { start, step } => *start -= *step * cells as f64,
        Coordinate::Time { start_ns, step_ns } => {
            let back = i64::try_from(cells)
                .ok()
                .and_then(|c| c.checked_mul(*step_ns))
                .and_then(|b| start_ns.checked_sub(b));
            match back {
                Some(s) => *start_ns = s,
                None => return refuse("the start would leave the time range".into()),
            }
        }
        _ => return refuse("label dimensions only grow by appending".into()),
    }
    dim.len += cells;
    for l in &mut schema.layouts {
        l.key_offset[d] -= cells / l.chunk_shape[d];
    }
    Ok(())
}

/// The key offset of a layout added to an array whose layouts already reserve room
/// before their start: the same number of cells, in the new layout's chunks.
fn inherited_key_offset(layouts: &[Layout], chunk_shape: &[u64]) -> Vec<u64> {
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

/// Appends `new` to dimension `d` of `schema`; returns the region of the new labels.
fn apply_labels(schema: &mut ArraySchema, d: usize, new: &Labels) -> Result<Region> {
    let dim = &mut schema.dims[d];
    if !dim.growable {
        return Err(StorageError::SchemaConflict(format!(
            "dimension '{}' is not growable; labels cannot be appended",
            dim.name
        )));
    }
    let first = match new {
        Labels::Int(v) => v.first().map(|&l| LabelRef::Int(l)),
        Labels::Text(v) => v.first().map(|l| LabelRef::Text(l)),
    };
    if let Some(l) = first {
        dim.check_label_kind(l)?;
    }
    let start = dim.len;
    let dup = |l: &dyn std::fmt::Display, name: &str| {
        StorageError::SchemaConflict(format!("label {l} already exists in dimension '{name}'"))
    };
    match (&mut dim.coord, new) {
        (Coordinate::Labels { labels }, Labels::Int(v)) => {
            for &l in v {
                if !labels.push(l) {
                    return Err(dup(&LabelRef::Int(l), &dim.name));
                }
            }
        }
        (Coordinate::TextLabels { labels }, Labels::Text(v)) => {
            for l in v {
                if !labels.push(l.clone()) {
                    return Err(dup(&LabelRef::Text(l), &dim.name));
                }
            }
        }
        // Empty appends of the other kind, or a dimension without labels.
        (c, _) if c.is_labels() => {}
        (c, _) => {
            return Err(StorageError::SchemaConflict(format!(
                "dimension '{}' has {} coordinates, not labels",
                dim.name,
                c.kind_name()
            )))
        }
    }
    dim.len = dim.coord.label_count() as u64;
    let mut r = Region::full(&schema.shape());
    r.0[d] = start..schema.dims[d].len;
    Ok(r)
}

/// Grows `shape` (of `schema`'s dimensions) so that `region` fits, where growable
/// dimensions allow it; label dimensions only grow by appending labels.
fn fit_region(schema: &ArraySchema, shape: &mut [u64], region: &Region) -> Result<()> {
    let before = shape.to_vec();
    for (d, r) in region.0.iter().enumerate() {
        if r.end <= shape[d] {
            continue;
        }
        let dim = &schema.dims[d];
        let why = if !dim.growable {
            format!(
                "dimension '{}' has {} cells and is not growable",
                dim.name, shape[d]
            )
        } else if dim.coord.is_labels() {
            format!(
                "dimension '{}' has {} labels; append labels before writing beyond them",
                dim.name, shape[d]
            )
        } else {
            shape[d] = r.end;
            continue;
        };
        return Err(StorageError::OutOfRange {
            array: schema.name.clone(),
            region: region.to_string(),
            shape: before,
            why,
        });
    }
    Ok(())
}

fn grow_to_fit<'a>(
    schema: &mut ArraySchema,
    regions: impl IntoIterator<Item = &'a Region>,
) -> Result<()> {
    let mut shape = schema.shape();
    for region in regions {
        fit_region(schema, &mut shape, region)?;
    }
    for (dim, len) in schema.dims.iter_mut().zip(shape) {
        dim.len = len;
    }
    Ok(())
}

fn extents(schema: &ArraySchema, b: &Region) -> Vec<DimExtent> {
    schema
        .dims
        .iter()
        .zip(&b.0)
        .map(|(d, r)| DimExtent {
            dim: d.name.clone(),
            start: r.start,
            end: r.end,
            first: d.coord.value(r.start),
            last: d.coord.value(r.end.saturating_sub(1).max(r.start)),
        })
        .collect()
}

/// Cells (not cells x attributes) a commit wrote: writes of several attributes to the
/// same hyperslab count once.
fn cells_written(writes: &[PendingWrite]) -> u64 {
    let regions: std::collections::HashSet<&Region> = writes.iter().map(|w| &w.region).collect();
    regions.iter().map(|r| r.len()).sum()
}

fn fill_chunk(fill: &[u8], n: usize) -> Vec<u8> {
    if fill.iter().all(|&b| b == 0) {
        return vec![0; n * fill.len()];
    }
    fill.repeat(n)
}

fn standard_layout(b: Buffer) -> Buffer {
    crate::with_buffer!(b, a => {
        if a.is_standard_layout() {
            crate::Element::wrap(a)
        } else {
            crate::Element::wrap(a.as_standard_layout().into_owned())
        }
    })
}

/// Row-major little-endian bytes of a standard-layout buffer, borrowed when possible.
pub(crate) fn le_bytes(b: &Buffer) -> Cow<'_, [u8]> {
    match b {
        Buffer::Bool(a) => Cow::Owned(a.iter().map(|&v| v as u8).collect()),
        other => Cow::Borrowed(crate::codec::buffer_bytes(other).expect("standard layout")),
    }
}
