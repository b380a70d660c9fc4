//! Suite `energy`: the energy queries E1-E4 of the workload README on the `power`
//! portfolio, answered by arrayq and by PostgreSQL.
//!
//! **arrayq** loads the portfolio through its own write path,
//! [`arrayq_workload::load::load_energy`]: one transaction per ingest round (round
//! `r` delivers version `r` of every batch that has one), each batch of one asset x
//! one local day its own write at scales XS and S, so version 2 of the array is
//! "as known after round 2" and E4 is `AS OF VERSION 2`. The load runs into a fresh
//! durable store every time (it is the ingest case). Queries run in-process
//! ([`arrayq_query::Engine`]) and over gRPC (the server in-process on 127.0.0.1).
//!
//! **PostgreSQL** (`bench/peers/energy_pg.py`, a cluster it starts itself: kept in
//! `<cache-dir>/energy-<scale>/pg/` with `--cache-dir`, else a throwaway one): the
//! harness streams every version of every batch from the Rust generator to the
//! script's stdin as binary `COPY` data (`src/suites/pgcopy.rs`); the script loads
//! it into three table layouts (one row per value with a primary key; one `real[]`
//! or `double precision[]` per asset, local day and version) and runs E1-E4
//! newest-version-first (`DISTINCT ON`), E4 with `version <= 2`. At scale M the row
//! layout (350 M rows) runs only if a measured sample says its load fits the time
//! and disk budget; the note gives the figures either way.
//!
//! **Answers** are checked before timing counts: arrayq's against the generator
//! (float64 sums of [`arrayq_workload::energy::portfolio`]), PostgreSQL's and gRPC's
//! against arrayq in-process, relative tolerance 1e-5. A wrong answer is marked and
//! not ranked.
//!
//! Cold runs: arrayq evicts its store files from the page cache
//! (`posix_fadvise(DONTNEED)`) and reopens the store; PostgreSQL restarts the server
//! (empty shared buffers) and evicts its data directory the same way.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use arrayq_storage::Store;
use arrayq_workload::{energy, load, Scale};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::common::answers::{close, compare, Answer, REL_TOL};
use super::common::arrayq::{measure_grpc, measure_store, Measured};
use super::common::files::data_root;
use super::common::iso;
use super::common::peers::{last_json, peer_timing, peers_dir, tail, venv};
use super::common::tables::pivot;
use super::pgcopy::{self, Layout};
use super::{Ctx, Suite};
use crate::measure::{fmt_bytes, Timing};
use crate::results::{CaseResult, SuiteResult};

/// The energy query suite.
pub struct Energy;

impl Suite for Energy {
    fn name(&self) -> &'static str {
        "energy"
    }

    fn about(&self) -> &'static str {
        "E1-E4: arrayq (write path round by round, in-process and gRPC) vs PostgreSQL rows, real[] and float8[]"
    }

    fn run(&self, ctx: &Ctx) -> Result<SuiteResult> {
        run(ctx)
    }
}

const MAIN: &str = "arrayq";
const GRPC: &str = "arrayq (gRPC)";
/// energy_pg.py's system names, in the order shown.
const PG: [&str; 3] = ["postgres-rows", "postgres-real[]", "postgres-float8[]"];

/// The windows of the queries, as UTC quarter ranges, and E1/E4's asset ids.
struct Windows {
    ids: Vec<usize>,
    week: (usize, usize),
    month: (usize, usize),
    n_days: usize,
    e3_assets: usize,
}

fn windows(scale: Scale) -> Windows {
    let (n_assets, n_days) = energy::sizes(scale);
    let days = energy::local_days(n_days);
    // Local week Jan 9-15 (every day when there are fewer than 15), as energy_pg.py.
    let week = if days.len() >= 15 {
        &days[8..15]
    } else {
        &days[..]
    };
    let month = &days[..days.len().min(31)];
    let span = |d: &[(usize, usize)]| (d[0].0, d[d.len() - 1].0 + d[d.len() - 1].1);
    Windows {
        ids: (1..=n_assets).step_by(50).collect(),
        week: span(week),
        month: span(month),
        n_days,
        e3_assets: n_assets.min(10),
    }
}

