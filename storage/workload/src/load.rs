//! Loading the reference workloads into an arrayq [`Store`]: the one place that
//! decides how the ERA5 cube and the energy portfolio are laid out and committed,
//! shared by the server's `--demo`, integration tests and the benchmarks.
//!
//! - [`era5_schema`] / [`load_era5`]: the `t2m` cube, written in slabs aligned to the
//!   chunk grid of its first layout, so memory stays bounded at scale M (1.5 GB raw).
//! - [`power_schema`] / [`load_energy`]: the `power` portfolio, one commit per ingest
//!   round, so version `r` of the array is "as known after round `r`" and
//!   `AS OF VERSION 2` reproduces [`energy::portfolio`]`(scale, Some(2))`.
//!
//! Both loaders show an [`indicatif`] progress bar on stderr when asked.

use std::ops::Range;
use std::time::{Duration, Instant};

use arrayq_storage::{
    ArraySchema, Attribute, Buffer, CodecChain, CommitInfo, Coordinate, DType, Dimension,
    IngestError, Layout, Result, Scalar, StorageError, Store,
};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{ArrayD, IxDyn};

use crate::{energy, era5, Scale};

pub use crate::plan::*;

/// Loads go through the store's ingest sink, like every write; the loaders' own data
/// always fits its array, so only storage errors are expected from it.
fn storage_error(e: IngestError) -> StorageError {
    match e {
        IngestError::Storage(e) => e,
        other => StorageError::ShapeMismatch(other.to_string()),
    }
}

/// The schema of an ERA5-like cube: dims `time` (hourly from 2023-01-01T00Z,
/// growable), `lat` (72.0 down to 34.0), `lon` (-25.0 to 45.0); attribute `t2m`
/// (`f32`, fill NaN); one layout per `(name, chunk shape)`, the first being primary,
/// each with byte shuffle + zstd at `zstd_level`.
pub fn era5_schema(
    name: &str,
    scale: Scale,
    layouts: &[(&str, [u64; 3])],
    zstd_level: i32,
) -> ArraySchema {
    ArraySchema {
        name: name.to_string(),
        dims: vec![
            Dimension {
                name: "time".into(),
                coord: Coordinate::Time {
                    start_ns: era5::TIME0_NS,
                    step_ns: era5::HOUR_NS,
                },
                len: era5::n_time(scale) as u64,
                growable: true,
            },
            Dimension {
                name: "lat".into(),
                coord: Coordinate::Regular {
                    start: era5::LAT0,
                    step: era5::LAT_STEP,
                },
                len: era5::N_LAT as u64,
                growable: false,
            },
            Dimension {
                name: "lon".into(),
                coord: Coordinate::Regular {
                    start: era5::LON0,
                    step: era5::LON_STEP,
                },
                len: era5::N_LON as u64,
                growable: false,
            },
        ],
        attrs: vec![Attribute::new(
            ERA5_ATTR,
            DType::F32,
            Some(Scalar::F64(f64::NAN)),
        )],
        layouts: layouts
            .iter()
            .map(|(n, shape)| {
                Layout::new(n, shape.to_vec(), CodecChain::shuffle_zstd(4, zstd_level))
            })
            .collect(),
        metadata: Default::default(),
    }
}

/// How [`load_era5_with`] loads.
#[derive(Clone, Debug)]
pub struct Era5LoadOptions {
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Upper bound of cells per slab (one slab = one commit); the slab is the
    /// largest block aligned to the first layout's chunk grid within this bound
    /// (never less than one chunk).
    pub slab_cells: u64,
    /// Adds rollup `daily` (avg, min, max of t2m per UTC day and cell) right after
    /// creating the array, so every slab's commit maintains it.
    pub daily_rollup: bool,
}

impl Default for Era5LoadOptions {
    fn default() -> Self {
        Era5LoadOptions {
            progress: false,
            slab_cells: DEFAULT_SLAB_CELLS,
            daily_rollup: false,
        }
    }
}

