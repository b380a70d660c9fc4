//! Where ingest sinks spill staged data: `<store>/staging/`, emptied when a store opens.

use std::path::{Path, PathBuf};

/// The staging directory of the store at `store_dir`.
pub(crate) fn staging_dir(store_dir: &Path) -> PathBuf {
    store_dir.join("staging")
}

/// Creates `dir` and removes every file in it: nothing staged survives a restart
/// (no sink of an earlier process can still commit).
pub(crate) fn clean_staging_dir(dir: &Path) -> std::io::Result<u64> {
    std::fs::create_dir_all(dir)?;
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}
