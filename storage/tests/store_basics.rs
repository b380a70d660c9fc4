//! Behaviour of the store seen from its public API: writes, reads, dtypes, layouts,
//! growable dimensions, and the errors bad input and damaged files get (versions,
//! the change log and vacuum: store_history.rs).

mod common;
use arrayq_storage::*;
use common::model::*;
use common::*;
use ndarray::{s, ArrayD, IxDyn};

#[test]
fn unwritten_chunks_read_as_fill_and_cost_nothing() {
    let (_d, store) = temp_store();
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
    let (_d, store) = temp_store();
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
        write_tracked(&store, &mut model, start, block);
    }
    let snap = store.snapshot("a", AsOf::Latest).unwrap();
    for layout in 0..3 {
        for region in [
            Region::full(&[10, 7]),
            Region(vec![2..9, 1..6]),
            Region(vec![9..10, 6..7]),
        ] {
            let got = read_layout(&snap, &region, layout);
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
    let (_d, store) = temp_store();
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
fn growable_dims_and_label_appends() {
    let (_d, store) = temp_store();
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
fn bad_input_gets_typed_errors() {
    let (_d, store) = temp_store();
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
    let (_d, store) = temp_store();
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
    assert_eq!(read_layout(&snap, &full, 0), written, "rows");
    assert_eq!(
        read_layout(&snap, &full, 1),
        written,
        "cols (filled from rows)"
    );
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
    assert_eq!(
        read_layout(&snap, &full, 0),
        written,
        "rows after the write"
    );
    assert_eq!(
        read_layout(&snap, &full, 1),
        written,
        "cols after the write"
    );
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
    let (_d, store) = temp_store();
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
    let (_d, store) = temp_store();
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
    let (_d, store) = temp_store();
    let mut s = grid_schema("a", [4, 4], &[("t", [2, 2])]);
    s.attrs.push(Attribute::new("w", DType::F32, None));
    store.create_array(s).unwrap();
    let mut tx = store.begin_write("a").unwrap();
    tx.write("v", &[0, 0], f32_block(&[2, 4], |_| 1.0)).unwrap();
    tx.write("w", &[0, 0], f32_block(&[2, 4], |_| 2.0)).unwrap();
    tx.write("w", &[3, 0], f32_block(&[1, 4], |_| 2.0)).unwrap();
    assert_eq!(tx.commit().unwrap().cells_written, 12);
}
