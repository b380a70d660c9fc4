//! Roles of the real `arrayqd` over gRPC: the tokens of an `--auth-file` (read,
//! write, admin) and the `--auth-token` (admin), each against each class of
//! operation; the one log line of every write; SIGHUP reloads of the file (and is
//! ignored without one); bad files refused at startup.

mod common;

use std::path::Path;
use std::time::Duration;

use arrayq_proto::v1::array_q_client::ArrayQClient;
use arrayq_proto::v1::*;
use common::*;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

/// `a`: four cells 0..4 along `i`, `v = 1.5 * i` (sum 9).
const CREATE_A: &str = "CREATE ARRAY a (i BIGINT START 0 STEP 1 LENGTH 4, v DOUBLE)";

fn with_token<T>(msg: T, token: &str) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

async fn query_as(
    c: &mut ArrayQClient<Channel>,
    token: &str,
    sql: &str,
) -> Result<QueryResult, Status> {
    let req = with_token(
        QueryRequest {
            sql: sql.into(),
            ..Default::default()
        },
        token,
    );
    let mut stream = c.query(req).await?.into_inner();
    let mut col = ResultCollector::new();
    while let Some(m) = stream.message().await? {
        col.push(m).map_err(Status::internal)?;
    }
    col.finish().map_err(Status::internal)
}

/// Writes `v = 1.5 * i` over all of `a` with the Write RPC.
async fn write_a(c: &mut ArrayQClient<Channel>, token: &str) -> Result<WriteResponse, Status> {
    let header = WriteHeader {
        array: "a".into(),
        attributes: vec!["v".into()],
        region: vec![IndexRange::new(0, 4)],
        ..Default::default()
    };
    let data: Vec<u8> = (0..4)
        .flat_map(|i| (1.5 * i as f64).to_le_bytes())
        .collect();
    let reqs = vec![WriteRequest::header(header), WriteRequest::data(0, 0, data)];
    c.write(with_token(tokio_stream::iter(reqs), token))
        .await
        .map(|r| r.into_inner())
}

fn denied(r: Result<impl std::fmt::Debug, Status>, message: &str) {
    let s = r.expect_err("allowed");
    assert_eq!((s.code(), s.message()), (Code::PermissionDenied, message));
}

