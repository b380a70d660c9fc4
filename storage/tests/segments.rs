//! Chunk payloads in segment files: corruption and truncation are reported by name,
//! vacuum and drop give space back, and data survives compaction and reopen.

mod common;
use arrayq_storage::*;
use common::*;
use std::path::{Path, PathBuf};

/// No inline payloads, small segments: every chunk lives in a segment file.
fn segment_options() -> Options {
    Options {
        inline_bytes: 0,
        segment_bytes: 64 << 10,
        ..Options::default()
    }
}

fn segment_files(db: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(db.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "arq"))
        .collect();
    v.sort();
    v
}

/// Values zstd cannot squeeze much, so each commit adds real bytes to the segments.
fn noisy_block(seed: u64, shape: [usize; 2]) -> Buffer {
    f32_block(&shape, |ix| {
        let mut z = seed
            .wrapping_mul(0x9E3779B97F4A7C15)
            .wrapping_add((ix[0] * 4096 + ix[1]) as u64);
        z = (z ^ (z >> 31)).wrapping_mul(0xBF58476D1CE4E5B9);
        (z >> 40) as f32
    })
}

fn read_all(store: &Store, array: &str, version: u64, shape: [u64; 2]) -> ndarray::ArrayD<f32> {
    as_f32(
        store
            .snapshot(array, AsOf::Version(version))
            .unwrap()
            .read("v", &Region::full(&shape))
            .unwrap(),
    )
}

/// A closed store whose array `a` (32 x 32) holds two chunks of 16 rows, both in
/// one segment file.
fn two_chunk_store(seed: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = Store::open_with(&path, segment_options()).unwrap();
    store
        .create_array(grid_schema("a", [32, 32], &[("tiles", [16, 32])]))
        .unwrap();
    store
        .write("a", "v", &[0, 0], noisy_block(seed, [32, 32]))
        .unwrap();
    (dir, path)
}

/// Reads the two 16-row chunks of `a` (written by [`two_chunk_store`] from `seed`)
/// separately; returns which one is reported corrupt (by the chunk named in the
/// error), checking the other reads as written.
fn the_corrupt_chunk(store: &Store, seed: u64) -> u64 {
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    let written = as_f32(noisy_block(seed, [32, 32]));
    let mut corrupt = vec![];
    for c in 0..2u64 {
        let rows = c as usize * 16..c as usize * 16 + 16;
        match snap.read("v", &Region(vec![c * 16..c * 16 + 16, 0..32])) {
            Ok(b) => assert_eq!(
                as_f32(b),
                written.slice(ndarray::s![rows, ..]).into_dyn(),
                "intact chunk {c}"
            ),
            Err(StorageError::Corrupt {
                array,
                layout,
                chunk,
                ..
            }) => {
                assert_eq!((array.as_str(), layout.as_str()), ("a", "tiles"));
                assert_eq!(chunk, vec![c, 0]);
                corrupt.push(c);
            }
            Err(other) => panic!("expected Corrupt, got {other}"),
        }
    }
    assert_eq!(corrupt.len(), 1, "exactly one chunk was damaged");
    // A read spanning both chunks fails as a whole, naming the damaged chunk: no
    // partial data is returned.
    match snap.read("v", &Region::full(&[32, 32])) {
        Err(StorageError::Corrupt { chunk, .. }) => assert_eq!(chunk, vec![corrupt[0], 0]),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // The stored form handed to clients that decode is the damaged one as it is: their
    // checksum check finds it (or, cut short, it is reported here).
    for c in 0..2u64 {
        match snap.stored_chunk(0, 0, &[c, 0], None) {
            Ok(Some(b)) => assert_eq!(
                arrayq_storage::codec::checked_payload(&b).is_some(),
                c != corrupt[0],
                "chunk {c}"
            ),
            Err(StorageError::Corrupt { chunk, .. }) => assert_eq!(chunk, vec![corrupt[0], 0]),
            other => panic!("chunk {c}: {other:?}"),
        }
    }
    corrupt[0]
}

#[test]
fn corrupted_segment_payload_is_reported_by_name_never_returned() {
    let (_dir, path) = two_chunk_store(1);
    // Flip a byte inside the first payload of the segment (either chunk: the two
    // were encoded in parallel).
    let seg = &segment_files(&path)[0];
    let mut bytes = std::fs::read(seg).unwrap();
    bytes[100] ^= 0x40;
    std::fs::write(seg, &bytes).unwrap();
    the_corrupt_chunk(&Store::open(&path).unwrap(), 1);
}

#[test]
fn truncated_segment_is_reported_as_corrupt() {
    let (_dir, path) = two_chunk_store(2);
    let seg = &segment_files(&path)[0];
    let len = std::fs::metadata(seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(seg)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    the_corrupt_chunk(&Store::open(&path).unwrap(), 2);
}

/// A store with segment files only, holding a 64 x 64 array for each name.
fn store_with_arrays(path: &Path, names: &[&str]) -> Store {
    let store = Store::open_with(path, segment_options()).unwrap();
    for name in names {
        store
            .create_array(grid_schema(name, [64, 64], &[("tiles", [16, 64])]))
            .unwrap();
    }
    store
}

#[test]
fn vacuum_gives_segment_space_back_and_keeps_what_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let shape = [64, 64];
    let store = store_with_arrays(&path, &["a"]);
    // Ten versions overwrite the whole array; one more overwrites only its top half,
    // so the bottom half of version 10 must survive the vacuum.
    for k in 1..=10 {
        store
            .write("a", "v", &[0, 0], noisy_block(k, [64, 64]))
            .unwrap();
    }
    store
        .write("a", "v", &[0, 0], noisy_block(99, [32, 64]))
        .unwrap();
    // Version 11 from the generator: block 99 on top, the bottom half of block 10.
    let mut want = as_f32(noisy_block(10, [64, 64]));
    want.slice_mut(ndarray::s![0..32, ..])
        .assign(&as_f32(noisy_block(99, [32, 64])));
    let before = store.size_on_disk().unwrap();
    let stats = store.vacuum("a", 11).unwrap();
    let after = store.size_on_disk().unwrap();
    // Versions 0..=10 go; of their chunks (four of 16 rows per full write) only the
    // bottom two of version 10 are still needed: 9 * 4 + 2 are removed.
    assert_eq!(stats.versions_removed, 11, "{stats:?}");
    assert_eq!(stats.chunks_removed, 38, "{stats:?}");
    assert!(stats.bytes_reclaimed > 0, "{stats:?}");
    // Nine of eleven full versions are dead: at least half the payload bytes go.
    assert!(after * 2 < before, "size {before} -> {after}");
    assert_eq!(read_all(&store, "a", 11, shape), want);
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(read_all(&store, "a", 11, shape), want);
}

#[test]
fn drop_removes_the_segment_bytes_of_the_array() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = store_with_arrays(&path, &["a", "b"]);
    for k in 1..=4 {
        store
            .write("a", "v", &[0, 0], noisy_block(k, [64, 64]))
            .unwrap();
    }
    store
        .write("b", "v", &[0, 0], noisy_block(7, [64, 64]))
        .unwrap();
    let segment_bytes = |p: &Path| -> u64 {
        segment_files(p)
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .sum()
    };
    let before = segment_bytes(&path);
    store.drop_array("a").unwrap();
    let after = segment_bytes(&path);
    // "a" held four times what "b" holds; only "b" (and the open segment) may remain.
    assert!(after * 2 < before, "segments {before} -> {after}");
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(
        read_all(&store, "b", 1, [64, 64]),
        as_f32(noisy_block(7, [64, 64]))
    );
}

