//! Free space on the store's filesystem: a commit checks it before writing anything,
//! and a write that runs out of space anyway becomes [`StorageError::NoSpace`].
//!
//! Why a check before the commit and not only the write error: sled 0.34 keeps an
//! I/O error sticky (every later operation fails until the tree is reopened), so a
//! full disk must be met by the segment files or by this check, never by sled. The
//! reserve ([`crate::Options::reserved_disk_bytes`]) is left for sled itself, so that
//! DROP and VACUUM, which free space, still work on a disk full of data.

use crate::error::{Result, StorageError};
use crate::store::Store;
use std::path::Path;

/// Bytes available to this (unprivileged) process on the filesystem holding `path`.
pub(crate) fn available_bytes(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a NUL-terminated path and a buffer of the right type; read only on success.
    if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let st = unsafe { st.assume_init() };
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Whether an I/O error means the filesystem (or the user's quota) is full.
pub(crate) fn is_no_space(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// An upper bound of the bytes one chunk of `raw` bytes takes once stored: the
/// codec's output (zstd's worst case is a little over its input) plus the chunk's
/// index entry and what sled writes for it.
pub(crate) fn stored_chunk_bound(raw: usize) -> u64 {
    raw as u64 + raw as u64 / 128 + 1024
}

/// `n` bytes in MiB with one decimal, for messages.
fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
}

impl Store {
    /// Fails with [`StorageError::NoSpace`] unless `needed` bytes fit on the store's
    /// filesystem with the reserve left over.
    pub(crate) fn ensure_space(&self, needed: u64, what: &str) -> Result<()> {
        let path = &self.inner.path;
        let available = available_bytes(path)?;
        let reserve = self.inner.opts.reserved_disk_bytes;
        if available >= needed.saturating_add(reserve) {
            return Ok(());
        }
        Err(StorageError::NoSpace {
            path: path.display().to_string(),
            detail: format!(
                "{what} needs up to {} and {} are free, of which {} stay in reserve",
                mib(needed),
                mib(available),
                mib(reserve)
            ),
        })
    }

    /// `e` as [`StorageError::NoSpace`] when it is a full disk underneath (from the
    /// segment files, a spill file or sled); otherwise unchanged.
    pub(crate) fn name_no_space(&self, e: StorageError) -> StorageError {
        let io = match &e {
            StorageError::Io(io) => io,
            StorageError::Sled(sled::Error::Io(io)) => io,
            _ => return e,
        };
        if !is_no_space(io) {
            return e;
        }
        StorageError::NoSpace {
            path: self.inner.path.display().to_string(),
            detail: io.to_string(),
        }
    }
}