fn queries(w: &Windows) -> Vec<(&'static str, String)> {
    let ids: Vec<String> = w.ids.iter().map(|a| a.to_string()).collect();
    let range = |(a, b): (usize, usize)| {
        format!(
            "time >= '{}' AND time < '{}'",
            iso(energy::ts_ns(a)),
            iso(energy::ts_ns(b))
        )
    };
    let e1 = format!(
        "SELECT sum(value) FROM power WHERE asset IN ({}) AND {} GROUP BY time",
        ids.join(", "),
        range(w.week)
    );
    vec![
        ("E1", e1.clone()),
        (
            "E2",
            format!(
                "SELECT sum(value) FROM power WHERE {} GROUP BY time",
                range(w.month)
            ),
        ),
        (
            "E3",
            format!(
                "SELECT sum(value * 0.25) AS mwh FROM power WHERE asset BETWEEN 1 AND {} \
                 GROUP BY asset, date_trunc('day', time, 'Europe/Amsterdam')",
                w.e3_assets
            ),
        ),
        (
            "E4",
            e1.replacen("FROM power", "FROM power AS OF VERSION 2", 1),
        ),
    ]
}

/// E1-E4 from the generator, float64 sums.
fn reference(scale: Scale, w: &Windows) -> BTreeMap<&'static str, Answer> {
    let newest = energy::portfolio(scale, None);
    let mut out = BTreeMap::new();
    let series = |rows: &dyn Fn(usize) -> Vec<f32>, assets: &[usize], (q0, q1): (usize, usize)| {
        let mut s = vec![0f64; q1 - q0];
        for &a in assets {
            let r = rows(a);
            for (x, &v) in s.iter_mut().zip(&r[q0..q1]) {
                *x += v as f64;
            }
        }
        Answer::from_values(vec![q1 - q0], s)
    };
    let row_newest = |a: usize| newest.row(a - 1).to_vec();
    let row_v2 = |a: usize| energy::rows(scale, a - 1..a, Some(2));
    out.insert("E1", series(&row_newest, &w.ids, w.week));
    let all: Vec<usize> = (1..=newest.nrows()).collect();
    out.insert("E2", series(&row_newest, &all, w.month));
    let days = energy::local_days(w.n_days);
    let mut e3 = Vec::new();
    for a in 1..=w.e3_assets {
        let r = newest.row(a - 1);
        for &(q0, n) in &days {
            e3.push(r.iter().skip(q0).take(n).map(|&v| v as f64).sum::<f64>() * 0.25);
        }
    }
    out.insert("E3", Answer::from_values(vec![w.e3_assets, days.len()], e3));
    out.insert("E4", series(&row_v2, &w.ids, w.week));
    out
}

/// Whether PostgreSQL's server binaries are there the way energy_pg.py looks for
/// them: `pg_config --bindir`, `/usr/lib/postgresql/*/bin`, or `initdb` on PATH.
fn postgres_found() -> bool {
    let bindir = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if bindir.is_some_and(|d| d.join("initdb").exists()) {
        return true;
    }
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .any(|e| e.path().join("bin").join("initdb").exists())
        })
        .unwrap_or(false);
    debian
        || std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("initdb").exists()))
}

