//! `ALTER ARRAY a ADD LAYOUT name CHUNKS (...)`: another chunking of the same data.

use super::options::{check_opts, codec_from};
use super::unknown_array;
use crate::ast::AddLayout;
use crate::error::QueryError;
use crate::Execution;
use arrayq_storage::{AsOf, Layout, Store};

pub(crate) fn add_layout(store: &Store, a: &AddLayout) -> Result<Execution, QueryError> {
    check_opts(&a.options, &["zstd_level", "codec"])?;
    let snap = store
        .snapshot(&a.array.value, AsOf::Latest)
        .map_err(|_| unknown_array(store, &a.array.value).at(a.array.span))?;
    let esize = snap
        .schema()
        .attrs
        .iter()
        .map(|x| x.dtype.size())
        .max()
        .unwrap_or(4);
    let rank = snap.schema().dims.len();
    if a.chunks.len() != rank {
        return Err(QueryError::plan(format!(
            "CHUNKS has {} extents for {rank} dimensions of '{}'",
            a.chunks.len(),
            a.array.value
        ))
        .at(a.chunks_span));
    }
    let layout = Layout::new(&a.layout, a.chunks.clone(), codec_from(&a.options, esize)?);
    let info = store
        .add_layout(&a.array.value, layout)
        .map_err(QueryError::from_storage)?;
    Ok(Execution::Done {
        message: format!("added layout '{}' to '{}'", a.layout, a.array.value),
        array: Some(a.array.value.clone()),
        version: Some(info.version),
    })
}
