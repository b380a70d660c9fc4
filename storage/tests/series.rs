//! The series ingest: rows (label, time, version, value) into an (asset x time)
//! array. Expected values come from the formula the rows were made with.

use arrayq_storage::series::{
    CommitPolicy, Label, SeriesError, SeriesIngest, SeriesOptions, SeriesRow, SeriesSpec,
    QUARTER_HOUR_NS, SERIES_CHUNK,
};
use arrayq_storage::{AsOf, Buffer, Coordinate, Region, Store};

/// 2023-01-01T00:00:00Z.
const T0: i64 = 1_672_531_200_000_000_000;
const WEEK: u64 = SERIES_CHUNK[1];

fn value(asset: i64, q: i64, version: i64) -> f32 {
    (asset * 1000 + q) as f32 + version as f32 / 10.0
}

fn row(asset: i64, q: i64, version: i64) -> SeriesRow {
    SeriesRow {
        label: Label::Int(asset),
        time_ns: T0 + q * QUARTER_HOUR_NS,
        version: Some(version),
        value: Some(value(asset, q, version) as f64),
    }
}

fn ingest(
    store: &Store,
    rows: impl IntoIterator<Item = SeriesRow>,
    policy: CommitPolicy,
) -> Vec<arrayq_storage::series::SeriesCommit> {
    let opts = SeriesOptions {
        policy,
        ..Default::default()
    };
    let mut s = SeriesIngest::start(store, SeriesSpec::new("power"), opts).unwrap();
    for r in rows {
        s.push(r).unwrap();
    }
    s.finish().unwrap()
}

fn values(store: &Store, as_of: AsOf) -> (Vec<i64>, i64, Vec<Vec<f32>>) {
    let snap = store.snapshot("power", as_of).unwrap();
    let schema = snap.schema().clone();
    let Coordinate::Labels { labels } = &schema.dims[0].coord else {
        panic!("asset has labels")
    };
    let Coordinate::Time { start_ns, step_ns } = schema.dims[1].coord else {
        panic!("time has a time grid")
    };
    assert_eq!(step_ns, QUARTER_HOUR_NS);
    let shape = schema.shape();
    let Buffer::F32(a) = snap.read("value", &Region::full(&shape)).unwrap() else {
        panic!("f32 values")
    };
    let rows = (0..shape[0] as usize)
        .map(|i| a.index_axis(ndarray::Axis(0), i).iter().copied().collect())
        .collect();
    (labels.as_slice().to_vec(), start_ns, rows)
}

#[test]
fn creates_the_array_from_the_first_rows_and_learns_labels_in_arrival_order() {
    let store = Store::temporary().unwrap();
    let rows = [7i64, 3, 11]
        .into_iter()
        .flat_map(|a| (4..100).map(move |q| row(a, q, 1)));
    let commits = ingest(&store, rows, CommitPolicy::Once);
    assert_eq!(commits.len(), 1);
    assert_eq!(commits[0].rows, 3 * 96);
    let (labels, start, vals) = values(&store, AsOf::Latest);
    assert_eq!(labels, vec![7, 3, 11]);
    assert_eq!(
        start,
        T0 + 4 * QUARTER_HOUR_NS,
        "starts at the earliest time received"
    );
    for (i, a) in [7i64, 3, 11].into_iter().enumerate() {
        assert_eq!(vals[i].len(), 96);
        for (k, v) in vals[i].iter().enumerate() {
            assert_eq!(*v, value(a, 4 + k as i64, 1));
        }
    }
}

#[test]
fn missing_quarter_hours_read_as_missing_and_a_duplicate_row_keeps_the_later() {
    let store = Store::temporary().unwrap();
    let mut rows: Vec<SeriesRow> = (0..8).filter(|&q| q != 5).map(|q| row(1, q, 1)).collect();
    let mut dup = row(1, 2, 1);
    dup.value = Some(-1.0);
    rows.push(dup);
    ingest(&store, rows, CommitPolicy::Once);
    let (_, _, vals) = values(&store, AsOf::Latest);
    let want: Vec<f32> = (0..8)
        .map(|q| match q {
            5 => f32::NAN,
            2 => -1.0,
            q => value(1, q, 1),
        })
        .collect();
    assert_eq!(vals[0].len(), 8);
    for (got, want) in vals[0].iter().zip(&want) {
        assert!(
            got == want || (got.is_nan() && want.is_nan()),
            "{got} vs {want}"
        );
    }
}

