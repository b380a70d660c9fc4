//! `VACUUM name [KEEP n VERSIONS | OLDER THAN '...']`: removes old versions, their
//! chunks and change-log events now, and answers with what went.

use super::unknown_array;
use crate::ast::Vacuum;
use crate::error::QueryError;
use crate::{Execution, TextTable};
use arrayq_storage::{StorageError, Store, VacuumStats};

/// The columns of VACUUM's answer (the gRPC `VacuumResponse` has the same fields).
pub const VACUUM_COLUMNS: [&str; 6] = [
    "array",
    "versions_removed",
    "chunks_removed",
    "bytes_freed",
    "log_entries_trimmed",
    "oldest_version",
];

pub(crate) fn vacuum(store: &Store, v: &Vacuum) -> Result<Execution, QueryError> {
    let name = &v.array.value;
    let stats = store.vacuum_retaining(name, &v.keep).map_err(|e| match e {
        StorageError::UnknownArray(_) => unknown_array(store, name).at(v.array.span),
        e => QueryError::from_storage(e),
    })?;
    Ok(Execution::Table(vacuum_table(name, &stats)))
}

/// One row: what a vacuum of `array` did.
pub fn vacuum_table(array: &str, s: &VacuumStats) -> TextTable {
    let row = [
        s.versions_removed,
        s.chunks_removed,
        s.bytes_reclaimed,
        s.events_trimmed,
        s.oldest_kept,
    ];
    TextTable {
        columns: VACUUM_COLUMNS.map(String::from).to_vec(),
        rows: vec![std::iter::once(array.to_string())
            .chain(row.iter().map(u64::to_string))
            .collect()],
    }
}
