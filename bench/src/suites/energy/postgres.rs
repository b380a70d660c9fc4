//! PostgreSQL for the suite: making sure it is installed, running
//! `energy_pg.py` on the generator's `COPY` streams, and deciding whether the row
//! layout fits at scale M from a measured sample.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use arrayq_workload::{energy, Scale};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::measure::fmt_bytes;
use crate::suites::common::peers::{last_json, peers_dir, tail};
use crate::suites::pgcopy::{self, Layout};
use crate::suites::Ctx;

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
pub(super) fn ensure_postgres(log_dir: &Path) -> Result<()> {
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
pub(super) fn pg_peer(
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
pub(super) struct RowsEstimate {
    pub sample_rows: f64,
    pub sample_s: f64,
    pub sample_bytes: f64,
    pub total_rows: f64,
    pub free: Option<u64>,
    /// Disk the array layouts still need (their stream size, an upper bound).
    pub pending: u64,
}

impl RowsEstimate {
    fn load_s(&self) -> f64 {
        self.sample_s * self.total_rows / self.sample_rows
    }

    fn bytes(&self) -> f64 {
        self.sample_bytes * self.total_rows / self.sample_rows
    }

    pub(super) fn fits(&self) -> bool {
        self.load_s() <= ROWS_M_MAX_LOAD_S
            && self
                .free
                .is_some_and(|f| self.bytes() + (self.pending + DISK_RESERVE) as f64 <= f as f64)
    }

    pub(super) fn note(&self) -> String {
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
pub(super) fn rows_estimate(
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
