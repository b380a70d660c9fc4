//! Reads: a snapshot pins one version; chunks are fetched and decoded in parallel.

use crate::dtype::{Buffer, DType};
use crate::error::{Result, StorageError};
use crate::keys;
use crate::meta::VersionMeta;
use crate::region::{for_each_run, is_contiguous, offset_of, Region};
use crate::schema::{ArraySchema, Attribute, Layout};
use crate::store::{AsOf, Store};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Estimated cost of reading a region through one layout.
#[derive(Clone, Debug, PartialEq)]
pub struct LayoutCost {
    pub layout: usize,
    pub name: String,
    pub chunk_shape: Vec<u64>,
    /// Chunks the region touches.
    pub chunks: u64,
    /// Chunks touched x average stored chunk size.
    pub est_bytes: u64,
}

/// Per-read counters (EXPLAIN ANALYZE, query statistics).
#[derive(Debug, Default)]
pub struct ReadStats {
    pub chunks_read: AtomicU64,
    pub chunks_fill: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_decoded: AtomicU64,
}

impl ReadStats {
    pub fn get(&self) -> (u64, u64, u64, u64) {
        (
            self.chunks_read.load(Ordering::Relaxed),
            self.chunks_fill.load(Ordering::Relaxed),
            self.bytes_read.load(Ordering::Relaxed),
            self.bytes_decoded.load(Ordering::Relaxed),
        )
    }
}

/// How to read: which layout, a cancellation flag checked between chunks, counters.
#[derive(Default, Clone, Copy)]
pub struct ReadOptions<'a> {
    pub layout: Option<usize>,
    pub cancel: Option<&'a AtomicBool>,
    pub stats: Option<&'a ReadStats>,
}

/// A read-only view of one array at one version; never sees later commits.
#[derive(Clone)]
pub struct Snapshot {
    store: Store,
    meta: Arc<VersionMeta>,
}

/// What every chunk worker of one read shares.
#[derive(Clone, Copy)]
struct ChunkJob<'a> {
    attr: &'a Attribute,
    layout: &'a Layout,
    region: &'a Region,
    out_shape: &'a [usize],
    esize: usize,
    out: &'a OutPtr,
    /// Fill value bytes to write for never-written chunks (None: already there).
    fill: Option<&'a [u8]>,
    stats: Option<&'a ReadStats>,
}

/// Output buffer shared by the chunk workers; each chunk writes a disjoint box.
struct OutPtr(*mut u8, usize);
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl Store {
    /// A consistent, read-only view of an array at a version.
    pub fn snapshot(&self, name: &str, as_of: AsOf) -> Result<Snapshot> {
        let st = self.state(name)?;
        let version = match as_of {
            AsOf::Latest => return Ok(Snapshot::new(self.clone(), st.head.clone())),
            AsOf::Version(v) => v,
            AsOf::Timestamp(t) => st
                .versions
                .iter()
                .rev()
                .find(|c| c.timestamp_ns <= t)
                .map(|c| c.version)
                .ok_or_else(|| match st.versions.first() {
                    // Before the oldest kept version, after a vacuum: what was current
                    // then is gone (or the array did not exist yet; nothing tells).
                    Some(oldest) if st.floor > 0 => StorageError::VacuumedAt {
                        array: name.to_string(),
                        timestamp_ns: t,
                        oldest: oldest.version,
                        oldest_timestamp_ns: oldest.timestamp_ns,
                    },
                    _ => StorageError::NoVersionAtTime {
                        array: name.to_string(),
                        timestamp_ns: t,
                    },
                })?,
        };
        if version > st.head.version {
            return Err(StorageError::UnknownVersion {
                array: name.to_string(),
                version,
                head: st.head.version,
            });
        }
        if version < st.floor {
            return Err(StorageError::Vacuumed {
                array: name.to_string(),
                version,
                oldest: st.floor,
            });
        }
        if version == st.head.version {
            return Ok(Snapshot::new(self.clone(), st.head.clone()));
        }
        let raw = self.inner.tree.get(keys::meta(st.id, version))?.ok_or(
            StorageError::UnknownVersion {
                array: name.to_string(),
                version,
                head: st.head.version,
            },
        )?;
        let meta: VersionMeta = serde_json::from_slice(&raw)
            .map_err(|e| StorageError::Metadata(format!("{name} v{version}: {e}")))?;
        Ok(Snapshot::new(self.clone(), Arc::new(meta)))
    }
}

impl Snapshot {
    pub(crate) fn new(store: Store, meta: Arc<VersionMeta>) -> Snapshot {
        Snapshot { store, meta }
    }

    pub fn schema(&self) -> &ArraySchema {
        &self.meta.schema
    }

    pub fn meta(&self) -> &VersionMeta {
        &self.meta
    }

