//! The suite's figures, their targets, and the result (cases for the chart, the
//! figures table, checks, notes).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Result;
use serde_json::Value;

use super::latency::{percentile, Latencies, BATCH_ROWS};
use super::source::SETTINGS;
use super::{ingest, BATCHES};
use crate::measure::{fmt_bytes, Timing};
use crate::results::{CaseResult, Check, SuiteResult};
use crate::suites::Ctx;

/// Bridge ingest target, values/s.
const BRIDGE_TARGET: f64 = 1_000_000.0;
/// Door COPY / PostgreSQL COPY target.
const DOOR_TARGET: f64 = 0.5;
/// PostgreSQL's best / the door, per query.
const QUERY_TARGET: f64 = 10.0;
/// Change latency p99 bound, seconds.
const LATENCY_TARGET: f64 = 0.1;

const FLOOR: &str = "PostgreSQL COPY (floor)";
const BRIDGE: &str = "bridge: arrayq load postgres";
const DOOR: &str = "door: COPY FROM STDIN";
const DOOR_Q: &str = "door (psycopg2)";
/// PostgreSQL returning answer-shaped rows from generate_series (the breakdown).
pub(super) const ROWS_FLOOR: &str = "rows only: generate_series (PostgreSQL)";
/// E1-E3 over gRPC with the Rust client (the breakdown).
pub(super) const GRPC_Q: &str = "arrayq gRPC (Rust client)";

/// One ingest path's runs.
#[derive(Default)]
pub(super) struct IngestFigure {
    pub secs: Vec<f64>,
    /// Answers that did not match the generator (query, why).
    pub wrong: Vec<(String, String)>,
    /// The bridge's result line.
    pub said: String,
    /// arrayqd's CPU seconds during each run (all its threads).
    pub cpu: Vec<f64>,
}

/// Everything measured.
pub(super) struct Figures {
    tuples: u64,
    stream_bytes: u64,
    /// Runs of 1-3 are interleaved: run k of each path is in round k.
    pub floor: Option<IngestFigure>,
    pub bridge: Option<IngestFigure>,
    pub door: Option<IngestFigure>,
    /// query -> system -> (timing, wrong answer)
    queries: BTreeMap<String, BTreeMap<String, (Timing, Option<String>)>>,
    pub latency: Option<Latencies>,
    /// The bridge's source COPY TO alone, seconds per run.
    pub bridge_source: Vec<f64>,
    /// query -> the server's median elapsed (s), chunks read, bytes decoded (gRPC).
    pub server_stats: BTreeMap<String, [f64; 3]>,
}

impl Figures {
    pub(super) fn new(tuples: u64, stream_bytes: u64) -> Figures {
        Figures {
            tuples,
            stream_bytes,
            floor: None,
            bridge: None,
            door: None,
            queries: BTreeMap::new(),
            latency: None,
            server_stats: BTreeMap::new(),
            bridge_source: Vec::new(),
        }
    }

