//! Files of the suites: where their data lives, copying and sizing directories,
//! evicting them from the page cache.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::suites::Ctx;

pub use arrayq_tests::evict_dir;

/// Bytes of every file under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        match std::fs::metadata(&p) {
            Ok(m) if m.is_dir() => {
                if let Ok(rd) = std::fs::read_dir(&p) {
                    stack.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
                }
            }
            Ok(m) => total += m.len(),
            Err(_) => {}
        }
    }
    total
}

/// Where a suite keeps its data: `cache_dir/<name>` (kept) or a temporary directory.
pub fn data_root(ctx: &Ctx, name: &str) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    match &ctx.cache_dir {
        Some(c) => {
            let d = c.join(name);
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            Ok((d, None))
        }
        None => {
            let t = ctx.temp_dir(&format!("arrayq-bench-{name}-"))?;
            Ok((t.path().to_path_buf(), Some(t)))
        }
    }
}

/// Copies directory `src` into `dst` (created; must not hold other files of the same
/// names), recursively. Returns the bytes copied.
pub fn copy_dir(src: &Path, dst: &Path) -> Result<u64> {
    std::fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?;
    let mut total = 0;
    for entry in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            total += copy_dir(&entry.path(), &to)?;
        } else {
            total += std::fs::copy(entry.path(), &to)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(total)
}

/// Modification time of a file as UTC text (RFC 3339, seconds).
pub fn modified_utc(path: &Path) -> Option<String> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    let t: chrono::DateTime<chrono::Utc> = t.into();
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}
