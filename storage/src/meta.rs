//! What is persisted per version, and the change events of the log.

use crate::coord::CoordValue;
use crate::schema::ArraySchema;
use serde::{Deserialize, Serialize};

/// Stored-size statistics of one layout, used to estimate read costs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LayoutStats {
    /// Chunks stored at the head (never-written chunks are not stored).
    pub chunks: u64,
    /// Bytes of those chunks, as stored (compressed + checksum).
    pub bytes: u64,
}

impl LayoutStats {
    /// Accounts for chunks just stored: each its stored size and the size of the
    /// version it replaces (none for a chunk stored for the first time).
    pub(crate) fn add_stored(&mut self, sizes: impl IntoIterator<Item = (usize, Option<usize>)>) {
        for (n, old) in sizes {
            match old {
                Some(o) => self.bytes = (self.bytes + n as u64).saturating_sub(o as u64),
                None => {
                    self.chunks += 1;
                    self.bytes += n as u64;
                }
            }
        }
    }
}

/// The state of an array as of one version: written on every commit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionMeta {
    pub array_id: u32,
    pub version: u64,
    pub timestamp_ns: i64,
    pub schema: ArraySchema,
    /// Per layout (same order as `schema.layouts`).
    pub stats: Vec<LayoutStats>,
    /// Cells written by this commit (all attributes).
    pub cells_written: u64,
    /// Small named values committed atomically with the data and carried forward
    /// by later commits (a loader's watermark: where a source was read up to).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub marks: std::collections::BTreeMap<String, String>,
    /// The array's rollups (maintained by every commit) and their stored sizes, in
    /// the same order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollups: Vec<crate::rollup::Rollup>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollup_stats: Vec<LayoutStats>,
}

/// What kind of change a log event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Create,
    Write,
    AddLayout,
    Drop,
    /// A rollup was added (built from the data, which is unchanged).
    AddRollup,
    DropRollup,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 6] = [
        ChangeKind::Create,
        ChangeKind::Write,
        ChangeKind::AddLayout,
        ChangeKind::Drop,
        ChangeKind::AddRollup,
        ChangeKind::DropRollup,
    ];

    /// The name the change log stores (and LISTEN payloads carry).
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Write => "write",
            ChangeKind::AddLayout => "add_layout",
            ChangeKind::Drop => "drop",
            ChangeKind::AddRollup => "add_rollup",
            ChangeKind::DropRollup => "drop_rollup",
        }
    }
}

/// The extent of a change along one dimension, in indices and coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DimExtent {
    pub dim: String,
    pub start: u64,
    /// Exclusive.
    pub end: u64,
    /// Coordinate of `start`.
    pub first: CoordValue,
    /// Coordinate of `end - 1`.
    pub last: CoordValue,
}

/// One durable change-log entry: every commit appends exactly one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub seq: u64,
    pub array: String,
    pub kind: ChangeKind,
    pub version: u64,
    pub timestamp_ns: i64,
    /// Bounding box of the cells written (empty for create/drop).
    pub region: Vec<DimExtent>,
    pub cells_written: u64,
}

/// The result of a commit.
#[derive(Clone, Debug, PartialEq)]
pub struct CommitInfo {
    pub version: u64,
    pub timestamp_ns: i64,
    pub seq: u64,
    pub cells_written: u64,
}

impl ChangeEvent {
    /// The change log's value for this event (`L seq` -> JSON, see docs/format.md).
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a change event always serialises")
    }

    /// Reads one change-log entry: `key` is `L seq` (u64 BE), `value` the event's
    /// JSON, whose `seq` must be the key's. Malformed entries are errors naming
    /// what is wrong, never panics.
    pub fn decode(key: &[u8], value: &[u8]) -> crate::Result<ChangeEvent> {
        let seq = crate::keys::event_seq(key).ok_or_else(|| {
            crate::StorageError::Metadata(format!(
                "change log key of {} bytes is not 'L' and a u64",
                key.len()
            ))
        })?;
        let ev: ChangeEvent = serde_json::from_slice(value)
            .map_err(|e| crate::StorageError::Metadata(format!("change event {seq}: {e}")))?;
        if ev.seq != seq {
            return Err(crate::StorageError::Metadata(format!(
                "change event under key {seq} says seq {}",
                ev.seq
            )));
        }
        Ok(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde_json's default float parser can be one ULP off; the workspace enables
    /// `float_roundtrip` so coordinates read back exactly.
    #[test]
    fn float_coordinate_round_trips_exactly() {
        let x = 2.8751948470976716e161;
        let ev = ChangeEvent {
            seq: 3,
            array: "a".into(),
            kind: ChangeKind::Write,
            version: 1,
            timestamp_ns: 0,
            region: vec![DimExtent {
                dim: "d".into(),
                start: 0,
                end: 1,
                first: CoordValue::Number(x),
                last: CoordValue::Number(7.799526860078193e-143),
            }],
            cells_written: 1,
        };
        let key = crate::keys::event(3);
        assert_eq!(ChangeEvent::decode(&key, &ev.encode()).unwrap(), ev);
    }

    #[test]
    fn malformed_change_log_entries_are_errors() {
        let ev = br#"{"seq":4,"array":"a","kind":"drop","version":0,"timestamp_ns":0,"region":[],"cells_written":0}"#;
        assert!(ChangeEvent::decode(&crate::keys::event(4), ev).is_ok());
        assert!(ChangeEvent::decode(b"L\0\0", ev).is_err());
        assert!(ChangeEvent::decode(&crate::keys::event(5), ev).is_err());
        assert!(ChangeEvent::decode(&crate::keys::event(4), b"{").is_err());
    }
}
