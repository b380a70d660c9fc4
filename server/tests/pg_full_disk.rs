//! COPY through the Postgres door onto a full disk, with the real `psql`: the store
//! lies on a small tmpfs mounted here (needs root, else the test says SKIPPED and
//! passes). A COPY that does not fit gets SQLSTATE 53100 naming the store path,
//! commits nothing, the same session answers the next query, and once space is
//! freed the same COPY goes in without a restart.

mod common;
mod pg;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use arrayq_tests::Tmpfs;
use pg::{pg_time_text, start_on, time_s};

/// The server's default free-space reserve (`--disk-reserve-bytes`).
const RESERVE_BYTES: u64 = 16 << 20;
const READ_BACK: &str = "SELECT value FROM power;";

/// The CSV rows of `assets` x quarter-hours `0..nt`: value `asset + t / 4`.
fn csv(assets: impl Iterator<Item = i64> + Clone, nt: usize) -> String {
    let mut out = String::new();
    for a in assets {
        for t in 0..nt {
            out.push_str(&format!(
                "{a},{},1,{}\n",
                pg_time_text(time_s(t)),
                value(a, t)
            ));
        }
    }
    out
}

fn value(asset: i64, t: usize) -> f64 {
    asset as f64 + t as f64 * 0.25
}

/// The lines `psql -A -t -F,` prints for `SELECT value FROM power` holding
/// exactly these cells (asset, time, value), as a set.
fn expected(assets: &[i64], nt: usize) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for &a in assets {
        for t in 0..nt {
            out.insert(format!("{a},{},{}", pg_time_text(time_s(t)), value(a, t)));
        }
    }
    out
}

/// One psql session running `script` from its standard input (COPY data inline,
/// ended by `\.`), going on after an error as psql does without ON_ERROR_STOP.
fn psql_script(port: u16, script: &str) -> Output {
    let mut child = Command::new("psql")
        .args(["-X", "-A", "-t", "-F,", "-v", "VERBOSITY=verbose"])
        .args(["-h", "127.0.0.1", "-U", "tester", "-d", "arrayq"])
        .args(["-p", &port.to_string()])
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGPASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql (postgresql-client) is installed");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(script.as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn copy_script(rows: &str) -> String {
    format!("COPY power (asset_id, ts, version, value) FROM STDIN WITH CSV;\n{rows}\\.\n")
}

/// The stdout lines of `out`, past the first `skip` (a COPY's tag), as a set.
fn lines(out: &Output, skip: usize) -> BTreeSet<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(skip)
        .map(str::to_string)
        .collect()
}

#[test]
fn a_copy_that_does_not_fit_fails_with_53100_and_goes_in_once_space_is_freed() {
    let Some(tmpfs) = Tmpfs::mount(48, "pg_full_disk") else {
        return;
    };
    let mnt = tmpfs.path();
    let data = mnt.join("data");
    let pg = start_on(&data, &[]);

    // Version 1: assets 1 and 2, two quarter-hours.
    let first = psql_script(pg.port, &copy_script(&csv(1..=2, 2)));
    assert_eq!(
        String::from_utf8_lossy(&first.stdout).trim(),
        "COPY 4",
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );

    // Room beside the reserve for 256 KiB; 200 new assets are 200 chunks of
    // (1 x 672) REAL, about 730 KiB as the commit counts them.
    let filler = tmpfs
        .fill_leaving("filler", RESERVE_BYTES + (256 << 10))
        .unwrap();
    let big = copy_script(&csv(101..=300, 2));
    let refused = psql_script(pg.port, &format!("{big}{READ_BACK}\n"));
    assert!(
        refused.status.success(),
        "psql lost its session: {refused:?}"
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let want = format!(
        "ERROR:  53100: no space left for the store at {}: the commit needs",
        data.display()
    );
    // (psql prefixes it with `psql:<stdin>:LINE: ` reading a script.)
    assert!(
        stderr.contains(&want),
        "'{stderr}' does not say '{want} ...'"
    );
    // The same session answered the query: the cells of version 1, nothing more.
    assert_eq!(lines(&refused, 0), expected(&[1, 2], 2));

    // Space freed: the same COPY goes in, on the same server.
    std::fs::remove_file(&filler).unwrap();
    let again = psql_script(pg.port, &format!("{big}{READ_BACK}\n"));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(
        stdout.lines().next(),
        Some("COPY 400"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let assets: Vec<i64> = (1..=2).chain(101..=300).collect();
    assert_eq!(lines(&again, 1), expected(&assets, 2));
    drop(pg);
}
