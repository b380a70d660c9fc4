//! xarray + Dask's side: `bench/peers/analyst_peers.py` on each of the era5 suite's
//! Zarr v3 stores (map tiles, pencils), its times, and where its answers went.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::measure::Timing;
use crate::suites::common::peers::{run_peer, timed_run_args};
use crate::suites::Ctx;

/// The Zarr stores xarray reads: (system name, `--layout`).
pub(crate) const LAYOUTS: [(&str, &str); 2] = [
    ("xarray+Dask, Zarr map tiles", "maps"),
    ("xarray+Dask, Zarr pencils", "pencils"),
];

/// One store's run of every question.
pub(crate) struct PeerRun {
    pub system: &'static str,
    /// Question -> its timed runs.
    pub times: BTreeMap<String, Timing>,
    /// Where `<question>.npy` holds each last answer.
    pub answers: PathBuf,
    pub open_s: f64,
    pub versions: Value,
}

/// Runs every question on the store of `layout` under `files` (era5_files.py's
/// directory), `ctx.runs` timed runs each after one untimed one (so every timed run
/// is warm, as arrayq's: the store's files in the page cache); answers go to
/// `answers/<layout>/`.
pub(crate) fn run_layout(
    ctx: &Ctx,
    python: &Path,
    files: &Path,
    answers: &Path,
    (system, layout): (&'static str, &str),
    log: &Path,
) -> Result<PeerRun> {
    let out = answers.join(layout);
    let mut args: Vec<String> = vec![
        "--data".into(),
        files.display().to_string(),
        "--layout".into(),
        layout.into(),
        "--answers".into(),
        out.display().to_string(),
    ];
    args.extend(timed_run_args(ctx));
    let v = run_peer(ctx, python, "analyst_peers.py", &args, log)?;
    let mut times = BTreeMap::new();
    for (q, e) in v["queries"].as_object().context("no queries")? {
        let secs: Vec<f64> = e["times_s"]
            .as_array()
            .context("no times_s")?
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        times.insert(q.clone(), Timing::from_secs(secs));
    }
    Ok(PeerRun {
        system,
        times,
        answers: out,
        open_s: v["open_s"].as_f64().unwrap_or(f64::NAN),
        versions: v["versions"].clone(),
    })
}
