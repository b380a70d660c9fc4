//! The process allocator of `arrayqd` (and of the benchmark harness, which runs the
//! engine in-process): mimalloc, told to purge freed memory lazily.
//!
//! Queries allocate their aggregation state, decoded chunks and result blocks afresh
//! (megabytes each) and free them when done. By default mimalloc purges freed memory
//! by decommitting it (`MADV_DONTNEED`), so the next query faults every page in again
//! and the kernel zeroes each, 2 MiB huge pages included: about 25 faults and a fifth
//! of the CPU of a warm `GROUP BY day, lat, lon` over a week. Purging by reset
//! (`MADV_FREE`) leaves the pages mapped: reuse costs nothing, and the kernel still
//! takes them back when memory runs short.

/// The allocator to install with `#[global_allocator]`.
pub use mimalloc::MiMalloc as Allocator;

/// `mi_option_purge_decommits` of mimalloc.h (v3; libmimalloc-sys does not name it):
/// the sixth option, after show_errors, show_stats, verbose and the two eager-commit
/// options.
const MI_OPTION_PURGE_DECOMMITS: libmimalloc_sys::mi_option_t = 5;

/// Applies the option above unless `MIMALLOC_PURGE_DECOMMITS` sets it (mimalloc's
/// own environment variable wins); call first thing in `main`.
pub fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DECOMMITS").is_some() {
        return;
    }
    // SAFETY: mi_option_set only stores an option value (unknown ids are ignored).
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DECOMMITS, 0) }
}
