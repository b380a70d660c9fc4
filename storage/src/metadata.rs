//! Descriptive metadata of an array: CF attributes (`units`, `long_name`,
//! `standard_name`, ...) of its dimensions and attributes, and global attributes of
//! the array itself. Text keys and values only; queries never depend on them.

use crate::error::{Result, StorageError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// Key -> value pairs describing one thing.
pub type MetadataMap = BTreeMap<String, String>;

/// Largest total size (keys and values, bytes) of an array's metadata: it travels in
/// every version's schema, so it is kept to descriptions, not data.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// Metadata of an array, its dimensions and its attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The array's own (global) attributes, such as `title` or `Conventions`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub array: MetadataMap,
    /// Per dimension or attribute name (they share one namespace).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub items: BTreeMap<String, MetadataMap>,
}

impl Metadata {
    pub fn is_empty(&self) -> bool {
        self.array.is_empty() && self.items.values().all(|m| m.is_empty())
    }

    /// The metadata of the dimension or attribute `name` (empty when it has none).
    pub fn of(&self, name: &str) -> &MetadataMap {
        static EMPTY: MetadataMap = BTreeMap::new();
        self.items.get(name).unwrap_or(&EMPTY)
    }

    /// Sets the metadata of `name` (an empty map removes it).
    pub fn set(&mut self, name: &str, map: MetadataMap) {
        if map.is_empty() {
            self.items.remove(name);
        } else {
            self.items.insert(name.to_string(), map);
        }
    }

    /// Checks that every item names one of `names` and that the whole fits
    /// [`MAX_METADATA_BYTES`]; drops empty item maps.
    pub(crate) fn validate(&mut self, array: &str, names: &HashSet<String>) -> Result<()> {
        self.items.retain(|_, m| !m.is_empty());
        if let Some(unknown) = self.items.keys().find(|k| !names.contains(*k)) {
            return Err(StorageError::InvalidSchema(format!(
                "metadata of '{unknown}': array '{array}' has no dimension or attribute of that name"
            )));
        }
        let size: usize = std::iter::once(&self.array)
            .chain(self.items.values())
            .flat_map(|m| m.iter())
            .map(|(k, v)| k.len() + v.len())
            .sum();
        if size > MAX_METADATA_BYTES {
            return Err(StorageError::InvalidSchema(format!(
                "metadata of array '{array}' takes {size} bytes, more than the {MAX_METADATA_BYTES} allowed"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> HashSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unknown_item_is_rejected_with_its_name() {
        let mut m = Metadata::default();
        m.set("t2m", MetadataMap::from([("units".into(), "K".into())]));
        let err = m.validate("era5", &names(&["time"])).unwrap_err();
        assert!(err.to_string().contains("metadata of 't2m'"), "{err}");
        assert!(m.validate("era5", &names(&["t2m"])).is_ok());
    }

    #[test]
    fn oversize_metadata_is_rejected() {
        let mut m = Metadata::default();
        m.array
            .insert("history".into(), "x".repeat(MAX_METADATA_BYTES));
        let err = m.validate("era5", &names(&[])).unwrap_err();
        assert!(
            err.to_string().contains("more than the 65536 allowed"),
            "{err}"
        );
    }

    #[test]
    fn empty_metadata_is_not_serialized() {
        let m = Metadata::default();
        assert_eq!(serde_json::to_string(&m).unwrap(), "{}");
        let back: Metadata = serde_json::from_str("{}").unwrap();
        assert!(back.is_empty());
    }
}
