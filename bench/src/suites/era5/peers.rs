//! The suite's Python peers and what each touches for a query (their files:
//! [`crate::suites::common::era5_files`]).

use arrayq_storage::Region;
use arrayq_workload::load::MAP_TILES;
use arrayq_workload::{era5, Scale};
use std::path::Path;

use crate::suites::common::files::dir_bytes;

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
