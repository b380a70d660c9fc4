//! Ingest: one sink every write path feeds (the Write RPC, loaders of files and
//! databases). Data arrives as blocks (a hyperslab's bytes in pieces) or as records
//! (cells with coordinates); it is staged in memory up to a bound, spilled to a
//! file in `<store>/staging/` past it, and at commit streamed into the chunk writer
//! chunk by chunk, so a write's size never bounds the memory it takes.

mod error;
mod records;
pub mod series;
mod sink;
mod spill;
mod staging;

pub use error::{IngestError, IngestResult};
pub use sink::{BlockId, IngestOptions, IngestSink};
