//! What can go wrong reading a source.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BridgeError {
    /// PostgreSQL refused or the connection failed.
    #[error("postgres: {what}: {detail}")]
    Postgres { what: String, detail: String },
    /// A column of the source query is missing or has the wrong type.
    #[error("{0}")]
    Column(String),
    /// A row could not be read.
    #[error("row {row}: {why}")]
    Row { row: u64, why: String },
    /// The connection ended.
    #[error("postgres: the connection closed")]
    Closed,
    /// Whoever took the rows stopped taking them (its own error says why).
    #[error("the target stopped taking rows")]
    TargetGone,
}

impl BridgeError {
    pub(crate) fn pg(what: &str, e: tokio_postgres::Error) -> BridgeError {
        // The server's own message and SQLSTATE say more than the wrapper's text.
        let detail = match e.as_db_error() {
            Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
            None => e.to_string(),
        };
        BridgeError::Postgres {
            what: what.to_string(),
            detail,
        }
    }

    /// Whether reconnecting may help (the source went away), as opposed to an
    /// error in the query or the data that would only repeat.
    pub fn is_transient(&self) -> bool {
        match self {
            BridgeError::Closed => true,
            BridgeError::Postgres { detail, .. } => {
                // Connection-level failures carry no SQLSTATE, or class 08
                // (connection exception) / 57P (operator intervention: shutdown).
                !detail.contains("(SQLSTATE ")
                    || detail.contains("SQLSTATE 08")
                    || detail.contains("SQLSTATE 57P")
            }
            _ => false,
        }
    }
}
