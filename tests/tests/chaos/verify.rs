//! The checks after a chaos run, each against what the clients recorded (their
//! own model of what committed), never against the server's say-so alone.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrayq_client::{Client, Code};

use crate::follower::Followed;
use crate::load::{ClientLog, Fault};
use crate::pattern::{array_name, pattern_bytes};

/// How long after a restart a client may still meet the crash: its connection
/// is re-established on the next call, which can still see the old one fail.
const RECONNECT_GRACE: Duration = Duration::from_secs(2);
/// How long followers get to catch up after the load stops.
const CATCH_UP: Duration = Duration::from_secs(30);
/// `ChangeKind` numbers of the wire contract.
const KIND_CREATE: i32 = 1;
const KIND_WRITE: i32 = 2;

/// From the SIGKILL to the restarted server's `listening` line.
#[derive(Clone, Copy, Debug)]
pub struct KillWindow {
    pub killed_at: Duration,
    pub up_at: Duration,
}

/// The figures of a run that passed.
#[derive(Debug)]
pub struct Outcome {
    pub kills: usize,
    pub queries: usize,
    pub writes_tried: u64,
    pub commits_acked: usize,
    pub commits_unacked: usize,
    pub events: usize,
    pub resumes: u64,
    pub unavailable: usize,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} SIGKILLs; {} queries, 0 torn; {} writes tried, {} acknowledged and present, \
             {} committed unacknowledged (answer lost in the crash); {} change events to \
             each follower, none missed or repeated, {} resubscriptions; {} UNAVAILABLE \
             errors, all in kill windows, no other error",
            self.kills,
            self.queries,
            self.writes_tried,
            self.commits_acked,
            self.commits_unacked,
            self.events,
            self.resumes,
            self.unavailable
        )
    }
}

/// Runs every check; panics naming the first broken guarantee.
pub fn check(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    logs: &[ClientLog],
    followed: &[Arc<Mutex<Followed>>],
    windows: &[KillWindow],
) -> Outcome {
    rt.block_on(acknowledged_writes_are_present(client, logs));
    let queries = reads_are_whole_versions(logs);
    let events = expected_events(logs);
    rt.block_on(wait_for_followers(followed, events.len() as u64));
    let mut faults: Vec<Fault> = logs.iter().flat_map(|l| l.faults.clone()).collect();
    let mut resumes = 0;
    for f in followed {
        let f = f.lock().unwrap();
        followers_got_every_event_once(&f, &events);
        faults.extend(f.faults.iter().cloned());
        resumes += f.resumes;
    }
    errors_are_unavailable_in_kill_windows(&faults, windows);
    let commits = logs.iter().flat_map(|l| &l.commits[1..]);
    Outcome {
        kills: windows.len(),
        queries,
        writes_tried: logs.iter().map(|l| l.writes_tried).sum(),
        commits_acked: commits.clone().filter(|c| c.acked).count(),
        commits_unacked: commits.filter(|c| !c.acked).count(),
        events: events.len(),
        resumes,
        unavailable: faults.len(),
    }
}

/// Every version a client committed, acknowledged or settled after a crash, reads
/// back as its tag's pattern, bit for bit; the head is the client's last commit.
async fn acknowledged_writes_are_present(client: &Client, logs: &[ClientLog]) {
    for (id, log) in logs.iter().enumerate() {
        let array = array_name(id);
        let head = client.describe(&array).await.unwrap().head_version;
        assert_eq!(head, log.head(), "{array}: head version after the run");
        for (i, commit) in log.commits.iter().enumerate() {
            assert_eq!(commit.version, i as u64 + 1, "{array}: versions in order");
            let sql = format!("SELECT v FROM {array} AS OF VERSION {}", commit.version);
            let result = client.query(&sql).await.unwrap();
            let numbers = result.columns[0].values.numbers().expect("numbers");
            assert!(
                numbers.to_le_bytes() == pattern_bytes(commit.tag),
                "{sql}: not the bytes of tag {} ({commit:?})",
                commit.tag
            );
        }
    }
}

/// Each query result was one version's pattern, the version the server named, as
/// that version was committed; returns how many there were.
fn reads_are_whole_versions(logs: &[ClientLog]) -> usize {
    let mut n = 0;
    for read in logs.iter().flat_map(|l| &l.reads) {
        let tag = match &read.tag {
            Ok(t) => *t,
            Err(why) => panic!("torn read: {} at version {}: {why}", read.sql, read.version),
        };
        let commits = &logs[read.array].commits;
        let committed = commits.iter().find(|c| c.version == read.version);
        assert_eq!(
            committed.map(|c| c.tag),
            Some(tag),
            "{} read version {} as tag {tag}; committed: {committed:?}",
            read.sql,
            read.version
        );
        n += 1;
    }
    n
}

/// Every array's creation (version 0) and each of its commits, as (array,
/// version, kind).
fn expected_events(logs: &[ClientLog]) -> Vec<(String, u64, i32)> {
    let mut events = Vec::new();
    for (id, log) in logs.iter().enumerate() {
        events.push((array_name(id), 0, KIND_CREATE));
        for c in &log.commits {
            events.push((array_name(id), c.version, KIND_WRITE));
        }
    }
    events
}

async fn wait_for_followers(followed: &[Arc<Mutex<Followed>>], events: u64) {
    let until = Instant::now() + CATCH_UP;
    while followed
        .iter()
        .any(|f| f.lock().unwrap().last_seq() < events)
    {
        if Instant::now() >= until {
            let seen: Vec<u64> = followed
                .iter()
                .map(|f| f.lock().unwrap().last_seq())
                .collect();
            panic!("followers at seq {seen:?} after {CATCH_UP:?}; {events} events committed");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The follower's events are seq 1..=N without gap or repeat, each array's in
/// version order, and exactly the committed ones.
fn followers_got_every_event_once(f: &Followed, expected: &[(String, u64, i32)]) {
    let seqs: Vec<u64> = f.events.iter().map(|e| e.0).collect();
    let want: Vec<u64> = (1..=expected.len() as u64).collect();
    assert!(
        seqs == want,
        "follower's seqs are not 1..={}: {seqs:?}",
        expected.len()
    );
    let mut per_array: HashMap<&str, Vec<u64>> = HashMap::new();
    for (_, array, version, _) in &f.events {
        per_array.entry(array).or_default().push(*version);
    }
    for versions in per_array.values() {
        assert!(
            versions.windows(2).all(|w| w[0] < w[1]),
            "versions out of order: {versions:?}"
        );
    }
    let mut got: Vec<(String, u64, i32)> = f
        .events
        .iter()
        .map(|(_, a, v, k)| (a.clone(), *v, *k))
        .collect();
    let mut want = expected.to_vec();
    got.sort();
    want.sort();
    assert!(got == want, "the follower's events differ from the commits");
}

/// Every error was UNAVAILABLE, in a call that overlapped a kill window.
fn errors_are_unavailable_in_kill_windows(faults: &[Fault], windows: &[KillWindow]) {
    let bad: Vec<&Fault> = faults
        .iter()
        .filter(|f| {
            f.code != Code::Unavailable
                || !windows
                    .iter()
                    .any(|w| f.started <= w.up_at + RECONNECT_GRACE && f.ended >= w.killed_at)
        })
        .collect();
    let first: Vec<String> = bad.iter().take(10).map(|f| f.to_string()).collect();
    assert!(
        bad.is_empty(),
        "{} errors other than UNAVAILABLE in a kill window, first:\n{}\nwindows: {windows:?}",
        bad.len(),
        first.join("\n")
    );
}
