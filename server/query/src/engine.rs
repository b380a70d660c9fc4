//! The engine: statements in, executions out.

use crate::ast::{AsOfSpec, InsertSource, Select, Statement};
use crate::error::QueryError;
use crate::materialize::{Materializer, Scope};
use crate::memory::MemoryPool;
use crate::optimizer::optimize;
use crate::physical::{create_physical_plan, explain, PhysicalQuery, TaskContext};
use crate::planner::{forced_layout, plan_select_join, regrid_node};
use crate::statement_kind::ParsedStatement;
use crate::stream::ResultStream;
use crate::timeutil::parse_instant;
use crate::{command, parser, EngineConfig, Execution, ExplainOutput, QueryContext};
use arrayq_storage::{AsOf, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Parses, plans and runs statements against a [`Store`].
pub struct Engine {
    store: Store,
    config: EngineConfig,
}

impl Engine {
    pub fn new(store: Store, config: EngineConfig) -> Engine {
        Engine { store, config }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Parses, plans and starts one statement. Blocking; CPU work runs on rayon.
    /// Query results are lazy: chunks are read as the stream is pulled.
    pub fn execute(&self, sql: &str, ctx: &QueryContext) -> Result<Execution, QueryError> {
        self.run(ParsedStatement::parse(sql)?, ctx)
    }

    /// Runs a statement parsed before (so its kind could be checked first).
    pub fn run(
        &self,
        parsed: ParsedStatement,
        ctx: &QueryContext,
    ) -> Result<Execution, QueryError> {
        let ParsedStatement {
            statement,
            started,
            parse_time: parse_t,
        } = parsed;
        match statement {
            Statement::Select(sel) => {
                let stream = self.start(&sel, ctx, started, parse_t)?;
                Ok(Execution::Rows(stream))
            }
            Statement::Explain { analyze, query } => Ok(Execution::Explain(
                self.explain_select(&query, analyze, ctx, started, parse_t)?,
            )),
            Statement::CreateArray(c) => command::create_array(&self.store, &c),
            Statement::CreateArrayAs(c) => {
                let result = self.start(&c.query, ctx, started, parse_t)?.collect_all()?;
                command::create_array_as(&self.store, &c, result)
            }
            Statement::Insert(i) => match &i.source {
                InsertSource::Select(q) => {
                    let result = self.start(q, ctx, started, parse_t)?.collect_all()?;
                    command::insert_result(&self.store, &i.into, result)
                }
                InsertSource::Values { columns, rows } => {
                    command::insert_values(&self.store, &i.into, columns, rows)
                }
            },
            Statement::AddLayout(a) => command::add_layout(&self.store, &a),
            Statement::AlterRollup(a) => command::alter_rollup(&self.store, &a),
            // The only way either fails over the query text is an unknown array name.
            Statement::DropArray { name, if_exists } => {
                command::drop_array(&self.store, &name.value, if_exists)
                    .map_err(|e| e.at(name.span))
            }
            Statement::ShowArrays => command::show_arrays(&self.store),
            Statement::Describe(name) => {
                command::describe(&self.store, &name.value).map_err(|e| e.at(name.span))
            }
            Statement::Vacuum(v) => command::vacuum(&self.store, &v),
            Statement::AlterRetention(a) => command::alter_retention(&self.store, &a),
        }
    }

    /// Parses a statement and plans the query it holds (a SELECT, EXPLAIN's query,
    /// the SELECT of `CREATE ARRAY ... AS` or `INSERT INTO ... SELECT`) without
    /// running anything or writing. Returns whether executing it would only read:
    /// SELECT, EXPLAIN (with or without ANALYZE), SHOW ARRAYS and DESCRIBE.
    pub fn prepare(&self, sql: &str, ctx: &QueryContext) -> Result<bool, QueryError> {
        let started = Instant::now();
        let query = match parser::parse(sql)? {
            Statement::ShowArrays | Statement::Describe(_) => return Ok(true),
            Statement::Select(q) | Statement::Explain { query: q, .. } => {
                self.plan(
                    &q,
                    None,
                    &mut Materializer::new(ctx, started, &q, self.memory_pool(ctx)),
                )?;
                return Ok(true);
            }
            Statement::CreateArrayAs(c) => Some(c.query),
            Statement::Insert(i) => match i.source {
                InsertSource::Select(q) => Some(q),
                InsertSource::Values { .. } => None,
            },
            Statement::CreateArray(_)
            | Statement::AddLayout(_)
            | Statement::AlterRollup(_)
            | Statement::DropArray { .. }
            | Statement::Vacuum(_)
            | Statement::AlterRetention(_) => None,
        };
        if let Some(q) = query {
            self.plan(
                &q,
                None,
                &mut Materializer::new(ctx, started, &q, self.memory_pool(ctx)),
            )?;
        }
        Ok(false)
    }

    /// Explains a query (`sql` may start with EXPLAIN [ANALYZE] or not). With
    /// `analyze`, runs it to completion and reports what it did.
    pub fn explain(
        &self,
        sql: &str,
        analyze: bool,
        ctx: &QueryContext,
    ) -> Result<ExplainOutput, QueryError> {
        let started = Instant::now();
        let stmt = parser::parse(sql)?;
        let parse_t = started.elapsed();
        match stmt {
            Statement::Select(q) => self.explain_select(&q, analyze, ctx, started, parse_t),
            Statement::Explain { analyze: a, query } => {
                self.explain_select(&query, analyze || a, ctx, started, parse_t)
            }
            _ => Err(QueryError::plan("only queries (SELECT) can be explained")),
        }
    }

    /// Array, attribute and dimension names (for shell completion), sorted, unique.
    pub fn complete_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        for a in self.store.list_arrays() {
            if let Ok(s) = self.store.snapshot(&a, AsOf::Latest) {
                v.extend(s.schema().attrs.iter().map(|x| x.name.clone()));
                v.extend(s.schema().dims.iter().map(|x| x.name.clone()));
            }
            v.push(a);
        }
        v.sort();
        v.dedup();
        v
    }

    /// A statement's memory bound: the engine's, or the context's when tighter.
    pub(crate) fn memory_pool(&self, ctx: &QueryContext) -> Arc<MemoryPool> {
        let limit = ctx
            .max_memory_bytes
            .map_or(self.config.max_query_memory_bytes, |m| {
                m.min(self.config.max_query_memory_bytes)
            });
        MemoryPool::new(limit)
    }

    /// The result limit and the deadline a query runs under.
    pub(crate) fn limits(&self, ctx: &QueryContext, started: Instant) -> (u64, Option<Instant>) {
        let max = match ctx.max_result_bytes {
            Some(m) => m.min(self.config.max_result_bytes),
            None => self.config.max_result_bytes,
        };
        let own = self.config.timeout.map(|t| started + t);
        let deadline = match (own, ctx.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (max, deadline)
    }

    /// Plans a query: the logical plan, the optimizer rules, the operator tree;
    /// and what it runs under. Its subqueries and CTEs (seen through `outer` and its
    /// own WITH) run first, into `m`.
    pub(crate) fn plan(
        &self,
        sel: &Select,
        outer: Option<&Scope>,
        m: &mut Materializer,
    ) -> Result<(PhysicalQuery, TaskContext), QueryError> {
        let (max, deadline) = self.limits(&m.ctx, m.started);
        let as_of = match &sel.as_of {
            AsOfSpec::Latest => AsOf::Latest,
            AsOfSpec::Version(v) => AsOf::Version(*v),
            AsOfSpec::Timestamp(s) => AsOf::Timestamp(parse_instant(s).ok_or_else(|| {
                QueryError::type_error(format!(
                    "AS OF TIMESTAMP '{s}' is not an ISO-8601 timestamp"
                ))
                .at(sel.as_of_span)
            })?),
        };
        let scope = Scope {
            ctes: &sel.ctes,
            parent: outer,
            defining: None,
        };
        let left = (as_of, sel.as_of_span);
        let snap = self.source(&sel.from, sel.from_query.as_deref(), left, &scope, m)?;
        let regrid = match &sel.reproject {
            Some(r) => {
                let forced = forced_layout(snap.schema(), sel.layout.as_ref())?;
                Some(regrid_node(&self.store, &snap, r, forced)?)
            }
            None => None,
        };
        let right = match &sel.join {
            // AS OF VERSION n names a version of the left array; AS OF TIMESTAMP holds
            // for both.
            Some(j) => {
                let as_of = match as_of {
                    AsOf::Version(_) => AsOf::Latest,
                    other => other,
                };
                let at = (as_of, sel.as_of_span);
                Some(self.source(&j.right, j.right_query.as_deref(), at, &scope, m)?)
            }
            None => None,
        };
        let mut plan = plan_select_join(snap, sel, max, regrid, right)?;
        plan.root = optimize(plan.root)?;
        let query = create_physical_plan(plan)?;
        let task = TaskContext {
            cancel: m.ctx.cancel.clone(),
            deadline,
            block_bytes: self.config.block_bytes,
            stored_chunks: None,
            memory: m.memory.clone(),
        };
        task.check()?;
        Ok((query, task))
    }

    fn start(
        &self,
        sel: &Select,
        ctx: &QueryContext,
        started: Instant,
        parse_t: Duration,
    ) -> Result<ResultStream, QueryError> {
        let t = Instant::now();
        let mut m = Materializer::new(ctx, started, sel, self.memory_pool(ctx));
        let (query, task) = self.plan(sel, None, &mut m)?;
        let stages = vec![
            ("parse".to_string(), parse_t),
            ("plan".to_string(), t.elapsed()),
        ];
        Ok(ResultStream::new(
            query.root,
            query.header,
            task,
            started,
            stages,
        ))
    }

    /// EXPLAIN plans once; with ANALYZE it runs that same operator tree to the end
    /// and reports every operator's metrics.
    fn explain_select(
        &self,
        sel: &Select,
        analyze: bool,
        ctx: &QueryContext,
        started: Instant,
        parse_t: Duration,
    ) -> Result<ExplainOutput, QueryError> {
        let t = Instant::now();
        let mut m = Materializer::new(ctx, started, sel, self.memory_pool(ctx));
        let (query, task) = self.plan(sel, None, &mut m)?;
        let with_materialized = |mut x: ExplainOutput| {
            x.text = m.explain_text(analyze) + &x.text;
            x
        };
        if !analyze {
            return Ok(with_materialized(explain(&query, None)));
        }
        let stages = vec![
            ("parse".to_string(), parse_t),
            ("plan".to_string(), t.elapsed()),
        ];
        let mut stream = ResultStream::new(
            query.root.clone(),
            query.header.clone(),
            task,
            started,
            stages,
        );
        for b in stream.by_ref() {
            b?;
        }
        Ok(with_materialized(explain(&query, Some(stream.stats()))))
    }
}
