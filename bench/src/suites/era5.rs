//! Suite `era5` (planned): the standard ERA5 queries Q1-Q6 (Q7 later) of the
//! workload README, answered by
//!
//! - arrayq in-process, through the query engine (`arrayq-query`),
//! - arrayq over gRPC (the server on 127.0.0.1, the client crate),
//! - peers in a Python venv, each reading the same cube from its own format:
//!   Zarr (zarr-python, same chunks, zstd + shuffle), NetCDF4 (HDF5 chunks,
//!   zlib/zstd), xarray over both, TensorStore (zarr driver). The scripts live in
//!   `bench/peers/`: `setup_venv.sh` builds `target/benchvenv`, `era5_files.py`
//!   writes the files, `era5_peers.py --system S --layout L --data SCALE --runs N`
//!   times one system and prints JSON, `compare.py` checks answers against
//!   `tests/reference/workload_ref.py`. This suite runs them as child processes with
//!   [`super::Ctx::thread_env`] and turns their JSON into `CaseResult`s.
//!
//! Every system gets [`super::Ctx::threads`] threads; the answers are checked
//! against `arrayq_workload::era5` before any timing counts. Case names are the query
//! ids (`Q1`...), systems `arrayq`, `arrayq-grpc`, `zarr`, `netcdf`, `xarray-zarr`,
//! `tensorstore`, so the chart groups the peers per query.
//!
//! It waits for `arrayq-query` and the server; until then it reports itself as
//! unavailable instead of running.

use anyhow::{bail, Result};

use super::{Ctx, Suite};
use crate::results::SuiteResult;

/// The ERA5 query suite (not yet runnable).
pub struct Era5;

impl Suite for Era5 {
    fn name(&self) -> &'static str {
        "era5"
    }

    fn about(&self) -> &'static str {
        "Q1-Q6 via arrayq-query (in-process, gRPC) vs Zarr/NetCDF/xarray/TensorStore (planned)"
    }

    fn available(&self) -> Result<(), String> {
        Err("needs the query engine (arrayq-query) and the server, not built yet".into())
    }

    fn run(&self, _ctx: &Ctx) -> Result<SuiteResult> {
        bail!("suite era5: {}", self.available().unwrap_err())
    }
}
