//! Vacuum: forget versions older than a floor, keeping every version from it onward.

use crate::chunk_stats;
use crate::error::{Result, StorageError};
use crate::keys;
use crate::rollup::ROLLUP_KEY_BASE;
use crate::segments::Pointer;
use crate::store::Store;
use std::collections::{BTreeMap, HashMap};

/// What a vacuum removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VacuumStats {
    pub chunks_removed: u64,
    pub versions_removed: u64,
    /// Segment file bytes given back to the file system by compaction.
    pub bytes_reclaimed: u64,
    /// Change-log events of the removed versions (and of older arrays of the same
    /// name) that were trimmed.
    pub events_trimmed: u64,
    /// The oldest version kept: the floor.
    pub oldest_kept: u64,
}

impl Store {
    /// Removes every chunk version no read at `keep_from` or later can see, and the
    /// metadata of versions before it. Reads as of those versions then fail with
    /// [`StorageError::Vacuumed`]. The change log loses those versions' events. A
    /// floor below the current one keeps the current one (history does not return).
    pub fn vacuum(&self, array: &str, keep_from: u64) -> Result<VacuumStats> {
        let _w = self.inner.commit_lock.lock();
        let st = self.state(array)?;
        let keep_from = keep_from.max(st.floor);
        if keep_from > st.head.version {
            return Err(StorageError::UnknownVersion {
                array: array.to_string(),
                version: keep_from,
                head: st.head.version,
            });
        }
        let t = &self.inner.tree;
        // The floor goes first and durably: a crash mid-vacuum must not let a read of
        // an old version see a partly removed history.
        t.insert(keys::vacuum_floor(st.id), &keep_from.to_be_bytes())?;
        self.sync()?;
        let mut stats = VacuumStats {
            oldest_kept: keep_from,
            ..VacuumStats::default()
        };
        // Every version of a dropped rollup's chunks goes once no kept version
        // carries the rollup.
        let rollups = self.rollup_ids_kept(&st, keep_from)?;
        let dropped = |k: &[u8]| {
            let layout = keys::chunk_layout(k);
            layout >= ROLLUP_KEY_BASE && !rollups.contains(&(layout - ROLLUP_KEY_BASE))
        };
        let mut batch = sled::Batch::default();
        let mut pending = 0;
        // Keys sort by chunk then version: of each chunk's versions <= keep_from, all
        // but the newest are invisible from keep_from on.
        let mut prev: Option<(Vec<u8>, sled::IVec)> = None;
        for k in t.scan_prefix(keys::array_chunks_prefix(st.id)).keys() {
            let k = k?;
            if pending >= 4096 {
                t.apply_batch(std::mem::take(&mut batch))?;
                pending = 0;
            }
            if dropped(&k) {
                batch.remove(k);
                stats.chunks_removed += 1;
                pending += 1;
                continue;
            }
            let (prefix, v) = keys::split_version(&k);
            if v > keep_from {
                continue;
            }
            if let Some((pp, pk)) = prev.take() {
                if pp == prefix {
                    batch.remove(pk);
                    stats.chunks_removed += 1;
                    pending += 1;
                }
            }
            prev = Some((prefix.to_vec(), k.clone()));
        }
        for kv in t.scan_prefix(keys::meta_prefix(st.id)).keys() {
            let k = kv?;
            let (_, v) = keys::split_version(&k);
            if v < keep_from {
                batch.remove(k);
                stats.versions_removed += 1;
            }
        }
        // In the batch that removes the versions' metadata: a crash before it leaves
        // metadata below the floor, and open runs this vacuum again.
        stats.events_trimmed = self.trim_log(array, keep_from, &mut batch)?;
        t.apply_batch(batch)?;
        self.sync()?;
        stats.bytes_reclaimed = self.compact_segments()?;
        let mut arrays = self.inner.arrays.write();
        if let Some(s) = arrays.get_mut(array) {
            s.floor = keep_from;
            s.versions.retain(|c| c.version >= keep_from);
        }
        Ok(stats)
    }
}

impl Store {
    /// Moves the live payloads out of sealed segments that are less than half live,
    /// then deletes those files; returns the bytes given back. Runs after vacuum and
    /// drop, under the commit lock (no writer is appending meanwhile).
    pub(crate) fn compact_segments(&self) -> Result<u64> {
        let segs = &self.inner.segments;
        let t = &self.inner.tree;
        let mut live: HashMap<u32, u64> = HashMap::new();
        for v in t.scan_prefix(keys::CHUNK).values() {
            if let Some(p) = Pointer::decode(chunk_stats::split(&v?).1)? {
                *live.entry(p.segment).or_default() += u64::from(p.len);
            }
        }
        let live_in = |id: u32| live.get(&id).copied().unwrap_or(0);
        segs.seal_active_if(|id, len| live_in(id) * 2 < len);
        let sealed: BTreeMap<u32, u64> = segs.sealed()?.into_iter().collect();
        if sealed.is_empty() {
            return Ok(0);
        }
        let victims: BTreeMap<u32, u64> = sealed
            .into_iter()
            .filter(|(id, size)| live_in(*id) * 2 < *size)
            .collect();
        if victims.is_empty() {
            return Ok(0);
        }
        let mut batch = sled::Batch::default();
        let mut pending = 0;
        for kv in t.scan_prefix(keys::CHUNK) {
            let (k, v) = kv?;
            let (stats, inner) = chunk_stats::split(&v);
            let Some(p) = Pointer::decode(inner)? else {
                continue;
            };
            if victims.contains_key(&p.segment) {
                let payload = segs.read(&v)?;
                // The moved payload keeps its statistics.
                batch.insert(k, chunk_stats::wrap(stats, segs.append(&payload)?));
                pending += 1;
                if pending >= 1024 {
                    t.apply_batch(std::mem::take(&mut batch))?;
                    pending = 0;
                }
            }
        }
        t.apply_batch(batch)?;
        // Always durable, whatever the options: once a file is gone, only the new
        // pointers lead to its payloads.
        segs.sync()?;
        self.inner.db.flush()?;
        let mut reclaimed = 0;
        for (id, size) in victims {
            segs.delete(id)?;
            reclaimed += size - live_in(id);
        }
        Ok(reclaimed)
    }
}
