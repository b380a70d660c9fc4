//! The Postgres bridge's source side: a query's rows out of PostgreSQL with binary
//! `COPY (...) TO STDOUT`, as [`RowBatch`](arrayq_proto::v1::RowBatch)es of
//! (label, time, version, value), once ([`Source::pull`]) or following LISTEN/NOTIFY
//! past a watermark ([`Follower`]). Where the rows go is the caller's: the `arrayq`
//! shell sends them over the IngestRows RPC, the server feeds its series ingest.
//! See docs/ingest.md.

mod columns;
mod error;
mod follow;
mod source;

pub use error::BridgeError;
pub use follow::{Backoff, Follower};
pub use source::{Columns, Pulled, Source, SourceSpec, BATCH_ROWS};
