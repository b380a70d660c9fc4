//! The store: opening, the catalog, snapshots, the change log.

use crate::chunk_stats::{self, ChunkStats};
use crate::error::{Result, StorageError};
use crate::keys;
use crate::meta::{ChangeEvent, ChangeKind, CommitInfo, LayoutStats, VersionMeta};
use crate::schema::ArraySchema;
use crate::segments::Segments;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Which version of an array to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOf {
    Latest,
    Version(u64),
    /// The newest version committed at or before this UTC time (ns since the epoch).
    Timestamp(i64),
}

/// One kept version of an array, as listed by [`Store::commits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitRecord {
    pub version: u64,
    pub timestamp_ns: i64,
    pub cells_written: u64,
}

impl CommitRecord {
    fn of(m: &VersionMeta) -> CommitRecord {
        CommitRecord {
            version: m.version,
            timestamp_ns: m.timestamp_ns,
            cells_written: m.cells_written,
        }
    }
}

/// Free bytes a store leaves on its filesystem unless told otherwise
/// ([`Options::reserved_disk_bytes`], `arrayqd --disk-reserve-bytes`).
pub const DEFAULT_RESERVED_DISK_BYTES: u64 = 16 << 20;

/// Tuning knobs of a store.
#[derive(Clone, Debug)]
pub struct Options {
    /// fsync every commit before it is acknowledged (turn off only for bulk tests).
    pub durable: bool,
    /// sled page cache, bytes.
    pub cache_bytes: u64,
    /// Upper bound of encoded chunk bytes held in memory per sled batch during a commit.
    pub batch_bytes: usize,
    /// Encoded chunks up to this size are kept inline in sled, not in a segment file.
    pub inline_bytes: usize,
    /// A segment file takes no more appends beyond this size.
    pub segment_bytes: u64,
    /// Segment bytes read through memory mappings before the mapped pages are given
    /// back (they stay in the OS page cache); bounds what reads add to the RSS.
    pub resident_bytes: u64,
    /// Free bytes a commit leaves on the store's filesystem: a commit that would
    /// write into them is refused (`NoSpace`), so sled, DROP and VACUUM still have
    /// room when data has filled the disk.
    pub reserved_disk_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durable: true,
            cache_bytes: 256 << 20,
            batch_bytes: 64 << 20,
            inline_bytes: 512,
            segment_bytes: 1 << 30,
            resident_bytes: 128 << 20,
            reserved_disk_bytes: DEFAULT_RESERVED_DISK_BYTES,
        }
    }
}

/// Counters of chunk I/O since the store was opened.
#[derive(Debug, Default)]
pub struct Metrics {
    pub chunks_read: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_decoded: AtomicU64,
    pub chunks_written: AtomicU64,
    pub bytes_written: AtomicU64,
    pub commits: AtomicU64,
}

#[derive(Clone)]
pub(crate) struct ArrayState {
    pub id: u32,
    pub head: Arc<VersionMeta>,
    /// Every kept version, ascending.
    pub versions: Vec<CommitRecord>,
    pub floor: u64,
}

type Listener = Box<dyn Fn(&ChangeEvent) + Send + Sync>;

pub(crate) struct Inner {
    pub db: sled::Db,
    pub tree: sled::Tree,
    pub segments: Segments,
    /// Submits the read-ahead of chunk payloads (`prefetch`).
    pub readahead: crate::prefetch::Readahead,
    pub arrays: RwLock<HashMap<String, ArrayState>>,
    /// One writer at a time: commits, DDL and vacuum are serialised.
    pub commit_lock: Mutex<()>,
    pub next_seq: AtomicU64,
    pub metrics: Metrics,
    pub opts: Options,
    /// The store's directory.
    pub path: PathBuf,
    /// Where ingest sinks spill staged data (`<store>/staging`).
    pub staging_dir: PathBuf,
    listeners: RwLock<Vec<Listener>>,
    /// Per array, the first seq from which its change log is complete (`Y` keys).
    pub log_floors: RwLock<HashMap<String, u64>>,
    last_seq: Mutex<u64>,
    seq_cv: Condvar,
    /// Last field, so it is dropped after sled and the segment files are closed.
    _temp: Option<TempDir>,
}

