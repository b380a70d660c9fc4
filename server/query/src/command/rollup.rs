//! `ALTER ARRAY a ADD ROLLUP name AS SELECT ... GROUP BY date_trunc('day', time),
//! dims...` and `ALTER ARRAY a DROP ROLLUP name`: aggregates per UTC day and cell,
//! kept current by every commit (storage `rollup`), which queries read instead of
//! the raw cells when that is exact (optimizer `rollup_source`).

use super::unknown_array;
use crate::ast::{AlterRollup, RollupChange};
use crate::error::QueryError;
use crate::Execution;
use arrayq_storage::{AsOf, RollupSpec, Store};

pub(crate) fn alter_rollup(store: &Store, a: &AlterRollup) -> Result<Execution, QueryError> {
    let array = &a.array.value;
    let snap = store
        .snapshot(array, AsOf::Latest)
        .map_err(|_| unknown_array(store, array).at(a.array.span))?;
    let schema = snap.schema();
    let (info, message) = match &a.change {
        RollupChange::Drop { name } => {
            let info = store
                .drop_rollup(array, &name.value)
                .map_err(|e| QueryError::from_storage(e).at(name.span))?;
            (
                info,
                format!("dropped rollup '{}' of '{array}'", name.value),
            )
        }
        RollupChange::Add {
            name,
            calls,
            day,
            dims,
        } => {
            // The groups: the day and every other dimension, each once.
            let d = schema
                .dim_index(&day.value)
                .map_err(|e| QueryError::from_storage(e).at(day.span))?;
            let mut seen = vec![false; schema.dims.len()];
            seen[d] = true;
            for n in dims {
                let k = schema
                    .dim_index(&n.value)
                    .map_err(|e| QueryError::from_storage(e).at(n.span))?;
                if seen[k] {
                    return Err(QueryError::plan(format!(
                        "dimension '{}' is grouped twice",
                        n.value
                    ))
                    .at(n.span));
                }
                seen[k] = true;
            }
            if let Some(k) = seen.iter().position(|s| !s) {
                return Err(QueryError::plan(format!(
                    "a rollup groups by the day and every other dimension: GROUP BY lacks '{}'",
                    schema.dims[k].name
                )));
            }
            let mut specs: Vec<RollupSpec> = Vec::new();
            for call in calls {
                let (sum, min, max) = match call.func.as_str() {
                    "avg" | "mean" | "sum" => (true, false, false),
                    "count" => (false, false, false),
                    "min" => (false, true, false),
                    "max" => (false, false, true),
                    other => {
                        return Err(QueryError::plan(format!(
                            "a rollup keeps avg, sum, count, min and max, not {other}"
                        ))
                        .at(call.span))
                    }
                };
                schema
                    .attr(&call.attr.value)
                    .map_err(|e| QueryError::from_storage(e).at(call.attr.span))?;
                specs.push((call.attr.value.clone(), sum, min, max));
            }
            let info = store
                .add_rollup(array, &name.value, &day.value, &specs)
                .map_err(|e| QueryError::from_storage(e).at(name.span))?;
            (info, format!("added rollup '{}' to '{array}'", name.value))
        }
    };
    Ok(Execution::Done {
        message,
        array: Some(array.clone()),
        version: Some(info.version),
    })
}
