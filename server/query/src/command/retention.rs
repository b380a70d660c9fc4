//! `ALTER ARRAY name SET (retain = '30 days', retain_versions = n)` and `RESET
//! (...)`: the retention policy stored with the array, which the server applies
//! in the background.

use super::unknown_array;
use crate::ast::AlterRetention;
use crate::error::QueryError;
use crate::timeutil::format_duration;
use crate::Execution;
use arrayq_storage::{Retention, StorageError, Store};

pub(crate) fn alter_retention(store: &Store, a: &AlterRetention) -> Result<Execution, QueryError> {
    let name = &a.array.value;
    let not_found = |e| match e {
        StorageError::UnknownArray(_) => unknown_array(store, name).at(a.array.span),
        e => QueryError::from_storage(e),
    };
    let mut policy = store.retention(name).map_err(not_found)?;
    if let Some(v) = a.versions {
        policy.versions = v;
    }
    if let Some(age) = a.max_age_ns {
        policy.max_age_ns = age;
    }
    store.set_retention(name, policy).map_err(not_found)?;
    Ok(Execution::Done {
        message: format!("retention of '{name}': {}", retention_text(&policy)),
        array: Some(name.clone()),
        version: None,
    })
}

/// A policy as DESCRIBE and ALTER ARRAY show it: `keep 5 versions, keep 30 days`,
/// or `keep every version` when none is set.
pub(crate) fn retention_text(p: &Retention) -> String {
    let mut rules = Vec::new();
    if let Some(n) = p.versions {
        rules.push(format!("keep {n} version{}", if n == 1 { "" } else { "s" }));
    }
    if let Some(age) = p.max_age_ns {
        rules.push(format!("keep {}", format_duration(age)));
    }
    if rules.is_empty() {
        return "keep every version".into();
    }
    rules.join(", ")
}
