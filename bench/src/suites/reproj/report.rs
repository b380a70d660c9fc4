//! The suite's figures: cases for the chart, the table of times and accuracies with
//! arrayq's ratio to each peer, the targets, and the notes.

use std::fmt::Write as _;

use serde_json::Value;

use super::data::{Target, Window, BOUNDS, CRS, RES};
use super::server::{merged, ArrayqRun};
use crate::measure::{fmt_secs, Timing};
use crate::results::{CaseResult, Check, SuiteResult};
use crate::suites::common::peers::peer_timing;
use crate::suites::Ctx;

/// arrayq's row.
pub(super) const ARRAYQ: &str = "arrayq (arrayqd, gRPC)";
/// The peer script's systems: its key, the name shown.
pub(super) const PEERS: [(&str, &str); 3] = [
    ("pyproj+scipy", "pyproj + scipy map_coordinates"),
    ("gdal-approx", "GDAL reproject (default: approx. transform)"),
    ("gdal-exact", "GDAL WarpedVRT, tolerance 1e-6 (exact)"),
];
/// scipy's interpolation with the coordinates computed beforehand.
const INTERP_ONLY: &str = "scipy map_coordinates alone (coordinates reused)";

/// Target: one map, warm, seconds.
const ONE_TARGET: f64 = 0.010;
/// Target: the week of maps, seconds.
const MAPS_TARGET: f64 = 0.25;
/// Slack of "no worse than GDAL exact" on the max error: float32 rounding of the
/// output (6e-8 near 1) is 0.5 % of the exact transform's bilinear error.
const ERR_SLACK: f64 = 1.01;

/// One row of the table.
#[derive(Default)]
struct Row {
    system: String,
    /// Every warm run of every round.
    one: Option<Timing>,
    /// Warm runs, one timing per round.
    one_rounds: Vec<Timing>,
    first: Option<f64>,
    maps: Option<Timing>,
    maps_rounds: Vec<Timing>,
    max_err: Option<f64>,
    rms_err: Option<f64>,
}

fn err_of(v: &Value, key: &str) -> (Option<f64>, Option<f64>) {
    let a = &v["accuracy"][key];
    (a["max_err"].as_f64(), a["rms_err"].as_f64())
}

/// The warm timing of `what` of each round, and the first round's first call.
fn peer_rounds(peers: &[Value], key: &str, what: &str) -> (Vec<Timing>, Option<f64>) {
    let mut rounds = Vec::new();
    let mut first = None;
    for (k, v) in peers.iter().enumerate() {
        if let Ok((warm, cold)) = peer_timing(&v["systems"][key][what]) {
            rounds.push(warm);
            if k == 0 {
                first = cold.map(|c| c.runs_s[0]);
            }
        }
    }
    (rounds, first)
}

/// The rows: arrayq first, then the peers found in the script's output (timings of
/// every round; accuracy from the first, the round that saw arrayq's answers).
fn rows(run: &ArrayqRun, peers: &[Value]) -> Vec<Row> {
    let (max_err, rms_err) = peers.first().map_or((None, None), |v| err_of(v, "arrayq"));
    let mut out = vec![Row {
        system: ARRAYQ.into(),
        one: merged(&run.one),
        one_rounds: run.one.clone(),
        first: run.first,
        maps: merged(&run.maps),
        maps_rounds: run.maps.clone(),
        max_err,
        rms_err,
    }];
    let Some(v0) = peers.first() else { return out };
    for (key, name) in PEERS {
        if v0["systems"][key].is_null() {
            continue;
        }
        let (one_rounds, first) = peer_rounds(peers, key, "one_map");
        let (maps_rounds, _) = peer_rounds(peers, key, "maps");
        let (max_err, rms_err) = err_of(v0, key);
        out.push(Row {
            system: name.into(),
            one: merged(&one_rounds),
            one_rounds,
            first,
            maps: merged(&maps_rounds),
            maps_rounds,
            max_err,
            rms_err,
        });
        let (interp, _) = peer_rounds(peers, key, "interp_only");
        if !interp.is_empty() {
            out.push(Row {
                system: INTERP_ONLY.into(),
                one: merged(&interp),
                one_rounds: interp,
                ..Row::default()
            });
        }
    }
    out
}