/// Makes sure the PostgreSQL server is installed: on a fresh Debian machine, as root,
/// installs the `postgresql` package with apt-get (energy_pg.py then runs its own
/// throwaway cluster); elsewhere says what is missing.
fn ensure_postgres(log_dir: &Path) -> Result<()> {
    if postgres_found() {
        return Ok(());
    }
    extern "C" {
        fn geteuid() -> u32;
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { geteuid() } == 0;
    let apt = Path::new("/usr/bin/apt-get").exists();
    ensure!(
        root && apt,
        "PostgreSQL's server binaries (initdb) are not installed: install them (Debian: \
         apt-get install postgresql) or run with --skip-peers"
    );
    eprintln!("energy: installing PostgreSQL (apt-get install postgresql)...");
    let log = log_dir.join("apt-get.log");
    let apt_get = |args: &[&str]| -> Result<bool> {
        Ok(Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)?,
            )
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)?,
            )
            .status()?
            .success())
    };
    let install = ["install", "-y", "--no-install-recommends", "postgresql"];
    if !apt_get(&install)? {
        apt_get(&["update"])?;
        ensure!(
            apt_get(&install)?,
            "apt-get install postgresql failed; see {}",
            log.display()
        );
    }
    ensure!(
        postgres_found(),
        "PostgreSQL was installed but initdb is still not found"
    );
    Ok(())
}

/// What the PostgreSQL tables hold, recorded in the cached cluster's `loaded.json`;
/// a cluster recorded with anything else is rebuilt. Change it when the generator or
/// the streams ([`pgcopy`]) change.
const PG_DATA: &str = "energy portfolio: every version of every batch, rows in ingest order, \
                       arrays by asset/day/version (stream format 1)";
/// Assets of the row-layout sample loaded at scale M (1/50 of the portfolio) to
/// measure the load rate and bytes per row before deciding on the full table.
const ROWS_SAMPLE_ASSETS: usize = 100;
/// The full row layout runs at M only if its extrapolated load takes at most this
/// long (half of the 30 minutes the whole suite may take at M) ...
const ROWS_M_MAX_LOAD_S: f64 = 900.0;
/// ... and leaves this much disk free (the machine is shared).
const DISK_RESERVE: u64 = 8 << 30;

fn data_id(scale: Scale) -> String {
    format!("{PG_DATA}; scale {scale}")
}

/// Free bytes of the file system holding `path` (`df`, as std has no statvfs).
fn free_bytes(path: &Path) -> Option<u64> {
    let out = Command::new("df").arg("-Pk").arg(path).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kb: u64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Runs energy_pg.py on the generator's streams: `layouts` are queried (unless
/// `queries` is false: load only), asset ids `1..=n_assets`. With `cluster`, the
/// cluster lives there and the layouts its `loaded.json` records for this data are
/// not loaded again.
#[allow(clippy::too_many_arguments)]
fn pg_peer(
    ctx: &Ctx,
    py: &Path,
    log: &Path,
    cluster: Option<&Path>,
    layouts: &[Layout],
    n_assets: usize,
    queries: bool,
    mp: &MultiProgress,
) -> Result<serde_json::Value> {
    let scale = ctx.scale;
    let id = data_id(scale);
    let mut to_load: Vec<Layout> = layouts.to_vec();
    if let Some(dir) = cluster {
        let marker: Option<serde_json::Value> = std::fs::read(dir.join("loaded.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        match marker {
            Some(m) if m["data"].as_str() == Some(id.as_str()) => {
                to_load.retain(|l| m["layouts"].get(l.name()).is_none());
            }
            _ if dir.exists() => {
                eprintln!("energy: {} holds other data; rebuilding it", dir.display());
                std::fs::remove_dir_all(dir)?;
            }
            _ => {}
        }
    }
    let names = |ls: &[Layout]| ls.iter().map(|l| l.name()).collect::<Vec<_>>().join(",");
    let mut args: Vec<String> = vec![
        "--stdin-copy".into(),
        "--scale".into(),
        scale.to_string(),
        "--layouts".into(),
        names(layouts),
        "--load".into(),
        names(&to_load),
        "--runs".into(),
        (ctx.runs + 1).to_string(),
        "--threads".into(),
        ctx.threads.to_string(),
        "--cold".into(),
        "first".into(),
        "--evict".into(),
        "fadvise".into(),
        "--tmp-dir".into(),
        ctx.tmp_dir.display().to_string(),
        "--data-id".into(),
        id,
    ];
    if let Some(dir) = cluster {
        args.extend(["--cluster-dir".into(), dir.display().to_string()]);
    }
    if !queries {
        args.extend(["--queries".into(), String::new()]);
    }
    let mut child = Command::new(py)
        .arg(peers_dir().join("energy_pg.py"))
        .args(&args)
        .envs(ctx.thread_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log)?)
        .spawn()
        .context("starting energy_pg.py")?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).map(|_| out)
    });
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut sent = Ok(());
    for &layout in &to_load {
        let (tuples, _) = pgcopy::count(scale, layout, n_assets);
        let load_bar = mp.add(load_bar(ctx, tuples, layout));
        let t = Instant::now();
        sent = pgcopy::send(&mut stdin, scale, layout, n_assets, &load_bar).map(|bytes| {
            eprintln!(
                "energy: streamed {} ({tuples} tuples, {}) to PostgreSQL in {:.1} s",
                layout.name(),
                fmt_bytes(bytes as f64),
                t.elapsed().as_secs_f64()
            );
        });
        load_bar.finish_and_clear();
        if sent.is_err() {
            break;
        }
    }
    drop(stdin);
    let status = child.wait()?;
    let out = reader.join().expect("stdout reader")?;
    if !status.success() {
        bail!(
            "energy_pg.py {} failed ({status}); last lines of {}:\n{}",
            args.join(" "),
            log.display(),
            tail(&std::fs::read_to_string(log).unwrap_or_default(), 15)
        );
    }
    sent?;
    last_json(&out).context("energy_pg.py: output")
}

