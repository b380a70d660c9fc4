//! Mapping of storage and query errors to gRPC statuses (see the "Errors" section of
//! `proto/arrayq/v1/arrayq.proto`).

use arrayq_proto::status_at;
use arrayq_query::QueryError;
use arrayq_storage::StorageError;
use tonic::{Code, Status};

/// The gRPC status of a storage error.
pub fn storage_status(e: impl Into<StorageError>) -> Status {
    let e: StorageError = e.into();
    let msg = e.to_string();
    let code = match &e {
        StorageError::UnknownArray(_)
        | StorageError::UnknownVersion { .. }
        | StorageError::NoVersionAtTime { .. }
        | StorageError::UnknownLayout { .. }
        | StorageError::Vacuumed { .. }
        | StorageError::VacuumedAt { .. } => Code::NotFound,
        // A change-log position whose events were trimmed: resume where it says.
        StorageError::Expired { .. } => Code::OutOfRange,
        StorageError::ArrayExists(_) => Code::AlreadyExists,
        StorageError::UnknownAttribute { .. }
        | StorageError::UnknownDimension { .. }
        | StorageError::InvalidSchema(_)
        | StorageError::OutOfRange { .. }
        | StorageError::ShapeMismatch(_)
        | StorageError::LabelKind { .. }
        | StorageError::InvalidRetention(_)
        | StorageError::DTypeMismatch { .. } => Code::InvalidArgument,
        StorageError::VersionConflict { .. } | StorageError::SchemaConflict(_) => {
            Code::FailedPrecondition
        }
        StorageError::Cancelled => Code::Cancelled,
        // The store's disk is full: the write is refused whole; freeing space helps.
        StorageError::NoSpace { .. } => Code::ResourceExhausted,
        StorageError::Corrupt { .. } => Code::DataLoss,
        // The disk or the database failed: not the client's fault, possibly transient.
        StorageError::Sled(_) | StorageError::Io(_) | StorageError::InUse(_) => Code::Unavailable,
        StorageError::Codec(_) | StorageError::Metadata(_) | StorageError::FormatVersion { .. } => {
            Code::Internal
        }
    };
    Status::new(code, msg)
}

/// The gRPC status of a query error. Errors that point into the query text (syntax
/// errors, unknown names, type and planning errors about an expression) carry the
/// `line:col: ` prefix and the `arrayq-error-position` trailer.
pub fn query_status(e: QueryError) -> Status {
    if let Some((line, col)) = e.position() {
        // An unknown array keeps NOT_FOUND, with the position of its name.
        let code = match e {
            QueryError::NotFound(_) => Code::NotFound,
            _ => Code::InvalidArgument,
        };
        return status_at(code, line as u32, col as u32, e.message_without_position());
    }
    match e {
        QueryError::Parse { .. } | QueryError::Plan(_) | QueryError::Type(_) => {
            Status::invalid_argument(e.to_string())
        }
        QueryError::NotFound(_) => Status::not_found(e.to_string()),
        // An unknown attribute, dimension or function is a mistake in the query text.
        QueryError::UnknownName(_) => Status::invalid_argument(e.to_string()),
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
        let full = storage_status(StorageError::NoSpace {
            path: "/data/store".into(),
            detail: "the commit needs up to 4.0 MiB".into(),
        });
        assert_eq!(full.code(), Code::ResourceExhausted);
        assert_eq!(
            full.message(),
            "no space left for the store at /data/store: the commit needs up to 4.0 MiB"
        );
        // Errors found after parsing keep their code and carry the position.
        let dir = tempfile::tempdir().unwrap();
        let engine = arrayq_query::Engine::new(
            arrayq_storage::Store::open(dir.path()).unwrap(),
            Default::default(),
        );
        let ctx = Default::default();
        engine
            .execute(
                "CREATE ARRAY a (x DOUBLE START 0 STEP 1 LENGTH 2, v REAL)",
                &ctx,
            )
            .map_err(|e| e.to_string())
            .unwrap();
        let failure = |sql: &str| query_status(engine.execute(sql, &ctx).err().unwrap());
        let s = failure("SELECT v\nFROM nope");
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(s.message(), "2:6: unknown array 'nope'");
        assert_eq!(arrayq_proto::error_position(&s), Some((2, 6)));
        let s = failure("SELECT v, tmp\nFROM a");
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(
            s.message(),
            "1:11: unknown attribute or dimension 'tmp' in array 'a'"
        );
        let s = failure("SELECT v FROM a WHERE v + 1");
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(
            s.message()
                .starts_with("1:23: type error: WHERE needs a condition"),
            "{}",
            s.message()
        );
        assert_eq!(
            query_status(QueryError::NotFound(Default::default())).code(),
            Code::NotFound
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
