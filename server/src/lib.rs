//! `arrayqd`, the arrayq gRPC server, as a library: the binary is a thin wrapper
//! around [`serve`].
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let config = arrayq_server::Config {
//!     grpc_addr: "127.0.0.1:0".into(),
//!     ..Default::default()
//! };
//! arrayq_server::serve(config, arrayq_server::shutdown_signal()?).await
//! # }
//! ```
//!
//! The service implements every RPC of `arrayq.v1.ArrayQ` (see `docs/grpc.md`) on
//! top of `arrayq-storage` and the query engine `arrayq-query`:
//!
//! * queries run on tokio's blocking pool (the engine itself parallelises with
//!   rayon) and stream through a small bounded channel, so slow clients apply
//!   backpressure and a cancelled call stops the work at the next chunk;
//! * a semaphore bounds concurrent queries (waiting callers get RESOURCE_EXHAUSTED
//!   after `queue_timeout`); deadlines (`grpc-timeout`, `timeout_ms`) and result
//!   size limits are passed to the engine;
//! * Subscribe replays the durable change log and follows live commits;
//! * optional bearer-token auth and TLS; graceful shutdown with a grace period;
//! * with `--pg ADDR`, the Postgres wire-protocol door (`pg/`, docs/postgres.md).

pub mod allocator;
mod auth;
mod catalog;
mod config;
mod convert;
mod errors;
mod frames;
mod ingest_jobs;
mod ingest_rows;
mod pg;
mod query;
mod roles;
mod schema_pb;
mod server;
mod service;
mod state;
mod subscribe;
mod table_result;
mod vacuum;
mod wire;
mod write;

pub use auth::{constant_time_eq, Auth, HEALTH_PATH};
pub use config::{Cli, Config, Limits, TlsFiles};
pub use convert::event_to_pb;
pub use errors::{query_status, storage_status};
pub use roles::{Caller, Role, Tokens, ADMIN_TOKEN_NAME};
pub use server::{serve, shutdown_signal, Server};
pub use service::ArrayQService;
pub use write::{data_block, open_write, OpenWrite, WriteLimits};

/// Installs the `tracing` subscriber of `arrayqd`: one line per event on stderr,
/// filtered by `ARRAYQ_LOG` (env-filter syntax, default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ARRAYQ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(true)
        .try_init();
}