/// What a load did and how long it took.
#[derive(Clone, Debug)]
pub struct LoadReport {
    /// One per commit, in order (the create of version 0 excluded).
    pub commits: Vec<CommitInfo>,
    /// Cells written (one attribute).
    pub cells: u64,
    /// Raw bytes written (`cells * 4`).
    pub raw_bytes: u64,
    /// Stored bytes of all layouts at the head (compressed chunks + checksums, from
    /// the layout statistics).
    pub stored_bytes: u64,
    /// Stored chunks of all layouts at the head.
    pub stored_chunks: u64,
    /// Stored bytes of the rollups at the head (not in `stored_bytes`).
    pub rollup_bytes: u64,
    /// Encoded bytes the store wrote meanwhile, incl. rewrites of chunks that several
    /// slabs touch (store-wide counter: exact only without concurrent writers).
    pub bytes_written: u64,
    /// The slab shape used (time, lat, lon).
    pub slab: [u64; 3],
    /// Time spent generating values (not part of ingest).
    pub gen_time: Duration,
    /// Time spent in the store: staging writes and committing (encode, sled, fsync).
    pub write_time: Duration,
    /// Wall time of the whole load, array creation included.
    pub total_time: Duration,
}

impl LoadReport {
    /// Ingest throughput of the store alone: raw MB (10^6 bytes) per second of
    /// [`LoadReport::write_time`].
    pub fn write_mb_per_s(&self) -> f64 {
        self.raw_bytes as f64 / 1e6 / self.write_time.as_secs_f64()
    }
}

/// Creates array `name` with [`era5_schema`] and writes the whole cube of `scale`,
/// one commit per slab (see [`Era5LoadOptions::slab_cells`]). Slabs follow the
/// first layout's chunk grid, so its chunks are written once; other layouts whose
/// chunks span several slabs are read back and rewritten by each slab that touches
/// them (and keep one stored version per commit), so put the layout with the
/// largest chunks first when combining layouts, or use a bigger slab.
pub fn load_era5(
    store: &Store,
    name: &str,
    scale: Scale,
    layouts: &[(&str, [u64; 3])],
    zstd_level: i32,
    progress: bool,
) -> Result<LoadReport> {
    let opts = Era5LoadOptions {
        progress,
        ..Default::default()
    };
    load_era5_with(store, name, scale, layouts, zstd_level, &opts)
}

/// [`load_era5`] with explicit options.
pub fn load_era5_with(
    store: &Store,
    name: &str,
    scale: Scale,
    layouts: &[(&str, [u64; 3])],
    zstd_level: i32,
    opts: &Era5LoadOptions,
) -> Result<LoadReport> {
    let t_all = Instant::now();
    let schema = era5_schema(name, scale, layouts, zstd_level);
    let shape: [u64; 3] = [
        era5::n_time(scale) as u64,
        era5::N_LAT as u64,
        era5::N_LON as u64,
    ];
    let first: [u64; 3] = schema.layouts.first().map_or(MAP_TILES, |l| {
        [l.chunk_shape[0], l.chunk_shape[1], l.chunk_shape[2]]
    });
    let slab = plan_slab(shape, first, opts.slab_cells);
    let written_before = store
        .metrics()
        .bytes_written
        .load(std::sync::atomic::Ordering::Relaxed);
    store.create_array(schema)?;
    if opts.daily_rollup {
        let t2m = (ERA5_ATTR.to_string(), true, true, true);
        store.add_rollup(name, "daily", "time", &[t2m])?;
    }

    let total_bytes = shape.iter().product::<u64>() * 4;
    let bar = progress_bar(opts.progress, total_bytes, true);
    bar.set_message(format!("loading {name} ({scale})"));
    let (mut gen_time, mut write_time) = (Duration::ZERO, Duration::ZERO);
    let mut commits = Vec::new();
    let mut cells = 0u64;
    let (shape_u, slab_u) = (shape.map(|x| x as usize), slab.map(|x| x as usize));
    for t in steps(shape_u[0], slab_u[0]) {
        for i in steps(shape_u[1], slab_u[1]) {
            for j in steps(shape_u[2], slab_u[2]) {
                let g = Instant::now();
                let dims = [t.len(), i.len(), j.len()];
                let start = [t.start as u64, i.start as u64, j.start as u64];
                let values = era5::block(t.clone(), i.clone(), j);
                let data = ArrayD::from_shape_vec(IxDyn(&dims), values)
                    .expect("block has the slab's shape");
                gen_time += g.elapsed();

                let w = Instant::now();
                let n = data.len() as u64;
                let mut sink = store.ingest(name).map_err(storage_error)?;
                sink.write_owned(ERA5_ATTR, &start, Buffer::F32(data))
                    .map_err(storage_error)?;
                commits.push(sink.commit().map_err(storage_error)?);
                write_time += w.elapsed();
                cells += n;
                bar.inc(n * 4);
            }
        }
    }
    bar.finish_and_clear();
    let snap = store.snapshot(name, arrayq_storage::AsOf::Latest)?;
    let stats = &snap.meta().stats;
    let written_after = store
        .metrics()
        .bytes_written
        .load(std::sync::atomic::Ordering::Relaxed);
    Ok(LoadReport {
        commits,
        cells,
        raw_bytes: cells * 4,
        stored_bytes: stats.iter().map(|s| s.bytes).sum(),
        stored_chunks: stats.iter().map(|s| s.chunks).sum(),
        rollup_bytes: snap.meta().rollup_stats.iter().map(|s| s.bytes).sum(),
        bytes_written: written_after.saturating_sub(written_before),
        slab,
        gen_time,
        write_time,
        total_time: t_all.elapsed(),
    })
}

