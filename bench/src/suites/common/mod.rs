//! What the suites share: answers and their comparison, arrayq measured in-process
//! and over gRPC, the real `arrayqd` as a process, clients and loads, the cached
//! ERA5 cube, decode floors, the Python peers, files and result tables.
//!
//! - [`cube::cached_era5`]`(ctx, layouts)`: a directory holding the cube with those
//!   layouts, loaded once under `--cache-dir` (default
//!   `<tmp-dir>/arrayq-bench-cache/`) and reused; copy it with [`files::copy_dir`]
//!   (or [`Ctx::temp_dir`] + [`files::copy_dir`]) before serving it, since sled
//!   locks and writes its directory.
//! - [`arrayqd::start_arrayqd`]`(data_dir)` /
//!   [`arrayqd::ArrayqdProcess::start`]`(data_dir, &opts)`: runs `arrayqd` on
//!   `127.0.0.1:0` (through `arrayq_tests::TestServer`) and returns an
//!   [`arrayqd::ArrayqdProcess`] (`url` for `arrayq_client::Client::connect`,
//!   `cpu_time`); dropping it stops the server (SIGTERM, then SIGKILL after 10 s).
//!   [`arrayqd::ArrayqdOptions::for_ctx`] gives it the suite's thread budget. The
//!   binary is `$ARRAYQD` or the `arrayqd` beside the running `arrayq-bench`
//!   (`target/release/` for a release run), built when missing (rebuild it yourself
//!   after changing the server).
//! - [`grpc_client::client_runtime`]: a tokio runtime for clients;
//!   [`grpc_client::drain_grpc`] and [`grpc_client::drain_in_process`] pull a
//!   query's whole result without keeping it; [`arrayq::server_like_engine`] is an
//!   in-process engine configured like arrayqd's (the server's own flag parsing);
//!   [`arrayqd::own_cpu_time`] gives CPU time per query.
//! - [`grpc_client::closed_loop`]: N clients issuing one query back to back for a
//!   while; [`grpc_client::LoadResult`] has the latencies, queries/s and errors.
//!
//! [`Ctx::temp_dir`]: crate::suites::Ctx::temp_dir

pub mod answers;
pub mod arrayq;
pub mod arrayqd;
pub mod cube;
pub mod era5_files;
pub mod files;
pub mod floor;
pub mod grpc_client;
pub mod peers;
pub mod tables;

/// RFC 3339 UTC of a timestamp in ns.
pub fn iso(ns: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_nanos(ns)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
