//! The ingest sink: blocks and records land exactly where and as they were given
//! (checked against the formula written, in every layout), staged data spills past
//! the memory bound and leaves nothing behind, and bad input is named.

use arrayq_storage::*;
use std::path::{Path, PathBuf};

/// `v(x, y)` of the blocks written: exact in f64.
fn formula(x: u64, y: u64) -> f64 {
    1000.0 * x as f64 + y as f64 + 0.25
}

/// `n(x, y)` of the i32 attribute.
fn count(x: u64, y: u64) -> i32 {
    (x * 7 + y * 3) as i32 - 50
}

fn regular(name: &str, len: u64, growable: bool) -> Dimension {
    Dimension {
        name: name.into(),
        coord: Coordinate::Regular {
            start: 0.0,
            step: 1.0,
        },
        len,
        growable,
    }
}

/// `g(x, y; v f64, n i32)`, x growable, in two layouts that chunk it differently.
fn schema() -> ArraySchema {
    ArraySchema {
        name: "g".into(),
        dims: vec![regular("x", 20, true), regular("y", 9, false)],
        attrs: vec![
            Attribute::new("v", DType::F64, None),
            Attribute::new("n", DType::I32, Some(Scalar::I64(-1))),
        ],
        layouts: vec![
            Layout::new("tiles", vec![4, 3], CodecChain::shuffle_zstd(8, 3)),
            Layout::new("rows", vec![1, 9], CodecChain::zstd(1)),
        ],
        metadata: Default::default(),
    }
}

fn open(dir: &Path) -> Store {
    let store = Store::open(dir.join("db")).unwrap();
    if store.list_arrays().is_empty() {
        store.create_array(schema()).unwrap();
    }
    store
}

fn staging(dir: &Path) -> PathBuf {
    dir.join("db").join("staging")
}

fn staging_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(staging(dir))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

fn tiny() -> IngestOptions {
    IngestOptions {
        memory_bytes: 256,
        max_bytes: None,
    }
}

/// Row-major little-endian bytes of `f` over the box at `start` of `shape`.
fn block_bytes<T: Copy>(
    start: [u64; 2],
    shape: [u64; 2],
    f: impl Fn(u64, u64) -> T,
    le: impl Fn(T) -> Vec<u8>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for x in start[0]..start[0] + shape[0] {
        for y in start[1]..start[1] + shape[1] {
            out.extend(le(f(x, y)));
        }
    }
    out
}

/// Every cell of `attr` in every layout, as f64, row-major.
fn read_all(store: &Store, attr: usize) -> Vec<(usize, Vec<f64>, Vec<u64>)> {
    let snap = store.snapshot("g", AsOf::Latest).unwrap();
    let shape = snap.schema().shape();
    (0..snap.schema().layouts.len())
        .map(|l| {
            let b = snap
                .read_with(
                    attr,
                    &Region::full(&shape),
                    ReadOptions {
                        layout: Some(l),
                        ..Default::default()
                    },
                )
                .unwrap();
            (l, b.to_f64_vec(), shape.clone())
        })
        .collect()
}

/// Pushes `bytes` into `block` in pieces of `piece` bytes.
fn push_in_pieces(sink: &mut IngestSink, block: BlockId, bytes: &[u8], piece: usize) {
    for (k, p) in bytes.chunks(piece).enumerate() {
        sink.push_block(block, (k * piece) as u64, p).unwrap();
    }
}

#[test]
fn blocks_in_pieces_commit_the_formula_in_every_layout() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut sink = store.ingest("g").unwrap();
    // v over [2..8, 1..6] in 13-byte pieces (not whole elements), n over [0..3, 0..9].
    let v = sink.begin_block("v", &[2, 1], &[6, 5]).unwrap();
    let n = sink.begin_block("n", &[0, 0], &[3, 9]).unwrap();
    let vb = block_bytes([2, 1], [6, 5], formula, |x| x.to_le_bytes().to_vec());
    let nb = block_bytes([0, 0], [3, 9], count, |x| x.to_le_bytes().to_vec());
    push_in_pieces(&mut sink, v, &vb, 13);
    push_in_pieces(&mut sink, n, &nb, 8);
    assert_eq!(sink.spilled_bytes(), 0, "default bound: all in memory");
    let info = sink.commit().unwrap();
    assert_eq!(info.version, 1, "the first commit after create (version 0)");
    for (l, got, shape) in read_all(&store, 0) {
        for x in 0..shape[0] {
            for y in 0..shape[1] {
                let g = got[(x * shape[1] + y) as usize];
                if (2..8).contains(&x) && (1..6).contains(&y) {
                    assert_eq!(g, formula(x, y), "layout {l} cell ({x},{y})");
                } else {
                    assert!(g.is_nan(), "layout {l} cell ({x},{y}) = {g}, want fill");
                }
            }
        }
    }
    for (l, got, shape) in read_all(&store, 1) {
        for x in 0..shape[0] {
            for y in 0..shape[1] {
                let want = if x < 3 { count(x, y) as f64 } else { -1.0 };
                assert_eq!(
                    got[(x * shape[1] + y) as usize],
                    want,
                    "layout {l} ({x},{y})"
                );
            }
        }
    }
    assert!(staging_files(dir.path()).is_empty());
}

