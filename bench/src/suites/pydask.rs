//! Suite `pydask`: the era5 suite's Q1-Q6 as xarray + Dask code, run unchanged on
//! an arrayq server through the Python client's lazy `arrayq.open_array` and on the
//! era5 suite's Zarr v3 stores (map tiles and pencils) through `xr.open_zarr`.
//!
//! - **arrayq**: a release `arrayqd` on a copy of the cached cube (array `era5`,
//!   layouts `maps (1,153,281)` and `pencils (n,8,8)`, as `arrayqd --demo` and the
//!   grpc/reproj suites: [`cached_era5`]); `bench/peers/era5_peers.py --system
//!   arrayq-dask` opens it with `arrayq.open_array(addr, "era5", chunks="auto",
//!   layout=...)`: Dask blocks follow the stored chunks of the map-tile layout, or of
//!   the pencils (two systems). Every Dask task reads its block with one query; the
//!   server picks the layout per query.
//! - **xarray + Dask on Zarr**: the same script, `--system xarray-zarr`, on
//!   `zarr/maps.zarr` and `zarr/pencils.zarr` of the era5 suite's files
//!   (`open_zarr(chunks="auto")`).
//!
//! Both run the same `XarrayPeer` methods (era5_peers.py), Dask's threaded
//! scheduler with `--threads` workers, warm: one untimed run of each query, then
//! `--runs` timed ones, in [`ROUNDS`] rounds (every system once per round). Answers
//! are checked against the generator (as the era5 suite checks arrayq's).
//!
//! The Python client is installed into the peers' venv from `client/python`
//! (`pip install client/python`) when it is missing or its sources changed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use arrayq_workload::era5;
use serde_json::Value;

use super::common::answers::{compare, Answer, REL_TOL};
use super::common::arrayq::MAX_RESULT_BYTES;
use super::common::arrayqd::{ArrayqdOptions, ArrayqdProcess};
use super::common::cube::{cached_era5, era5_layouts};
use super::common::era5_files::ensure_peer_files;
use super::common::files::{copy_dir, data_root};
use super::common::peers::{first_line, run_peer, tail, timed_run_args, venv};
use super::era5::queries::{exact, queries, reference};
use super::{Ctx, Suite};
use crate::measure::{fmt_secs, Timing};
use crate::results::{CaseResult, SuiteResult};

/// The suite.
pub struct Pydask;

impl Suite for Pydask {
    fn name(&self) -> &'static str {
        "pydask"
    }

    fn about(&self) -> &'static str {
        "Q1-Q6 as xarray+Dask code: arrayq.open_array (Python client) vs xarray+Dask on Zarr v3 (maps, pencils), warm"
    }

    fn run(&self, ctx: &Ctx) -> Result<SuiteResult> {
        run(ctx)
    }
}

/// Rounds of every system's process (`--runs` timed runs of each query per round).
const ROUNDS: usize = 2;

/// `(system name, era5_peers.py --system, --layout)`; arrayq's first.
const SYSTEMS: [(&str, &str, &str); 4] = [
    ("arrayq open_array (map chunks)", "arrayq-dask", "maps"),
    (
        "arrayq open_array (pencil chunks)",
        "arrayq-dask",
        "pencils",
    ),
    ("xarray+zarr (map)", "xarray-zarr", "maps"),
    ("xarray+zarr (pencils)", "xarray-zarr", "pencils"),
];