/// Whether arrayq's answers matched pyproj+scipy's (None: not checked), and why not.
fn answers(run: &ArrayqRun, peers: Option<&Value>) -> (Option<bool>, Vec<String>) {
    let mut why = run.problems.clone();
    let Some(v) = peers else {
        return ((!why.is_empty()).then_some(false), why);
    };
    let mut checked = false;
    for (k, what) in [("one_map", "one map"), ("maps", "every map")] {
        let a = &v["arrayq"][k];
        if a.is_null() {
            continue;
        }
        checked = true;
        if a["ok"].as_bool() != Some(true) {
            why.push(match a["why"].as_str() {
                Some(w) => format!("{what}: {w}"),
                None => format!(
                    "{what}: max |arrayq - scipy| = {}, cells with a value in one only: {}",
                    a["max_abs_diff"], a["cells_valid_in_one_only"]
                ),
            });
        }
    }
    if let Some(e) = v["arrayq"]["smooth_shape_error"].as_str() {
        why.push(format!("smooth field: {e}"));
    }
    let ok = if why.is_empty() {
        checked.then_some(true)
    } else {
        Some(false)
    };
    (ok, why)
}

fn ms(t: &Option<Timing>) -> String {
    t.as_ref().map_or("-".into(), |t| fmt_secs(t.median_s))
}

fn sci(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{x:.2e}"))
}

/// arrayq's time over a system's: the median over the rounds of the ratio of the
/// two rounds' medians (robust to the load changing between rounds).
fn ratio(a: &[Timing], b: &[Timing]) -> Option<f64> {
    let r: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(a, b)| a.median_s / b.median_s)
        .collect();
    (!r.is_empty()).then(|| Timing::from_secs(r).median_s)
}

/// Fills `res`: cases, the table, checks and notes.
pub(super) fn finish(
    res: &mut SuiteResult,
    ctx: &Ctx,
    w: &Window,
    run: &ArrayqRun,
    peers: &[Value],
) {
    let rows = rows(run, peers);
    let aq = &rows[0];
    let (answers_ok, why) = answers(run, peers.first());
    let one_case = "Q7: one map (warm)";
    let maps_case = format!("Q7: {} maps (warm)", w.maps);
    let mut t = format!(
        "| system | one map | {} maps | first call | bilinear max err | RMS err | arrayq / system, one map | arrayq / system, {} maps |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        w.maps, w.maps
    );
    for (k, r) in rows.iter().enumerate() {
        let r1 = ratio(&aq.one_rounds, &r.one_rounds).filter(|_| k > 0);
        let r2 = ratio(&aq.maps_rounds, &r.maps_rounds).filter(|_| k > 0);
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.system,
            ms(&r.one),
            ms(&r.maps),
            r.first.map_or("-".into(), fmt_secs),
            sci(r.max_err),
            sci(r.rms_err),
            r1.map_or("-".into(), |x| format!("{x:.2}")),
            r2.map_or("-".into(), |x| format!("{x:.2}")),
        );
        for (case, tm, rt) in [(one_case, &r.one, r1), (maps_case.as_str(), &r.maps, r2)] {
            let Some(tm) = tm else { continue };
            let mut c = CaseResult::new(case, &r.system, tm.clone());
            if let Some(x) = rt {
                c = c.extra("arrayq / this", round3(x));
            }
            if k == 0 {
                let server = if case == one_case {
                    &run.one_server
                } else {
                    &run.maps_server
                };
                if !server.is_empty() {
                    let s = Timing::from_secs(server.clone()).median_s;
                    c = c.extra("server ms", round3(s * 1e3));
                }
                if answers_ok == Some(false) {
                    c = c.extra("wrong answer", 1.0);
                }
            }
            res.cases.push(c);
        }
    }
    if let Some(f) = run.first {
        let mut c = CaseResult::new(
            "Q7: first map (transform computed)",
            ARRAYQ,
            Timing::from_secs(vec![f]),
        );
        if let Some(s) = run.first_server {
            c = c.extra("server ms", round3(s * 1e3));
        }
        res.cases.push(c);
    }
    for r in &rows {
        if let (Some(m), Some(s)) = (r.max_err, r.rms_err) {
            res.metric(
                &format!("{}: bilinear error on the smooth field, max", r.system),
                sig3(m),
                "",
                &format!("RMS {s:.2e}"),
            );
        }
    }
    res.tables.push(t);
    let usable = run.error.is_none() && answers_ok != Some(false);
    checks(res, &rows, usable, w.maps);
    notes(res, ctx, w, run, peers.first(), answers_ok, &why);
}

