//! Aggregates against a direct computation in f64, through every layout of one array
//! (each forced with `WITH (layout = ...)`): whole-chunk reductions, slices of
//! consecutive groups, cell-by-cell groups (keys in another order, label picks),
//! calendar buckets in UTC and in a zone with a DST change, NaN values (in long and
//! short runs) and never-written chunks.

use arrayq_query::{CoordValues, Engine, EngineConfig, Execution, QueryContext, QueryResult};
use arrayq_storage::{Buffer, Store};
use ndarray::{ArrayD, IxDyn};

const NT: usize = 72;
const NL: usize = 13;
const NS: usize = 17;
/// Hours written; the rest (the last chunks in time) are never written: NaN fill.
const WRITTEN: usize = 66;
/// UTC ns of 2023-03-25T00:00:00Z (Amsterdam switches to summer time on the 26th).
const T0: i64 = 1_679_702_400_000_000_000;
const HOUR: i64 = 3_600_000_000_000;
const LAYOUTS: [&str; 3] = ["tiles", "boxes", "pencils"];

fn site_label(j: usize) -> i64 {
    100 + 5 * j as i64
}

fn value(t: usize, i: usize, j: usize) -> f32 {
    if t >= WRITTEN {
        return f32::NAN;
    }
    let h = arrayq_workload::splitmix64(((t as u64) << 20) + ((i as u64) << 10) + j as u64);
    // NaN in even hours only: maps of odd hours take the NaN-free fast paths.
    if h.is_multiple_of(37) && t.is_multiple_of(2) {
        f32::NAN
    } else {
        250.0 + (h >> 40) as f32 / (1u64 << 24) as f32 * 60.0
    }
}

fn engine() -> Engine {
    let e = Engine::new(Store::temporary().unwrap(), EngineConfig::default());
    let ctx = QueryContext::default();
    let labels: Vec<String> = (0..NS).map(|j| site_label(j).to_string()).collect();
    let sql = format!(
        "CREATE ARRAY t (
            time TIMESTAMP START '2023-03-25T00:00:00Z' STEP '1 hour' LENGTH {NT},
            lat DOUBLE START 10 STEP -0.5 LENGTH {NL},
            site LABELS ({}),
            v REAL
         ) WITH (chunks = (1, {NL}, {NS}), layout = tiles)",
        labels.join(", ")
    );
    e.execute(&sql, &ctx).unwrap();
    let mut v = Vec::new();
    for t in 0..WRITTEN {
        for i in 0..NL {
            for j in 0..NS {
                v.push(value(t, i, j));
            }
        }
    }
    e.store()
        .write(
            "t",
            "v",
            &[0, 0, 0],
            Buffer::F32(ArrayD::from_shape_vec(IxDyn(&[WRITTEN, NL, NS]), v).unwrap()),
        )
        .unwrap();
    e.execute("ALTER ARRAY t ADD LAYOUT boxes CHUNKS (5, 4, 6)", &ctx)
        .unwrap();
    e.execute(
        &format!("ALTER ARRAY t ADD LAYOUT pencils CHUNKS ({NT}, 2, 3)"),
        &ctx,
    )
    .unwrap();
    e
}

fn run(e: &Engine, sql: &str) -> QueryResult {
    match e.execute(sql, &QueryContext::default()) {
        Ok(Execution::Rows(s)) => s
            .collect_all()
            .unwrap_or_else(|x| panic!("{}", x.render(sql))),
        Ok(_) => panic!("not a query: {sql}"),
        Err(x) => panic!("{}", x.render(sql)),
    }
}

/// Per group: count(*), count(v), sum, min, max, var_pop, var_samp (two-pass).
#[derive(Clone, Debug, Default)]
struct Want {
    all: Vec<i64>,
    n: Vec<i64>,
    sum: Vec<f64>,
    min: Vec<f64>,
    max: Vec<f64>,
    var_pop: Vec<f64>,
    var_samp: Vec<f64>,
}

/// The direct computation: `group(t, i, j)` gives the group of a selected cell.
fn want(
    ng: usize,
    group: impl Fn(usize, usize, usize) -> Option<usize>,
    f: impl Fn(f32) -> f64,
) -> Want {
    let mut w = Want {
        all: vec![0; ng],
        n: vec![0; ng],
        sum: vec![0.0; ng],
        min: vec![f64::INFINITY; ng],
        max: vec![f64::NEG_INFINITY; ng],
        var_pop: vec![0.0; ng],
        var_samp: vec![0.0; ng],
    };
    let mut cells: Vec<Vec<f64>> = vec![Vec::new(); ng];
    for t in 0..NT {
        for i in 0..NL {
            for j in 0..NS {
                if let Some(g) = group(t, i, j) {
                    w.all[g] += 1;
                    let x = value(t, i, j);
                    if x.is_nan() {
                        continue;
                    }
                    let x = f(x);
                    w.n[g] += 1;
                    w.sum[g] += x;
                    w.min[g] = w.min[g].min(x);
                    w.max[g] = w.max[g].max(x);
                    cells[g].push(x);
                }
            }
        }
    }
    for (g, cells) in cells.iter().enumerate() {
        let n = cells.len() as f64;
        if cells.is_empty() {
            w.min[g] = f64::NAN;
            w.max[g] = f64::NAN;
            w.var_pop[g] = f64::NAN;
            w.var_samp[g] = f64::NAN;
            continue;
        }
        let mean = w.sum[g] / n;
        let m2: f64 = cells.iter().map(|x| (x - mean) * (x - mean)).sum();
        w.var_pop[g] = m2 / n;
        w.var_samp[g] = if cells.len() < 2 {
            f64::NAN
        } else {
            m2 / (n - 1.0)
        };
    }
    w
}

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got.is_nan() && want.is_nan()) || (got - want).abs() <= rel * want.abs().max(1.0)
}

