//! Errors of an ingest sink: what was wrong with the data given, or the storage
//! error underneath.

use crate::error::StorageError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum IngestError {
    #[error("{0}")]
    Storage(#[from] StorageError),
    #[error("staging file: {0}")]
    Staging(#[from] std::io::Error),
    #[error("no block {0} was begun in this write")]
    UnknownBlock(usize),
    #[error("region {region} of attribute '{attr}' is empty")]
    EmptyRegion { attr: String, region: String },
    #[error("region {region} of attribute '{attr}' is too large to address")]
    RegionTooLarge { attr: String, region: String },
    #[error("attribute '{attr}': data at byte {offset} but {received} bytes received (pieces must arrive in order)")]
    OffsetMismatch {
        attr: String,
        offset: u64,
        received: u64,
    },
    #[error(
        "attribute '{attr}': data up to byte {end} is past the {len} bytes of region {region}"
    )]
    PastRegion {
        attr: String,
        region: String,
        end: u64,
        len: u64,
    },
    #[error("attribute '{attr}': got {got} bytes, region {region} needs {need}")]
    Incomplete {
        attr: String,
        region: String,
        got: u64,
        need: u64,
    },
    #[error("attribute '{attr}': {values} values for {cells} cells of rank {rank} ({coords} coordinates)")]
    CellCount {
        attr: String,
        values: usize,
        cells: usize,
        rank: usize,
        coords: usize,
    },
    #[error("the write holds {bytes} bytes; at most {limit} are accepted per write")]
    TooLarge { bytes: u64, limit: u64 },
}

pub type IngestResult<T> = std::result::Result<T, IngestError>;
