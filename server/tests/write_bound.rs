//! Writes larger than the server's in-memory staging bound: they spill to the
//! store's staging directory, commit exactly the values written, leave no staging
//! file behind, and keep the real `arrayqd`'s peak memory far below their size.

mod common;

use arrayq_proto::v1::*;
use common::*;

async fn create_cube(
    c: &mut array_q_client::ArrayQClient<tonic::transport::Channel>,
    nl: u64,
    no: u64,
) {
    c.create_array(CreateArrayRequest {
        definition: Some(create_array_request::Definition::Schema(cube_schema(
            "cube", nl, no,
        ))),
    })
    .await
    .unwrap();
}

fn staging_files(d: &Daemon) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(d.data.join("staging"))
        .expect("the store has a staging directory")
        .map(|e| e.unwrap().path())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_past_the_staging_bound_commits_the_formula() {
    const NL: u64 = 60;
    const NO: u64 = 70;
    const NT: u64 = 100; // 100 x 60 x 70 f32 = 1.68 MB against a 256 KiB bound
    let (_t, dir) = data_dir();
    let d = Daemon::start(&dir, &[], &[("ARRAYQ_STAGING_MEMORY_BYTES", "262144")]);
    let mut c = d.client().await;
    create_cube(&mut c, NL, NO).await;
    let mut reqs = vec![WriteRequest::header(cube_write_header(
        "cube", 0, NT, NL, NO,
    ))];
    reqs.extend(hour_blocks(0, NT, NL, NO, 100_000));
    let w = c
        .write(tokio_stream::iter(reqs))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((w.version, w.cells_written), (1, NT * NL * NO));
    assert!(staging_files(&d).is_empty(), "{:?}", staging_files(&d));
    let r = query(&mut c, "SELECT t2m FROM cube").await.unwrap();
    assert_eq!(r.header.shape, vec![NT, NL, NO]);
    assert_eq!(f32_values(&r.columns[0]), cube_values(0, NT, NL, NO));

    // A stream cut short (its last block missing) commits nothing and cleans up.
    let mut reqs = vec![WriteRequest::header(cube_write_header(
        "cube", NT, 20, NL, NO,
    ))];
    let mut blocks = hour_blocks(NT, 20, NL, NO, 100_000);
    blocks.pop();
    reqs.extend(blocks);
    let e = c.write(tokio_stream::iter(reqs)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("'t2m'") && e.message().contains("needs 336000"),
        "{e:?}"
    );
    assert!(staging_files(&d).is_empty(), "{:?}", staging_files(&d));
    let r = query(&mut c, "SELECT t2m FROM cube").await.unwrap();
    assert_eq!(r.header.shape, vec![NT, NL, NO], "nothing committed");
}

