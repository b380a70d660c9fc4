//! Subqueries and CTEs (`WITH name AS (...)`, `FROM (SELECT ...) s`, `JOIN (SELECT
//! ...) c`): each is planned as a query of its own, run once, and its result stored as
//! an array (as `CREATE ARRAY ... AS` stores one) in a scratch store, a temporary,
//! non-durable store that lives as long as the plan reading it. The outer query then
//! reads it like any stored array, so scans, layouts, joins (computed keys included)
//! and EXPLAIN read it unchanged. A CTE read twice is run once; the results of one
//! statement are bounded together by the result limit.

use crate::ast::{AsOfSpec, Cte, Name, Select};
use crate::command::{store_result, unknown_array};
use crate::engine::Engine;
use crate::error::{not_found, QueryError, Span};
use crate::physical::{explain, PhysicalQuery};
use crate::stream::ResultStream;
use crate::{QueryContext, QueryStats};
use arrayq_storage::{AsOf, Options, Snapshot, StorageError, Store};
use std::collections::HashMap;
use std::fmt::Write;
use std::time::{Duration, Instant};

/// The CTEs a query sees: its own WITH list, then those of the queries around it.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub ctes: &'a [Cte],
    pub parent: Option<&'a Scope<'a>>,
    /// The CTE whose query this is (it cannot read itself).
    pub defining: Option<&'a str>,
}

impl<'a> Scope<'a> {
    /// The CTE `name` and the scope its own query sees (the CTEs written before it).
    fn find(&self, name: &str) -> Option<(&'a Cte, Scope<'a>)> {
        let own = self.ctes.iter().position(|c| c.name.value == name);
        match own.or_else(|| {
            let lower = |c: &Cte| c.name.value.eq_ignore_ascii_case(name);
            self.ctes.iter().position(lower)
        }) {
            Some(i) => Some((
                &self.ctes[i],
                Scope {
                    ctes: &self.ctes[..i],
                    parent: self.parent,
                    defining: Some(&self.ctes[i].name.value),
                },
            )),
            None => self.parent.and_then(|p| p.find(name)),
        }
    }

    /// Whether `name` is a CTE whose query this scope is in.
    fn defines(&self, name: &str) -> bool {
        self.defining.is_some_and(|d| d.eq_ignore_ascii_case(name))
            || self.parent.is_some_and(|p| p.defines(name))
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.ctes.iter().map(|c| c.name.value.clone()).collect();
        if let Some(p) = self.parent {
            v.extend(p.names());
        }
        v
    }
}

/// One statement's subqueries and CTEs: what ran, where their results are.
pub(crate) struct Materializer {
    pub ctx: QueryContext,
    pub started: Instant,
    /// The statement's `AS OF TIMESTAMP`, which holds for its subqueries too.
    pub timestamp: Option<(String, Span)>,
    store: Option<Store>,
    /// CTEs already run, by where their name is written.
    done: HashMap<(u64, u64), Snapshot>,
    held_bytes: u64,
    /// The statement's memory bound, shared by its subqueries and its outer query.
    pub memory: std::sync::Arc<crate::memory::MemoryPool>,
    /// Every result stored, in the order they ran (for EXPLAIN).
    pub runs: Vec<Materialized>,
}

