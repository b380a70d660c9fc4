//! The reference workloads' names, chunk shapes and write plans: what a loader needs
//! to know without a store (the shell's `arrayq demo` writes over gRPC with these;
//! [`crate::load`] writes into an embedded store).

use crate::{era5, Scale};

/// Name of the cube's only attribute (2 m temperature, kelvin).
pub const ERA5_ATTR: &str = "t2m";
/// Name of the portfolio's only attribute (power, MW).
pub const POWER_ATTR: &str = "value";

/// One whole map per chunk `(1, 153, 281)`: the layout of an ERA5 download (one
/// hour per field); cheap maps and full scans, expensive point timeseries.
pub const MAP_TILES: [u64; 3] = [1, era5::N_LAT as u64, era5::N_LON as u64];
/// Day x 64 x 64 boxes `(24, 64, 64)`: a compromise between maps and timeseries.
pub const BALANCED: [u64; 3] = [24, 64, 64];
/// Lat/lon extent of a pencil chunk (see [`pencils`]).
pub const PENCIL_SIDE: u64 = 8;
/// Pencils over a whole year `(8760, 8, 8)`: one chunk holds the full timeseries of
/// 64 cells. At scales shorter than a year prefer [`pencils`], which does not pad.
pub const PENCILS_YEAR: [u64; 3] = [8760, PENCIL_SIDE, PENCIL_SIDE];

/// Pencils spanning the whole time extent of `scale`: `(n_time, 8, 8)`.
pub fn pencils(scale: Scale) -> [u64; 3] {
    [era5::n_time(scale) as u64, PENCIL_SIDE, PENCIL_SIDE]
}

/// Cells per ERA5 slab by default: a month of maps (744 x 153 x 281, 128 MB of
/// `f32`), so one commit at scale S and twelve at M.
pub const DEFAULT_SLAB_CELLS: u64 = 744 * era5::MAP_CELLS as u64;

/// The largest block aligned to `chunk` (whole chunks, or the whole extent) with at
/// most `budget` cells, grown innermost dimension first (lon, then lat, then time)
/// so slabs are contiguous runs of maps whenever possible. Never less than one chunk.
pub fn plan_slab(shape: [u64; 3], chunk: [u64; 3], budget: u64) -> [u64; 3] {
    let mut ext: [u64; 3] = std::array::from_fn(|d| chunk[d].clamp(1, shape[d].max(1)));
    for d in (0..3).rev() {
        let others: u64 = (0..3).filter(|&e| e != d).map(|e| ext[e]).product();
        if shape[d] * others <= budget {
            ext[d] = shape[d].max(1);
        } else {
            let k = (budget / (others * chunk[d].max(1))).max(1);
            ext[d] = (k * chunk[d]).min(shape[d]).max(ext[d]);
        }
    }
    ext
}

/// Chunk shape of the portfolio: one asset x one local week `(1, 672)` of quarters.
///
/// Why: E1/E4 (100 scattered assets x one week) and E3 (10 assets x the whole span)
/// select a few *rows*, so a chunk must not hold other assets, or reads decode
/// mostly unwanted data (a day of all 5000 assets per chunk would decode 50x too
/// much for E1 and the whole cube for E3). A week (2.7 KB raw) keeps chunks large
/// enough for the scans of E2 (all assets x a month: 5 chunks per asset) and the
/// per-asset ingest batches (a day) fill a chunk within one round; a later round
/// rewrites only the asset-weeks that received a new version.
pub const POWER_CHUNK: [u64; 2] = [1, 96 * 7];

/// The `CREATE ARRAY` statement of the ERA5-like cube with one layout `layout` of
/// chunk shape `chunk`: the same schema as `load::era5_schema` gives, for programs
/// that create the array over a connection.
pub fn era5_create_sql(
    name: &str,
    scale: Scale,
    layout: &str,
    chunk: [u64; 3],
    zstd_level: i32,
) -> String {
    format!(
        "CREATE ARRAY {name} (\n  \
         time TIMESTAMP START '{start}' STEP '1 hour' LENGTH {nt} GROWABLE,\n  \
         lat DOUBLE START {lat0:?} STEP {dlat:?} LENGTH {nlat},\n  \
         lon DOUBLE START {lon0:?} STEP {dlon:?} LENGTH {nlon},\n  \
         {attr} REAL FILL NaN\n\
         ) WITH (chunks = ({c0}, {c1}, {c2}), zstd_level = {zstd_level}, layout = {layout})",
        start = arrayq_format::time::format_unix_ns(era5::TIME0_NS),
        nt = era5::n_time(scale),
        lat0 = era5::LAT0,
        dlat = era5::LAT_STEP,
        nlat = era5::N_LAT,
        lon0 = era5::LON0,
        dlon = era5::LON_STEP,
        nlon = era5::N_LON,
        attr = ERA5_ATTR,
        c0 = chunk[0],
        c1 = chunk[1],
        c2 = chunk[2],
    )
}