#[test]
fn a_spilled_write_commits_the_formula_and_removes_its_staging_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut sink = store.ingest_with("g", tiny()).unwrap();
    // 30 x 9 f64 = 2160 bytes against a 256-byte bound; x grows from 20 to 30.
    let v = sink.begin_block("v", &[0, 0], &[30, 9]).unwrap();
    let vb = block_bytes([0, 0], [30, 9], formula, |x| x.to_le_bytes().to_vec());
    push_in_pieces(&mut sink, v, &vb, 100);
    assert!(
        sink.spilled_bytes() >= 2160 - 256,
        "{}",
        sink.spilled_bytes()
    );
    let spill = sink.spill_path().unwrap().to_path_buf();
    assert!(spill.starts_with(staging(dir.path())));
    assert!(spill.exists());
    sink.commit().unwrap();
    assert!(!spill.exists(), "the staging file is removed after commit");
    assert!(staging_files(dir.path()).is_empty());
    for (l, got, shape) in read_all(&store, 0) {
        assert_eq!(shape, vec![30, 9]);
        for x in 0..30 {
            for y in 0..9 {
                assert_eq!(got[(x * 9 + y) as usize], formula(x, y), "layout {l}");
            }
        }
    }
}

#[test]
fn records_set_only_the_cells_given_and_spill_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // First the formula everywhere, as one buffer.
    let mut sink = store.ingest("g").unwrap();
    let all: Vec<f64> = (0..20 * 9).map(|k| formula(k / 9, k % 9)).collect();
    let buf = Buffer::F64(ndarray::ArrayD::from_shape_vec(vec![20, 9], all).unwrap());
    sink.write("v", &[0, 0], &buf).unwrap();
    sink.commit().unwrap();
    // Then records, as rows of a table: every cell with x + y divisible by 3 gets
    // -(x*9+y), plus the whole tile [4..8, 3..6] (x+y not divisible by 3 there too).
    let mut given = std::collections::BTreeMap::new();
    for x in 0..20u64 {
        for y in 0..9u64 {
            if (x + y) % 3 == 0 || ((4..8).contains(&x) && (3..6).contains(&y)) {
                given.insert((x, y), -((x * 9 + y) as f64));
            }
        }
    }
    let mut sink = store.ingest_with("g", tiny()).unwrap();
    // In batches of 10 rows, in reverse order (a loader owes no order).
    let rows: Vec<_> = given.iter().rev().collect();
    for batch in rows.chunks(10) {
        let coords: Vec<u64> = batch.iter().flat_map(|((x, y), _)| [*x, *y]).collect();
        let values: Vec<f64> = batch.iter().map(|(_, v)| **v).collect();
        let n = values.len();
        let values = Buffer::F64(ndarray::ArrayD::from_shape_vec(vec![n], values).unwrap());
        sink.push_cells("v", &coords, &values).unwrap();
    }
    assert!(sink.spilled_bytes() > 0, "a 256-byte bound spills");
    sink.commit().unwrap();
    assert!(staging_files(dir.path()).is_empty());
    for (l, got, _) in read_all(&store, 0) {
        for x in 0..20 {
            for y in 0..9 {
                let want = given.get(&(x, y)).copied().unwrap_or(formula(x, y));
                assert_eq!(got[(x * 9 + y) as usize], want, "layout {l} ({x},{y})");
            }
        }
    }
    // A cell given twice keeps the later value.
    let mut sink = store.ingest("g").unwrap();
    for v in [1, 2] {
        sink.push_cells("n", &[5, 5], &Buffer::I32(ndarray::arr1(&[v]).into_dyn()))
            .unwrap();
    }
    sink.commit().unwrap();
    for (l, got, _) in read_all(&store, 1) {
        assert_eq!(got[5 * 9 + 5], 2.0, "layout {l}");
        assert_eq!(got[5 * 9 + 4], -1.0, "layout {l}: not given, fill");
    }
}

