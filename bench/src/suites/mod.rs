//! The benchmark suites. Each implements [`Suite`]; `main` looks them up by name in
//! [`all`], runs one with a [`Ctx`], and saves its [`SuiteResult`].
//!
//! Adding a suite: a module with a type implementing [`Suite`], listed in [`all`].
//! Suites that compare arrayq with other systems (`era5`, `energy`, `reproj`) name each
//! system in `CaseResult::system` and give every system the same [`Ctx::threads`]
//! (external processes get `RAYON_NUM_THREADS`, `OMP_NUM_THREADS` etc. from
//! [`Ctx::thread_env`]).

use std::path::PathBuf;

use anyhow::Result;
use arrayq_workload::Scale;
use indicatif::{ProgressBar, ProgressStyle};

use crate::machine::Machine;
use crate::results::SuiteResult;

pub mod analyst;
pub mod common;
pub mod energy;
pub mod era5;
pub mod grpc;
pub mod ingest;
pub mod layouts;
pub mod load;
pub mod memory;
pub mod pgbridge;
mod pgcopy;
pub mod pydask;
pub mod reproj;
pub mod storage;

/// What every suite gets: the workload scale, repetitions, threads, where to put
/// temporary stores, and whether to draw progress bars.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Workload scale.
    pub scale: Scale,
    /// Timed runs per case (median, min and max are reported).
    pub runs: usize,
    /// Threads each system may use (arrayq's rayon pool, zstd baselines, peers).
    pub threads: usize,
    /// Parent directory of temporary stores (must be a real disk for ingest numbers).
    pub tmp_dir: PathBuf,
    /// Show progress bars on stderr.
    pub progress: bool,
    /// The machine, recorded in the result.
    pub machine: Machine,
    /// Run arrayq alone: no Python peers, no PostgreSQL (`--skip-peers`).
    pub skip_peers: bool,
    /// Only the peers whose name contains one of these (`--peers`); empty: all.
    pub peer_filter: Vec<String>,
    /// Keeps generated data (stores, peer files) between runs (`--cache-dir`);
    /// `None`: everything goes to temporary directories under `tmp_dir`.
    pub cache_dir: Option<PathBuf>,
}

impl Ctx {
    /// An empty result for `suite` with this context's scale, runs and machine.
    pub fn result(&self, suite: &str) -> SuiteResult {
        SuiteResult::new(
            suite,
            &self.scale.to_string(),
            self.runs,
            self.machine.clone(),
        )
    }

    /// Whether the peer named `name` runs (`--peers`).
    pub fn wants_peer(&self, name: &str) -> bool {
        self.peer_filter.is_empty() || self.peer_filter.iter().any(|f| name.contains(f.as_str()))
    }

    /// Environment variables that cap the threads of external peers (Python, C).
    pub fn thread_env(&self) -> Vec<(&'static str, String)> {
        let n = self.threads.to_string();
        [
            "RAYON_NUM_THREADS",
            "OMP_NUM_THREADS",
            "OPENBLAS_NUM_THREADS",
            "MKL_NUM_THREADS",
            "NUMEXPR_MAX_THREADS",
            "BLOSC_NTHREADS",
        ]
        .into_iter()
        .map(|k| (k, n.clone()))
        .collect()
    }

    /// A progress bar over `len` steps (hidden without `--progress`).
    pub fn bar(&self, len: u64, msg: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template("{msg:40} [{bar:30}] {pos}/{len} {elapsed}")
                .expect("valid progress template")
                .progress_chars("=> "),
        );
        bar.set_message(msg.to_string());
        bar
    }

    /// A fresh temporary directory under [`Ctx::tmp_dir`], removed on drop.
    pub fn temp_dir(&self, prefix: &str) -> Result<tempfile::TempDir> {
        std::fs::create_dir_all(&self.tmp_dir)?;
        Ok(tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(&self.tmp_dir)?)
    }
}

/// One benchmark suite.
pub trait Suite {
    /// Name on the command line and in result files.
    fn name(&self) -> &'static str;
    /// One line for `--help` and the README.
    fn about(&self) -> &'static str;
    /// Whether it can run in this build (suites waiting for other crates say why not).
    fn available(&self) -> Result<(), String> {
        Ok(())
    }
    /// Runs every case and returns the results (saving is the caller's job).
    fn run(&self, ctx: &Ctx) -> Result<SuiteResult>;
}

/// Every suite, in the order `all` runs them.
pub fn all() -> Vec<Box<dyn Suite>> {
    vec![
        Box::new(storage::Storage),
        Box::new(layouts::Layouts),
        Box::new(era5::Era5),
        Box::new(energy::Energy),
        Box::new(grpc::Grpc::default()),
        Box::new(load::Load::default()),
        Box::new(pgbridge::PgBridge),
        Box::new(reproj::Reproj),
        Box::new(ingest::Ingest),
        Box::new(pydask::Pydask),
        Box::new(analyst::Analyst),
    ]
}

/// A suite by name.
pub fn find(name: &str) -> Option<Box<dyn Suite>> {
    all().into_iter().find(|s| s.name() == name)
}
