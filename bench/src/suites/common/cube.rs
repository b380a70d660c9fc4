//! The ERA5 cube of a scale, loaded once into a cache directory and reused by the
//! suites that serve it (`grpc`, and `memory` through them).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use arrayq_storage::Store;
use arrayq_workload::load::{self, Era5LoadOptions, MAP_TILES};
use arrayq_workload::{era5, Scale};

use crate::suites::storage::LEVEL;
use crate::suites::Ctx;

/// Name of the array the cube is stored as.
pub const ARRAY: &str = "era5";
/// Bumped when the cached store's content or format changes.
const CACHE_VERSION: u32 = 1;

/// The layouts of the suite (and of `arrayqd --demo`): map tiles, then pencils.
pub fn era5_layouts(scale: Scale) -> Vec<(&'static str, [u64; 3])> {
    vec![("maps", MAP_TILES), ("pencils", load::pencils(scale))]
}

/// A loaded cube in the cache.
#[derive(Clone, Debug)]
pub struct CachedCube {
    /// The store directory (do not serve it directly: copy it, see [`super::files::copy_dir`]).
    pub dir: PathBuf,
    /// Raw bytes of the cube (one f32 attribute).
    pub raw_bytes: u64,
    /// Stored chunk bytes of all layouts.
    pub stored_bytes: u64,
    /// Seconds the load took, when this call loaded it (None: reused).
    pub loaded_secs: Option<f64>,
}

/// The ERA5 cube of `ctx.scale` as array [`ARRAY`] with `layouts` (zstd level 3),
/// in `<cache-dir>/<key>` (`--cache-dir`, default `<tmp-dir>/arrayq-bench-cache`): loaded (in one slab, so each pencil
/// chunk is written once) on first use, reused afterwards. Loads go to a private
/// directory renamed into place, so concurrent runs do not see half a store.
/// Delete the cache directory to force a reload.
pub fn cached_era5(ctx: &Ctx, layouts: &[(&str, [u64; 3])]) -> Result<CachedCube> {
    let scale = ctx.scale;
    let shapes: Vec<String> = layouts
        .iter()
        .map(|(n, s)| format!("{n}{}x{}x{}", s[0], s[1], s[2]))
        .collect();
    // The store format is part of the key: a store of another format does not open.
    let key = format!(
        "{ARRAY}-{scale}-{}-z{LEVEL}-v{CACHE_VERSION}-f{}",
        shapes.join("-"),
        arrayq_storage::FORMAT_VERSION
    );
    let root = ctx
        .cache_dir
        .clone()
        .unwrap_or_else(|| ctx.tmp_dir.join("arrayq-bench-cache"));
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let dir = root.join(&key);
    let marker = |d: &Path| d.join("arrayq-bench-ready");
    let raw_bytes = (era5::n_time(scale) * era5::MAP_CELLS * 4) as u64;
    if let Ok(text) = std::fs::read_to_string(marker(&dir)) {
        let stored_bytes = text.trim().parse().unwrap_or(0);
        return Ok(CachedCube {
            dir,
            raw_bytes,
            stored_bytes,
            loaded_secs: None,
        });
    }
    let tmp = root.join(format!("{key}.loading-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let t = Instant::now();
    let stored_bytes = {
        let store = Store::open(&tmp).with_context(|| format!("opening {}", tmp.display()))?;
        let opts = Era5LoadOptions {
            progress: ctx.progress,
            slab_cells: (era5::n_time(scale) * era5::MAP_CELLS) as u64,
            ..Default::default()
        };
        let rep = load::load_era5_with(&store, ARRAY, scale, layouts, LEVEL, &opts)?;
        store.flush()?;
        rep.stored_bytes
    };
    std::fs::write(marker(&tmp), format!("{stored_bytes}\n"))?;
    // Another run may have finished first: keep its copy.
    if dir.exists() && marker(&dir).exists() {
        let _ = std::fs::remove_dir_all(&tmp);
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&tmp, &dir)
            .with_context(|| format!("moving {} to {}", tmp.display(), dir.display()))?;
    }
    Ok(CachedCube {
        dir,
        raw_bytes,
        stored_bytes,
        loaded_secs: Some(t.elapsed().as_secs_f64()),
    })
}
