//! DDL and catalog statements, one command per file: they change or list the
//! store's arrays and never go through the query planner.

mod add_layout;
mod create_array;
mod describe;
mod drop_array;
mod options;
mod show_arrays;

pub(crate) use add_layout::add_layout;
pub(crate) use create_array::create_array;
pub(crate) use describe::describe;
pub(crate) use drop_array::drop_array;
pub(crate) use show_arrays::show_arrays;

use crate::error::{not_found, QueryError};
use arrayq_storage::Store;

/// The error for an array name the store does not hold (with a did-you-mean).
pub(crate) fn unknown_array(store: &Store, name: &str) -> QueryError {
    let names = store.list_arrays();
    not_found("array", name, "", names.iter().map(|s| s.as_str()))
}