/// `0..n` cut into consecutive ranges of `step` (the last may be shorter).
fn steps(n: usize, step: usize) -> impl Iterator<Item = Range<usize>> {
    (0..n)
        .step_by(step.max(1))
        .map(move |s| s..(s + step).min(n))
}

fn progress_bar(show: bool, len: u64, bytes: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let template = if bytes {
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}"
    };
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("valid progress template")
            .progress_chars("=> "),
    );
    bar
}

/// The schema of the energy portfolio: dims `asset` (labels 1..=n_assets, growable)
/// and `time` (quarter-hours from 2022-12-31T23:00Z, growable, as many as the local
/// days of `scale` span); attribute `value` (`f32`, fill NaN); layout `rows` with
/// [`POWER_CHUNK`] chunks, shuffle + zstd level 3.
pub fn power_schema(name: &str, scale: Scale) -> ArraySchema {
    let (n_assets, _) = energy::sizes(scale);
    ArraySchema {
        name: name.to_string(),
        dims: vec![
            Dimension {
                name: "asset".into(),
                coord: Coordinate::Labels {
                    labels: (1..=n_assets as i64).collect(),
                },
                len: n_assets as u64,
                growable: true,
            },
            Dimension {
                name: "time".into(),
                coord: Coordinate::Time {
                    start_ns: energy::Q0_NS,
                    step_ns: energy::QUARTER_NS,
                },
                len: energy::n_quarters(scale) as u64,
                growable: true,
            },
        ],
        attrs: vec![Attribute::new(
            POWER_ATTR,
            DType::F32,
            Some(Scalar::F64(f64::NAN)),
        )],
        layouts: vec![Layout::new(
            "rows",
            POWER_CHUNK.to_vec(),
            CodecChain::shuffle_zstd(4, 3),
        )],
        metadata: Default::default(),
    }
}

/// How [`load_energy_with`] turns a round into writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnergyWrites {
    /// Every batch (one asset x one local day) is its own write in the round's
    /// transaction: what a real ingest does.
    PerBatch,
    /// Each round writes bands of whole asset rows as known after the round. The
    /// stored data of every version is identical to `PerBatch` (cells a round does
    /// not deliver keep their value), with far fewer writes per commit. Needed at
    /// scale M: the store's commit intersects every write with every touched chunk,
    /// so 1.8 M batch writes x 265 k chunks would not finish.
    AssetBands,
    /// `PerBatch` at XS and S, `AssetBands` at M.
    Auto,
}

/// How [`load_energy_with`] loads.
#[derive(Clone, Copy, Debug)]
pub struct EnergyLoadOptions {
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// How rounds become writes.
    pub writes: EnergyWrites,
}

/// Creates array `name` with [`power_schema`] and ingests every round of `scale`,
/// one commit per round (version `r` = after round `r`), each writing every batch of
/// the round at its asset and quarter range (see [`EnergyWrites::Auto`]).
pub fn load_energy(
    store: &Store,
    name: &str,
    scale: Scale,
    progress: bool,
) -> Result<Vec<CommitInfo>> {
    let opts = EnergyLoadOptions {
        progress,
        writes: EnergyWrites::Auto,
    };
    load_energy_with(store, name, scale, &opts)
}

