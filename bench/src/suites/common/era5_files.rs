//! The ERA5 cube as the Python peers read it: daily NetCDF4 files and Zarr v3 stores
//! (map tiles, pencils) written by `bench/peers/era5_files.py` from a `.npy` of the
//! generator's cube, kept under a suite's data root with a marker (`files.json`) and
//! shared by every suite that uses the same root (`era5`, `ingest`, `pydask`).

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use arrayq_workload::{era5, Scale};
use npyz::WriterBuilder;
use rayon::prelude::*;
use serde_json::Value;

use super::peers::run_peer;
use crate::suites::Ctx;

/// The files `era5_files.py` wrote under `root/files` (NetCDF, Zarr maps and pencils).
pub struct PeerFiles {
    /// `root/files`: `netcdf/t2m_YYYYMMDD.nc`, `zarr/maps.zarr`, `zarr/pencils.zarr`.
    pub dir: PathBuf,
    /// era5_files.py's report (sizes, compression, seconds per format).
    pub report: Value,
    /// Written in this call (false: reused from `files.json`).
    pub fresh: bool,
}

impl PeerFiles {
    /// The daily NetCDF files, in name (= time) order.
    pub fn netcdf_files(&self) -> Result<Vec<PathBuf>> {
        let d = self.dir.join("netcdf");
        let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
            .with_context(|| format!("reading {}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "nc"))
            .collect();
        v.sort();
        Ok(v)
    }
}

/// The marker of complete files for `scale` under `root`, if there is one.
fn reusable(root: &Path, scale: Scale) -> Option<Value> {
    let text = std::fs::read_to_string(root.join("files.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    (v["shape"][0].as_u64() == Some(era5::n_time(scale) as u64)).then_some(v)
}

/// Writes (or reuses) the peers' files under `root/files` from the cube in `npy`
/// (which the caller wrote, see [`write_cube_npy`], unless the files are there).
pub fn peer_files(
    ctx: &Ctx,
    python: &Path,
    root: &Path,
    npy: &Path,
    log_dir: &Path,
) -> Result<PeerFiles> {
    let dir = root.join("files");
    if let Some(v) = reusable(root, ctx.scale) {
        return Ok(PeerFiles {
            dir,
            report: v,
            fresh: false,
        });
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
    std::fs::write(root.join("files.json"), serde_json::to_string_pretty(&v)?)?;
    Ok(PeerFiles {
        dir,
        report: v,
        fresh: true,
    })
}

/// [`peer_files`] for suites without reference answers of their own: writes the
/// cube's `.npy` first when the files are not there yet, and removes it after.
pub fn ensure_peer_files(
    ctx: &Ctx,
    python: &Path,
    root: &Path,
    log_dir: &Path,
) -> Result<PeerFiles> {
    let npy = root.join("cube.npy");
    if reusable(root, ctx.scale).is_none() {
        write_cube_npy(ctx.scale, Some(&npy))?;
    }
    let files = peer_files(ctx, python, root, &npy, log_dir)?;
    let _ = std::fs::remove_file(&npy);
    Ok(files)
}

/// The mean of the cube of `scale` (float64 accumulation over every generated value,
/// as numpy's `cube.mean(dtype=float64)`); with `npy`, also writes the cube there
/// (float32, C order) in the same pass.
pub fn write_cube_npy(scale: Scale, npy: Option<&Path>) -> Result<f64> {
    let n = era5::n_time(scale);
    let plane = era5::MAP_CELLS;
    let file = match npy {
        Some(p) => {
            Some(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => None,
    };
    let shape = [n as u64, era5::N_LAT as u64, era5::N_LON as u64];
    let mut writer = match &file {
        Some(f) => Some(
            npyz::WriteOptions::new()
                .default_dtype()
                .shape(&shape)
                .writer(std::io::BufWriter::with_capacity(8 << 20, f))
                .begin_nd()?,
        ),
        None => None,
    };
    let mut total = 0f64;
    for h0 in (0..n).step_by(744) {
        let slab = era5::hours(h0, (h0 + 744).min(n));
        total += slab
            .par_chunks(plane)
            .map(|m| m.iter().map(|&v| v as f64).sum::<f64>())
            .sum::<f64>();
        if let Some(w) = writer.as_mut() {
            w.extend(slab.iter().copied())?;
        }
    }
    if let Some(w) = writer {
        w.finish()?;
    }
    if let Some(f) = &file {
        f.sync_all()?;
    }
    Ok(total / (n * plane) as f64)
}
