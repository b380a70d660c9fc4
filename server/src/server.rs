//! Starting, running and stopping the server.

use std::future::Future;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arrayq_proto::FILE_DESCRIPTOR_SET;
use arrayq_query::{Engine, EngineConfig};
use arrayq_storage::{Options, Store};
use arrayq_workload::load;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tonic::service::InterceptorLayer;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, ServerTlsConfig};
use tower::util::MapRequestLayer;
use tracing::{info, warn};

use crate::auth::{tag_path, Auth};
use crate::config::Config;
use crate::pg::PgDoor;
use crate::query::warn_stuck;
use crate::roles::{on_sighup, Tokens};
use crate::service::ArrayQService;
use crate::state::{Reason, Shared};
use crate::wire::ArrayQRoutes;

/// How long calls cancelled at the end of the grace period get to wind down
/// before their connections are closed.
const CANCEL_GRACE: Duration = Duration::from_secs(5);
/// How long shutdown waits for blocking work (commits, cancelled queries).
const BLOCKING_GRACE: Duration = Duration::from_secs(60);

/// A bound, ready server: the store is open (and the demo loaded) and the socket
/// listens; [`Server::run`] serves it.
pub struct Server {
    config: Config,
    shared: Arc<Shared>,
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Option<ServerTlsConfig>,
    shutdown_tx: watch::Sender<bool>,
    pg: Option<PgDoor>,
    /// None: no --auth-token nor --auth-file, every caller may do everything.
    tokens: Option<Arc<Tokens>>,
}

impl Server {
    /// Opens the store, loads the demo cube if asked and the store is empty, reads
    /// the TLS files and binds the listening socket.
    pub async fn bind(config: Config) -> Result<Server> {
        // tonic's TLS (rustls) needs a process-wide crypto provider; we build with ring.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let tls = match &config.tls {
            None => None,
            Some(files) => {
                let cert = std::fs::read(&files.cert)
                    .with_context(|| format!("reading TLS certificate {}", files.cert.display()))?;
                let key = std::fs::read(&files.key)
                    .with_context(|| format!("reading TLS key {}", files.key.display()))?;
                Some(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
            }
        };

        let tokens = Tokens::load(config.auth_token.as_deref(), config.auth_file.as_deref())
            .map_err(anyhow::Error::msg)?;
        on_sighup(tokens.clone()).context("installing the SIGHUP handler")?;

        let dir = config.data_dir.clone();
        let opts = Options {
            reserved_disk_bytes: config.disk_reserve_bytes,
            ..Options::default()
        };
        let store = tokio::task::spawn_blocking(move || -> Result<Store> {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating data directory {}", dir.display()))?;
            Store::open_with(&dir, opts)
                .with_context(|| format!("opening the store in {}", dir.display()))
        })
        .await??;
        info!(data = %config.data_dir.display(), arrays = store.list_arrays().len(), "store open");

        if let Some(scale) = config.demo {
            if store.list_arrays().is_empty() {
                let s = store.clone();
                let t = Instant::now();
                info!(%scale, "loading the ERA5 demo cube as array 'era5'");
                let report = tokio::task::spawn_blocking(move || {
                    load::load_era5(
                        &s,
                        "era5",
                        scale,
                        &[("maps", load::MAP_TILES), ("pencils", load::pencils(scale))],
                        3,
                        std::io::stderr().is_terminal(),
                    )
                })
                .await?
                .context("loading the demo cube")?;
                info!(
                    cells = report.cells,
                    stored_bytes = report.stored_bytes,
                    seconds = t.elapsed().as_secs_f64(),
                    "demo cube loaded"
                );
            } else {
                info!("--demo: the store is not empty, nothing loaded");
            }
        }

        let limits = config.limits.clone();
        let engine = Engine::new(
            store.clone(),
            EngineConfig {
                max_result_bytes: limits.max_result_bytes,
                timeout: limits.query_timeout,
                block_bytes: limits.block_bytes,
                max_query_memory_bytes: limits.max_query_memory_bytes,
            },
        );
        let (events, _) = broadcast::channel(config.limits.event_buffer.max(1));
        let feed = events.clone();
        store.on_commit(move |ev| {
            // No receivers is fine: nobody subscribed.
            let _ = feed.send(ev.clone());
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared::new(store, engine, limits, shutdown_rx, events));

        let listener = TcpListener::bind(&config.grpc_addr)
            .await
            .with_context(|| format!("binding {}", config.grpc_addr))?;
        let local_addr = listener.local_addr()?;
        if !local_addr.ip().is_loopback() {
            if tokens.is_none() {
                warn!(%local_addr, "listening beyond loopback without --auth-token or --auth-file: anyone who can reach this port can read and write");
            }
            if tls.is_none() {
                warn!(%local_addr, "listening beyond loopback without TLS: data and tokens travel in clear text");
            }
        }
        let pg = match &config.pg_addr {
            Some(addr) => Some(PgDoor::bind(addr, tokens.is_some()).await?),
            None => None,
        };
        Ok(Server {
            config,
            shared,
            listener,
            local_addr,
            tls,
            shutdown_tx,
            pg,
            tokens,
        })
    }

    /// The address the server listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the Postgres door, when it is on.
    pub fn pg_addr(&self) -> Option<SocketAddr> {
        self.pg.as_ref().map(PgDoor::local_addr)
    }

    /// The open store.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// Serves until `shutdown` resolves, then shuts down gracefully: stops accepting,
    /// ends subscriptions, lets running calls finish within the grace period, cancels
    /// what still runs, waits for commits in progress and flushes the store.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let Server {
            config,
            shared,
            listener,
            local_addr,
            tls,
            shutdown_tx,
            pg,
            tokens,
        } = self;
        // The door follows the same shutdown flag; it ends once its connections do.
        let pg_task = pg.map(|door| tokio::spawn(door.serve(shared.clone(), tokens.clone())));
        let limits = &config.limits;
        let service =
            ArrayQRoutes::new(ArrayQService::new(shared.clone()), limits.max_message_bytes);
        let reflection = if config.reflection {
            Some(
                tonic_reflection::server::Builder::configure()
                    .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
                    .build_v1()
                    .context("building the reflection service")?,
            )
        } else {
            None
        };

