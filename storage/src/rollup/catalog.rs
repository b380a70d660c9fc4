//! Adding and dropping rollups: each a new version of the array (its data
//! unchanged), like adding a layout.

use super::Rollup;
use crate::error::{Result, StorageError};
use crate::keys;
use crate::meta::{ChangeKind, CommitInfo, LayoutStats, VersionMeta};
use crate::region::Region;
use crate::store::{now_ns, ArrayState, Store};
use serde::Deserialize;
use std::collections::BTreeSet;
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
        let mark = self.inner.segments.append_mark();
        self.add_rollup_locked(&st, name, dim, attrs)
            .map_err(|e| self.undo_pending(&st, &mark, e))
    }

    fn add_rollup_locked(
        &self,
        st: &ArrayState,
        name: &str,
        dim: &str,
        attrs: &[RollupSpec],
    ) -> Result<CommitInfo> {
        // A dropped rollup's chunks stay while a kept version carries it: its id
        // must not come back before vacuum removes them.
        let id = self
            .rollup_ids_kept(st, st.floor)?
            .last()
            .map_or(0, |&last| last + 1);
        let rollup = Rollup::new(&st.head.schema, &st.head.rollups, id, name, dim, attrs)?;
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
        let built = super::maintain(
            self,
            &snap,
            st.head.version,
            &full,
            &meta.rollup_stats,
            None,
        )?;
        self.sync()?;
        meta.rollups = st.head.rollups.clone();
        meta.rollups.push(rollup);
        meta.rollup_stats = st.head.rollup_stats.clone();
        meta.rollup_stats.extend(built);
        self.commit_rollups(st, meta, ChangeKind::AddRollup)
    }

    /// Drops rollup `name` as a new version. Older versions keep reading it; its
    /// chunks go once vacuum has removed every version that carries it.
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
        self.commit_rollups(&st, meta, ChangeKind::DropRollup)
    }

    /// The commit point of a version that changes only `meta`'s rollups.
    fn commit_rollups(
        &self,
        st: &ArrayState,
        meta: VersionMeta,
        kind: ChangeKind,
    ) -> Result<CommitInfo> {
        self.finish_commit(sled::Batch::default(), meta, kind, vec![], Some(st))
    }

    /// The ids of the rollups that `st`'s versions from `from` on carry, ascending.
    pub(crate) fn rollup_ids_kept(&self, st: &ArrayState, from: u64) -> Result<BTreeSet<u16>> {
        /// Only the ids of a version's rollups (the rest of its metadata is skipped).
        #[derive(Deserialize)]
        struct Ids {
            #[serde(default)]
            rollups: Vec<Id>,
        }
        #[derive(Deserialize)]
        struct Id {
            id: u16,
        }
        let mut ids: BTreeSet<u16> = st.head.rollups.iter().map(|r| r.id).collect();
        let range = keys::meta(st.id, from)..keys::meta(st.id, st.head.version);
        for v in self.inner.tree.range(range).values() {
            let v = v?;
            let kept: Ids = serde_json::from_slice(&v).map_err(|e| {
                StorageError::Metadata(format!(
                    "version metadata of array '{}': {e}",
                    st.head.schema.name
                ))
            })?;
            ids.extend(kept.rollups.iter().map(|r| r.id));
        }
        Ok(ids)
    }
}
