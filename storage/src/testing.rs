//! For tests and fuzzing only (the `testing` feature): raw access to the chunk
//! index, so a test can damage an entry and check that reads report it. Nothing
//! else in the engine uses this.

use crate::error::{Result, StorageError};
use crate::keys;
use crate::store::Store;

impl Store {
    /// Testing only: every chunk index entry of array `name` as (key, value), in key
    /// order (`C id layout attr chunk... version` -> inline payload or segment
    /// pointer, see docs/format.md).
    #[doc(hidden)]
    pub fn chunk_entries_for_testing(&self, name: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let id = self.state(name)?.id;
        self.inner
            .tree
            .scan_prefix(keys::array_chunks_prefix(id))
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }

    /// Testing only: replaces the value of an existing chunk index entry.
    #[doc(hidden)]
    pub fn set_chunk_entry_for_testing(&self, key: &[u8], value: &[u8]) -> Result<()> {
        if !key.starts_with(keys::CHUNK) || self.inner.tree.get(key)?.is_none() {
            return Err(StorageError::Metadata("no such chunk index entry".into()));
        }
        self.inner.tree.insert(key, value)?;
        Ok(())
    }
}