#[test]
fn grows_forward_and_backward_in_whole_chunks_and_time_travel_sees_the_old_grid() {
    let store = Store::temporary().unwrap();
    let first = ingest(&store, (0..96).map(|q| row(1, q, 1)), CommitPolicy::Once);
    // A day later and a day earlier, in one commit, and a new asset.
    let later = (96..192).map(|q| row(1, q, 1));
    let earlier = (-96..0).map(|q| row(2, q, 1));
    ingest(&store, later.chain(earlier), CommitPolicy::Once);
    let (labels, start, vals) = values(&store, AsOf::Latest);
    assert_eq!(labels, vec![1, 2]);
    // Backward growth is by whole chunks (a week of quarter-hours).
    assert_eq!(start, T0 - WEEK as i64 * QUARTER_HOUR_NS);
    let at = |q: i64| (q + WEEK as i64) as usize;
    assert_eq!(vals[0].len(), WEEK as usize + 192);
    for q in -(WEEK as i64)..192 {
        let (a1, a2) = (vals[0][at(q)], vals[1][at(q)]);
        if (0..192).contains(&q) {
            assert_eq!(a1, value(1, q, 1));
        } else {
            assert!(a1.is_nan(), "asset 1 at {q}: {a1}");
        }
        if (-96..0).contains(&q) {
            assert_eq!(a2, value(2, q, 1));
        } else {
            assert!(a2.is_nan(), "asset 2 at {q}: {a2}");
        }
    }
    // As of the first commit: one asset, the first day, from T0.
    let (labels, start, vals) = values(&store, AsOf::Version(first[0].info.version));
    assert_eq!((labels, start, vals[0].len()), (vec![1], T0, 96));
    assert!((0..96).all(|q| vals[0][q as usize] == value(1, q, 1)));
}

#[test]
fn within_one_commit_the_higher_version_wins_whatever_the_order() {
    let store = Store::temporary().unwrap();
    let rows = vec![
        row(1, 0, 2),
        row(1, 0, 1),
        row(1, 1, 1),
        row(1, 1, 3),
        row(1, 2, 2),
    ];
    ingest(&store, rows, CommitPolicy::Once);
    let (_, _, vals) = values(&store, AsOf::Latest);
    assert_eq!(
        vals[0],
        vec![value(1, 0, 2), value(1, 1, 3), value(1, 2, 2)]
    );
}

#[test]
fn per_version_policy_commits_each_round_so_time_travel_gives_each_round() {
    let store = Store::temporary().unwrap();
    // Round 1: both assets; round 2: asset 1 only; round 3: asset 1's first half.
    let mut rows: Vec<SeriesRow> = Vec::new();
    rows.extend((0..8).flat_map(|q| [row(1, q, 1), row(2, q, 1)]));
    rows.extend((0..8).map(|q| row(1, q, 2)));
    rows.extend((0..4).map(|q| row(1, q, 3)));
    let commits = ingest(&store, rows, CommitPolicy::PerVersion);
    let rounds: Vec<(u64, Option<i64>)> = commits.iter().map(|c| (c.rows, c.version)).collect();
    assert_eq!(rounds, vec![(16, Some(1)), (8, Some(2)), (4, Some(3))]);
    let want = |round: i64| -> Vec<Vec<f32>> {
        vec![
            (0..8)
                .map(|q| value(1, q, round.min(if q < 4 { 3 } else { 2 })))
                .collect(),
            (0..8).map(|q| value(2, q, 1)).collect(),
        ]
    };
    for (k, c) in commits.iter().enumerate() {
        let (_, _, vals) = values(&store, AsOf::Version(c.info.version));
        assert_eq!(vals, want(k as i64 + 1), "as of round {}", k + 1);
    }
}

