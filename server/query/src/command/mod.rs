//! DDL, catalog and write statements, one command per file: they change or list
//! the store's arrays (`CREATE ARRAY ... AS` and `INSERT ... SELECT` store the
//! result of a query the engine ran first).

mod add_layout;
mod create_array;
mod create_array_as;
mod describe;
mod drop_array;
mod insert;
mod options;
mod placement;
mod retention;
mod rollup;
mod show_arrays;
mod vacuum;

pub(crate) use add_layout::add_layout;
pub(crate) use create_array::create_array;
pub(crate) use create_array_as::{create_array_as, store_result};
pub(crate) use describe::describe;
pub(crate) use drop_array::drop_array;
pub(crate) use insert::{insert_result, insert_values};
pub(crate) use retention::{alter_retention, retention_text};
pub(crate) use rollup::alter_rollup;
pub(crate) use show_arrays::show_arrays;
pub(crate) use vacuum::vacuum;
pub use vacuum::{vacuum_table, VACUUM_COLUMNS};

use crate::error::{not_found, QueryError};
use arrayq_storage::Store;

/// The error for an array name the store does not hold (with a did-you-mean).
pub(crate) fn unknown_array(store: &Store, name: &str) -> QueryError {
    let names = store.list_arrays();
    not_found("array", name, "", names.iter().map(|s| s.as_str()))
}

/// A failed ingest as a query error (storage errors keep their kind).
pub(crate) fn ingest_error(e: arrayq_storage::IngestError) -> QueryError {
    match e {
        arrayq_storage::IngestError::Storage(s) => QueryError::from_storage(s),
        other => QueryError::Execution(other.to_string()),
    }
}

/// Where the cells of columns go: one block at a start index; each cell of a
/// grid at the indices its coordinates have along each dimension (row-major); or
/// listed cells, one index tuple each (flat).
pub(crate) enum Placement {
    Block(Vec<u64>),
    Grid(Vec<Vec<u64>>),
    Listed(Vec<u64>),
}

/// Stages each (attribute, values) pair in `sink` as `placement` says.
pub(crate) fn write_columns(
    sink: &mut arrayq_storage::IngestSink,
    columns: Vec<(String, arrayq_storage::Buffer)>,
    placement: &Placement,
) -> Result<(), QueryError> {
    let grid = match placement {
        Placement::Grid(per_dim) => cartesian(per_dim),
        _ => Vec::new(),
    };
    for (attr, data) in columns {
        match placement {
            Placement::Block(start) => sink.write_owned(&attr, start, data),
            Placement::Grid(_) => sink.push_cells(&attr, &grid, &data),
            Placement::Listed(cells) => sink.push_cells(&attr, cells, &data),
        }
        .map_err(ingest_error)?;
    }
    Ok(())
}

/// Every combination of the per-dimension indices, row-major, flattened.
fn cartesian(per_dim: &[Vec<u64>]) -> Vec<u64> {
    let n: usize = per_dim.iter().map(|v| v.len()).product();
    let rank = per_dim.len();
    let mut out = Vec::with_capacity(n * rank);
    let mut at = vec![0usize; rank];
    for _ in 0..n {
        out.extend(at.iter().zip(per_dim).map(|(&k, v)| v[k]));
        for d in (0..rank).rev() {
            at[d] += 1;
            if at[d] < per_dim[d].len() {
                break;
            }
            at[d] = 0;
        }
    }
    out
}
