//! Per-chunk statistics kept at commit: each chunk's count, sum, minimum and maximum
//! against the same figures computed from a model of the writes, through
//! overwrites, NaN, versions (time travel), vacuum's compaction and a reopen.

mod common;
use arrayq_storage::*;
use common::model::*;
use common::*;
use ndarray::{s, ArrayD, IxDyn};
use std::collections::HashMap;

const SHAPE: [u64; 2] = [10, 7];
const CHUNK: [u64; 2] = [4, 3];

/// A store (closed again) with array `a` and `block` written at its origin.
fn closed_store(block: Buffer) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = Store::open(&path).unwrap();
    store
        .create_array(grid_schema("a", SHAPE, &[("tiles", CHUNK)]))
        .unwrap();
    store.write("a", "v", &[0, 0], block).unwrap();
    (dir, path)
}

/// The statistics of chunk `c` of the model (padding beyond the array holds the
/// fill value, NaN: it counts nothing).
fn model_stats(model: &ArrayD<f32>, c: &[u64]) -> ChunkStats {
    let r0 = (c[0] * CHUNK[0]) as usize..(((c[0] + 1) * CHUNK[0]).min(SHAPE[0])) as usize;
    let r1 = (c[1] * CHUNK[1]) as usize..(((c[1] + 1) * CHUNK[1]).min(SHAPE[1])) as usize;
    let vals: Vec<f64> = model
        .slice(s![r0, r1])
        .iter()
        .filter(|v| !v.is_nan())
        .map(|&v| v as f64)
        .collect();
    ChunkStats {
        count: vals.len() as u64,
        sum: vals.iter().sum(),
        min: vals.iter().copied().fold(f64::INFINITY, f64::min),
        max: vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    }
}

fn assert_matches(
    got: &HashMap<Vec<u64>, ChunkSummary>,
    model: &ArrayD<f32>,
    written: &[[u64; 2]],
) {
    assert_eq!(got.len(), written.len(), "chunks stored: {got:?}");
    for c in written {
        let want = model_stats(model, c);
        match got.get(c.as_slice()) {
            Some(ChunkSummary::Stats(s)) => {
                assert_eq!(s.count, want.count, "count of chunk {c:?}");
                assert!(
                    (s.sum - want.sum).abs() <= 1e-9 * want.sum.abs().max(1.0),
                    "sum of {c:?}: {} vs {}",
                    s.sum,
                    want.sum
                );
                assert_eq!(
                    (s.min, s.max),
                    (want.min, want.max),
                    "extrema of chunk {c:?}"
                );
            }
            other => panic!("chunk {c:?}: {other:?}"),
        }
    }
}

#[test]
fn chunk_statistics_follow_writes_overwrites_nan_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db")).unwrap();
    store
        .create_array(grid_schema("a", SHAPE, &[("tiles", CHUNK)]))
        .unwrap();
    let mut model = ArrayD::<f32>::from_elem(IxDyn(&[10, 7]), f32::NAN);
    // Version 1: the top-left 5 x 4 cells (chunks (0,0), (0,1), (1,0), (1,1)).
    write_tracked(
        &store,
        &mut model,
        &[0, 0],
        f32_block(&[5, 4], |ix| (ix[0] * 10 + ix[1]) as f32 - 7.5),
    );
    let v1 = model.clone();
    let first = [[0, 0], [0, 1], [1, 0], [1, 1]];
    // Version 2: an overwrite with NaN holes across chunks (1,1) and (2,2), a
    // chunk at the padded edge.
    let holes = f32_block(&[6, 4], |ix| {
        if (ix[0] + ix[1]) % 3 == 0 {
            f32::NAN
        } else {
            100.0 + ix[0] as f32 * 0.25 - ix[1] as f32
        }
    });
    write_tracked(&store, &mut model, &[4, 3], holes);
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    let all = [[0, 0], [0, 1], [1, 0], [1, 1], [1, 2], [2, 1], [2, 2]];
    assert_matches(&snap.chunk_summaries(0, 0).unwrap(), &model, &all);
    let old = store.snapshot("a", AsOf::Version(1)).unwrap();
    assert_matches(&old.chunk_summaries(0, 0).unwrap(), &v1, &first);

    // Vacuum down to version 2 and compaction keep the statistics; so does a reopen.
    store.vacuum("a", 2).unwrap();
    drop((snap, old));
    drop(store);
    let store = Store::open(dir.path().join("db")).unwrap();
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    assert_matches(&snap.chunk_summaries(0, 0).unwrap(), &model, &all);
}