#[test]
fn per_version_policy_refuses_a_version_going_back() {
    let store = Store::temporary().unwrap();
    let opts = SeriesOptions {
        policy: CommitPolicy::PerVersion,
        ..Default::default()
    };
    let mut s = SeriesIngest::start(&store, SeriesSpec::new("power"), opts).unwrap();
    s.push(row(1, 0, 2)).unwrap();
    s.push(row(1, 1, 2)).unwrap();
    let e = s.push(row(1, 2, 1)).unwrap_err();
    assert!(
        matches!(
            e,
            SeriesError::VersionOrder {
                row: 3,
                version: 1,
                after: 2
            }
        ),
        "{e}"
    );
}

#[test]
fn an_off_grid_time_names_the_row_and_nothing_is_committed() {
    let store = Store::temporary().unwrap();
    ingest(&store, (0..4).map(|q| row(1, q, 1)), CommitPolicy::Once);
    let before = store
        .snapshot("power", AsOf::Latest)
        .unwrap()
        .meta()
        .version;
    let mut s =
        SeriesIngest::start(&store, SeriesSpec::new("power"), SeriesOptions::default()).unwrap();
    s.push(row(1, 4, 1)).unwrap();
    let mut bad = row(1, 5, 1);
    bad.time_ns += 60_000_000_000; // one minute past the grid
    s.push(bad).unwrap();
    let e = s.finish().unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, SeriesError::OffGrid { row: 2, .. }), "{msg}");
    assert!(msg.contains("2023-01-01T01:16:00Z"), "{msg}");
    let after = store.snapshot("power", AsOf::Latest).unwrap();
    assert_eq!(after.meta().version, before);
    assert_eq!(after.schema().shape(), vec![1, 4]);
}

#[test]
fn an_existing_array_of_the_wrong_shape_is_refused_by_name() {
    let store = Store::temporary().unwrap();
    ingest(&store, (0..4).map(|q| row(1, q, 1)), CommitPolicy::Once);
    let mut spec = SeriesSpec::new("power");
    spec.attribute = "mw".into();
    let e = SeriesIngest::start(&store, spec, SeriesOptions::default())
        .err()
        .expect("no attribute mw");
    assert_eq!(
        e.to_string(),
        "array 'power' cannot take series rows: it has no attribute 'mw'"
    );
    let mut s =
        SeriesIngest::start(&store, SeriesSpec::new("power"), SeriesOptions::default()).unwrap();
    s.push(SeriesRow {
        label: Label::Text("NL-WIND-042".into()),
        ..row(1, 5, 1)
    })
    .unwrap();
    let e = s.finish().unwrap_err();
    assert_eq!(
        e.to_string(),
        "row 1: label 'NL-WIND-042' is text but dimension 'asset' holds integer labels"
    );
}

#[test]
fn a_mark_lands_with_the_commit_and_later_commits_carry_it() {
    let store = Store::temporary().unwrap();
    let mut s =
        SeriesIngest::start(&store, SeriesSpec::new("power"), SeriesOptions::default()).unwrap();
    s.push(row(1, 0, 1)).unwrap();
    s.set_mark("bridge:src", "41");
    let first = s.finish().unwrap();
    assert_eq!(
        SeriesIngest::mark(&store, "power", "bridge:src").as_deref(),
        Some("41")
    );
    // A commit without the mark keeps it; one that sets it replaces it.
    ingest(&store, [row(1, 1, 1)], CommitPolicy::Once);
    assert_eq!(
        SeriesIngest::mark(&store, "power", "bridge:src").as_deref(),
        Some("41")
    );
    let mut s =
        SeriesIngest::start(&store, SeriesSpec::new("power"), SeriesOptions::default()).unwrap();
    s.push(row(1, 2, 1)).unwrap();
    s.set_mark("bridge:src", "42");
    s.finish().unwrap();
    assert_eq!(
        SeriesIngest::mark(&store, "power", "bridge:src").as_deref(),
        Some("42")
    );
    // Time travel sees the mark as it was.
    let old = store
        .snapshot("power", AsOf::Version(first[0].info.version))
        .unwrap();
    assert_eq!(
        old.meta().marks.get("bridge:src").map(String::as_str),
        Some("41")
    );
    assert_eq!(SeriesIngest::mark(&store, "nothing", "bridge:src"), None);
}

