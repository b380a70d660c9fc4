//! The parts of arrayq's data format that the storage engine and its clients share,
//! without the engine itself (no sled, no segment files):
//!
//! - [`DType`] with the one mapping of type names (SQL, numpy-ish, short names),
//!   [`Scalar`], [`Element`] and the typed n-d [`Buffer`];
//! - the chunk [`codec`] chain (byte shuffle, zstd, CRC32 envelope), so a client can
//!   decode the stored chunks a server sends as they are on disk;
//! - [`time`]: the one text form of timestamps;
//! - [`CoordValue`], one coordinate value.
//!
//! `arrayq-storage` re-exports all of it; `docs/format.md` describes the bytes.

pub mod buffer;
pub mod codec;
pub mod coord;
pub mod dtype;
pub mod element;
mod macros;
pub mod scalar;
pub mod time;

pub use buffer::{Buffer, ShapeError};
pub use codec::{ArrayToBytes, BytesToBytes, CodecChain, CodecError};
pub use coord::CoordValue;
pub use dtype::{DType, UnknownDType};
pub use element::Element;
pub use scalar::Scalar;
