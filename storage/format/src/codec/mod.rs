//! The chunk codec chain: array -> bytes (row-major little-endian), then bytes ->
//! bytes steps (byte shuffle, zstd), then the CRC32 envelope. Each step is a module of
//! its own implementing [`BytesCodec`]; [`CodecChain`] composes them as a layout's
//! schema records them (`docs/format.md`, "Chunk bytes").

mod chain;
pub mod crc32;
mod error;
mod scratch;
pub mod shuffle;
mod shuffle_simd;
pub mod zstd;

pub use crate::buffer::{buffer_bytes, buffer_bytes_mut};
pub use chain::{ArrayToBytes, BytesToBytes, CodecChain};
pub use crc32::checked_payload;
pub use error::CodecError;
pub use shuffle::{shuffle, unshuffle, ShuffleCodec};
pub use zstd::{zstd_compress, zstd_decompress, ZstdCodec};

/// One bytes-to-bytes step of a chain.
pub trait BytesCodec {
    /// Checks the step's parameters.
    fn validate(&self) -> Result<(), CodecError>;
    /// Encodes `src` into new bytes.
    fn encode(&self, src: &[u8]) -> Result<Vec<u8>, CodecError>;
    /// Decodes `src` into `dst`, which has exactly the decoded size.
    fn decode_into(&self, src: &[u8], dst: &mut [u8]) -> Result<(), CodecError>;
}
