//! Adding and dropping rollups: each a new version of the array (its data
//! unchanged), like adding a layout.

use super::Rollup;
use crate::error::{Result, StorageError};
use crate::meta::{ChangeKind, CommitInfo, LayoutStats, VersionMeta};
use crate::region::Region;
use crate::store::{now_ns, Store};
use std::sync::Arc;

/// What a rollup keeps of one attribute: its name, then whether the sum, the
/// minimum and the maximum are kept (the count always is).
pub type RollupSpec = (String, bool, bool, bool);

impl Store {
    /// Adds rollup `name` of `attrs` by UTC days of time dimension `dim`, built from
    /// the current data, as a new version; later commits keep it current.
    pub fn add_rollup(
        &self,
        array: &str,
        name: &str,
        dim: &str,
        attrs: &[RollupSpec],
    ) -> Result<CommitInfo> {
        let _w = self.inner.commit_lock.lock();
        let st = self.state(array)?;
        let rollup = Rollup::new(&st.head.schema, &st.head.rollups, name, dim, attrs)?;
        let version = st.head.version + 1;
        let mut meta = VersionMeta {
            array_id: st.id,
            version,
            timestamp_ns: now_ns(),
            schema: st.head.schema.clone(),
            stats: st.head.stats.clone(),
            cells_written: 0,
            marks: st.head.marks.clone(),
            rollups: vec![rollup.clone()],
            rollup_stats: vec![LayoutStats::default()],
        };
        self.mark_pending(st.id, version)?;
        // Built alone (the others are current): the new version reads the head's data.
        let snap = crate::Snapshot::new(self.clone(), Arc::new(meta.clone()));
        let full = Region::full(&meta.schema.shape());
        let built = super::maintain(self, &snap, st.head.version, &full, &meta.rollup_stats)?;
        self.sync()?;
        meta.rollups = st.head.rollups.clone();
        meta.rollups.push(rollup);
        meta.rollup_stats = st.head.rollup_stats.clone();
        meta.rollup_stats.extend(built);
        self.finish_commit(
            sled::Batch::default(),
            meta,
            ChangeKind::AddLayout,
            vec![],
            Some(&st),
        )
    }

    /// Drops rollup `name` as a new version (older versions keep reading it until
    /// vacuum removes them).
    pub fn drop_rollup(&self, array: &str, name: &str) -> Result<CommitInfo> {
        let _w = self.inner.commit_lock.lock();
        let st = self.state(array)?;
        let Some(i) = st.head.rollups.iter().position(|r| r.name == name) else {
            return Err(StorageError::InvalidSchema(format!(
                "array '{array}' has no rollup '{name}'"
            )));
        };
        let mut meta = (*st.head).clone();
        meta.version += 1;
        meta.timestamp_ns = now_ns();
        meta.cells_written = 0;
        meta.rollups.remove(i);
        if i < meta.rollup_stats.len() {
            meta.rollup_stats.remove(i);
        }
        self.finish_commit(
            sled::Batch::default(),
            meta,
            ChangeKind::AddLayout,
            vec![],
            Some(&st),
        )
    }
}
