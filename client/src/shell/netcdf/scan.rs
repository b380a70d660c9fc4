//! The first pass of a NetCDF load: every file opened and checked, nothing read
//! but coordinates. It finds the main dimensions and the variables on them, the
//! time axis of each file, orders the files by time and checks that they join
//! into one regular axis (gaps and overlaps name the files).

use super::attrs::text;
use super::metadata;
use crate::shell::cf::metadata::SourceMetadata;
use crate::shell::cf::{regular, TimeUnits};
use netcdf::Variable;
use std::path::{Path, PathBuf};

/// What the user asked for.
pub struct ScanOptions {
    /// Variables to load (all data variables on the main dimensions if empty).
    pub vars: Vec<String>,
    pub allow_gaps: bool,
}

/// A non-time dimension: its file name and regular coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct SpaceDim {
    pub name: String,
    pub start: f64,
    pub step: f64,
    pub len: usize,
}

/// One file's place on the time axis.
pub struct FileSlot {
    pub path: PathBuf,
    /// Index of its first time step on the joined axis.
    pub first: u64,
    pub steps: usize,
}

/// The files joined: time axis, other dimensions, variables, files in time order.
pub struct LoadPlan {
    pub time_dim: String,
    pub time_start_ns: i64,
    pub time_step_ns: i64,
    /// Steps on the joined axis (gaps included).
    pub time_len: u64,
    pub space: Vec<SpaceDim>,
    pub vars: Vec<String>,
    pub files: Vec<FileSlot>,
    /// The descriptions of the first file in time order.
    pub metadata: SourceMetadata,
}

impl LoadPlan {
    /// Cells of one time step.
    pub fn map_cells(&self) -> usize {
        self.space.iter().map(|d| d.len).product()
    }
}

struct FileScan {
    path: PathBuf,
    time_dim: String,
    times: Vec<i64>,
    space: Vec<SpaceDim>,
    vars: Vec<String>,
    metadata: SourceMetadata,
}

fn err(path: &Path, msg: impl std::fmt::Display) -> String {
    format!("{}: {msg}", path.display())
}

/// Checks every file and joins them (see the module).
pub fn scan(files: &[PathBuf], opts: &ScanOptions) -> Result<LoadPlan, String> {
    if files.is_empty() {
        return Err("no files given".into());
    }
    let mut scans = files
        .iter()
        .map(|p| scan_file(p, opts))
        .collect::<Result<Vec<_>, _>>()?;
    let first = &scans[0];
    for s in &scans[1..] {
        if s.time_dim != first.time_dim || s.vars != first.vars {
            return Err(format!(
                "{} and {} differ: time dimension {} vs {}, variables [{}] vs [{}]",
                first.path.display(),
                s.path.display(),
                first.time_dim,
                s.time_dim,
                first.vars.join(", "),
                s.vars.join(", ")
            ));
        }
        if s.space != first.space {
            return Err(format!(
                "{} and {} have different grids: {:?} vs {:?}",
                first.path.display(),
                s.path.display(),
                first.space,
                s.space
            ));
        }
    }
    let (time_dim, space, vars) = (
        first.time_dim.clone(),
        first.space.clone(),
        first.vars.clone(),
    );
    scans.sort_by_key(|s| s.times[0]);
    // The step: the smallest difference of consecutive times anywhere.
    let all: Vec<i64> = scans.iter().flat_map(|s| s.times.iter().copied()).collect();
    let step = all
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|&d| d > 0)
        .min()
        .unwrap_or(3_600_000_000_000);
    let t0 = scans[0].times[0];
    let mut slots = Vec::with_capacity(scans.len());
    let mut next = t0;
    for (k, s) in scans.iter().enumerate() {
        for w in s.times.windows(2) {
            if w[1] - w[0] != step {
                return Err(err(
                    &s.path,
                    format!(
                        "its times are not evenly spaced by the files' step of {} s",
                        step / 1_000_000_000
                    ),
                ));
            }
        }
        let start = s.times[0];
        if (start - t0) % step != 0 {
            return Err(err(&s.path, "its times are off the other files' time grid"));
        }
        if start < next {
            return Err(format!(
                "{} and {} overlap in time",
                scans[k - 1].path.display(),
                s.path.display()
            ));
        }
        if start > next && !opts.allow_gaps {
            return Err(format!(
                "time steps are missing between {} and {} (use --allow-gaps to load them as missing values)",
                scans[k - 1].path.display(),
                s.path.display()
            ));
        }
        slots.push(FileSlot {
            path: s.path.clone(),
            first: ((start - t0) / step) as u64,
            steps: s.times.len(),
        });
        next = s.times[s.times.len() - 1] + step;
    }
    Ok(LoadPlan {
        time_dim,
        time_start_ns: t0,
        time_step_ns: step,
        time_len: ((next - t0) / step) as u64,
        space,
        vars,
        files: slots,
        metadata: scans[0].metadata.clone(),
    })
}

