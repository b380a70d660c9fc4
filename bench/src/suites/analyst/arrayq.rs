//! arrayq's side of a question, in-process: every step in interleaved rounds with
//! the decode floor of the chunks it reads (and, for (e), the SELECT it stores), so
//! load from other work on the shared machine hits both sides of each ratio alike.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use arrayq_query::{Engine, Execution, QueryContext, QueryResult};

use super::questions::{Question, Step};
use crate::measure::{interleaved, Job, Timing};
use crate::suites::common::arrayq::run_sql;
use crate::suites::common::floor::Floor;

/// What one step did and cost.
pub(crate) struct StepRun {
    pub arrayq: Timing,
    pub floor: Timing,
    /// The layout it read through, and the chunks and stored bytes of its floor.
    pub layout: String,
    pub floor_chunks: usize,
    pub floor_bytes: u64,
}

/// A question measured: its steps, their per-round sums, and its answer.
pub(crate) struct QuestionRun {
    pub steps: Vec<StepRun>,
    /// Per round, the sum of the steps' times (and of their floors).
    pub total: Timing,
    pub floor_total: Timing,
    /// (e): the stored SELECT alone, timed in the same rounds.
    pub select: Option<Timing>,
    pub answer: QueryResult,
}

/// Runs a statement that returns no rows (DDL, CREATE ARRAY ... AS).
fn run_command(engine: &Engine, sql: &str) -> Result<()> {
    match engine.execute(sql, &QueryContext::default()) {
        Ok(Execution::Done { .. }) => Ok(()),
        Ok(_) => bail!("not a command: {sql}"),
        Err(e) => bail!("{}", e.render(sql)),
    }
}

/// The SELECT of a `CREATE ARRAY ... AS SELECT`, or the statement itself.
fn select_of(sql: &str) -> &str {
    sql.find(" AS SELECT ").map_or(sql, |k| &sql[k + 4..])
}

/// One timed run of a step: a CREATE drops its array first (untimed); a SELECT runs
/// once untimed right before, so it does not pay for caches the previous job of the
/// round evicted.
fn timed_step(engine: &Engine, step: &Step) -> Result<Option<Duration>> {
    match step.creates {
        Some(array) => {
            run_command(engine, &format!("DROP ARRAY IF EXISTS {array}"))?;
            let t = Instant::now();
            run_command(engine, &step.sql)?;
            Ok(Some(t.elapsed()))
        }
        None => timed_select(engine, &step.sql),
    }
}

fn timed_select(engine: &Engine, sql: &str) -> Result<Option<Duration>> {
    drop(run_sql(engine, sql)?);
    let t = Instant::now();
    let r = run_sql(engine, sql)?;
    let d = t.elapsed();
    drop(r);
    Ok(Some(d))
}

/// Measures `q` on `engine` in `rounds` interleaved rounds (after one untimed round)
/// on `threads` floor threads.
pub(crate) fn measure(
    engine: &Engine,
    q: &Question,
    rounds: usize,
    threads: usize,
) -> Result<QuestionRun> {
    // One untimed pass: creates what later steps read, and names each step's layout.
    let mut floors = Vec::new();
    let mut layouts = Vec::new();
    for step in &q.steps {
        if step.creates.is_some() {
            timed_step(engine, step)?;
        }
        let r = run_sql(engine, select_of(&step.sql))?;
        let layout = r.stats.layout.clone();
        let (array, region) = &step.reads;
        floors.push(Floor::fetch_array(engine, array, &layout, region)?);
        layouts.push(layout);
    }
    let decoders = floors
        .iter()
        .map(|f| f.decoder(threads))
        .collect::<Result<Vec<_>>>()?;
    let mut jobs: Vec<Job<'_>> = Vec::new();
    for step in &q.steps {
        jobs.push(Box::new(move || timed_step(engine, step)));
    }
    for (fl, dec) in floors.iter().zip(&decoders) {
        jobs.push(Box::new(move || {
            fl.decode(dec)?;
            let t = Instant::now();
            fl.decode(dec)?;
            Ok(Some(t.elapsed()))
        }));
    }
    if let Some((sql, _)) = &q.select_bound {
        jobs.push(Box::new(move || timed_select(engine, sql)));
    }
    let t = interleaved(rounds, 1, &mut jobs)?;
    drop(jobs);
    let n = q.steps.len();
    let sum = |ts: &[Timing]| {
        Timing::from_secs(
            (0..ts[0].runs_s.len())
                .map(|r| ts.iter().map(|t| t.runs_s[r]).sum())
                .collect(),
        )
    };
    let steps = (0..n)
        .map(|k| StepRun {
            arrayq: t[k].clone(),
            floor: t[n + k].clone(),
            layout: layouts[k].clone(),
            floor_chunks: floors[k].payloads.len(),
            floor_bytes: floors[k].stored,
        })
        .collect();
    Ok(QuestionRun {
        steps,
        total: sum(&t[..n]),
        floor_total: sum(&t[n..2 * n]),
        select: q.select_bound.as_ref().map(|_| t[2 * n].clone()),
        answer: run_sql(engine, &q.answer_sql)?,
    })
}
