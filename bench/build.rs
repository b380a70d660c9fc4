//! Records, for the machine section of every result file, the compiler that built
//! the benchmark and the versions of the dependencies that shape its numbers.

use std::path::Path;
use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ARRAYQ_BENCH_RUSTC={version}");

    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    let mut found = Vec::new();
    for name in ["sled", "zstd", "zstd-sys", "rayon", "ndarray", "plotters"] {
        if let Some(v) = locked_version(&text, name) {
            found.push(format!("{name}={v}"));
        }
    }
    println!("cargo:rustc-env=ARRAYQ_BENCH_DEPS={}", found.join(","));
}

/// The version of the first `[[package]]` called `name` in a Cargo.lock.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let needle = format!("name = \"{name}\"\n");
    let at = lock.find(&needle)? + needle.len();
    let line = lock[at..].lines().next()?;
    line.strip_prefix("version = \"")
        .and_then(|v| v.strip_suffix('"'))
        .map(str::to_string)
}