fn scan_file(path: &Path, opts: &ScanOptions) -> Result<FileScan, String> {
    let file = netcdf::open(path).map_err(|e| err(path, format!("cannot open as NetCDF: {e}")))?;
    let is_coord = |v: &Variable| {
        let d = v.dimensions();
        d.len() == 1 && d[0].name() == v.name()
    };
    // Main dimensions: those of the asked-for variables, or of the data variable
    // with the most dimensions.
    let data: Vec<Variable> = file.variables().filter(|v| !is_coord(v)).collect();
    let pick = |name: &str| {
        data.iter().find(|v| v.name() == name).ok_or_else(|| {
            let names: Vec<String> = data.iter().map(|v| v.name()).collect();
            err(
                path,
                format!("no data variable '{name}' (it has {})", names.join(", ")),
            )
        })
    };
    let main: Vec<String> = match opts.vars.first() {
        Some(v) => pick(v)?.dimensions().iter().map(|d| d.name()).collect(),
        None => data
            .iter()
            .max_by_key(|v| v.dimensions().len())
            .ok_or_else(|| err(path, "no data variables"))?
            .dimensions()
            .iter()
            .map(|d| d.name())
            .collect(),
    };
    let dims_of = |v: &Variable| v.dimensions().iter().map(|d| d.name()).collect::<Vec<_>>();
    let vars: Vec<String> = if opts.vars.is_empty() {
        data.iter()
            .filter(|v| dims_of(v) == main)
            .map(|v| v.name())
            .collect()
    } else {
        for v in &opts.vars {
            let d = dims_of(pick(v)?);
            if d != main {
                return Err(err(
                    path,
                    format!(
                        "variable '{v}' has dimensions ({}), not ({})",
                        d.join(", "),
                        main.join(", ")
                    ),
                ));
            }
        }
        opts.vars.clone()
    };
    if main.len() < 2 {
        return Err(err(
            path,
            format!(
                "variables on ({}) have no time and grid dimensions to load",
                main.join(", ")
            ),
        ));
    }
    // The time dimension comes first: the one files are joined along.
    let time_dim = main[0].clone();
    let tvar = file.variable(&time_dim).ok_or_else(|| {
        err(
            path,
            format!("dimension '{time_dim}' has no coordinate variable"),
        )
    })?;
    let units = text(&tvar, "units").ok_or_else(|| {
        err(
            path,
            format!("'{time_dim}' has no units (CF time: '<unit> since <date>')"),
        )
    })?;
    let cal = text(&tvar, "calendar");
    let tu = TimeUnits::parse(&units, cal.as_deref()).map_err(|e| err(path, e))?;
    let raw: Vec<f64> = tvar
        .get_values::<f64, _>(..)
        .map_err(|e| err(path, format!("cannot read '{time_dim}': {e}")))?;
    if raw.is_empty() {
        return Err(err(path, format!("'{time_dim}' is empty")));
    }
    let times: Vec<i64> = raw.iter().map(|&v| tu.to_ns(v)).collect();
    let mut space = Vec::new();
    for name in &main[1..] {
        let len = file.dimension_len(name).unwrap_or(0);
        let (start, step) = match file.variable(name) {
            Some(v) => {
                let c: Vec<f64> = v
                    .get_values::<f64, _>(..)
                    .map_err(|e| err(path, format!("cannot read '{name}': {e}")))?;
                regular(&c)
                    .ok_or_else(|| err(path, format!("coordinate '{name}' is not evenly spaced")))?
            }
            None => (0.0, 1.0),
        };
        space.push(SpaceDim {
            name: name.clone(),
            start,
            step,
            len,
        });
    }
    let metadata = metadata::of_file(&file, &time_dim, &main[1..], &vars);
    Ok(FileScan {
        path: path.to_path_buf(),
        time_dim,
        times,
        space,
        vars,
        metadata,
    })
}