fn load_bar(ctx: &Ctx, tuples: u64, layout: Layout) -> ProgressBar {
    if !ctx.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(tuples);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:40} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}",
        )
        .expect("valid progress template")
        .progress_chars("=> "),
    );
    bar.set_message(format!("  COPY {} (tuples)", layout.name()));
    bar
}

/// The row layout at scale M, extrapolated from a measured load of its first
/// [`ROWS_SAMPLE_ASSETS`] assets.
struct RowsEstimate {
    sample_rows: f64,
    sample_s: f64,
    sample_bytes: f64,
    total_rows: f64,
    free: Option<u64>,
    /// Disk the array layouts still need (their stream size, an upper bound).
    pending: u64,
}

impl RowsEstimate {
    fn load_s(&self) -> f64 {
        self.sample_s * self.total_rows / self.sample_rows
    }

    fn bytes(&self) -> f64 {
        self.sample_bytes * self.total_rows / self.sample_rows
    }

    fn fits(&self) -> bool {
        self.load_s() <= ROWS_M_MAX_LOAD_S
            && self
                .free
                .is_some_and(|f| self.bytes() + (self.pending + DISK_RESERVE) as f64 <= f as f64)
    }

    fn note(&self) -> String {
        format!(
            "postgres-rows at M: a sample (asset ids 1..{ROWS_SAMPLE_ASSETS}, every version, \
             {:.2} M rows) loaded in {:.1} s (COPY + primary key + VACUUM ANALYZE), {:.0} rows/s, \
             {:.1} bytes per row (table + primary key). Extrapolated linearly to all {:.1} M rows: \
             {:.0} s ({:.1} min; a lower bound, the primary key's sort no longer fits in \
             memory) and {} of disk, against a budget of {:.0} min and {} free ({} kept free{}). \
             {}",
            self.sample_rows / 1e6,
            self.sample_s,
            self.sample_rows / self.sample_s,
            self.sample_bytes / self.sample_rows,
            self.total_rows / 1e6,
            self.load_s(),
            self.load_s() / 60.0,
            fmt_bytes(self.bytes()),
            ROWS_M_MAX_LOAD_S / 60.0,
            self.free.map_or("unknown".into(), |f| fmt_bytes(f as f64)),
            fmt_bytes(DISK_RESERVE as f64),
            if self.pending > 0 {
                format!(
                    ", plus up to {} for the array layouts",
                    fmt_bytes(self.pending as f64)
                )
            } else {
                String::new()
            },
            if self.fits() {
                "It fits: the row layout is loaded in full."
            } else {
                "It does not fit: the row layout is not run at M (see scale S); the array \
                 layouts are."
            }
        )
    }
}