/// [`load_energy`] with explicit options.
pub fn load_energy_with(
    store: &Store,
    name: &str,
    scale: Scale,
    opts: &EnergyLoadOptions,
) -> Result<Vec<CommitInfo>> {
    let writes = match opts.writes {
        EnergyWrites::Auto if scale == Scale::M => EnergyWrites::AssetBands,
        EnergyWrites::Auto => EnergyWrites::PerBatch,
        w => w,
    };
    let (n_assets, n_days) = energy::sizes(scale);
    let n_q = energy::n_quarters(scale);
    store.create_array(power_schema(name, scale))?;
    // Rounds deliver version r of every batch with at least r versions (at most 3).
    let max_v = (1..=n_assets as i64)
        .flat_map(|a| (0..n_days).map(move |d| energy::versions(a, d)))
        .max()
        .unwrap_or(0);
    let bar = progress_bar(opts.progress, (n_assets * max_v as usize) as u64, false);
    let mut commits = Vec::new();
    for r in 1..=max_v {
        bar.set_message(format!("loading {name} ({scale}) round {r}/{max_v}"));
        let mut sink = store.ingest(name).map_err(storage_error)?;
        match writes {
            EnergyWrites::PerBatch | EnergyWrites::Auto => {
                let mut last_asset = 0;
                for b in energy::round(scale, r) {
                    // A batch is one row: its values go in as one block, no array built.
                    let n = b.values.len() as u64;
                    let block = sink
                        .begin_block(POWER_ATTR, &[b.asset as u64 - 1, b.q0 as u64], &[1, n])
                        .map_err(storage_error)?;
                    sink.push_block(block, 0, bytemuck::cast_slice(&b.values))
                        .map_err(storage_error)?;
                    if b.asset != last_asset {
                        bar.inc(1);
                        last_asset = b.asset;
                    }
                }
            }
            EnergyWrites::AssetBands => {
                // About 4 M cells (16 MB) per write.
                let band = (4_000_000 / n_q.max(1)).max(1);
                for a0 in (0..n_assets).step_by(band) {
                    let a1 = (a0 + band).min(n_assets);
                    let touched = (a0..a1)
                        .any(|p| (0..n_days).any(|d| energy::versions(p as i64 + 1, d) >= r));
                    if touched {
                        let values = energy::rows(scale, a0..a1, Some(r));
                        let data = ArrayD::from_shape_vec(IxDyn(&[a1 - a0, n_q]), values)
                            .expect("rows have the band's shape");
                        sink.write_owned(POWER_ATTR, &[a0 as u64, 0], Buffer::F32(data))
                            .map_err(storage_error)?;
                    }
                    bar.inc((a1 - a0) as u64);
                }
            }
        }
        commits.push(sink.commit().map_err(storage_error)?);
        bar.set_position(r as u64 * n_assets as u64);
    }
    bar.finish_and_clear();
    Ok(commits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slabs_follow_the_chunk_grid() {
        let s = [744, 153, 281];
        assert_eq!(plan_slab(s, MAP_TILES, DEFAULT_SLAB_CELLS), [744, 153, 281]);
        assert_eq!(plan_slab(s, BALANCED, DEFAULT_SLAB_CELLS), [744, 153, 281]);
        let m = [8760, 153, 281];
        assert_eq!(plan_slab(m, MAP_TILES, DEFAULT_SLAB_CELLS), [744, 153, 281]);
        assert_eq!(plan_slab(m, BALANCED, DEFAULT_SLAB_CELLS), [744, 153, 281]);
        // Pencils over a year: whole timeseries, bands of 8 latitudes.
        assert_eq!(
            plan_slab(m, PENCILS_YEAR, DEFAULT_SLAB_CELLS),
            [8760, 8, 281]
        );
        // Never less than one chunk, even over budget.
        assert_eq!(plan_slab(m, PENCILS_YEAR, 10), [8760, 8, 8]);
        // Tiny budgets still align to the grid.
        assert_eq!(plan_slab(s, BALANCED, 24 * 153 * 281 * 2), [48, 153, 281]);
    }

    #[test]
    fn steps_cover_the_extent() {
        let v: Vec<_> = steps(10, 4).collect();
        assert_eq!(v, vec![0..4, 4..8, 8..10]);
    }
}
