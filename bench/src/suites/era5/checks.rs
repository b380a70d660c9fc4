//! The suite's checks: arrayq map+pencils against its decode floor and the best
//! single-layout store, each pair timed in interleaved rounds; its cold medians
//! against TensorStore's; and the server's peak memory on full-cube queries.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use arrayq_query::Engine;

use super::queries::Query;
use super::stores::StoreDef;
use super::MAIN;
use crate::measure::Timing;
use crate::measure::{fmt_secs, interleaved, paired_ratio, Job};
use crate::results::{Check, SuiteResult};
use crate::suites::common::arrayq::{open_engine, run_sql, Measured};
use crate::suites::common::floor::Floor;
use crate::suites::Ctx;

/// The figure for the engine. The sides of each ratio run in interleaved
/// rounds (every round runs each once), so load from other work on the shared
/// machine hits both alike; the ratio is the median of per-round ratios.
pub(super) fn engine_checks(
    ctx: &Ctx,
    root: &Path,
    defs: &[StoreDef],
    qs: &[Query],
    main_runs: &[Option<Measured>],
    res: &mut SuiteResult,
) -> Result<()> {
    let check_runs = ctx.runs.max(5);
    let main = open_engine(&root.join(defs[0].dir))?;
    let singles: Vec<(&str, Engine)> = defs[1..]
        .iter()
        .map(|d| Ok((d.system, open_engine(&root.join(d.dir))?)))
        .collect::<Result<_>>()?;
    // Each job runs its work once untimed right before the timed run, so no job
    // pays for the caches the previous job in the round evicted (tiny queries
    // like Q2 otherwise measure the order of the jobs).
    let timed = |e: &Engine, sql: &str| -> Result<Option<std::time::Duration>> {
        drop(run_sql(e, sql)?);
        let t = Instant::now();
        let r = run_sql(e, sql)?;
        let d = t.elapsed();
        drop(r);
        Ok(Some(d))
    };
    for (k, q) in qs.iter().enumerate() {
        let Some(m) = main_runs[k].as_ref() else {
            continue;
        };
        let layout = m.layout.clone().unwrap_or_else(|| "map".into());
        let fl = Floor::fetch(&main, &layout, &q.region)?;
        let dec = fl.decoder(ctx.threads)?;
        let with_singles = matches!(q.id, "Q1" | "Q2");
        let mut jobs: Vec<Job<'_>> = vec![
            Box::new(|| timed(&main, &q.sql)),
            Box::new(|| {
                fl.decode(&dec)?;
                let t = Instant::now();
                fl.decode(&dec)?;
                Ok(Some(t.elapsed()))
            }),
        ];
        if with_singles {
            for (_, e) in &singles {
                jobs.push(Box::new(move || timed(e, &q.sql)));
            }
        }
        let t = interleaved(check_runs, 1, &mut jobs)?;
        drop(jobs);
        let (tm, tf) = (&t[0], &t[1]);
        res.checks.push(if tf.median_s < 2e-3 {
            Check::at_most(
                &format!(
                    "{}: {MAIN} time, ms (decode floor {} < 2 ms)",
                    q.id,
                    fmt_secs(tf.median_s)
                ),
                tm.median_s * 1e3,
                5.0,
                &format!(
                    "median warm time through '{layout}' ({} chunks) over {check_runs} \
                         rounds interleaved with the floor; the floor is under 2 ms, so the \
                         bound is 5 ms",
                    fl.payloads.len()
                ),
            )
        } else {
            Check::at_most(
                &format!("{}: {MAIN} / decode floor ({} threads)", q.id, ctx.threads),
                paired_ratio(tm, tf),
                1.5,
                &format!(
                    "warm time through '{layout}' / bare zstd decode of the same {} \
                         chunks ({} vs {}), median of {check_runs} interleaved rounds' ratios",
                    fl.payloads.len(),
                    fmt_secs(tm.median_s),
                    fmt_secs(tf.median_s)
                ),
            )
        });
        if with_singles {
            let (best, tb) = singles
                .iter()
                .zip(&t[2..])
                .min_by(|a, b| a.1.median_s.total_cmp(&b.1.median_s))
                .map(|((s, _), t)| (*s, t))
                .context("single-layout stores")?;
            res.checks.push(Check::at_most(
                &format!(
                    "{}: {MAIN} / best single layout ({})",
                    q.id,
                    best.trim_start_matches("arrayq ")
                ),
                paired_ratio(tm, tb),
                2.0,
                &format!(
                    "warm times ({} vs {}), median of {check_runs} interleaved rounds' ratios",
                    fmt_secs(tm.median_s),
                    fmt_secs(tb.median_s)
                ),
            ));
        }
    }
    Ok(())
}

