//! The two ways into arrayq the suite times: the bridge (`arrayq load postgres`, the
//! release client against a release arrayqd) and `COPY ... FROM STDIN (FORMAT
//! binary)` through the Postgres door; and the check of a loaded array's answers.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use arrayq_client::Client;
use tokio::runtime::Runtime;

use crate::suites::common::answers::{compare, Answer, REL_TOL};
use crate::suites::common::arrayqd::{ArrayqdOptions, ArrayqdProcess};
use crate::suites::common::peers::tail;
use crate::suites::Ctx;

/// The bridge's source query.
pub(super) const BRIDGE_QUERY: &str = "SELECT asset_id, ts, version, value FROM power_rows";
/// The door's COPY statement.
pub(super) const DOOR_COPY: &str =
    "COPY power (asset_id, ts, version, value) FROM STDIN (FORMAT binary)";

/// arrayqd on a fresh store under `dir` with the suite's threads and the door on a
/// free loopback port.
pub(super) fn start_server(ctx: &Ctx, dir: &Path) -> Result<ArrayqdProcess> {
    let mut opts = ArrayqdOptions::for_ctx(ctx);
    opts.args = vec!["--pg".into(), "127.0.0.1:0".into()];
    opts.env = vec![("ARRAYQ_LOG".into(), "warn".into())];
    ArrayqdProcess::start(dir, &opts)
}

/// The release `arrayq` beside this executable (built when missing).
pub(super) fn arrayq_binary() -> Result<std::path::PathBuf> {
    arrayq_tests::workspace_binary("arrayq-client", "arrayq").context("finding or building arrayq")
}

/// What one bridge load reported.
pub(super) struct BridgeRun {
    /// From spawning `arrayq load postgres` to its exit (after the last commit).
    pub secs: f64,
    /// Rows it says it loaded.
    pub rows: u64,
    /// Its result line.
    pub said: String,
}

/// `arrayq load postgres --url URL --query BRIDGE_QUERY --array power` against
/// `server`, timed from the start of the command to its exit.
pub(super) fn bridge_load(server: &ArrayqdProcess, url: &str, log: &Path) -> Result<BridgeRun> {
    let bin = arrayq_binary()?;
    let mut cmd = Command::new(&bin);
    arrayq_tests::clean_env(&mut cmd);
    cmd.env("ARRAYQ_ADDR", server.addr().to_string())
        .args(["load", "postgres", "--url", url, "--query", BRIDGE_QUERY])
        .args(["--array", "power"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log)?);
    let t = Instant::now();
    let out = cmd.output().context("running arrayq load postgres")?;
    let secs = t.elapsed().as_secs_f64();
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        bail!(
            "arrayq load postgres failed ({}): {said}\n{}",
            out.status,
            tail(&std::fs::read_to_string(log).unwrap_or_default(), 10)
        );
    }
    // "loaded N rows into 'power' ..."
    let rows = said
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no row count in {said:?}"))?;
    Ok(BridgeRun { secs, rows, said })
}

/// Runs every query of `qs` over gRPC and compares each answer with `reference`;
/// returns the mismatches (query, error).
pub(super) fn check_answers(
    rt: &Runtime,
    server: &ArrayqdProcess,
    qs: &[(&'static str, String)],
    reference: &BTreeMap<&'static str, Answer>,
) -> Result<Vec<(String, String)>> {
    rt.block_on(async {
        let client = Client::connect(server.url()).await?;
        let mut bad = Vec::new();
        for (id, sql) in qs {
            let got = match client.query(sql).await {
                Ok(r) => Answer::from_client(&r),
                Err(e) => {
                    bad.push((id.to_string(), format!("query failed: {e}")));
                    continue;
                }
            };
            if let Err(e) = compare(&got, &reference[id], false, REL_TOL) {
                bad.push((id.to_string(), e));
            }
        }
        Ok(bad)
    })
}

/// Each query of `qs` over gRPC (`Client::query`, the whole answer on the client):
/// one untimed run, then `runs` timed ones; the last answer checked. Per query:
/// the round trips, a wrong answer, and the server's own figures (median of its
/// `QueryStats.elapsed` in seconds, chunks read, bytes decoded).
pub(super) type GrpcTimes = (&'static str, Vec<f64>, Option<String>, [f64; 3]);

pub(super) fn grpc_times(
    rt: &Runtime,
    server: &ArrayqdProcess,
    qs: &[(&'static str, String)],
    reference: &BTreeMap<&'static str, Answer>,
    runs: usize,
) -> Result<Vec<GrpcTimes>> {
    rt.block_on(async {
        let client = Client::connect(server.url()).await?;
        let mut out = Vec::new();
        for (id, sql) in qs {
            client.query(sql).await?;
            let mut times = Vec::with_capacity(runs);
            let mut server_s = Vec::with_capacity(runs);
            let mut last = None;
            for _ in 0..runs {
                let t = Instant::now();
                let r = client.query(sql).await?;
                times.push(t.elapsed().as_secs_f64());
                server_s.push(r.stats.elapsed.as_secs_f64());
                last = Some(r);
            }
            let last = last.context("no run")?;
            let got = Answer::from_client(&last);
            let wrong = compare(&got, &reference[id], false, REL_TOL).err();
            let stats = [
                crate::measure::Timing::from_secs(server_s).median_s,
                last.stats.chunks_read as f64,
                last.stats.bytes_decoded as f64,
            ];
            out.push((*id, times, wrong, stats));
        }
        Ok(out)
    })
}