/// A 256 MB write (64 maps of 1000 x 1000 f32) through a server whose staging bound
/// is 16 MiB. Holding the write in memory, as a collecting server would, takes at
/// least its 256 MB; the sink holds the staging bound, a few gRPC messages in
/// flight (4 MB each) and one chunk (4 MB raw + its encoding) per rayon worker. The
/// bound below, 160 MiB, leaves room for the allocator, sled's cache and the
/// runtime's threads while still failing for anything that keeps the write whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peak_memory_of_a_large_write_stays_bounded() {
    const NL: u64 = 1000;
    const NO: u64 = 1000;
    const NT: u64 = 64;
    const BOUND_KIB: u64 = 160 << 10;
    let (_t, dir) = data_dir();
    let d = Daemon::start(&dir, &[], &[("ARRAYQ_STAGING_MEMORY_BYTES", "16777216")]);
    let mut c = d.client().await;
    create_cube(&mut c, NL, NO).await;
    let pid = d.server.pid();
    let before = status_kib(pid, "VmHWM:");
    // Blocks are made as the stream is polled: one hour at a time.
    let head = std::iter::once(WriteRequest::header(cube_write_header(
        "cube", 0, NT, NL, NO,
    )));
    let blocks = (0..NT).flat_map(|t| {
        hour_blocks(t, 1, NL, NO, 4_000_000)
            .into_iter()
            .map(move |mut r| {
                if let Some(write_request::Msg::Data(b)) = &mut r.msg {
                    b.byte_offset += t * NL * NO * 4;
                }
                r
            })
    });
    let w = c
        .write(tokio_stream::iter(head.chain(blocks)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(w.cells_written, NT * NL * NO);
    let peak = status_kib(pid, "VmHWM:");
    eprintln!("arrayqd VmHWM: {before} KiB before the write, {peak} KiB after");
    assert!(
        peak < BOUND_KIB,
        "peak RSS {peak} KiB during a 256 MB write; bound {BOUND_KIB} KiB"
    );
    assert!(staging_files(&d).is_empty(), "{:?}", staging_files(&d));
    // The values are the formula written: a few whole maps.
    for t in [0, 17, 40, 63] {
        let sql = format!(
            "SELECT t2m FROM cube WHERE time = '2023-01-{:02}T{:02}:00:00Z'",
            1 + t / 24,
            t % 24
        );
        let r = query(&mut c, &sql).await.unwrap();
        assert_eq!(
            f32_values(&r.columns[0]),
            cube_values(t, 1, NL, NO),
            "hour {t}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_streams_keep_their_status_codes() {
    let (_t, dir) = data_dir();
    let d = Daemon::start(&dir, &[], &[("ARRAYQ_MAX_WRITE_BYTES", "10000")]);
    let mut c = d.client().await;
    create_cube(&mut c, 10, 10).await;
    // 30 x 10 x 10 f32 = 12000 bytes > 10000: refused before any data.
    let e = c
        .write(tokio_stream::iter(vec![WriteRequest::header(
            cube_write_header("cube", 0, 30, 10, 10),
        )]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
    assert!(e.message().contains("12000 bytes"), "{e:?}");
    // A block out of order, and one for an attribute the header does not list.
    for (attr, offset, want) in [
        (0, 8, "data at byte 8 but 0 bytes received"),
        (1, 0, "attribute index 1, header lists 1"),
    ] {
        let reqs = vec![
            WriteRequest::header(cube_write_header("cube", 0, 1, 10, 10)),
            WriteRequest::data(attr, offset, vec![0; 400]),
        ];
        let e = c.write(tokio_stream::iter(reqs)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains(want), "{e:?}");
    }
    assert!(staging_files(&d).is_empty());
}

/// With one write slot, a second Write waits for it and, when the first holds it
/// past the queue timeout, fails with RESOURCE_EXHAUSTED naming the limit; nothing of
/// it is committed, and once the first commits, writes go through again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_wait_for_a_slot_then_fail_busy() {
    const NL: u64 = 6;
    const NO: u64 = 7;
    let (_t, dir) = data_dir();
    let d = Daemon::start(
        &dir,
        &[],
        &[
            ("ARRAYQ_MAX_CONCURRENT_WRITES", "1"),
            ("ARRAYQ_QUEUE_TIMEOUT_MS", "300"),
        ],
    );
    let mut c = d.client().await;
    create_cube(&mut c, NL, NO).await;
    // The first write sends its header and holds its stream open.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(WriteRequest::header(cube_write_header(
        "cube", 0, 1, NL, NO,
    )))
    .await
    .unwrap();
    let mut c1 = c.clone();
    let first = tokio::spawn(async move {
        c1.write(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .map(|r| r.into_inner())
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut reqs = vec![WriteRequest::header(cube_write_header(
        "cube", 1, 1, NL, NO,
    ))];
    reqs.extend(hour_blocks(1, 1, NL, NO, 1 << 20));
    let busy = c.write(tokio_stream::iter(reqs.clone())).await.unwrap_err();
    assert_eq!(busy.code(), tonic::Code::ResourceExhausted, "{busy:?}");
    assert_eq!(
        busy.message(),
        "server busy: 1 writes running, none finished within 300 ms"
    );
    for r in hour_blocks(0, 1, NL, NO, 1 << 20) {
        tx.send(r).await.unwrap();
    }
    drop(tx);
    let w = first.await.unwrap().unwrap();
    assert_eq!((w.version, w.cells_written), (1, NL * NO));
    let w = c
        .write(tokio_stream::iter(reqs))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((w.version, w.cells_written), (2, NL * NO));
    let r = query(
        &mut c,
        "SELECT t2m FROM cube WHERE time <= '2023-01-01T01:00:00Z'",
    )
    .await
    .unwrap();
    assert_eq!(f32_values(&r.columns[0]), cube_values(0, 2, NL, NO));
}
