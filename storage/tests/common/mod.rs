//! Shared helpers of the storage tests: a store in a temporary directory, schema
//! builders, f32 blocks, and (`model`) writes kept in a model array.
#![allow(dead_code)]

pub mod model;

use arrayq_storage::*;

/// A store in a new temporary directory (kept alive by the returned guard).
pub fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db")).unwrap();
    (dir, store)
}

pub fn regular(name: &str, len: u64, growable: bool) -> Dimension {
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

/// A 2-d f32 array `a(x, y; v)` with the given layouts (name, chunk shape).
pub fn grid_schema(name: &str, shape: [u64; 2], layouts: &[(&str, [u64; 2])]) -> ArraySchema {
    ArraySchema {
        name: name.into(),
        dims: vec![regular("x", shape[0], true), regular("y", shape[1], false)],
        attrs: vec![Attribute::new("v", DType::F32, None)],
        layouts: layouts
            .iter()
            .map(|(n, c)| Layout::new(n, c.to_vec(), CodecChain::shuffle_zstd(4, 3)))
            .collect(),
        metadata: Default::default(),
    }
}

pub fn f32_block(shape: &[usize], f: impl Fn(&[usize]) -> f32) -> Buffer {
    Buffer::F32(ndarray::ArrayD::from_shape_fn(shape.to_vec(), |ix| {
        f(ndarray::Dimension::slice(&ix))
    }))
}

pub fn as_f32(b: Buffer) -> ndarray::ArrayD<f32> {
    match b {
        Buffer::F32(a) => a,
        other => panic!("expected f32, got {:?}", other.dtype()),
    }
}

/// Opens a store's sled database directly (to damage or inspect it), waiting briefly
/// for the lock: sled's background I/O can hold it a moment after a store is dropped.
pub fn raw_sled(path: &std::path::Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match sled::open(path) {
            Ok(db) => return db,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("opening {} with sled: {e}", path.display()),
        }
    }
}
