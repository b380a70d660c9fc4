//! Mapping of storage and query errors to gRPC statuses (see the "Errors" section of
//! `proto/arrayq/v1/arrayq.proto`).

use arrayq_proto::invalid_argument_at;
use arrayq_query::QueryError;
use arrayq_storage::StorageError;
use tonic::{Code, Status};

/// The gRPC status of a storage error.
pub fn storage_status(e: StorageError) -> Status {
    let msg = e.to_string();
    let code = match &e {
        StorageError::UnknownArray(_)
        | StorageError::UnknownVersion { .. }
        | StorageError::NoVersionAtTime { .. }
        | StorageError::UnknownLayout { .. }
        | StorageError::Vacuumed { .. } => Code::NotFound,
        StorageError::ArrayExists(_) => Code::AlreadyExists,
        StorageError::UnknownAttribute { .. }
        | StorageError::UnknownDimension { .. }
        | StorageError::InvalidSchema(_)
        | StorageError::OutOfRange { .. }
        | StorageError::ShapeMismatch(_)
        | StorageError::DTypeMismatch { .. } => Code::InvalidArgument,
        StorageError::VersionConflict { .. } | StorageError::SchemaConflict(_) => {
            Code::FailedPrecondition
        }
        StorageError::Cancelled => Code::Cancelled,
        StorageError::Corrupt { .. } => Code::DataLoss,
        // The disk or the database failed: not the client's fault, possibly transient.
        StorageError::Sled(_) | StorageError::Io(_) => Code::Unavailable,
        StorageError::Codec(_) | StorageError::Metadata(_) | StorageError::FormatVersion { .. } => {
            Code::Internal
        }
    };
    Status::new(code, msg)
}

/// The gRPC status of a query error. Parse errors become INVALID_ARGUMENT with the
/// `line:col: ` prefix and the `arrayq-error-position` trailer.
pub fn query_status(e: QueryError) -> Status {
    if let (Some((line, col)), QueryError::Parse { message, .. }) = (e.position(), &e) {
        return invalid_argument_at(line as u32, col as u32, message);
    }
    match e {
        QueryError::Parse { .. } | QueryError::Plan(_) | QueryError::Type(_) => {
            Status::invalid_argument(e.to_string())
        }
        QueryError::NotFound(m) => Status::not_found(m),
        // An unknown attribute, dimension or function is a mistake in the query text.
        QueryError::UnknownName(m) => Status::invalid_argument(m),
        QueryError::Execution(m) => Status::invalid_argument(format!("execution error: {m}")),
        QueryError::ResourcesExhausted(m) => Status::resource_exhausted(m),
        QueryError::Cancelled => Status::cancelled("query cancelled"),
        QueryError::Timeout => Status::deadline_exceeded("query timed out"),
        QueryError::Storage(s) => storage_status(s),
        QueryError::Internal(m) => Status::internal(m),
    }
}

/// tonic reports an over-sized incoming message as OUT_OF_RANGE; the arrayq contract
/// says RESOURCE_EXHAUSTED.
pub fn remap_transport(s: Status) -> Status {
    if s.code() == Code::OutOfRange && s.message().contains("too large") {
        Status::resource_exhausted(s.message().to_string())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(
            storage_status(StorageError::UnknownArray("a".into())).code(),
            Code::NotFound
        );
        assert_eq!(
            storage_status(StorageError::ArrayExists("a".into())).code(),
            Code::AlreadyExists
        );
        assert_eq!(
            storage_status(StorageError::VersionConflict {
                array: "a".into(),
                expected: 1,
                found: 2
            })
            .code(),
            Code::FailedPrecondition
        );
        assert_eq!(
            query_status(QueryError::NotFound("unknown array 'x'".into())).code(),
            Code::NotFound
        );
        assert_eq!(
            query_status(QueryError::UnknownName(
                "unknown attribute 'tmp' in era5".into()
            ))
            .code(),
            Code::InvalidArgument
        );
        assert_eq!(
            query_status(QueryError::Timeout).code(),
            Code::DeadlineExceeded
        );
        assert_eq!(query_status(QueryError::Cancelled).code(), Code::Cancelled);
        assert_eq!(
            query_status(QueryError::ResourcesExhausted("big".into())).code(),
            Code::ResourceExhausted
        );
        let s = query_status(QueryError::Parse {
            message: "expected FROM".into(),
            line: 2,
            column: 5,
            token: None,
        });
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "2:5: expected FROM");
        assert_eq!(arrayq_proto::error_position(&s), Some((2, 5)));
        assert_eq!(
            remap_transport(Status::out_of_range(
                "Error, decoded message length too large: found 9 bytes"
            ))
            .code(),
            Code::ResourceExhausted
        );
    }
}
