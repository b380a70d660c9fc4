//! The sled key space (see docs/format.md). Everything lives in one tree so a commit
//! record, its change event and its metadata land in one atomic batch.

/// Format version written on create and checked on open.
pub const FORMAT_VERSION: u32 = 4;
/// Older formats this version opens (and marks as its own: what they hold is valid
/// in it). Format 2 chunk values carry no statistics; formats 2 and 3 hold no
/// rollups (chunk keys with layout ids from `rollup::ROLLUP_KEY_BASE` on).
pub const FORMAT_VERSIONS_READ: &[u32] = &[2, 3];

pub const FORMAT: &[u8] = b"F";
pub const NEXT_ARRAY_ID: &[u8] = b"I";
/// Prefix of every chunk key.
pub const CHUNK: &[u8] = b"C";

/// `N name` -> array id (u32 BE). The catalog of live arrays.
pub fn name(name: &str) -> Vec<u8> {
    [b"N".as_slice(), name.as_bytes()].concat()
}

/// `M id version` -> VersionMeta JSON (schema + stats as of that version).
pub fn meta(id: u32, version: u64) -> Vec<u8> {
    let mut k = meta_prefix(id);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

pub fn meta_prefix(id: u32) -> Vec<u8> {
    let mut k = b"M".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// `P id` -> version being written (u64 BE): chunks above the head are garbage on open.
pub fn pending(id: u32) -> Vec<u8> {
    let mut k = b"P".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// `D id` -> empty: the array was dropped and its chunks may not all be removed yet.
pub fn dropped(id: u32) -> Vec<u8> {
    let mut k = b"D".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// `X id` -> oldest version kept by vacuum (u64 BE).
pub fn vacuum_floor(id: u32) -> Vec<u8> {
    let mut k = b"X".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// `T id` -> the array's retention policy (JSON `Retention`); absent: none.
pub fn retention(id: u32) -> Vec<u8> {
    let mut k = b"T".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// Prefix of the change-log floors.
pub const LOG_FLOOR: &[u8] = b"Y";

/// `Y name` -> u64 BE: the change log no longer holds events of array `name` with a
/// sequence number below this one (vacuum trimmed them).
pub fn log_floor(name: &str) -> Vec<u8> {
    [LOG_FLOOR, name.as_bytes()].concat()
}

/// `R name` -> a server-level record (see `Store::put_record`).
pub fn record(name: &str) -> Vec<u8> {
    [b"R".as_slice(), name.as_bytes()].concat()
}

/// `L seq` -> ChangeEvent JSON.
pub fn event(seq: u64) -> Vec<u8> {
    let mut k = b"L".to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The sequence number of an `L seq` key; `None` when the key is malformed.
pub fn event_seq(key: &[u8]) -> Option<u64> {
    match key {
        [b'L', seq @ ..] => Some(u64::from_be_bytes(seq.try_into().ok()?)),
        _ => None,
    }
}

/// `C id layout attr chunk... version` -> the chunk's payload inline, or a pointer
/// into a segment file (see `segments`). Rollup chunks share the key space: layout
/// `0xF000 + rollup id`, attr `attribute id * 4 + field`, day keys along time.
pub fn chunk_prefix(id: u32, layout: u16, attr: u16, chunk: &[u64]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + 8 * chunk.len() + 8);
    k.push(b'C');
    k.extend_from_slice(&id.to_be_bytes());
    k.extend_from_slice(&layout.to_be_bytes());
    k.extend_from_slice(&attr.to_be_bytes());
    for c in chunk {
        k.extend_from_slice(&c.to_be_bytes());
    }
    k
}

/// The layout id of a chunk key (a rollup's at or above `ROLLUP_KEY_BASE`).
pub fn chunk_layout(key: &[u8]) -> u16 {
    u16::from_be_bytes([key[5], key[6]])
}

pub fn array_chunks_prefix(id: u32) -> Vec<u8> {
    let mut k = b"C".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

pub fn with_version(prefix: &[u8], version: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// Splits a chunk key into (prefix without version, version).
pub fn split_version(key: &[u8]) -> (&[u8], u64) {
    let (p, v) = key.split_at(key.len() - 8);
    (p, u64::from_be_bytes(v.try_into().unwrap()))
}

pub fn u64_value(v: &[u8]) -> u64 {
    u64::from_be_bytes(v.try_into().unwrap_or([0; 8]))
}