    /// Records a query measurement of pgbridge_queries.py.
    pub(super) fn query(
        &mut self,
        id: &str,
        sys: &str,
        e: &Value,
        wrong: Option<String>,
    ) -> Result<()> {
        let times: Vec<f64> = e["times_s"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        self.query_times(id, sys, times, wrong)
    }

    /// Records the round trips of a query (or of `SELECT 1`) by one system.
    pub(super) fn query_times(
        &mut self,
        id: &str,
        sys: &str,
        times: Vec<f64>,
        wrong: Option<String>,
    ) -> Result<()> {
        anyhow::ensure!(!times.is_empty(), "{sys} {id}: no times");
        self.queries
            .entry(id.to_string())
            .or_default()
            .insert(sys.to_string(), (Timing::from_secs(times), wrong));
        Ok(())
    }

    /// Rows/s of `f` over the floor's: the median of the per-round ratios.
    fn round_ratio(&self, f: &IngestFigure) -> f64 {
        let Some(fl) = &self.floor else {
            return f64::NAN;
        };
        let v: Vec<f64> = fl.secs.iter().zip(&f.secs).map(|(a, b)| a / b).collect();
        if v.is_empty() {
            return f64::NAN;
        }
        Timing::from_secs(v).median_s
    }

    /// Fills `res`: cases, the figures table, checks and notes.
    pub(super) fn finish(&self, res: &mut SuiteResult, ctx: &Ctx, pg_version: &str) {
        let mut t = String::from(
            "| figure | arrayq | floor / peer (same run) | ratio | target | result |\n\
             | --- | ---: | ---: | ---: | --- | --- |\n",
        );
        let rate = |f: &IngestFigure| {
            let tm = Timing::from_secs(f.secs.clone());
            (self.tuples as f64 / tm.median_s, tm)
        };
        let mut floor_rate = None;
        for (name, f) in [
            (FLOOR, &self.floor),
            (BRIDGE, &self.bridge),
            (DOOR, &self.door),
        ] {
            let Some(f) = f else { continue };
            let (r, tm) = rate(f);
            let mut c = CaseResult::new("ingest", name, tm)
                .bytes(self.tuples * 16)
                .extra("rows/s", r.round());
            if !f.cpu.is_empty() {
                c = c.extra(
                    "arrayqd CPU s",
                    round3(Timing::from_secs(f.cpu.clone()).median_s),
                );
            }
            if name == FLOOR {
                floor_rate = Some(r);
            } else if let Some(fl) = floor_rate {
                let _ = fl;
                c = c.extra("ratio to floor", round3(self.round_ratio(f)));
            }
            for (q, why) in &f.wrong {
                res.notes
                    .push(format!("WRONG ANSWER after {name}: {q}: {why}"));
            }
            res.cases.push(c);
        }
        if !self.bridge_source.is_empty() {
            let tm = Timing::from_secs(self.bridge_source.clone());
            let r = self.tuples as f64 / tm.median_s;
            res.cases.push(
                CaseResult::new("ingest", "bridge source side: COPY TO (PostgreSQL)", tm)
                    .bytes(self.tuples * 16)
                    .extra("rows/s", r.round()),
            );
        }
        let ok = |f: &IngestFigure| f.wrong.is_empty();
        if let (Some(fl), Some(b)) = (floor_rate, &self.bridge) {
            let (r, _) = rate(b);
            let pass = ok(b) && r >= BRIDGE_TARGET;
            let _ = writeln!(
                t,
                "| bridge ingest, end to end (values/s) | {:.0} | {:.0} (PostgreSQL COPY) | {:.2} | >= 1,000,000 values/s | {} |",
                r, fl, self.round_ratio(b), verdict(pass, ok(b))
            );
            res.checks.push(Check::at_least(
                "bridge ingest values/s (M values/s)",
                if ok(b) { r / 1e6 } else { 0.0 },
                BRIDGE_TARGET / 1e6,
                "rows of every version / wall time of `arrayq load postgres`; 0 if E1-E4 were wrong",
            ));
        }
        if let (Some(fl), Some(d)) = (floor_rate, &self.door) {
            let (r, _) = rate(d);
            let ratio = self.round_ratio(d);
            let _ = writeln!(
                t,
                "| COPY FROM STDIN through the door (rows/s) | {r:.0} | {fl:.0} (PostgreSQL COPY) | {ratio:.2} | >= 0.5 | {} |",
                verdict(ok(d) && ratio >= DOOR_TARGET, ok(d))
            );
            res.checks.push(Check::at_least(
                "door COPY rows/s / PostgreSQL COPY rows/s",
                if ok(d) { ratio } else { 0.0 },
                DOOR_TARGET,
                "median of the per-round ratios (rounds interleave floor, bridge, door); 0 if E1-E3 were wrong",
            ));
        }
        for (id, per) in &self.queries {
            let best_pg = per
                .iter()
                .filter(|(s, (_, w))| s.starts_with("postgres-") && w.is_none())
                .min_by(|a, b| a.1 .0.median_s.total_cmp(&b.1 .0.median_s));
            for (sys, (tm, wrong)) in per {
                let mut c = CaseResult::new(id, sys, tm.clone());
                if let (GRPC_Q, Some([secs, chunks, decoded])) =
                    (sys.as_str(), self.server_stats.get(id))
                {
                    c = c
                        .extra("server ms", round3(secs * 1e3))
                        .extra("chunks", *chunks)
                        .extra("decoded bytes", *decoded);
                }
                if let Some(w) = wrong {
                    c = c.extra("wrong answer", 1.0);
                    res.notes.push(format!("WRONG ANSWER: {sys} {id}: {w}"));
                }
                res.cases.push(c);
            }
            // SELECT 1 and the gRPC client are the breakdown, not a target.
            if !id.starts_with('E') {
                continue;
            }
            let (Some((door_t, door_w)), Some((pg_name, (pg_t, _)))) = (per.get(DOOR_Q), best_pg)
            else {
                continue;
            };
            let x = pg_t.median_s / door_t.median_s;
            let _ = writeln!(
                t,
                "| {id} through the door, psycopg2 (median) | {:.2} ms | {:.2} ms ({pg_name}) | {x:.1}x faster | >= 10x | {} |",
                door_t.median_s * 1e3,
                pg_t.median_s * 1e3,
                verdict(door_w.is_none() && x >= QUERY_TARGET, door_w.is_none())
            );
            res.checks.push(Check::at_least(
                &format!("{id}: PostgreSQL best / door (psycopg2)"),
                if door_w.is_none() { x } else { 0.0 },
                QUERY_TARGET,
                "median round trips (execute + fetchall), psycopg2 on both",
            ));
        }
        if let Some(l) = &self.latency {
            for (name, v, lost) in [
                ("door LISTEN", &l.door, l.lost.0),
                ("gRPC Subscribe", &l.grpc, l.lost.1),
            ] {
                if v.is_empty() {
                    continue;
                }
                let (p50, p99, max) = (
                    percentile(v, 50.0),
                    percentile(v, 99.0),
                    percentile(v, 100.0),
                );
                res.cases.push(
                    CaseResult::new("change latency", name, Timing::from_secs(v.clone()))
                        .extra("p50 ms", round3(p50 * 1e3))
                        .extra("p99 ms", round3(p99 * 1e3))
                        .extra("lost", lost as f64),
                );
                let _ = writeln!(
                    t,
                    "| change latency, {name}: p50 / p99 / max | {:.1} / {:.1} / {:.1} ms | COMMIT round trip p50 {:.2} ms | | p99 < 100 ms | {} |",
                    p50 * 1e3,
                    p99 * 1e3,
                    max * 1e3,
                    percentile(&l.commit, 50.0) * 1e3,
                    verdict(lost == 0 && p99 < LATENCY_TARGET, lost == 0)
                );
                res.checks.push(Check::at_most(
                    &format!("change latency p99, {name} (ms)"),
                    if lost == 0 { p99 * 1e3 } else { f64::INFINITY },
                    LATENCY_TARGET * 1e3,
                    "source COMMIT sent -> event received, nearest rank; infinite if a batch was lost",
                ));
            }
            res.notes.push(format!(
                "Change latency: {BATCHES} batches of {BATCH_ROWS} rows (one asset x one local \
                 day), each `BEGIN; INSERT ...; NOTIFY feed` then `COMMIT`, the clock started \
                 when COMMIT is sent; the next batch after both clients saw this one (lost: \
                 door {}, gRPC {}; events with a cell count other than {BATCH_ROWS}: door {}, \
                 gRPC {}). Job: `CREATE INGEST feed FROM POSTGRES '...' QUERY 'SELECT id, \
                 asset_id, ts, version, value FROM feed_rows' INTO live WITH (channel = \
                 'feed', watermark = 'id')`.",
                l.lost.0, l.lost.1, l.wrong_cells.0, l.wrong_cells.1
            ));
        }
        res.tables.push(t);
        if let Some(b) = &self.bridge {
            res.notes
                .push(format!("bridge's last result line: `{}`", b.said));
        }
        res.notes.push(format!(
            "Data: the energy portfolio at scale {}, every version of every batch: {} rows \
             ({} of binary COPY stream, generated into memory before each COPY when under 2 \
             GiB, else while sent). Ingest runs: {} each, median. PostgreSQL {pg_version} \
             (arrayq_tests::PgCluster: fsync=off, synchronous_commit=off, \
             full_page_writes=off; plus {}; {} parallel workers), COPY into `power_rows` \
             created in the same transaction, timed to its COMMIT. Bridge: `arrayq load \
             postgres --url ... --query \"{}\" --array power`, release binaries, fresh store \
             per run; door: `{}` via tokio-postgres copy_in, fresh store per run. arrayqd \
             with RAYON_NUM_THREADS = TOKIO_WORKER_THREADS = {}.",
            ctx.scale,
            self.tuples,
            fmt_bytes(self.stream_bytes as f64),
            self.floor.as_ref().map_or(0, |f| f.secs.len()),
            SETTINGS
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
            ctx.threads,
            ingest::BRIDGE_QUERY,
            ingest::DOOR_COPY,
            ctx.threads
        ));
        res.notes.push(
            "E4 is checked after the bridge (one commit per version round) but not after the \
             door's COPY: one COPY is one commit (the highest version of a cell wins), so that \
             array has no 'as known after round 2'."
                .into(),
        );
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn verdict(pass: bool, answers_ok: bool) -> &'static str {
    match (answers_ok, pass) {
        (false, _) => "**WRONG ANSWER**",
        (true, true) => "PASS",
        (true, false) => "**FAIL**",
    }
}
