//! The Postgres wire-protocol door of `arrayqd` (`--pg ADDR`): psql, JDBC,
//! psycopg and tokio-postgres run arrayq statements and get rows back, LISTEN to
//! commits and COPY series in. See docs/postgres.md.
//!
//! pgwire parses and writes the messages; the connection loop is our own (not
//! pgwire's `process_socket`, which only waits on the socket) so it can also wait
//! on the session's notifications and push them to an idle client.

mod auth;
mod copy;
mod copy_binary;
mod copy_format;
mod copy_sink;
mod errors;
mod exec;
mod listen;
mod params;
mod query;
mod rows;
mod session;
mod statement;
mod types;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use futures::{SinkExt, StreamExt};
use pgwire::api::{ClientInfo, NoopHandler, PgWireConnectionState};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::response::NotificationResponse;
use pgwire::messages::startup::SecretKey;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::pg::errors::{info as error_info, SHUTDOWN};
use crate::pg::query::Prepared;
use crate::pg::session::{Session, Sessions};
use crate::roles::Tokens;
use crate::state::Shared;

/// A client that has not finished its startup by then is dropped.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Notifications queued for one connection while it is busy; a client further
/// behind loses its LISTEN feeds' oldest events (see listen.rs).
const NOTIFY_BUFFER: usize = 1024;

/// What every connection of the door shares.
pub struct Door {
    pub shared: Arc<Shared>,
    /// None: no tokens, every session may do everything.
    pub tokens: Option<Arc<Tokens>>,
    pub sessions: Sessions,
}

/// The handlers of one connection (pgwire calls them with the socket).
#[derive(Clone)]
pub struct Handler {
    pub door: Arc<Door>,
    pub session: Arc<Session>,
}

/// The bound door: [`PgDoor::serve`] accepts connections until shutdown.
pub struct PgDoor {
    listener: TcpListener,
    addr: SocketAddr,
}

impl PgDoor {
    /// Binds `addr` (loopback unless the user names another address).
    pub async fn bind(addr: &str, has_tokens: bool) -> Result<PgDoor> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the postgres door {addr}"))?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() && !has_tokens {
            warn!(%addr, "postgres door beyond loopback without --auth-token or --auth-file: anyone who can reach this port can read and write");
        }
        Ok(PgDoor { listener, addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Accepts connections until the shutdown flag turns true, then returns once
    /// every connection has ended (idle ones are closed at once; busy ones after
    /// their statement, which the server's shutdown cancels after its grace).
    pub async fn serve(self, shared: Arc<Shared>, tokens: Option<Arc<Tokens>>) {
        let door = Arc::new(Door {
            shared,
            tokens,
            sessions: Sessions::default(),
        });
        let mut stop = door.shared.shutdown.clone();
        // Every connection holds a sender; recv() returns None once all are gone.
        let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
        info!(addr = %self.addr, "postgres door serving");
        loop {
            tokio::select! {
                r = self.listener.accept() => match r {
                    Ok((tcp, peer)) => {
                        let (door, alive) = (door.clone(), alive_tx.clone());
                        tokio::spawn(async move {
                            connection(tcp, door).await;
                            debug!(%peer, "postgres connection closed");
                            drop(alive);
                        });
                    }
                    Err(e) => warn!("postgres door accept: {e}"),
                },
                _ = async { drop(stop.wait_for(|s| *s).await) } => break,
            }
        }
        drop(self.listener);
        drop(alive_tx);
        let _ = alive_rx.recv().await;
        info!("postgres door closed");
    }
}

async fn connection(tcp: TcpStream, door: Arc<Door>) {
    let peer = tcp.peer_addr().ok();
    let negotiated = tokio::time::timeout(STARTUP_TIMEOUT, negotiate_tls::<Prepared>(tcp, None));
    let Ok(Ok(Some(mut socket))) = negotiated.await else {
        return;
    };
    let (notify_tx, mut notify_rx) = mpsc::channel::<NotificationResponse>(NOTIFY_BUFFER);
    let session = door.sessions.open(notify_tx);
    let handler = Arc::new(Handler {
        door: door.clone(),
        session,
    });
    let noop = Arc::new(NoopHandler);
    let mut stop = door.shared.shutdown.clone();
    let startup_until = tokio::time::Instant::now() + STARTUP_TIMEOUT;
    loop {
        let starting = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        let idle = matches!(socket.state(), PgWireConnectionState::ReadyForQuery);
        let msg = tokio::select! {
            m = socket.next() => m,
            Some(n) = notify_rx.recv(), if idle => {
                if socket.send(PgWireBackendMessage::NotificationResponse(n)).await.is_err() {
                    break;
                }
                continue;
            }
            _ = tokio::time::sleep_until(startup_until), if starting => break,
            _ = async { drop(stop.wait_for(|s| *s).await) } => {
                let mut bye = error_info(SHUTDOWN, "terminating connection due to administrator command");
                bye.severity = "FATAL".into();
                let _ = socket.send(PgWireBackendMessage::ErrorResponse(bye.into())).await;
                break;
            }
        };
        let Some(Ok(msg)) = msg else { break };
        match msg {
            PgWireFrontendMessage::Terminate(_) => break,
            // Arrives on a connection of its own, which then closes.
            PgWireFrontendMessage::CancelRequest(c) => {
                cancel(&door, c);
                break;
            }
            _ => {}
        }
        let extended = match socket.state() {
            PgWireConnectionState::CopyInProgress(ext) => ext,
            _ => msg.is_extended_query(),
        };
        let r = process_message(
            msg,
            &mut socket,
            handler.clone(),
            handler.clone(),
            handler.clone(),
            handler.clone(),
            noop.clone(),
        )
        .await;
        if let Err(e) = r {
            let fatal = e.is_fatal();
            if process_error(&mut socket, e, extended).await.is_err() || fatal {
                break;
            }
        }
    }
    let _ = socket.close().await;
    debug!(?peer, "postgres session ended");
}

fn cancel(door: &Door, c: CancelRequest) {
    let secret = match &c.secret_key {
        SecretKey::I32(k) => k.to_be_bytes().to_vec(),
        SecretKey::Bytes(b) => b.to_vec(),
    };
    let done = door.sessions.cancel(c.pid, &secret);
    info!(pid = c.pid, cancelled = done, "postgres cancel request");
}
