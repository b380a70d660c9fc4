//! `arrayq`: the arrayq shell.
//!
//! ```text
//! arrayq                          interactive shell (when stdin is a terminal)
//! arrayq -c "SELECT ..."          run statement(s) and exit
//! arrayq -f script.sql            run a script
//! arrayq < script.sql             same, from standard input
//! arrayq load npy FILE --array A --attr X [--start i,j,k]
//! arrayq load netcdf FILE... --array A [--var a,b] [--rename old=new]
//! arrayq load zarr STORE --array A [--var a,b] [--rename old=new]
//! arrayq export zarr|netcdf --query SQL OUT
//! arrayq demo era5 --scale XS|S|M [--chunks a,b,c] [--name N]
//! ```
//!
//! Exit status: 0 on success, 1 if a statement failed, 2 if the server
//! could not be reached or the arguments are wrong.

mod shell;

use shell::stdout::stdout_line;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use arrayq_client::format::render_error;
use arrayq_client::{Client, ConnectOptions, Error};
use arrayq_workload::Scale;
use clap::{Args, Parser, Subcommand};

use shell::{Format, Session};

/// Large result blocks are allocated and freed all the time; glibc maps and unmaps
/// each one (page faults on every block), mimalloc reuses them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "arrayq",
    version,
    about = "The arrayq shell: run SQL against an arrayq server",
    after_help = "Without -c/-f, reads statements interactively when standard input is a terminal, \
                  otherwise runs standard input as a script.\n\
                  Exit status: 0 ok, 1 a statement failed, 2 connection or usage error."
)]
struct Cli {
    #[command(flatten)]
    conn: Conn,

    /// Run this SQL (statements separated by ';') and exit.
    #[arg(
        short = 'c',
        long = "command",
        value_name = "SQL",
        conflicts_with = "file"
    )]
    command: Option<String>,

    /// Run the statements of this file (separated by ';') and exit.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,

    #[command(flatten)]
    out: OutputArgs,

    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Args, Debug)]
struct Conn {
    /// Server address.
    #[arg(
        long,
        env = "ARRAYQ_ADDR",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    addr: String,

    /// Bearer token for servers started with --auth-token.
    #[arg(long, env = "ARRAYQ_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,

    /// PEM file of the CA that signed the server's certificate (enables TLS).
    #[arg(long, env = "ARRAYQ_CA_CERT", value_name = "PEM", global = true)]
    ca_cert: Option<PathBuf>,

    /// Server name to verify in its certificate (default: the host of --addr).
    #[arg(long, value_name = "NAME", global = true)]
    tls_domain: Option<String>,
}

#[derive(Args, Debug)]
struct OutputArgs {
    /// Result format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,

    /// Write results to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,

    /// Results with more cells are shown as a summary (table format).
    #[arg(long, default_value_t = 40, value_name = "N")]
    max_rows: usize,

    /// Expanded display: one block per cell.
    #[arg(short = 'x', long)]
    expanded: bool,

    /// Print how long each statement took.
    #[arg(long)]
    timing: bool,

    /// Fail queries whose result would exceed this many bytes (0: server default).
    #[arg(long, default_value_t = 0, value_name = "BYTES")]
    max_result_bytes: u64,

    /// Server-side time limit per query in seconds (0: server default).
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
    timeout: f64,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Load a file or a PostgreSQL query into an array.
    #[command(subcommand)]
    Load(LoadCmd),
    /// Write a query's result to a file (docs/export.md).
    #[command(subcommand)]
    Export(ExportCmd),
    /// Create and load a demo data set.
    #[command(subcommand)]
    Demo(DemoCmd),
}

