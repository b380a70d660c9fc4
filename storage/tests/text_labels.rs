//! Text label dimensions: appends over commits, lookups by label, the errors for
//! repeated labels and mixed kinds, and the catalog form of int labels (unchanged).

mod common;
use arrayq_storage::*;
use common::*;

/// `power(asset TEXT LABELS growable, time growable)` with no labels yet.
fn power(store: &Store) {
    store
        .create_array(ArraySchema {
            name: "power".into(),
            dims: vec![
                Dimension {
                    name: "asset".into(),
                    coord: Coordinate::text_labels(Vec::<String>::new()),
                    len: 0,
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
                vec![2, 8],
                CodecChain::shuffle_zstd(4, 3),
            )],
            metadata: Default::default(),
        })
        .unwrap();
}

#[test]
fn text_labels_appended_over_two_commits_read_back_by_label() {
    let (_d, store) = temp_store();
    power(&store);
    let mut sink = store.ingest("power").unwrap();
    sink.append_text_labels("asset", &["NL-WIND-042", "NL-SOLAR-007"])
        .unwrap();
    let b = sink.begin_block("value", &[0, 0], &[2, 4]).unwrap();
    let bytes: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    sink.push_block(b, 0, &bytes).unwrap();
    let first = sink.commit().unwrap();
    assert_eq!(first.version, 1);

    let mut tx = store.begin_write("power").unwrap();
    tx.append_text_labels("asset", &["DE-HYDRO-001"]).unwrap();
    tx.write(
        "value",
        &[2, 0],
        f32_block(&[1, 4], |ix| 100.0 + ix[1] as f32),
    )
    .unwrap();
    let second = tx.commit().unwrap();

    let snap = store.snapshot("power", AsOf::Latest).unwrap();
    assert_eq!(snap.shape(), vec![3, 4]);
    let asset = &snap.schema().dims[0];
    assert_eq!(
        asset.coord,
        Coordinate::text_labels(["NL-WIND-042", "NL-SOLAR-007", "DE-HYDRO-001"])
    );
    let pos = |l: &str| asset.label_position(LabelRef::Text(l)).unwrap();
    assert_eq!(pos("NL-SOLAR-007"), Some(1));
    assert_eq!(pos("DE-HYDRO-001"), Some(2));
    assert_eq!(pos("XX-NONE"), None);
    let row = |l: &str| {
        let i = pos(l).unwrap();
        snap.read("value", &Region(vec![i..i + 1, 0..4]))
            .unwrap()
            .to_f64_vec()
    };
    assert_eq!(row("NL-SOLAR-007"), vec![10.0, 20.0, 30.0, 40.0]);
    assert_eq!(row("NL-WIND-042"), vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(row("DE-HYDRO-001"), vec![100.0, 101.0, 102.0, 103.0]);
    assert_eq!(
        asset.coord.value(2),
        CoordValue::Text("DE-HYDRO-001".into())
    );

    // The change events name the first and last labels each commit touched.
    let ev = store.changes_since(first.seq, 10).unwrap();
    assert_eq!(ev.len(), 2);
    assert_eq!(
        ev[0].region[0].first,
        CoordValue::Text("NL-WIND-042".into())
    );
    assert_eq!(
        ev[0].region[0].last,
        CoordValue::Text("NL-SOLAR-007".into())
    );
    assert_eq!(ev[1].seq, second.seq);
    assert_eq!(
        ev[1].region[0].first,
        CoordValue::Text("DE-HYDRO-001".into())
    );
    assert_eq!(
        ev[1].region[0].last,
        CoordValue::Text("DE-HYDRO-001".into())
    );

    // The first version keeps its two labels.
    let v1 = store.snapshot("power", AsOf::Version(1)).unwrap();
    assert_eq!(v1.schema().dims[0].coord.label_count(), 2);
}

#[test]
fn repeated_and_mixed_kind_labels_are_errors_naming_them() {
    let (_d, store) = temp_store();
    power(&store);
    let mut tx = store.begin_write("power").unwrap();
    tx.append_text_labels("asset", &["A", "B"]).unwrap();
    // Within one write, and within one append.
    let e = tx
        .append_text_labels("asset", &["B"])
        .err()
        .expect("an error");
    assert_eq!(
        e.to_string(),
        "schema conflict: label 'B' already exists in dimension 'asset'"
    );
    let e = tx
        .append_text_labels("asset", &["C", "C"])
        .err()
        .expect("an error");
    assert!(e.to_string().contains("label 'C' already exists"), "{e}");
    // An int label on a text dimension.
    let e = tx.append_labels("asset", &[42]).err().expect("an error");
    assert!(matches!(e, StorageError::LabelKind { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "dimension 'asset' has text labels, so the label 42 does not fit it"
    );
    // A time dimension has no labels.
    let e = tx
        .append_text_labels("time", &["x"])
        .err()
        .expect("an error");
    assert!(e.to_string().contains("'time'"), "{e}");
    tx.commit().unwrap();
    // Against the head: a label another commit added.
    let mut tx = store.begin_write("power").unwrap();
    let e = tx
        .append_text_labels("asset", &["A"])
        .err()
        .expect("an error");
    assert!(e.to_string().contains("label 'A' already exists"), "{e}");
    // Two writers racing to add the same label: the second commit is refused.
    let mut t1 = store.begin_write("power").unwrap();
    let mut t2 = store.begin_write("power").unwrap();
    t1.append_text_labels("asset", &["D"]).unwrap();
    t2.append_text_labels("asset", &["D"]).unwrap();
    t1.commit().unwrap();
    let e = t2.commit().unwrap_err();
    assert!(e.to_string().contains("label 'D' already exists"), "{e}");
    let snap = store.snapshot("power", AsOf::Latest).unwrap();
    assert_eq!(snap.shape()[0], 3);

    // Lookups of the wrong kind name the dimension and the label.
    let asset = &snap.schema().dims[0];
    let e = asset.label_position(LabelRef::Int(7)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "dimension 'asset' has text labels, so the label 7 does not fit it"
    );
    let ints = Dimension {
        name: "ean".into(),
        coord: Coordinate::int_labels(vec![871, 872]),
        len: 2,
        growable: true,
    };
    assert_eq!(ints.label_position(LabelRef::Int(872)).unwrap(), Some(1));
    let e = ints.label_position(LabelRef::Text("871")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "dimension 'ean' has integer labels, so the label '871' does not fit it"
    );
}

#[test]
fn int_label_catalog_json_of_today_still_loads_and_text_labels_round_trip() {
    // The schema form stored in `M` records before text labels existed.
    let old = r#"{"name":"p","dims":[{"name":"asset","coord":{"kind":"labels","labels":[10,20,30]},"len":3,"growable":true}],"attrs":[{"id":0,"name":"v","dtype":"f32","fill":[0,0,192,127]}],"layouts":[{"id":0,"name":"primary","chunk_shape":[3],"codec":{"array_to_bytes":"little_endian","bytes_to_bytes":[]}}]}"#;
    let s: ArraySchema = serde_json::from_str(old).unwrap();
    assert_eq!(s.dims[0].coord, Coordinate::int_labels(vec![10, 20, 30]));
    assert_eq!(s.dims[0].coord.label_index(30), Some(2));
    // And it is written back in the same form.
    let back: serde_json::Value = serde_json::to_value(&s).unwrap();
    assert_eq!(
        back,
        serde_json::from_str::<serde_json::Value>(old).unwrap()
    );

    let t = Coordinate::text_labels(["NL-WIND-042", "b"]);
    let j = serde_json::to_string(&t).unwrap();
    assert_eq!(j, r#"{"kind":"text_labels","labels":["NL-WIND-042","b"]}"#);
    assert_eq!(serde_json::from_str::<Coordinate>(&j).unwrap(), t);
}

#[test]
fn thousands_of_labels_are_looked_up_through_the_index() {
    let names: Vec<String> = (0..5000).map(|i| format!("NL-WIND-{i:04}")).collect();
    let mut c = Coordinate::text_labels(names.clone());
    for (i, n) in names.iter().enumerate() {
        assert_eq!(c.label_position(LabelRef::Text(n)), Some(i as u64));
    }
    // Pushing after the index was built keeps it current.
    if let Coordinate::TextLabels { labels } = &mut c {
        assert!(labels.push("NEW".into()));
        assert!(!labels.push("NL-WIND-0001".into()));
    }
    assert_eq!(c.label_position(LabelRef::Text("NEW")), Some(5000));
    assert_eq!(c.label_position(LabelRef::Int(1)), None);
}