/// Runs `select ... FROM t WITH (layout = L) where group_by` through every layout and
/// checks every column against `w`.
fn check_all(e: &Engine, arg: &str, filter: &str, group_by: &str, w: &Want) {
    for l in LAYOUTS {
        let sql = format!(
            "SELECT count(*) AS c_all, count({arg}) AS c, sum({arg}) AS s, avg({arg}) AS a, \
             min({arg}) AS mn, max({arg}) AS mx, var_pop({arg}) AS vp, stddev({arg}) AS sd \
             FROM t WITH (layout = '{l}') {filter} {group_by}"
        );
        let r = run(e, &sql);
        assert_eq!(r.header.layout, l);
        let col = |k: usize| r.columns[k].to_f64_vec();
        let ng = w.n.len();
        assert_eq!(col(0).len(), ng, "{sql}");
        for g in 0..ng {
            let what = |name: &str| format!("{name}[{g}] of {sql}");
            assert_eq!(col(0)[g], w.all[g] as f64, "{}", what("count(*)"));
            assert_eq!(col(1)[g], w.n[g] as f64, "{}", what("count"));
            // SQL: the sum of no values is NULL (missing), not 0.
            let sum = if w.n[g] == 0 { f64::NAN } else { w.sum[g] };
            assert!(
                close(col(2)[g], sum, 1e-12),
                "{}: {} vs {sum}",
                what("sum"),
                col(2)[g]
            );
            let avg = if w.n[g] == 0 {
                f64::NAN
            } else {
                w.sum[g] / w.n[g] as f64
            };
            assert!(
                close(col(3)[g], avg, 1e-12),
                "{}: {} vs {avg}",
                what("avg"),
                col(3)[g]
            );
            assert!(close(col(4)[g], w.min[g], 0.0), "{}", what("min"));
            assert!(close(col(5)[g], w.max[g], 0.0), "{}", what("max"));
            assert!(
                close(col(6)[g], w.var_pop[g], 1e-9),
                "{}: {} vs {}",
                what("var_pop"),
                col(6)[g],
                w.var_pop[g]
            );
            let sd = w.var_samp[g].sqrt();
            assert!(
                close(col(7)[g], sd, 1e-9),
                "{}: {} vs {sd}",
                what("stddev"),
                col(7)[g]
            );
        }
        // Each statistic alone takes its own kernels (sums without squares, one
        // extremum without the other).
        for (k, call) in ["sum", "avg", "min", "max", "count"].iter().enumerate() {
            let sql =
                format!("SELECT {call}({arg}) FROM t WITH (layout = '{l}') {filter} {group_by}");
            let got = run(e, &sql).columns[0].to_f64_vec();
            assert_eq!(got.len(), ng, "{sql}");
            for (g, &got_g) in got.iter().enumerate() {
                let want = [
                    if w.n[g] == 0 { f64::NAN } else { w.sum[g] },
                    if w.n[g] == 0 {
                        f64::NAN
                    } else {
                        w.sum[g] / w.n[g] as f64
                    },
                    w.min[g],
                    w.max[g],
                    w.n[g] as f64,
                ][k];
                assert!(
                    close(got_g, want, 1e-12),
                    "[{g}] of {sql}: {got_g} vs {want}"
                );
            }
        }
    }
}

fn id(x: f32) -> f64 {
    x as f64
}

#[test]
fn scalar_aggregates() {
    let e = engine();
    let w = want(1, |_, _, _| Some(0), id);
    check_all(&e, "v", "", "", &w);
    // An expression as the input; a box of the array.
    let w = want(
        1,
        |t, i, _| (t >= 3 && (2..=10).contains(&i)).then_some(0),
        // `v * 2 + 1` stays f32 (weak literals), as in numpy.
        |x| (x * 2.0 + 1.0) as f64,
    );
    check_all(
        &e,
        "v * 2 + 1",
        "WHERE time >= '2023-03-25T03:00:00Z' AND lat BETWEEN 5 AND 9",
        "",
        &w,
    );
}