/// Loads the row-layout sample into a throwaway cluster (or takes it from
/// `root/pg-rows-sample.json`) and extrapolates to the whole of scale M.
fn rows_estimate(
    ctx: &Ctx,
    py: &Path,
    root: &Path,
    cluster: Option<&Path>,
    log_dir: &Path,
    mp: &MultiProgress,
) -> Result<RowsEstimate> {
    let cache = root.join("pg-rows-sample.json");
    let id = data_id(ctx.scale);
    let cached: Option<serde_json::Value> = std::fs::read(&cache)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .filter(|v| v["data"].as_str() == Some(id.as_str()));
    let load = match cached {
        Some(v) => v["load"].clone(),
        None => {
            let v = pg_peer(
                ctx,
                py,
                &log_dir.join("energy_pg_rows_sample.log"),
                None,
                &[Layout::Rows],
                ROWS_SAMPLE_ASSETS,
                false,
                mp,
            )?;
            let load = v["systems"]["postgres-rows"]["load"].clone();
            if ctx.cache_dir.is_some() {
                std::fs::write(
                    &cache,
                    serde_json::to_vec_pretty(&serde_json::json!({"data": id, "load": load}))?,
                )?;
            }
            load
        }
    };
    let (n_assets, _) = energy::sizes(ctx.scale);
    // The array layouts still to load count against the free disk.
    let loaded: Option<serde_json::Value> = cluster
        .and_then(|d| std::fs::read(d.join("loaded.json")).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|m: &serde_json::Value| m["data"].as_str() == Some(id.as_str()));
    let pending = [Layout::RealArray, Layout::Float8Array]
        .into_iter()
        .filter(|l| {
            loaded
                .as_ref()
                .is_none_or(|m| m["layouts"].get(l.name()).is_none())
        })
        .map(|l| pgcopy::count(ctx.scale, l, n_assets).1)
        .sum();
    let sample_rows = load["rows"].as_f64().context("rows sample: no row count")?;
    ensure!(sample_rows > 0.0, "rows sample: empty table");
    Ok(RowsEstimate {
        sample_rows,
        sample_s: load["seconds"].as_f64().unwrap_or(0.0),
        sample_bytes: load["total_bytes"].as_f64().unwrap_or(0.0),
        total_rows: pgcopy::count(ctx.scale, Layout::Rows, n_assets).0 as f64,
        // The cluster's directory may not exist yet: ask for its parent.
        free: free_bytes(if cluster.is_some() {
            root
        } else {
            &ctx.tmp_dir
        }),
        pending,
    })
}

