//! `DROP ARRAY [IF EXISTS] name`.

use super::unknown_array;
use crate::error::QueryError;
use crate::Execution;
use arrayq_storage::Store;

pub(crate) fn drop_array(
    store: &Store,
    name: &str,
    if_exists: bool,
) -> Result<Execution, QueryError> {
    if !store.list_arrays().iter().any(|n| n == name) {
        if if_exists {
            return Ok(Execution::Done {
                message: format!("array '{name}' does not exist"),
                array: Some(name.to_string()),
                version: None,
            });
        }
        return Err(unknown_array(store, name));
    }
    store.drop_array(name).map_err(QueryError::from_storage)?;
    Ok(Execution::Done {
        message: format!("dropped array '{name}'"),
        array: Some(name.to_string()),
        version: None,
    })
}
