//! The suite's Python peers: the files they read (written by `era5_files.py` from
//! the generator's `.npy`) and what each touches for a query.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use arrayq_storage::Region;
use arrayq_workload::load::MAP_TILES;
use arrayq_workload::{era5, Scale};
use serde_json::Value;

use crate::suites::common::files::dir_bytes;
use crate::suites::common::peers::run_peer;
use crate::suites::Ctx;

/// The peer runs: `(system name, era5_peers.py --system, --layout)`.
pub(super) const PEERS: [(&str, &str, &str); 8] = [
    ("xarray+zarr (map)", "xarray-zarr", "maps"),
    ("xarray+zarr (pencils)", "xarray-zarr", "pencils"),
    ("xarray+netcdf", "xarray-netcdf", "maps"),
    ("tensorstore (map)", "tensorstore", "maps"),
    ("tensorstore (pencils)", "tensorstore", "pencils"),
    ("zarr-python (map)", "zarr", "maps"),
    ("zarr-python (pencils)", "zarr", "pencils"),
    ("netCDF4", "netcdf", "maps"),
];

/// Writes (or reuses) the peers' files under `root/files`; returns the directory and
/// era5_files.py's report.
pub(super) fn peer_files(
    ctx: &Ctx,
    python: &Path,
    root: &Path,
    npy: &Path,
    log_dir: &Path,
) -> Result<(PathBuf, Value, bool)> {
    let dir = root.join("files");
    let marker = root.join("files.json");
    if let Ok(text) = std::fs::read_to_string(&marker) {
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            if v["shape"][0].as_u64() == Some(era5::n_time(ctx.scale) as u64) {
                return Ok((dir, v, false));
            }
        }
    }
    ensure!(npy.exists(), "{} was not written", npy.display());
    let args: Vec<String> = vec![
        "--npy".into(),
        npy.display().to_string(),
        "--out".into(),
        dir.display().to_string(),
        "--scale".into(),
        ctx.scale.to_string(),
        "--formats".into(),
        "netcdf,zarr,zarr-pencils".into(),
        "--threads".into(),
        ctx.threads.to_string(),
        "--force".into(),
    ];
    let v = run_peer(
        ctx,
        python,
        "era5_files.py",
        &args,
        &log_dir.join("era5_files.log"),
    )?;
    std::fs::write(&marker, serde_json::to_string_pretty(&v)?)?;
    Ok((dir, v, true))
}

/// Chunks a peer touches for `region` and the stored bytes of those chunks: exact
/// for Zarr (a file per chunk), estimated for NetCDF (chunks x mean chunk size).
pub(super) fn peer_io(
    files: &Path,
    system: &str,
    layout: &str,
    region: &Region,
    scale: Scale,
) -> (u64, Option<u64>) {
    let n = era5::n_time(scale) as u64;
    let chunk: Vec<u64> = if layout == "pencils" {
        vec![n, 8, 8]
    } else {
        MAP_TILES.to_vec()
    };
    let chunks = region.chunks(&chunk);
    if system.contains("netcdf") {
        let total = dir_bytes(&files.join("netcdf"));
        let all = Region::full(&[n, era5::N_LAT as u64, era5::N_LON as u64]).chunk_count(&chunk);
        return (
            chunks.len() as u64,
            Some((total as f64 * chunks.len() as f64 / all as f64) as u64),
        );
    }
    let base = files
        .join("zarr")
        .join(format!("{layout}.zarr"))
        .join("t2m")
        .join("c");
    let bytes = chunks
        .iter()
        .map(|c| {
            let p = c.iter().fold(base.clone(), |p, k| p.join(k.to_string()));
            std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
        })
        .sum();
    (chunks.len() as u64, Some(bytes))
}
