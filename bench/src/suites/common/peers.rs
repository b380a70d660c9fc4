//! The Python peers of the query suites (`bench/peers/`): their venv, running a
//! script with the suite's thread budget, reading the JSON it prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use crate::measure::Timing;
use crate::suites::Ctx;

/// `bench/peers/`.
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// Builds or reuses the peers' venv (`setup_venv.sh`, default `target/benchvenv`);
/// returns its python and the versions it prints.
pub fn venv(ctx: &Ctx, log_dir: &Path) -> Result<(PathBuf, Value)> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::var_os("ARRAYQ_BENCH_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target").join("benchvenv"));
    let log = log_dir.join("setup_venv.log");
    let out = Command::new("bash")
        .arg(peers_dir().join("setup_venv.sh"))
        .arg(&dir)
        .envs(ctx.thread_env())
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .output()
        .context("running bench/peers/setup_venv.sh")?;
    if !out.status.success() {
        bail!(
            "setup_venv.sh failed ({}):\n{}",
            out.status,
            tail(&std::fs::read_to_string(&log).unwrap_or_default(), 30)
        );
    }
    let versions = last_json(&out.stdout).context("setup_venv.sh printed no versions")?;
    Ok((dir.join("bin").join("python"), versions))
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(n)..].join("\n")
}

/// The last JSON object line a script printed on stdout.
pub fn last_json(stdout: &[u8]) -> Result<Value> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .context("no JSON line on stdout")?;
    serde_json::from_str(line).context("parsing the JSON on stdout")
}

/// The arguments every timed peer script takes: `ctx.runs` timed runs after one
/// untimed warm-up, on the suite's thread budget.
pub fn timed_run_args(ctx: &Ctx) -> Vec<String> {
    vec![
        "--runs".into(),
        ctx.runs.to_string(),
        "--warmup".into(),
        "1".into(),
        "--threads".into(),
        ctx.threads.to_string(),
    ]
}

/// Runs `bench/peers/<script>` with the venv's python and the thread budget in the
/// environment; stderr goes to `log`; returns the JSON it prints.
pub fn run_peer(
    ctx: &Ctx,
    python: &Path,
    script: &str,
    args: &[String],
    log: &Path,
) -> Result<Value> {
    let out = Command::new(python)
        .arg(peers_dir().join(script))
        .args(args)
        .envs(ctx.thread_env())
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .output()
        .with_context(|| format!("running {script}"))?;
    if !out.status.success() {
        bail!(
            "{script} {} failed ({}); last lines of {}:\n{}",
            args.join(" "),
            out.status,
            log.display(),
            tail(&std::fs::read_to_string(log).unwrap_or_default(), 15)
        );
    }
    last_json(&out.stdout).with_context(|| format!("{script}: output"))
}

/// Splits a peer's runs (`times_s`, `labels`) into the warm timing and the timing of
/// its cold runs (none when no run is labelled `cold`).
pub fn peer_timing(q: &Value) -> Result<(Timing, Option<Timing>)> {
    let times: Vec<f64> = q["times_s"]
        .as_array()
        .context("no times_s")?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let labels: Vec<String> = q["labels"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| l.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    let mut warm = Vec::new();
    let mut cold = Vec::new();
    for (k, t) in times.iter().enumerate() {
        match labels.get(k).map(String::as_str) {
            Some("cold") => cold.push(*t),
            _ => warm.push(*t),
        }
    }
    if warm.is_empty() {
        warm = times.clone();
    }
    ensure!(!warm.is_empty(), "no runs");
    Ok((
        Timing::from_secs(warm),
        (!cold.is_empty()).then(|| Timing::from_secs(cold)),
    ))
}

/// The first line of `s` (an error's summary).
pub fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_timings_split_cold_and_warm() {
        let r = serde_json::json!({"times_s": [0.3, 0.1, 0.2], "labels": ["cold", "warm", "warm"]});
        let (w, c) = peer_timing(&r).unwrap();
        assert_eq!(c.map(|c| c.runs_s), Some(vec![0.3]));
        assert_eq!(w.runs_s, vec![0.1, 0.2]);
        let r = serde_json::json!({"times_s": [0.5, 0.3, 0.4, 0.1], "labels": ["cold", "cold", "cold", "warm"]});
        let (w, c) = peer_timing(&r).unwrap();
        assert_eq!(c.map(|c| c.median_s), Some(0.4));
        assert_eq!(w.runs_s, vec![0.1]);
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(first_line("x\ny"), "x");
    }
}
