//! The page cache of a directory's files: evicting them (cold reads in tests and
//! benchmarks) and measuring how much of a file is cached.

use std::os::fd::AsRawFd;
use std::path::Path;

extern "C" {
    fn posix_fadvise(fd: i32, offset: i64, len: i64, advice: i32) -> i32;
    fn mmap(addr: *mut u8, len: usize, prot: i32, flags: i32, fd: i32, offset: i64) -> *mut u8;
    fn munmap(addr: *mut u8, len: usize) -> i32;
    fn mincore(addr: *mut u8, len: usize, vec: *mut u8) -> i32;
}

const POSIX_FADV_DONTNEED: i32 = 4;
const PROT_READ: i32 = 1;
const MAP_SHARED: i32 = 1;
const PAGE: usize = 4096;

/// Evicts every file under `dir` from the page cache: `fsync`, then
/// `posix_fadvise(DONTNEED)` (clean pages go; works unprivileged on ext4). Only these
/// files: other processes on the machine keep their cache. Pages a process has
/// mapped stay. Returns whether every file was advised.
pub fn evict_dir(dir: &Path) -> bool {
    let mut ok = true;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::metadata(&p) else {
            ok = false;
            continue;
        };
        if meta.is_dir() {
            match std::fs::read_dir(&p) {
                Ok(rd) => stack.extend(rd.filter_map(|e| e.ok().map(|e| e.path()))),
                Err(_) => ok = false,
            }
            continue;
        }
        match std::fs::File::open(&p) {
            Ok(f) => {
                let _ = f.sync_all();
                // SAFETY: a plain syscall on a descriptor we own.
                ok &= unsafe { posix_fadvise(f.as_raw_fd(), 0, 0, POSIX_FADV_DONTNEED) } == 0;
            }
            Err(_) => ok = false,
        }
    }
    ok
}

/// Bytes of `path` in the page cache (whole pages, by `mincore` on a fresh mapping,
/// which itself reads nothing).
pub fn cached_bytes(path: &Path) -> std::io::Result<u64> {
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len() as usize;
    if len == 0 {
        return Ok(0);
    }
    // SAFETY: a fresh read-only mapping of an open file, unmapped below; mincore
    // writes one byte per page into a vector of that many bytes.
    unsafe {
        let p = mmap(
            std::ptr::null_mut(),
            len,
            PROT_READ,
            MAP_SHARED,
            f.as_raw_fd(),
            0,
        );
        if p as isize == -1 {
            return Err(std::io::Error::last_os_error());
        }
        let mut pages = vec![0u8; len.div_ceil(PAGE)];
        let r = mincore(p, len, pages.as_mut_ptr());
        munmap(p, len);
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(pages.iter().filter(|&&b| b & 1 == 1).count() as u64 * PAGE as u64)
    }
}