#[test]
fn an_all_nan_chunk_counts_nothing_and_integers_sum_exactly() {
    let (_d, store) = (tempfile::tempdir().unwrap(), Store::temporary().unwrap());
    store
        .create_array(grid_schema("a", SHAPE, &[("tiles", CHUNK)]))
        .unwrap();
    store
        .write("a", "v", &[0, 0], f32_block(&[4, 3], |_| f32::NAN))
        .unwrap();
    let got = store
        .snapshot("a", AsOf::Latest)
        .unwrap()
        .chunk_summaries(0, 0)
        .unwrap();
    assert_eq!(
        got.get(&vec![0, 0]),
        Some(&ChunkSummary::Stats(ChunkStats {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY
        }))
    );
    assert_eq!(ChunkStats::of_fill(f64::NAN, 12).count, 0);
    let raw: Vec<u8> = [3i64, -5, 1 << 40]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(
        ChunkStats::compute(&raw, DType::I64),
        Some(ChunkStats {
            count: 3,
            sum: (1u64 << 40) as f64 - 2.0,
            min: -5.0,
            max: (1u64 << 40) as f64
        })
    );
}

#[test]
fn statistics_with_a_flipped_byte_are_ignored_and_the_chunk_decodes() {
    let (_dir, path) = closed_store(f32_block(&[4, 3], |ix| ix[1] as f32));
    {
        let db = raw_sled(&path);
        let t = db.open_tree("arrayq").unwrap();
        let (k, v) = t.scan_prefix(b"C").next().unwrap().unwrap();
        let mut v = v.to_vec();
        assert_eq!(v[0], 2, "a value with statistics");
        v[9] ^= 0x01; // the sum's lowest byte
        t.insert(k, v).unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    assert_eq!(
        snap.chunk_summaries(0, 0).unwrap().get(&vec![0, 0]),
        Some(&ChunkSummary::Unknown)
    );
    let got = as_f32(snap.read("v", &Region(vec![0..4, 0..3])).unwrap());
    assert_eq!(
        got,
        ArrayD::from_shape_fn(IxDyn(&[4, 3]), |ix| ix[1] as f32)
    );
}

#[test]
fn format_2_and_3_stores_open_marked_current_and_read_unchanged() {
    for older in [2u32, 3] {
        let (_dir, path) = closed_store(f32_block(&[2, 2], |ix| (ix[0] + ix[1]) as f32));
        let format = |want: Option<u32>| {
            let db = raw_sled(&path);
            let t = db.open_tree("arrayq").unwrap();
            if let Some(v) = want {
                t.insert(b"F", &v.to_be_bytes()).unwrap();
                db.flush().unwrap();
            }
            u32::from_be_bytes(t.get(b"F").unwrap().unwrap().as_ref().try_into().unwrap())
        };
        assert_eq!(format(Some(older)), older);
        {
            let store = Store::open(&path).unwrap();
            let got = as_f32(
                store
                    .snapshot("a", AsOf::Latest)
                    .unwrap()
                    .read("v", &Region(vec![0..2, 0..2]))
                    .unwrap(),
            );
            assert_eq!(
                got,
                ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![0.0, 1.0, 1.0, 2.0]).unwrap()
            );
        }
        assert_eq!(format(None), FORMAT_VERSION);
    }
}
