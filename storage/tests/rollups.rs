//! Property tests: rollups against a plain model of every version. Random writes
//! (overwrites, NaNs, growth in time), a rollup added at a random point, then every
//! version from there on read back (time travel), before and after a reopen. One
//! generator writes arbitrary boxes (partial days over older data: read back), the
//! other mostly whole days (folded from the writes) mixed with partial ones, with
//! time first or last.

mod common;
use arrayq_storage::*;
use proptest::prelude::*;

/// One write: time start, time extent, x start, x extent, base value, NaN stride.
type Write = (u64, u64, u64, u64, i16, u8);

#[derive(Clone, Debug)]
struct Case {
    /// Hours between time steps (5 does not divide a day: days hold 4 or 5 steps).
    step_hours: i64,
    /// Hour of day of the first step.
    start_hour: i64,
    nx: u64,
    commits: Vec<Vec<Write>>,
    /// Commits made before the rollup is added.
    add_after: usize,
    /// The attribute's fill value: cells a write grows past without writing hold it
    /// (and count, unless NaN).
    fill: f32,
    /// Dimensions (x, time) instead of (time, x).
    time_last: bool,
}

fn case() -> impl Strategy<Value = Case> {
    let write = (0u64..40, 1u64..20, 0u64..6, 1u64..6, any::<i16>(), 0u8..4);
    (
        prop::sample::select(vec![1i64, 5, 6, 24, 30]),
        0i64..24,
        1u64..=6,
        prop::collection::vec(prop::collection::vec(write, 1..=3), 1..=5),
        0usize..=5,
        prop::sample::select(vec![f32::NAN, -1.5]),
    )
        .prop_map(
            |(step_hours, start_hour, nx, commits, add_after, fill)| Case {
                fill,
                step_hours,
                start_hour,
                nx,
                add_after: add_after.min(commits.len()),
                commits,
                time_last: false,
            },
        )
}

/// The first time index of day `k` (0: the day of index 0) within the array.
fn first_index_of_day(step_hours: i64, start_hour: i64, k: u64) -> u64 {
    let hours = k as i64 * 24 - start_hour;
    if hours <= 0 {
        0
    } else {
        ((hours + step_hours - 1) / step_hours) as u64
    }
}

/// Mostly whole days (of every x or some), some partial days over them.
fn day_case() -> impl Strategy<Value = Case> {
    // First day, days, whole x or not, x start, x extent, base, NaN stride, partial.
    let write = (
        (0u64..6, 1u64..4, any::<bool>()),
        (0u64..6, 1u64..6, any::<i16>(), 0u8..4),
        prop::option::weighted(0.25, (0u64..30, 1u64..6)),
    );
    (
        prop::sample::select(vec![1i64, 3, 6, 24]),
        0i64..24,
        1u64..=6,
        prop::collection::vec(prop::collection::vec(write, 1..=3), 1..=5),
        0usize..=5,
        prop::sample::select(vec![f32::NAN, -1.5]),
        any::<bool>(),
    )
        .prop_map(
            |(step_hours, start_hour, nx, commits, add_after, fill, time_last)| {
                let commits = commits
                    .into_iter()
                    .map(|ws| {
                        ws.into_iter()
                            .map(|((d0, nd, all_x), (x0, nxw, base, nan), partial)| {
                                let (t0, nt) = match partial {
                                    Some(p) => p,
                                    None => {
                                        let day = |k| first_index_of_day(step_hours, start_hour, k);
                                        (day(d0), day(d0 + nd) - day(d0))
                                    }
                                };
                                let (x0, nxw) = if all_x { (0, nx) } else { (x0, nxw) };
                                (t0, nt, x0, nxw, base, nan)
                            })
                            .collect()
                    })
                    .collect();
                Case {
                    fill,
                    step_hours,
                    start_hour,
                    nx,
                    add_after: add_after.min(5),
                    commits,
                    time_last,
                }
            },
        )
}