/// The directory of a temporary store, removed when the store is dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A handle to an open store; cheap to clone and share between threads.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl Store {
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Store::open_with(path, Options::default())
    }

    pub fn open_with(path: impl AsRef<Path>, opts: Options) -> Result<Store> {
        Store::open_dir(path.as_ref(), opts, None)
    }

    /// A store in a temporary directory, removed on drop (tests, benchmarks).
    pub fn temporary() -> Result<Store> {
        Store::temporary_with(Options::default())
    }

    /// A temporary store with the given options.
    pub fn temporary_with(opts: Options) -> Result<Store> {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "arrayq-tmp-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            now_ns()
        ));
        let guard = TempDir(dir.clone());
        Store::open_dir(&dir, opts, Some(guard))
    }

    fn open_dir(path: &Path, opts: Options, temp: Option<TempDir>) -> Result<Store> {
        let db = open_sled(path, opts.cache_bytes)?;
        let tree = db.open_tree("arrayq")?;
        match tree.get(keys::FORMAT)? {
            None => {
                tree.insert(keys::FORMAT, &keys::FORMAT_VERSION.to_be_bytes())?;
                db.flush()?;
            }
            Some(v) => {
                let found = u32::from_be_bytes(v.as_ref().try_into().map_err(|_| {
                    StorageError::Metadata("format version key is malformed".into())
                })?);
                if keys::FORMAT_VERSIONS_READ.contains(&found) {
                    tree.insert(keys::FORMAT, &keys::FORMAT_VERSION.to_be_bytes())?;
                    db.flush()?;
                } else if found != keys::FORMAT_VERSION {
                    return Err(StorageError::FormatVersion {
                        found,
                        supported: keys::FORMAT_VERSION,
                    });
                }
            }
        }
        // Only a store of this format gets (or keeps) a segment directory.
        let segments = Segments::open(
            &path.join("segments"),
            opts.inline_bytes,
            opts.segment_bytes,
            opts.resident_bytes,
        )?;
        // Nothing staged by an earlier process can still be committed.
        let staging_dir = crate::staging_dir::staging_dir(path);
        crate::staging_dir::clean_staging_dir(&staging_dir)?;
        let last_seq = tree
            .scan_prefix(b"L")
            .keys()
            .next_back()
            .transpose()?
            .map(|k| {
                keys::event_seq(&k).ok_or_else(|| {
                    StorageError::Metadata(format!("change log key of {} bytes", k.len()))
                })
            })
            .transpose()?
            .unwrap_or(0);
        let log_floors = RwLock::new(crate::change_log::load_log_floors(&tree)?);
        let inner = Inner {
            db,
            tree,
            segments,
            readahead: crate::prefetch::Readahead::start()?,
            arrays: RwLock::new(HashMap::new()),
            commit_lock: Mutex::new(()),
            next_seq: AtomicU64::new(last_seq + 1),
            metrics: Metrics::default(),
            opts,
            path: path.to_path_buf(),
            staging_dir,
            listeners: RwLock::new(Vec::new()),
            log_floors,
            last_seq: Mutex::new(last_seq),
            seq_cv: Condvar::new(),
            _temp: temp,
        };
        let store = Store {
            inner: Arc::new(inner),
        };
        store.recover()?;
        Ok(store)
    }

    /// Loads the catalog and removes what interrupted commits and drops left behind.
    fn recover(&self) -> Result<()> {
        let t = &self.inner.tree;
        let mut removed = 0;
        let mut unfinished_vacuums = Vec::new();
        let mut arrays = HashMap::new();
        for kv in t.scan_prefix(b"N") {
            let (k, v) = kv?;
            let name = String::from_utf8_lossy(&k[1..]).into_owned();
            let id = u32::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| StorageError::Metadata(format!("catalog entry of '{name}'")))?,
            );
            let (state, stale) = self.load_state(id)?;
            if stale {
                unfinished_vacuums.push((name.clone(), state.floor));
            }
            arrays.insert(name, state);
        }
        // Interrupted commits: chunks written above the head version are garbage.
        for kv in t.scan_prefix(b"P") {
            let (k, _) = kv?;
            let id = u32::from_be_bytes(k[1..5].try_into().unwrap());
            let head = arrays
                .values()
                .find(|s: &&ArrayState| s.id == id)
                .map(|s| s.head.version);
            removed += self.remove_chunks_where(id, |v| head.is_none_or(|h| v > h))?;
            t.remove(&k)?;
        }
        // Dropped arrays whose chunk removal did not finish.
        for k in t.scan_prefix(b"D").keys() {
            let k = k?;
            let id = u32::from_be_bytes(k[1..5].try_into().unwrap());
            removed += self.remove_chunks_where(id, |_| true)?;
            t.remove(&k)?;
        }
        self.inner.db.flush()?;
        if removed > 0 {
            self.compact_segments()?;
        }
        *self.inner.arrays.write() = arrays;
        for (name, floor) in unfinished_vacuums {
            self.vacuum(&name, floor)?;
        }
        Ok(())
    }

    pub(crate) fn remove_chunks_where(&self, id: u32, doomed: impl Fn(u64) -> bool) -> Result<u64> {
        let t = &self.inner.tree;
        let mut n = 0;
        let mut batch = sled::Batch::default();
        for k in t.scan_prefix(keys::array_chunks_prefix(id)).keys() {
            let k = k?;
            if doomed(keys::split_version(&k).1) {
                batch.remove(k);
                n += 1;
                if n % 4096 == 0 {
                    t.apply_batch(std::mem::take(&mut batch))?;
                }
            }
        }
        t.apply_batch(batch)?;
        Ok(n)
    }

    /// The array's state, and whether a vacuum left metadata below its floor.
    fn load_state(&self, id: u32) -> Result<(ArrayState, bool)> {
        let t = &self.inner.tree;
        let floor = t
            .get(keys::vacuum_floor(id))?
            .map(|v| keys::u64_value(&v))
            .unwrap_or(0);
        let mut versions = Vec::new();
        let mut head = None;
        let mut stale = false;
        for kv in t.scan_prefix(keys::meta_prefix(id)) {
            let (_, v) = kv?;
            let m: VersionMeta = serde_json::from_slice(&v)
                .map_err(|e| StorageError::Metadata(format!("array {id}: {e}")))?;
            // A crash mid-vacuum can leave records below the floor; they are not
            // readable any more (open finishes that vacuum).
            if m.version >= floor {
                versions.push(CommitRecord::of(&m));
            } else {
                stale = true;
            }
            head = Some(m);
        }
        let head =
            head.ok_or_else(|| StorageError::Metadata(format!("array {id} has no versions")))?;
        let state = ArrayState {
            id,
            head: Arc::new(head),
            versions,
            floor,
        };
        Ok((state, stale))
    }

    pub(crate) fn state(&self, name: &str) -> Result<ArrayState> {
        self.inner
            .arrays
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| StorageError::UnknownArray(name.to_string()))
    }

    /// Names of all arrays, sorted.
    pub fn list_arrays(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.arrays.read().keys().cloned().collect();
        v.sort();
        v
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Creates an array (version 0, no data).
    pub fn create_array(&self, mut schema: ArraySchema) -> Result<CommitInfo> {
        schema.validate()?;
        let _w = self.inner.commit_lock.lock();
        if self.inner.arrays.read().contains_key(&schema.name) {
            return Err(StorageError::ArrayExists(schema.name));
        }
        let t = &self.inner.tree;
        let id = t
            .get(keys::NEXT_ARRAY_ID)?
            .map(|v| u32::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 4])))
            .unwrap_or(1);
        let stats = vec![LayoutStats::default(); schema.layouts.len()];
        let meta = VersionMeta {
            array_id: id,
            version: 0,
            timestamp_ns: now_ns(),
            schema,
            stats,
            cells_written: 0,
            marks: Default::default(),
            rollups: Vec::new(),
            rollup_stats: Vec::new(),
        };
        let mut batch = sled::Batch::default();
        batch.insert(keys::NEXT_ARRAY_ID, &(id + 1).to_be_bytes());
        batch.insert(keys::name(&meta.schema.name), &id.to_be_bytes());
        self.finish_commit(batch, meta, ChangeKind::Create, vec![], None)
    }

    /// Removes an array and all its versions.
    pub fn drop_array(&self, name: &str) -> Result<CommitInfo> {
        let _w = self.inner.commit_lock.lock();
        let st = self.state(name)?;
        let t = &self.inner.tree;
        let mut batch = sled::Batch::default();
        batch.remove(keys::name(name));
        batch.remove(keys::vacuum_floor(st.id));
        batch.remove(keys::retention(st.id));
        batch.insert(keys::dropped(st.id), Vec::<u8>::new());
        for k in t.scan_prefix(keys::meta_prefix(st.id)).keys() {
            batch.remove(k?);
        }
        let ts = now_ns().max(st.head.timestamp_ns + 1);
        let seq = self.inner.next_seq.fetch_add(1, Ordering::SeqCst);
        let ev = ChangeEvent {
            seq,
            array: name.to_string(),
            kind: ChangeKind::Drop,
            version: st.head.version,
            timestamp_ns: ts,
            region: vec![],
            cells_written: 0,
        };
        batch.insert(keys::event(seq), ev.encode());
        t.apply_batch(batch)?;
        self.inner.arrays.write().remove(name);
        self.sync()?;
        // Chunks go after the catalog entry; a crash here leaves the `D` mark, and open
        // finishes the removal.
        self.remove_chunks_where(st.id, |_| true)?;
        self.inner.tree.remove(keys::dropped(st.id))?;
        self.sync()?;
        self.compact_segments()?;
        self.publish(&ev);
        Ok(CommitInfo {
            version: st.head.version,
            timestamp_ns: ts,
            seq,
            cells_written: 0,
        })
    }

    /// Writes the commit point (meta + change event) for `meta.version` and publishes
    /// it. Chunk data must already be in the tree. Caller holds the commit lock.
    pub(crate) fn finish_commit(
        &self,
        mut batch: sled::Batch,
        mut meta: VersionMeta,
        kind: ChangeKind,
        region: Vec<crate::meta::DimExtent>,
        prev: Option<&ArrayState>,
    ) -> Result<CommitInfo> {
        let name = meta.schema.name.clone();
        if let Some(p) = prev {
            // Timestamps strictly increase per array so "as of time" is unambiguous.
            meta.timestamp_ns = meta.timestamp_ns.max(p.head.timestamp_ns + 1);
        }
        let seq = self.inner.next_seq.fetch_add(1, Ordering::SeqCst);
        let ev = ChangeEvent {
            seq,
            array: name.clone(),
            kind,
            version: meta.version,
            timestamp_ns: meta.timestamp_ns,
            region,
            cells_written: meta.cells_written,
        };
        batch.insert(
            keys::meta(meta.array_id, meta.version),
            serde_json::to_vec(&meta).unwrap(),
        );
        batch.insert(keys::event(seq), ev.encode());
        batch.remove(keys::pending(meta.array_id));
        self.inner.tree.apply_batch(batch)?;
        self.sync()?;
        let info = CommitInfo {
            version: meta.version,
            timestamp_ns: meta.timestamp_ns,
            seq,
            cells_written: meta.cells_written,
        };
        let mut versions = prev.map(|p| p.versions.clone()).unwrap_or_default();
        versions.push(CommitRecord::of(&meta));
        let state = ArrayState {
            id: meta.array_id,
            head: Arc::new(meta),
            versions,
            floor: prev.map(|p| p.floor).unwrap_or(0),
        };
        self.inner.arrays.write().insert(name, state);
        self.inner.metrics.commits.fetch_add(1, Ordering::Relaxed);
        self.publish(&ev);
        Ok(info)
    }

    /// Segment data first, then sled: a durable pointer never points at lost bytes.
    pub(crate) fn sync(&self) -> Result<()> {
        if self.inner.opts.durable {
            self.flush()?;
        }
        Ok(())
    }

    fn publish(&self, ev: &ChangeEvent) {
        {
            let mut last = self.inner.last_seq.lock();
            *last = (*last).max(ev.seq);
        }
        self.inner.seq_cv.notify_all();
        for l in self.inner.listeners.read().iter() {
            l(ev);
        }
    }

    /// Calls `f` after every commit, on the committing thread (keep it short).
    pub fn on_commit(&self, f: impl Fn(&ChangeEvent) + Send + Sync + 'static) {
        self.inner.listeners.write().push(Box::new(f));
    }

    /// Sequence number of the newest change event (0 when there is none).
    pub fn last_seq(&self) -> u64 {
        *self.inner.last_seq.lock()
    }

    /// Blocks until an event newer than `seq` exists or `timeout` passes; returns the
    /// newest sequence number.
    pub fn wait_for_change(&self, seq: u64, timeout: Duration) -> u64 {
        let mut last = self.inner.last_seq.lock();
        if *last <= seq {
            self.inner.seq_cv.wait_for(&mut last, timeout);
        }
        *last
    }

    /// Change events with sequence number >= `from_seq`, oldest first, at most `limit`.
    pub fn changes_since(&self, from_seq: u64, limit: usize) -> Result<Vec<ChangeEvent>> {
        let mut out = Vec::new();
        for kv in self
            .inner
            .tree
            .range(keys::event(from_seq)..keys::event(u64::MAX))
        {
            let (k, v) = kv?;
            if out.len() >= limit {
                break;
            }
            out.push(ChangeEvent::decode(&k, &v)?);
        }
        Ok(out)
    }

    /// (version, timestamp) of every kept version of an array, ascending.
    pub fn versions(&self, name: &str) -> Result<Vec<(u64, i64)>> {
        Ok(self
            .state(name)?
            .versions
            .iter()
            .map(|c| (c.version, c.timestamp_ns))
            .collect())
    }

    /// Every kept commit of an array (version, time, cells written), ascending.
    pub fn commits(&self, name: &str) -> Result<Vec<CommitRecord>> {
        Ok(self.state(name)?.versions)
    }

    /// Bytes the store occupies on disk (sled's files and the chunk segments).
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.inner.db.size_on_disk()? + self.inner.segments.disk_bytes()?)
    }

    /// Gives back the segment pages reads have mapped into this process (they stay
    /// in the OS page cache, which may then evict them): what memory pressure does.
    pub fn release_mappings(&self) {
        self.inner.segments.release_mappings();
    }

    /// Forces everything written so far to disk.
    pub fn flush(&self) -> Result<()> {
        self.inner.segments.sync()?;
        self.inner.db.flush()?;
        Ok(())
    }

    /// The newest stored version <= `version` of one chunk, with its stored bytes.
    pub(crate) fn fetch_chunk(
        &self,
        id: u32,
        layout: u16,
        attr: u16,
        chunk: &[u64],
        version: u64,
    ) -> Result<Option<(u64, Vec<u8>)>> {
        self.with_chunk(id, layout, attr, chunk, version, |found| {
            Ok(found.map(|(v, bytes)| (v, bytes.to_vec())))
        })
    }

    /// Calls `f` with the newest stored version <= `version` of one chunk, borrowed
    /// from sled (inline) or from the segment's mapping: the hot read path copies
    /// nothing.
    pub(crate) fn with_chunk<R>(
        &self,
        id: u32,
        layout: u16,
        attr: u16,
        chunk: &[u64],
        version: u64,
        f: impl FnOnce(Option<(u64, &[u8])>) -> Result<R>,
    ) -> Result<R> {
        let Some((found, v)) = self.newest_chunk_value(id, layout, attr, chunk, version)? else {
            return f(None);
        };
        self.inner
            .segments
            .with_payload(&v, |stored| f(Some((found, stored))))
    }

    /// The sled value (payload pointer or inline payload) of the newest stored version
    /// (<= `version`) of one chunk, with that version.
    pub(crate) fn newest_chunk_value(
        &self,
        id: u32,
        layout: u16,
        attr: u16,
        chunk: &[u64],
        version: u64,
    ) -> Result<Option<(u64, sled::IVec)>> {
        let prefix = keys::chunk_prefix(id, layout, attr, chunk);
        let lo = keys::with_version(&prefix, 0);
        let hi = keys::with_version(&prefix, version);
        let Some(kv) = self.inner.tree.range(lo..=hi).next_back() else {
            return Ok(None);
        };
        let (k, v) = kv?;
        Ok(Some((keys::split_version(&k).1, v)))
    }

    /// The newest stored version (<= `version`) of one chunk, as shared bytes (a view
    /// of its segment, see `Segments::payload_shared`); `None` if never written.
    pub(crate) fn chunk_shared(
        &self,
        id: u32,
        layout: u16,
        attr: u16,
        chunk: &[u64],
        version: u64,
    ) -> Result<Option<bytes::Bytes>> {
        let Some((_, v)) = self.newest_chunk_value(id, layout, attr, chunk, version)? else {
            return Ok(None);
        };
        self.inner.segments.payload_shared(&v).map(Some)
    }

    /// Stores one encoded chunk version (payload in a segment, pointer in sled, with
    /// the chunk's statistics in front when it has them).
    pub(crate) fn put_chunk_value(
        &self,
        payload: &[u8],
        stats: Option<ChunkStats>,
    ) -> Result<Vec<u8>> {
        Ok(chunk_stats::wrap(
            stats,
            self.inner.segments.append(payload)?,
        ))
    }

    /// Every chunk index entry (key, sled value) under `prefix`, in key order.
    pub(crate) fn chunk_index(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec)>> {
        self.inner
            .tree
            .scan_prefix(prefix)
            .map(|kv| kv.map_err(Into::into))
    }
}

/// Opens sled, waiting briefly for its file lock: sled's background I/O tasks can
/// hold the lock for a moment after the previous handle in this process is dropped.
/// A lock held longer means another process has the store open.
fn open_sled(path: &Path, cache_bytes: u64) -> Result<sled::Db> {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
        {
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                if std::time::Instant::now() >= deadline {
                    return Err(StorageError::InUse(path.display().to_string()));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return Ok(other?),
        }
    }
}

pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
