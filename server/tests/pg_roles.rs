//! Roles on the Postgres door (the password is the token): psql and tokio-postgres
//! against a real `arrayqd --pg` with an `--auth-file` and an `--auth-token`. read
//! may query and LISTEN, write may also INSERT, COPY FROM and CREATE, only admin
//! may DROP; refusals are SQLSTATE 42501, unknown tokens 28P01.

mod common;
mod pg;

use std::process::{Command, Output};

use bytes::Bytes;
use futures::SinkExt;
use pg::{start, Pg, CREATE_METER};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, SimpleQueryMessage};

const COPY_CSV: &str = "COPY power (asset_id, ts, version, value) FROM STDIN (FORMAT csv)";

/// Two rows for `power` (created by the series ingest on first use).
const ROWS: &str = "1,2023-01-01T00:00:00Z,1,2.5\n2,2023-01-01T00:15:00Z,1,4.0\n";

/// psql as `tester` with the token as password, verbose errors (SQLSTATE shown).
fn psql(pg: &Pg, token: &str, sql: &str) -> Output {
    Command::new("psql")
        .args(["-X", "-A", "-t", "-F,", "-v", "ON_ERROR_STOP=1"])
        .args(["-v", "VERBOSITY=verbose", "-h", "127.0.0.1", "-U", "tester"])
        .args(["-d", "arrayq", "-p", &pg.port.to_string(), "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGPASSWORD", token)
        .output()
        .expect("psql (postgresql-client) is installed")
}

fn psql_error(pg: &Pg, token: &str, sql: &str) -> String {
    let out = psql(pg, token, sql);
    assert!(!out.status.success(), "{sql} succeeded for {token}");
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

fn psql_ok(pg: &Pg, token: &str, sql: &str) -> String {
    let out = psql(pg, token, sql);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{sql} as {token}: {err}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn copy_rows(client: &Client) -> Result<u64, tokio_postgres::Error> {
    let sink = client.copy_in::<_, Bytes>(COPY_CSV).await?;
    futures::pin_mut!(sink);
    sink.send(Bytes::from(ROWS)).await?;
    sink.finish().await
}

fn start_with_tokens() -> (tempfile::TempDir, Pg) {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("tokens.toml");
    std::fs::write(&file, common::TOKENS).unwrap();
    let pg = start(&[
        "--auth-file",
        file.to_str().unwrap(),
        "--auth-token",
        "root-tok",
    ]);
    (t, pg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_on_the_postgres_door() {
    let (_t, pg) = start_with_tokens();
    psql_ok(&pg, "root-tok", CREATE_METER);

    // read: queries and LISTEN; every write is 42501 naming token, role, operation.
    assert_eq!(
        psql_ok(&pg, "read-tok", "SELECT count(value) FROM meter"),
        "0"
    );
    assert_eq!(
        psql_ok(&pg, "read-tok", "SHOW ARRAYS").split(',').next(),
        Some("meter")
    );
    let denial = |op: &str, array: &str, role: &str| {
        format!("ERROR:  42501: token 'analyst' (role read) may not {op} array '{array}': that needs role {role}")
    };
    assert_eq!(
        psql_error(
            &pg,
            "read-tok",
            "INSERT INTO meter (asset, time, value, n) VALUES (3, '2022-12-31T23:00:00Z', 1.5, 1)"
        ),
        denial("insert into", "meter", "write")
    );
    assert_eq!(
        psql_error(
            &pg,
            "read-tok",
            "CREATE ARRAY m2 AS SELECT value FROM meter"
        ),
        denial("create", "m2", "write")
    );
    assert_eq!(
        psql_error(&pg, "read-tok", "DROP ARRAY meter"),
        denial("drop", "meter", "admin")
    );
    let (reader, _notes) = pg.connect(Some("read-tok")).await.unwrap();
    reader.batch_execute("LISTEN meter").await.unwrap();
    let e = copy_rows(&reader).await.unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{e:?}");
    assert_eq!(
        e.as_db_error().unwrap().message(),
        "token 'analyst' (role read) may not copy into array 'power': that needs role write"
    );
    let (reader, _notes) = pg.connect(Some("read-tok")).await.unwrap();
    let e = reader
        .simple_query("CREATE INGEST feed FROM POSTGRES 'postgresql://x@127.0.0.1/db' QUERY 'select 1' INTO power")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{e:?}");
    assert_eq!(
        e.as_db_error().unwrap().message(),
        "token 'analyst' (role read) may not create ingest 'feed': that needs role write"
    );
    // The extended protocol is checked at Parse too, before anything is planned.
    let e = reader
        .prepare("/* hidden */ DROP ARRAY meter")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{e:?}");

    // write: INSERT, COPY FROM, CREATE ARRAY AS; not DROP.
    let (writer, _) = pg.connect(Some("write-tok")).await.unwrap();
    writer
        .simple_query(
            "INSERT INTO meter (asset, time, value, n) VALUES (3, '2022-12-31T23:00:00Z', 1.5, 1)",
        )
        .await
        .unwrap();
    assert_eq!(copy_rows(&writer).await.unwrap(), 2);
    writer
        .simple_query("CREATE ARRAY m2 AS SELECT value FROM meter")
        .await
        .unwrap();
    let e = writer.simple_query("DROP ARRAY m2").await.unwrap_err();
    assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{e:?}");
    assert_eq!(
        e.as_db_error().unwrap().message(),
        "token 'loader' (role write) may not drop array 'm2': that needs role admin"
    );
    assert_eq!(
        psql_ok(&pg, "read-tok", "SELECT sum(value) FROM power"),
        "6.5"
    );
    assert_eq!(
        psql_ok(&pg, "read-tok", "SELECT sum(value) FROM meter"),
        "1.5"
    );

    // admin (the --auth-token): DROP.
    psql_ok(&pg, "root-tok", "DROP ARRAY m2");
    let names: Vec<String> = reader
        .simple_query("SHOW ARRAYS")
        .await
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get("name").map(str::to_string),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["meter", "power"]);

    // Unknown tokens stay 28P01.
    let e = pg.connect(Some("nobody")).await.err().unwrap();
    assert_eq!(e.code(), Some(&SqlState::INVALID_PASSWORD), "{e:?}");
    let first = psql_error(&pg, "nobody", "SELECT 1");
    assert!(
        first.contains("password authentication failed for user \"tester\""),
        "{first}"
    );

    // The writes' log lines name the door's tokens.
    let log = pg.daemon.log_text();
    for (token, op, array) in [
        ("loader", "INSERT", "meter"),
        ("loader", "COPY FROM", "power"),
        ("admin", "DROP ARRAY", "m2"),
    ] {
        let fields = format!("token=\"{token}\"");
        assert!(
            log.lines().any(|l| l.contains("granted")
                && l.contains(&fields)
                && l.contains(&format!("operation=\"{op}\" array=\"{array}\""))),
            "no log line for {token} {op} {array}:\n{log}"
        );
    }
}
