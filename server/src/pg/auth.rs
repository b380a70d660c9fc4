//! Startup and authentication: any user and database name; with tokens
//! (`--auth-token`, `--auth-file`), a cleartext password that must be one of them
//! (compared in constant time); the session then has that token's role.

use std::collections::HashMap;
use std::fmt::Debug;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
    ServerParameterProvider, StartupHandler,
};
use pgwire::api::{ClientInfo, PgWireConnectionState};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::startup::{Authentication, SecretKey};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::pg::errors::{error, BAD_PASSWORD};
use crate::pg::Handler;
use crate::roles::Caller;

/// The server version reported to clients: the Postgres protocol level the door
/// follows (clients parse the leading number), then what it really is.
pub const SERVER_VERSION: &str = concat!("16.0 (arrayq ", env!("CARGO_PKG_VERSION"), ")");

/// The settings reported at startup and answered by `SHOW name`.
pub fn settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("server_version", SERVER_VERSION),
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        ("TimeZone", "UTC"),
        ("IntervalStyle", "postgres"),
        ("integer_datetimes", "on"),
        ("standard_conforming_strings", "on"),
        ("is_superuser", "off"),
        ("in_hot_standby", "off"),
        ("default_transaction_read_only", "off"),
        ("transaction_isolation", "read committed"),
    ]
}

struct Params;

impl ServerParameterProvider for Params {
    fn server_parameters<C: ClientInfo>(&self, _client: &C) -> Option<HashMap<String, String>> {
        // transaction_isolation is only for SHOW; Postgres does not report it.
        Some(
            settings()
                .into_iter()
                .filter(|(k, _)| *k != "transaction_isolation")
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

#[async_trait]
impl StartupHandler for Handler {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client
                    .set_pid_and_secret_key(self.session.pid, SecretKey::I32(self.session.secret));
                if self.door.tokens.is_some() {
                    client.set_state(PgWireConnectionState::AuthenticationInProgress);
                    client
                        .send(PgWireBackendMessage::Authentication(
                            Authentication::CleartextPassword,
                        ))
                        .await?;
                } else {
                    self.session.authenticated(Caller::open());
                    finish_authentication(client, &Params).await?;
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(pwd) => {
                let pwd = pwd.into_password()?;
                let caller = match &self.door.tokens {
                    Some(tokens) => tokens.lookup(pwd.password.as_bytes()),
                    None => Some(Caller::open()),
                };
                let Some(caller) = caller else {
                    let user = client.metadata().get("user").cloned().unwrap_or_default();
                    let mut e = error(
                        BAD_PASSWORD,
                        format!("password authentication failed for user \"{user}\""),
                    );
                    if let PgWireError::UserError(i) = &mut e {
                        i.severity = "FATAL".into();
                    }
                    return Err(e);
                };
                self.session.authenticated(caller);
                finish_authentication(client, &Params).await?;
            }
            _ => {}
        }
        Ok(())
    }
}