#[derive(Subcommand, Debug)]
enum ExportCmd {
    /// A Zarr store (a directory) that xarray.open_zarr reads: each result column a
    /// variable, each result dimension a coordinate variable.
    Zarr {
        /// The query whose result is written.
        #[arg(long)]
        query: String,
        /// The store to create (must not exist).
        out: PathBuf,
        /// Zarr format version: 2 or 3.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=3))]
        zarr_format: u8,
    },
    /// A NetCDF-4 file that xarray.open_dataset reads, laid out as for Zarr.
    Netcdf {
        /// The query whose result is written.
        #[arg(long)]
        query: String,
        /// The file to create (must not exist).
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum LoadCmd {
    /// Write an .npy array (f4 f8 i1..i8 u1..u8 b1, C order) into an
    /// attribute of an existing array; a file with fewer dimensions than
    /// the array fills the trailing ones.
    Npy {
        /// The .npy file.
        file: PathBuf,
        /// Target array.
        #[arg(long)]
        array: String,
        /// Target attribute.
        #[arg(long)]
        attr: String,
        /// Index of the region's first cell, one per array dimension
        /// (default all 0), e.g. 24,0,0.
        #[arg(long, value_name = "I,J,...")]
        start: Option<String>,
    },
    /// Import NetCDF-4/HDF5 or classic NetCDF files into one array (created when
    /// missing), joined along their time dimension, in one commit: packed values
    /// unpacked to float32, fill and missing values as NaN, CF time decoded.
    Netcdf {
        /// The files, in any order (they are sorted by time).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        target: GridTarget,
        /// Load files with missing time steps between them; the missing steps
        /// read as missing values.
        #[arg(long)]
        allow_gaps: bool,
    },
    /// Import a Zarr v2 or v3 store (a directory, as xarray's to_zarr writes it)
    /// into one array (created when missing), in one commit, decoded as NetCDF
    /// files are.
    Zarr {
        /// The store: a directory holding a Zarr group.
        store: PathBuf,
        #[command(flatten)]
        target: GridTarget,
    },
    /// Stream timeseries rows (label, time, version, value) out of PostgreSQL
    /// with binary COPY into an (asset x time) array, one commit per version
    /// round (docs/ingest.md).
    Postgres(PostgresLoad),
}

/// The flags of the gridded loaders (`load netcdf`, `load zarr`): where the data
/// goes and how a created array looks.
#[derive(Args, Debug)]
struct GridTarget {
    /// Target array.
    #[arg(long)]
    array: String,
    /// Variables to load, e.g. t2m,u10 (default: every data variable on the
    /// main dimensions).
    #[arg(long, value_delimiter = ',')]
    var: Vec<String>,
    /// Chunk shape of a created array, e.g. 24,64,64.
    #[arg(long, value_name = "A,B,C")]
    chunks: Option<String>,
    /// Layout name of a created array.
    #[arg(long)]
    layout: Option<String>,
    /// Rename a dimension: --rename valid_time=time (repeatable).
    #[arg(long, value_name = "OLD=NEW")]
    rename: Vec<String>,
}

#[derive(Args, Debug)]
struct PostgresLoad {
    /// Connection string of the source, e.g. postgresql://user@host:5432/db
    /// or "host=/run/postgresql user=me dbname=energy".
    #[arg(long)]
    url: String,
    /// The source query, e.g. "SELECT asset_id, ts, version, value FROM power_rows".
    #[arg(long)]
    query: String,
    /// Target array; created on first use (dims asset, time; attribute value).
    #[arg(long)]
    array: String,
    /// Column of the asset label (bigint/integer or text).
    #[arg(long, default_value = "asset_id")]
    label_col: String,
    /// Column of the timestamp (timestamptz).
    #[arg(long, default_value = "ts")]
    time_col: String,
    /// Column of the batch version (integer); without it in the query, one commit.
    #[arg(long, default_value = "version")]
    version_col: String,
    /// Column of the value (a number).
    #[arg(long, default_value = "value")]
    value_col: String,
    /// Keep running: LISTEN on --channel and pull the rows past the watermark on
    /// every NOTIFY and every reconnect (Ctrl-C stops).
    #[arg(long, requires = "channel", requires = "watermark_col")]
    follow: bool,
    /// The channel to LISTEN on (follow mode).
    #[arg(long)]
    channel: Option<String>,
    /// A column that grows with every new row (serial id, arrival time): follow
    /// mode pulls past its last value, kept in the array as a commit mark.
    #[arg(long)]
    watermark_col: Option<String>,
    /// Name of this feed: its watermark is the array's mark `bridge:<name>`
    /// (default: the channel).
    #[arg(long)]
    name: Option<String>,
}

#[derive(Subcommand, Debug)]
enum DemoCmd {
    /// The ERA5-like 2 m temperature cube (time x lat x lon, f32), generated
    /// here and written over gRPC in slabs.
    Era5 {
        /// XS (2 days), S (January 2023), M (all of 2023).
        #[arg(long, default_value = "S")]
        scale: Scale,
        /// Chunk shape (time,lat,lon); default 24,64,64.
        #[arg(long, value_name = "T,LAT,LON")]
        chunks: Option<String>,
        /// Array name.
        #[arg(long, default_value = "era5")]
        name: String,
        /// Drop an existing array of that name first.
        #[arg(long)]
        replace: bool,
        /// zstd level of the layout.
        #[arg(long, default_value_t = 3)]
        zstd_level: i32,
    },
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("arrayq: {msg}");
    ExitCode::from(2)
}

async fn connect(c: &Conn) -> Result<Client, String> {
    let ca = match &c.ca_cert {
        Some(p) => Some(
            std::fs::read(p).map_err(|e| format!("cannot read --ca-cert {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let opts = ConnectOptions {
        addr: c.addr.clone(),
        token: c.token.clone().filter(|t| !t.is_empty()),
        ca_cert_pem: ca,
        tls_domain: c.tls_domain.clone(),
        connect_timeout: Some(Duration::from_secs(10)),
    };
    Client::connect_with(opts).await.map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return usage_error(format!("cannot start the runtime: {e}")),
    };
    let client = match rt.block_on(connect(&cli.conn)) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    match cli.cmd {
        Some(Cmd::Load(LoadCmd::Npy {
            file,
            array,
            attr,
            start,
        })) => {
            let start = match start.as_deref().map(shell::load::parse_list).transpose() {
                Ok(s) => s,
                Err(e) => return usage_error(format!("--start: {e}")),
            };
            finish(rt.block_on(shell::load::load_npy(&client, &file, &array, &attr, start)))
        }
        Some(Cmd::Load(LoadCmd::Netcdf {
            files,
            target,
            allow_gaps,
        })) => {
            let t = match target.parse() {
                Ok(t) => t,
                Err(e) => return usage_error(e),
            };
            let job = shell::netcdf::NetcdfLoad {
                files,
                array: t.array,
                options: shell::netcdf::ScanOptions {
                    vars: t.vars,
                    allow_gaps,
                },
                chunks: t.chunks,
                layout: t.layout,
                renames: t.renames,
            };
            finish(rt.block_on(shell::netcdf::load_netcdf(&client, &job)))
        }
        Some(Cmd::Load(LoadCmd::Zarr { store, target })) => {
            let t = match target.parse() {
                Ok(t) => t,
                Err(e) => return usage_error(e),
            };
            let job = shell::zarr::ZarrLoad {
                store,
                array: t.array,
                vars: t.vars,
                chunks: t.chunks,
                layout: t.layout,
                renames: t.renames,
            };
            finish(rt.block_on(shell::zarr::load_zarr(&client, &job)))
        }
        Some(Cmd::Export(cmd)) => {
            let (query, out, format) = match cmd {
                ExportCmd::Zarr {
                    query,
                    out,
                    zarr_format,
                } => (query, out, shell::export::ExportFormat::Zarr(zarr_format)),
                ExportCmd::Netcdf { query, out } => {
                    (query, out, shell::export::ExportFormat::Netcdf)
                }
            };
            let job = shell::export::Export { query, out, format };
            finish(rt.block_on(shell::export::export(&client, &job)))
        }
        Some(Cmd::Load(LoadCmd::Postgres(a))) => {
            let mut source = arrayq_bridge::SourceSpec::new(&a.url, &a.query);
            source.label_col = a.label_col;
            source.time_col = a.time_col;
            source.version_col = a.version_col;
            source.value_col = a.value_col;
            source.watermark_col = a.watermark_col;
            let follow = a.channel.filter(|_| a.follow);
            let name = a
                .name
                .or_else(|| follow.clone())
                .unwrap_or_else(|| a.array.clone());
            let job = shell::pgload::PgLoad {
                source,
                array: a.array,
                follow,
                name,
            };
            finish(rt.block_on(shell::pgload::load_postgres(&client, &job)))
        }
        Some(Cmd::Demo(DemoCmd::Era5 {
            scale,
            chunks,
            name,
            replace,
            zstd_level,
        })) => {
            let chunks = match chunks.as_deref().map(shell::load::parse_list).transpose() {
                Ok(None) => None,
                Ok(Some(v)) if v.len() == 3 && v.iter().all(|&x| x > 0) => Some([v[0], v[1], v[2]]),
                Ok(Some(_)) => {
                    return usage_error("--chunks takes three positive integers T,LAT,LON")
                }
                Err(e) => return usage_error(format!("--chunks: {e}")),
            };
            finish(rt.block_on(shell::load::demo_era5(
                &client, scale, chunks, &name, replace, zstd_level,
            )))
        }
        None => run_sql(cli.command, cli.file, &cli.out, client, &rt),
    }
}

/// `--chunks a,b,c` and `--rename old=new` of the gridded loaders.
/// [`GridTarget`] with its `--chunks` and `--rename` values parsed.
struct ParsedGridTarget {
    array: String,
    vars: Vec<String>,
    chunks: Option<Vec<u64>>,
    layout: Option<String>,
    renames: Vec<(String, String)>,
}

impl GridTarget {
    /// Parses `--chunks` and `--rename`; an error names the flag.
    fn parse(self) -> Result<ParsedGridTarget, String> {
        let chunks = self
            .chunks
            .as_deref()
            .map(shell::load::parse_list)
            .transpose()
            .map_err(|e| format!("--chunks: {e}"))?;
        let mut renames = Vec::new();
        for r in self.rename {
            match r.split_once('=') {
                Some((a, b)) if !a.is_empty() && !b.is_empty() => {
                    renames.push((a.to_string(), b.to_string()))
                }
                _ => return Err(format!("--rename {r}: expected OLD=NEW")),
            }
        }
        Ok(ParsedGridTarget {
            array: self.array,
            vars: self.var,
            chunks,
            layout: self.layout,
            renames,
        })
    }
}

fn finish(r: Result<String, Error>) -> ExitCode {
    match r {
        Ok(msg) => {
            stdout_line!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}", render_error(&e, None));
            ExitCode::from(1)
        }
    }
}

fn run_sql(
    command: Option<String>,
    file: Option<PathBuf>,
    out: &OutputArgs,
    client: Client,
    rt: &tokio::runtime::Runtime,
) -> ExitCode {
    let interactive = command.is_none() && file.is_none() && std::io::stdin().is_terminal();
    let mut display = shell::terminal_display(out.max_rows, out.expanded);
    if out.output.is_some() {
        display.color = false;
    }
    let mut session = Session::new(client, out.format, display);
    session.timing = out.timing;
    session.query_opts.max_result_bytes = out.max_result_bytes;
    if out.timeout > 0.0 {
        session.query_opts.timeout = Some(Duration::from_secs_f64(out.timeout));
    }
    if let Some(path) = &out.output {
        session.set_output(Some(path.clone()), Some(out.format));
    } else if out.format == Format::Npy && interactive {
        return usage_error("--format npy needs -o FILE in the interactive shell");
    }
    if interactive {
        return match shell::repl::run(&mut session, rt) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => usage_error(format!("terminal error: {e}")),
        };
    }
    let (script, source) = match (command, file) {
        (Some(c), _) => (c, String::new()),
        (None, Some(f)) => match std::fs::read_to_string(&f) {
            Ok(s) => (s, f.display().to_string()),
            Err(e) => return usage_error(format!("cannot read {}: {e}", f.display())),
        },
        (None, None) => {
            let mut s = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut s) {
                return usage_error(format!("cannot read standard input: {e}"));
            }
            (s, "stdin".to_string())
        }
    };
    if rt.block_on(session.run_script(&script, &source)) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
