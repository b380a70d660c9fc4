//! Server configuration: command line flags, each with an `ARRAYQ_*` environment
//! variable, and the limits the server enforces.

use std::path::PathBuf;
use std::time::Duration;

use arrayq_proto::MAX_BLOCK_BYTES;
use arrayq_query::DEFAULT_MAX_QUERY_MEMORY_BYTES;
use arrayq_storage::DEFAULT_RESERVED_DISK_BYTES;
use arrayq_workload::Scale;
use clap::Parser;

/// How often retention policies are applied unless `--retention-interval` says.
pub const DEFAULT_RETENTION_INTERVAL: Duration = Duration::from_secs(60);

/// Everything [`crate::serve`] needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// Directory of the embedded store (created if missing).
    pub data_dir: PathBuf,
    /// Free bytes writes leave on the store's filesystem (for sled, DROP and
    /// VACUUM); a write that would use them fails with RESOURCE_EXHAUSTED.
    pub disk_reserve_bytes: u64,
    /// Address to listen on (`host:port`; port 0 picks a free port).
    pub grpc_addr: String,
    /// If set, every call except Health needs `authorization: Bearer <token>`; this
    /// token is the caller `admin` with role admin.
    pub auth_token: Option<String>,
    /// TOML file of `[[token]]` entries (name, token, role), re-read on SIGHUP.
    pub auth_file: Option<PathBuf>,
    /// PEM certificate chain and private key: serve TLS instead of plaintext.
    pub tls: Option<TlsFiles>,
    /// Load the ERA5 demo cube of this scale as array `era5` when the store is empty.
    pub demo: Option<Scale>,
    /// How long running calls may go on after a shutdown signal before they are
    /// cancelled.
    pub grace: Duration,
    /// Serve gRPC reflection (`grpc.reflection.v1`).
    pub reflection: bool,
    /// Limits on calls and results.
    pub limits: Limits,
    /// Address of the Postgres wire-protocol door (`host:port`; port 0 picks a free
    /// port); None: no door.
    pub pg_addr: Option<String>,
    /// How often stored retention policies are applied; None: never.
    pub retention_interval: Option<Duration>,
}

/// PEM files of a TLS identity.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What one call may use.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Queries (Query, Explain) running at once; more wait for a slot.
    pub max_concurrent_queries: usize,
    /// Write streams running at once; more wait for a slot. Each holds up to
    /// `staging_memory_bytes` in memory.
    pub max_concurrent_writes: usize,
    /// How long a query or write waits for a slot before RESOURCE_EXHAUSTED.
    pub queue_timeout: Duration,
    /// Largest query result (sum of all columns' bytes).
    pub max_result_bytes: u64,
    /// Bytes one query's operators may hold at once (sort, window, aggregation
    /// state, a join's right side); past it the query fails with RESOURCE_EXHAUSTED.
    pub max_query_memory_bytes: u64,
    /// Server-side time limit of one query (besides the client's deadline).
    pub query_timeout: Option<Duration>,
    /// Largest incoming or outgoing gRPC message.
    pub max_message_bytes: usize,
    /// Largest Write (sum of all attributes' bytes).
    pub max_write_bytes: u64,
    /// Bytes of one Write held in memory before the rest spills to the store's
    /// staging directory (so a Write's size bounds disk, not memory).
    pub staging_memory_bytes: usize,
    /// Payload bytes of one DataBlock (at most [`MAX_BLOCK_BYTES`]).
    pub block_bytes: usize,
    /// Messages buffered between a query's worker thread and its response stream.
    pub stream_buffer: usize,
    /// Live change events buffered for subscribers; one that falls further behind
    /// re-reads the durable change log.
    pub event_buffer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent_queries: 8,
            max_concurrent_writes: 4,
            queue_timeout: Duration::from_secs(5),
            max_result_bytes: 1 << 30,
            max_query_memory_bytes: DEFAULT_MAX_QUERY_MEMORY_BYTES,
            query_timeout: Some(Duration::from_secs(300)),
            max_message_bytes: 16 << 20,
            max_write_bytes: 4 << 30,
            staging_memory_bytes: 64 << 20,
            block_bytes: MAX_BLOCK_BYTES,
            stream_buffer: 2,
            event_buffer: 1024,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./arrayq-data"),
            disk_reserve_bytes: DEFAULT_RESERVED_DISK_BYTES,
            grpc_addr: "127.0.0.1:50051".into(),
            auth_token: None,
            auth_file: None,
            tls: None,
            demo: None,
            grace: Duration::from_secs(10),
            reflection: true,
            limits: Limits::default(),
            pg_addr: None,
            retention_interval: Some(DEFAULT_RETENTION_INTERVAL),
        }
    }
}

