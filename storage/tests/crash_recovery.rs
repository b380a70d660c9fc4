//! A child process commits in a loop and is killed with SIGKILL at a random moment,
//! many times. After each kill the store is reopened: every commit the child
//! acknowledged must be there, intact, and no partial commit may be visible, in
//! both layouts and in the array's daily rollup (whose buckets a commit rewrites
//! in the same version).

mod common;
use arrayq_storage::*;
use common::*;
use ndarray::{s, Array2, ArrayD, IxDyn};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SHAPE: [u64; 2] = [32, 24];
const CHILD_ENV: &str = "ARRAYQ_CRASH_CHILD_DIR";
/// Six hours between steps along x.
const STEP_NS: i64 = 6 * 3_600_000_000_000;

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^ (z >> 31)
}

/// The hyperslabs commit `k` writes (one to three, some spanning many chunks).
fn writes_of(k: u64) -> Vec<([u64; 2], [usize; 2])> {
    let n = 1 + splitmix(k) % 3;
    (0..n)
        .map(|w| {
            let h = splitmix(k * 16 + w);
            let x0 = h % SHAPE[0];
            let y0 = (h >> 16) % SHAPE[1];
            let nx = 1 + (h >> 32) % (SHAPE[0] - x0);
            let ny = 1 + (h >> 48) % (SHAPE[1] - y0);
            ([x0, y0], [nx as usize, ny as usize])
        })
        .collect()
}

fn block(k: u64, w: usize, shape: [usize; 2]) -> Buffer {
    f32_block(&shape, |ix| {
        (k * 10_000 + w as u64 * 1000 + (ix[0] * 24 + ix[1]) as u64) as f32
    })
}

/// Every payload goes to a small segment file, so appends, rotation and compaction
/// are all under fire.
fn child_options() -> Options {
    Options {
        inline_bytes: 0,
        segment_bytes: 16 << 10,
        ..Options::default()
    }
}

/// Every few commits the child vacuums, keeping the last few versions.
const VACUUM_EVERY: u64 = 7;
const KEEP: u64 = 3;

fn child(dir: &str) {
    let store = Store::open_with(dir, child_options()).unwrap();
    if store.snapshot("c", AsOf::Latest).is_err() {
        let mut schema = grid_schema("c", SHAPE, &[("tiles", [8, 8]), ("rows", [1, 24])]);
        // x is time: four steps a day, so a rollup keeps eight days of buckets.
        schema.dims[0].coord = Coordinate::Time {
            start_ns: 0,
            step_ns: STEP_NS,
        };
        store.create_array(schema).unwrap();
        println!("created");
    }
    if store.snapshot("c", AsOf::Latest).unwrap().version() == 0 {
        store
            .add_rollup("c", "daily", "x", &[("v".into(), true, true, true)])
            .unwrap();
    }
    let mut k = store.snapshot("c", AsOf::Latest).unwrap().version() + 1;
    loop {
        let mut tx = store.begin_write("c").unwrap();
        for (w, (start, shape)) in writes_of(k).into_iter().enumerate() {
            tx.write("v", &start, block(k, w, shape)).unwrap();
        }
        let info = tx.commit().unwrap();
        assert_eq!(info.version, k);
        println!("committed {k}");
        if k.is_multiple_of(VACUUM_EVERY) {
            store.vacuum("c", k - KEEP).unwrap();
            println!("vacuumed {}", k - KEEP);
        }
        k += 1;
    }
}

/// Version 1 adds the rollup; commits write from version 2 on.
fn model_after(v: u64) -> Array2<f32> {
    let mut m = Array2::from_elem((SHAPE[0] as usize, SHAPE[1] as usize), f32::NAN);
    for k in 2..=v {
        for (w, (start, shape)) in writes_of(k).into_iter().enumerate() {
            let b = as_f32(block(k, w, shape))
                .into_dimensionality::<ndarray::Ix2>()
                .unwrap();
            let (x, y) = (start[0] as usize, start[1] as usize);
            m.slice_mut(s![x..x + shape[0], y..y + shape[1]]).assign(&b);
        }
    }
    m
}

