//! Retention policies and vacuum by policy: the floor each rule picks, the policy
//! kept across a reopen and removed by drop, and the change log trimmed with the
//! versions (a resume from a trimmed position is an error naming where to resume).

mod common;

use arrayq_storage::*;
use common::*;

fn count(n: u64) -> Retention {
    Retention {
        versions: Some(n),
        max_age_ns: None,
    }
}

/// Array `a` (4x4, one 2x2-chunk layout): version k (1..=5) fills it with k.
fn five_versions(store: &Store) {
    store
        .create_array(grid_schema("a", [4, 4], &[("t", [2, 2])]))
        .unwrap();
    for k in 1..=5 {
        store
            .write("a", "v", &[0, 0], f32_block(&[4, 4], |_| k as f32))
            .unwrap();
    }
}

fn value_at(store: &Store, version: u64) -> Result<f32> {
    let b = store
        .snapshot("a", AsOf::Version(version))?
        .read("v", &Region::full(&[4, 4]))?;
    Ok(as_f32(b)[[3, 3]])
}

#[test]
fn vacuum_keeping_two_versions_trims_history_and_change_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // seq 1: create b; seq 2: create a (v0); seq 3..=7: a v1..v5; seq 8: b v1.
    store
        .create_array(grid_schema("b", [4, 4], &[("t", [2, 2])]))
        .unwrap();
    five_versions(&store);
    store
        .write("b", "v", &[0, 0], f32_block(&[4, 4], |_| 9.0))
        .unwrap();
    let stats = store.vacuum_retaining("a", &count(2)).unwrap();
    assert_eq!(stats.oldest_kept, 4);
    assert_eq!(stats.versions_removed, 4); // v0..v3
    assert_eq!(stats.chunks_removed, 12); // 4 chunks of v1, v2, v3
    assert_eq!(stats.events_trimmed, 4); // seq 2..=5
    assert_eq!(
        value_at(&store, 1).unwrap_err().to_string(),
        "array 'a': version 1 was vacuumed (oldest kept: 4)"
    );
    assert_eq!(value_at(&store, 4).unwrap(), 4.0);
    assert_eq!(value_at(&store, 5).unwrap(), 5.0);
    // The log of `a` is complete from seq 6 on; b's events are all there.
    assert_eq!(store.change_log_floor(Some("a")), 6);
    assert_eq!(store.change_log_floor(Some("b")), 0);
    assert_eq!(store.change_log_floor(None), 6);
    assert_eq!(
        store
            .changes_since_checked(Some("a"), 3, 100)
            .unwrap_err()
            .to_string(),
        "position 3 expired, resume from 6"
    );
    let seqs: Vec<u64> = store
        .changes_since_checked(Some("a"), 6, 100)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, vec![6, 7, 8]);
    let b_events = store.changes_since_checked(Some("b"), 1, 100).unwrap();
    assert_eq!(b_events[0].seq, 1);
    // A floor survives a reopen.
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.change_log_floor(Some("a")), 6);
    assert_eq!(value_at(&store, 4).unwrap(), 4.0);
    // Vacuuming to a floor that did not move removes nothing.
    let again = store.vacuum_retaining("a", &count(5)).unwrap();
    assert_eq!((again.oldest_kept, again.versions_removed), (4, 0));
    assert_eq!(again.events_trimmed, 0);
}

#[test]
fn as_of_a_time_before_the_oldest_kept_version_names_it() {
    let store = Store::temporary().unwrap();
    five_versions(&store);
    let v1_time = store.versions("a").unwrap()[1].1;
    store
        .vacuum_retaining("a", &Retention::NEWEST_ONLY)
        .unwrap();
    let (v5, v5_time) = store.versions("a").unwrap()[0];
    assert_eq!(v5, 5);
    let err = store
        .snapshot("a", AsOf::Timestamp(v1_time))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        format!(
            "array 'a': the version as of {} was vacuumed (oldest kept: version 5, committed {})",
            time::format_unix_ns(v1_time),
            time::format_unix_ns(v5_time)
        )
    );
}

#[test]
fn a_stored_policy_survives_reopen_applies_and_goes_with_drop() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    five_versions(&store);
    assert_eq!(store.retention("a").unwrap(), Retention::default());
    store.set_retention("a", count(3)).unwrap();
    assert_eq!(
        store.set_retention("a", count(0)).unwrap_err().to_string(),
        "invalid retention: the number of versions to keep must be at least 1"
    );
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.retention("a").unwrap(), count(3));
    let done = store.apply_retention().unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].0.as_str(), done[0].1.oldest_kept), ("a", 3));
    // Nothing moved since: nothing to do.
    assert!(store.apply_retention().unwrap().is_empty());
    // A policy by age keeps what was current within it: all of it here.
    let day = Retention {
        versions: None,
        max_age_ns: Some(86_400_000_000_000),
    };
    store.set_retention("a", day).unwrap();
    assert!(store.apply_retention().unwrap().is_empty());
    store.set_retention("a", Retention::default()).unwrap();
    assert_eq!(store.retention("a").unwrap(), Retention::default());
    store.set_retention("a", count(1)).unwrap();
    store.drop_array("a").unwrap();
    five_versions(&store);
    assert_eq!(store.retention("a").unwrap(), Retention::default());
}
