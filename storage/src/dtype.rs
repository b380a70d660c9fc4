//! Element types and the typed buffers that carry them: they live in `arrayq-format`
//! (shared with clients); the storage engine re-exports them under their old paths.

pub use arrayq_format::buffer::ShapeError;
pub use arrayq_format::{with_buffer, with_dtype, Buffer, DType, Element, Scalar, UnknownDType};

use crate::error::StorageError;

impl From<ShapeError> for StorageError {
    fn from(e: ShapeError) -> Self {
        StorageError::ShapeMismatch(e.0)
    }
}
