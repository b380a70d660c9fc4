//! What the numbers were measured on: CPU, cores, memory, kernel, compiler,
//! dependency versions and the source revision.

use std::collections::BTreeMap;
use std::fmt;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The machine and software a result was measured with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model name from `/proc/cpuinfo`.
    pub cpu: String,
    /// Logical CPUs the process may use.
    pub cores: usize,
    /// Threads every measured system was given.
    pub threads: usize,
    /// Physical memory, GiB.
    pub ram_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// Compiler that built the benchmark.
    pub rustc: String,
    /// Debug or release build.
    pub profile: String,
    /// `git describe`-like revision of the work tree (`+dirty` when modified).
    pub revision: String,
    /// Versions: arrayq, libzstd and locked crates.
    pub versions: BTreeMap<String, String>,
    /// UTC time the run started (RFC 3339).
    pub started: String,
    /// 1-minute load average when the run started (other work on the machine).
    #[serde(default)]
    pub load_avg: f64,
}

impl Machine {
    /// Describes the current machine; `threads` is what the benchmark gives each system.
    pub fn detect(threads: usize) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let ram_kib: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        let mut versions = BTreeMap::new();
        versions.insert("arrayq".into(), env!("CARGO_PKG_VERSION").to_string());
        versions.insert("libzstd".into(), zstd_lib_version());
        for kv in env!("ARRAYQ_BENCH_DEPS")
            .split(',')
            .filter(|s| !s.is_empty())
        {
            if let Some((k, v)) = kv.split_once('=') {
                versions.insert(k.to_string(), v.to_string());
            }
        }
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            threads,
            ram_gib: ram_kib / (1024.0 * 1024.0),
            kernel,
            rustc: env!("ARRAYQ_BENCH_RUSTC").to_string(),
            profile: if cfg!(debug_assertions) {
                "debug".into()
            } else {
                "release".into()
            },
            revision: git_revision(),
            versions,
            started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            load_avg: load_avg(),
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "machine: {} ({} logical cores, {} threads per system), {:.1} GiB RAM, Linux {}; \
             load {:.2} at start ({})",
            self.cpu,
            self.cores,
            self.threads,
            self.ram_gib,
            self.kernel,
            self.load_avg,
            self.started
        )?;
        let v: Vec<String> = self
            .versions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        write!(
            f,
            "build: {} ({}), revision {}; {}",
            self.rustc,
            self.profile,
            self.revision,
            v.join(", ")
        )
    }
}

/// The 1-minute load average, 0 when unknown.
pub fn load_avg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// Fraction of all CPUs idle over `window` (from `/proc/stat`); 1.0 when unknown.
pub fn idle_fraction(window: std::time::Duration) -> f64 {
    fn sample() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu = stat.lines().next()?;
        let v: Vec<u64> = cpu
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal
        let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
        Some((idle, v.iter().take(8).sum()))
    }
    let Some((i0, t0)) = sample() else { return 1.0 };
    std::thread::sleep(window);
    let Some((i1, t1)) = sample() else { return 1.0 };
    if t1 <= t0 {
        return 1.0;
    }
    (i1 - i0) as f64 / (t1 - t0) as f64
}

/// Waits (at most `max`) until the machine has been at least 85% idle for three
/// consecutive seconds, so other work (a compile) does not skew the numbers.
/// Returns whether it got quiet.
pub fn wait_idle(max: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
    let mut quiet = 0;
    while start.elapsed() < max {
        if idle_fraction(std::time::Duration::from_secs(1)) >= 0.85 {
            quiet += 1;
            if quiet >= 3 {
                return true;
            }
        } else {
            quiet = 0;
        }
    }
    false
}

fn zstd_lib_version() -> String {
    let n = zstd::zstd_safe::version_number();
    format!("{}.{}.{}", n / 10000, n / 100 % 100, n % 100)
}

fn git_revision() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "--short", "HEAD"]) {
        Some(rev) => {
            let dirty = run(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{rev}+dirty")
            } else {
                rev
            }
        }
        None => "unknown".into(),
    }
}
