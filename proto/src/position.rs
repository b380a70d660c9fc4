//! Where in the SQL text an error is: the status message prefix `"line:col: "` and
//! the [`ERROR_POSITION_METADATA_KEY`] trailer.

use std::fmt;

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

use crate::ERROR_POSITION_METADATA_KEY;

/// Server side: an INVALID_ARGUMENT status for an error at 1-based SQL
/// position `line:col`. The message becomes `"line:col: message"` and the
/// trailers carry `arrayq-error-position: line:col`.
pub fn invalid_argument_at(line: u32, col: u32, message: impl fmt::Display) -> Status {
    status_at(Code::InvalidArgument, line, col, message)
}

/// Server side: a status of `code` for an error at `line:col` of the query text, in
/// the form [`invalid_argument_at`] describes.
pub fn status_at(code: Code, line: u32, col: u32, message: impl fmt::Display) -> Status {
    let pos = format!("{line}:{col}");
    let mut md = MetadataMap::new();
    if let Ok(v) = MetadataValue::try_from(pos.as_str()) {
        md.insert(ERROR_POSITION_METADATA_KEY, v);
    }
    Status::with_metadata(code, format!("{pos}: {message}"), md)
}

/// Client side: the `(line, col)` of an error status, from the
/// `arrayq-error-position` metadata or else from a `"line:col: "` message
/// prefix.
pub fn error_position(status: &Status) -> Option<(u32, u32)> {
    if let Some(p) = status
        .metadata()
        .get(ERROR_POSITION_METADATA_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_position)
    {
        return Some(p);
    }
    let (prefix, _) = status.message().split_once(": ")?;
    parse_position(prefix)
}

fn parse_position(s: &str) -> Option<(u32, u32)> {
    let (l, c) = s.trim().split_once(':')?;
    Some((l.parse().ok()?, c.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_position_roundtrip() {
        let s = invalid_argument_at(3, 14, "unknown attribute 'tmp'");
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "3:14: unknown attribute 'tmp'");
        assert_eq!(
            s.metadata()
                .get(ERROR_POSITION_METADATA_KEY)
                .unwrap()
                .to_str()
                .unwrap(),
            "3:14"
        );
        assert_eq!(error_position(&s), Some((3, 14)));
        let plain = Status::invalid_argument("1:2: bad");
        assert_eq!(error_position(&plain), Some((1, 2)));
        assert_eq!(error_position(&Status::not_found("no array 'x'")), None);
    }
}
