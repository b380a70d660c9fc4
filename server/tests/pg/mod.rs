//! Helpers of the Postgres door's tests: a real `arrayqd --pg 127.0.0.1:0`, the
//! `meter` array created through SQL and written through gRPC from a formula the
//! tests compute independently, `psql` and tokio-postgres connections.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use arrayq_proto::v1::{IndexRange, WriteHeader};
use futures::future::poll_fn;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls, Notification};

use crate::common::{self, Daemon};

/// Labels of `meter`'s asset dimension.
pub const LABELS: [i64; 3] = [3, 5, 8];
/// Quarter-hours along `meter`'s time dimension.
pub const NT: usize = 8;
/// 2022-12-31T23:00:00Z, the first time, in seconds.
pub const T0: i64 = 1_672_527_600;

pub const CREATE_METER: &str = "CREATE ARRAY meter (asset BIGINT LABELS (3, 5, 8), \
     time TIMESTAMP START '2022-12-31T23:00:00Z' STEP '15 minutes' LENGTH 8, \
     value REAL, n BIGINT) WITH (chunks = (1, 4))";

/// The formula `meter` is written from.
pub fn value(label: i64, t: usize) -> f32 {
    label as f32 * 10.0 + t as f32 * 0.5
}

pub fn count(label: i64, t: usize) -> i64 {
    label * 1000 + t as i64
}

/// Seconds of time index `t`.
pub fn time_s(t: usize) -> i64 {
    T0 + 900 * t as i64
}

pub struct Pg {
    pub daemon: Daemon,
    pub port: u16,
    _dir: Option<tempfile::TempDir>,
}

/// Starts `arrayqd --pg 127.0.0.1:0 ARGS...`.
pub fn start(args: &[&str]) -> Pg {
    let (dir, data) = common::data_dir();
    let mut pg = start_on(&data, args);
    pg._dir = Some(dir);
    pg
}

/// Starts `arrayqd --pg 127.0.0.1:0 ARGS...` on the store in `data` (on a special
/// filesystem, say), which the caller keeps.
pub fn start_on(data: &Path, args: &[&str]) -> Pg {
    let mut all = vec!["--pg", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let daemon = Daemon::start(data, &all, &[]);
    let port = daemon
        .server
        .pg_addr()
        .expect("the postgres door's address")
        .port();
    Pg {
        daemon,
        port,
        _dir: None,
    }
}

impl Pg {
    /// Creates `meter` through SQL and writes both attributes through gRPC.
    pub async fn with_meter(self) -> Pg {
        let (client, _) = self.connect(None).await.expect("connect");
        client
            .simple_query(CREATE_METER)
            .await
            .expect("CREATE ARRAY meter");
        let mut values = Vec::new();
        let mut counts = Vec::new();
        for &l in &LABELS {
            for t in 0..NT {
                values.extend(value(l, t).to_le_bytes());
                counts.extend(count(l, t).to_le_bytes());
            }
        }
        let header = WriteHeader {
            array: "meter".into(),
            attributes: vec!["value".into(), "n".into()],
            region: vec![IndexRange::new(0, 3), IndexRange::new(0, NT as u64)],
            ..Default::default()
        };
        let mut c = self.daemon.client().await;
        common::write(&mut c, header, vec![values, counts])
            .await
            .expect("write meter");
        self
    }

    /// A tokio-postgres connection whose notifications arrive on the receiver
    /// (its connection is driven with `poll_message`, the only way they surface).
    pub async fn connect(
        &self,
        password: Option<&str>,
    ) -> Result<(Client, mpsc::UnboundedReceiver<Notification>), tokio_postgres::Error> {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host("127.0.0.1")
            .port(self.port)
            .user("tester")
            .dbname("arrayq");
        if let Some(p) = password {
            cfg.password(p);
        }
        let (client, mut conn) = cfg.connect(NoTls).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(Ok(m)) = poll_fn(|cx| conn.poll_message(cx)).await {
                if let AsyncMessage::Notification(n) = m {
                    let _ = tx.send(n);
                }
            }
        });
        Ok((client, rx))
    }

    /// Runs `psql -X -A -t -F, -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -c SQL`.
    pub fn psql(&self, sql: &str) -> Output {
        Command::new("psql")
            .args(["-X", "-A", "-t", "-F,", "-v", "ON_ERROR_STOP=1"])
            .args(["-v", "VERBOSITY=verbose", "-h", "127.0.0.1", "-U", "tester"])
            .args(["-d", "arrayq", "-p", &self.port.to_string(), "-c", sql])
            .env("PGCONNECT_TIMEOUT", "10")
            .env_remove("PGPASSWORD")
            .output()
            .expect("psql (postgresql-client) is installed")
    }
}

/// psql's text of a `timestamptz` in UTC.
pub fn pg_time_text(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S+00")
        .to_string()
}
