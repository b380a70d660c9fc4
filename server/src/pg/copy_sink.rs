//! Where COPY rows go: the storage series ingest (`arrayq_storage::series`), one
//! commit per COPY. Rows keep their COPY line, so an error the ingest finds later
//! (off the time grid, a text label for integer labels) still names it.

use std::sync::Arc;

use arrayq_storage::series::{
    CommitPolicy, Label, SeriesError, SeriesIngest, SeriesOptions, SeriesRow, SeriesSpec,
};
use arrayq_storage::IngestOptions;
use pgwire::error::PgWireError;

use crate::pg::copy::{CopySink, CopyStatement};
use crate::pg::copy_format::{CopyError, CopyLabel, CopyRow};
use crate::pg::errors::error;
use crate::state::Shared;

/// Opens the sink of a COPY into `statement.array` (created on its first rows).
/// Runs on the blocking pool: it reads the array's schema.
pub fn open(
    shared: &Arc<Shared>,
    statement: &CopyStatement,
) -> Result<Box<dyn CopySink>, PgWireError> {
    let opts = SeriesOptions {
        policy: CommitPolicy::Once,
        sink: IngestOptions {
            memory_bytes: shared.limits.staging_memory_bytes,
            max_bytes: Some(shared.limits.max_write_bytes),
        },
    };
    let ingest = SeriesIngest::start(&shared.store, SeriesSpec::new(&statement.array), opts)
        .map_err(|e| {
            let e = copy_error(&[], e);
            error(e.code, e.message)
        })?;
    Ok(Box::new(Series {
        ingest,
        lines: Vec::new(),
    }))
}

struct Series {
    ingest: SeriesIngest,
    /// The COPY line of every row pushed, by the ingest's row number - 1.
    lines: Vec<u64>,
}

impl CopySink for Series {
    fn push(&mut self, rows: Vec<CopyRow>) -> Result<(), CopyError> {
        for r in rows {
            self.lines.push(r.line);
            let row = SeriesRow {
                label: match r.label {
                    CopyLabel::Int(i) => Label::Int(i),
                    CopyLabel::Text(t) => Label::Text(t),
                    CopyLabel::Untyped(t) => Label::Untyped(t),
                },
                time_ns: r.time_ns,
                version: r.version,
                value: r.value,
            };
            self.ingest
                .push(row)
                .map_err(|e| copy_error(&self.lines, e))?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64, CopyError> {
        let rows = self.ingest.rows();
        self.ingest
            .finish()
            .map_err(|e| copy_error(&self.lines, e))?;
        Ok(rows)
    }
}

/// A series error as a COPY error at the line of the row it names.
fn copy_error(lines: &[u64], e: SeriesError) -> CopyError {
    let (row, column) = match &e {
        SeriesError::OffGrid { row, .. } => (Some(*row), Some("ts")),
        SeriesError::LabelKind { row, .. } => (Some(*row), Some("asset_id")),
        SeriesError::VersionOrder { row, .. } => (Some(*row), Some("version")),
        _ => (None, None),
    };
    let line = row
        .and_then(|r| lines.get(r.checked_sub(1)? as usize).copied())
        .unwrap_or(0);
    // The ingest's own row number means nothing to the client: drop it.
    let message = e.to_string();
    let message = match message.split_once(": ") {
        Some((head, rest)) if head.starts_with("row ") && row.is_some() => rest.to_string(),
        _ => message,
    };
    CopyError {
        line,
        column: column.map(str::to_string),
        message,
        code: crate::pg::errors::series_sqlstate(&e),
    }
}