#[test]
fn aborted_and_dropped_sinks_leave_no_version_and_no_staging_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let vb = block_bytes([0, 0], [10, 9], formula, |x| x.to_le_bytes().to_vec());
    for abort in [true, false] {
        let mut sink = store.ingest_with("g", tiny()).unwrap();
        let v = sink.begin_block("v", &[0, 0], &[10, 9]).unwrap();
        push_in_pieces(&mut sink, v, &vb, 64);
        let spill = sink.spill_path().unwrap().to_path_buf();
        assert!(spill.exists());
        if abort {
            sink.abort();
        } else {
            drop(sink);
        }
        assert!(!spill.exists());
    }
    // A commit that fails (stale expected version) leaves nothing either.
    let mut sink = store.ingest_with("g", tiny()).unwrap();
    sink.expect_version(0);
    store
        .write(
            "g",
            "n",
            &[0, 0],
            Buffer::I32(ndarray::ArrayD::zeros(vec![1, 1])),
        )
        .unwrap();
    let v = sink.begin_block("v", &[0, 0], &[10, 9]).unwrap();
    push_in_pieces(&mut sink, v, &vb, 64);
    let e = sink.commit().unwrap_err();
    assert!(
        matches!(
            e,
            IngestError::Storage(StorageError::VersionConflict { .. })
        ),
        "{e}"
    );
    assert!(staging_files(dir.path()).is_empty());
    let versions: Vec<u64> = store.versions("g").unwrap().iter().map(|v| v.0).collect();
    assert_eq!(versions, vec![0, 1], "only the plain write committed");
    for (_, got, _) in read_all(&store, 0) {
        assert!(got.iter().all(|v| v.is_nan()));
    }
}

#[test]
fn a_reopened_store_removes_leftover_staging_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    drop(store);
    // As a crash mid-write leaves it.
    let left = staging(dir.path()).join("4242-0.stage");
    std::fs::write(&left, vec![7u8; 4096]).unwrap();
    let store = open(dir.path());
    assert!(!left.exists(), "open cleans the staging directory");
    assert!(staging(dir.path()).is_dir());
    assert_eq!(store.versions("g").unwrap().len(), 1);
}

#[test]
fn bad_input_is_named_before_anything_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut sink = store
        .ingest_with(
            "g",
            IngestOptions {
                memory_bytes: 1 << 20,
                max_bytes: Some(1000),
            },
        )
        .unwrap();
    let msg = |e: IngestError| e.to_string();
    // Wrong attribute.
    let e = msg(sink.begin_block("w", &[0, 0], &[1, 1]).unwrap_err());
    assert!(e.contains("no attribute 'w'"), "{e}");
    // Wrong rank.
    let e = msg(sink.begin_block("v", &[0], &[1]).unwrap_err());
    assert!(e.contains("2 dimensions"), "{e}");
    // Out of range on a fixed dimension.
    let e = msg(sink.begin_block("v", &[0, 5], &[1, 5]).unwrap_err());
    assert!(
        e.contains("[0..1, 5..10]") && e.contains("'y' has 9 cells"),
        "{e}"
    );
    // Empty region.
    let e = msg(sink.begin_block("v", &[0, 0], &[0, 3]).unwrap_err());
    assert!(e.contains("empty"), "{e}");
    // Too large for the bound: 20 x 9 x 8 = 1440 > 1000.
    let e = sink.begin_block("v", &[0, 0], &[20, 9]).unwrap_err();
    assert!(
        matches!(
            e,
            IngestError::TooLarge {
                bytes: 1440,
                limit: 1000
            }
        ),
        "{e}"
    );
    // Wrong dtype.
    let e = msg(sink
        .write(
            "v",
            &[0, 0],
            &Buffer::I32(ndarray::ArrayD::zeros(vec![1, 1])),
        )
        .unwrap_err());
    assert!(
        e.contains("'v'") && e.contains("f64") && e.contains("i32"),
        "{e}"
    );
    // Offsets: out of order, past the region.
    let b = sink.begin_block("v", &[0, 0], &[2, 2]).unwrap();
    let e = msg(sink.push_block(b, 8, &[0; 8]).unwrap_err());
    assert!(
        e.contains("'v'") && e.contains("byte 8 but 0 bytes received"),
        "{e}"
    );
    sink.push_block(b, 0, &[0; 24]).unwrap();
    let e = msg(sink.push_block(b, 24, &[0; 16]).unwrap_err());
    assert!(e.contains("up to byte 40") && e.contains("32 bytes"), "{e}");
    // Records: coordinates not matching values, out of range.
    let one = Buffer::F64(ndarray::arr1(&[1.0]).into_dyn());
    let e = msg(sink.push_cells("v", &[1, 2, 3], &one).unwrap_err());
    assert!(e.contains("1 values") && e.contains("3 coordinates"), "{e}");
    let e = msg(sink.push_cells("v", &[1, 9], &one).unwrap_err());
    assert!(e.contains("'y' has 9 cells"), "{e}");
    // Incomplete block at commit: named, nothing committed.
    let e = msg(sink.commit().unwrap_err());
    assert!(
        e.contains("'v'") && e.contains("got 24 bytes") && e.contains("needs 32"),
        "{e}"
    );
    assert_eq!(store.versions("g").unwrap().len(), 1);
}