fn run(ctx: &Ctx) -> Result<SuiteResult> {
    let scale = ctx.scale;
    let n = era5::n_time(scale);
    let qs = queries(n);
    let mut res = ctx.result("pydask");
    let (root, _tmp) = data_root(ctx, &format!("era5-{scale}"))?;
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs)?;
    let bar = ctx.bar((4 + ROUNDS * SYSTEMS.len()) as u64, "pydask: peers' venv");

    let (python, versions) = venv(ctx, &logs)?;
    let client = ensure_client(&python, &logs)?;
    res.notes.push(format!(
        "peer versions (setup_venv.sh): {versions}; arrayq Python client: {client}"
    ));
    bar.inc(1);
    bar.set_message("pydask: Zarr files");
    let files = ensure_peer_files(ctx, &python, &root, &logs)?;
    bar.inc(1);
    bar.set_message("pydask: reference answers");
    let refs = reference(scale, None)?;
    bar.inc(1);
    bar.set_message("pydask: arrayqd");
    let cube = cached_era5(ctx, &era5_layouts(scale))?;
    let work = ctx.temp_dir("arrayq-bench-pydask-")?;
    let served = work.path().join("served");
    copy_dir(&cube.dir, &served)?;
    let mut opts = ArrayqdOptions::for_ctx(ctx);
    opts.args = vec!["--max-result-bytes".into(), MAX_RESULT_BYTES.to_string()];
    let server = ArrayqdProcess::start(&served, &opts)?;
    let addr = server.addr().to_string();
    bar.inc(1);

    // system -> every round's peer output
    let mut outs: Vec<Vec<Value>> = SYSTEMS.iter().map(|_| Vec::new()).collect();
    for round in 0..ROUNDS {
        for (k, (name, system, layout)) in SYSTEMS.iter().enumerate() {
            bar.set_message(format!("pydask: {name}, round {}/{ROUNDS}", round + 1));
            let mut args: Vec<String> = vec![
                "--system".into(),
                system.to_string(),
                "--layout".into(),
                layout.to_string(),
            ];
            args.extend(timed_run_args(ctx));
            args.extend([
                "--cold".into(),
                "none".into(),
                "--dask-chunks".into(),
                "auto".into(),
            ]);
            if *system == "arrayq-dask" {
                args.extend(["--addr".into(), addr.clone()]);
            } else {
                args.extend(["--data".into(), files.dir.display().to_string()]);
            }
            let log = logs.join(format!("pydask-{system}-{layout}-{round}.log"));
            match run_peer(ctx, &python, "era5_peers.py", &args, &log) {
                Ok(v) => outs[k].push(v),
                Err(e) => {
                    eprintln!("pydask: {name} failed: {e:#}");
                    res.notes.push(format!(
                        "{name}, round {}: failed, not measured: {}",
                        round + 1,
                        first_line(&format!("{e:#}"))
                    ));
                }
            }
            bar.inc(1);
        }
    }
    drop(server);
    drop(work);
    bar.finish_and_clear();

    // Cases: every run of every round; answers against the generator.
    let mut medians: Vec<Vec<Option<f64>>> = vec![vec![None; qs.len()]; SYSTEMS.len()];
    for (k, (name, _, _)) in SYSTEMS.iter().enumerate() {
        if let Some(open) = outs[k].first().and_then(|v| v["open_s"].as_f64()) {
            res.metric(
                &format!("{name}: open"),
                open,
                "s",
                "opening the array / store (coordinates read, Dask graph not built)",
            );
        }
        for (j, q) in qs.iter().enumerate() {
            let secs: Vec<f64> = outs[k]
                .iter()
                .filter_map(|v| v["queries"][q.id]["times_s"].as_array())
                .flatten()
                .filter_map(Value::as_f64)
                .collect();
            if secs.is_empty() {
                continue;
            }
            let t = Timing::from_secs(secs);
            let mut c = CaseResult::new(q.id, name, t.clone()).bytes(q.region.len() * 4);
            let mut ok = true;
            for v in &outs[k] {
                let got = Answer::from_digest(&v["queries"][q.id]["answer"]);
                let err = match got {
                    Ok(a) => compare(&a, &refs[q.id], exact(q.id), REL_TOL).err(),
                    Err(e) => Some(format!("{e:#}")),
                };
                if let Some(e) = err {
                    ok = false;
                    res.notes.push(format!(
                        "WRONG ANSWER: {name} {} vs the generator: {e}",
                        q.id
                    ));
                }
            }
            if ok {
                medians[k][j] = Some(t.median_s);
            } else {
                c = c.extra("wrong answer", 1.0);
            }
            res.cases.push(c);
        }
    }
    // Ratios to the best Zarr layout of each query.
    let n_arrayq = SYSTEMS.iter().filter(|s| s.1 == "arrayq-dask").count();
    let mut table = String::from(
        "Median warm time per query (ratio = time / the best xarray+zarr layout's time of the query):\n\n| query |",
    );
    for (name, _, _) in SYSTEMS {
        table.push_str(&format!(" {name} |"));
    }
    table.push_str(" best Zarr | best arrayq / best Zarr |\n| --- |");
    for _ in 0..SYSTEMS.len() + 2 {
        table.push_str(" ---: |");
    }
    table.push('\n');
    for (j, q) in qs.iter().enumerate() {
        let best = |r: std::ops::Range<usize>| {
            r.filter_map(|k| medians[k][j].map(|m| (m, k)))
                .min_by(|a, b| a.0.total_cmp(&b.0))
        };
        let zarr = best(n_arrayq..SYSTEMS.len());
        let aq = best(0..n_arrayq);
        table.push_str(&format!("| {} |", q.id));
        for k in 0..SYSTEMS.len() {
            let cell = match (medians[k][j], zarr) {
                (Some(m), Some((z, _))) => format!("{} ({:.2}x)", fmt_secs(m), m / z),
                (Some(m), None) => fmt_secs(m),
                (None, _) if res.find(q.id, SYSTEMS[k].0).is_some() => "WRONG".into(),
                (None, _) => String::new(),
            };
            table.push_str(&format!(" {cell} |"));
        }
        match (aq, zarr) {
            (Some((a, _)), Some((z, zk))) => table.push_str(&format!(
                " {} ({}) | {:.2} |\n",
                fmt_secs(z),
                SYSTEMS[zk].2,
                a / z
            )),
            _ => table.push_str(" | |\n"),
        }
        for k in 0..SYSTEMS.len() {
            if let (Some(m), Some((z, _))) = (medians[k][j], zarr) {
                if let Some(c) = res
                    .cases
                    .iter_mut()
                    .find(|c| c.case == q.id && c.system == SYSTEMS[k].0)
                {
                    c.extra
                        .insert("ratio".into(), (m / z * 1000.0).round() / 1000.0);
                }
            }
        }
    }
    res.tables.push(table);
    res.notes.push(format!(
        "Every system runs era5_peers.py's XarrayPeer (the era5 suite's xarray code of Q1-Q6) on \
         a DataArray t2m: `arrayq.open_array(ADDR, \"era5\", chunks=\"auto\", layout=maps|pencils)` \
         against the release arrayqd ({} threads, the cube with layouts maps (1,153,281) and pencils \
         ({n},8,8)), or `xr.open_zarr(store, chunks=\"auto\")` on the era5 suite's Zarr v3 stores \
         (zstd 3). Dask threaded scheduler, {} workers. Warm: one untimed run of each query, then \
         {} timed, in {ROUNDS} rounds (every system's process once per round); medians over all \
         timed runs. Answers checked against the generator (exact float32 for Q1/Q2, relative \
         {REL_TOL:e} otherwise).",
        ctx.threads, ctx.threads, ctx.runs
    ));
    if let Some(s) = cube.loaded_secs {
        res.notes.push(format!(
            "Cube loaded into the cache in {s:.1} s (reused by later runs)."
        ));
    }
    drop(_tmp);
    Ok(res)
}