#[test]
fn appends_continue_after_reopen_without_touching_old_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let shape = [64, 64];
    drop(store_with_arrays(&path, &["a"]));
    // Each commit from a freshly opened store: the second appends after the first.
    for (k, start, block) in [(1, [0, 0], [64, 64]), (2, [8, 8], [16, 16])] {
        let store = Store::open_with(&path, segment_options()).unwrap();
        store
            .write("a", "v", &start, noisy_block(k, block))
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let v1 = as_f32(noisy_block(1, [64, 64]));
    assert_eq!(read_all(&store, "a", 1, shape), v1);
    let mut v2 = v1.clone();
    v2.slice_mut(ndarray::s![8..24, 8..24])
        .assign(&as_f32(noisy_block(2, [16, 16])));
    assert_eq!(read_all(&store, "a", 2, shape), v2);
}

/// A commit that fails after some of its chunks were written (here: a damaged chunk
/// it must read back) leaves nothing: its chunks, above the head, would otherwise
/// be found by the next commit of the same version, and its payloads would stay in
/// the segment file.
#[test]
fn failed_commit_leaves_no_chunks_or_segment_bytes_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut schema = grid_schema("a", [32, 32], &[("tiles", [16, 32])]);
    schema.attrs = vec![
        Attribute::new("v", DType::F32, Some(Scalar::F64(-1.0))),
        Attribute::new("w", DType::F32, None),
    ];
    {
        let store = Store::open_with(&path, segment_options()).unwrap();
        store.create_array(schema).unwrap();
        let mut tx = store.begin_write("a").unwrap();
        tx.write("v", &[0, 0], noisy_block(1, [32, 32])).unwrap();
        tx.write("w", &[0, 0], noisy_block(2, [32, 32])).unwrap();
        tx.commit().unwrap();
    }
    // `w`'s payloads follow `v`'s: cutting the file's end damages a chunk of `w`.
    let seg = segment_files(&path)[0].clone();
    let cut = std::fs::metadata(&seg).unwrap().len() - 10;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(cut)
        .unwrap();
    let store = Store::open_with(&path, segment_options()).unwrap();

    // Attribute `v` comes first: its new chunk (rows 32..48) is written, then the
    // read-back of `w`'s damaged chunk fails the commit.
    let mut tx = store.begin_write("a").unwrap();
    tx.write("v", &[32, 0], noisy_block(3, [16, 32])).unwrap();
    tx.write("w", &[8, 0], noisy_block(4, [16, 32])).unwrap();
    let err = tx.commit().unwrap_err();
    assert!(
        matches!(err, StorageError::Corrupt { ref attr, .. } if attr == "w"),
        "{err}"
    );
    assert_eq!(
        segment_files(&path),
        std::slice::from_ref(&seg),
        "no segment left behind"
    );
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len(),
        cut,
        "appends undone"
    );
    assert_eq!(store.snapshot("a", AsOf::Latest).unwrap().shape(), [32, 32]);

    // The next commit takes the same version; growing over rows 32..48 by one row
    // must show the fill, not the failed commit's chunk.
    let v = store
        .write("a", "v", &[47, 0], noisy_block(5, [1, 32]))
        .unwrap()
        .version;
    assert_eq!(v, 2);
    let got = read_all(&store, "a", v, [48, 32]);
    let old = as_f32(noisy_block(1, [32, 32]));
    let row = as_f32(noisy_block(5, [1, 32]));
    for i in 0..48 {
        for j in 0..32 {
            let want = match i {
                0..32 => old[[i, j]],
                32..47 => -1.0,
                _ => row[[0, j]],
            };
            assert_eq!(got[[i, j]], want, "cell ({i}, {j})");
        }
    }
}
