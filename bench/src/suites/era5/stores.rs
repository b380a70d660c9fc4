//! The suite's arrayq stores: the cube in four layouts, each loaded once and kept
//! (with a marker of what was loaded) under the suite's data root.

use std::path::Path;

use anyhow::Result;
use arrayq_storage::{AsOf, Store};
use arrayq_workload::load::{self, Era5LoadOptions, BALANCED, MAP_TILES};
use arrayq_workload::{era5, Scale};
use serde::{Deserialize, Serialize};

use super::{MAIN, ROLLUP};
use crate::suites::storage::LEVEL;

/// One arrayq store of the suite: a directory holding array `era5` with these layouts.
pub(super) struct StoreDef {
    pub system: &'static str,
    pub dir: &'static str,
    pub layouts: Vec<(&'static str, [u64; 3])>,
    /// The array carries rollup `daily` (avg, min, max of t2m per UTC day), kept by
    /// every ingest commit.
    pub daily_rollup: bool,
}

pub(super) fn store_defs(scale: Scale) -> Vec<StoreDef> {
    let pen = load::pencils(scale);
    vec![
        StoreDef {
            system: MAIN,
            dir: "map+pencils",
            layouts: vec![("map", MAP_TILES), ("pencils", pen)],
            daily_rollup: false,
        },
        StoreDef {
            system: "arrayq map",
            dir: "map",
            layouts: vec![("map", MAP_TILES)],
            daily_rollup: false,
        },
        StoreDef {
            system: ROLLUP,
            dir: "map+daily",
            layouts: vec![("map", MAP_TILES)],
            daily_rollup: true,
        },
        StoreDef {
            system: "arrayq balanced",
            dir: "balanced",
            layouts: vec![("balanced", BALANCED)],
            daily_rollup: false,
        },
        StoreDef {
            system: "arrayq pencils",
            dir: "pencils",
            layouts: vec![("pencils", pen)],
            daily_rollup: false,
        },
    ]
}

/// What a load did, kept beside the store (its presence marks a complete load).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct LoadMarker {
    pub format_version: u32,
    pub scale: String,
    pub layouts: Vec<(String, [u64; 3])>,
    pub write_s: f64,
    pub total_s: f64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    pub stored_chunks: u64,
    /// Stored bytes of the rollups (beside `stored_bytes`, the layouts').
    #[serde(default)]
    pub rollup_bytes: u64,
    pub commits: usize,
    pub disk_bytes: u64,
    pub loaded_at: String,
}

/// Opens the store of `def` under `root`, loading it first unless a complete load
/// of the same scale and format is there. Returns the marker and whether it loaded.
pub(super) fn ensure_store(
    root: &Path,
    def: &StoreDef,
    scale: Scale,
) -> Result<(LoadMarker, bool)> {
    let dir = root.join(def.dir);
    let marker_path = root.join(format!("{}.json", def.dir));
    let want_layouts: Vec<(String, [u64; 3])> = def
        .layouts
        .iter()
        .map(|(n, s)| (n.to_string(), *s))
        .collect();
    if let Ok(text) = std::fs::read_to_string(&marker_path) {
        if let Ok(m) = serde_json::from_str::<LoadMarker>(&text) {
            if m.format_version == arrayq_storage::FORMAT_VERSION
                && m.scale == scale.to_string()
                && m.layouts == want_layouts
                && dir.is_dir()
            {
                let ok = Store::open(&dir)
                    .and_then(|s| s.snapshot("era5", AsOf::Latest).map(|snap| snap.shape()))
                    .map(|shape| shape[0] == era5::n_time(scale) as u64)
                    .unwrap_or(false);
                if ok {
                    return Ok((m, false));
                }
            }
        }
    }
    let _ = std::fs::remove_file(&marker_path);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let store = Store::open(&dir)?;
    // Multi-layout arrays in one slab: their pencils span every hour, so smaller
    // slabs would rewrite each pencil chunk once per slab.
    let n = era5::n_time(scale) as u64;
    let opts = Era5LoadOptions {
        progress: false,
        slab_cells: if def.layouts.len() > 1 {
            n * era5::MAP_CELLS as u64
        } else {
            load::DEFAULT_SLAB_CELLS
        },
        daily_rollup: def.daily_rollup,
    };
    let rep = load::load_era5_with(&store, "era5", scale, &def.layouts, LEVEL, &opts)?;
    store.flush()?;
    let disk = store.size_on_disk()?;
    drop(store);
    let m = LoadMarker {
        format_version: arrayq_storage::FORMAT_VERSION,
        scale: scale.to_string(),
        layouts: want_layouts,
        write_s: rep.write_time.as_secs_f64(),
        total_s: rep.total_time.as_secs_f64(),
        raw_bytes: rep.raw_bytes,
        stored_bytes: rep.stored_bytes,
        stored_chunks: rep.stored_chunks,
        rollup_bytes: rep.rollup_bytes,
        commits: rep.commits.len(),
        disk_bytes: disk,
        loaded_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    std::fs::write(&marker_path, serde_json::to_string_pretty(&m)?)?;
    Ok((m, true))
}