/// Installs the Python client (`pip install client/python`) into the venv of
/// `python` unless the installed one was built from the same sources; returns its
/// version.
fn ensure_client(python: &Path, logs: &Path) -> Result<String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let src = repo.join("client").join("python");
    let mut h = crc32fast::Hasher::new();
    let mut inputs: Vec<PathBuf> = vec![
        src.join("pyproject.toml"),
        repo.join("proto")
            .join("arrayq")
            .join("v1")
            .join("arrayq.proto"),
    ];
    for d in [src.join("arrayq"), src.join("_build")] {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
            .with_context(|| format!("reading {}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        v.sort();
        inputs.extend(v);
    }
    for p in &inputs {
        h.update(&std::fs::read(p).with_context(|| format!("reading {}", p.display()))?);
    }
    let want = format!("{:08x}", h.finalize());
    let venv_dir = python
        .parent()
        .and_then(Path::parent)
        .context("the venv of the peers' python")?;
    let marker = venv_dir.join(".arrayq-client.crc32");
    let version = || -> Result<String> {
        let out = Command::new(python)
            .args([
                "-c",
                "import arrayq, importlib.metadata as m; print(m.version('arrayq'))",
            ])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            bail!("{}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(want.as_str()) {
        if let Ok(v) = version() {
            return Ok(v);
        }
    }
    let log = logs.join("pip-install-arrayq.log");
    let status = Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(&src)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::options().append(true).open(&log)?)
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!(
            "pip install {} failed; {}:\n{}",
            src.display(),
            log.display(),
            tail(&std::fs::read_to_string(&log).unwrap_or_default(), 15)
        );
    }
    std::fs::write(&marker, &want)?;
    version()
}