/// Command line of `arrayqd`. Every flag can also be given as the environment
/// variable named in its help; flags win.
#[derive(Parser, Debug, Clone)]
#[command(name = "arrayqd", version, about = "The arrayq gRPC server")]
pub struct Cli {
    /// Store directory.
    #[arg(long, env = "ARRAYQ_DATA", default_value = "./arrayq-data")]
    pub data: PathBuf,
    /// Free bytes writes leave on the store's filesystem, so that the index, DROP
    /// ARRAY and VACUUM still have room on a disk full of data; a write (commit or
    /// staging spill) that would use them fails with RESOURCE_EXHAUSTED. See
    /// docs/operations.md.
    #[arg(long, env = "ARRAYQ_DISK_RESERVE_BYTES", default_value_t = DEFAULT_RESERVED_DISK_BYTES)]
    pub disk_reserve_bytes: u64,
    /// Listen address (host:port). Loopback by default; port 0 picks a free port.
    #[arg(long, env = "ARRAYQ_GRPC", default_value = "127.0.0.1:50051")]
    pub grpc: String,
    /// Require `authorization: Bearer <token>` on every call except Health.
    /// Prefer the environment variable: flags are visible to other local users.
    /// This token is the caller "admin", with role admin.
    #[arg(long, env = "ARRAYQ_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// TOML file of `[[token]]` entries (name, token, role = read | write | admin);
    /// re-read on SIGHUP. May be combined with --auth-token. See docs/auth.md.
    #[arg(long, env = "ARRAYQ_AUTH_FILE")]
    pub auth_file: Option<PathBuf>,
    /// PEM certificate (chain) for TLS; needs --tls-key.
    #[arg(long, env = "ARRAYQ_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS; needs --tls-cert.
    #[arg(long, env = "ARRAYQ_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Load the ERA5 demo cube as array `era5` when the store is empty.
    #[arg(long, env = "ARRAYQ_DEMO")]
    pub demo: bool,
    /// Scale of the demo cube: XS (2 days), S (January 2023), M (2023).
    #[arg(long, env = "ARRAYQ_DEMO_SCALE", default_value = "S", value_parser = parse_scale)]
    pub demo_scale: Scale,
    /// Seconds running calls may take to finish after SIGINT/SIGTERM before they
    /// are cancelled.
    #[arg(long, env = "ARRAYQ_GRACE_SECS", default_value_t = 10)]
    pub grace_secs: u64,
    /// Queries running at once; more wait (up to --queue-timeout-ms) for a slot.
    #[arg(long, env = "ARRAYQ_MAX_CONCURRENT_QUERIES", default_value_t = 8)]
    pub max_concurrent_queries: usize,
    /// Write streams running at once (each holds up to --staging-memory-bytes in
    /// memory); more wait (up to --queue-timeout-ms) for a slot.
    #[arg(long, env = "ARRAYQ_MAX_CONCURRENT_WRITES", default_value_t = 4)]
    pub max_concurrent_writes: usize,
    /// How long a query or write waits for a slot before failing with
    /// RESOURCE_EXHAUSTED.
    #[arg(long, env = "ARRAYQ_QUEUE_TIMEOUT_MS", default_value_t = 5000)]
    pub queue_timeout_ms: u64,
    /// Largest query result in bytes (a request may ask for less).
    #[arg(long, env = "ARRAYQ_MAX_RESULT_BYTES", default_value_t = 1 << 30)]
    pub max_result_bytes: u64,
    /// Bytes one query's operators may hold at once (sort, window, aggregation
    /// state and quantiles' values, a join's right side); past it the query fails
    /// with RESOURCE_EXHAUSTED. See docs/limits.md.
    #[arg(long, env = "ARRAYQ_MAX_QUERY_MEMORY_BYTES", default_value_t = DEFAULT_MAX_QUERY_MEMORY_BYTES)]
    pub max_query_memory_bytes: u64,
    /// Server-side time limit of a query in seconds (0 = none besides the client's
    /// deadline).
    #[arg(long, env = "ARRAYQ_QUERY_TIMEOUT_SECS", default_value_t = 300)]
    pub query_timeout_secs: u64,
    /// Largest gRPC message the server accepts or sends, bytes.
    #[arg(long, env = "ARRAYQ_MAX_MESSAGE_BYTES", default_value_t = 16 << 20)]
    pub max_message_bytes: usize,
    /// Largest Write (all attributes) in bytes.
    #[arg(long, env = "ARRAYQ_MAX_WRITE_BYTES", default_value_t = 4 << 30)]
    pub max_write_bytes: u64,
    /// Bytes of one Write held in memory; the rest spills to `<data>/staging/`.
    #[arg(long, env = "ARRAYQ_STAGING_MEMORY_BYTES", default_value_t = 64 << 20)]
    pub staging_memory_bytes: usize,
    /// Payload bytes per DataBlock of query results (at most 4128768).
    #[arg(long, env = "ARRAYQ_BLOCK_BYTES", default_value_t = MAX_BLOCK_BYTES)]
    pub block_bytes: usize,
    /// Live change events buffered for subscribers (slower ones re-read the log).
    #[arg(long, env = "ARRAYQ_EVENT_BUFFER", default_value_t = 1024, hide = true)]
    pub event_buffer: usize,
    /// Also serve the Postgres wire protocol on this address (host:port, e.g.
    /// 127.0.0.1:5433; port 0 picks a free port). Off without it; see
    /// docs/postgres.md.
    #[arg(long, env = "ARRAYQ_PG")]
    pub pg: Option<String>,
    /// How often the arrays' retention policies (ALTER ARRAY ... SET (retain ...))
    /// are applied: an interval such as '1 minute', '30s', '200ms'; 0 or off: never.
    // Fully qualified: a plain `Option` would make clap treat the flag as optional
    // and expect the parser to return a `Duration`.
    #[arg(long, env = "ARRAYQ_RETENTION_INTERVAL", default_value = "1 minute", value_parser = parse_interval)]
    pub retention_interval: std::option::Option<Duration>,
    /// Do not serve gRPC reflection.
    #[arg(long, env = "ARRAYQ_NO_REFLECTION")]
    pub no_reflection: bool,
}

