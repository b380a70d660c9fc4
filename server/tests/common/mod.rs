//! Helpers of the end-to-end tests: start the real `arrayqd` binary on a free
//! loopback port, talk to it with the generated client, stop it with real signals.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use arrayq_proto::v1::array_q_client::ArrayQClient;
use arrayq_proto::v1::dimension::Coordinate;
use arrayq_proto::v1::*;
use arrayq_proto::write_requests;
use arrayq_tests::TestServer;

mod collect;
pub use collect::{QueryResult, ResultCollector};
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use tonic::{Request, Status};

/// A running `arrayqd` process, killed on drop (its log is printed if the test
/// panicked).
pub struct Daemon {
    pub server: TestServer,
    pub addr: SocketAddr,
    pub data: PathBuf,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `arrayqd --data DATA --grpc 127.0.0.1:0 ARGS...` and waits for its
    /// `arrayqd listening on ADDR` line.
    pub fn start(data: &Path, args: &[&str], envs: &[(&str, &str)]) -> Daemon {
        let log = data.with_extension(format!(
            "log{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut builder = TestServer::builder(data)
            .binary(env!("CARGO_BIN_EXE_arrayqd"))
            .args(args)
            .log_file(&log)
            .start_timeout(Duration::from_secs(300));
        for (k, v) in envs {
            builder = builder.env(k, v);
        }
        let server = builder.start().unwrap_or_else(|e| panic!("{e}"));
        Daemon {
            addr: server.addr(),
            server,
            data: data.to_path_buf(),
            log,
        }
    }

    pub fn endpoint(&self) -> String {
        self.server.url()
    }

    pub async fn client(&self) -> ArrayQClient<Channel> {
        ArrayQClient::connect(self.endpoint())
            .await
            .expect("connect to arrayqd")
    }

    pub fn log_text(&self) -> String {
        self.server.log_text()
    }

    /// Sends a signal (`TERM`, `INT`, ...) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = self.server.signal(sig).expect("run kill");
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.server.wait_exit(limit)
    }
}

/// A fresh data directory.
pub fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("data");
    (t, p)
}

/// `era5`-like schema: time (hourly, growable) x lat (n_lat) x lon (n_lon), one f32
/// attribute `t2m`, one layout with one map per chunk.
pub fn cube_schema(name: &str, n_lat: u64, n_lon: u64) -> ArraySchema {
    ArraySchema {
        name: name.into(),
        dimensions: vec![
            Dimension {
                name: "time".into(),
                coordinate: Some(Coordinate::Time(TimeCoordinate {
                    start_unix_ns: 1_672_531_200_000_000_000,
                    step_ns: 3_600_000_000_000,
                })),
                length: 0,
                growable: true,
                metadata: Default::default(),
            },
            Dimension {
                name: "lat".into(),
                coordinate: Some(Coordinate::Regular(RegularCoordinate {
                    start: 72.0,
                    step: -0.25,
                })),
                length: n_lat,
                growable: false,
                metadata: Default::default(),
            },
            Dimension {
                name: "lon".into(),
                coordinate: Some(Coordinate::Regular(RegularCoordinate {
                    start: -25.0,
                    step: 0.25,
                })),
                length: n_lon,
                growable: false,
                metadata: Default::default(),
            },
        ],
        attributes: vec![Attribute {
            name: "t2m".into(),
            dtype: DType::F32 as i32,
            fill: None,
            metadata: Default::default(),
        }],
        layouts: vec![Layout {
            name: "maps".into(),
            chunk_shape: vec![1, n_lat, n_lon],
            zstd_level: 1,
            shuffle: true,
        }],
        metadata: Default::default(),
    }
}

