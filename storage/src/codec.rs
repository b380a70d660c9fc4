//! The chunk codec chain and the stored chunk envelope live in `arrayq-format`
//! (clients decode stored chunks too); the storage engine re-exports them here.

pub use arrayq_format::codec::*;

use crate::error::StorageError;

/// Bad chain parameters are schema errors; anything else a codec error.
impl From<CodecError> for StorageError {
    fn from(e: CodecError) -> Self {
        match e {
            CodecError::Invalid(m) => StorageError::InvalidSchema(m),
            other => StorageError::Codec(other.to_string()),
        }
    }
}
