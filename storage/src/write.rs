//! Writes: hyperslabs of any alignment, over many chunks, attributes and layouts,
//! committed atomically as one new version.

mod encode;
mod grow;
mod layout;

use crate::coord::{Coordinate, Labels};
use crate::dtype::Buffer;
use crate::error::{Result, StorageError};
use crate::keys;
use crate::meta::{ChangeKind, CommitInfo, DimExtent, VersionMeta};
use crate::region::Region;
use crate::schema::ArraySchema;
use crate::store::{now_ns, ArrayState, Store};
use crate::write_source::{BufferSource, WriteSource};
use encode::write_chunks;
use grow::{apply_labels, fit_region, grow_to_fit, prepend_cells};
use std::borrow::Cow;

/// One hyperslab of one attribute staged in a write.
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
                let fresh = self.fresh(st);
                meta.rollup_stats = crate::rollup::maintain(
                    store,
                    &snap,
                    st.head.version,
                    &affected,
                    &meta.rollup_stats,
                    fresh.as_ref(),
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

impl WriteTx {
    /// The writes of this commit over `st`'s head, for rollups to fold from.
    fn fresh(&self, st: &ArrayState) -> Option<crate::rollup::Fresh<'_>> {
        if self.writes.is_empty() {
            return None;
        }
        let old = st.head.stats.iter().any(|s| s.chunks > 0).then(|| {
            // Cells a prepend added come before the head's.
            let mut old = Region::full(&st.head.schema.shape());
            for &(d, cells) in &self.prepends {
                old.0[d].start += cells;
                old.0[d].end += cells;
            }
            old
        });
        let writes = self
            .writes
            .iter()
            .map(|w| (w.attr, &w.region, &*w.data))
            .collect();
        Some(crate::rollup::Fresh { writes, old })
    }
}

impl Store {
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
