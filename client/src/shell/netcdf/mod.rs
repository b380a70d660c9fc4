//! `arrayq load netcdf FILE... --array NAME`: NetCDF-4/HDF5 and classic files
//! (libnetcdf through the `netcdf` crate) into one array, in one commit.
//!
//! A first pass checks every file and joins their time axes ([`scan`]); then one
//! Write call streams the whole region, file after file in time order (gaps
//! allowed with `--allow-gaps` are sent as missing values), each variable
//! unpacked to float32 with its file's packing ([`crate::shell::cf`]). A file that fails while
//! being read ends the call before it completes, so nothing is committed.

mod attrs;
mod metadata;
pub(crate) mod scan;

use crate::shell::cf::metadata::sql_clause;
use arrayq_client::client::write_header;
use arrayq_client::result::dtype_from_wire;
use arrayq_client::{Client, DType, Error};
use arrayq_format::time::format_unix_ns;
use arrayq_proto::v1::{self, WriteRequest};
use indicatif::ProgressBar;
use std::path::PathBuf;
use std::time::Instant;
use tokio::sync::mpsc::Sender;

pub use scan::ScanOptions;

/// What `arrayq load netcdf` was asked.
pub struct NetcdfLoad {
    pub files: Vec<PathBuf>,
    pub array: String,
    pub options: ScanOptions,
    /// `--chunks a,b,c` of a created array.
    pub chunks: Option<Vec<u64>>,
    /// `--layout name` of a created array.
    pub layout: Option<String>,
    /// `--rename old=new`: dimension names in the array.
    pub renames: Vec<(String, String)>,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidInput(msg.into())
}

pub async fn load_netcdf(client: &Client, job: &NetcdfLoad) -> Result<String, Error> {
    let t0 = Instant::now();
    let files = job.files.clone();
    let options = ScanOptions {
        vars: job.options.vars.clone(),
        allow_gaps: job.options.allow_gaps,
    };
    let plan = tokio::task::spawn_blocking(move || scan::scan(&files, &options))
        .await
        .map_err(|e| invalid(format!("scan failed: {e}")))?
        .map_err(invalid)?;
    let source = format!("{} files", plan.files.len());
    load_plan(client, job, plan, (source, t0), stream_files).await
}

/// Creates or fits the array for `plan`, then streams it in one Write call with
/// `read` (on a thread of its own, feeding the call) under a progress bar, and says
/// what was loaded from `source` since `started`. The common end of the gridded
/// loaders.
pub(crate) async fn load_plan(
    client: &Client,
    job: &NetcdfLoad,
    plan: scan::LoadPlan,
    (source, started): (String, Instant),
    read: impl FnOnce(&scan::LoadPlan, &Sender<WriteRequest>, &ProgressBar) -> Result<(), String>
        + Send
        + 'static,
) -> Result<String, Error> {
    let rename = |n: &str| {
        job.renames
            .iter()
            .find(|(old, _)| old == n)
            .map_or(n.to_string(), |(_, new)| new.clone())
    };
    let first_index = prepare_array(client, job, &plan, &rename).await?;
    let region: Vec<std::ops::Range<u64>> =
        std::iter::once(first_index..first_index + plan.time_len)
            .chain(plan.space.iter().map(|d| 0..d.len as u64))
            .collect();
    let attrs: Vec<&str> = plan.vars.iter().map(|s| s.as_str()).collect();
    let header = write_header(&job.array, &attrs, &region, Vec::new())?;
    let total = plan.time_len * plan.map_cells() as u64 * 4 * plan.vars.len() as u64;
    let bar = super::load::progress_bar(total, format!("loading {source}"));
    let plan = std::sync::Arc::new(plan);
    let reader_plan = plan.clone();
    let reader_bar = bar.clone();
    let r = super::load::stream_write(client, header, &bar, move |tx| {
        read(&reader_plan, tx, &reader_bar)
    })
    .await?;
    let secs = started.elapsed().as_secs_f64();
    Ok(format!(
        "loaded {source} into {}: {} x {} ({} variables: {}; {:.1} MB in {secs:.1} s, {:.1} MB/s), version {}",
        job.array,
        plan.time_len,
        plan.space.iter().map(|d| d.len.to_string()).collect::<Vec<_>>().join(" x "),
        plan.vars.len(),
        plan.vars.join(", "),
        total as f64 / 1e6,
        total as f64 / 1e6 / secs.max(1e-9),
        r.version
    ))
}