    pub fn version(&self) -> u64 {
        self.meta.version
    }

    pub fn timestamp_ns(&self) -> i64 {
        self.meta.timestamp_ns
    }

    pub fn shape(&self) -> Vec<u64> {
        self.meta.schema.shape()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Cost of reading `region` through every layout of this version.
    pub fn layout_costs(&self, region: &Region) -> Vec<LayoutCost> {
        self.meta
            .schema
            .layouts
            .iter()
            .enumerate()
            .map(|(k, l)| {
                let chunks = region.chunk_count(&l.chunk_shape);
                let st = &self.meta.stats[k];
                let avg = st.bytes.checked_div(st.chunks).unwrap_or(0);
                LayoutCost {
                    layout: k,
                    name: l.name.clone(),
                    chunk_shape: l.chunk_shape.clone(),
                    chunks,
                    est_bytes: chunks * avg,
                }
            })
            .collect()
    }

    /// The layout with the fewest estimated bytes for `region` (ties: fewer chunks,
    /// then the primary).
    pub fn best_layout(&self, region: &Region) -> usize {
        self.layout_costs(region)
            .into_iter()
            .min_by_key(|c| (c.est_bytes, c.chunks, c.layout))
            .map(|c| c.layout)
            .unwrap_or(0)
    }

    pub fn check_region(&self, region: &Region) -> Result<()> {
        let shape = self.shape();
        let why = if region.rank() != shape.len() {
            Some(format!(
                "rank {} given for {} dimensions",
                region.rank(),
                shape.len()
            ))
        } else {
            region
                .0
                .iter()
                .zip(&shape)
                .zip(&self.meta.schema.dims)
                .find(|((r, &n), _)| r.end > n || r.start > r.end)
                .map(|((r, &n), d)| {
                    format!(
                        "dimension '{}' has {n} cells, asked {}..{}",
                        d.name, r.start, r.end
                    )
                })
        };
        match why {
            None => Ok(()),
            Some(why) => Err(StorageError::OutOfRange {
                array: self.meta.schema.name.clone(),
                region: region.to_string(),
                shape,
                why,
            }),
        }
    }

    /// Reads `region` of attribute `attr` through the cheapest layout.
    pub fn read(&self, attr: &str, region: &Region) -> Result<Buffer> {
        let a = self.meta.schema.attr_index(attr)?;
        self.read_with(a, region, ReadOptions::default())
    }

    /// Reads `region` of attribute index `attr` with explicit options.
    pub fn read_with(&self, attr: usize, region: &Region, opts: ReadOptions) -> Result<Buffer> {
        self.check_region(region)?;
        let a = &self.meta.schema.attrs[attr];
        let mut out = Buffer::zeroed(a.dtype, &region.shape());
        // A zeroed buffer already holds a zero fill value.
        let fill_is_zero = a.fill.iter().all(|&b| b == 0);
        self.read_region(attr, region, opts, &mut out, !fill_is_zero)?;
        Ok(out)
    }

    /// Reads `region` of attribute index `attr` into `out` (same dtype, shaped like the
    /// region), reusing its memory; every element is overwritten.
    pub fn read_into(
        &self,
        attr: usize,
        region: &Region,
        opts: ReadOptions,
        out: &mut Buffer,
    ) -> Result<()> {
        self.check_region(region)?;
        let a = &self.meta.schema.attrs[attr];
        if out.dtype() != a.dtype {
            return Err(StorageError::DTypeMismatch {
                attr: a.name.clone(),
                expected: a.dtype,
                got: out.dtype(),
            });
        }
        if out.shape() != region.shape().as_slice() || !out_is_standard(out) {
            return Err(StorageError::ShapeMismatch(format!(
                "output of shape {:?} (standard layout required) for region {region}",
                out.shape()
            )));
        }
        self.read_region(attr, region, opts, out, true)
    }

    fn read_region(
        &self,
        attr: usize,
        region: &Region,
        opts: ReadOptions,
        out: &mut Buffer,
        write_fill: bool,
    ) -> Result<()> {
        let schema = &self.meta.schema;
        let a = &schema.attrs[attr];
        let layout_idx = opts.layout.unwrap_or_else(|| self.best_layout(region));
        let layout = schema
            .layouts
            .get(layout_idx)
            .ok_or_else(|| StorageError::UnknownLayout {
                array: schema.name.clone(),
                layout: format!("#{layout_idx}"),
            })?;
        if region.is_empty() {
            return Ok(());
        }
        let out_shape = region.shape();
        let esize = a.dtype.size();
        let ptr = out_bytes_ptr(out);
        let fill = write_fill.then(|| a.fill_value().to_le_bytes(a.dtype));
        let job = ChunkJob {
            attr: a,
            layout,
            region,
            out_shape: &out_shape,
            esize,
            out: &ptr,
            fill: fill.as_deref(),
            stats: opts.stats,
        };
        let chunks = region.chunks(&layout.chunk_shape);
        chunks
            .par_iter()
            .try_for_each_init(Vec::new, |scratch, chunk| {
                if opts.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                    return Err(StorageError::Cancelled);
                }
                self.read_chunk_into(&job, chunk, scratch)
            })
    }