#[test]
fn text_labels_make_a_text_label_dimension_and_are_looked_up_by_name() {
    let store = Store::temporary().unwrap();
    let named = |name: &str, q: i64, v: f64| SeriesRow {
        label: Label::Text(name.into()),
        time_ns: T0 + q * QUARTER_HOUR_NS,
        version: None,
        value: Some(v),
    };
    ingest(
        &store,
        [
            named("NL-WIND-042", 0, 1.0),
            named("NL-SOLAR-007", 0, 2.0),
            named("NL-WIND-042", 1, 3.0),
        ],
        CommitPolicy::Once,
    );
    ingest(
        &store,
        [named("NL-SOLAR-007", 1, 4.0), named("DE-LOAD-1", 1, 5.0)],
        CommitPolicy::Once,
    );
    let snap = store.snapshot("power", AsOf::Latest).unwrap();
    let Coordinate::TextLabels { labels } = &snap.schema().dims[0].coord else {
        panic!("text labels")
    };
    assert_eq!(
        labels.as_slice(),
        ["NL-WIND-042", "NL-SOLAR-007", "DE-LOAD-1"]
    );
    let Buffer::F32(a) = snap
        .read("value", &Region::full(&snap.schema().shape()))
        .unwrap()
    else {
        panic!("f32")
    };
    let got: Vec<f32> = a.iter().copied().collect();
    let nan = f32::NAN;
    let want = [1.0, 3.0, 2.0, 4.0, nan, 5.0];
    assert!(
        got.iter()
            .zip(&want)
            .all(|(g, w)| g == w || (g.is_nan() && w.is_nan())),
        "{got:?}"
    );
    // An integer label for this dimension is refused by name.
    let mut s =
        SeriesIngest::start(&store, SeriesSpec::new("power"), SeriesOptions::default()).unwrap();
    s.push(row(42, 2, 1)).unwrap();
    let e = s.finish().unwrap_err();
    assert_eq!(
        e.to_string(),
        "row 1: label 42 is an integer but dimension 'asset' holds text labels"
    );
}

#[test]
fn untyped_labels_are_integers_only_when_every_one_of_the_first_batch_parses() {
    let untyped = |name: &str, q: i64| SeriesRow {
        label: Label::Untyped(name.into()),
        time_ns: T0 + q * QUARTER_HOUR_NS,
        version: None,
        value: Some(q as f64),
    };
    let kind = |store: &Store| {
        store.snapshot("power", AsOf::Latest).unwrap().schema().dims[0]
            .coord
            .clone()
    };
    let ints = Store::temporary().unwrap();
    ingest(
        &ints,
        [untyped("7", 0), untyped(" 8", 1)],
        CommitPolicy::Once,
    );
    assert_eq!(kind(&ints), Coordinate::int_labels(vec![7, 8]));
    // Later untyped labels follow the dimension: integers parse, text is refused.
    ingest(&ints, [untyped("9", 2)], CommitPolicy::Once);
    assert_eq!(kind(&ints), Coordinate::int_labels(vec![7, 8, 9]));
    let mut s =
        SeriesIngest::start(&ints, SeriesSpec::new("power"), SeriesOptions::default()).unwrap();
    s.push(untyped("NL-1", 3)).unwrap();
    assert_eq!(
        s.finish().unwrap_err().to_string(),
        "row 1: label 'NL-1' is text but dimension 'asset' holds integer labels"
    );
    let texts = Store::temporary().unwrap();
    ingest(
        &texts,
        [untyped("7", 0), untyped("NL-1", 1)],
        CommitPolicy::Once,
    );
    assert_eq!(kind(&texts), Coordinate::text_labels(["7", "NL-1"]));
}
