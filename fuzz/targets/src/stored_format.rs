//! `stored_format`: a store with known chunks (two versions, two layouts, two
//! attributes, inline and segment payloads in several segment files), built once
//! per process; each input is a list of mutations of the segment files' bytes and
//! of the chunk index's values (`bytes::Input` decodes it), applied, checked and
//! undone. Every chunk of every version, layout and attribute is then read (the
//! decoding read and the stored-chunk pass-through): each must give exactly the
//! values written, or an error naming that chunk as corrupt.
//!
//! Not checked (the format cannot tell): an index value made equal to another
//! entry's, i.e. a chunk pointed at another chunk's intact payload. Such mutations
//! are skipped.

use crate::bytes::Input;
use arrayq_query::{Engine, EngineConfig, QueryContext};
use arrayq_storage::{AsOf, Buffer, Options, Region, Snapshot, StorageError, Store};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

const SHAPE: [u64; 2] = [8, 6];

/// Bytes of the statistics in front of a chunk value that has them (docs/format.md).
const STATS_LEN: usize = 37;

/// A chunk value without the statistics in front of it.
fn inner_value(v: &[u8]) -> &[u8] {
    if v.first() == Some(&2) && v.len() > STATS_LEN {
        &v[STATS_LEN..]
    } else {
        v
    }
}

/// `f` (DOUBLE) and `i` (SMALLINT) at cell (a, b) as of version `v`: version 2
/// rewrites the box a < 4, b >= 3; chunk (0, 0) of the first layout is constant, so
/// small enough to be stored inline.
fn expected(attr: usize, v: u64, a: u64, b: u64) -> [u8; 8] {
    let x = if a < 4 && b < 3 {
        7.0
    } else if v >= 2 && a < 4 {
        -((a * 10 + b) as f64) - 0.25
    } else {
        (a * 10 + b) as f64 * 1.5 + 0.1
    };
    let mut out = [0u8; 8];
    match attr {
        0 => out.copy_from_slice(&x.to_le_bytes()),
        _ => out[..2].copy_from_slice(&((x * 4.0) as i16).to_le_bytes()),
    }
    out
}

struct Fixture {
    engine: Engine,
    /// Each segment file, open for writing (opened once: the many small segment
    /// files, opened per input, were much of an input's time), and its bytes.
    segments: Vec<(File, Vec<u8>)>,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// The store's versions of the two writes.
    versions: [u64; 2],
    _dir: tempfile::TempDir,
}

pub fn run(data: &[u8]) {
    static FIXTURE: OnceLock<Mutex<Fixture>> = OnceLock::new();
    let fx = FIXTURE.get_or_init(|| Mutex::new(build())).lock();
    let fx = fx.unwrap_or_else(|e| e.into_inner());
    let mut input = Input::new(data);
    let mut seg_bytes: BTreeMap<(usize, u64), u8> = BTreeMap::new();
    let mut values: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    for _ in 0..16 {
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        match op % 3 {
            0 => {
                let s = input.u8() as usize % fx.segments.len();
                let (_, orig) = &fx.segments[s];
                let at = input.u32() as u64 % orig.len() as u64;
                let x = input.u8();
                let cur = *seg_bytes.get(&(s, at)).unwrap_or(&orig[at as usize]);
                seg_bytes.insert((s, at), cur ^ x);
            }
            1 => {
                let e = input.u8() as usize % fx.entries.len();
                let n = input.u8() as usize % 40;
                values.insert(e, input.bytes(n).to_vec());
            }
            _ => {
                let e = input.u8() as usize % fx.entries.len();
                let mut v = values.get(&e).unwrap_or(&fx.entries[e].1).clone();
                let (field, x) = (input.u8() % 3, input.u64());
                // A pointer (17 bytes), maybe behind the chunk's statistics.
                let at = v
                    .len()
                    .checked_sub(17)
                    .filter(|&a| a == 0 || a == STATS_LEN);
                if let Some(at) = at {
                    let range = [1..5, 5..13, 13..17][field as usize].clone();
                    let w = range.len();
                    v[at + range.start..at + range.end].copy_from_slice(&x.to_be_bytes()[8 - w..]);
                }
                values.insert(e, v);
            }
        }
    }
    // Another entry's value verbatim: undetectable by design (see above).
    values.retain(|&e, v| {
        !fx.entries
            .iter()
            .enumerate()
            .any(|(k, o)| k != e && o.1 == *v)
    });
    for (&(s, at), &b) in &seg_bytes {
        fx.segments[s]
            .0
            .write_at(&[b], at)
            .expect("mutate a segment");
    }
    let store = fx.engine.store();
    for (&e, v) in &values {
        store
            .set_chunk_entry_for_testing(&fx.entries[e].0, v)
            .expect("mutate an entry");
    }
    check_all(store, fx.versions);
    for &(s, at) in seg_bytes.keys() {
        let (file, orig) = &fx.segments[s];
        file.write_at(&[orig[at as usize]], at)
            .expect("restore a segment");
    }
    for &e in values.keys() {
        let (k, v) = &fx.entries[e];
        store
            .set_chunk_entry_for_testing(k, v)
            .expect("restore an entry");
    }
}

fn rw(p: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(p)
        .expect("open a segment")
}

