//! The interactive shell through a pseudo-terminal (rexpect): the prompt,
//! multi-line statements, backslash commands, completion, errors with a
//! caret, Ctrl-C cancelling a long query, and `\listen` printing an event
//! caused by another client.

mod common;

use std::time::{Duration, Instant};

use arrayq_client::npy::write_npy;
use arrayq_client::DType;
use common::Server;
use rexpect::session::PtySession;

const PROMPT: &str = "arrayq=> ";

fn shell(s: &Server) -> PtySession {
    let mut cmd = s.arrayq();
    // Inherit the pty that rexpect sets up as stdin (the helper uses null).
    cmd.stdin(std::process::Stdio::inherit());
    cmd.env("TERM", "xterm-256color").env("NO_COLOR", "1");
    rexpect::session::spawn_command(cmd, Some(30_000)).expect("spawn arrayq in a pty")
}

fn small_array(s: &Server) {
    s.ok(&[
        "-c",
        "CREATE ARRAY t (time TIMESTAMP START '2023-01-01T00:00:00Z' STEP '1 hour' LENGTH 3 GROWABLE, \
         x INT START 10 STEP 5 LENGTH 4, v REAL)",
    ]);
}

/// A statement that keeps the server busy for many seconds on the S cube:
/// 30 aggregates of transcendental expressions over 32 M cells.
fn long_query() -> String {
    let items: Vec<String> = (1..=30)
        .map(|i| format!("stddev(sin(t2m + {i}) * cos(t2m / {i}))"))
        .collect();
    format!("SELECT {} FROM era5;", items.join(", "))
}

