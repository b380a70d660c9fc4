//! Where COPY rows go: the storage series ingest (one COPY, one commit).

use std::sync::Arc;

use pgwire::error::PgWireError;

use crate::pg::copy::{CopySink, CopyStatement};
use crate::pg::errors::{error, FEATURE_NOT_SUPPORTED};
use crate::state::Shared;

/// Opens the sink of a COPY into `statement.array`.
pub fn open(
    _shared: &Arc<Shared>,
    statement: &CopyStatement,
) -> Result<Box<dyn CopySink>, PgWireError> {
    Err(error(
        FEATURE_NOT_SUPPORTED,
        format!(
            "COPY into '{}': the series ingest is not available in this build",
            statement.array
        ),
    ))
}