fn run(ctx: &Ctx) -> Result<SuiteResult> {
    let scale = ctx.scale;
    let runs = ctx.runs;
    let w = windows(scale);
    let qs = queries(&w);
    let mut res = ctx.result("energy");
    let (root, _tmp) = data_root(ctx, &format!("energy-{scale}"))?;
    let log_dir = root.join("logs");
    std::fs::create_dir_all(&log_dir)?;
    let peers = !ctx.skip_peers;
    // PostgreSQL's load bars appear below the suite's bar.
    let mp = if ctx.progress {
        MultiProgress::new()
    } else {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    };
    let bar = mp.add(ctx.bar(
        (3 + 2 * qs.len() + usize::from(peers) * 2) as u64,
        "energy: reference answers",
    ));

    let venv = if peers {
        bar.set_message("energy: peers' venv");
        ensure_postgres(&log_dir)?;
        let (py, versions) = venv(ctx, &log_dir)?;
        println!("peer versions: {versions}");
        res.notes
            .push(format!("peer versions (setup_venv.sh): {versions}"));
        Some(py)
    } else {
        None
    };

    bar.set_message("energy: reference answers");
    let reference = reference(scale, &w);
    bar.inc(1);

    // arrayq: the write path, round by round, into a fresh durable store.
    bar.set_message("energy: arrayq ingest");
    let dir = root.join("store");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    // One batch per (asset, local day, version), counted without generating values.
    let n_batches = pgcopy::count(scale, Layout::RealArray, energy::sizes(scale).0).0;
    let (ingest, commits, stored, disk) = {
        let store = Store::open(&dir)?;
        let t = Instant::now();
        let commits = load::load_energy(&store, "power", scale, false)?;
        store.flush()?;
        let secs = t.elapsed().as_secs_f64();
        let snap = store.snapshot("power", arrayq_storage::AsOf::Latest)?;
        let stored: u64 = snap.meta().stats.iter().map(|s| s.bytes).sum();
        (secs, commits, stored, store.size_on_disk()?)
    };
    ensure!(
        commits.len() >= 2,
        "the load made {} commits; E4 needs version 2",
        commits.len()
    );
    let values = (energy::sizes(scale).0 * energy::n_quarters(scale)) as u64;
    res.cases.push(
        CaseResult::new("ingest (1 run)", MAIN, Timing::from_secs(vec![ingest]))
            .bytes(values * 4)
            .extra("commits", commits.len() as f64)
            .extra("stored bytes", stored as f64),
    );
    res.metric(
        "arrayq: stored chunk bytes at the head",
        stored as f64,
        "B",
        &format!(
            "{} on disk after flush; {} commits (one per round), {n_batches} batches; load \
             {ingest:.2} s incl. generating the batches",
            fmt_bytes(disk as f64),
            commits.len()
        ),
    );
    bar.inc(1);

    // arrayq in-process.
    bar.set_message("energy: arrayq queries");
    let sqls: Vec<&str> = qs.iter().map(|(_, s)| s.as_str()).collect();
    let mut by_system: BTreeMap<String, Vec<Option<Measured>>> = BTreeMap::new();
    let mut order = vec![MAIN.to_string()];
    let m = measure_store(&dir, &sqls, runs, &bar)?;
    by_system.insert(MAIN.into(), m.into_iter().map(Some).collect());

    // gRPC.
    bar.set_message("energy: gRPC");
    {
        let sqls: Vec<&str> = qs.iter().map(|(_, sql)| sql.as_str()).collect();
        let v = measure_grpc(&dir, &sqls, ctx.threads, runs, &bar)?;
        order.push(GRPC.into());
        by_system.insert(GRPC.into(), v);
    }

    // PostgreSQL.
    if let Some(py) = &venv {
        let cluster = ctx.cache_dir.is_some().then(|| root.join("pg"));
        let mut layouts = vec![Layout::Rows, Layout::RealArray, Layout::Float8Array];
        if scale == Scale::M {
            bar.set_message("energy: PostgreSQL rows sample");
            let est = rows_estimate(ctx, py, &root, cluster.as_deref(), &log_dir, &mp)?;
            res.notes.push(est.note());
            println!("{}", est.note());
            if !est.fits() {
                layouts.remove(0);
            }
        }
        bar.inc(1);
        bar.set_message("energy: PostgreSQL (energy_pg.py)");
        let t = Instant::now();
        let pg = pg_peer(
            ctx,
            py,
            &log_dir.join("energy_pg.log"),
            cluster.as_deref(),
            &layouts,
            energy::sizes(scale).0,
            true,
            &mp,
        );
        match pg {
            Ok(v) => {
                res.notes.push(format!(
                    "PostgreSQL {} (run as {}), settings {}; the energy_pg.py run took {:.0} s \
                     (including any loads){}",
                    v["versions"]["postgres"].as_str().unwrap_or("?"),
                    v["run_as"].as_str().unwrap_or("?"),
                    v["settings"],
                    t.elapsed().as_secs_f64(),
                    if v["cluster_reused"].as_bool() == Some(true) {
                        format!(", cluster reused from {}", root.join("pg").display())
                    } else {
                        String::new()
                    }
                ));
                for name in PG {
                    let Some(s) = v["systems"].get(name) else {
                        continue;
                    };
                    let l = &s["load"];
                    res.cases.push(
                        CaseResult::new(
                            "ingest (1 run)",
                            name,
                            Timing::from_secs(vec![l["seconds"].as_f64().unwrap_or(0.0)]),
                        )
                        .bytes(values * 4)
                        .extra("stored bytes", l["total_bytes"].as_f64().unwrap_or(0.0)),
                    );
                    let rows = l["rows"].as_f64().unwrap_or(0.0);
                    let secs = l["seconds"].as_f64().unwrap_or(0.0);
                    res.metric(
                        &format!("{name}: table + index bytes"),
                        l["total_bytes"].as_f64().unwrap_or(0.0),
                        "B",
                        &format!(
                            "{} rows, {:.0} rows/s; COPY {:.2} s, primary key {:.2} s, VACUUM \
                             ANALYZE {:.2} s{}",
                            l["rows"],
                            rows / secs.max(1e-9),
                            l["copy_s"].as_f64().unwrap_or(0.0),
                            l["index_s"].as_f64().unwrap_or(0.0),
                            l["vacuum_analyze_s"].as_f64().unwrap_or(0.0),
                            if l["cached"].as_bool() == Some(true) {
                                format!(
                                    " (loaded {} into the cached cluster, reused)",
                                    l["loaded_at"].as_str().unwrap_or("earlier")
                                )
                            } else {
                                String::new()
                            }
                        ),
                    );
                    let mut ms = Vec::new();
                    for (id, _) in &qs {
                        ms.push(s["queries"].get(*id).and_then(|e| {
                            let (warm, cold) = peer_timing(e).ok()?;
                            Some(Measured {
                                warm,
                                cold,
                                answer: Answer::from_digest(&e["answer"]).ok()?,
                                chunks: None,
                                read_bytes: None,
                                layout: e["variant"].as_str().map(str::to_string),
                            })
                        }));
                    }
                    if let Some(sql) = s["queries"]["E1"]["sql"].as_str() {
                        res.notes.push(format!("{name} E1: `{sql}`"));
                    }
                    order.push(name.into());
                    by_system.insert(name.into(), ms);
                }
                res.notes.push(
                    "PostgreSQL gets every version of every batch from the Rust generator as \
                     binary COPY data on a pipe (no CSV); its ingest is COPY + primary key \
                     (one transaction, no WAL under wal_level=minimal) + VACUUM ANALYZE. The \
                     harness generates the next band of assets while one is sent, so COPY \
                     waits for generation only where that is the slower side."
                        .into(),
                );
            }
            Err(e) => {
                eprintln!("energy: PostgreSQL failed: {e:#}");
                res.notes.push(format!(
                    "PostgreSQL failed, not measured: {}",
                    format!("{e:#}").lines().next().unwrap_or("")
                ));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    // Answers.
    let mut wrong: BTreeMap<(String, &str), String> = BTreeMap::new();
    for sys in &order {
        for (k, (id, _)) in qs.iter().enumerate() {
            let Some(m) = by_system[sys][k].as_ref() else {
                continue;
            };
            let (want, against) = if sys == MAIN {
                (&reference[id], "the generator")
            } else {
                match by_system[MAIN][k].as_ref() {
                    Some(main) => (&main.answer, MAIN),
                    None => continue,
                }
            };
            if let Err(e) = compare(&m.answer, want, false, REL_TOL) {
                res.notes
                    .push(format!("WRONG ANSWER: {sys} {id} vs {against}: {e}"));
                wrong.insert((sys.clone(), id), e);
            }
        }
    }

    // Cases and ratios to arrayq's best.
    for (k, (id, _)) in qs.iter().enumerate() {
        let best = order
            .iter()
            .filter(|s| s.starts_with("arrayq") && !wrong.contains_key(&((*s).clone(), *id)))
            .filter_map(|s| by_system[s][k].as_ref().map(|m| m.warm.median_s))
            .fold(f64::INFINITY, f64::min);
        for sys in &order {
            let Some(m) = by_system[sys][k].as_ref() else {
                continue;
            };
            let mut c = CaseResult::new(id, sys, m.warm.clone());
            if let Some(x) = m.chunks {
                c = c.extra("chunks", x as f64);
            }
            if let Some(x) = m.read_bytes {
                c = c.extra("read bytes", x as f64);
            }
            if let Some(x) = m.cold {
                c = c.extra("cold ms", (x * 1e6).round() / 1e3);
            }
            if wrong.contains_key(&(sys.clone(), *id)) {
                c = c.extra("wrong answer", 1.0);
            } else if best.is_finite() {
                c = c.extra("ratio", (m.warm.median_s / best * 1000.0).round() / 1000.0);
            }
            res.cases.push(c);
        }
    }
    let ids: Vec<&str> = qs.iter().map(|(id, _)| *id).collect();
    res.tables.push(pivot(&res.cases, &ids, &order, false));
    res.tables.push(pivot(&res.cases, &ids, &order, true));

    let (n_assets, n_days) = energy::sizes(scale);
    res.notes.push(format!(
        "Portfolio {n_assets} assets x {n_days} local days ({} quarter-hours); E1/E4 assets {:?}, \
         {} quarters; E2 {} quarters, all assets; E3 assets 1..{} per local day.",
        energy::n_quarters(scale),
        w.ids,
        w.week.1 - w.week.0,
        w.month.1 - w.month.0,
        w.e3_assets
    ));
    res.notes.push(format!(
        "Queries (arrayq SQL): {}",
        qs.iter()
            .map(|(id, q)| format!("{id} `{q}`"))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    res.notes.push(format!(
        "Every system on {} threads (PostgreSQL: max_parallel_workers_per_gather). Times are \
         medians of {runs} warm runs; 'cold ms' is one run right after evicting the system's \
         files from the page cache (fsync + posix_fadvise DONTNEED) and reopening arrayq's store \
         / restarting PostgreSQL. gRPC runs are warm only. 'ratio' = median / the best arrayq \
         median. Answers: arrayq vs the generator, the others vs arrayq, relative {REL_TOL:e}.",
        ctx.threads
    ));
    // The sums agree with the generator to far better than the tolerance: record it.
    if let Some(Some(m)) = by_system[MAIN].first() {
        let r = &reference["E1"];
        if close(m.answer.sum, r.sum, REL_TOL) {
            res.metric(
                "E1 relative error vs the generator",
                (m.answer.sum - r.sum).abs() / r.sum.abs().max(1e-300),
                "",
                "arrayq's sum of the E1 series vs float64 over the generated values",
            );
        }
    }
    drop(_tmp);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_of_s() {
        let w = windows(Scale::S);
        assert_eq!(w.ids, vec![1, 51, 101, 151]);
        assert_eq!(w.week.1 - w.week.0, 7 * 96);
        assert_eq!(w.month.1 - w.month.0, 31 * 96);
        let xs = windows(Scale::XS);
        assert_eq!(xs.week, (0, 3 * 96));
        let q = queries(&w);
        assert!(q[3].1.contains("AS OF VERSION 2"), "{}", q[3].1);
        assert!(q[0].1.contains("'2023-01-08T23:00:00Z'"), "{}", q[0].1);
    }
}
