//! `arrayq-bench`: runs a benchmark suite, prints its table and writes
//! `bench/results/<suite>-<scale>.{json,md,svg}`; `report` merges result files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use arrayq_bench::machine::Machine;
use arrayq_bench::results::{self, SuiteResult};
use arrayq_bench::suites::{self, Ctx};
use arrayq_workload::Scale;
use clap::{Parser, Subcommand};

/// The engine runs in-process here: the same allocator, tuned the same way, as
/// `arrayqd` (`arrayq_server::allocator`).
#[global_allocator]
static GLOBAL: arrayq_server::allocator::Allocator = arrayq_server::allocator::Allocator;

#[derive(Parser, Debug)]
#[command(
    name = "arrayq-bench",
    version,
    about = "arrayq benchmarks (see bench/README.md)"
)]
struct Cli {
    /// Workload scale: XS, S or M.
    #[arg(long, global = true, default_value = "S")]
    scale: Scale,
    /// Timed runs per case (median, min and max are reported).
    #[arg(long, global = true, default_value_t = 5)]
    runs: usize,
    /// Also write the result JSON to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// Directory of result files.
    #[arg(long, global = true, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    out_dir: PathBuf,
    /// Threads given to every system (arrayq's rayon pool, zstd baselines, peers).
    #[arg(long, global = true, default_value_t = 2)]
    threads: usize,
    /// Where temporary stores go (a real disk: ingest includes fsync).
    #[arg(long, global = true, env = "ARRAYQ_BENCH_TMP")]
    tmp_dir: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, global = true)]
    no_progress: bool,
    /// Before each suite, wait up to this many seconds for the machine to be idle
    /// (other processes compiling skew every number). 0: do not wait.
    #[arg(long, global = true, default_value_t = 0)]
    wait_idle: u64,
    /// Query suites: measure arrayq alone (no Python peers, no PostgreSQL).
    #[arg(long, global = true)]
    skip_peers: bool,
    /// `era5`: run only the peers whose name contains one of these (comma
    /// separated, e.g. `tensorstore`); default all.
    #[arg(long, global = true, value_delimiter = ',')]
    peers: Vec<String>,
    /// Query suites: keep generated data (loaded stores, Zarr/NetCDF files) here and
    /// reuse it in later runs.
    #[arg(long, global = true, env = "ARRAYQ_BENCH_CACHE")]
    cache_dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Storage engine vs bare zstd: ingest, full read, stored size (with targets).
    Storage,
    /// Point / map / box / full reads under several chunk layouts.
    Layouts,
    /// ERA5 queries Q1-Q6: arrayq (4 layouts, in-process, gRPC) vs xarray/Zarr/NetCDF/TensorStore.
    Era5,
    /// Energy queries E1-E4: arrayq (in-process, gRPC) vs PostgreSQL rows and arrays.
    Energy,
    /// Full-cube streaming over gRPC vs in-process; Q1 latency under concurrent clients.
    Grpc {
        /// Concurrent clients of the point-query load (each its own connection).
        #[arg(long, default_value_t = 50)]
        clients: usize,
        /// Seconds of each closed-loop load window.
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
    },
    /// Mixed load: N clients, 90% queries / 10% writes; queries/s, p50/p99, errors, server peak RSS.
    Load {
        /// Concurrent clients (each its own connection).
        #[arg(long, default_value_t = 50)]
        clients: usize,
        /// Seconds of the load window.
        #[arg(long, default_value_t = 60)]
        duration_secs: u64,
    },
    /// Postgres compatibility: COPY floor, bridge ingest, door COPY, E1-E3 via psycopg2, change latency.
    Pgbridge,
    /// Q7 reprojection (10 km tmerc, bilinear): arrayq vs pyproj+scipy and GDAL warp, with accuracy.
    Reproj,
    /// Daily NetCDF files: `arrayq load netcdf` vs xarray open_mfdataset().load(), warm, MB/s.
    Ingest,
    /// Q1-Q6 through the Python client's open_array (xarray + Dask) vs xarray + Dask on Zarr.
    Pydask,
    /// Climatology, anomaly join, percentile of daily maxima, rolling mean, CREATE ARRAY AS vs xarray + Dask on Zarr.
    Analyst,
    /// Every available suite, one after another.
    All,
    /// Lists the suites and whether they can run.
    List,
    /// Prints the machine description.
    Machine,
    /// Runs one arrayq operation of the storage suite alone (for profilers).
    Probe {
        /// ingest or read.
        #[arg(value_enum)]
        op: arrayq_bench::probe::Op,
        /// Keep the last store in this directory (must not exist).
        #[arg(long)]
        keep: Option<PathBuf>,
        /// `query`: the store directory holding array `era5`.
        #[arg(long)]
        store: Option<PathBuf>,
        /// `query`: which era5 query (Q1-Q6).
        #[arg(long, default_value = "Q4")]
        query: String,
    },
    /// Merges result JSON files into one table and chart.
    Report {
        /// Result files (default: every <suite>-<scale>.json in --out-dir).
        files: Vec<PathBuf>,
        /// Output path without extension (writes .md and .svg).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    arrayq_server::allocator::tune();
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("arrayq-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    let threads = cli.threads.max(1);
    // Same threads for every system: this process's rayon pool (arrayq and the zstd
    // baselines) and any child process (peers) via the environment.
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("bench-{i}"))
        .build_global()
        .context("building the rayon pool")?;
    let machine = Machine::detect(threads);
    let ctx = Ctx {
        scale: cli.scale,
        runs: cli.runs.max(1),
        threads,
        tmp_dir: cli.tmp_dir.clone().unwrap_or_else(std::env::temp_dir),
        progress: !cli.no_progress,
        machine,
        skip_peers: cli.skip_peers,
        peer_filter: cli.peers.clone(),
        cache_dir: cli.cache_dir.clone(),
    };
    let names: Vec<&'static str> = match &cli.cmd {
        Cmd::Storage => vec!["storage"],
        Cmd::Layouts => vec!["layouts"],
        Cmd::Era5 => vec!["era5"],
        Cmd::Energy => vec!["energy"],
        Cmd::Grpc { .. } => vec!["grpc"],
        Cmd::Load { .. } => vec!["load"],
        Cmd::Pgbridge => vec!["pgbridge"],
        Cmd::Reproj => vec!["reproj"],
        Cmd::Ingest => vec!["ingest"],
        Cmd::Pydask => vec!["pydask"],
        Cmd::Analyst => vec!["analyst"],
        Cmd::All => suites::all()
            .iter()
            .filter(|s| s.available().is_ok())
            .map(|s| s.name())
            .collect(),
        Cmd::List => {
            for s in suites::all() {
                let state = s.available().err().unwrap_or_else(|| "ready".into());
                println!("{:8} {}  [{}]", s.name(), s.about(), state);
            }
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Machine => {
            println!("{}", ctx.machine);
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Probe {
            op,
            keep,
            store,
            query,
        } => {
            println!("{}", ctx.machine);
            if *op == arrayq_bench::probe::Op::Query {
                let Some(store) = store else {
                    anyhow::bail!("probe query needs --store DIR (a store holding array era5)");
                };
                arrayq_bench::probe_query::run(&ctx, store, query)?;
                return Ok(ExitCode::SUCCESS);
            }
            arrayq_bench::probe::run(&ctx, *op, keep.as_deref())?;
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::Report { files, out } => {
            report(&cli.out_dir, files, out.as_deref())?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    println!("{}", ctx.machine);
    let mut failed = false;
    for name in names {
        let suite: Box<dyn suites::Suite> = match &cli.cmd {
            Cmd::Grpc {
                clients,
                duration_secs,
            } => Box::new(suites::grpc::Grpc {
                clients: *clients,
                duration: Duration::from_secs(*duration_secs),
            }),
            Cmd::Load {
                clients,
                duration_secs,
            } => Box::new(suites::load::Load {
                clients: *clients,
                duration: Duration::from_secs(*duration_secs),
            }),
            _ => suites::find(name).expect("listed suite"),
        };
        if let Err(why) = suite.available() {
            bail!("suite {name} cannot run yet: {why}");
        }
        if cli.wait_idle > 0 {
            eprintln!("waiting up to {} s for an idle machine...", cli.wait_idle);
            let quiet = arrayq_bench::machine::wait_idle(Duration::from_secs(cli.wait_idle));
            eprintln!(
                "{}",
                if quiet {
                    "idle"
                } else {
                    "still busy; running anyway"
                }
            );
        }
        let mut ctx = ctx.clone();
        ctx.machine.load_avg = arrayq_bench::machine::load_avg();
        println!(
            "\n== suite {name}, scale {}, {} runs per case (load {:.2}) ==",
            ctx.scale, ctx.runs, ctx.machine.load_avg
        );
        let res = suite.run(&ctx).with_context(|| format!("suite {name}"))?;
        print_result(&res);
        for f in res.save(&cli.out_dir)? {
            println!("wrote {}", f.display());
        }
        if let Some(j) = &cli.json {
            res.save_json(j)?;
            println!("wrote {}", j.display());
        }
        failed |= res.checks.iter().any(|c| !c.pass);
    }
    // Missed targets are results, not errors: the exit code tells scripts about them.
    Ok(if failed {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_result(res: &SuiteResult) {
    let md = res.to_markdown();
    // The machine lines were printed at the start.
    let body: String = md.lines().skip(4).collect::<Vec<_>>().join("\n");
    println!("{body}");
    for c in &res.checks {
        println!(
            "{}: {} = {:.3} (target {} {})",
            if c.pass { "PASS" } else { "FAIL" },
            c.name,
            c.value,
            c.cmp,
            c.target
        );
    }
}

fn report(out_dir: &Path, files: &[PathBuf], out: Option<&Path>) -> Result<()> {
    let files: Vec<PathBuf> = if files.is_empty() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(out_dir)
            .with_context(|| format!("reading {}", out_dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && !p
                        .file_stem()
                        .is_some_and(|s| s.to_string_lossy().starts_with("report"))
            })
            .collect();
        v.sort();
        v
    } else {
        files.to_vec()
    };
    if files.is_empty() {
        bail!("no result files in {}", out_dir.display());
    }
    let results: Vec<SuiteResult> = files
        .iter()
        .map(|f| SuiteResult::load(f))
        .collect::<Result<_>>()?;
    let out = out.map_or_else(|| out_dir.join("report"), Path::to_path_buf);
    let md = results::merge(&results, &out)?;
    println!("{md}");
    println!(
        "wrote {} and {}",
        out.with_extension("md").display(),
        out.with_extension("svg").display()
    );
    Ok(())
}