fn find<'a>(rows: &'a [Row], name: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.system == name)
}

/// The targets; `usable`: arrayq ran every query and no answer was wrong (else
/// every target fails, with an infinite value).
fn checks(res: &mut SuiteResult, rows: &[Row], usable: bool, maps: usize) {
    let aq = &rows[0];
    let good = |x: Option<f64>| match x {
        Some(x) if usable => x,
        _ => f64::INFINITY,
    };
    res.checks.push(Check::at_most(
        "arrayq one map, warm (ms)",
        good(aq.one.as_ref().map(|t| t.median_s * 1e3)),
        ONE_TARGET * 1e3,
        "median over gRPC after the first query (transform cached); infinite if it failed or was wrong",
    ));
    res.checks.push(Check::at_most(
        &format!("arrayq {maps} maps, warm (s)"),
        good(aq.maps.as_ref().map(|t| t.median_s)),
        MAPS_TARGET,
        "median over gRPC, the whole result received; infinite if it failed or was wrong",
    ));
    let approx = find(rows, PEERS[1].1);
    let exact = find(rows, PEERS[2].1);
    if let Some(g) = approx {
        res.checks.push(Check::at_most(
            "one map: arrayq / GDAL reproject (approx.)",
            good(ratio(&aq.one_rounds, &g.one_rounds)),
            1.0,
            "medians measured in the same run",
        ));
        res.checks.push(Check::at_most(
            &format!("{maps} maps: arrayq / GDAL reproject (approx.)"),
            good(ratio(&aq.maps_rounds, &g.maps_rounds)),
            1.0,
            "medians measured in the same run",
        ));
    }
    if let Some(g) = exact {
        res.checks.push(Check::at_most(
            "bilinear max error: arrayq / GDAL exact",
            good(aq.max_err.zip(g.max_err).map(|(a, b)| a / b)),
            ERR_SLACK,
            "smooth field, cells every system has a value for; 1 % slack for float32 output rounding",
        ));
    }
}

