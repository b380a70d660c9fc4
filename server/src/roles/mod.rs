//! Roles: who may do what. A token (from `--auth-token` or the `--auth-file`)
//! names a caller with one role; every RPC and every statement is an
//! [`Operation`] whose required role is decided in one place
//! ([`required_role`]); [`authorize`] checks it and logs every write.

mod operation;
mod reload;
mod tokens;

use std::fmt;
use std::sync::Arc;

pub use operation::{
    authorize, ingest_access, parse_authorized, Access, Denied, Operation, Refused,
};
pub use reload::{on_sighup, Tokens};
pub use tokens::{TokenSet, ADMIN_TOKEN_NAME};

/// What a token may do; each role may do everything the ones before it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Queries (SELECT, EXPLAIN, SHOW, DESCRIBE), Subscribe and LISTEN.
    Read,
    /// Also writes and DDL that keeps data: Write, IngestRows, INSERT, COPY FROM,
    /// CREATE ARRAY (AS SELECT), ALTER ARRAY, ingest jobs.
    Write,
    /// Also what removes data: DROP ARRAY (and vacuum).
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// `read`, `write` or `admin`.
    pub fn parse(s: &str) -> Option<Role> {
        [Role::Read, Role::Write, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling: the name of the token presented and its role. A request
/// extension on gRPC calls, kept per session on the Postgres door.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub name: Arc<str>,
    pub role: Role,
}

impl Caller {
    /// The caller of a server without tokens: anyone, with every right.
    pub fn open() -> Caller {
        Caller {
            name: Arc::from("anonymous"),
            role: Role::Admin,
        }
    }
}
