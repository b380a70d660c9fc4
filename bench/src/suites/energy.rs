//! Suite `energy` (planned): the energy queries E1-E4 of the workload README on the
//! `power` portfolio loaded by `arrayq_workload::load::load_energy` (one version per
//! ingest round, so E4 is `AS OF VERSION 2`), answered by arrayq (query engine,
//! in-process and over gRPC) and by PostgreSQL with the layouts a Postgres user would
//! pick: one row per value `(asset_id, ts, version, value)` with an index, and one
//! `real[]` / `double precision[]` array per asset, local day and version.
//!
//! The PostgreSQL side is `bench/peers/energy_pg.py` (run as a child process, JSON
//! out, answers checked with `bench/peers/compare.py`).
//!
//! Ingest is measured too (rounds into arrayq vs `COPY` into each table layout).
//! Cases are `E1`...`E4` and `ingest`; systems `arrayq`, `arrayq-grpc`, `pg-rows`,
//! `pg-real[]`, `pg-float8[]`. PostgreSQL runs on 127.0.0.1 with
//! `max_parallel_workers_per_gather` set so it uses [`super::Ctx::threads`] cores.
//!
//! It waits for `arrayq-query`; until then it reports itself as unavailable.

use anyhow::{bail, Result};

use super::{Ctx, Suite};
use crate::results::SuiteResult;

/// The energy query suite (not yet runnable).
pub struct Energy;

impl Suite for Energy {
    fn name(&self) -> &'static str {
        "energy"
    }

    fn about(&self) -> &'static str {
        "E1-E4 via arrayq-query vs PostgreSQL rows and arrays (planned)"
    }

    fn available(&self) -> Result<(), String> {
        Err("needs the query engine (arrayq-query), not built yet".into())
    }

    fn run(&self, _ctx: &Ctx) -> Result<SuiteResult> {
        bail!("suite energy: {}", self.available().unwrap_err())
    }
}
