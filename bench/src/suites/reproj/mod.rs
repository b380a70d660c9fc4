//! Suite `reproj`: Q7 of the workload, maps of the ERA5 cube reprojected onto a
//! 10 km transverse Mercator grid with bilinear interpolation, by arrayq and by the
//! tools a user would otherwise reach for, in the same run on the same data.
//!
//! `SELECT t2m FROM reproject(era5, crs => '+proj=tmerc +lon_0=15 +datum=WGS84',
//! resolution => 10000, bounds => (-2020000, 4040000, 1400000, 7450000), method =>
//! 'bilinear') WHERE time = '2023-01-15T12:00:00Z'`: one map of 341 x 342 cells
//! (y from the top, x), and the same for the 168 hourly maps of 2023-01-15 ..
//! 2023-01-21 (`time >= ... AND time < ...`). At XS (48 hours) the window is the
//! first 48 hours.
//!
//! 1. **arrayq**: a release `arrayqd` on a copy of the cached cube
//!    ([`cached_era5`], map tiles + pencils), the Rust client over loopback, the
//!    whole result received. The first query after the start computes the transform
//!    and is reported apart ("first map (transform computed)"); then warm medians of
//!    `--runs`. The smooth field is stored as array `smooth` through `CreateArray`
//!    and `Write`, and reprojected the same way.
//! 2. **Peers** (`bench/peers/reproj_peers.py`): pyproj + scipy `map_coordinates`,
//!    GDAL's `reproject` (rasterio, approximate transformer by default) and a GDAL
//!    WarpedVRT with tolerance 1e-6 (exact), on the same maps from the generator.
//! 3. **Accuracy**: every system's bilinear result on f = sin(2 lat) cos(lon)
//!    against f at the target cell centres (float64, pyproj), max and RMS error over
//!    the cells every system has a value for; arrayq's maps checked against
//!    pyproj + scipy's.
//!
//! Both sides run in [`ROUNDS`] rounds (arrayq's `--runs`, then a peer process's),
//! the server up throughout; a ratio is the median of the per-round ratios.
//!
//! Targets: arrayq one map under 10 ms warm and the week under 0.25 s, both faster
//! than GDAL's default `reproject`, with a max error no worse than GDAL exact's.
//! Until `arrayqd` knows `reproject(...)` the query fails; the failure is in the
//! notes, the targets fail, and the peers are measured all the same.

mod data;
mod report;
mod server;

use anyhow::Result;

use super::common::cube::{cached_era5, era5_layouts};
use super::common::files::{copy_dir, data_root};
use super::common::peers::{first_line, run_peer, venv};
use super::{Ctx, Suite};
use crate::results::SuiteResult;
use data::Window;

/// Rounds of arrayq's and the peers' timed runs (`--runs` each per round).
const ROUNDS: usize = 3;

/// The array the cube is served as.
pub(crate) const ARRAY: &str = super::common::cube::ARRAY;

/// The suite.
pub struct Reproj;

impl Suite for Reproj {
    fn name(&self) -> &'static str {
        "reproj"
    }

    fn about(&self) -> &'static str {
        "Q7 reprojection to a 10 km tmerc grid: arrayq vs pyproj+scipy and GDAL warp, one map and a week, with accuracy"
    }

    fn run(&self, ctx: &Ctx) -> Result<SuiteResult> {
        run(ctx)
    }
}

fn run(ctx: &Ctx) -> Result<SuiteResult> {
    let scale = ctx.scale;
    let w = Window::of(scale);
    let mut res = ctx.result("reproj");
    let (root, _tmp) = data_root(ctx, &format!("reproj-{scale}"))?;
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs)?;
    let bar = ctx.bar(5, "reproj: peers' venv");

    // Python first: if it cannot be set up, fail before the long part.
    let python = if ctx.skip_peers {
        None
    } else {
        let (py, versions) = venv(ctx, &logs)?;
        println!("peer versions: {versions}");
        Some(py)
    };
    bar.inc(1);

    bar.set_message("reproj: cube");
    let cube = cached_era5(ctx, &era5_layouts(scale))?;
    if let Some(s) = cube.loaded_secs {
        res.notes.push(format!(
            "Cube loaded into the cache in {s:.1} s (reused by later runs)."
        ));
    }
    let work = ctx.temp_dir("arrayq-bench-reproj-")?;
    let served = work.path().join("served");
    copy_dir(&cube.dir, &served)?;
    bar.inc(1);

    // The server stays up across the rounds; each round times arrayq, then the
    // peers, so a change of background load hits both sides of a ratio alike.
    bar.set_message("reproj: arrayq");
    let aq = server::Arrayq::start(ctx, &served)?;
    let mut run = aq.prepare(&w, &root)?;
    if let Some(e) = &run.error {
        eprintln!("reproj: arrayq's query failed: {}", first_line(e));
    }
    if python.is_some() {
        data::write_peer_inputs(&root, &w)?;
    }
    bar.inc(1);
    let mut peers = Vec::new();
    for round in 0..ROUNDS {
        bar.set_message(format!("reproj: round {}/{ROUNDS}", round + 1));
        if run.error.is_none() {
            aq.round(ctx.runs, &w, &mut run)?;
        }
        if let Some(py) = &python {
            let args = peer_args(ctx, &w, &root, (round == 0).then_some(&run.written));
            let log = logs.join(format!("reproj_peers-{round}.log"));
            peers.push(run_peer(ctx, py, "reproj_peers.py", &args, &log)?);
        }
    }
    drop(aq);
    drop(work);
    bar.inc(1);
    report::finish(&mut res, ctx, &w, &run, &peers);
    if ctx.skip_peers {
        res.notes.push(
            "--skip-peers: arrayq alone; no accuracy figures or answer checks (they need \
             pyproj)."
                .into(),
        );
    }
    bar.finish_and_clear();
    drop(_tmp);
    Ok(res)
}

/// reproj_peers.py's arguments; `arrayq`: the answers arrayq wrote, to check.
fn peer_args(
    ctx: &Ctx,
    w: &Window,
    root: &std::path::Path,
    arrayq: Option<&Vec<&'static str>>,
) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--src".into(),
        root.join("src.npy").display().to_string(),
        "--smooth".into(),
        root.join("smooth.npy").display().to_string(),
        "--one-index".into(),
        w.one_index().to_string(),
        "--runs".into(),
        ctx.runs.to_string(),
        "--threads".into(),
        ctx.threads.to_string(),
        "--crs".into(),
        data::CRS.into(),
        "--res".into(),
        data::RES.to_string(),
        // One argument: the value starts with a minus sign.
        format!("--bounds={}", data::BOUNDS.map(|b| b.to_string()).join(",")),
    ];
    for (flag, file) in [
        ("--arrayq-one", server::ONE_NPY),
        ("--arrayq-maps", server::MAPS_NPY),
        ("--arrayq-smooth", server::SMOOTH_NPY),
    ] {
        if arrayq.is_some_and(|written| written.contains(&file)) {
            args.extend([flag.to_string(), root.join(file).display().to_string()]);
        }
    }
    args
}
