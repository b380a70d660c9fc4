//! Retention: which versions of an array to keep, as a policy stored with the array
//! (`T id`, see docs/format.md) and as the argument of one vacuum.

use crate::error::{Result, StorageError};
use crate::keys;
use crate::store::{now_ns, CommitRecord, Store};
use crate::vacuum::VacuumStats;
use serde::{Deserialize, Serialize};

/// Which versions to keep. A version is kept when any set rule keeps it; the newest
/// version is always kept. Nothing set keeps everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Keep the newest `versions` versions (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<u64>,
    /// Keep every version a read `AS OF` a time within this age (ns) can see: the
    /// versions committed since, and the one that was current at its start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_ns: Option<i64>,
}

impl Retention {
    /// Keep only the newest version (`VACUUM name` alone).
    pub const NEWEST_ONLY: Retention = Retention {
        versions: Some(1),
        max_age_ns: None,
    };

    pub fn is_empty(&self) -> bool {
        self.versions.is_none() && self.max_age_ns.is_none()
    }

    pub fn validate(&self) -> Result<()> {
        if self.versions == Some(0) {
            return Err(StorageError::InvalidRetention(
                "the number of versions to keep must be at least 1".into(),
            ));
        }
        if self.max_age_ns.is_some_and(|a| a <= 0) {
            return Err(StorageError::InvalidRetention(
                "the age to keep must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The oldest version to keep of `kept` (every kept version, ascending, never
    /// empty) at time `now_ns`; `None` when no rule is set.
    pub fn keep_from(&self, kept: &[CommitRecord], now_ns: i64) -> Option<u64> {
        let oldest = kept.first()?.version;
        let by_count = self
            .versions
            .map(|n| kept[kept.len().saturating_sub(n.max(1) as usize)].version);
        let by_age = self.max_age_ns.map(|age| {
            let cutoff = now_ns.saturating_sub(age);
            kept.iter()
                .rev()
                .find(|c| c.timestamp_ns <= cutoff)
                .map_or(oldest, |c| c.version)
        });
        match (by_count, by_age) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Store {
    /// The retention policy stored with `array` (empty when none was set).
    pub fn retention(&self, array: &str) -> Result<Retention> {
        let st = self.state(array)?;
        match self.inner.tree.get(keys::retention(st.id))? {
            None => Ok(Retention::default()),
            Some(v) => serde_json::from_slice(&v)
                .map_err(|e| StorageError::Metadata(format!("retention of '{array}': {e}"))),
        }
    }

    /// Stores `policy` with `array` durably (an empty policy removes it). No
    /// version is created: retention is not part of the array's history.
    pub fn set_retention(&self, array: &str, policy: Retention) -> Result<()> {
        policy.validate()?;
        let _w = self.inner.commit_lock.lock();
        let st = self.state(array)?;
        let key = keys::retention(st.id);
        if policy.is_empty() {
            self.inner.tree.remove(key)?;
        } else {
            self.inner
                .tree
                .insert(key, serde_json::to_vec(&policy).unwrap())?;
        }
        self.inner.tree.flush()?;
        Ok(())
    }

    /// Vacuums `array` down to what `keep` keeps now. Blocking: scans the array's
    /// chunk keys and may compact segment files.
    pub fn vacuum_retaining(&self, array: &str, keep: &Retention) -> Result<VacuumStats> {
        keep.validate()?;
        let st = self.state(array)?;
        // A commit meanwhile only adds newer versions, so this floor keeps enough.
        let floor = keep
            .keep_from(&st.versions, now_ns())
            .unwrap_or(st.floor)
            .max(st.floor);
        self.vacuum(array, floor)
    }

    /// Applies every array's stored policy whose floor moved; returns what each
    /// vacuum did. An array dropped meanwhile is skipped.
    pub fn apply_retention(&self) -> Result<Vec<(String, VacuumStats)>> {
        let mut done = Vec::new();
        for name in self.list_arrays() {
            let (policy, st) = match (self.retention(&name), self.state(&name)) {
                (Ok(p), Ok(st)) => (p, st),
                (Err(StorageError::UnknownArray(_)), _) | (_, Err(_)) => continue,
                (Err(e), _) => return Err(e),
            };
            let Some(floor) = policy.keep_from(&st.versions, now_ns()) else {
                continue;
            };
            if floor <= st.floor {
                continue;
            }
            match self.vacuum(&name, floor) {
                Ok(stats) => done.push((name, stats)),
                Err(StorageError::UnknownArray(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(times: &[i64]) -> Vec<CommitRecord> {
        times
            .iter()
            .enumerate()
            .map(|(v, &t)| CommitRecord {
                version: v as u64 + 3,
                timestamp_ns: t,
                cells_written: 0,
            })
            .collect()
    }

    #[test]
    fn keep_from_counts_versions_and_ages() {
        let k = kept(&[100, 200, 300, 400]); // versions 3..=6
        let count = |n| Retention {
            versions: Some(n),
            max_age_ns: None,
        };
        let age = |a| Retention {
            versions: None,
            max_age_ns: Some(a),
        };
        assert_eq!(Retention::default().keep_from(&k, 1000), None);
        assert_eq!(Retention::NEWEST_ONLY.keep_from(&k, 1000), Some(6));
        assert_eq!(count(2).keep_from(&k, 1000), Some(5));
        assert_eq!(count(9).keep_from(&k, 1000), Some(3));
        // now 450, age 200: cutoff 250, so version 4 (t=200) was current then.
        assert_eq!(age(200).keep_from(&k, 450), Some(4));
        assert_eq!(age(1000).keep_from(&k, 450), Some(3));
        assert_eq!(age(10).keep_from(&k, 450), Some(6));
        // Both: what either keeps.
        let both = Retention {
            versions: Some(3),
            max_age_ns: Some(10),
        };
        assert_eq!(both.keep_from(&k, 450), Some(4));
    }

    #[test]
    fn zero_versions_and_non_positive_ages_are_refused() {
        let zero = Retention {
            versions: Some(0),
            max_age_ns: None,
        };
        assert_eq!(
            zero.validate().unwrap_err().to_string(),
            "invalid retention: the number of versions to keep must be at least 1"
        );
        let neg = Retention {
            versions: None,
            max_age_ns: Some(-1),
        };
        assert_eq!(
            neg.validate().unwrap_err().to_string(),
            "invalid retention: the age to keep must be positive"
        );
    }
}
