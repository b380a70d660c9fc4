//! Rollups over their life: which commits fold buckets from their own writes and
//! which read days back, dropping a rollup (its chunks go with the last version that
//! carries it), ids never reused while they may, and the change log's kinds.

mod common;
use arrayq_storage::*;
use std::sync::atomic::Ordering;

const HOUR: i64 = 3_600_000_000_000;
/// 2023-01-01T00:00:00Z: index 24 k is the first hour of day k.
const T0: i64 = 1_672_531_200_000_000_000;
const NX: u64 = 4;

/// `a(time, x; v)`, hourly from midnight, one chunk per hour, and its store
/// (every payload in a segment file of its own).
fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        durable: false,
        inline_bytes: 0,
        segment_bytes: 1,
        ..Options::default()
    };
    let store = Store::open_with(dir.path().join("db"), opts).unwrap();
    let time = Dimension {
        name: "time".into(),
        coord: Coordinate::Time {
            start_ns: T0,
            step_ns: HOUR,
        },
        len: 0,
        growable: true,
    };
    store
        .create_array(ArraySchema {
            name: "a".into(),
            dims: vec![time, common::regular("x", NX, false)],
            attrs: vec![Attribute::new("v", DType::F32, Some(Scalar::F64(f64::NAN)))],
            layouts: vec![Layout::new(
                "l",
                vec![1, NX],
                CodecChain::shuffle_zstd(4, 1),
            )],
            metadata: Default::default(),
        })
        .unwrap();
    (dir, store)
}

fn add_daily(store: &Store) -> CommitInfo {
    store
        .add_rollup("a", "daily", "time", &[("v".into(), true, true, true)])
        .unwrap()
}

/// Writes hours `t` of x `x` with values `base + i` (row-major).
fn write(store: &Store, t: std::ops::Range<u64>, x: std::ops::Range<u64>, base: f32) {
    let shape = [(t.end - t.start) as usize, (x.end - x.start) as usize];
    let buf = common::f32_block(&shape, |ix| base + (ix[0] * shape[1] + ix[1]) as f32);
    store.write("a", "v", &[t.start, x.start], buf).unwrap();
}

/// Chunks the read path fetched while `f` ran.
fn chunks_read(store: &Store, f: impl FnOnce()) -> u64 {
    let before = store.metrics().chunks_read.load(Ordering::Relaxed);
    f();
    store.metrics().chunks_read.load(Ordering::Relaxed) - before
}

/// The layout id of a chunk key: `C id(u32) layout(u16) ...` (docs/format.md).
fn key_layout(key: &[u8]) -> u16 {
    u16::from_be_bytes([key[5], key[6]])
}

/// Chunk index entries of rollups (layout ids from 0xF000).
fn rollup_entries(store: &Store) -> usize {
    let entries = store.chunk_entries_for_testing("a").unwrap();
    entries
        .iter()
        .filter(|(k, _)| key_layout(k) >= 0xF000)
        .count()
}

/// Count, sum, min and max of day `day` at x `x` at the head.
fn bucket(store: &Store, day: u64, x: u64) -> (f64, f64, f64, f64) {
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    let grid = DayGrid::of(snap.schema(), 0).unwrap();
    let key = grid.day_of(24 * day);
    let got = snap
        .read_rollup(0, 0, &Region(vec![key..key + 1, x..x + 1]), &[])
        .unwrap();
    (got.count[0], got.sum[0], got.min[0], got.max[0])
}

#[test]
fn whole_day_commits_fold_their_writes_partial_days_read_their_days_back() {
    let (_dir, store) = open();
    add_daily(&store);
    // The first write: two whole days, nothing older to read.
    assert_eq!(chunks_read(&store, || write(&store, 0..48, 0..NX, 0.0)), 0);
    // Day 1 again, whole, over older data.
    assert_eq!(
        chunks_read(&store, || write(&store, 24..48, 0..NX, 100.0)),
        0
    );
    // Day 1 x = 2: 24 hours of 100 + 4 h + 2.
    let sum: f64 = (0..24).map(|h| 102.0 + 4.0 * h as f64).sum();
    assert_eq!(bucket(&store, 1, 2), (24.0, sum, 102.0, 194.0));
    // One hour of day 1: its other 23 hours are older data, the whole day (24
    // one-hour chunks) is read back.
    assert_eq!(
        chunks_read(&store, || write(&store, 30..31, 0..NX, -5.0)),
        24
    );
    // Hour 30 at x = 2 is now -3 instead of 102 + 4 * 6 = 126.
    assert_eq!(bucket(&store, 1, 2), (24.0, sum - 126.0 - 3.0, -3.0, 194.0));
    // Growing into day 2: no older data there.
    assert_eq!(chunks_read(&store, || write(&store, 48..50, 0..NX, 0.0)), 0);
    // Growing day 2 further for x < 2 only: the grown cells at x >= 2 hold the fill
    // and day 2's first hours are older data: day 2's 4 hours are read back.
    assert_eq!(chunks_read(&store, || write(&store, 50..52, 0..2, 7.0)), 4);
    // Day 2 at x = 1: hours 48, 49 (1, 5) and 50, 51 (8, 10); the fill is NaN.
    assert_eq!(bucket(&store, 2, 1), (4.0, 24.0, 1.0, 10.0));
    assert_eq!(bucket(&store, 2, 3), (2.0, 3.0 + 7.0, 3.0, 7.0));
}