    fn read_chunk_into(&self, job: &ChunkJob, chunk: &[u64], scratch: &mut Vec<u8>) -> Result<()> {
        let (layout, attr) = (job.layout.id, job.attr.id);
        self.store.with_chunk(
            self.meta.array_id,
            layout,
            attr,
            &job.layout.key_coords(chunk),
            self.meta.version,
            |fetched| self.decode_chunk_into(job, chunk, scratch, fetched),
        )
    }

    fn decode_chunk_into(
        &self,
        job: &ChunkJob,
        chunk: &[u64],
        scratch: &mut Vec<u8>,
        fetched: Option<(u64, &[u8])>,
    ) -> Result<()> {
        let ChunkJob {
            attr: a,
            layout,
            region,
            out_shape,
            esize,
            out,
            stats,
            ..
        } = *job;
        let chunk_region = Region::of_chunk(chunk, &layout.chunk_shape);
        let inter = chunk_region
            .intersect(region)
            .expect("chunk touches region");
        let Some((version, stored)) = fetched else {
            count(stats, |s| &s.chunks_fill, 1);
            if let Some(fill) = job.fill {
                // Never written: the box holds the fill value.
                let in_out: Vec<usize> = inter
                    .0
                    .iter()
                    .zip(&region.0)
                    .map(|(i, r)| (i.start - r.start) as usize)
                    .collect();
                let count_shape = inter.shape();
                let run: Vec<u8> = fill.repeat(count_shape[count_shape.len() - 1]);
                let zero = vec![0; count_shape.len()];
                for_each_run(
                    &count_shape,
                    &zero,
                    out_shape,
                    &in_out,
                    &count_shape,
                    esize,
                    |_, d, n| {
                        debug_assert!(d + n <= out.1);
                        // SAFETY: each chunk's box of the output is written by one worker only.
                        unsafe { std::ptr::copy_nonoverlapping(run.as_ptr(), out.0.add(d), n) }
                    },
                );
            }
            return Ok(());
        };
        let count_shape = inter.shape();
        let chunk_shape: Vec<usize> = layout.chunk_shape.iter().map(|&c| c as usize).collect();
        let in_chunk: Vec<usize> = inter
            .0
            .iter()
            .zip(&chunk_region.0)
            .map(|(i, c)| (i.start - c.start) as usize)
            .collect();
        let in_out: Vec<usize> = inter
            .0
            .iter()
            .zip(&region.0)
            .map(|(i, r)| (i.start - r.start) as usize)
            .collect();
        let chunk_bytes = layout.chunk_len() * esize;
        let m = &self.store.inner.metrics;
        m.chunks_read.fetch_add(1, Ordering::Relaxed);
        m.bytes_read
            .fetch_add(stored.len() as u64, Ordering::Relaxed);
        m.bytes_decoded
            .fetch_add(chunk_bytes as u64, Ordering::Relaxed);
        count(stats, |s| &s.chunks_read, 1);
        count(stats, |s| &s.bytes_read, stored.len() as u64);
        count(stats, |s| &s.bytes_decoded, chunk_bytes as u64);
        let corrupt = || StorageError::Corrupt {
            array: self.meta.schema.name.clone(),
            layout: layout.name.clone(),
            attr: a.name.clone(),
            chunk: chunk.to_vec(),
            version,
        };
        let whole_chunk = count_shape == chunk_shape;
        if whole_chunk && is_contiguous(out_shape, &count_shape) && a.dtype != DType::Bool {
            // Fast path: the chunk is one contiguous run of the output; decode in place.
            let off = offset_of(out_shape, &in_out) * esize;
            // SAFETY: chunks are disjoint boxes of the output, so this range is written
            // by this worker only, and it lies inside the buffer (region checked).
            let dst = unsafe { std::slice::from_raw_parts_mut(out.0.add(off), chunk_bytes) };
            debug_assert!(off + chunk_bytes <= out.1);
            // A payload that passes its CRC but does not decode is just as corrupt.
            if !layout.codec.decode_into(stored, dst).unwrap_or(false) {
                return Err(corrupt());
            }
            return Ok(());
        }
        scratch.resize(chunk_bytes, 0);
        if !layout.codec.decode_into(stored, scratch).unwrap_or(false) {
            return Err(corrupt());
        }
        if a.dtype == DType::Bool && scratch.iter().any(|&b| b > 1) {
            return Err(corrupt());
        }
        for_each_run(
            &chunk_shape,
            &in_chunk,
            out_shape,
            &in_out,
            &count_shape,
            esize,
            |s, d, n| {
                debug_assert!(d + n <= out.1);
                // SAFETY: as above, each run belongs to this chunk's disjoint box.
                unsafe { std::ptr::copy_nonoverlapping(scratch.as_ptr().add(s), out.0.add(d), n) }
            },
        );
        Ok(())
    }