const HOUR: i64 = 3_600_000_000_000;
/// 2023-01-01T00:00:00Z.
const T0: i64 = 1_672_531_200_000_000_000;

/// The model's buckets of one version: per (day key, x), count, sum, min, max.
fn buckets(
    case: &Case,
    cells: &[Vec<f32>],
) -> std::collections::BTreeMap<(i64, u64), (u64, f64, f64, f64)> {
    let mut out = std::collections::BTreeMap::new();
    for (t, row) in cells.iter().enumerate() {
        let ns = T0 + case.start_hour * HOUR + t as i64 * case.step_hours * HOUR;
        let day = ns.div_euclid(DAY_NS);
        for (x, &v) in row.iter().enumerate() {
            let e = out.entry((day, x as u64)).or_insert((
                0u64,
                0.0f64,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ));
            if !v.is_nan() {
                e.0 += 1;
                e.1 += v as f64;
                e.2 = e.2.min(v as f64);
                e.3 = e.3.max(v as f64);
            }
        }
    }
    out
}

fn check_version(
    store: &Store,
    case: &Case,
    v: u64,
    cells: &[Vec<f32>],
) -> Result<(), TestCaseError> {
    let snap = store.snapshot("r", AsOf::Version(v)).unwrap();
    let time = if case.time_last { 1 } else { 0 };
    let grid = DayGrid::of(snap.schema(), time).unwrap();
    let days = grid.days_of(&(0..cells.len() as u64));
    let ndays = days.end - days.start;
    let region = if case.time_last {
        Region(vec![0..case.nx, days.clone()])
    } else {
        Region(vec![days.clone(), 0..case.nx])
    };
    let got = snap.read_rollup(0, 0, &region, &[]).unwrap();
    let want = buckets(case, cells);
    prop_assert_eq!(got.count.len() as u64, region.len());
    for (k, day) in days.clone().enumerate() {
        let day_ns = DayGrid::day_start_ns(day);
        for x in 0..case.nx {
            let i = if case.time_last {
                (x * ndays + k as u64) as usize
            } else {
                k * case.nx as usize + x as usize
            };
            let (n, sum, min, max) = want
                .get(&(day_ns.div_euclid(DAY_NS), x))
                .copied()
                .unwrap_or((0, 0.0, f64::INFINITY, f64::NEG_INFINITY));
            let at = format!("version {v} day {day_ns} x {x}");
            prop_assert_eq!(got.count[i], n as f64, "count at {}", at);
            prop_assert_eq!(got.sum[i], sum, "sum at {}", at);
            if n > 0 {
                prop_assert_eq!(got.min[i], min, "min at {}", at);
                prop_assert_eq!(got.max[i], max, "max at {}", at);
            }
        }
    }
    Ok(())
}