#[test]
fn a_dropped_rollups_chunks_go_with_the_last_version_that_carries_it() {
    let (dir, store) = open();
    add_daily(&store); // v1: an empty array, no bucket stored
    write(&store, 0..48, 0..NX, 0.0); // v2
    write(&store, 24..48, 0..NX, 100.0); // v3
                                         // One rollup chunk (64 days x 4 cells) of 4 fields, by v2 and v3.
    assert_eq!(rollup_entries(&store), 8);
    let dropped = store.drop_rollup("a", "daily").unwrap(); // v4
    assert_eq!(dropped.version, 4);
    // Older versions still read it, so its chunks stay.
    let v3 = store.snapshot("a", AsOf::Version(3)).unwrap();
    let got = v3
        .read_rollup(
            0,
            0,
            &Region(vec![(1 << 32) + 19358..(1 << 32) + 19359, 0..1]),
            &[],
        )
        .unwrap();
    assert_eq!(got.count, vec![24.0]);
    drop(v3);
    assert_eq!(rollup_entries(&store), 8);
    let stats = store.vacuum("a", 4).unwrap();
    // The 8 rollup chunks and the 24 hours v3 rewrote.
    assert_eq!(stats.chunks_removed, 8 + 24);
    assert_eq!(rollup_entries(&store), 0);
    // What the segment files hold is the layout's 48 chunks, no more.
    let head = store.snapshot("a", AsOf::Latest).unwrap();
    assert_eq!(head.meta().stats[0].chunks, 48);
    let live: u64 = store
        .chunk_entries_for_testing("a")
        .unwrap()
        .iter()
        .map(|(_, v)| u32::from_be_bytes(v[v.len() - 4..].try_into().unwrap()) as u64)
        .sum();
    assert_eq!(live, head.meta().stats[0].bytes);
    let on_disk: u64 = std::fs::read_dir(dir.path().join("db/segments"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(on_disk, live);
}

#[test]
fn rollup_ids_come_back_only_once_no_version_carries_them() {
    let (_dir, store) = open();
    write(&store, 0..24, 0..NX, 0.0);
    add_daily(&store);
    store.drop_rollup("a", "daily").unwrap();
    add_daily(&store);
    // Version 2 still carries rollup 0 (and its chunks): the new one is 1.
    let head = store.snapshot("a", AsOf::Latest).unwrap();
    assert_eq!(head.meta().rollups[0].id, 1);
    assert_eq!(
        bucket(&store, 0, 3),
        (24.0, (0..24).map(|h| 3.0 + 4.0 * h as f64).sum(), 3.0, 95.0)
    );
    let latest = head.version();
    drop(head);
    store.drop_rollup("a", "daily").unwrap();
    store.vacuum("a", latest + 1).unwrap();
    assert_eq!(rollup_entries(&store), 0);
    add_daily(&store);
    let head = store.snapshot("a", AsOf::Latest).unwrap();
    assert_eq!(head.meta().rollups[0].id, 0);
    assert_eq!(
        bucket(&store, 0, 0),
        (24.0, (0..24).map(|h| 4.0 * h as f64).sum(), 0.0, 92.0)
    );
}

#[test]
fn adding_and_dropping_a_rollup_are_logged_as_such() {
    let (_dir, store) = open();
    let first = store.last_seq();
    add_daily(&store);
    write(&store, 0..24, 0..NX, 0.0);
    store.drop_rollup("a", "daily").unwrap();
    let kinds: Vec<(ChangeKind, u64)> = store
        .changes_since(first + 1, 10)
        .unwrap()
        .iter()
        .map(|e| (e.kind, e.version))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (ChangeKind::AddRollup, 1),
            (ChangeKind::Write, 2),
            (ChangeKind::DropRollup, 3),
        ]
    );
    let ev = &store.changes_since(first + 1, 1).unwrap()[0];
    let json = String::from_utf8(ev.encode()).unwrap();
    assert!(json.contains(r#""kind":"add_rollup""#), "{json}");
    // Events logged before rollups had kinds of their own still read.
    let old = r#"{"seq":7,"array":"a","kind":"add_layout","version":1,"timestamp_ns":5,"region":[],"cells_written":0}"#;
    let mut key = b"L".to_vec();
    key.extend_from_slice(&7u64.to_be_bytes());
    assert_eq!(
        ChangeEvent::decode(&key, old.as_bytes()).unwrap().kind,
        ChangeKind::AddLayout
    );
}