/// Reads every chunk of every version, layout and attribute two ways.
fn check_all(store: &Store, versions: [u64; 2]) {
    for v in 1..=2 {
        let at = AsOf::Version(versions[v as usize - 1]);
        let snap = store.snapshot("s", at).expect("snapshot");
        for (l, layout) in snap.schema().layouts.iter().enumerate() {
            for chunk in Region::full(&SHAPE).chunks(&layout.chunk_shape) {
                let cell = Region::of_chunk(&chunk, &layout.chunk_shape);
                let region = cell.intersect(&Region::full(&SHAPE)).expect("inside");
                for attr in 0..2 {
                    let want = want(attr, v, &region);
                    let named = |e: &StorageError| is_corrupt(&snap, l, attr, &chunk, e);
                    match snap.read(&snap.schema().attrs[attr].name, &region) {
                        Ok(got) => assert!(
                            got.to_le_bytes() == want,
                            "chunk {chunk:?} v{v} attr {attr}: other values"
                        ),
                        Err(e) => assert!(named(&e), "chunk {chunk:?} v{v} attr {attr}: {e}"),
                    }
                    check_stored(&snap, l, attr, &chunk, v);
                }
            }
        }
    }
}

/// The stored-chunk pass-through: bytes a client would decode (and check) itself.
fn check_stored(snap: &Snapshot, l: usize, attr: usize, chunk: &[u64], v: u64) {
    let layout = &snap.schema().layouts[l];
    let dtype = snap.schema().attrs[attr].dtype;
    match snap.stored_chunk(l, attr, chunk, None) {
        Ok(Some(bytes)) => {
            let mut raw = vec![0u8; layout.chunk_len() * dtype.size()];
            if let Ok(true) = layout.codec.decode_into(&bytes, &mut raw) {
                let full = Region::of_chunk(chunk, &layout.chunk_shape);
                let inside = full.intersect(&Region::full(&SHAPE)).expect("inside");
                let got = Buffer::from_le_bytes(dtype, &full.shape(), &raw).expect("buffer");
                let want = want(attr, v, &inside);
                let got = got.to_le_bytes();
                let esize = dtype.size();
                let width = full.shape()[1];
                for (k, cells) in want.chunks(esize * inside.shape()[1]).enumerate() {
                    let at = k * width * esize;
                    assert!(
                        &got[at..at + cells.len()] == cells,
                        "stored chunk {chunk:?} v{v}: other values"
                    );
                }
            }
        }
        Ok(None) => panic!("chunk {chunk:?} v{v} lost"),
        Err(e) => assert!(
            is_corrupt(snap, l, attr, chunk, &e),
            "stored chunk {chunk:?}: {e}"
        ),
    }
}

fn want(attr: usize, v: u64, r: &Region) -> Vec<u8> {
    let size = if attr == 0 { 8 } else { 2 };
    let mut out = Vec::new();
    for a in r.0[0].clone() {
        for b in r.0[1].clone() {
            out.extend_from_slice(&expected(attr, v, a, b)[..size]);
        }
    }
    out
}

fn is_corrupt(snap: &Snapshot, l: usize, attr: usize, chunk: &[u64], e: &StorageError) -> bool {
    let s = snap.schema();
    matches!(e, StorageError::Corrupt { array, layout, attr: a, chunk: c, .. }
        if *array == s.name && *layout == s.layouts[l].name && *a == s.attrs[attr].name && c == chunk)
}

fn build() -> Fixture {
    let dir = crate::scratch::scratch_dir();
    let opts = Options {
        durable: false,
        cache_bytes: 4 << 20,
        inline_bytes: 40,
        segment_bytes: 256,
        ..Options::default()
    };
    let store = Store::open_with(dir.path(), opts).expect("fixture store");
    let engine = Engine::new(store, EngineConfig::default());
    let ctx = QueryContext::default();
    for sql in [
        "CREATE ARRAY s (a DOUBLE START 0 STEP 1 LENGTH 8, b DOUBLE START 0 STEP 1 LENGTH 6,
           f DOUBLE, i SMALLINT) WITH (chunks = (4, 3), layout = boxes)",
        "ALTER ARRAY s ADD LAYOUT rows CHUNKS (1, 6)",
    ] {
        engine.execute(sql, &ctx).expect("fixture DDL");
    }
    let mut versions = [0; 2];
    for v in 1..=2u64 {
        let mut sink = engine.store().ingest("s").expect("ingest");
        for (attr, name) in ["f", "i"].iter().enumerate() {
            let shape: Vec<usize> = SHAPE.iter().map(|&n| n as usize).collect();
            let bytes = want(attr, v, &Region::full(&SHAPE));
            let dtype = if attr == 0 {
                arrayq_storage::DType::F64
            } else {
                arrayq_storage::DType::I16
            };
            let buf = Buffer::from_le_bytes(dtype, &shape, &bytes).expect("buffer");
            sink.write(name, &[0, 0], &buf).expect("stage");
        }
        versions[v as usize - 1] = sink.commit().expect("commit").version;
    }
    let mut segments = Vec::new();
    for e in std::fs::read_dir(dir.path().join("segments")).expect("segments") {
        let p = e.expect("entry").path();
        let bytes = std::fs::read(&p).expect("read a segment");
        if !bytes.is_empty() {
            segments.push((p, bytes));
        }
    }
    segments.sort();
    let segments: Vec<(File, Vec<u8>)> = segments.into_iter().map(|(p, b)| (rw(&p), b)).collect();
    let entries = engine
        .store()
        .chunk_entries_for_testing("s")
        .expect("entries");
    assert!(
        segments.len() > 1 && entries.iter().any(|e| inner_value(&e.1)[0] == 0),
        "fixture layout"
    );
    Fixture {
        engine,
        segments,
        entries,
        versions,
        _dir: dir,
    }
}