#[test]
fn labels_and_growth_as_in_a_plain_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db")).unwrap();
    let mut s = schema();
    s.name = "lab".into();
    s.dims[1] = Dimension {
        name: "asset".into(),
        coord: Coordinate::Labels {
            labels: vec![10, 20].into(),
        },
        len: 2,
        growable: true,
    };
    store.create_array(s).unwrap();
    let mut sink = store.ingest("lab").unwrap();
    // Beyond the labels before they are appended: named.
    let e = sink
        .begin_block("n", &[0, 2], &[1, 1])
        .unwrap_err()
        .to_string();
    assert!(e.contains("append labels"), "{e}");
    sink.append_labels("asset", &[30]).unwrap();
    let b = sink.begin_block("n", &[0, 2], &[21, 1]).unwrap();
    let bytes: Vec<u8> = (0..21).flat_map(|x: i32| (x * x).to_le_bytes()).collect();
    sink.push_block(b, 0, &bytes).unwrap();
    let info = sink.commit().unwrap();
    assert_eq!(info.version, 1);
    let snap = store.snapshot("lab", AsOf::Latest).unwrap();
    assert_eq!(snap.schema().shape(), vec![21, 3]);
    let got = snap
        .read("n", &Region(vec![0..21, 2..3]))
        .unwrap()
        .to_f64_vec();
    let want: Vec<f64> = (0..21).map(|x| (x * x) as f64).collect();
    assert_eq!(got, want);
}

#[test]
fn owned_buffers_commit_uncopied_and_later_blocks_win_where_they_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // A tiny bound: an owned buffer is never staged, so nothing spills for it.
    let mut sink = store.ingest_with("g", tiny()).unwrap();
    let whole: Vec<f64> = (0..20u64)
        .flat_map(|x| (0..9u64).map(move |y| formula(x, y)))
        .collect();
    let data = Buffer::F64(ndarray::ArrayD::from_shape_vec(vec![20, 9], whole).unwrap());
    sink.write_owned("v", &[0, 0], data).unwrap();
    assert_eq!(sink.spilled_bytes(), 0);
    // A later block over rows 2..4 replaces those cells with -formula.
    let b = sink.begin_block("v", &[2, 0], &[2, 9]).unwrap();
    let bb = block_bytes(
        [2, 0],
        [2, 9],
        |x, y| -formula(x, y),
        |v| v.to_le_bytes().to_vec(),
    );
    push_in_pieces(&mut sink, b, &bb, 64);
    let bad = Buffer::F32(ndarray::ArrayD::from_elem(vec![1, 9], 1.0f32));
    assert!(matches!(
        sink.write_owned("v", &[0, 0], bad).unwrap_err(),
        IngestError::Storage(StorageError::DTypeMismatch { .. })
    ));
    sink.commit().unwrap();
    for (l, got, shape) in read_all(&store, 0) {
        assert_eq!(shape, vec![20, 9]);
        for x in 0..20 {
            for y in 0..9 {
                let want = if (2..4).contains(&x) {
                    -formula(x, y)
                } else {
                    formula(x, y)
                };
                assert_eq!(got[(x * 9 + y) as usize], want, "layout {l} ({x}, {y})");
            }
        }
    }
}