/// The peers TensorStore's cold runs are taken from: its best single layout.
const TENSORSTORE: [&str; 2] = ["tensorstore (map)", "tensorstore (pencils)"];

/// Cold reads: per query, arrayq map+pencils' cold median, store just opened and
/// server running (data cold), within TensorStore's cold median on its best single
/// layout, all measured in this run (each system after evicting its own files).
pub(super) fn cold_checks(
    qs: &[Query],
    by_system: &BTreeMap<String, Vec<Option<Measured>>>,
    res: &mut SuiteResult,
) {
    for (k, q) in qs.iter().enumerate() {
        let Some(main) = by_system.get(MAIN).and_then(|v| v[k].as_ref()) else {
            continue;
        };
        let best = TENSORSTORE
            .iter()
            .filter_map(|sys| {
                let cold = by_system.get(*sys)?[k].as_ref()?.cold.as_ref()?;
                Some((*sys, cold.median_s))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let Some((ts, ts_s)) = best else {
            continue;
        };
        let kinds: [(&str, Option<&Timing>); 2] = [
            ("store just opened", main.cold.as_ref()),
            ("server running, data cold", main.data_cold.as_ref()),
        ];
        for (kind, t) in kinds {
            let Some(t) = t else {
                continue;
            };
            res.checks.push(Check::at_most(
                &format!("{} cold: {MAIN} ({kind}) / {ts}", q.id),
                t.median_s / ts_s,
                1.0,
                &format!(
                    "medians of the cold runs ({} vs {}); arrayq's runs {}",
                    fmt_secs(t.median_s),
                    fmt_secs(ts_s),
                    t.runs_s
                        .iter()
                        .map(|s| fmt_secs(*s))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
}

/// The server's peak RSS (VmHWM of a child process serving the main store) while it
/// answers the full-cube mean twice and then streams the whole cube to a client that
/// discards it; the target bounds the mean's peak.
pub(super) fn memory_checks(res: &mut SuiteResult, dir: &Path, threads: usize) -> Result<()> {
    const LIMIT_MB: f64 = 300.0;
    let mean = "SELECT avg(t2m) FROM era5";
    let stream = "SELECT t2m FROM era5";
    let r = crate::suites::memory::measure(dir, threads, &[mean, mean, stream])?;
    let mb = |b: u64| b as f64 / 1e6;
    let after_means = r.queries[1].peak_bytes;
    res.checks.push(Check::at_most(
        "server peak RSS during full-cube means, MB",
        mb(after_means),
        LIMIT_MB,
        &format!(
            "VmHWM of arrayqd ({}) after two `{mean}` over gRPC \
             (RSS after opening the store: {:.0} MB)",
            r.binary,
            mb(r.open_bytes)
        ),
    ));
    let streamed = &r.queries[2];
    res.notes.push(format!(
        "Server memory: RSS {:.0} MB after open, peak {:.0} MB after two full-cube means, \
         {:.0} MB after also streaming the whole cube ({:.0} MB in {:.1} s) to a client \
         that discards it.",
        mb(r.open_bytes),
        mb(after_means),
        mb(streamed.peak_bytes),
        mb(streamed.streamed_bytes),
        streamed.seconds
    ));
    Ok(())
}
