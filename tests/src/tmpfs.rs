//! A small real filesystem for full-disk tests: a tmpfs of a given size mounted
//! for the test (needs root; where mounting is refused the test prints a loud
//! SKIPPED line and passes), unmounted when dropped, also when the test fails.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs, unmounted on drop (then its mount point, a temporary
/// directory, is removed).
/// (The directory is held only so it outlives the mount: fields drop after `drop`.)
pub struct Tmpfs(PathBuf, #[allow(dead_code)] tempfile::TempDir);

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB on a new temporary directory; None (after
    /// printing `SKIPPED <test>: ...`) when this process may not mount.
    pub fn mount(mib: u64, test: &str) -> Option<Tmpfs> {
        let outside = tempfile::tempdir().expect("temp dir");
        let dir = outside.path().join("mnt");
        std::fs::create_dir(&dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}M"), "tmpfs"])
            .arg(&dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir, outside)),
            Ok(o) => {
                let why = String::from_utf8_lossy(&o.stderr).trim().to_string();
                eprintln!("SKIPPED {test}: cannot mount a tmpfs (not root?): {why}");
                None
            }
            Err(e) => {
                eprintln!("SKIPPED {test}: cannot run mount: {e}");
                None
            }
        }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Bytes free for an unprivileged writer (statvfs `f_bavail`), as the server's
    /// own free-space check sees them.
    pub fn available_bytes(&self) -> io::Result<u64> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(self.0.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: a NUL-terminated path and a buffer of the right type; read only on success.
        if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: statvfs returned 0, so it filled the struct.
        let st = unsafe { st.assume_init() };
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// Writes the file `name` so that about `leave` bytes stay free (a filler the
    /// test removes to free space again); returns its path.
    pub fn fill_leaving(&self, name: &str, leave: u64) -> io::Result<PathBuf> {
        let size = self.available_bytes()?.saturating_sub(leave);
        let path = self.0.join(name);
        std::fs::write(&path, vec![1u8; size as usize])?;
        Ok(path)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Busy (a server still closing): detach it now, freed when unused.
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}