#[test]
fn interactive_session() {
    let s = Server::start();
    small_array(&s);
    let out = s.ok(&["demo", "era5", "--scale", "S"]);
    assert!(out.contains("loaded era5"), "{out}");
    let mut p = shell(&s);
    p.exp_string("\\? help").unwrap();
    p.exp_string(PROMPT).unwrap();

    // \d lists the arrays.
    p.send_line("\\d").unwrap();
    p.exp_string("List of arrays").unwrap();
    p.exp_string(" era5 | time=744, lat=153, lon=281 | t2m")
        .unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line("\\d t").unwrap();
    p.exp_string("Array \"t\", version 0").unwrap();
    p.exp_string(PROMPT).unwrap();

    // A statement over three lines, with the continuation prompt.
    p.send_line("SELECT v").unwrap();
    p.exp_string("arrayq-> ").unwrap();
    p.send_line("FROM t").unwrap();
    p.exp_string("arrayq-> ").unwrap();
    p.send_line("WHERE x = 15;").unwrap();
    p.exp_string(" 2023-01-01T02:00:00Z | NaN").unwrap();
    p.exp_string("(3 rows)").unwrap();
    p.exp_string(PROMPT).unwrap();

    // Expanded display and timing.
    p.send_line("\\x").unwrap();
    p.exp_string("Expanded display is on.").unwrap();
    p.send_line("\\timing").unwrap();
    p.exp_string("Timing is on.").unwrap();
    p.send_line("SELECT v FROM t WHERE x = 15 AND time = '2023-01-01T01:00:00Z';")
        .unwrap();
    p.exp_string("-[ RECORD 1 ]").unwrap();
    p.exp_string("v | NaN").unwrap();
    p.exp_string("Time: ").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line("\\x off").unwrap();
    p.exp_string("Expanded display is off.").unwrap();
    p.send_line("\\timing off").unwrap();
    p.exp_string("Timing is off.").unwrap();

    // A large result: summary and sparkline.
    p.send_line("SELECT avg(t2m) FROM era5 GROUP BY time;")
        .unwrap();
    p.exp_string("744 cells: time=744").unwrap();
    p.exp_string("min").unwrap();
    p.exp_string("avg(t2m)").unwrap();
    // rexpect reads bytes as Latin-1 characters: match the UTF-8 bytes of
    // the block elements U+2581..U+2588 (E2 96 81..88).
    p.exp_regex("(\u{e2}\u{96}[\u{81}-\u{88}]){20}").unwrap();
    p.exp_string(PROMPT).unwrap();

    // \o sends results to a file (format by extension).
    let csv = s.dir.path().join("out.csv");
    p.send_line(&format!("\\o {}", csv.display())).unwrap();
    p.exp_string("Results go to").unwrap();
    p.send_line("SELECT v FROM t WHERE time = '2023-01-01T00:00:00Z';")
        .unwrap();
    p.exp_string("wrote 4 cells to").unwrap();
    p.send_line("\\o").unwrap();
    p.exp_string("Results go to standard output.").unwrap();
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        "x,v\n10,NaN\n15,NaN\n20,NaN\n25,NaN\n"
    );

    // Errors print the line with a caret under the position.
    p.send_line("SELECT v").unwrap();
    p.exp_string("arrayq-> ").unwrap();
    p.send_line("FROM t WHERE x >> 2;").unwrap();
    p.exp_string("ERROR:  INVALID_ARGUMENT").unwrap();
    p.exp_string("LINE 2: FROM t WHERE x >> 2").unwrap();
    p.exp_regex("\n +\\^").unwrap();
    p.exp_string(PROMPT).unwrap();

    // Tab completes array names (and keywords).
    p.send("SELECT count(t2m) FROM er").unwrap();
    p.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    p.send("\t").unwrap();
    p.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    p.send_line(";").unwrap();
    p.exp_string("31986792").unwrap();
    p.exp_string(PROMPT).unwrap();

    // Ctrl-C cancels a running query and returns to the prompt; the server
    // stops it.
    p.send_line(&long_query()).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = Instant::now();
    p.send_control('c').unwrap();
    p.exp_string("CANCELLED").unwrap();
    p.exp_string(PROMPT).unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "cancelling took {:?}",
        t0.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.log().contains("status=cancelled") {
        assert!(
            Instant::now() < deadline,
            "the server did not cancel:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The session goes on.
    p.send_line("SELECT count(v) FROM t;").unwrap();
    p.exp_string("(1 row)").unwrap();
    p.exp_string(PROMPT).unwrap();

    // Ctrl-C at the prompt discards the input; \q quits.
    p.send("SELECT half a statem").unwrap();
    p.flush().unwrap();
    p.send_control('c').unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();

    let history = std::fs::read_to_string(s.dir.path().join("history")).unwrap();
    assert!(history.contains("WHERE x = 15;"), "{history}");
    assert!(history.contains("\\d t"), "{history}");
}

#[test]
fn listen_prints_events_from_other_clients() {
    let s = Server::start();
    small_array(&s);
    let mut p = shell(&s);
    p.exp_string(PROMPT).unwrap();
    p.send_line("\\listen t").unwrap();
    p.exp_string("Listening for changes of \"t\"").unwrap();

    // Another client writes two hours of t.
    let file = s.dir.path().join("v.npy");
    let v: Vec<u8> = (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect();
    write_npy(
        std::fs::File::create(&file).unwrap(),
        DType::F32,
        &[2, 4],
        &v,
    )
    .unwrap();
    s.ok(&[
        "load",
        "npy",
        file.to_str().unwrap(),
        "--array",
        "t",
        "--attr",
        "v",
        "--start",
        "1,0",
    ]);

    p.exp_string("WRITE \"t\" version 1: 8 cells in time 2023-01-01T01:00:00Z .. 2023-01-01T02:00:00Z, x 10 .. 25")
        .unwrap();
    p.send_control('c').unwrap();
    p.exp_string("Stopped listening.").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line("SELECT v FROM t WHERE x = 25;").unwrap();
    p.exp_string(" 2023-01-01T02:00:00Z |   7").unwrap();
    p.exp_string(PROMPT).unwrap();
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}
