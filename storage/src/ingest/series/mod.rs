//! Rows -> an (asset x time) array: the series ingest behind the Postgres bridge and
//! the Postgres door's COPY.
//!
//! A row is (label, timestamp, version, value). The ingest keeps the label -> index
//! map of the array's label dimension, learns new labels (appended at commit), turns
//! timestamps into indices on the time dimension's regular grid (growing it forward,
//! and backward in whole chunks), and hands the cells to an [`IngestSink`](crate::IngestSink) in
//! batches. It creates the array on the first rows when it does not exist.
//!
//! Rules (docs/ingest.md): a cell given twice keeps the row with the higher version,
//! the later row on equal versions; cells never given read as missing (the fill, NaN);
//! a timestamp off the grid is an error naming the row. With
//! [`CommitPolicy::PerVersion`] each change of the version column (an ingest round)
//! commits what came before, so `AS OF` the commit of round k is every batch as of
//! version k when rows arrive in version order.

mod grid;
mod ingest;

pub use ingest::SeriesIngest;

use super::{IngestError, IngestOptions};
use crate::dtype::DType;
use crate::error::StorageError;
use crate::meta::CommitInfo;
use thiserror::Error;

/// Quarter-hours, the grid of energy timeseries.
pub const QUARTER_HOUR_NS: i64 = 15 * 60 * 1_000_000_000;
/// Chunks of an array the ingest creates: one asset x one week of quarter-hours.
pub const SERIES_CHUNK: [u64; 2] = [1, 96 * 7];
/// Chunks reserved before the time start of an array the ingest creates, so the
/// time dimension can grow backward (2^20 weeks).
const TIME_RESERVE_CHUNKS: u64 = 1 << 20;
/// Rows handed to the sink at once.
const PUSH_ROWS: usize = 1 << 16;

/// Where rows go: the array and the names of its parts.
#[derive(Clone, Debug)]
pub struct SeriesSpec {
    pub array: String,
    pub label_dim: String,
    pub time_dim: String,
    pub attribute: String,
    /// Step of the time grid of an array the ingest creates.
    pub step_ns: i64,
    /// Element type of the attribute of an array the ingest creates.
    pub dtype: DType,
}

impl SeriesSpec {
    /// `array` with dimensions `asset`, `time` (15 minutes) and attribute `value` (f32).
    pub fn new(array: &str) -> SeriesSpec {
        SeriesSpec {
            array: array.to_string(),
            label_dim: "asset".into(),
            time_dim: "time".into(),
            attribute: "value".into(),
            step_ns: QUARTER_HOUR_NS,
            dtype: DType::F32,
        }
    }
}

/// An asset label as a source gives it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    Int(i64),
    Text(String),
    /// A label from an untyped source (CSV): an integer if it parses as one and the
    /// dimension holds integers, text if it holds text; an array created from such
    /// labels gets integer labels when every label of its first batch parses as one.
    Untyped(String),
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Int(v) => write!(f, "{v}"),
            Label::Text(s) | Label::Untyped(s) => write!(f, "'{s}'"),
        }
    }
}

/// One row of a source.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRow {
    pub label: Label,
    /// UTC nanoseconds since the Unix epoch.
    pub time_ns: i64,
    pub version: Option<i64>,
    /// `None` is SQL NULL: the cell is set to missing.
    pub value: Option<f64>,
}

/// When the ingest commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitPolicy {
    /// Once, at [`SeriesIngest::finish`] (a COPY).
    Once,
    /// Whenever the version column changes, and at the end (a bridge's rounds).
    PerVersion,
}

/// How the ingest stages and commits.
#[derive(Clone, Debug)]
pub struct SeriesOptions {
    pub policy: CommitPolicy,
    pub sink: IngestOptions,
}

impl Default for SeriesOptions {
    fn default() -> Self {
        SeriesOptions {
            policy: CommitPolicy::Once,
            sink: IngestOptions::default(),
        }
    }
}

/// What is wrong with the rows or the array they go to.
#[derive(Debug, Error)]
pub enum SeriesError {
    #[error("{0}")]
    Ingest(#[from] IngestError),
    #[error("array '{array}' cannot take series rows: {why}")]
    Shape { array: String, why: String },
    #[error("row {row}: time {time} is not on the {step_min}-minute grid of dimension '{dim}' (starting {start})")]
    OffGrid {
        row: u64,
        time: String,
        dim: String,
        start: String,
        step_min: f64,
    },
    #[error("row {row}: label {label} is {got} but dimension '{dim}' holds {want} labels")]
    LabelKind {
        row: u64,
        label: Label,
        dim: String,
        got: &'static str,
        want: &'static str,
    },
    #[error("row {row}: version {version} arrived after version {after}; rows must come in version order")]
    VersionOrder { row: u64, version: i64, after: i64 },
}

impl From<StorageError> for SeriesError {
    fn from(e: StorageError) -> Self {
        SeriesError::Ingest(e.into())
    }
}

/// A commit the ingest made.
#[derive(Clone, Debug)]
pub struct SeriesCommit {
    pub info: CommitInfo,
    /// Rows it holds.
    pub rows: u64,
    /// The highest version among them.
    pub version: Option<i64>,
}