/// `x` to three significant digits.
fn sig3(x: f64) -> f64 {
    format!("{x:.2e}").parse().unwrap_or(x)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn notes(
    res: &mut SuiteResult,
    ctx: &Ctx,
    w: &Window,
    run: &ArrayqRun,
    peers: Option<&Value>,
    answers_ok: Option<bool>,
    why: &[String],
) {
    if let Some(e) = &run.error {
        res.notes.push(format!(
            "**arrayq's reprojection query failed**, arrayq is not measured: `{}`",
            e.replace('\n', " ")
        ));
    }
    match answers_ok {
        Some(true) => {
            let diff = |k: &str| {
                peers.map_or("?".into(), |v| {
                    v["arrayq"][k]["max_abs_diff"]
                        .as_f64()
                        .map_or("?".into(), |d| format!("{d:.2e}"))
                })
            };
            res.notes.push(format!(
                "arrayq's answers (one map, every map) match pyproj + scipy's: same cells with \
                 a value, max |difference| within 1e-5 of the largest value (one map {} K, \
                 every map {} K).",
                diff("one_map"),
                diff("maps")
            ))
        }
        Some(false) => res
            .notes
            .push(format!("**WRONG ANSWER** from arrayq: {}", why.join("; "))),
        None => {}
    }
    let t = Target::q7();
    res.notes.push(format!(
        "Q7: the ERA5 cube (time, lat 72 -> 34 by -0.25, lon -25 -> 45 by 0.25; float32) \
         onto `{CRS}`, {RES} m cells over bounds {BOUNDS:?} (xmin, ymin, xmax, ymax): {} rows (y, \
         from the top) x {} columns (x), cell centres at min + (k + 0.5) res; bilinear in the \
         source's (lat, lon) index space, NaN where the neighbourhood leaves the grid. One map \
         = {}; {} maps = {} .. {} (hourly). SQL: `{}`; `{}`.",
        t.height,
        t.width,
        crate::suites::common::iso(arrayq_workload::era5::time_ns(w.one_hour())),
        w.maps,
        crate::suites::common::iso(arrayq_workload::era5::time_ns(w.start)),
        crate::suites::common::iso(arrayq_workload::era5::time_ns(w.start + w.maps - 1)),
        w.sql_one(),
        w.sql_maps()
    ));
    res.notes.push(format!(
        "{rounds} rounds, each arrayq's runs then the peers' (medians are over every run of \
         every round; 'arrayq / system' is the median over the rounds of the ratio of the two \
         rounds' medians, so load that changes between rounds hits both alike). arrayq: a \
         release arrayqd (RAYON_NUM_THREADS = TOKIO_WORKER_THREADS = {th}) on a copy of the \
         cached cube (map tiles + pencils), up across the rounds, the Rust client over \
         loopback, the whole result received; 'first call' is the first Q7 query after the \
         server started (the transform is computed); per round one untimed run then {runs} \
         timed ones; 'server ms' is the server's own elapsed time (query statistics, \
         median). Peers (bench/peers/reproj_peers.py, one process per round, {th} threads): \
         the same maps from the generator as .npy in memory; 'first call' is the first in \
         the first process (library set-up), then {runs} timed runs per round. pyproj + scipy: Transformer to EPSG:4326 \
         (always_xy) on the cell centres, then map_coordinates(order=1, mode='constant', \
         cval=NaN) per map, the transform computed once per run. GDAL reproject: \
         rasterio.warp.reproject, bilinear, num_threads={th}, GDAL's approximate transformer \
         (0.125 px), every map as a band of one call. GDAL exact: a WarpedVRT (tolerance \
         1e-6, NUM_THREADS={th}) over an in-memory GTiff of the maps (set up untimed), opened \
         and read per run.",
        th = ctx.threads,
        runs = ctx.runs,
        rounds = super::ROUNDS,
    ));
    let cells = peers.and_then(|v| v["accuracy_cells"].as_u64());
    res.notes.push(format!(
        "Accuracy: every system reprojects f = sin(2 lat) cos(lon) (radians of the degrees), \
         computed in float64 at the source cell centres and stored as float32 (arrayq: array \
         `smooth` (lat, lon; f REAL), created and written over gRPC); errors are |result - f| \
         with f in float64 at each target centre's lon/lat from pyproj, over the {} cells every \
         system has a value for. Computed by reproj_peers.py, independently of arrayq's code.",
        cells.map_or("?".into(), |c| c.to_string())
    ));
    if let Some(v) = peers {
        let diffs: Vec<String> = PEERS[1..]
            .iter()
            .filter_map(|(key, name)| {
                let d = &v["systems"][key]["vs_scipy"];
                Some(format!(
                    "{name}: {:.3e} K, {} cells with a value in one only",
                    d["max_abs_diff"].as_f64()?,
                    d["cells_valid_in_one_only"]
                ))
            })
            .collect();
        if !diffs.is_empty() {
            res.notes.push(format!(
                "Largest difference from pyproj + scipy on the t2m maps: {}.",
                diffs.join("; ")
            ));
        }
        res.notes.push(format!("peer versions: {}", v["versions"]));
    }
    if !run.smooth_stored {
        res.notes
            .push("The smooth field could not be stored in arrayqd (see the error above).".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::Machine;

    fn peer_json() -> Value {
        let t = |xs: &[f64]| serde_json::json!({"times_s": xs, "labels": ["cold", "warm", "warm", "warm"]});
        serde_json::json!({
            "systems": {
                "pyproj+scipy": {"one_map": t(&[0.5, 0.05, 0.04, 0.06]), "maps": t(&[1.0, 0.6, 0.5, 0.7]),
                                 "interp_only": t(&[0.01, 0.003, 0.003, 0.004])},
                "gdal-approx": {"one_map": t(&[0.3, 0.016, 0.015, 0.017]), "maps": t(&[2.0, 1.2, 1.3, 1.25])},
                "gdal-exact": {"one_map": t(&[0.1, 0.055, 0.05, 0.06]), "maps": t(&[2.0, 1.4, 1.3, 1.37])}
            },
            "accuracy": {
                "pyproj+scipy": {"max_err": 1.19e-5, "rms_err": 7.6e-6},
                "gdal-approx": {"max_err": 4.4e-4, "rms_err": 1e-4},
                "gdal-exact": {"max_err": 1.19e-5, "rms_err": 7.6e-6},
                "arrayq": {"max_err": 1.2e-5, "rms_err": 7.6e-6}
            },
            "accuracy_cells": 116622,
            "arrayq": {"one_map": {"ok": true}, "maps": {"ok": true}},
            "versions": {"gdal": "3.10.3"}
        })
    }

    fn ctx() -> Ctx {
        Ctx {
            scale: arrayq_workload::Scale::S,
            runs: 3,
            threads: 2,
            tmp_dir: std::env::temp_dir(),
            progress: false,
            machine: Machine::default(),
            skip_peers: false,
            peer_filter: Vec::new(),
            cache_dir: None,
        }
    }

    #[test]
    fn table_ratios_and_checks() {
        let run = ArrayqRun {
            first: Some(0.2),
            one: vec![Timing::from_secs(vec![0.008, 0.006, 0.007])],
            maps: vec![Timing::from_secs(vec![0.2, 0.21, 0.22])],
            smooth_stored: true,
            ..Default::default()
        };
        let ctx = ctx();
        let mut res = ctx.result("reproj");
        let w = Window::of(ctx.scale);
        finish(&mut res, &ctx, &w, &run, &[peer_json()]);
        let t = &res.tables[0];
        assert!(
            t.contains("| arrayq (arrayqd, gRPC) | 7.0 ms | 210.0 ms | 200.0 ms | 1.20e-5 |"),
            "{t}"
        );
        // 7 ms / 16 ms and 0.21 s / 1.25 s against GDAL's default.
        assert!(
            t.contains("| 16.0 ms | 1.25 s | 300.0 ms | 4.40e-4 | 1.00e-4 | 0.44 | 0.17 |"),
            "{t}"
        );
        assert!(t.contains(INTERP_ONLY));
        assert!(res.checks.iter().all(|c| c.pass), "{:?}", res.checks);
        assert_eq!(res.checks.len(), 5);
        assert!(res
            .cases
            .iter()
            .any(|c| c.case == "Q7: first map (transform computed)"));
        assert!(res.notes.iter().any(|n| n.contains("match pyproj + scipy")));
    }

    #[test]
    fn failed_query_is_reported_and_fails_the_targets() {
        let run = ArrayqRun {
            error: Some("table functions are not supported".into()),
            ..Default::default()
        };
        let ctx = ctx();
        let mut res = ctx.result("reproj");
        finish(&mut res, &ctx, &Window::of(ctx.scale), &run, &[peer_json()]);
        assert!(
            res.notes[0].contains("table functions are not supported"),
            "{:?}",
            res.notes
        );
        assert!(res.checks.iter().all(|c| !c.pass));
        assert!(res.tables[0].contains("| arrayq (arrayqd, gRPC) | - | - | - |"));
        // The peers are still measured and charted.
        assert!(res.cases.iter().any(|c| c.system == PEERS[2].1));
    }

    #[test]
    fn ratios_are_medians_of_per_round_ratios() {
        let t = |x: f64| Timing::from_secs(vec![x]);
        // The load doubled in the second round and tripled in the third.
        let a = [t(1.0), t(2.0), t(3.0)];
        let b = [t(2.0), t(4.0), t(6.0)];
        assert_eq!(ratio(&a, &b), Some(0.5));
        assert_eq!(ratio(&a, &[]), None);
        assert_eq!(merged(&a).unwrap().median_s, 2.0);
    }
}