    /// The newest stored version (<= this snapshot's) of one chunk, with its bytes.
    pub fn fetch(&self, layout: u16, attr: u16, chunk: &[u64]) -> Result<Option<(u64, Vec<u8>)>> {
        let key = match self.meta.schema.layouts.iter().find(|l| l.id == layout) {
            Some(l) => l.key_coords(chunk).into_owned(),
            None => chunk.to_vec(),
        };
        self.store
            .fetch_chunk(self.meta.array_id, layout, attr, &key, self.meta.version)
    }

    /// The stored form of one chunk (the codec chain's output and its CRC32, exactly
    /// as kept on disk), not decoded and not copied: a view of the segment file; `None`
    /// if the chunk was never written. For clients that decode chunks themselves; they
    /// check the CRC32 (end to end: disk and transfer), here only its presence is.
    /// Counts a read chunk and its bytes in the store's metrics and `stats`.
    pub fn stored_chunk(
        &self,
        layout: usize,
        attr: usize,
        chunk: &[u64],
        stats: Option<&ReadStats>,
    ) -> Result<Option<bytes::Bytes>> {
        let schema = &self.meta.schema;
        let (l, a) = (&schema.layouts[layout], &schema.attrs[attr]);
        let Some(stored) = self.store.chunk_shared(
            self.meta.array_id,
            l.id,
            a.id,
            &l.key_coords(chunk),
            self.meta.version,
        )?
        else {
            return Ok(None);
        };
        if stored.len() < 4 {
            return Err(self.corrupt(layout, attr, chunk));
        }
        let m = &self.store.inner.metrics;
        m.chunks_read.fetch_add(1, Ordering::Relaxed);
        m.bytes_read
            .fetch_add(stored.len() as u64, Ordering::Relaxed);
        count(stats, |s| &s.chunks_read, 1);
        count(stats, |s| &s.bytes_read, stored.len() as u64);
        Ok(Some(stored))
    }

    /// Decodes one whole chunk (padded to the chunk shape); `None` if never written.
    pub fn read_chunk(&self, layout: usize, attr: usize, chunk: &[u64]) -> Result<Option<Buffer>> {
        let schema = &self.meta.schema;
        let l = &schema.layouts[layout];
        let shape: Vec<u64> = l.chunk_shape.clone();
        let region = Region::of_chunk(chunk, &shape);
        // Reading a padded chunk goes beyond the array shape, so decode it directly.
        let a = &schema.attrs[attr];
        let Some((_, stored)) = self.fetch(l.id, a.id, chunk)? else {
            return Ok(None);
        };
        let dims: Vec<usize> = region.shape();
        let mut raw = vec![0u8; l.chunk_len() * a.dtype.size()];
        if !l.codec.decode_into(&stored, &mut raw).unwrap_or(false) {
            return Err(self.corrupt(layout, attr, chunk));
        }
        Ok(Some(Buffer::from_le_bytes(a.dtype, &dims, &raw)?))
    }

    /// The error for a stored chunk of this snapshot that fails its checks.
    fn corrupt(&self, layout: usize, attr: usize, chunk: &[u64]) -> StorageError {
        let schema = &self.meta.schema;
        StorageError::Corrupt {
            array: schema.name.clone(),
            layout: schema.layouts[layout].name.clone(),
            attr: schema.attrs[attr].name.clone(),
            chunk: chunk.to_vec(),
            version: self.meta.version,
        }
    }
}

fn count(stats: Option<&ReadStats>, f: impl Fn(&ReadStats) -> &AtomicU64, n: u64) {
    if let Some(s) = stats {
        f(s).fetch_add(n, Ordering::Relaxed);
    }
}

fn out_is_standard(b: &Buffer) -> bool {
    crate::with_buffer!(b, a => a.is_standard_layout())
}

fn out_bytes_ptr(out: &mut Buffer) -> OutPtr {
    let bytes = out.len() * out.dtype().size();
    let p = match out {
        // bool is one byte; decoded bool chunks are checked to hold only 0 and 1.
        Buffer::Bool(a) => a.as_mut_ptr() as *mut u8,
        other => crate::codec::buffer_bytes_mut(other)
            .expect("fresh buffers are contiguous")
            .as_mut_ptr(),
    };
    OutPtr(p, bytes)
}
