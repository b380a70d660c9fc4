//! Every failure the door reports, as a Postgres ErrorResponse with a SQLSTATE
//! (the one place that maps arrayq's errors to codes; see docs/postgres.md).

use arrayq_query::QueryError;
use arrayq_storage::series::SeriesError;
use arrayq_storage::{IngestError, StorageError};
use pgwire::error::{ErrorInfo, PgWireError};

use crate::roles::{Denied, Refused};

pub const SYNTAX_ERROR: &str = "42601";
pub const UNDEFINED_TABLE: &str = "42P01";
pub const UNDEFINED_COLUMN: &str = "42703";
pub const BAD_VALUE: &str = "22P02";
pub const CANCELED: &str = "57014";
pub const TOO_MANY: &str = "53300";
pub const LIMIT_EXCEEDED: &str = "53400";
pub const DISK_FULL: &str = "53100";
pub const INTERNAL: &str = "XX000";
pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
pub const BAD_PASSWORD: &str = "28P01";
pub const UNDEFINED_OBJECT: &str = "42704";
pub const DUPLICATE_TABLE: &str = "42P07";
pub const DUPLICATE_OBJECT: &str = "42710";
pub const SHUTDOWN: &str = "57P01";
pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
pub const OBJECT_NOT_IN_PREREQUISITE_STATE: &str = "55000";

/// An ErrorResponse with severity ERROR.
pub fn error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(info(code, message)))
}

pub fn info(code: &str, message: impl Into<String>) -> ErrorInfo {
    ErrorInfo::new("ERROR".into(), code.into(), message.into())
}

/// A request the session's role does not allow.
pub fn denied(d: Denied) -> PgWireError {
    error(INSUFFICIENT_PRIVILEGE, d.0)
}

/// The ErrorResponse of a statement that did not parse or that the role refuses.
pub fn refused(r: Refused, sql: &str) -> PgWireError {
    match r {
        Refused::Query(e) => query_error(&e, sql),
        Refused::Denied(d) => denied(d),
    }
}

/// The ErrorResponse of a query error on `sql`: its SQLSTATE, its message, and the
/// position it points at as `P` (1-based characters into `sql`).
pub fn query_error(e: &QueryError, sql: &str) -> PgWireError {
    let code = sqlstate(e);
    let mut i = info(code, e.message_without_position());
    if let Some((line, col)) = e.position() {
        i.position = char_position(sql, line, col).map(|p| p.to_string());
    }
    if let QueryError::Cancelled = e {
        i.message = "canceling statement due to user request".into();
    }
    PgWireError::UserError(Box::new(i))
}

/// The SQLSTATE of a query error.
pub fn sqlstate(e: &QueryError) -> &'static str {
    match e {
        QueryError::Parse { .. } => SYNTAX_ERROR,
        QueryError::NotFound(_) => UNDEFINED_TABLE,
        QueryError::UnknownName(_) => UNDEFINED_COLUMN,
        // Malformed literals (numbers, timestamps) are bad values; other type errors
        // are mismatches.
        QueryError::Type(d) if is_bad_value(&d.message) => BAD_VALUE,
        QueryError::Type(_) => "42804",
        QueryError::Plan(_) => "42000",
        QueryError::Execution(_) => "22000",
        QueryError::ResourcesExhausted(_) => LIMIT_EXCEEDED,
        QueryError::Cancelled | QueryError::Timeout => CANCELED,
        QueryError::Storage(s) => storage_sqlstate(s),
        QueryError::Internal(_) => INTERNAL,
    }
}

fn is_bad_value(m: &str) -> bool {
    ["malformed", "not a timestamp", "invalid", "not a number"]
        .iter()
        .any(|w| m.contains(w))
}

pub fn storage_sqlstate(e: &StorageError) -> &'static str {
    match e {
        StorageError::UnknownArray(_)
        | StorageError::UnknownVersion { .. }
        | StorageError::NoVersionAtTime { .. }
        | StorageError::Vacuumed { .. }
        | StorageError::VacuumedAt { .. } => UNDEFINED_TABLE,
        // A LISTEN resume position whose events were trimmed.
        StorageError::Expired { .. } => OBJECT_NOT_IN_PREREQUISITE_STATE,
        StorageError::UnknownAttribute { .. } | StorageError::UnknownDimension { .. } => {
            UNDEFINED_COLUMN
        }
        StorageError::ArrayExists(_) => DUPLICATE_TABLE,
        StorageError::OutOfRange { .. } => "22003",
        StorageError::InvalidSchema(_)
        | StorageError::ShapeMismatch(_)
        | StorageError::DTypeMismatch { .. }
        | StorageError::InvalidRetention(_) => BAD_VALUE,
        StorageError::VersionConflict { .. } | StorageError::SchemaConflict(_) => "40001",
        StorageError::Cancelled => CANCELED,
        StorageError::NoSpace { .. } => DISK_FULL,
        _ => INTERNAL,
    }
}

/// The SQLSTATE of a series-ingest error (COPY).
pub fn series_sqlstate(e: &SeriesError) -> &'static str {
    match e {
        SeriesError::OffGrid { .. } => "22008",
        SeriesError::LabelKind { .. } => BAD_VALUE,
        SeriesError::VersionOrder { .. } => "22023",
        SeriesError::Shape { .. } => "42804",
        SeriesError::Ingest(IngestError::TooLarge { .. }) => LIMIT_EXCEEDED,
        SeriesError::Ingest(IngestError::Storage(s)) => storage_sqlstate(s),
        SeriesError::Ingest(_) => INTERNAL,
    }
}

/// 1-based character offset of `line:col` in `sql`.
fn char_position(sql: &str, line: u64, col: u64) -> Option<usize> {
    let mut pos = 0usize;
    for (k, l) in sql.split('\n').enumerate() {
        if k as u64 + 1 == line {
            return Some(pos + col as usize);
        }
        pos += l.chars().count() + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_across_lines() {
        assert_eq!(char_position("SELEC x", 1, 1), Some(1));
        assert_eq!(char_position("SELECT\n  bad", 2, 3), Some(10));
        assert_eq!(char_position("x", 3, 1), None);
        assert_eq!(sqlstate(&QueryError::Cancelled), "57014");
    }
}
