//! Rust client of the arrayq array database (gRPC, `arrayq.v1`).
//!
//! ```no_run
//! # async fn demo() -> arrayq_client::Result<()> {
//! use arrayq_client::Client;
//!
//! let client = Client::connect("http://127.0.0.1:50051").await?;
//! let r = client.query("SELECT avg(t2m) FROM era5").await?;
//! println!("{:?}", r.columns[0].values);
//!
//! // Large results can be consumed while they arrive; dropping the stream
//! // cancels the query on the server.
//! let mut s = client.query_stream("SELECT t2m FROM era5").await?;
//! println!("shape {:?}", s.header().shape);
//! while let Some(block) = s.next_block().await? {
//!     println!("column {} at {}: {} values", block.column, block.offset, block.values.len());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Modules: [`client`] (connection and RPCs), [`result`] (the result model),
//! [`error`], [`mod@format`] (tables, summaries, CSV, JSON), [`npy`] (.npy I/O),
//! [`sql`] (statement splitting),
//! [`values`] (column values: numbers or text), [`time`] (timestamp text, from
//! `arrayq-format`).
//!
//! Catalog statements (`CREATE ARRAY`, `DROP ARRAY`, `SHOW ARRAYS`, `DESCRIBE`) are
//! queries like any other: [`Client::query`] returns their answer as a result with
//! one dimension `row` and a column per field (text columns are
//! [`ColumnValues::Text`]).

pub mod client;
mod column_builder;
pub mod error;
pub mod format;
pub mod npy;
pub mod result;
pub mod sql;
mod stored;
mod stream;
pub mod values;

pub use arrayq_format::time;
pub use arrayq_format::{Buffer, DType};
pub use arrayq_proto::v1 as proto;
pub use client::{Client, ConnectOptions, ExplainResult, QueryOptions, QueryStream, Subscription};
pub use error::{Code, Error, Position, Result, StatusError};
pub use result::{Block, Column, ColumnInfo, Coords, Dim, Header, QueryResult, QueryStats};
pub use values::{ColumnType, ColumnValues};