/// Deterministic test values for hours `t0..t0+nt` of a cube.
pub fn cube_values(t0: u64, nt: u64, n_lat: u64, n_lon: u64) -> Vec<f32> {
    let mut v = Vec::with_capacity((nt * n_lat * n_lon) as usize);
    for t in t0..t0 + nt {
        for i in 0..n_lat {
            for j in 0..n_lon {
                v.push(250.0 + (t % 24) as f32 + i as f32 * 0.1 + j as f32 * 0.01);
            }
        }
    }
    v
}

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn f32_values(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

pub fn f64_values(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Writes `t2m` for hours `t0..t0+nt` of a cube array.
pub async fn write_cube(
    c: &mut ArrayQClient<Channel>,
    name: &str,
    t0: u64,
    nt: u64,
    n_lat: u64,
    n_lon: u64,
) -> Result<WriteResponse, Status> {
    let header = cube_write_header(name, t0, nt, n_lat, n_lon);
    let data = f32_bytes(&cube_values(t0, nt, n_lat, n_lon));
    write(c, header, vec![data]).await
}

/// Writes in blocks of 512 KiB (below any message limit the tests set).
pub async fn write(
    c: &mut ArrayQClient<Channel>,
    header: WriteHeader,
    data: Vec<Vec<u8>>,
) -> Result<WriteResponse, Status> {
    let mut reqs = vec![WriteRequest::header(header)];
    for (k, d) in data.iter().enumerate() {
        for (i, part) in d.chunks(512 << 10).enumerate() {
            reqs.push(WriteRequest::data(
                k as u32,
                (i * (512 << 10)) as u64,
                part.to_vec(),
            ));
        }
    }
    c.write(tokio_stream::iter(reqs))
        .await
        .map(|r| r.into_inner())
}

/// Writes with the protocol helper's full-size blocks.
pub async fn write_full_blocks(
    c: &mut ArrayQClient<Channel>,
    header: WriteHeader,
    data: Vec<Vec<u8>>,
) -> Result<WriteResponse, Status> {
    c.write(tokio_stream::iter(write_requests(header, data)))
        .await
        .map(|r| r.into_inner())
}

/// Runs a query and reassembles (and validates) its stream.
pub async fn query(c: &mut ArrayQClient<Channel>, sql: &str) -> Result<QueryResult, Status> {
    query_req(
        c,
        QueryRequest {
            sql: sql.into(),
            ..Default::default()
        },
    )
    .await
}

pub async fn query_req(
    c: &mut ArrayQClient<Channel>,
    req: QueryRequest,
) -> Result<QueryResult, Status> {
    let mut stream = c.query(req).await?.into_inner();
    let mut col = ResultCollector::new();
    while let Some(m) = stream.message().await? {
        col.push(m)
            .map_err(|e| Status::internal(format!("protocol: {e}")))?;
    }
    col.finish()
        .map_err(|e| Status::internal(format!("protocol: {e}")))
}

/// A numeric entry of Health's response metadata (needs credentials when the
/// server requires them: pass the token).
pub async fn metric(c: &mut ArrayQClient<Channel>, key: &str, token: Option<&str>) -> u64 {
    let mut req = Request::new(HealthRequest {});
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    let md: MetadataMap = c.health(req).await.unwrap().metadata().clone();
    md.get(key)
        .unwrap_or_else(|| panic!("no {key} in Health metadata"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Polls `cond` every 20 ms until it holds or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An auth file of one token per role: `analyst` (read, `read-tok`), `loader`
/// (write, `write-tok`) and `ops` (admin, `admin-tok`).
pub const TOKENS: &str = r#"
[[token]]
name = "analyst"
token = "read-tok"
role = "read"

[[token]]
name = "loader"
token = "write-tok"
role = "write"

[[token]]
name = "ops"
token = "admin-tok"
role = "admin"
"#;

/// A `VmHWM`/`VmRSS` line of /proc/<pid>/status, in KiB.
pub fn status_kib(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Hours `t0..t0+nt` of a cube as Write data blocks of at most `block` bytes each
/// (byte offsets from hour `t0`), made on demand so a caller streaming hour by hour
/// never holds the whole write.
pub fn hour_blocks(t0: u64, nt: u64, nl: u64, no: u64, block: usize) -> Vec<WriteRequest> {
    let mut out = Vec::new();
    let mut offset = 0u64;
    for t in t0..t0 + nt {
        let bytes = f32_bytes(&cube_values(t, 1, nl, no));
        for piece in bytes.chunks(block) {
            out.push(WriteRequest::data(0, offset, piece.to_vec()));
            offset += piece.len() as u64;
        }
    }
    out
}

/// The header of a Write of `t2m` over hours `t0..t0+nt` of a cube array.
pub fn cube_write_header(name: &str, t0: u64, nt: u64, nl: u64, no: u64) -> WriteHeader {
    WriteHeader {
        array: name.into(),
        attributes: vec!["t2m".into()],
        region: vec![
            IndexRange::new(t0, nt),
            IndexRange::new(0, nl),
            IndexRange::new(0, no),
        ],
        ..Default::default()
    }
}
