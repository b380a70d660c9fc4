//! arrayq's benchmarks: shared infrastructure (repeated timing, machine description,
//! result files, SVG charts) and the suites (`storage`, `layouts`, the query suites
//! `era5` and `energy` against their peers, `grpc`). The `arrayq-bench` binary is the
//! CLI; see `bench/README.md`.

#![warn(missing_docs)]

pub mod chart;
pub mod machine;
pub mod measure;
pub mod probe;
pub mod probe_query;
pub mod results;
pub mod suites;
