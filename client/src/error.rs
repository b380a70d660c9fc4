//! The client's error type: a gRPC status from the server (code, message and,
//! for SQL errors, the 1-based position), or a failure on the client side.

use std::fmt;

pub use tonic::Code;

/// A 1-based position in a SQL text (`line:column`, both counted from 1;
/// columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    /// Line, from 1.
    pub line: u32,
    /// Column (character), from 1.
    pub column: u32,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Everything a client call can fail with.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a non-OK gRPC status.
    #[error("{0}")]
    Status(StatusError),
    /// The connection could not be established (bad address, nothing
    /// listening, TLS handshake failed).
    #[error("cannot connect to {addr}: {message}")]
    Connect {
        /// The address that was tried.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// The server broke the streaming protocol (a bug on its side).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The request was rejected before it was sent (for example data whose
    /// size does not match the region).
    #[error("{0}")]
    InvalidInput(String),
}

/// A non-OK gRPC status from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusError {
    /// The gRPC status code.
    pub code: Code,
    /// The server's message, without the `"line:col: "` prefix when the
    /// position was recognised.
    pub message: String,
    /// Where in the SQL text the error is, when it refers to one (from the
    /// `arrayq-error-position` trailer, or else from the message prefix).
    pub position: Option<Position>,
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(f, "{}: {p}: {}", code_name(self.code), self.message),
            None => write!(f, "{}: {}", code_name(self.code), self.message),
        }
    }
}

impl Error {
    /// The gRPC code: the server's for [`Error::Status`], `UNAVAILABLE` for
    /// connection failures, `INTERNAL` for protocol errors and
    /// `INVALID_ARGUMENT` for rejected input.
    pub fn code(&self) -> Code {
        match self {
            Error::Status(s) => s.code,
            Error::Connect { .. } => Code::Unavailable,
            Error::Protocol(_) => Code::Internal,
            Error::InvalidInput(_) => Code::InvalidArgument,
        }
    }

    /// The position in the SQL text the error refers to, if any.
    pub fn position(&self) -> Option<Position> {
        match self {
            Error::Status(s) => s.position,
            _ => None,
        }
    }

    /// The message alone (no code, no position).
    pub fn message(&self) -> String {
        match self {
            Error::Status(s) => s.message.clone(),
            other => other.to_string(),
        }
    }

    /// True if the call was cancelled (by the client or the server).
    pub fn is_cancelled(&self) -> bool {
        self.code() == Code::Cancelled
    }
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        let position =
            arrayq_proto::error_position(&status).map(|(line, column)| Position { line, column });
        let mut message = status.message().to_string();
        if let Some(p) = position {
            if let Some(rest) = message.strip_prefix(&format!("{p}: ")) {
                message = rest.to_string();
            }
        }
        // tonic reports transport failures on a lazily connected channel as
        // UNAVAILABLE with the underlying error as source; keep the text short.
        if message.is_empty() {
            message = status.code().description().to_string();
        }
        let code = if broken_connection(&status) {
            Code::Unavailable
        } else {
            status.code()
        };
        Error::Status(StatusError {
            code,
            message,
            position,
        })
    }
}

/// Whether tonic made `status` on this side for a call whose connection broke (the
/// server crashed or went away mid-call). tonic reports that as UNKNOWN: a
/// `transport error` with the transport's error as source, or an `h2 protocol
/// error` of a failed read, which carries no source; or, for a call the connection
/// dropped before sending it (queued when it closed), as hyper's CANCELLED
/// "operation was canceled" (a call the caller cancels is dropped, with no error
/// to map). The server never sends UNKNOWN nor that text, and gRPC's status codes
/// name a broken connection UNAVAILABLE, so a client can tell "retry when it is
/// back" from a failed call.
fn broken_connection(status: &tonic::Status) -> bool {
    if status.code() == Code::Cancelled {
        return status.message().starts_with("operation was canceled");
    }
    if status.code() != Code::Unknown {
        return false;
    }
    if status.message().starts_with("h2 protocol error:") {
        return true;
    }
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        if e.is::<tonic::transport::Error>() {
            return true;
        }
        source = e.source();
    }
    false
}

impl From<arrayq_proto::ProtocolError> for Error {
    fn from(e: arrayq_proto::ProtocolError) -> Self {
        Error::Protocol(e.0)
    }
}

/// The canonical upper-case name of a gRPC code (`"INVALID_ARGUMENT"`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_with_position() {
        let s = arrayq_proto::invalid_argument_at(2, 7, "unknown attribute 'tmp'");
        let e = Error::from(s);
        assert_eq!(e.code(), Code::InvalidArgument);
        assert_eq!(e.position(), Some(Position { line: 2, column: 7 }));
        assert_eq!(e.message(), "unknown attribute 'tmp'");
        assert_eq!(
            e.to_string(),
            "INVALID_ARGUMENT: 2:7: unknown attribute 'tmp'"
        );
    }

    #[test]
    fn status_without_position() {
        let e = Error::from(tonic::Status::not_found("no array 'x'"));
        assert_eq!(e.code(), Code::NotFound);
        assert_eq!(e.position(), None);
        assert_eq!(e.to_string(), "NOT_FOUND: no array 'x'");
        assert!(Error::from(tonic::Status::cancelled("")).is_cancelled());
    }

    #[test]
    fn a_read_broken_by_a_lost_connection_is_unavailable() {
        // What tonic makes of a response body whose connection was reset.
        let broken =
            tonic::Status::unknown("h2 protocol error: error reading a body from connection");
        assert_eq!(Error::from(broken).code(), Code::Unavailable);
        // A call queued on a connection that closed, as hyper cancels it.
        let queued = tonic::Status::cancelled("operation was canceled");
        assert_eq!(Error::from(queued).code(), Code::Unavailable);
        // The server's cancellation stays CANCELLED.
        let server = tonic::Status::cancelled("query cancelled");
        assert_eq!(Error::from(server).code(), Code::Cancelled);
        // UNKNOWN for any other reason stays UNKNOWN.
        let other = tonic::Status::unknown("something else");
        assert_eq!(Error::from(other).code(), Code::Unknown);
    }
}
