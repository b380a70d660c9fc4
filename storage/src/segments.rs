//! Chunk payloads live in append-only segment files beside the sled tree; sled keeps
//! only a small pointer per chunk version (key-value separation, as in WiscKey).
//!
//! Why: sled 0.34 packs up to 16 values into a leaf and rewrites the whole leaf on
//! every consolidation, and keeps every leaf it touched in its cache. With chunk
//! values of ~100 KB that made ingest pay several rewrites per chunk and made a full
//! scan hold the whole cube in memory. Payloads in plain files are written once
//! (`pwrite`), reclaimed by compaction when vacuum or drop leaves a segment mostly
//! dead, and read in place through a read-only shared mapping: decoding straight from
//! the page cache costs no copy. Mapped pages count as the process's memory while
//! mapped, so once reads have touched `resident_max` bytes not touched since the last
//! release, the mappings are dropped (`MADV_DONTNEED`; the page cache keeps the data):
//! a full scan's RSS stays bounded while a working set smaller than that stays mapped.
//!
//! A sled value is either `0x00 ‖ payload` (tiny chunks, inline) or
//! `0x01 ‖ segment u32 BE ‖ offset u64 BE ‖ length u32 BE`.

use crate::error::{Result, StorageError};
use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const INLINE: u8 = 0;
const POINTER: u8 = 1;
const POINTER_LEN: usize = 17;

/// Where one payload lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pointer {
    pub segment: u32,
    pub offset: u64,
    pub len: u32,
}

impl Pointer {
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(POINTER_LEN);
        v.push(POINTER);
        v.extend_from_slice(&self.segment.to_be_bytes());
        v.extend_from_slice(&self.offset.to_be_bytes());
        v.extend_from_slice(&self.len.to_be_bytes());
        v
    }

    /// The pointer a sled value holds, `None` for an inline payload.
    pub fn decode(value: &[u8]) -> Result<Option<Pointer>> {
        match value.first() {
            Some(&INLINE) => Ok(None),
            Some(&POINTER) if value.len() == POINTER_LEN => Ok(Some(Pointer {
                segment: u32::from_be_bytes(value[1..5].try_into().unwrap()),
                offset: u64::from_be_bytes(value[5..13].try_into().unwrap()),
                len: u32::from_be_bytes(value[13..17].try_into().unwrap()),
            })),
            _ => Err(StorageError::Metadata(format!(
                "chunk value of {} bytes is neither inline nor a segment pointer",
                value.len()
            ))),
        }
    }
}

/// One segment file and its read-only mapping.
pub(crate) struct Segment {
    file: File,
    map: Mapping,
    /// End of the bytes written so far: reads never touch the mapping beyond it (past
    /// the end of the file a mapping faults with SIGBUS).
    end: AtomicU64,
    /// Where the next early writeback starts.
    writeback_from: AtomicU64,
    /// One bit per [`GRANULE`] of the mapping: read since the mappings were last
    /// released, so its pages are (probably) mapped and count in the RSS already.
    touched: Box<[AtomicU64]>,
}

/// The unit in which reads through a mapping are tracked.
const GRANULE: u64 = 64 << 10;

/// Appended bytes between two early writebacks.
const WRITEBACK_STEP: u64 = 8 << 20;

/// A read-only shared mapping of the first `len` bytes of a file (possibly beyond
/// its current end, so appends become readable without remapping).
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is read-only and lives as long as the `Mapping`; the bytes it
// shows are only read, and only below `Segment::end`, which appends never rewrite.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(file: &File, len: u64) -> Result<Mapping> {
        use std::os::fd::AsRawFd;
        let len = usize::try_from(len.max(1)).map_err(|_| {
            StorageError::Metadata(format!("segment of {len} bytes cannot be mapped"))
        })?;
        // SAFETY: a fresh read-only shared mapping of an open file; checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(Mapping {
            ptr: ptr as *mut u8,
            len,
        })
    }

    /// Drops this process's page table entries; the data stays in the page cache.
    fn release(&self) {
        // SAFETY: the range is exactly this live mapping. For a shared file mapping,
        // MADV_DONTNEED only unmaps pages: a concurrent reader faults them back in
        // from the page cache with the same contents.
        unsafe {
            libc::madvise(self.ptr as *mut libc::c_void, self.len, libc::MADV_DONTNEED);
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `new` mapped; no borrow of it outlives the store.
        unsafe {
            libc::munmap(self.ptr as *mut libc::c_void, self.len);
        }
    }
}

