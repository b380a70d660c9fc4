//! `arrayq load zarr STORE --array NAME`: a Zarr v2 or v3 group as xarray writes
//! it into one array, in one commit, decoded like a NetCDF file (the same CF
//! rules, [`crate::shell::cf`]; the same array creation and fitting,
//! [`crate::shell::netcdf`]).
//!
//! The store is checked first ([`scan`]); then one Write call streams every
//! variable, slab of time steps after slab, unpacked to float32. A chunk that
//! cannot be read or decoded (truncated, corrupt) ends the call before it
//! completes, so nothing is committed.

mod scan;
pub mod store;

use crate::shell::netcdf::scan::LoadPlan;
use crate::shell::netcdf::{load_plan, NetcdfLoad};
use arrayq_client::{Client, Error};
use arrayq_proto::v1::WriteRequest;
use std::path::PathBuf;
use std::time::Instant;

/// What `arrayq load zarr` was asked.
pub struct ZarrLoad {
    pub store: PathBuf,
    pub array: String,
    /// `--var a,b`: variables to load (default: all on the main dimensions).
    pub vars: Vec<String>,
    pub chunks: Option<Vec<u64>>,
    pub layout: Option<String>,
    /// `--rename old=new`: dimension names in the array.
    pub renames: Vec<(String, String)>,
}

/// Values read per call to the store: a slab of whole time steps of about this
/// many bytes (as f64), so memory stays bounded on big grids.
const SLAB_BYTES: usize = 64 << 20;

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidInput(msg.into())
}

pub async fn load_zarr(client: &Client, job: &ZarrLoad) -> Result<String, Error> {
    let t0 = Instant::now();
    let path = job.store.clone();
    let vars = job.vars.clone();
    let (store, plan) = tokio::task::spawn_blocking(move || {
        let store = store::Store::open(&path)?;
        let plan = scan::scan(&store, &vars)?;
        Ok::<_, String>((store, plan))
    })
    .await
    .map_err(|e| invalid(format!("scan failed: {e}")))?
    .map_err(invalid)?;
    // The array is made and fitted exactly as for a NetCDF file.
    let target = NetcdfLoad {
        files: vec![job.store.clone()],
        array: job.array.clone(),
        options: crate::shell::netcdf::ScanOptions {
            vars: job.vars.clone(),
            allow_gaps: false,
        },
        chunks: job.chunks.clone(),
        layout: job.layout.clone(),
        renames: job.renames.clone(),
    };
    let source = job.store.display().to_string();
    load_plan(client, &target, plan, (source, t0), move |plan, tx, bar| {
        stream_store(&store, plan, tx, bar)
    })
    .await
}

/// Reads every variable in the Write call's order (variable after variable, time
/// ascending), a slab of time steps at a time.
fn stream_store(
    store: &store::Store,
    plan: &LoadPlan,
    tx: &tokio::sync::mpsc::Sender<WriteRequest>,
    bar: &indicatif::ProgressBar,
) -> Result<(), String> {
    let map = plan.map_cells();
    let steps_per_read = (SLAB_BYTES / (map * 8).max(1)).max(1) as u64;
    for (k, name) in plan.vars.iter().enumerate() {
        bar.set_message(format!("{} {name}", store.path.display()));
        let fail = |e: String| {
            format!(
                "{}: variable '{name}': {e} (nothing was written)",
                store.path.display()
            )
        };
        let array = store.array(name)?;
        let packing = store::packing(&array);
        let mut offset = 0u64;
        let mut t = 0u64;
        while t < plan.time_len {
            let end = (t + steps_per_read).min(plan.time_len);
            let region: Vec<std::ops::Range<u64>> = std::iter::once(t..end)
                .chain(plan.space.iter().map(|d| 0..d.len as u64))
                .collect();
            let raw = store::read_f64(&array, &region)
                .map_err(|e| fail(format!("time steps {t}..{end}: {e}")))?;
            let mut bytes = Vec::with_capacity(raw.len() * 4);
            packing.unpack(&raw, &mut bytes);
            drop(raw);
            super::load::send_blocks(tx, bar, k, &mut offset, &bytes)?;
            t = end;
        }
    }
    Ok(())
}
