//! The functions the fuzz targets run (see docs/fuzzing.md). `fuzz/` (cargo fuzz,
//! libFuzzer) calls each with the fuzzer's bytes; `tests/replay.rs` calls them with
//! every committed seed and regression input, so the stable test suite keeps
//! checking what fuzzing once found. Each function panics when a check fails: that
//! is what libFuzzer reports as a crash.

mod bytes;
pub mod change_log;
pub mod query;
mod query_fixture;
mod scratch;
pub mod stored_format;
mod write_model;
pub mod write_rpc;

/// A target: one input in, a panic when a check fails.
pub type Target = fn(&[u8]);

/// The targets by name, as `fuzz/corpus/<name>/` and `fuzz/regressions/<name>/` hold them.
pub const TARGETS: &[(&str, Target)] = &[
    ("query", query::run),
    ("write_rpc", write_rpc::run),
    ("stored_format", stored_format::run),
    ("change_log", change_log::run),
];