impl Segment {
    fn open(file: File, map_len: u64) -> Result<Segment> {
        let end = file.metadata()?.len();
        let map = Mapping::new(&file, map_len.max(end))?;
        Ok(Segment {
            file,
            end: AtomicU64::new(end),
            writeback_from: AtomicU64::new(end),
            touched: (0..(map.len as u64).div_ceil(GRANULE * 64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            map,
        })
    }

    /// A segment over `file` mapped as long as it is (unit tests of other modules).
    #[cfg(test)]
    pub(crate) fn open_for_test(file: File) -> Segment {
        let len = file.metadata().unwrap().len();
        Segment::open(file, len).unwrap()
    }

    /// The range appended below `end` since the last early writeback, once it is at
    /// least [`WRITEBACK_STEP`] bytes (claimed by exactly one caller).
    fn writeback_range(&self, end: u64) -> Option<(u64, u64)> {
        let from = self.writeback_from.load(Ordering::Relaxed);
        if end < from + WRITEBACK_STEP {
            return None;
        }
        self.writeback_from
            .compare_exchange(from, end, Ordering::AcqRel, Ordering::Relaxed)
            .ok()
            .map(|_| (from, end))
    }

    /// Asks the kernel to start writing `[from, to)` to disk, without waiting.
    fn start_writeback(&self, from: u64, to: u64) {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on an open descriptor; its failure only loses a hint.
        unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                from as libc::off64_t,
                (to - from) as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }

    /// Whether every granule of `[offset, offset + len)` was read since the mappings
    /// were last released (its pages are then mapped, so resident).
    fn touched_all(&self, offset: u64, len: u32) -> bool {
        if len == 0 {
            return true;
        }
        let (g0, g1) = (offset / GRANULE, (offset + u64::from(len) - 1) / GRANULE);
        (g0..=g1).all(|g| {
            self.touched
                .get((g / 64) as usize)
                .is_some_and(|w| w.load(Ordering::Relaxed) & (1 << (g % 64)) != 0)
        })
    }

    /// Asks the kernel to read `[offset, offset + len)` into the page cache, exactly
    /// that range, without waiting. A fault on a page of the mapping that is not in
    /// the page cache would read a whole readahead window around it instead (the
    /// device's `read_ahead_kb`, 8 MiB here: 90 times a map chunk).
    pub(crate) fn will_need(&self, offset: u64, len: u64) {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on an open descriptor; its failure only loses a hint.
        unsafe {
            libc::posix_fadvise(
                self.file.as_raw_fd(),
                offset as libc::off_t,
                len as libc::off_t,
                libc::POSIX_FADV_WILLNEED,
            );
        }
    }

    /// Before reading `[offset, offset + len)` through the mapping: unless it was read
    /// since the last release (resident: no system call), the exact range is read in.
    fn prepare_read(&self, offset: u64, len: u32) {
        if !self.touched_all(offset, len) {
            self.will_need(offset, u64::from(len));
        }
    }

    /// Marks `[offset, offset + len)` as read; returns the bytes of granules that were
    /// not marked yet (newly mapped since the last release).
    fn touch(&self, offset: u64, len: u32) -> u64 {
        if len == 0 {
            return 0;
        }
        let (g0, g1) = (offset / GRANULE, (offset + u64::from(len) - 1) / GRANULE);
        let mut fresh = 0;
        for g in g0..=g1 {
            let Some(word) = self.touched.get((g / 64) as usize) else {
                break;
            };
            let bit = 1u64 << (g % 64);
            if word.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
                fresh += GRANULE;
            }
        }
        fresh
    }

    /// The `len` bytes at `offset`, or `None` if they lie beyond what was written.
    fn bytes(&self, offset: u64, len: u32) -> Option<&[u8]> {
        let stop = offset.checked_add(u64::from(len))?;
        if stop > self.end.load(Ordering::Acquire) || stop > self.map.len as u64 {
            return None;
        }
        // SAFETY: [offset, stop) lies inside the mapping and below the written end of
        // the file; payload bytes are never rewritten once written.
        Some(unsafe { std::slice::from_raw_parts(self.map.ptr.add(offset as usize), len as usize) })
    }
}

/// A payload inside a segment's mapping; holding it keeps the mapping (an unlinked
/// segment's pages stay readable while mapped; releasing pages only drops them from
/// this process, they fault back in from the page cache).
struct MappedPayload {
    segment: Arc<Segment>,
    offset: u64,
    len: u32,
}

impl AsRef<[u8]> for MappedPayload {
    fn as_ref(&self) -> &[u8] {
        // Checked to lie below the written end when created; that end only grows.
        self.segment.bytes(self.offset, self.len).unwrap_or(&[])
    }
}

/// The append position before a commit (see [`Segments::roll_back`]).
pub(crate) struct AppendMark {
    active: Option<(u32, u64)>,
    next_id: u32,
}

struct Active {
    id: u32,
    segment: Arc<Segment>,
    len: u64,
}

/// The segment files of one store.
pub(crate) struct Segments {
    dir: PathBuf,
    /// Every segment opened since the store was, including ones compaction deleted:
    /// a reader holding an old pointer still reads through the open mapping.
    files: RwLock<HashMap<u32, Arc<Segment>>>,
    active: Mutex<Option<Active>>,
    next_id: Mutex<u32>,
    /// Segments appended to since the last sync.
    dirty: Mutex<BTreeSet<u32>>,
    /// Payloads up to this size stay in sled: a file read would cost more than they do.
    inline_max: usize,
    /// A segment stops taking appends beyond this size.
    max_len: u64,
    /// Bytes of granules first read through the mappings since they were last released.
    read_since_release: AtomicU64,
    resident_max: u64,
    /// To the thread that starts early writeback (it ends when this is dropped).
    writeback: Mutex<std::sync::mpsc::Sender<(Arc<Segment>, u64, u64)>>,
}

fn segment_name(id: u32) -> String {
    format!("seg-{id:08}.arq")
}

fn segment_id(name: &str) -> Option<u32> {
    name.strip_prefix("seg-")?
        .strip_suffix(".arq")?
        .parse()
        .ok()
}

impl Segments {
    pub fn open(
        dir: &Path,
        inline_max: usize,
        max_len: u64,
        resident_max: u64,
    ) -> Result<Segments> {
        std::fs::create_dir_all(dir)?;
        let mut files = HashMap::new();
        let mut last: Option<(u32, Arc<Segment>)> = None;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let Some(id) = entry.file_name().to_str().and_then(segment_id) else {
                continue;
            };
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(entry.path())?;
            let seg = Arc::new(Segment::open(file, max_len)?);
            if last.as_ref().is_none_or(|(l, _)| id > *l) {
                last = Some((id, seg.clone()));
            }
            files.insert(id, seg);
        }
        // Appends continue at the end of the newest segment: whatever a crash left
        // past the last referenced payload is unreferenced and stays untouched.
        let active = last.map(|(id, segment)| Active {
            id,
            len: segment.end.load(Ordering::Relaxed),
            segment,
        });
        let next_id = active.as_ref().map(|a| a.id + 1).unwrap_or(1);
        let (tx, rx) = std::sync::mpsc::channel::<(Arc<Segment>, u64, u64)>();
        std::thread::Builder::new()
            .name("arrayq-writeback".into())
            .spawn(move || {
                for (segment, from, to) in rx {
                    segment.start_writeback(from, to);
                }
            })?;
        Ok(Segments {
            dir: dir.to_path_buf(),
            files: RwLock::new(files),
            active: Mutex::new(active),
            next_id: Mutex::new(next_id),
            dirty: Mutex::new(BTreeSet::new()),
            inline_max,
            max_len,
            read_since_release: AtomicU64::new(0),
            resident_max,
            writeback: Mutex::new(tx),
        })
    }