/// Whether the daily rollup of `snap` holds the buckets of `m` exactly: per day
/// (four steps) and y, the count, sum, minimum and maximum of the non-NaN values.
fn rollup_matches(snap: &Snapshot, m: &Array2<f32>) -> bool {
    let days = DayGrid::of(snap.schema(), 0)
        .unwrap()
        .days_of(&(0..SHAPE[0]));
    let got = snap
        .read_rollup(0, 0, &Region(vec![days, 0..SHAPE[1]]), &[])
        .unwrap();
    let mut i = 0;
    for day in 0..SHAPE[0] as usize / 4 {
        for y in 0..SHAPE[1] as usize {
            let vals: Vec<f64> = (4 * day..4 * day + 4)
                .map(|x| m[[x, y]] as f64)
                .filter(|v| !v.is_nan())
                .collect();
            let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let want = (vals.len() as f64, vals.iter().sum::<f64>());
            if (got.count[i], got.sum[i]) != want
                || (!vals.is_empty() && (got.min[i], got.max[i]) != (lo, hi))
            {
                return false;
            }
            i += 1;
        }
    }
    true
}

fn same(a: &ArrayD<f32>, b: &ArrayD<f32>) -> bool {
    a.iter()
        .zip(b.iter())
        .all(|(x, y)| x.to_bits() == y.to_bits())
}

#[test]
fn crash_recovery_keeps_every_acknowledged_commit() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
        return;
    }
    let kills: u64 = std::env::var("ARRAYQ_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let exe = std::env::current_exe().unwrap();
    let mut acked_total = 0;
    for round in 0..kills {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_recovery_keeps_every_acknowledged_commit",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut last = 0u64;
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(k) = line.strip_prefix("committed ") {
                    last = k.trim().parse().unwrap();
                }
            }
            last
        });
        // Kill at a random moment: sometimes during open/recovery, mostly mid-commit.
        let wait = 20 + splitmix(round + 977) % 400;
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_millis(wait));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acked = reader.join().unwrap();
        eprintln!("round {round}: killed after {wait} ms, {acked} acknowledged");
        let Ok(store) = Store::open(&dir) else {
            panic!(
                "round {round}: store does not reopen after kill at {:?}",
                t0.elapsed()
            );
        };
        let Ok(head) = store.snapshot("c", AsOf::Latest) else {
            assert_eq!(acked, 0, "round {round}: array lost");
            continue;
        };
        let v = head.version();
        assert!(
            v >= acked,
            "round {round}: acknowledged commit {acked} lost (head {v})"
        );
        // A vacuum keeps the KEEP versions below the commit that triggered it.
        let oldest = store.commits("c").unwrap()[0].version;
        assert!(
            oldest == 0 || oldest + KEEP <= v,
            "round {round}: oldest kept version {oldest} of head {v}: a vacuum went too far"
        );
        // The head and a few older kept versions hold exactly what was committed, in
        // both layouts.
        let full = Region::full(&SHAPE);
        for ver in [v, v.saturating_sub(1).max(oldest), (v / 2).max(oldest)] {
            let snap = store.snapshot("c", AsOf::Version(ver)).unwrap();
            let want = model_after(ver).into_dyn();
            for layout in 0..2 {
                let got = as_f32(
                    snap.read_with(
                        0,
                        &full,
                        ReadOptions {
                            layout: Some(layout),
                            ..Default::default()
                        },
                    )
                    .unwrap(),
                );
                assert!(
                    same(&got, &want),
                    "round {round}: version {ver} layout {layout} differs from the model"
                );
            }
            if ver >= 1 {
                assert!(
                    rollup_matches(&snap, &model_after(ver)),
                    "round {round}: version {ver}'s rollup differs from the model"
                );
            }
        }
        // The change log, from where vacuum left it complete, has exactly one event
        // per kept version: metadata and events went in one batch, whenever the kill.
        let floor = store.change_log_floor(Some("c"));
        let logged: Vec<u64> = store
            .changes_since_checked(Some("c"), floor, usize::MAX)
            .unwrap()
            .iter()
            .map(|e| e.version)
            .collect();
        let kept: Vec<u64> = store
            .commits("c")
            .unwrap()
            .iter()
            .map(|c| c.version)
            .collect();
        assert_eq!(logged, kept, "round {round}: change log from seq {floor}");
        if floor > 0 {
            assert!(store
                .changes_since_checked(Some("c"), floor - 1, 1)
                .is_err());
        }
        acked_total = acked_total.max(acked);
    }
    assert!(acked_total > 0, "the child never got a commit through");
    eprintln!("crash test: {kills} kills, {acked_total} commits acknowledged in all");
}

