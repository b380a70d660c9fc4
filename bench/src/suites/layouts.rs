//! Suite `layouts`: one cube stored under several chunk shapes, and the reads that
//! favour each of them.
//!
//! Arrays (one store, on disk): `map` (map tiles `(1, 153, 281)`), `balanced`
//! (`(24, 64, 64)`), `pencils` (`(n_time, 8, 8)`), and `combined`, holding map tiles
//! and pencils, read through the layout the store picks (`Snapshot::best_layout`).
//!
//! Reads: the point series at lat 52, lon 5 (indices 80, 120), the map of hour
//! 14 x 24 + 12 (or the last hour at small scales), the box lat 50..54 x lon 3..8 over
//! all hours, and the full cube; each warm, with chunks and bytes read from
//! `ReadStats`.

use std::time::Instant;

use anyhow::{ensure, Result};
use arrayq_storage::{AsOf, Options, ReadOptions, ReadStats, Region, Store};
use arrayq_workload::era5;
use arrayq_workload::load::{self, Era5LoadOptions, BALANCED, MAP_TILES};

use super::storage::LEVEL;
use super::{Ctx, Suite};
use crate::measure::{time_runs, Timing};
use crate::results::{CaseResult, SuiteResult};

/// A layout as the loaders take it: name and chunk shape.
type NamedLayout = (&'static str, [u64; 3]);

/// The chunk-layout comparison.
pub struct Layouts;

impl Suite for Layouts {
    fn name(&self) -> &'static str {
        "layouts"
    }

    fn about(&self) -> &'static str {
        "point / map / box / full reads under map, balanced, pencil and combined layouts"
    }

    fn run(&self, ctx: &Ctx) -> Result<SuiteResult> {
        run(ctx)
    }
}

/// The reads of the suite: `(case name, region)` for a cube of `n` hours.
pub fn queries(n: usize) -> Vec<(String, Region)> {
    let n = n as u64;
    let hour = if 14 * 24 + 12 < n {
        14 * 24 + 12
    } else {
        n - 1
    };
    let lat = arrayq_storage::Coordinate::Regular {
        start: era5::LAT0,
        step: era5::LAT_STEP,
    };
    let lon = arrayq_storage::Coordinate::Regular {
        start: era5::LON0,
        step: era5::LON_STEP,
    };
    let (ni, nj) = (era5::N_LAT as u64, era5::N_LON as u64);
    let pi = lat.nearest(52.0, ni).expect("52N on the grid");
    let pj = lon.nearest(5.0, nj).expect("5E on the grid");
    let bi = lat.index_range(Some((50.0, true)), Some((54.0, true)), ni);
    let bj = lon.index_range(Some((3.0, true)), Some((8.0, true)), nj);
    vec![
        (
            "point series".into(),
            Region(vec![0..n, pi..pi + 1, pj..pj + 1]),
        ),
        (
            format!("map (hour {hour})"),
            Region(vec![hour..hour + 1, 0..ni, 0..nj]),
        ),
        ("box 50-54N 3-8E".into(), Region(vec![0..n, bi, bj])),
        ("full cube".into(), Region(vec![0..n, 0..ni, 0..nj])),
    ]
}

