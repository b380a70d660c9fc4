//! The real `arrayqd` under 50 concurrent clients: 25 Writes of 16 MiB each (400 MiB
//! in all) and 25 queries over a 24 MiB array, of which 8 sort it whole (about 125 MB
//! of values, keys and index each without a bound). Writes are bounded by their slots
//! (4) and staging (8 MiB each, the rest spills), queries by their slots (4) and
//! the query memory bound (32 MiB: the whole sorts fail with RESOURCE_EXHAUSTED, the
//! others answer exactly). The server's peak RSS (VmHWM) must stay under the bound
//! documented in docs/limits.md.

mod common;

use arrayq_proto::v1::*;
use common::*;
use tonic::Code;

const NL: u64 = 512;
const NO: u64 = 512;
/// Hours of the array the queries read (24 MiB of f32).
const BASE_HOURS: u64 = 24;
/// Hours of each write (16 MiB of f32).
const WRITE_HOURS: u64 = 16;
const WRITERS: usize = 25;
/// The documented peak RSS of this configuration (docs/limits.md).
const BOUND_KIB: u64 = 512 << 10;

async fn create(c: &mut array_q_client::ArrayQClient<tonic::transport::Channel>, name: &str) {
    c.create_array(CreateArrayRequest {
        definition: Some(create_array_request::Definition::Schema(cube_schema(
            name, NL, NO,
        ))),
    })
    .await
    .unwrap();
}

/// A Write of hours `0..WRITE_HOURS` of array `name`, its blocks (1 MiB) made as
/// the stream is polled.
async fn stream_write(
    mut c: array_q_client::ArrayQClient<tonic::transport::Channel>,
    name: String,
) -> Result<WriteResponse, tonic::Status> {
    let head = std::iter::once(WriteRequest::header(cube_write_header(
        &name,
        0,
        WRITE_HOURS,
        NL,
        NO,
    )));
    let blocks = (0..WRITE_HOURS).flat_map(|t| {
        hour_blocks(t, 1, NL, NO, 1 << 20)
            .into_iter()
            .map(move |mut r| {
                if let Some(write_request::Msg::Data(b)) = &mut r.msg {
                    b.byte_offset += t * NL * NO * 4;
                }
                r
            })
    });
    c.write(tokio_stream::iter(head.chain(blocks)))
        .await
        .map(|r| r.into_inner())
}

fn hour_text(t: u64) -> String {
    format!("2023-01-{:02}T{:02}:00:00Z", 1 + t / 24, t % 24)
}

/// What each query client runs, and what it must get.
enum Ask {
    /// Sorts the whole array: over the memory bound.
    WholeSort,
    /// The three largest values of hour `t`.
    Top3(u64),
    /// The maximum of every hour.
    HourlyMax,
}

async fn ask(mut c: array_q_client::ArrayQClient<tonic::transport::Channel>, what: Ask) {
    match what {
        Ask::WholeSort => {
            let e = query(&mut c, "SELECT t2m FROM base ORDER BY t2m LIMIT 3")
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
            let cells = BASE_HOURS * NL * NO;
            assert!(
                e.message().starts_with(&format!(
                    "Sort needs {} bytes more for its sort keys ({} held by this operator",
                    16 * cells,
                    4 * cells
                )) && e
                    .message()
                    .contains("over the query memory limit of 33554432 bytes"),
                "{e:?}"
            );
        }
        Ask::Top3(t) => {
            let sql = format!(
                "SELECT t2m FROM base WHERE time = '{}' ORDER BY t2m DESC LIMIT 3",
                hour_text(t)
            );
            let r = query(&mut c, &sql).await.unwrap();
            let mut want = cube_values(t, 1, NL, NO);
            want.sort_by(|a, b| b.total_cmp(a));
            let got = f32_values(r.columns.last().unwrap());
            assert_eq!(got, want[..3], "top 3 of hour {t}");
        }
        Ask::HourlyMax => {
            let r = query(&mut c, "SELECT max(t2m) FROM base GROUP BY time")
                .await
                .unwrap();
            let want: Vec<f64> = (0..BASE_HOURS)
                .map(|t| {
                    cube_values(t, 1, NL, NO)
                        .into_iter()
                        .fold(f32::NEG_INFINITY, f32::max) as f64
                })
                .collect();
            assert_eq!(f64_values(&r.columns[0]), want);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_writes_and_queries_keep_peak_rss_under_the_bound() {
    let (_t, dir) = data_dir();
    let d = Daemon::start(
        &dir,
        &[],
        &[
            ("ARRAYQ_MAX_CONCURRENT_WRITES", "4"),
            ("ARRAYQ_STAGING_MEMORY_BYTES", "8388608"),
            ("ARRAYQ_MAX_CONCURRENT_QUERIES", "4"),
            ("ARRAYQ_MAX_QUERY_MEMORY_BYTES", "33554432"),
            ("ARRAYQ_QUEUE_TIMEOUT_MS", "120000"),
        ],
    );
    let mut c = d.client().await;
    create(&mut c, "base").await;
    let w = stream_write_hours(&mut c, "base", BASE_HOURS).await;
    assert_eq!(w.cells_written, BASE_HOURS * NL * NO);
    for k in 0..WRITERS {
        create(&mut c, &format!("w{k}")).await;
    }
    let pid = d.server.pid();
    let before = status_kib(pid, "VmHWM:");

    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for k in 0..WRITERS {
        let c = d.client().await;
        tasks.push(tokio::spawn(async move {
            let w = stream_write(c, format!("w{k}")).await.unwrap();
            assert_eq!(
                (w.version, w.cells_written),
                (1, WRITE_HOURS * NL * NO),
                "w{k}"
            );
        }));
    }
    for k in 0..25u64 {
        let c = d.client().await;
        let what = match k % 3 {
            0 if k < 24 => Ask::WholeSort,
            1 => Ask::Top3(k % BASE_HOURS),
            _ => Ask::HourlyMax,
        };
        tasks.push(tokio::spawn(ask(c, what)));
    }
    assert_eq!(tasks.len(), 50);
    for t in tasks {
        t.await.unwrap();
    }
    let peak = status_kib(pid, "VmHWM:");
    eprintln!(
        "arrayqd VmHWM: {before} KiB before, {peak} KiB after 50 clients ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    assert!(
        peak < BOUND_KIB,
        "peak RSS {peak} KiB under 25 writes of 16 MiB and 25 queries; bound {BOUND_KIB} KiB"
    );
    // The writes committed exactly what was sent.
    for k in [0, WRITERS - 1] {
        let sql = format!("SELECT t2m FROM w{k} WHERE time = '{}'", hour_text(7));
        let r = query(&mut c, &sql).await.unwrap();
        assert_eq!(f32_values(&r.columns[0]), cube_values(7, 1, NL, NO));
    }
}

/// Writes hours `0..nt` of `name` in one stream.
async fn stream_write_hours(
    c: &mut array_q_client::ArrayQClient<tonic::transport::Channel>,
    name: &str,
    nt: u64,
) -> WriteResponse {
    let mut reqs = vec![WriteRequest::header(cube_write_header(name, 0, nt, NL, NO))];
    reqs.extend(hour_blocks(0, nt, NL, NO, 1 << 20));
    c.write(tokio_stream::iter(reqs))
        .await
        .unwrap()
        .into_inner()
}
