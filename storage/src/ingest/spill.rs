//! Spill files: where staged data goes once a sink holds more than its memory bound.
//! They live in `<store>/staging/`, are removed when the sink commits, aborts or is
//! dropped, and whatever a crash left there is removed when the store opens.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// One append-only spill file, removed when the last handle to it is dropped.
#[derive(Debug)]
pub(crate) struct SpillFile {
    path: PathBuf,
    file: File,
    len: AtomicU64,
}

impl SpillFile {
    pub(crate) fn create(dir: &Path) -> std::io::Result<SpillFile> {
        static N: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!(
            "{}-{}.stage",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(SpillFile {
            path,
            file,
            len: AtomicU64::new(0),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `data`; returns the file offset it starts at.
    pub(crate) fn append(&self, data: &[u8]) -> std::io::Result<u64> {
        let at = self.len.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.file.write_all_at(data, at)?;
        Ok(at)
    }

    /// Reads `out.len()` bytes at `offset` (pread: no shared cursor, so the chunk
    /// workers of a commit read concurrently, and nothing stays mapped).
    pub(crate) fn read_at(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.file.read_exact_at(out, offset)
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
