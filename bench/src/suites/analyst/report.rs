//! The suite's cases, its table (arrayq, the decode floor, xarray+Dask on each Zarr
//! layout, the differences of the answers), the steps of multi-step questions, and
//! the targets.

use std::fmt::Write as _;

use super::arrayq::QuestionRun;
use super::compare::Diff;
use super::peers::PeerRun;
use super::questions::Question;
use crate::measure::{fmt_bytes, fmt_secs, paired_ratio, Timing};
use crate::results::{CaseResult, Check, SuiteResult};

/// The system names of the cases.
pub(crate) const ARRAYQ: &str = "arrayq (in-process)";
const SELECT_ALONE: &str = "arrayq, the SELECT alone";

/// A question's case name (the chart's group).
fn case(q: &Question) -> String {
    format!("{} {}", q.id, q.name)
}

/// The best xarray time of a question and which store gave it.
fn best_peer<'p>(q: &Question, peers: &'p [PeerRun]) -> Option<(&'p Timing, &'static str)> {
    peers
        .iter()
        .filter_map(|p| p.times.get(q.peer).map(|t| (t, p.system)))
        .min_by(|a, b| a.0.median_s.total_cmp(&b.0.median_s))
}

/// Cases, the table and the checks. `diffs[k]` are question k's answer against
/// each store's xarray answer (empty without peers).
pub(crate) fn push(
    threads: usize,
    qs: &[Question],
    runs: &[QuestionRun],
    peers: &[PeerRun],
    diffs: &[Vec<Diff>],
    res: &mut SuiteResult,
) {
    let floor_name = format!("floor: zstd decode, {threads} threads");
    let mut table = format!("| question | arrayq | {floor_name} | arrayq / floor |");
    for p in peers {
        let _ = write!(table, " {} |", p.system);
    }
    table.push_str(" best xarray / arrayq | arrayq vs xarray: max abs / rel diff |\n| --- |");
    table.push_str(&" ---: |".repeat(3 + peers.len() + 2));
    table.push('\n');
    for ((q, r), d) in qs.iter().zip(runs).zip(diffs) {
        let name = case(q);
        let chunks: usize = r.steps.iter().map(|s| s.floor_chunks).sum();
        let bytes: u64 = r.steps.iter().map(|s| s.floor_bytes).sum();
        let to_floor = paired_ratio(&r.total, &r.floor_total);
        res.cases.push(
            CaseResult::new(&name, ARRAYQ, r.total.clone())
                .extra("floor chunks", chunks as f64)
                .extra("floor read bytes", bytes as f64)
                .extra("ratio to floor", (to_floor * 1000.0).round() / 1000.0),
        );
        res.cases
            .push(CaseResult::new(&name, &floor_name, r.floor_total.clone()));
        if let Some(t) = &r.select {
            res.cases
                .push(CaseResult::new(&name, SELECT_ALONE, t.clone()));
        }
        let _ = write!(
            table,
            "| {} ({}) | {} | {} | {to_floor:.2} |",
            q.id,
            q.name,
            fmt_secs(r.total.median_s),
            fmt_secs(r.floor_total.median_s)
        );
        for p in peers {
            let cell = match (q.xarray_bound, p.times.get(q.peer)) {
                (Some(_), Some(t)) => {
                    res.cases.push(CaseResult::new(&name, p.system, t.clone()));
                    format!(
                        "{} ({:.1}x)",
                        fmt_secs(t.median_s),
                        t.median_s / r.total.median_s
                    )
                }
                _ => String::new(),
            };
            let _ = write!(table, " {cell} |");
        }
        let speedup = best_peer(q, peers).map(|(t, _)| t.median_s / r.total.median_s);
        let _ = write!(
            table,
            " {} |",
            match (q.xarray_bound, speedup) {
                (Some(_), Some(s)) => format!("{s:.1}x"),
                _ => String::new(),
            }
        );
        let worst = d.iter().fold((0.0f64, 0.0f64, 0usize), |m, d| {
            (m.0.max(d.max_abs), m.1.max(d.max_rel), m.2 + d.bad)
        });
        let _ = writeln!(
            table,
            " {} |",
            if d.is_empty() {
                String::new()
            } else if worst.2 > 0 {
                format!("**{} cells differ**", worst.2)
            } else {
                format!("{:.1e} / {:.1e}", worst.0, worst.1)
            }
        );
        push_checks(q, r, peers, speedup, res);
    }
    res.tables.push(format!(
        "Median time per question over interleaved rounds (arrayq and its floor in the same \
         rounds; xarray+Dask: median of its runs, in parentheses its time / arrayq's):\n\n{table}"
    ));
    res.tables.push(steps_table(qs, runs));
}

/// Every step of every question: time, floor, the layout it read through.
fn steps_table(qs: &[Question], runs: &[QuestionRun]) -> String {
    let mut s = String::from(
        "Steps (arrayq; a CREATE ARRAY step drops its array first, untimed):\n\n\
         | question | step | arrayq | floor | layout | floor chunks | floor bytes |\n\
         | --- | --- | ---: | ---: | --- | ---: | ---: |\n",
    );
    for (q, r) in qs.iter().zip(runs) {
        for (step, sr) in q.steps.iter().zip(&r.steps) {
            let _ = writeln!(
                s,
                "| {} | `{}` on {} | {} | {} | {} | {} | {} |",
                q.id,
                step.what,
                step.reads.0,
                fmt_secs(sr.arrayq.median_s),
                fmt_secs(sr.floor.median_s),
                sr.layout,
                sr.floor_chunks,
                fmt_bytes(sr.floor_bytes as f64)
            );
        }
        if let Some(t) = &r.select {
            let _ = writeln!(
                s,
                "| {} | the same SELECT alone | {} | | | | |",
                q.id,
                fmt_secs(t.median_s)
            );
        }
    }
    s
}

/// A question's targets.
fn push_checks(
    q: &Question,
    r: &QuestionRun,
    peers: &[PeerRun],
    speedup: Option<f64>,
    res: &mut SuiteResult,
) {
    let rounds = r.total.runs_s.len();
    if let Some(bound) = q.floor_bound {
        res.checks.push(Check::at_most(
            &format!("{}: arrayq / decode floor", q.id),
            paired_ratio(&r.total, &r.floor_total),
            bound,
            &format!(
                "{} vs {}, median of {rounds} interleaved rounds' ratios",
                fmt_secs(r.total.median_s),
                fmt_secs(r.floor_total.median_s)
            ),
        ));
    }
    if let (Some(bound), false) = (q.xarray_bound, peers.is_empty()) {
        let detail = match best_peer(q, peers) {
            Some((t, sys)) => format!(
                "{sys} {} / arrayq {} (medians)",
                fmt_secs(t.median_s),
                fmt_secs(r.total.median_s)
            ),
            None => "xarray+Dask did not answer".into(),
        };
        res.checks.push(Check::at_least(
            &format!("{}: best xarray+Dask / arrayq", q.id),
            speedup.unwrap_or(f64::NAN),
            bound,
            &detail,
        ));
    }
    if let (Some((_, bound)), Some(t)) = (&q.select_bound, &r.select) {
        res.checks.push(Check::at_most(
            &format!("{}: CREATE ARRAY ... AS / the same SELECT", q.id),
            paired_ratio(&r.total, t),
            *bound,
            &format!(
                "{} vs {}, median of {rounds} interleaved rounds' ratios",
                fmt_secs(r.total.median_s),
                fmt_secs(t.median_s)
            ),
        ));
    }
}