        // Keepalive pings find clients that vanished without closing the connection,
        // so their queries are cancelled instead of waiting on a dead socket.
        let mut builder = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)));
        if let Some(tls) = tls {
            builder = builder.tls_config(tls).context("TLS configuration")?;
        }
        let router = builder
            .layer(MapRequestLayer::new(tag_path))
            .layer(InterceptorLayer::new(Auth::new(tokens.clone())))
            .add_service(service)
            .add_optional_service(reflection);

        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let mut stop = shutdown_tx.subscribe();
        let draining = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let mut serving = Box::pin(router.serve_with_incoming_shutdown(incoming, draining));
        match crate::ingest_jobs::IngestJobs::resume_all(&shared) {
            Ok(0) => {}
            Ok(n) => info!(jobs = n, "ingest jobs resumed"),
            Err(e) => warn!(error = %e.message(), "ingest jobs could not be read"),
        }
        // Stops by itself on the shutdown flag; a vacuum in progress then finishes
        // on the blocking pool, which shutdown waits for.
        if let Some(every) = config.retention_interval {
            tokio::spawn(crate::vacuum::retention_loop(shared.clone(), every));
        }
        info!(%local_addr, tls = config.tls.is_some(), auth = tokens.is_some(), "serving");

        tokio::pin!(shutdown);
        let early = tokio::select! {
            r = &mut serving => Some(r),
            _ = &mut shutdown => None,
        };
        if let Some(r) = early {
            // The transport stopped by itself (an error); still flush what we have.
            let flushed = flush(&shared).await;
            r.context("serving gRPC")?;
            return flushed;
        }

        info!(
            grace_secs = config.grace.as_secs_f64(),
            running = shared.running(),
            "shutdown requested: no new connections, draining running calls"
        );
        shared.serving.store(false, Ordering::SeqCst);
        let _ = shutdown_tx.send(true);
        match tokio::time::timeout(config.grace, &mut serving).await {
            Ok(r) => r.context("serving gRPC")?,
            Err(_) => {
                let n = shared.cancel_all(Reason::Shutdown);
                warn!(cancelled = n, "grace period over: cancelling running calls");
                match tokio::time::timeout(CANCEL_GRACE, &mut serving).await {
                    Ok(r) => r.context("serving gRPC")?,
                    Err(_) => warn!("closing connections that are still open"),
                }
            }
        }
        // Dropping the transport closes whatever connection is left.
        drop(serving);
        if let Some(mut task) = pg_task {
            // Idle sessions closed at once; running statements get the grace period.
            if tokio::time::timeout(config.grace, &mut task).await.is_err() {
                let n = shared.cancel_all(Reason::Shutdown);
                warn!(
                    cancelled = n,
                    "grace period over: cancelling postgres statements"
                );
                if tokio::time::timeout(CANCEL_GRACE, &mut task).await.is_err() {
                    warn!("closing postgres connections that are still open");
                    task.abort();
                }
            }
        }
        if !shared.wait_blocking_idle(BLOCKING_GRACE).await {
            warn_stuck(shared.blocking_tasks());
        }
        flush(&shared).await?;
        info!("stopped");
        Ok(())
    }
}

async fn flush(shared: &Arc<Shared>) -> Result<()> {
    let store = shared.store.clone();
    tokio::task::spawn_blocking(move || store.flush())
        .await?
        .context("flushing the store")?;
    info!("store flushed");
    Ok(())
}

/// Binds per `config`, prints `arrayqd postgres door listening on ADDR` (with
/// `--pg`) and then `arrayqd listening on ADDR` on stdout (the line scripts and
/// tests wait for, always last), and serves until `shutdown` resolves (see
/// [`Server::run`]).
pub async fn serve(config: Config, shutdown: impl Future<Output = ()>) -> Result<()> {
    let server = Server::bind(config).await?;
    if let Some(addr) = server.pg_addr() {
        println!("arrayqd postgres door listening on {addr}");
    }
    println!("arrayqd listening on {}", server.local_addr());
    server.run(shutdown).await
}

/// A future that resolves on the first SIGINT (Ctrl-C) or SIGTERM. The handlers are
/// installed when this function is called, so a signal that arrives before the future
/// is first polled is not lost (and does not kill the process).
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => info!("SIGINT received"),
                _ = term.recv() => info!("SIGTERM received"),
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async move {
            let _ = tokio::signal::ctrl_c().await;
            info!("Ctrl-C received");
        })
    }
}
