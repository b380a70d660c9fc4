//! Reads of chunks that are not in the page cache: with every file of the store
//! evicted before it is opened (store just opened), and with the store open and only
//! its segment files evicted (server running, data cold). Values read must be exactly
//! what the formula wrote; a prefetch must read in the chunks asked for and not a
//! readahead window around them.

mod common;
use arrayq_storage::*;
use arrayq_tests::{cached_bytes, evict_dir};
use common::model::*;
use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SHAPE: [u64; 2] = [32, 8192];
/// Map-like rows (32 KB raw each) and pencil-like columns (32 KB raw each).
const LAYOUTS: [(&str, [u64; 2]); 2] = [("rows", [1, 8192]), ("cols", [32, 256])];

/// The value written at (x, y): noise (so chunks stay tens of KB after zstd), a
/// multiple of 0.25 below 25000, exact in f32.
fn value(x: usize, y: usize) -> f32 {
    let mut z = (x * 8192 + y) as u64 ^ 0x9E37_79B9_7F4A_7C15;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % 100_000) as f32 * 0.25
}

/// Every chunk in a segment file (none inline).
fn options() -> Options {
    Options {
        inline_bytes: 0,
        ..Options::default()
    }
}

/// A closed store under the target directory (a real disk: eviction is a no-op on
/// tmpfs) holding array `a` written from [`value`].
fn written_store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let path = dir.path().join("db");
    let store = Store::open_with(&path, options()).unwrap();
    store
        .create_array(grid_schema("a", SHAPE, &LAYOUTS))
        .unwrap();
    let data = f32_block(&[SHAPE[0] as usize, SHAPE[1] as usize], |ix| {
        value(ix[0], ix[1])
    });
    store.write("a", "v", &[0, 0], data).unwrap();
    (dir, path)
}

fn segment_files(db: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(db.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn cached(db: &Path) -> u64 {
    segment_files(db)
        .iter()
        .map(|p| cached_bytes(p).unwrap())
        .sum()
}

/// Evicts `dir` and checks no segment page is left in the page cache, so the reads
/// that follow are cold.
fn evict(dir: &Path, db: &Path) {
    assert!(evict_dir(dir), "evicting {}", dir.display());
    assert_eq!(cached(db), 0, "segment pages left after eviction");
}

/// Reads `region` through layout `layout` and compares every value with [`value`].
fn assert_reads_formula(snap: &Snapshot, layout: usize, region: Region) {
    let got = read_layout(snap, &region, layout);
    let (x0, y0) = (region.0[0].start as usize, region.0[1].start as usize);
    let want = ndarray::ArrayD::from_shape_fn(region.shape(), |ix| value(x0 + ix[0], y0 + ix[1]));
    assert_eq!(got, want, "region {region} through layout {layout}");
}

/// The queries' shapes: a point series, a map, a box, everything; through both
/// layouts.
fn assert_all_reads(snap: &Snapshot) {
    for layout in 0..LAYOUTS.len() {
        assert_reads_formula(snap, layout, Region(vec![0..32, 1000..1001]));
        assert_reads_formula(snap, layout, Region(vec![5..6, 0..8192]));
        assert_reads_formula(snap, layout, Region(vec![3..20, 1000..3000]));
        assert_reads_formula(snap, layout, Region::full(&SHAPE));
    }
}

#[test]
fn reads_after_every_file_of_the_store_was_evicted_match_the_formula() {
    let (_dir, db) = written_store();
    evict(&db, &db);
    let store = Store::open_with(&db, options()).unwrap();
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    // A stored chunk handed out undecoded (the gRPC pass-through) reads cold too.
    let stored = snap.stored_chunk(0, 0, &[7, 0], None).unwrap().unwrap();
    let mut raw = vec![0u8; 8192 * 4];
    let codec = &snap.schema().layouts[0].codec;
    assert!(codec.decode_into(&stored, &mut raw).unwrap());
    let row: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(row, (0..8192).map(|y| value(7, y)).collect::<Vec<_>>());
    assert_all_reads(&snap);
}

#[test]
fn server_running_data_cold_reads_match_and_prefetch_reads_only_the_chunks_asked() {
    let (_dir, db) = written_store();
    let store = Store::open_with(&db, options()).unwrap();
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    assert_all_reads(&snap);
    let file_bytes: u64 = segment_files(&db)
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .sum();

    // Mapped pages are not evicted: give them back first, as memory pressure would.
    store.release_mappings();
    evict(&db.join("segments"), &db);
    let rows: Vec<Vec<u64>> = (0..4).map(|x| vec![x, 0]).collect();
    snap.prefetch(0, 0, &rows).unwrap();
    // The read-ahead is asynchronous: wait for its pages.
    let deadline = Instant::now() + Duration::from_secs(10);
    while cached(&db) < 4 * 4096 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let got = cached(&db);
    // Four chunks of at most 32 KB (and a page each side), gaps of at most 64 KiB
    // merged between them; a fault's readahead window would be the whole file.
    let bound = 4 * (32 << 10) + 3 * (64 << 10) + 8 * 4096;
    assert!(
        (4 * 4096..=bound).contains(&got),
        "{got} bytes cached after prefetching 4 chunks (bound {bound}, file {file_bytes})"
    );
    assert!(bound < file_bytes, "the file is larger than the bound");
    assert_reads_formula(&snap, 0, Region(vec![0..4, 0..8192]));

    // Again without a prefetch: each chunk read asks for its own range.
    store.release_mappings();
    evict(&db.join("segments"), &db);
    assert_all_reads(&snap);
}
