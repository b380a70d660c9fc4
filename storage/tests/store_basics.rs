//! Behaviour of the store seen from its public API: writes, reads, layouts, versions,
//! the change log, vacuum, and the errors bad input gets.

mod common;
use arrayq_storage::*;
use common::*;
use ndarray::{s, ArrayD, IxDyn};

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db")).unwrap();
    (dir, store)
}

#[test]
fn unwritten_chunks_read_as_fill_and_cost_nothing() {
    let (_d, store) = open();
    store
        .create_array(grid_schema("a", [10, 7], &[("tiles", [4, 3])]))
        .unwrap();
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    let v = as_f32(snap.read("v", &Region::full(&[10, 7])).unwrap());
    assert!(v.iter().all(|x| x.is_nan()));
    assert_eq!(
        store
            .metrics()
            .chunks_read
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(snap.meta().stats[0].chunks, 0);
}

#[test]
fn unaligned_writes_read_modify_write_across_layouts() {
    let (_d, store) = open();
    store
        .create_array(grid_schema(
            "a",
            [10, 7],
            &[("tiles", [4, 3]), ("rows", [1, 7]), ("cols", [10, 1])],
        ))
        .unwrap();
    let mut model = ArrayD::<f32>::from_elem(IxDyn(&[10, 7]), f32::NAN);
    let writes: [([u64; 2], [usize; 2]); 3] =
        [([0, 0], [10, 7]), ([3, 2], [4, 4]), ([9, 6], [1, 1])];
    for (k, (start, shape)) in writes.iter().enumerate() {
        let block = f32_block(shape, |ix| (k * 1000 + ix[0] * 10 + ix[1]) as f32);
        model
            .slice_mut(s![
                start[0] as usize..start[0] as usize + shape[0],
                start[1] as usize..start[1] as usize + shape[1]
            ])
            .assign(
                &as_f32(block.clone())
                    .into_dimensionality::<ndarray::Ix2>()
                    .unwrap(),
            );
        store.write("a", "v", start, block).unwrap();
    }
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    for layout in 0..3 {
        for region in [
            Region::full(&[10, 7]),
            Region(vec![2..9, 1..6]),
            Region(vec![9..10, 6..7]),
        ] {
            let got = as_f32(
                snap.read_with(
                    0,
                    &region,
                    ReadOptions {
                        layout: Some(layout),
                        ..Default::default()
                    },
                )
                .unwrap(),
            );
            let r = &region.0;
            let want = model.slice(s![
                r[0].start as usize..r[0].end as usize,
                r[1].start as usize..r[1].end as usize
            ]);
            assert_eq!(got, want.into_dyn(), "layout {layout} region {region}");
        }
    }
}

#[test]
fn every_dtype_roundtrips_with_its_fill() {
    let (_d, store) = open();
    for dt in DType::ALL {
        let name = format!("t_{}", dt.name());
        let fill = if dt == DType::Bool {
            Scalar::Bool(true)
        } else {
            Scalar::I64(7)
        };
        store
            .create_array(ArraySchema {
                name: name.clone(),
                dims: vec![regular("i", 5, false)],
                attrs: vec![Attribute::new("x", dt, Some(fill))],
                layouts: vec![Layout::new(
                    "l",
                    vec![2],
                    CodecChain::shuffle_zstd(dt.size(), 1),
                )],
                metadata: Default::default(),
            })
            .unwrap();
        let vals: Vec<Scalar> = [0i64, 1, 0].iter().map(|&v| Scalar::I64(v)).collect();
        let data = arrayq_storage::with_dtype!(dt, T => T::wrap(ArrayD::from_shape_vec(IxDyn(&[3]), vals.iter().map(|s| T::from_scalar(*s)).collect()).unwrap()));
        store.write(&name, "x", &[1], data).unwrap();
        let got = store
            .snapshot(&name, AsOf::Latest)
            .unwrap()
            .read("x", &Region::full(&[5]))
            .unwrap();
        assert_eq!(got.dtype(), dt);
        let f = fill.as_f64();
        assert_eq!(got.to_f64_vec(), vec![f, 0.0, 1.0, 0.0, f], "{dt}");
    }
}

#[test]
fn time_travel_by_version_and_timestamp() {
    let (_d, store) = open();
    store
        .create_array(grid_schema("a", [4, 4], &[("t", [2, 2])]))
        .unwrap();
    let mut infos = vec![];
    for k in 1..=3 {
        let info = store
            .write("a", "v", &[0, 0], f32_block(&[4, 4], |_| k as f32))
            .unwrap();
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
    let (_d, store) = open();
    store
        .create_array(grid_schema("a", [4, 4], &[("t", [2, 2])]))
        .unwrap();
    store
        .write("a", "v", &[0, 0], f32_block(&[4, 4], |_| 1.0))
        .unwrap();
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    store
        .write("a", "v", &[0, 0], f32_block(&[4, 4], |_| 2.0))
        .unwrap();
    store
        .write("a", "v", &[4, 0], f32_block(&[2, 4], |_| 3.0))
        .unwrap();
    let v = as_f32(snap.read("v", &Region::full(&[4, 4])).unwrap());
    assert!(v.iter().all(|&x| x == 1.0));
    assert_eq!(snap.shape(), vec![4, 4]);
    assert_eq!(
        store.snapshot("a", AsOf::Latest).unwrap().shape(),
        vec![6, 4]
    );
}

#[test]
fn growable_dims_and_label_appends() {
    let (_d, store) = open();
    store
        .create_array(ArraySchema {
            name: "power".into(),
            dims: vec![
                Dimension {
                    name: "asset".into(),
                    coord: Coordinate::Labels {
                        labels: vec![10, 20].into(),
                    },
                    len: 2,
                    growable: true,
                },
                Dimension {
                    name: "time".into(),
                    coord: Coordinate::Time {
                        start_ns: 0,
                        step_ns: 900_000_000_000,
                    },
                    len: 0,
                    growable: true,
                },
            ],
            attrs: vec![Attribute::new("value", DType::F32, None)],
            layouts: vec![Layout::new(
                "rows",
                vec![1, 96],
                CodecChain::shuffle_zstd(4, 3),
            )],
            metadata: Default::default(),
        })
        .unwrap();
    let err = store
        .write("power", "value", &[2, 0], f32_block(&[1, 4], |_| 1.0))
        .unwrap_err();
    assert!(matches!(err, StorageError::OutOfRange { .. }), "{err}");
    let mut tx = store.begin_write("power").unwrap();
    tx.append_labels("asset", &[30]).unwrap();
    tx.write(
        "value",
        &[0, 0],
        f32_block(&[3, 100], |ix| (ix[0] * 100 + ix[1]) as f32),
    )
    .unwrap();
    let info = tx.commit().unwrap();
    let snap = store.snapshot("power", AsOf::Latest).unwrap();
    assert_eq!(snap.shape(), vec![3, 100]);
    assert_eq!(snap.schema().dims[0].coord.label_index(30), Some(2));
    let ev = store.changes_since(info.seq, 10).unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].cells_written, 300);
    assert_eq!(ev[0].region[0].last, CoordValue::Label(30));
    assert_eq!(ev[0].region[1].last, CoordValue::Time(99 * 900_000_000_000));
    // Old versions keep their old shape and labels.
    let v0 = store.snapshot("power", AsOf::Version(0)).unwrap();
    assert_eq!(v0.shape(), vec![2, 0]);
    // A label that exists already is refused by append_labels, naming it; the labels
    // stay as they were.
    let mut tx = store.begin_write("power").unwrap();
    let err = tx.append_labels("asset", &[10]).err().expect("an error");
    assert!(matches!(err, StorageError::SchemaConflict(_)), "{err}");
    assert!(
        err.to_string()
            .contains("label 10 already exists in dimension 'asset'"),
        "{err}"
    );
    drop(tx);
    let labels = match &store.snapshot("power", AsOf::Latest).unwrap().schema().dims[0].coord {
        Coordinate::Labels { labels } => labels.clone(),
        other => panic!("asset has labels, got {other:?}"),
    };
    assert_eq!(labels, vec![10, 20, 30]);
}