#[test]
fn interrupted_commit_garbage_is_removed_on_open() {
    // Simulates a crash between chunk data and commit point: chunks of version head+1
    // with the pending marker. They must vanish on open and never be read.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    {
        let store = Store::open(&dir).unwrap();
        store
            .create_array(grid_schema("c", SHAPE, &[("tiles", [8, 8])]))
            .unwrap();
        store
            .write("c", "v", &[0, 0], f32_block(&[8, 8], |_| 1.0))
            .unwrap();
    }
    {
        let db = raw_sled(&dir);
        let t = db.open_tree("arrayq").unwrap();
        let keys: Vec<_> = t
            .scan_prefix(b"C")
            .keys()
            .map(|k| k.unwrap().to_vec())
            .collect();
        for k in keys {
            let mut k2 = k[..k.len() - 8].to_vec();
            k2.extend_from_slice(&2u64.to_be_bytes());
            t.insert(k2, t.get(&k).unwrap().unwrap()).unwrap();
        }
        let mut p = b"P".to_vec();
        p.extend_from_slice(&1u32.to_be_bytes());
        t.insert(p, &2u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.snapshot("c", AsOf::Latest).unwrap().version(), 1);
    store
        .write("c", "v", &[8, 8], f32_block(&[1, 1], |_| 5.0))
        .unwrap();
    let v2 = as_f32(
        store
            .snapshot("c", AsOf::Version(2))
            .unwrap()
            .read("v", &Region(vec![0..9, 0..9]))
            .unwrap(),
    );
    // Version 2: the 8 x 8 ones of version 1 and the single 5; the garbage copy of
    // chunk (0, 0) never shows, the rest was never written (NaN).
    for x in 0..9 {
        for y in 0..9 {
            let want = match (x, y) {
                (8, 8) => 5.0,
                (0..8, 0..8) => 1.0,
                _ => f32::NAN,
            };
            let got = v2[IxDyn(&[x, y])];
            assert!(
                got == want || (got.is_nan() && want.is_nan()),
                "cell ({x}, {y}): {got} != {want}"
            );
        }
    }
    assert_eq!(
        store.snapshot("c", AsOf::Latest).unwrap().meta().stats[0].chunks,
        2,
        "chunk (0, 0) of version 1 and chunk (1, 1) of version 2"
    );
}

#[test]
fn interrupted_drop_is_finished_on_open() {
    // Simulates a crash after a drop's catalog batch but before its chunks were removed.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    let chunk_keys = |db: &sled::Db| db.open_tree("arrayq").unwrap().scan_prefix(b"C").count();
    {
        let store = Store::open(&dir).unwrap();
        store
            .create_array(grid_schema("c", SHAPE, &[("tiles", [8, 8])]))
            .unwrap();
        store
            .write("c", "v", &[0, 0], f32_block(&[16, 16], |_| 1.0))
            .unwrap();
    }
    {
        let db = raw_sled(&dir);
        assert_eq!(chunk_keys(&db), 4);
        let t = db.open_tree("arrayq").unwrap();
        t.remove(b"Nc").unwrap();
        let mut d = b"D".to_vec();
        d.extend_from_slice(&1u32.to_be_bytes());
        t.insert(d, Vec::<u8>::new()).unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(&dir).unwrap();
    assert!(store.list_arrays().is_empty());
    drop(store);
    let db = raw_sled(&dir);
    assert_eq!(chunk_keys(&db), 0);
    assert_eq!(db.open_tree("arrayq").unwrap().scan_prefix(b"D").count(), 0);
}
