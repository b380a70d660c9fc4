//! The change log's trimmed front: vacuum removes the events of the versions it
//! removes, and remembers per array where the log of that array is complete again
//! (`Y name`, see docs/format.md), so a resume from a trimmed position is an error
//! naming where to resume instead of a silent gap.

use crate::error::{Result, StorageError};
use crate::keys;
use crate::meta::{ChangeEvent, ChangeKind};
use crate::store::Store;
use std::collections::HashMap;

/// Every array's log floor as stored (`Y name` -> first complete seq).
pub(crate) fn load_log_floors(tree: &sled::Tree) -> Result<HashMap<String, u64>> {
    let mut floors = HashMap::new();
    for kv in tree.scan_prefix(keys::LOG_FLOOR) {
        let (k, v) = kv?;
        let name = String::from_utf8_lossy(&k[keys::LOG_FLOOR.len()..]).into_owned();
        floors.insert(name, keys::u64_value(&v));
    }
    Ok(floors)
}

impl Store {
    /// The first sequence number from which the change log holds every event of
    /// `array` (every array's: `None`); 0 when nothing was ever trimmed.
    pub fn change_log_floor(&self, array: Option<&str>) -> u64 {
        let floors = self.inner.log_floors.read();
        match array {
            Some(a) => floors.get(a).copied().unwrap_or(0),
            None => floors.values().copied().max().unwrap_or(0),
        }
    }

    /// [`StorageError::Expired`] when events of `array` (any array: `None`) with a
    /// sequence number >= `from_seq` were trimmed.
    pub fn check_log_position(&self, array: Option<&str>, from_seq: u64) -> Result<()> {
        let floor = self.change_log_floor(array);
        if from_seq < floor {
            return Err(StorageError::Expired {
                position: from_seq,
                resume_from: floor,
            });
        }
        Ok(())
    }

    /// Like [`Store::changes_since`], but fails with [`StorageError::Expired`]
    /// instead of skipping events a vacuum trimmed. The floor is read after the page
    /// (and raised before a trim is applied), so a page read across a trim is
    /// never handed out with a gap.
    pub fn changes_since_checked(
        &self,
        array: Option<&str>,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<ChangeEvent>> {
        let page = self.changes_since(from_seq, limit)?;
        self.check_log_position(array, from_seq)?;
        Ok(page)
    }

    /// Adds to `batch` the removal of `name`'s events older than the event of version
    /// `keep_from` (older incarnations of the name included) and the raised floor;
    /// returns how many. Caller holds the commit lock and applies the batch.
    pub(crate) fn trim_log(
        &self,
        name: &str,
        keep_from: u64,
        batch: &mut sled::Batch,
    ) -> Result<u64> {
        let mut events = Vec::new();
        let mut kept_seq = None;
        for kv in self.inner.tree.scan_prefix(b"L") {
            let (k, v) = kv?;
            let ev: ChangeEvent = serde_json::from_slice(&v)
                .map_err(|e| StorageError::Metadata(format!("change event: {e}")))?;
            if ev.array != name {
                continue;
            }
            if ev.version == keep_from && ev.kind != ChangeKind::Drop {
                kept_seq = Some(ev.seq);
            }
            events.push((k, ev.seq));
        }
        let Some(kept_seq) = kept_seq else {
            return Ok(0);
        };
        let mut trimmed = 0;
        let mut last_trimmed = 0;
        for (k, seq) in events.into_iter().filter(|(_, s)| *s < kept_seq) {
            batch.remove(k);
            trimmed += 1;
            last_trimmed = seq;
        }
        if trimmed == 0 {
            return Ok(0);
        }
        // Raised before the batch lands: a reader that sees the trimmed log also
        // sees the floor (a floor raised early is harmless, it only grows).
        let mut floors = self.inner.log_floors.write();
        let floor = floors.entry(name.to_string()).or_insert(0);
        *floor = (*floor).max(last_trimmed + 1);
        batch.insert(keys::log_floor(name), &floor.to_be_bytes());
        Ok(trimmed)
    }
}
