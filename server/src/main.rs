//! `arrayqd`: the arrayq gRPC server. See `server/README.md` for flags and
//! environment variables.

use std::process::ExitCode;

use arrayq_server::{init_logging, serve, shutdown_signal, Cli};
use clap::Parser;

/// Large result blocks are allocated and freed all the time; glibc maps and unmaps
/// each one (page faults on every block), mimalloc reuses them (see
/// `arrayq_server::allocator`).
#[global_allocator]
static GLOBAL: arrayq_server::allocator::Allocator = arrayq_server::allocator::Allocator;

#[tokio::main]
async fn main() -> ExitCode {
    arrayq_server::allocator::tune();
    let config = Cli::parse().into_config();
    init_logging();
    let stop = match shutdown_signal() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("arrayqd: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    match serve(config, stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("arrayqd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