/// Reads every file's variables step by step, in the Write call's order: per
/// file, per variable, its time steps; gaps before a file as NaN.
fn stream_files(
    plan: &scan::LoadPlan,
    tx: &tokio::sync::mpsc::Sender<WriteRequest>,
    bar: &indicatif::ProgressBar,
) -> Result<(), String> {
    let mut offsets = vec![0u64; plan.vars.len()];
    let mut send = |k: usize, bytes: Vec<u8>| -> Result<(), String> {
        super::load::send_blocks(tx, bar, k, &mut offsets[k], &bytes)
    };
    let mut next_step = 0u64;
    for (n, slot) in plan.files.iter().enumerate() {
        bar.set_message(format!(
            "file {}/{} {}",
            n + 1,
            plan.files.len(),
            slot.path.display()
        ));
        let gap = slot.first - next_step;
        let file = netcdf::open(&slot.path).map_err(|e| format!("{}: {e}", slot.path.display()))?;
        for (k, name) in plan.vars.iter().enumerate() {
            for _ in 0..gap {
                send(k, f32::NAN.to_le_bytes().repeat(plan.map_cells()))?;
            }
            let var = file
                .variable(name)
                .ok_or_else(|| format!("{}: variable '{name}' is gone", slot.path.display()))?;
            let packing = attrs::packing(&var);
            for t in 0..slot.steps {
                let extents: Vec<std::ops::Range<usize>> = std::iter::once(t..t + 1)
                    .chain(plan.space.iter().map(|d| 0..d.len))
                    .collect();
                let raw: Vec<f64> = var.get_values::<f64, _>(extents).map_err(|e| {
                    format!(
                        "{}: reading '{name}' at time step {t}: {e}",
                        slot.path.display()
                    )
                })?;
                let mut bytes = Vec::with_capacity(plan.map_cells() * 4);
                packing.unpack(&raw, &mut bytes);
                send(k, bytes)?;
            }
        }
        next_step = slot.first + slot.steps as u64;
    }
    Ok(())
}

/// Creates the array when it does not exist, else checks that the files fit it;
/// returns the time index the files start at.
async fn prepare_array(
    client: &Client,
    job: &NetcdfLoad,
    plan: &scan::LoadPlan,
    rename: &impl Fn(&str) -> String,
) -> Result<u64, Error> {
    match client.describe(&job.array).await {
        Ok(desc) => {
            let schema = desc
                .schema
                .ok_or_else(|| Error::Protocol("DescribeArray without schema".into()))?;
            fits(&schema, plan, rename).map_err(|e| invalid(format!("array '{}': {e}", job.array)))
        }
        Err(e) if e.code() == arrayq_client::Code::NotFound => {
            client
                .create_array_sql(&create_sql(job, plan, rename))
                .await?;
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `CREATE ARRAY` for the files: time (growable), the grid, one REAL per variable.
fn create_sql(job: &NetcdfLoad, plan: &scan::LoadPlan, rename: &impl Fn(&str) -> String) -> String {
    let described = |name: &str| sql_clause(&plan.metadata.of(name));
    let mut items = vec![format!(
        "{} TIMESTAMP START '{}' STEP '{} ms' GROWABLE{}",
        quote(&rename(&plan.time_dim)),
        format_unix_ns(plan.time_start_ns),
        plan.time_step_ns / 1_000_000,
        described(&plan.time_dim)
    )];
    for d in &plan.space {
        items.push(format!(
            "{} DOUBLE START {:?} STEP {:?} LENGTH {}{}",
            quote(&rename(&d.name)),
            d.start,
            d.step,
            d.len,
            described(&d.name)
        ));
    }
    items.extend(
        plan.vars
            .iter()
            .map(|v| format!("{} REAL{}", quote(v), described(v))),
    );
    let mut with = Vec::new();
    if let Some(c) = &job.chunks {
        let c: Vec<String> = c.iter().map(|x| x.to_string()).collect();
        with.push(format!("chunks = ({})", c.join(", ")));
    }
    if let Some(l) = &job.layout {
        with.push(format!("layout = {}", quote(l)));
    }
    let with = if with.is_empty() {
        String::new()
    } else {
        format!(" WITH ({})", with.join(", "))
    };
    format!(
        "CREATE ARRAY {} ({}){}{with}",
        quote(&job.array),
        items.join(", "),
        sql_clause(&plan.metadata.global)
    )
}

/// The time index of the files' first step in an existing array whose grid and
/// variables match them.
fn fits(
    schema: &v1::ArraySchema,
    plan: &scan::LoadPlan,
    rename: &impl Fn(&str) -> String,
) -> Result<u64, String> {
    use v1::dimension::Coordinate;
    let dims = &schema.dimensions;
    if dims.len() != 1 + plan.space.len() {
        return Err(format!(
            "it has {} dimensions, the files {}",
            dims.len(),
            1 + plan.space.len()
        ));
    }
    let first = match &dims[0].coordinate {
        Some(Coordinate::Time(t))
            if dims[0].name == rename(&plan.time_dim) && t.step_ns == plan.time_step_ns =>
        {
            let d = plan.time_start_ns - t.start_unix_ns;
            if d < 0 || d % t.step_ns != 0 {
                return Err(format!(
                    "the files start at {}, not on its time grid (from {})",
                    format_unix_ns(plan.time_start_ns),
                    format_unix_ns(t.start_unix_ns)
                ));
            }
            (d / t.step_ns) as u64
        }
        _ => {
            return Err(format!(
                "its first dimension is not the files' time '{}' with their step",
                rename(&plan.time_dim)
            ))
        }
    };
    for (d, s) in dims[1..].iter().zip(&plan.space) {
        let same = match &d.coordinate {
            Some(Coordinate::Regular(r)) => r.start == s.start && r.step == s.step,
            _ => false,
        };
        if d.name != rename(&s.name) || d.length != s.len as u64 || !same {
            return Err(format!(
                "dimension '{}' does not match the files' '{}'",
                d.name, s.name
            ));
        }
    }
    for v in &plan.vars {
        let a = schema
            .attributes
            .iter()
            .find(|a| &a.name == v)
            .ok_or_else(|| format!("it has no attribute '{v}'"))?;
        if dtype_from_wire(a.dtype).ok() != Some(DType::F32) {
            return Err(format!("attribute '{v}' is not float32"));
        }
    }
    Ok(first)
}