#[test]
fn change_log_records_every_commit_in_order_and_resumes() {
    let (dir, store) = open();
    let seen = std::sync::Arc::new(parking_lot::Mutex::new(vec![]));
    let s2 = seen.clone();
    store.on_commit(move |e| s2.lock().push(e.seq));
    store
        .create_array(grid_schema("a", [4, 4], &[("t", [2, 2])]))
        .unwrap();
    store
        .write("a", "v", &[1, 1], f32_block(&[2, 3], |_| 1.0))
        .unwrap();
    store
        .write("a", "v", &[0, 0], f32_block(&[1, 1], |_| 1.0))
        .unwrap();
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
    let (_d, store) = open();
    store
        .create_array(grid_schema("a", [4, 4], &[("t", [2, 2])]))
        .unwrap();
    store
        .write("a", "v", &[0, 0], f32_block(&[4, 4], |_| 1.0))
        .unwrap(); // v1: all chunks
    store
        .write("a", "v", &[0, 0], f32_block(&[2, 2], |_| 2.0))
        .unwrap(); // v2: one chunk
    store
        .write("a", "v", &[0, 0], f32_block(&[2, 2], |_| 3.0))
        .unwrap(); // v3: same chunk
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

#[test]
fn bad_input_gets_typed_errors() {
    let (_d, store) = open();
    store
        .create_array(grid_schema("a", [4, 4], &[("t", [2, 2])]))
        .unwrap();
    assert!(matches!(
        store.create_array(grid_schema("a", [4, 4], &[("t", [2, 2])])),
        Err(StorageError::ArrayExists(_))
    ));
    assert!(matches!(
        store.snapshot("nope", AsOf::Latest),
        Err(StorageError::UnknownArray(_))
    ));
    let bad = Buffer::F64(ArrayD::zeros(IxDyn(&[1, 1])));
    assert!(matches!(
        store.write("a", "v", &[0, 0], bad),
        Err(StorageError::DTypeMismatch { .. })
    ));
    assert!(matches!(
        store.write("a", "w", &[0, 0], f32_block(&[1, 1], |_| 0.0)),
        Err(StorageError::UnknownAttribute { .. })
    ));
    assert!(matches!(
        store.write("a", "v", &[0], f32_block(&[1], |_| 0.0)),
        Err(StorageError::ShapeMismatch(_))
    ));
    let e = store
        .write("a", "v", &[0, 3], f32_block(&[1, 2], |_| 0.0))
        .unwrap_err();
    assert!(e.to_string().contains("dimension 'y'"), "{e}");
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    assert!(matches!(
        snap.read("v", &Region(vec![0..5, 0..1])),
        Err(StorageError::OutOfRange { .. })
    ));
    let mut tx = store.begin_write("a").unwrap();
    tx.write("v", &[0, 0], f32_block(&[1, 1], |_| 0.0)).unwrap();
    tx.expect_version(7);
    assert!(matches!(
        tx.commit(),
        Err(StorageError::VersionConflict {
            expected: 7,
            found: 0,
            ..
        })
    ));
    let mut s = grid_schema("b", [4, 4], &[("t", [2, 0])]);
    assert!(matches!(
        store.create_array(s.clone()),
        Err(StorageError::InvalidSchema(_))
    ));
    s.layouts[0].chunk_shape = vec![2];
    assert!(matches!(
        store.create_array(s),
        Err(StorageError::InvalidSchema(_))
    ));
    // Nothing of the failed writes is visible.
    assert_eq!(store.snapshot("a", AsOf::Latest).unwrap().version(), 0);
}

#[test]
fn corrupted_chunk_is_reported_by_name_never_returned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let store = Store::open(&path).unwrap();
        store
            .create_array(grid_schema("a", [4, 4], &[("tiles", [2, 2])]))
            .unwrap();
        store
            .write("a", "v", &[0, 0], f32_block(&[4, 4], |ix| ix[0] as f32))
            .unwrap();
    }
    {
        // Flip one byte of the stored chunk (1, 0) directly in sled.
        let db = raw_sled(&path);
        let t = db.open_tree("arrayq").unwrap();
        let mut key = b"C".to_vec();
        key.extend_from_slice(&1u32.to_be_bytes());
        key.extend_from_slice(&0u16.to_be_bytes());
        key.extend_from_slice(&0u16.to_be_bytes());
        key.extend_from_slice(&1u64.to_be_bytes());
        key.extend_from_slice(&0u64.to_be_bytes());
        key.extend_from_slice(&1u64.to_be_bytes());
        let mut v = t
            .get(&key)
            .unwrap()
            .expect("chunk (1,0) v1 exists")
            .to_vec();
        // A byte of the payload (the value's tail; statistics may precede it).
        let at = v.len() - 3;
        v[at] ^= 0x10;
        t.insert(&key, v).unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    let err = snap.read("v", &Region::full(&[4, 4])).unwrap_err();
    match &err {
        StorageError::Corrupt {
            array,
            layout,
            chunk,
            ..
        } => {
            assert_eq!(
                (array.as_str(), layout.as_str(), chunk.as_slice()),
                ("a", "tiles", &[1u64, 0][..])
            );
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    // Chunks that are intact still read, with the values written (row index).
    let intact = as_f32(snap.read("v", &Region(vec![0..2, 0..4])).unwrap());
    assert_eq!(
        intact,
        ArrayD::from_shape_fn(IxDyn(&[2, 4]), |ix| ix[0] as f32)
    );
}

#[test]
fn format_version_is_checked_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    drop(Store::open(&path).unwrap());
    {
        let db = raw_sled(&path);
        db.open_tree("arrayq")
            .unwrap()
            .insert(b"F", &99u32.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    assert!(matches!(
        Store::open(&path),
        Err(StorageError::FormatVersion {
            found: 99,
            supported: FORMAT_VERSION
        })
    ));
    // A store of another format (here: one without segment files) is left as it was.
    std::fs::remove_dir(path.join("segments")).unwrap();
    assert!(matches!(
        Store::open(&path),
        Err(StorageError::FormatVersion {
            found: 99,
            supported: FORMAT_VERSION
        })
    ));
    assert!(
        !path.join("segments").exists(),
        "opening a store of another format created its segment directory"
    );
}

#[test]
fn added_layout_holds_the_same_data_and_is_costed() {
    let (_d, store) = open();
    store
        .create_array(grid_schema("a", [64, 64], &[("rows", [1, 64])]))
        .unwrap();
    store
        .write(
            "a",
            "v",
            &[0, 0],
            f32_block(&[64, 64], |ix| (ix[0] * 64 + ix[1]) as f32),
        )
        .unwrap();
    store
        .add_layout(
            "a",
            Layout::new("cols", vec![64, 1], CodecChain::shuffle_zstd(4, 3)),
        )
        .unwrap();
    let mut written = ArrayD::from_shape_fn(IxDyn(&[64, 64]), |ix| (ix[0] * 64 + ix[1]) as f32);
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    let full = Region::full(&[64, 64]);
    let read_layout = |snap: &Snapshot, layout: usize| {
        as_f32(
            snap.read_with(
                0,
                &full,
                ReadOptions {
                    layout: Some(layout),
                    ..Default::default()
                },
            )
            .unwrap(),
        )
    };
    assert_eq!(read_layout(&snap, 0), written, "rows");
    assert_eq!(read_layout(&snap, 1), written, "cols (filled from rows)");
    // A column is one chunk in "cols" and 64 in "rows".
    let column = Region(vec![0..64, 5..6]);
    let costs = snap.layout_costs(&column);
    assert_eq!((costs[0].chunks, costs[1].chunks), (64, 1));
    assert_eq!(snap.best_layout(&column), 1);
    assert_eq!(snap.best_layout(&Region(vec![3..4, 0..64])), 0);
    // Writes after the layout was added keep both consistent; older versions have one.
    store
        .write("a", "v", &[10, 10], f32_block(&[5, 5], |_| -1.0))
        .unwrap();
    written.slice_mut(s![10..15, 10..15]).fill(-1.0);
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    assert_eq!(read_layout(&snap, 0), written, "rows after the write");
    assert_eq!(read_layout(&snap, 1), written, "cols after the write");
    assert_eq!(
        store
            .snapshot("a", AsOf::Version(1))
            .unwrap()
            .schema()
            .layouts
            .len(),
        1
    );
}

#[test]
fn read_into_overwrites_every_element_of_a_reused_buffer() {
    let (_d, store) = open();
    store
        .create_array(grid_schema("a", [8, 8], &[("t", [4, 4])]))
        .unwrap();
    store
        .write(
            "a",
            "v",
            &[0, 0],
            f32_block(&[4, 8], |ix| (ix[0] + ix[1]) as f32),
        )
        .unwrap();
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    let region = Region(vec![2..7, 1..8]);
    // Rows 4.. were never written: NaN fill, even over stale contents.
    let mut out = Buffer::F32(ArrayD::from_elem(IxDyn(&[5, 7]), 123.0));
    snap.read_into(0, &region, ReadOptions::default(), &mut out)
        .unwrap();
    let got = as_f32(out);
    for r in 0..5 {
        for c in 0..7 {
            let (x, y) = (2 + r, 1 + c);
            let v = got[[r, c]];
            if x < 4 {
                assert_eq!(v, (x + y) as f32, "cell ({x}, {y})");
            } else {
                assert!(v.is_nan(), "cell ({x}, {y}) never written: {v}");
            }
        }
    }
    let mut wrong = Buffer::F32(ArrayD::zeros(IxDyn(&[5, 6])));
    assert!(matches!(
        snap.read_into(0, &region, ReadOptions::default(), &mut wrong),
        Err(StorageError::ShapeMismatch(_))
    ));
}

#[test]
fn a_later_partial_write_wins_over_an_earlier_covering_write_in_one_commit() {
    let (_d, store) = open();
    store
        .create_array(grid_schema("a", [4, 8], &[("rows", [1, 8])]))
        .unwrap();
    let mut tx = store.begin_write("a").unwrap();
    tx.write("v", &[0, 0], f32_block(&[4, 8], |_| 1.0)).unwrap();
    tx.write("v", &[1, 2], f32_block(&[1, 3], |_| 2.0)).unwrap();
    tx.commit().unwrap();
    let v = as_f32(
        store
            .snapshot("a", AsOf::Latest)
            .unwrap()
            .read("v", &Region::full(&[4, 8]))
            .unwrap(),
    );
    let want = ArrayD::from_shape_fn(IxDyn(&[4, 8]), |ix| {
        if ix[0] == 1 && (2..5).contains(&ix[1]) {
            2.0
        } else {
            1.0
        }
    });
    assert_eq!(v, want);
}

#[test]
fn cells_written_counts_cells_not_cells_times_attributes() {
    let (_d, store) = open();
    let mut s = grid_schema("a", [4, 4], &[("t", [2, 2])]);
    s.attrs.push(Attribute::new("w", DType::F32, None));
    store.create_array(s).unwrap();
    let mut tx = store.begin_write("a").unwrap();
    tx.write("v", &[0, 0], f32_block(&[2, 4], |_| 1.0)).unwrap();
    tx.write("w", &[0, 0], f32_block(&[2, 4], |_| 2.0)).unwrap();
    tx.write("w", &[3, 0], f32_block(&[1, 4], |_| 2.0)).unwrap();
    assert_eq!(tx.commit().unwrap().cells_written, 12);
}