fn start_with_file(dir: &Path, tokens: &str, extra: &[&str]) -> Daemon {
    let file = dir.join("tokens.toml");
    std::fs::write(&file, tokens).unwrap();
    let mut args = vec!["--auth-file", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    Daemon::start(&dir.join("data"), &args, &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_against_each_operation_class() {
    let t = tempfile::tempdir().unwrap();
    let d = start_with_file(t.path(), TOKENS, &["--auth-token", "root-tok"]);
    let mut c = d.client().await;
    // The --auth-token is the admin "admin".
    query_as(&mut c, "root-tok", CREATE_A).await.unwrap();

    // read: queries, listings, Subscribe; no writes, no DDL.
    write_a(&mut c, "write-tok").await.unwrap();
    let r = query_as(&mut c, "read-tok", "SELECT sum(v) FROM a")
        .await
        .unwrap();
    assert_eq!(f64_values(&r.columns[0]), [9.0]);
    let r = query_as(&mut c, "read-tok", "SHOW ARRAYS").await.unwrap();
    assert_eq!(r.text("name"), ["a"]);
    c.describe_array(with_token(
        DescribeArrayRequest {
            name: "a".into(),
            ..Default::default()
        },
        "read-tok",
    ))
    .await
    .unwrap();
    c.subscribe(with_token(
        SubscribeRequest {
            array: "a".into(),
            from_seq: 1,
        },
        "read-tok",
    ))
    .await
    .unwrap();
    denied(
        write_a(&mut c, "read-tok").await,
        "token 'analyst' (role read) may not write array 'a': that needs role write",
    );
    denied(
        query_as(&mut c, "read-tok", "INSERT INTO a VALUES (0, 7.0)").await,
        "token 'analyst' (role read) may not insert into array 'a': that needs role write",
    );
    denied(
        query_as(&mut c, "read-tok", "CREATE ARRAY r AS SELECT v FROM a").await,
        "token 'analyst' (role read) may not create array 'r': that needs role write",
    );
    denied(
        query_as(&mut c, "read-tok", "ALTER ARRAY a ADD LAYOUT p CHUNKS (2)").await,
        "token 'analyst' (role read) may not add a layout to array 'a': that needs role write",
    );
    let create = CreateArrayRequest {
        definition: Some(create_array_request::Definition::Sql(
            "CREATE ARRAY r (i BIGINT START 0 STEP 1 LENGTH 2, v DOUBLE)".into(),
        )),
    };
    denied(
        c.create_array(with_token(create.clone(), "read-tok")).await,
        "token 'analyst' (role read) may not create array 'r': that needs role write",
    );

    // write: also writes and DDL that keeps data; no DROP.
    query_as(&mut c, "write-tok", "INSERT INTO a VALUES (3, 4.5)")
        .await
        .unwrap();
    query_as(&mut c, "write-tok", "CREATE ARRAY w AS SELECT v FROM a")
        .await
        .unwrap();
    c.create_array(with_token(create, "write-tok"))
        .await
        .unwrap();
    denied(
        query_as(&mut c, "write-tok", "DROP ARRAY w").await,
        "token 'loader' (role write) may not drop array 'w': that needs role admin",
    );
    denied(
        c.drop_array(with_token(
            DropArrayRequest { name: "r".into() },
            "write-tok",
        ))
        .await,
        "token 'loader' (role write) may not drop array 'r': that needs role admin",
    );
    denied(
        c.drop_array(with_token(
            DropArrayRequest { name: "r".into() },
            "read-tok",
        ))
        .await,
        "token 'analyst' (role read) may not drop array 'r': that needs role admin",
    );

    // admin (from the file, and the --auth-token): everything.
    query_as(&mut c, "admin-tok", "DROP ARRAY w").await.unwrap();
    c.drop_array(with_token(
        DropArrayRequest { name: "r".into() },
        "root-tok",
    ))
    .await
    .unwrap();
    let r = query_as(&mut c, "read-tok", "SHOW ARRAYS").await.unwrap();
    assert_eq!(r.text("name"), ["a"]);

    // Unknown tokens stay UNAUTHENTICATED.
    let s = query_as(&mut c, "nobody", "SELECT v FROM a")
        .await
        .unwrap_err();
    assert_eq!(
        (s.code(), s.message()),
        (Code::Unauthenticated, "invalid credentials")
    );

    // One log line per write or DDL, naming the token, the operation and the array.
    let log = d.log_text();
    let granted: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("arrayq::access") && l.contains("granted"))
        .collect();
    let expect = [
        ("admin", "admin", "CREATE ARRAY", "a"),
        ("loader", "write", "Write", "a"),
        ("loader", "write", "INSERT", "a"),
        ("loader", "write", "CREATE ARRAY AS", "w"),
        ("loader", "write", "CREATE ARRAY", "r"),
        ("ops", "admin", "DROP ARRAY", "w"),
        ("admin", "admin", "DROP ARRAY", "r"),
    ];
    assert_eq!(granted.len(), expect.len(), "{}", granted.join("\n"));
    for (line, (token, role, op, array)) in granted.iter().zip(expect) {
        let fields =
            format!("token=\"{token}\" role=\"{role}\" operation=\"{op}\" array=\"{array}\"");
        assert!(
            line.contains(" INFO ") && line.contains(&fields),
            "{line}\nwanted {fields}"
        );
    }
}

/// Waits until the server log has `n` lines containing `what`.
async fn log_lines(d: &Daemon, what: &str, n: usize) -> Vec<String> {
    let seen = eventually(Duration::from_secs(10), || async {
        d.log_text().lines().filter(|l| l.contains(what)).count() >= n
    })
    .await;
    let lines: Vec<String> = d
        .log_text()
        .lines()
        .filter(|l| l.contains(what))
        .map(str::to_string)
        .collect();
    assert!(
        seen,
        "no {n} lines with {what:?} in the log:\n{}",
        d.log_text()
    );
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_auth_file_and_a_broken_file_keeps_the_tokens() {
    let t = tempfile::tempdir().unwrap();
    let d = start_with_file(t.path(), TOKENS, &[]);
    let file = t.path().join("tokens.toml");
    let mut c = d.client().await;
    query_as(&mut c, "admin-tok", CREATE_A).await.unwrap();
    let unknown = |r: Result<QueryResult, Status>| {
        assert_eq!(r.map(|_| ()).unwrap_err().code(), Code::Unauthenticated);
    };
    unknown(query_as(&mut c, "new-tok", "SELECT v FROM a").await);

    // Add a token, revoke one.
    let changed = TOKENS.replace(
        "name = \"analyst\"\ntoken = \"read-tok\"",
        "name = \"newcomer\"\ntoken = \"new-tok\"",
    );
    std::fs::write(&file, changed).unwrap();
    d.signal("HUP");
    log_lines(&d, "SIGHUP: auth file reloaded", 1).await;
    let r = query_as(&mut c, "new-tok", "SELECT count(v) FROM a")
        .await
        .unwrap();
    assert_eq!(r.header.columns[0].name, "count(v)");
    unknown(query_as(&mut c, "read-tok", "SELECT v FROM a").await);
    denied(
        write_a(&mut c, "new-tok").await,
        "token 'newcomer' (role read) may not write array 'a': that needs role write",
    );

    // A broken file: the error names the file and the problem; the tokens stay.
    std::fs::write(
        &file,
        format!("{TOKENS}\n[[token]]\nname = \"ops\"\ntoken = \"x\"\nrole = \"read\"\n"),
    )
    .unwrap();
    d.signal("HUP");
    let errors = log_lines(&d, "SIGHUP: auth file", 2).await;
    let expected = format!(
        "SIGHUP: auth file {}: name 'ops' appears twice; the tokens in force stay",
        file.display()
    );
    assert!(
        errors[1].contains(" ERROR ") && errors[1].contains(&expected),
        "{}",
        errors[1]
    );
    query_as(&mut c, "new-tok", "SELECT v FROM a")
        .await
        .unwrap();
    unknown(query_as(&mut c, "read-tok", "SELECT v FROM a").await);
    write_a(&mut c, "write-tok").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_without_an_auth_file_is_logged_and_ignored() {
    // No auth at all, and --auth-token alone: no file to re-read either way.
    for args in [&[][..], &["--auth-token", "root-tok"][..]] {
        let t = tempfile::tempdir().unwrap();
        let d = Daemon::start(&t.path().join("data"), args, &[]);
        let mut c = d.client().await;
        query_as(&mut c, "root-tok", CREATE_A).await.unwrap();
        write_a(&mut c, "root-tok").await.unwrap();
        let pid = libc::pid_t::try_from(d.server.pid()).unwrap();
        for n in 1..=2 {
            // SAFETY: kill(2) takes plain integers; the pid is our own running child.
            assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0, "{args:?}");
            log_lines(&d, "SIGHUP: no --auth-file to re-read; ignored", n).await;
        }
        let r = query_as(&mut c, "root-tok", "SELECT sum(v) FROM a")
            .await
            .unwrap();
        assert_eq!(f64_values(&r.columns[0]), [9.0], "{args:?}");
    }
}

#[test]
fn bad_auth_files_stop_the_server_at_startup_naming_the_problem() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("tokens.toml");
    let cases = [
        (
            format!("{TOKENS}\n[[token]]\nname = \"loader\"\ntoken = \"x\"\nrole = \"read\"\n"),
            &[][..],
            "name 'loader' appears twice",
        ),
        (
            format!(
                "{TOKENS}\n[[token]]\nname = \"twin\"\ntoken = \"write-tok\"\nrole = \"read\"\n"
            ),
            &[][..],
            "tokens 'loader' and 'twin' are the same token",
        ),
        (
            "[[token]]\nname = \"admin\"\ntoken = \"x\"\nrole = \"read\"\n".to_string(),
            &["--auth-token", "root-tok"][..],
            "name 'admin' is taken by --auth-token",
        ),
        (
            "[[token]]\nname = \"ops\"\ntoken = \"x\"\nrole = \"superuser\"\n".to_string(),
            &[][..],
            "[[token]] #1: entry 'ops': role 'superuser' is not one of read, write, admin",
        ),
    ];
    for (text, extra, problem) in cases {
        std::fs::write(&file, text).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_arrayqd"))
            .args([
                "--data",
                t.path().join("data").to_str().unwrap(),
                "--grpc",
                "127.0.0.1:0",
            ])
            .args(["--auth-file", file.to_str().unwrap()])
            .args(extra)
            .env_remove("ARRAYQ_TOKEN")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        let last = stderr.lines().last().unwrap_or("");
        assert_eq!(
            last,
            format!("arrayqd: auth file {}: {problem}", file.display())
        );
    }
}
