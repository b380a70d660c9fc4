//! Server-level records kept in the store beside the arrays (the server's ingest
//! jobs, for one): small values by name, durable once the call returns.

use crate::error::Result;
use crate::keys;
use crate::store::Store;

impl Store {
    /// The record `name`, if there is one.
    pub fn record(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.inner.tree.get(keys::record(name))?.map(|v| v.to_vec()))
    }

    /// Sets record `name` (durably: flushed before returning).
    pub fn put_record(&self, name: &str, value: &[u8]) -> Result<()> {
        self.inner.tree.insert(keys::record(name), value)?;
        self.inner.tree.flush()?;
        Ok(())
    }

    /// Removes record `name`; whether it existed.
    pub fn remove_record(&self, name: &str) -> Result<bool> {
        let had = self.inner.tree.remove(keys::record(name))?.is_some();
        self.inner.tree.flush()?;
        Ok(had)
    }

    /// Records whose names start with `prefix`, by name.
    pub fn records(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.inner
            .tree
            .scan_prefix(keys::record(prefix))
            .map(|kv| {
                let (k, v) = kv?;
                let name = String::from_utf8_lossy(&k[1..]).into_owned();
                Ok((name, v.to_vec()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_a_reopen_and_list_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            s.put_record("ingest:a", b"1").unwrap();
            s.put_record("ingest:b", b"2").unwrap();
            s.put_record("other", b"3").unwrap();
            assert!(s.remove_record("ingest:b").unwrap());
            assert!(!s.remove_record("ingest:b").unwrap());
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.record("other").unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(
            s.records("ingest:").unwrap(),
            vec![("ingest:a".to_string(), b"1".to_vec())]
        );
    }
}
