//! arrayq's storage engine: chunked, versioned n-d arrays; sled holds the catalog,
//! chunk index and commits, append-only segment files hold the chunk payloads.
//!
//! An array has ordered [`Dimension`]s (with coordinates), typed [`Attribute`]s and
//! one or more physical [`Layout`]s. Every commit writes new chunk versions to all
//! layouts and then one commit record, so readers working on a [`Snapshot`] never see
//! half a commit, and can read any kept version ("time travel"). Every commit also
//! appends a [`ChangeEvent`] to a durable log. See `docs/format.md` for the on-disk
//! format.

mod change_log;
mod chunk_stats;
pub mod codec;
pub mod coord;
mod disk_space;
pub mod dtype;
pub mod error;
mod ingest;
mod keys;
pub mod meta;
pub mod metadata;
mod prefetch;
pub mod region;
mod retention;
mod rollup;
pub mod schema;
mod segments;
mod settings;
mod snapshot;
mod staging_dir;
mod store;
#[cfg(feature = "testing")]
mod testing;
mod vacuum;
mod write;
mod write_source;

/// Shared bytes, as [`Snapshot::stored_chunk`] hands out stored chunks.
pub use arrayq_format::time;
pub use bytes::Bytes;
pub use chunk_stats::{ChunkStats, ChunkSummary};
pub use codec::{ArrayToBytes, BytesToBytes, CodecChain};
pub use coord::{CoordValue, Coordinate, LabelList, LabelRef, Labels};
pub use dtype::{with_buffer, with_dtype, Buffer, DType, Element, Scalar};
pub use error::{Result, StorageError};
pub use ingest::series;
pub use ingest::{BlockId, IngestError, IngestOptions, IngestResult, IngestSink};
pub use keys::FORMAT_VERSION;
pub use meta::{ChangeEvent, ChangeKind, CommitInfo, DimExtent, LayoutStats, VersionMeta};
pub use metadata::{Metadata, MetadataMap};
pub use region::Region;
pub use retention::Retention;
pub use rollup::{DayGrid, Rollup, RollupAttr, RollupCells, RollupField, RollupSpec, DAY_NS};
pub use schema::{ArraySchema, Attribute, Dimension, Layout};
pub use snapshot::{LayoutCost, ReadOptions, ReadStats, Snapshot};
pub use store::{AsOf, CommitRecord, Metrics, Options, Store, DEFAULT_RESERVED_DISK_BYTES};
pub use vacuum::VacuumStats;
pub use write::WriteTx;