#[test]
fn group_by_time_and_calendar_buckets() {
    let e = engine();
    let w = want(NT, |t, _, _| Some(t), id);
    check_all(&e, "v", "", "GROUP BY time", &w);
    let w = want(3, |t, _, _| Some(t / 24), id);
    check_all(&e, "v", "", "GROUP BY date_trunc('day', time)", &w);
    // Local days in Amsterdam: bucket starts from the result's coordinates.
    let r = run(
        &e,
        "SELECT count(*) FROM t GROUP BY date_trunc('day', time, 'Europe/Amsterdam')",
    );
    let CoordValues::Times(starts) = &r.header.coords[0] else {
        panic!("time coordinates")
    };
    let starts = starts.clone();
    let bucket = |t: usize| {
        let ns = T0 + HOUR * t as i64;
        starts.iter().rposition(|&s| s <= ns)
    };
    let w = want(starts.len(), |t, _, _| bucket(t), id);
    check_all(
        &e,
        "v",
        "",
        "GROUP BY date_trunc('day', time, 'Europe/Amsterdam')",
        &w,
    );
}

#[test]
fn group_by_space_in_both_orders() {
    let e = engine();
    let w = want(NL * NS, |_, i, j| Some(i * NS + j), id);
    check_all(&e, "v", "", "GROUP BY lat, site", &w);
    let w = want(NL * NS, |_, i, j| Some(j * NL + i), id);
    check_all(&e, "v", "", "GROUP BY site, lat", &w);
    // f64 inputs (extrema kept in f64).
    check_all(&e, "CAST(v AS DOUBLE)", "", "GROUP BY site, lat", &w);
    let w = want(NL * NS, |_, i, j| Some(i * NS + j), id);
    check_all(&e, "CAST(v AS DOUBLE)", "", "GROUP BY lat, site", &w);
    let w = want(NL, |t, i, _| (t < 29).then_some(i), id);
    check_all(
        &e,
        "v",
        "WHERE time < '2023-03-26T05:00:00Z'",
        "GROUP BY lat",
        &w,
    );
}

#[test]
fn any_number_of_workers() {
    let e = engine();
    for threads in [1, 3, 5] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let w = want(NT, |t, _, _| Some(t), id);
            check_all(&e, "v", "", "GROUP BY time", &w);
            let w = want(NL * NS, |_, i, j| Some(i * NS + j), id);
            check_all(&e, "v", "", "GROUP BY lat, site", &w);
            let w = want(1, |_, _, _| Some(0), id);
            check_all(&e, "v", "", "", &w);
        });
    }
}

#[test]
fn label_picks() {
    let e = engine();
    let picked = [1usize, 5, 13];
    let ids: Vec<String> = picked.iter().map(|&j| site_label(j).to_string()).collect();
    let filter = format!("WHERE site IN ({})", ids.join(", "));
    let w = want(NT, |t, _, j| picked.contains(&j).then_some(t), id);
    check_all(&e, "v", &filter, "GROUP BY time", &w);
    let w = want(3, |_, _, j| picked.iter().position(|&p| p == j), id);
    check_all(&e, "v", &filter, "GROUP BY site", &w);
    let w = want(1, |_, _, j| picked.contains(&j).then_some(0), id);
    check_all(&e, "v", &filter, "", &w);
}

#[test]
fn projections_through_every_layout_hold_the_written_values() {
    let e = engine();
    let q = "SELECT v, v * 2 AS w FROM t WITH (layout = '{L}') \
             WHERE site IN (100, 120, 125) AND lat <= 8 AND time >= '2023-03-25T02:00:00Z'";
    let picked = [0usize, 4, 5];
    for l in LAYOUTS {
        let r = run(&e, &q.replace("{L}", l));
        assert_eq!(r.header.layout, l);
        assert_eq!(r.header.shape, vec![NT - 2, NL - 4, 3], "{l}");
        let (got, got_w) = (r.columns[0].to_f64_vec(), r.columns[1].to_f64_vec());
        let mut k = 0;
        for t in 2..NT {
            for i in 4..NL {
                for &j in &picked {
                    let want = value(t, i, j) as f64;
                    assert!(close(got[k], want, 0.0), "{l}: v[{t},{i},{j}]");
                    // Doubling is exact in f32 and f64 alike.
                    assert!(close(got_w[k], want * 2.0, 0.0), "{l}: w[{t},{i},{j}]");
                    k += 1;
                }
            }
        }
        assert_eq!((k, got_w.len()), (got.len(), got.len()), "{l}");
    }
}

#[test]
fn forced_layouts_are_checked() {
    let e = engine();
    let err = |sql: &str| match e.execute(sql, &QueryContext::default()) {
        Err(x) => x.to_string(),
        Ok(_) => panic!("{sql} should fail"),
    };
    let m = err("SELECT avg(v) FROM t WITH (layout = 'pencil')");
    assert!(
        m.contains("unknown layout 'pencil'") && m.contains("pencils"),
        "{m}"
    );
    let m = err("SELECT avg(v) FROM t WITH (nolock)");
    assert!(m.contains("WITH (layout = 'name')"), "{m}");
    let x = e
        .explain(
            "SELECT avg(v) FROM t WITH (layout = boxes)",
            false,
            &QueryContext::default(),
        )
        .unwrap();
    assert_eq!(x.layout, "boxes");
    assert!(
        x.text.contains("forced by WITH (layout = ...)"),
        "{}",
        x.text
    );
}