/// A subquery's run, for EXPLAIN.
pub(crate) struct Materialized {
    pub name: String,
    pub query: PhysicalQuery,
    pub stats: QueryStats,
    pub cells: usize,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Materializer {
    pub fn new(
        ctx: &QueryContext,
        started: Instant,
        top: &Select,
        memory: std::sync::Arc<crate::memory::MemoryPool>,
    ) -> Materializer {
        let timestamp = match &top.as_of {
            AsOfSpec::Timestamp(t) => Some((t.clone(), top.as_of_span)),
            _ => None,
        };
        Materializer {
            ctx: ctx.clone(),
            started,
            timestamp,
            store: None,
            done: HashMap::new(),
            held_bytes: 0,
            memory,
            runs: Vec::new(),
        }
    }

    /// The `Materialize:` nodes of EXPLAIN, each with its query's plan under it (and
    /// its metrics with `analyze`).
    pub fn explain_text(&self, analyze: bool) -> String {
        let mut t = String::new();
        for m in &self.runs {
            let _ = writeln!(
                t,
                "Materialize: {} (run once: {} cells, {} column(s), {} held as a scratch array)",
                m.name,
                m.cells,
                m.query.header.columns.len(),
                crate::physical::fmt_bytes(m.bytes)
            );
            if analyze {
                let _ = writeln!(t, "  metrics: run {:.3} ms", m.elapsed.as_secs_f64() * 1e3);
            }
            let sub = explain(&m.query, analyze.then(|| m.stats.clone()));
            for line in sub.text.lines() {
                let _ = writeln!(t, "  {line}");
            }
        }
        t
    }
}

impl Engine {
    /// What a FROM or JOIN name reads: the result of its subquery (`query`), of the
    /// CTE it names, or the stored array (at `as_of`, whose value is at `as_of_span`).
    pub(crate) fn source(
        &self,
        name: &Name,
        query: Option<&Select>,
        (as_of, as_of_span): (AsOf, Span),
        scope: &Scope,
        m: &mut Materializer,
    ) -> Result<Snapshot, QueryError> {
        let derived = |what: &str| {
            QueryError::plan(format!(
                "AS OF VERSION names a version of a stored array, and '{}' is {what}",
                name.value
            ))
            .at(as_of_span)
        };
        if let Some(q) = query {
            if matches!(as_of, AsOf::Version(_)) {
                return Err(derived("a subquery"));
            }
            return self.materialize(name, q, scope, m);
        }
        if let Some((cte, inner)) = scope.find(&name.value) {
            if matches!(as_of, AsOf::Version(_)) {
                return Err(derived("a CTE"));
            }
            let key = (cte.name.span.line, cte.name.span.column);
            if let Some(s) = m.done.get(&key) {
                return Ok(s.clone());
            }
            let s = self.materialize(&cte.name, &cte.query, &inner, m)?;
            m.done.insert(key, s.clone());
            return Ok(s);
        }
        match self.store().snapshot(&name.value, as_of) {
            Ok(s) => Ok(s),
            Err(StorageError::UnknownArray(_)) if scope.defines(&name.value) => {
                Err(QueryError::plan(format!(
                    "CTE '{}' reads itself: a CTE reads arrays and the CTEs written before it (WITH RECURSIVE is not supported)",
                    name.value
                ))
                .at(name.span))
            }
            Err(StorageError::UnknownArray(_)) => {
                let ctes = scope.names();
                let err = match ctes.is_empty() {
                    true => unknown_array(self.store(), &name.value),
                    false => {
                        let arrays = self.store().list_arrays();
                        let all = arrays.iter().chain(&ctes).map(String::as_str);
                        not_found("array or CTE", &name.value, "", all)
                    }
                };
                Err(err.at(name.span))
            }
            // No such version, or none at that time: the AS OF value is what is wrong.
            Err(e) => Err(QueryError::from_storage(e).at(as_of_span)),
        }
    }

    /// Runs `query` (seeing the CTEs of `scope`) to its end and stores its result as
    /// array `name` of the scratch store.
    fn materialize(
        &self,
        name: &Name,
        query: &Select,
        scope: &Scope,
        m: &mut Materializer,
    ) -> Result<Snapshot, QueryError> {
        let t = Instant::now();
        let mut query = query.clone();
        if let (AsOfSpec::Latest, Some((ts, span))) = (&query.as_of, &m.timestamp) {
            (query.as_of, query.as_of_span) = (AsOfSpec::Timestamp(ts.clone()), *span);
        }
        let (plan, task) = self.plan(&query, Some(scope), m)?;
        let stream = ResultStream::new(plan.root.clone(), plan.header.clone(), task, t, vec![]);
        let result = stream.collect_all()?;
        let what = |why: &str| {
            QueryError::plan(format!(
                "the query of '{}' {why}: FROM and JOIN read arrays, which need dimensions and cells",
                name.value
            ))
            .at(name.span)
        };
        if result.header.scalar {
            return Err(what(
                "returns a single value (GROUP BY a dimension to keep it)",
            ));
        }
        if result.header.is_empty() {
            return Err(what("selects no cells"));
        }
        let bytes: u64 = result
            .columns
            .iter()
            .map(|c| (c.len() * c.dtype().size()) as u64)
            .sum();
        let max = self.limits(&m.ctx, m.started).0;
        m.held_bytes += bytes;
        if m.held_bytes > max {
            return Err(QueryError::ResourcesExhausted(format!(
                "the results of the subqueries and CTEs read so far hold {} bytes (with '{}'), over the result limit of {max} bytes; select less in them",
                m.held_bytes, name.value
            ))
            .at(name.span));
        }
        let store = match &m.store {
            Some(s) => s.clone(),
            None => {
                // A scratch store: nothing in it outlives the query, so no fsync.
                let opts = Options {
                    durable: false,
                    ..Options::default()
                };
                let s = Store::temporary_with(opts).map_err(QueryError::from_storage)?;
                m.store = Some(s.clone());
                s
            }
        };
        // Two subqueries of one statement may share a name (in different scopes).
        let mut stored = name.clone();
        for k in 2.. {
            if !store.list_arrays().contains(&stored.value) {
                break;
            }
            stored.value = format!("{}_{k}", name.value);
        }
        let cells = result.header.len();
        let stats = result.stats.clone();
        store_result(&store, &stored, &[], result).map_err(|e| e.at(name.span))?;
        let snap = store
            .snapshot(&stored.value, AsOf::Latest)
            .map_err(QueryError::from_storage)?;
        m.runs.push(Materialized {
            name: stored.value,
            query: plan,
            stats,
            cells,
            bytes,
            elapsed: t.elapsed(),
        });
        Ok(snap)
    }
}