fn run(ctx: &Ctx) -> Result<SuiteResult> {
    let scale = ctx.scale;
    let n = era5::n_time(scale);
    let pen = load::pencils(scale);
    let arrays: Vec<(&str, Vec<NamedLayout>)> = vec![
        ("map", vec![("map", MAP_TILES)]),
        ("balanced", vec![("balanced", BALANCED)]),
        ("pencils", vec![("pencils", pen)]),
        ("combined", vec![("map", MAP_TILES), ("pencils", pen)]),
    ];
    let qs = queries(n);
    let mut res = ctx.result("layouts");
    let bar = ctx.bar((arrays.len() * (1 + qs.len())) as u64, "layouts: loading");
    let dir = ctx.temp_dir("arrayq-bench-layouts-")?;
    // A cache big enough for every array at S (4 x ~70 MB), so reads measure layouts
    // rather than evictions; at M the arrays exceed it and reads hit the OS page cache.
    let store = Store::open_with(
        dir.path(),
        Options {
            cache_bytes: 1 << 30,
            ..Options::default()
        },
    )?;
    let whole = (n * era5::MAP_CELLS) as u64;
    for (name, layouts) in &arrays {
        bar.set_message(format!("layouts: loading {name}"));
        // The combined array in one slab: its pencils span every hour, so smaller
        // slabs would rewrite each pencil chunk once per slab.
        let opts = Era5LoadOptions {
            progress: false,
            slab_cells: if layouts.len() > 1 {
                whole
            } else {
                load::DEFAULT_SLAB_CELLS
            },
            ..Default::default()
        };
        let t = Instant::now();
        let rep = load::load_era5_with(&store, name, scale, layouts, LEVEL, &opts)?;
        let secs = t.elapsed().as_secs_f64();
        res.cases.push(
            CaseResult::new(
                "ingest (1 run)",
                name,
                Timing::from_secs(vec![rep.write_time.as_secs_f64()]),
            )
            .bytes(rep.raw_bytes)
            .extra("commits", rep.commits.len() as f64)
            .extra("stored bytes", rep.stored_bytes as f64)
            .extra("chunks", rep.stored_chunks as f64),
        );
        res.metric(
            &format!("{name}: stored bytes"),
            rep.stored_bytes as f64,
            "B",
            &format!(
                "{} chunks of {:?}; loaded in {secs:.2} s incl. generation",
                rep.stored_chunks,
                layouts.iter().map(|l| l.1).collect::<Vec<_>>()
            ),
        );
        bar.inc(1);
    }
    store.flush()?;
    res.metric(
        "size on disk (all arrays)",
        store.size_on_disk()? as f64,
        "B",
        "after flush",
    );

    for (name, layouts) in &arrays {
        let snap = store.snapshot(name, AsOf::Latest)?;
        for (case, region) in &qs {
            bar.set_message(format!("layouts: {name} {case}"));
            // Single-layout arrays read through their layout; the combined one through
            // whatever the store picks.
            let layout = (layouts.len() == 1).then_some(0);
            let chosen = layout.unwrap_or_else(|| snap.best_layout(region));
            let opts = ReadOptions {
                layout,
                ..Default::default()
            };
            let (t, buf) = time_runs(ctx.runs, 1, || snap.read_with(0, region, opts))?;
            ensure!(
                buf.len() as u64 == region.len(),
                "{name} {case}: wrong size"
            );
            let stats = ReadStats::default();
            snap.read_with(
                0,
                region,
                ReadOptions {
                    stats: Some(&stats),
                    ..opts
                },
            )?;
            let (chunks, fill, read, decoded) = stats.get();
            ensure!(fill == 0, "{name} {case}: {fill} chunks never written");
            let system = if layouts.len() == 1 {
                name.to_string()
            } else {
                "combined (auto)".to_string()
            };
            let mut c = CaseResult::new(case, &system, t)
                .bytes(region.len() * 4)
                .extra("chunks", chunks as f64)
                .extra("read bytes", read as f64)
                .extra("decoded bytes", decoded as f64);
            if layouts.len() > 1 {
                c = c.extra("auto layout", chosen as f64);
                res.notes.push(format!(
                    "combined: {case} read through '{}' (chosen automatically)",
                    layouts[chosen].0
                ));
            }
            res.cases.push(c);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    res.notes.push(format!(
        "All arrays in one on-disk store (sled cache 1 GiB); reads warm (one untimed run \
         first). MB/s counts result bytes. pencils = {pen:?}. 'auto layout' = index of the \
         layout the combined array chose (0 map tiles, 1 pencils)."
    ));
    drop(store);
    drop(dir);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_regions() {
        let q = queries(744);
        assert_eq!(q[0].1, Region(vec![0..744, 80..81, 120..121]));
        assert_eq!(q[1].1 .0[0], 348..349);
        assert_eq!(q[2].1, Region(vec![0..744, 72..89, 112..133]));
        assert_eq!(queries(48)[1].1 .0[0], 47..48);
    }
}