    /// A new, empty segment mapped large enough for at least `min_len` bytes.
    fn create_segment(&self, min_len: u64) -> Result<Active> {
        let id = {
            let mut n = self.next_id.lock();
            let id = *n;
            *n += 1;
            id
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(self.dir.join(segment_name(id)))?;
        // The new name must survive a crash before any pointer into it does.
        File::open(&self.dir)?.sync_all()?;
        let segment = Arc::new(Segment::open(file, self.max_len.max(min_len))?);
        self.files.write().insert(id, segment.clone());
        Ok(Active {
            id,
            segment,
            len: 0,
        })
    }

    /// Where appends stand now; [`Segments::roll_back`] returns there.
    pub fn append_mark(&self) -> AppendMark {
        AppendMark {
            active: self.active.lock().as_ref().map(|a| (a.id, a.len)),
            next_id: *self.next_id.lock(),
        }
    }

    /// Undoes the appends since `mark` (a failed commit's, under the commit lock, so
    /// nobody else appended): the active segment is truncated back and segments
    /// created since are deleted, so neither dead bytes nor a half-written payload
    /// stay on disk. Nothing refers to those bytes: the failed commit's chunk entries
    /// lie above the head and are removed by the caller.
    pub fn roll_back(&self, mark: &AppendMark) -> Result<()> {
        let created = mark.next_id..*self.next_id.lock();
        let mut active = self.active.lock();
        for id in created.clone() {
            self.files.write().remove(&id);
            self.dirty.lock().remove(&id);
            match std::fs::remove_file(self.dir.join(segment_name(id))) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        *active = match mark.active {
            None => None,
            Some((id, len)) => {
                let segment = self.files.read().get(&id).cloned();
                segment.map(|segment| {
                    // Readers never look past `end`, so lowering it first keeps them
                    // off the pages the truncation removes.
                    segment.end.store(len, Ordering::Release);
                    segment.writeback_from.store(len, Ordering::Relaxed);
                    Active { id, segment, len }
                })
            }
        };
        if let Some(a) = active.as_ref() {
            a.segment.file.set_len(a.len)?;
        }
        Ok(())
    }

    /// Stores a payload; returns the sled value that refers to it.
    pub fn append(&self, payload: &[u8]) -> Result<Vec<u8>> {
        if payload.len() <= self.inline_max {
            let mut v = Vec::with_capacity(payload.len() + 1);
            v.push(INLINE);
            v.extend_from_slice(payload);
            return Ok(v);
        }
        let n = payload.len() as u64;
        // Space is reserved under the lock; the bytes are written outside it, so
        // encoding workers write in parallel.
        let (id, segment, offset) = {
            let mut active = self.active.lock();
            // A payload larger than a whole segment gets a segment of its own.
            let full = active.as_ref().is_none_or(|a| {
                a.len + n > a.segment.map.len as u64 || (a.len > 0 && a.len + n > self.max_len)
            });
            if full {
                *active = Some(self.create_segment(n)?);
            }
            let a = active.as_mut().expect("an active segment");
            let offset = a.len;
            a.len += n;
            (a.id, a.segment.clone(), offset)
        };
        segment.file.write_all_at(payload, offset)?;
        segment.end.fetch_max(offset + n, Ordering::AcqRel);
        self.dirty.lock().insert(id);
        if let Some((from, to)) = segment.writeback_range(offset + n) {
            // Early writeback: the disk works while encoding goes on, so the commit's
            // fdatasync waits only for the tail (like RocksDB's bytes_per_sync). A
            // thread of its own issues it, since starting I/O can block.
            let _ = self.writeback.lock().send((segment.clone(), from, to));
        }
        Ok(Pointer {
            segment: id,
            offset,
            len: payload.len() as u32,
        }
        .encode())
    }

    /// Where the payload a chunk value names lies: its segment, offset and length;
    /// `None` for an inline payload or a malformed value. `resident` is whether the
    /// range was read since the mappings were last released.
    pub(crate) fn extent(&self, value: &[u8]) -> Option<(Arc<Segment>, u64, u32, bool)> {
        let p = Pointer::decode(crate::chunk_stats::split(value).1).ok()??;
        let segment = self.files.read().get(&p.segment).cloned()?;
        let resident = segment.touched_all(p.offset, p.len);
        Some((segment, p.offset, p.len, resident))
    }

    /// The payload a sled value refers to, copied. A pointer past the end of its
    /// segment (a truncated file) yields no bytes, which fails the chunk checksum, so
    /// the caller reports it as corrupt with the chunk's name.
    pub fn read(&self, value: &[u8]) -> Result<Vec<u8>> {
        self.with_payload(value, |b| Ok(b.to_vec()))
    }

    /// Calls `f` with the payload a sled value refers to, borrowed from sled (inline)
    /// or from the segment's mapping; no copy.
    /// A value that is neither (a damaged index entry) yields no bytes, like a pointer
    /// past the end: the chunk checksum fails and the caller names the chunk.
    pub fn with_payload<R>(&self, value: &[u8], f: impl FnOnce(&[u8]) -> Result<R>) -> Result<R> {
        let value = crate::chunk_stats::split(value).1;
        let Ok(decoded) = Pointer::decode(value) else {
            return f(&[]);
        };
        let Some(p) = decoded else {
            return f(&value[1..]);
        };
        let segment = self.files.read().get(&p.segment).cloned();
        let Some(segment) = segment else {
            return f(&[]);
        };
        segment.prepare_read(p.offset, p.len);
        let out = f(segment.bytes(p.offset, p.len).unwrap_or(&[]));
        // Only reads of granules not read since the last release map new pages: data
        // read again and again (a hot working set) never forces a release.
        let fresh = segment.touch(p.offset, p.len);
        if fresh > 0 {
            let mapped = self.read_since_release.fetch_add(fresh, Ordering::Relaxed) + fresh;
            if mapped > self.resident_max {
                self.release_mappings();
            }
        }
        out
    }

    /// The payload a chunk value names, as shared bytes: for a payload in a segment, a
    /// view of the segment's mapping that keeps the mapping alive (no copy); an
    /// inline payload is copied. Empty when the pointer lies beyond the written data.
    /// A malformed value yields no bytes too (see [`Segments::with_payload`]).
    pub fn payload_shared(&self, value: &[u8]) -> Result<Bytes> {
        let value = crate::chunk_stats::split(value).1;
        let Ok(decoded) = Pointer::decode(value) else {
            return Ok(Bytes::new());
        };
        let Some(p) = decoded else {
            return Ok(Bytes::copy_from_slice(&value[1..]));
        };
        let segment = self.files.read().get(&p.segment).cloned();
        let Some(segment) = segment else {
            return Ok(Bytes::new());
        };
        if segment.bytes(p.offset, p.len).is_none() {
            return Ok(Bytes::new());
        }
        segment.prepare_read(p.offset, p.len);
        let fresh = segment.touch(p.offset, p.len);
        if fresh > 0 {
            let mapped = self.read_since_release.fetch_add(fresh, Ordering::Relaxed) + fresh;
            if mapped > self.resident_max {
                self.release_mappings();
            }
        }
        Ok(Bytes::from_owner(MappedPayload {
            segment,
            offset: p.offset,
            len: p.len,
        }))
    }

    /// Gives back the pages mapped by reads so far (they stay in the page cache).
    pub fn release_mappings(&self) {
        self.read_since_release.store(0, Ordering::Relaxed);
        for seg in self.files.read().values() {
            seg.map.release();
            for word in seg.touched.iter() {
                word.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Makes every append so far durable (before the sled flush that publishes it).
    pub fn sync(&self) -> Result<()> {
        let dirty = std::mem::take(&mut *self.dirty.lock());
        for id in dirty {
            let segment = self.files.read().get(&id).cloned();
            if let Some(s) = segment {
                s.file.sync_data()?;
            }
        }
        Ok(())
    }

    /// Bytes of all segment files on disk.
    pub fn disk_bytes(&self) -> Result<u64> {
        let mut total = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_name().to_str().and_then(segment_id).is_some() {
                total += entry.metadata()?.len();
            }
        }
        Ok(total)
    }

    /// Ids and sizes of the segment files on disk, except the one taking appends.
    pub fn sealed(&self) -> Result<Vec<(u32, u64)>> {
        let active = self.active.lock().as_ref().map(|a| a.id);
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if let Some(id) = entry.file_name().to_str().and_then(segment_id) {
                if Some(id) != active {
                    out.push((id, entry.metadata()?.len()));
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Ends appends to the segment taking them when `mostly_dead(id, bytes
    /// appended)` says so: it is then sealed, and compaction may take it (the next
    /// append starts a new segment). Without this, a store smaller than one segment
    /// would never give space back.
    pub fn seal_active_if(&self, mostly_dead: impl FnOnce(u32, u64) -> bool) {
        let mut active = self.active.lock();
        if active
            .as_ref()
            .is_some_and(|a| a.len > 0 && mostly_dead(a.id, a.len))
        {
            *active = None;
        }
    }

    /// Deletes a segment file no pointer refers to any more. Its handle stays open, so
    /// a reader that fetched an old pointer just before still reads it.
    pub fn delete(&self, id: u32) -> Result<()> {
        std::fs::remove_file(self.dir.join(segment_name(id)))?;
        Ok(())
    }
}
