//! Typed errors of the storage engine.

use thiserror::Error;

/// Everything that can go wrong in the storage crate, named so callers can map it
/// (to gRPC codes, to query errors) without parsing messages.
#[derive(Debug, Error)]
pub enum StorageError {
    #[error("array '{0}' does not exist")]
    UnknownArray(String),
    #[error("array '{0}' already exists")]
    ArrayExists(String),
    #[error("array '{array}' has no attribute '{attr}'")]
    UnknownAttribute { array: String, attr: String },
    #[error("array '{array}' has no dimension '{dim}'")]
    UnknownDimension { array: String, dim: String },
    #[error("array '{array}' has no layout '{layout}'")]
    UnknownLayout { array: String, layout: String },
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    #[error("schema conflict: {0}")]
    SchemaConflict(String),
    #[error("region {region} is out of range for array '{array}' of shape {shape:?}: {why}")]
    OutOfRange {
        array: String,
        region: String,
        shape: Vec<u64>,
        why: String,
    },
    /// A label of one kind given to a label dimension of the other (text vs int64).
    #[error("dimension '{dim}' has {has}, so the label {label} does not fit it")]
    LabelKind {
        dim: String,
        label: String,
        has: &'static str,
    },
    #[error("shape mismatch: {0}")]
    ShapeMismatch(String),
    #[error("dtype mismatch for attribute '{attr}': stored as {expected}, got {got}")]
    DTypeMismatch {
        attr: String,
        expected: crate::DType,
        got: crate::DType,
    },
    #[error("array '{array}' has no version {version} (head is {head})")]
    UnknownVersion {
        array: String,
        version: u64,
        head: u64,
    },
    #[error("array '{array}': version {version} was vacuumed (oldest kept: {oldest})")]
    Vacuumed {
        array: String,
        version: u64,
        oldest: u64,
    },
    /// AS OF a time whose version vacuum removed.
    #[error("array '{array}': the version as of {} was vacuumed (oldest kept: version {oldest}, committed {})", crate::time::format_unix_ns(*timestamp_ns), crate::time::format_unix_ns(*oldest_timestamp_ns))]
    VacuumedAt {
        array: String,
        timestamp_ns: i64,
        oldest: u64,
        oldest_timestamp_ns: i64,
    },
    /// A change-log position whose events vacuum trimmed.
    #[error("position {position} expired, resume from {resume_from}")]
    Expired { position: u64, resume_from: u64 },
    #[error("invalid retention: {0}")]
    InvalidRetention(String),
    #[error("array '{array}' had no commit at or before timestamp {timestamp_ns} ns")]
    NoVersionAtTime { array: String, timestamp_ns: i64 },
    #[error("version conflict on '{array}': expected head {expected}, found {found}")]
    VersionConflict {
        array: String,
        expected: u64,
        found: u64,
    },
    #[error("checksum mismatch in array '{array}', layout '{layout}', attribute '{attr}', chunk {chunk:?}, version {version}: stored data is corrupt")]
    Corrupt {
        array: String,
        layout: String,
        attr: String,
        chunk: Vec<u64>,
        version: u64,
    },
    #[error("codec error: {0}")]
    Codec(String),
    #[error("store format version {found} is not supported (this build reads {supported})")]
    FormatVersion { found: u32, supported: u32 },
    #[error("the store at {0} is open in another process")]
    InUse(String),
    #[error("corrupt metadata: {0}")]
    Metadata(String),
    /// The store's filesystem is full: a commit refused before writing anything, or a
    /// write that ran out of space (and was undone).
    #[error("no space left for the store at {path}: {detail}")]
    NoSpace { path: String, detail: String },
    #[error("operation cancelled")]
    Cancelled,
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
