//! `SHOW ARRAYS`: one row per array of the store.

use crate::error::QueryError;
use crate::{Execution, TextTable};
use arrayq_storage::{AsOf, Store};

pub(crate) fn show_arrays(store: &Store) -> Result<Execution, QueryError> {
    let mut rows = Vec::new();
    for name in store.list_arrays() {
        let Ok(s) = store.snapshot(&name, AsOf::Latest) else {
            continue;
        };
        let sc = s.schema();
        rows.push(vec![
            name.clone(),
            sc.dims
                .iter()
                .map(|d| format!("{}({})", d.name, d.len))
                .collect::<Vec<_>>()
                .join(", "),
            sc.attrs
                .iter()
                .map(|a| format!("{} {}", a.name, a.dtype))
                .collect::<Vec<_>>()
                .join(", "),
            sc.layouts
                .iter()
                .map(|l| l.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
            s.version().to_string(),
        ]);
    }
    Ok(Execution::Table(TextTable {
        columns: ["name", "dimensions", "attributes", "layouts", "version"]
            .map(String::from)
            .to_vec(),
        rows,
    }))
}
