//! History seen from the store's public API: time travel by version and timestamp,
//! snapshot isolation, the change log (order, extents, resume across a reopen) and
//! vacuum.

mod common;
use arrayq_storage::*;
use common::*;
use ndarray::{ArrayD, IxDyn};

/// Array `a`: 4 x 4 cells in 2 x 2 chunks, nothing written.
fn create_small(store: &Store) {
    store
        .create_array(grid_schema("a", [4, 4], &[("t", [2, 2])]))
        .unwrap();
}

/// Writes `value` into the `shape` box of `a.v` at `start`, one commit.
fn fill(store: &Store, start: [u64; 2], shape: [usize; 2], value: f32) -> CommitInfo {
    store
        .write("a", "v", &start, f32_block(&shape, |_| value))
        .unwrap()
}

#[test]
fn time_travel_by_version_and_timestamp() {
    let (_d, store) = temp_store();
    create_small(&store);
    let mut infos = vec![];
    for k in 1..=3 {
        let info = fill(&store, [0, 0], [4, 4], k as f32);
        assert_eq!(info.version, k);
        infos.push(info);
    }
    let full = Region::full(&[4, 4]);
    for (k, info) in infos.iter().enumerate() {
        for as_of in [
            AsOf::Version(info.version),
            AsOf::Timestamp(info.timestamp_ns),
        ] {
            let v = as_f32(
                store
                    .snapshot("a", as_of)
                    .unwrap()
                    .read("v", &full)
                    .unwrap(),
            );
            assert!(v.iter().all(|&x| x == (k + 1) as f32), "{as_of:?}");
        }
    }
    // Version 0 is the empty array; before it there is nothing.
    let v0 = as_f32(
        store
            .snapshot("a", AsOf::Version(0))
            .unwrap()
            .read("v", &full)
            .unwrap(),
    );
    assert!(v0.iter().all(|x| x.is_nan()));
    assert!(matches!(
        store.snapshot("a", AsOf::Timestamp(0)),
        Err(StorageError::NoVersionAtTime { .. })
    ));
    assert!(matches!(
        store.snapshot("a", AsOf::Version(9)),
        Err(StorageError::UnknownVersion { .. })
    ));
}

#[test]
fn a_snapshot_never_sees_later_commits() {
    let (_d, store) = temp_store();
    create_small(&store);
    fill(&store, [0, 0], [4, 4], 1.0);
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    fill(&store, [0, 0], [4, 4], 2.0);
    fill(&store, [4, 0], [2, 4], 3.0);
    let v = as_f32(snap.read("v", &Region::full(&[4, 4])).unwrap());
    assert!(v.iter().all(|&x| x == 1.0));
    assert_eq!(snap.shape(), vec![4, 4]);
    assert_eq!(
        store.snapshot("a", AsOf::Latest).unwrap().shape(),
        vec![6, 4]
    );
}

#[test]
fn change_log_records_every_commit_in_order_and_resumes() {
    let (dir, store) = temp_store();
    let seen = std::sync::Arc::new(parking_lot::Mutex::new(vec![]));
    let s2 = seen.clone();
    store.on_commit(move |e| s2.lock().push(e.seq));
    create_small(&store);
    fill(&store, [1, 1], [2, 3], 1.0);
    fill(&store, [0, 0], [1, 1], 1.0);
    store.drop_array("a").unwrap();
    let all = store.changes_since(0, 100).unwrap();
    let kinds: Vec<_> = all.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            ChangeKind::Create,
            ChangeKind::Write,
            ChangeKind::Write,
            ChangeKind::Drop
        ]
    );
    assert_eq!(*seen.lock(), all.iter().map(|e| e.seq).collect::<Vec<_>>());
    // The first write: rows 1..3 and columns 1..4 of the unit grid, 6 cells.
    let extent = |d: &DimExtent| {
        (
            d.dim.clone(),
            d.start,
            d.end,
            d.first.clone(),
            d.last.clone(),
        )
    };
    assert_eq!(
        all[1].region.iter().map(extent).collect::<Vec<_>>(),
        vec![
            (
                "x".to_string(),
                1,
                3,
                CoordValue::Number(1.0),
                CoordValue::Number(2.0)
            ),
            (
                "y".to_string(),
                1,
                4,
                CoordValue::Number(1.0),
                CoordValue::Number(3.0)
            ),
        ]
    );
    assert_eq!(
        (
            all[1].version,
            all[1].cells_written,
            all[2].version,
            all[2].cells_written
        ),
        (1, 6, 2, 1)
    );
    assert!(
        all[0].region.is_empty() && all[3].region.is_empty(),
        "create and drop write no cells"
    );
    assert_eq!((all[0].cells_written, all[3].cells_written), (0, 0));
    // Resume from the middle, across a reopen.
    drop(store);
    let store = Store::open(dir.path().join("db")).unwrap();
    let tail = store.changes_since(all[2].seq, 100).unwrap();
    assert_eq!(tail, all[2..].to_vec());
    assert_eq!(store.last_seq(), all[3].seq);
    assert!(store.list_arrays().is_empty());
}

#[test]
fn vacuum_keeps_what_newer_versions_need() {
    let (_d, store) = temp_store();
    create_small(&store);
    fill(&store, [0, 0], [4, 4], 1.0); // v1: all chunks
    fill(&store, [0, 0], [2, 2], 2.0); // v2: one chunk
    fill(&store, [0, 0], [2, 2], 3.0); // v3: same chunk
    let before = |v| {
        as_f32(
            store
                .snapshot("a", AsOf::Version(v))
                .unwrap()
                .read("v", &Region::full(&[4, 4]))
                .unwrap(),
        )
    };
    // v2 and v3: the written corner value over the ones of v1.
    let expected = |corner: f32| {
        ArrayD::from_shape_fn(IxDyn(&[4, 4]), |ix| {
            if ix[0] < 2 && ix[1] < 2 {
                corner
            } else {
                1.0
            }
        })
    };
    assert_eq!(before(2), expected(2.0));
    assert_eq!(before(3), expected(3.0));
    let stats = store.vacuum("a", 2).unwrap();
    assert_eq!(stats.chunks_removed, 1); // chunk (0,0) of v1
    assert_eq!(stats.versions_removed, 2); // v0, v1
    assert!(matches!(
        store.snapshot("a", AsOf::Version(1)),
        Err(StorageError::Vacuumed { .. })
    ));
    assert_eq!(before(2), expected(2.0));
    assert_eq!(before(3), expected(3.0));
}