/// Runs `c` against the model: every version from the rollup's on, before and after
/// a reopen.
fn check_case(c: &Case) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        durable: false,
        inline_bytes: 0,
        segment_bytes: 4096,
        ..Options::default()
    };
    let store = Store::open_with(dir.path().join("db"), opts.clone()).unwrap();
    let time = Dimension {
        name: "time".into(),
        coord: Coordinate::Time {
            start_ns: T0 + c.start_hour * HOUR,
            step_ns: c.step_hours * HOUR,
        },
        len: 0,
        growable: true,
    };
    let x = common::regular("x", c.nx, false);
    let (dims, chunks) = if c.time_last {
        (vec![x, time], vec![2, 7])
    } else {
        (vec![time, x], vec![7, 2])
    };
    store
        .create_array(ArraySchema {
            name: "r".into(),
            dims,
            attrs: vec![Attribute::new(
                "v",
                DType::F32,
                Some(Scalar::F64(c.fill as f64)),
            )],
            layouts: vec![Layout::new("l", chunks, CodecChain::shuffle_zstd(4, 1))],
            metadata: Default::default(),
        })
        .unwrap();
    // Every version's cells (time x x), the fill where never written.
    let mut versions: Vec<Vec<Vec<f32>>> = vec![vec![]];
    let mut rollup_from = None;
    for (k, commit) in c.commits.iter().enumerate() {
        if k == c.add_after {
            store
                .add_rollup("r", "daily", "time", &[("v".into(), true, true, true)])
                .unwrap();
            versions.push(versions.last().unwrap().clone());
            rollup_from = Some(versions.len() as u64 - 1);
        }
        let mut next = versions.last().unwrap().clone();
        let mut tx = store.begin_write("r").unwrap();
        for (w, &(t0, nt, x0, nxw, base, nan)) in commit.iter().enumerate() {
            let x0 = x0 % c.nx;
            let nxw = nxw.min(c.nx - x0);
            let vals: Vec<f32> = (0..nt * nxw)
                .map(|i| {
                    if nan > 0 && i % (nan as u64 + 1) == 0 {
                        f32::NAN
                    } else {
                        base as f32 * 0.25 + (w as f32) * 1000.0 + i as f32 * 0.5
                    }
                })
                .collect();
            while (next.len() as u64) < t0 + nt {
                next.push(vec![c.fill; c.nx as usize]);
            }
            for i in 0..nt {
                for j in 0..nxw {
                    next[(t0 + i) as usize][(x0 + j) as usize] = vals[(i * nxw + j) as usize];
                }
            }
            let buf = ndarray::Array2::from_shape_vec((nt as usize, nxw as usize), vals).unwrap();
            if c.time_last {
                let buf = Buffer::F32(
                    buf.reversed_axes()
                        .as_standard_layout()
                        .into_owned()
                        .into_dyn(),
                );
                tx.write("v", &[x0, t0], buf).unwrap();
            } else {
                tx.write("v", &[t0, x0], Buffer::F32(buf.into_dyn()))
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        versions.push(next);
    }
    if rollup_from.is_none() {
        store
            .add_rollup("r", "daily", "time", &[("v".into(), true, true, true)])
            .unwrap();
        versions.push(versions.last().unwrap().clone());
        rollup_from = Some(versions.len() as u64 - 1);
    }
    let from = rollup_from.unwrap();
    for v in from..versions.len() as u64 {
        check_version(&store, c, v, &versions[v as usize])?;
    }
    // Reopened, every version still reads the same rollup.
    drop(store);
    let store = Store::open_with(dir.path().join("db"), opts).unwrap();
    for v in from..versions.len() as u64 {
        check_version(&store, c, v, &versions[v as usize])?;
    }
    // Before the rollup's version there is none.
    if from > 0 {
        let before = store.snapshot("r", AsOf::Version(from - 1)).unwrap();
        prop_assert!(before.meta().rollups.is_empty());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn rollups_match_the_model_at_every_version(c in case()) {
        check_case(&c)?;
    }

    #[test]
    fn rollups_of_whole_and_partial_days_match_the_model(c in day_case()) {
        check_case(&c)?;
    }
}

#[test]
fn rollup_of_a_non_time_dimension_is_refused_with_its_name() {
    let store = Store::temporary().unwrap();
    store
        .create_array(ArraySchema {
            name: "a".into(),
            dims: vec![Dimension {
                name: "x".into(),
                coord: Coordinate::Regular {
                    start: 0.0,
                    step: 1.0,
                },
                len: 4,
                growable: false,
            }],
            attrs: vec![Attribute::new("v", DType::F32, None)],
            layouts: vec![Layout::new("l", vec![4], CodecChain::shuffle_zstd(4, 1))],
            metadata: Default::default(),
        })
        .unwrap();
    let err = store
        .add_rollup("a", "daily", "x", &[("v".into(), true, false, false)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dimension 'x' is not a time dimension"),
        "{err}"
    );
    let err = store.drop_rollup("a", "daily").unwrap_err().to_string();
    assert!(err.contains("array 'a' has no rollup 'daily'"), "{err}");
}