/// `0` / `off`: None; else an interval in the language's one interval syntax.
fn parse_interval(s: &str) -> Result<Option<Duration>, String> {
    if s.trim() == "0" || s.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    match arrayq_query::parse_duration(s) {
        Some(ns) if ns > 0 => Ok(Some(Duration::from_nanos(ns as u64))),
        _ => Err(format!(
            "'{s}' is not an interval like '1 minute', '30s' or '200ms' (or 0 for never)"
        )),
    }
}

fn parse_scale(s: &str) -> Result<Scale, String> {
    s.parse::<Scale>().map_err(|e| e.to_string())
}

impl Cli {
    /// The server configuration these flags describe.
    pub fn into_config(self) -> Config {
        Config {
            data_dir: self.data,
            disk_reserve_bytes: self.disk_reserve_bytes,
            grpc_addr: self.grpc,
            auth_token: self.auth_token.filter(|t| !t.is_empty()),
            auth_file: self.auth_file.filter(|p| !p.as_os_str().is_empty()),
            tls: match (self.tls_cert, self.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
                _ => None,
            },
            demo: self.demo.then_some(self.demo_scale),
            grace: Duration::from_secs(self.grace_secs),
            reflection: !self.no_reflection,
            pg_addr: self.pg.filter(|a| !a.is_empty()),
            retention_interval: self.retention_interval,
            limits: Limits {
                max_concurrent_queries: self.max_concurrent_queries.max(1),
                max_concurrent_writes: self.max_concurrent_writes.max(1),
                queue_timeout: Duration::from_millis(self.queue_timeout_ms),
                max_result_bytes: self.max_result_bytes,
                max_query_memory_bytes: self.max_query_memory_bytes,
                query_timeout: (self.query_timeout_secs > 0)
                    .then(|| Duration::from_secs(self.query_timeout_secs)),
                max_message_bytes: self.max_message_bytes.max(64 << 10),
                max_write_bytes: self.max_write_bytes,
                staging_memory_bytes: self.staging_memory_bytes,
                block_bytes: self.block_bytes.clamp(64, MAX_BLOCK_BYTES),
                event_buffer: self.event_buffer.max(1),
                ..Limits::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_flags() {
        let c = Cli::try_parse_from(["arrayqd"]).unwrap().into_config();
        assert_eq!(c.grpc_addr, "127.0.0.1:50051");
        assert_eq!(c.data_dir, PathBuf::from("./arrayq-data"));
        assert_eq!(c.grace, Duration::from_secs(10));
        assert!(c.demo.is_none() && c.tls.is_none());
        assert_eq!(c.disk_reserve_bytes, 16 << 20);
        let c = Cli::try_parse_from(["arrayqd", "--disk-reserve-bytes", "1073741824"])
            .unwrap()
            .into_config();
        assert_eq!(c.disk_reserve_bytes, 1 << 30);
        assert!(Cli::try_parse_from(["arrayqd", "--disk-reserve-bytes", "1G"]).is_err());
        let c = Cli::try_parse_from([
            "arrayqd",
            "--grpc",
            "127.0.0.1:0",
            "--demo",
            "--demo-scale",
            "xs",
            "--grace-secs",
            "2",
            "--block-bytes",
            "99999999",
        ])
        .unwrap()
        .into_config();
        assert_eq!(c.demo, Some(Scale::XS));
        assert_eq!(c.grace, Duration::from_secs(2));
        assert_eq!(c.limits.block_bytes, MAX_BLOCK_BYTES);
        assert_eq!(c.limits.max_query_memory_bytes, 2 << 30);
        let c = Cli::try_parse_from(["arrayqd", "--max-query-memory-bytes", "1048576"])
            .unwrap()
            .into_config();
        assert_eq!(c.limits.max_query_memory_bytes, 1 << 20);
        assert!(Cli::try_parse_from(["arrayqd", "--tls-cert", "c.pem"]).is_err());
        assert_eq!(c.pg_addr, None);
        let c = Cli::try_parse_from(["arrayqd", "--pg", "127.0.0.1:0"])
            .unwrap()
            .into_config();
        assert_eq!(c.pg_addr.as_deref(), Some("127.0.0.1:0"));
        assert_eq!(c.auth_file, None);
        let c = Cli::try_parse_from(["arrayqd", "--auth-file", "/etc/arrayq/tokens.toml"])
            .unwrap()
            .into_config();
        assert_eq!(c.auth_file, Some(PathBuf::from("/etc/arrayq/tokens.toml")));
        assert_eq!(c.retention_interval, Some(DEFAULT_RETENTION_INTERVAL));
        let c = Cli::try_parse_from(["arrayqd", "--retention-interval", "200ms"])
            .unwrap()
            .into_config();
        assert_eq!(c.retention_interval, Some(Duration::from_millis(200)));
        let c = Cli::try_parse_from(["arrayqd", "--retention-interval", "0"])
            .unwrap()
            .into_config();
        assert_eq!(c.retention_interval, None);
        assert!(Cli::try_parse_from(["arrayqd", "--retention-interval", "soon"]).is_err());
    }
}
