//! What can go wrong in the codec chain.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CodecError {
    /// A step's parameters are out of range (a schema or wire description is bad).
    #[error("{0}")]
    Invalid(String),
    /// A step failed on its input (zstd's own error, a bad frame).
    #[error("{step}: {message}")]
    Step { step: &'static str, message: String },
    /// A step's input or output has the wrong length.
    #[error("{what} has {got} bytes, expected {expected}")]
    Size {
        what: &'static str,
        got: usize,
        expected: usize,
    },
    /// The chunks given do not decode to the output's size.
    #[error("{chunks} stored chunks decode to {decoded} bytes, {given} bytes given")]
    ChunksSize {
        chunks: usize,
        decoded: usize,
        given: usize,
    },
    #[error("stored chunk {index} of {total} fails its checksum")]
    ChunkChecksum { index: usize, total: usize },
    #[error("stored chunk {index} of {total}: {source}")]
    Chunk {
        index: usize,
        total: usize,
        source: Box<CodecError>,
    },
}
