//! A closed stdout (`arrayq -c ... | head -1`) ends `arrayq` quietly with status 0,
//! through a real pipe whose reader exits after one line while `arrayq` still has
//! far more than a pipe buffer (64 KiB) to write: on the -c, -f and standard-input
//! paths.

mod common;

use std::process::Command;

use common::{arrayq_bin, Server};

/// 200000 cells: as CSV about 2 MB, far past any pipe buffer.
const CREATE_BIG: &str = "CREATE ARRAY big (i BIGINT START 0 STEP 1 LENGTH 200000, v DOUBLE)";
const SELECT_BIG: &str = "SELECT v FROM big";

/// Runs `SCRIPT | head -1` in bash; returns (arrayq's status, head's output,
/// arrayq's stderr).
fn through_head(s: &Server, args: &str, stdin: &str) -> (i32, String, String) {
    let dir = s.dir.path();
    let err = dir.join("arrayq.err");
    let script = format!(
        "{stdin} \"$ARRAYQ\" --addr {} --format csv {args} 2>\"$ERR\" | head -1; exit ${{PIPESTATUS[{}]}}",
        s.addr,
        if stdin.is_empty() { 0 } else { 1 },
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .env("ARRAYQ", arrayq_bin())
        .env("ERR", &err)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        std::fs::read_to_string(&err).unwrap(),
    )
}

#[test]
fn closed_stdout_ends_arrayq_quietly_with_status_0() {
    let s = Server::start();
    s.ok(&["-c", CREATE_BIG]);
    std::fs::write(
        s.dir.path().join("q.sql"),
        format!("{SELECT_BIG};\n{SELECT_BIG};\n"),
    )
    .unwrap();
    for (args, stdin) in [
        (format!("-c '{SELECT_BIG}'"), ""),
        ("-f q.sql".to_string(), ""),
        (String::new(), "cat q.sql |"),
    ] {
        let (status, first, stderr) = through_head(&s, &args, stdin);
        assert_eq!(
            (status, first.as_str(), stderr.as_str()),
            (0, "i,v\n", ""),
            "{args} {stdin}"
        );
    }
}
