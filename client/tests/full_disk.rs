//! The store on a full disk: a real `arrayqd` whose store lies on a small tmpfs
//! (mounted here; needs root, else the test says SKIPPED and passes). Writes that
//! do not fit fail with RESOURCE_EXHAUSTED naming the store path, the server keeps
//! answering, what was committed before reads back exactly, and once space is freed
//! writes succeed again without a restart. A Write larger than the staging memory,
//! which spills to `<store>/staging/` before it commits, meets the same refusal
//! while it spills, and leaves no staged file behind. `--disk-reserve-bytes` moves
//! the line: a reserve of nearly all the free space refuses a write the default fits.

mod common;

use std::ops::Range;
use std::path::Path;
use std::time::{Duration, Instant};

use arrayq_client::{Buffer, Client, Code, ColumnValues};
use arrayq_tests::Tmpfs;
use common::Server;
use ndarray::ArrayD;

/// Cells along `x`; a write of `ROWS` rows is 4 MiB of DOUBLE (8 chunks).
const WIDTH: u64 = 1024;
const ROWS: u64 = 512;
/// The tmpfs and the filler file the test frees later, MiB.
const TMPFS_MIB: u64 = 48;
const FILLER_MIB: u64 = 12;
/// The server's default free-space reserve (`--disk-reserve-bytes`).
const RESERVE_BYTES: u64 = 16 << 20;

/// The runtime the tests drive their client on.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The test array: rows along a growable `i`, `WIDTH` cells along `x`.
async fn create_noise(c: &Client) {
    c.create_array_sql(&format!(
        "CREATE ARRAY noise (i DOUBLE START 0 STEP 1 LENGTH 0 GROWABLE, \
         x DOUBLE START 0 STEP 1 LENGTH {WIDTH}, v DOUBLE) \
         WITH (chunks = (64, {WIDTH}))"
    ))
    .await
    .unwrap();
}

/// Values that do not compress (splitmix64 -> [0, 1)), so every write takes its
/// size on the disk; cell (i, x) of the array holds `noise(i * WIDTH + x)`.
fn noise(k: u64) -> f64 {
    let mut z = k.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn rows(r: Range<u64>) -> Vec<f64> {
    (r.start * WIDTH..r.end * WIDTH).map(noise).collect()
}

async fn write_rows(c: &Client, r: Range<u64>) -> arrayq_client::Result<u64> {
    let n = (r.end - r.start) as usize;
    let data = ArrayD::from_shape_vec(vec![n, WIDTH as usize], rows(r.clone())).unwrap();
    let resp = c
        .write(
            "noise",
            &["v"],
            &[r, 0..WIDTH],
            vec![],
            &[Buffer::F64(data)],
        )
        .await?;
    Ok(resp.version)
}

/// Every cell of rows `0..n`, read back through a query.
async fn read_all(c: &Client, n: u64) -> Vec<f64> {
    let r = c
        .query(&format!("SELECT v FROM noise WHERE i < {n}"))
        .await
        .unwrap();
    assert_eq!(r.shape, vec![n as usize, WIDTH as usize]);
    match &r.column("v").unwrap().values {
        ColumnValues::Numeric(Buffer::F64(a)) => a.iter().copied().collect(),
        other => panic!("v is {other:?}"),
    }
}

#[test]
fn full_disk_refuses_writes_keeps_data_and_recovers_without_restart() {
    let Some(tmpfs) = Tmpfs::mount(TMPFS_MIB, "full_disk") else {
        return;
    };
    let mnt = tmpfs.path();
    let filler = mnt.join("filler");
    std::fs::write(&filler, vec![1u8; (FILLER_MIB << 20) as usize]).unwrap();
    let data = mnt.join("data");
    let log_dir = tempfile::tempdir().expect("temp dir");
    let s = Server::start_on(data.clone(), log_dir, &[]);
    runtime().block_on(async {
        let c = Client::connect(s.url()).await.unwrap();
        create_noise(&c).await;

        // Fill the disk: 4 MiB writes until one is refused.
        let mut committed = 0u64;
        let refused = loop {
            assert!(committed < 20 * ROWS, "{TMPFS_MIB} MiB never filled up");
            match write_rows(&c, committed..committed + ROWS).await {
                Ok(v) => {
                    assert_eq!(v, committed / ROWS + 1);
                    committed += ROWS;
                }
                Err(e) => break e,
            }
        };
        assert!(committed >= ROWS, "not even one write fit: {refused}");
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused}");
        let path = data.display().to_string();
        assert!(
            refused.message().contains(&path),
            "'{}' does not name {path}",
            refused.message()
        );

        // A statement that writes meets the same refusal, and leaves no array.
        let ctas = c
            .query("CREATE ARRAY copy AS SELECT v FROM noise")
            .await
            .unwrap_err();
        assert_eq!(ctas.code(), Code::ResourceExhausted, "{ctas}");
        assert!(ctas.message().contains(&path), "{ctas}");
        let names: Vec<String> = c
            .list_arrays()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, ["noise"]);

        // Still answering, with every committed cell intact and nothing of the
        // refused write.
        assert_eq!(read_all(&c, committed).await, rows(0..committed));
        let d = c.describe("noise").await.unwrap();
        assert_eq!(d.head_version, committed / ROWS);
        assert_eq!(
            d.schema.unwrap().dimensions[0].length,
            committed,
            "the refused write grew the array"
        );

        // Free space: the same server takes the write now.
        std::fs::remove_file(&filler).unwrap();
        let v = write_rows(&c, committed..committed + ROWS).await.unwrap();
        assert_eq!(v, committed / ROWS + 1);
        committed += ROWS;
        assert_eq!(read_all(&c, committed).await, rows(0..committed));
    });
    drop(s);
}

/// Waits (at most 10 s: the server drops the failed write's sink right after it
/// answers) until `<data>/staging/` holds no file.
fn wait_staging_empty(data: &Path) {
    let dir = data.join("staging");
    let t = Instant::now();
    loop {
        let left: Vec<_> = match std::fs::read_dir(&dir) {
            Ok(d) => d.map(|e| e.unwrap().file_name()).collect(),
            Err(_) => Vec::new(),
        };
        if left.is_empty() {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "staged files left: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_write_that_fills_the_disk_while_spilling_is_refused_and_leaves_nothing() {
    const SPILL_TMPFS_MIB: u64 = 64;
    /// 16 MiB of DOUBLE, sixteen times the staging memory: it stages on the disk.
    const BIG_ROWS: u64 = 4 * ROWS;
    let big_bytes = BIG_ROWS * WIDTH * 8;
    let Some(tmpfs) = Tmpfs::mount(SPILL_TMPFS_MIB, "full_disk (spill)") else {
        return;
    };
    let mnt = tmpfs.path();
    let data = mnt.join("data");
    let log_dir = tempfile::tempdir().expect("temp dir");
    let s = Server::start_on(
        data.clone(),
        log_dir,
        &["--staging-memory-bytes", &(1u64 << 20).to_string()],
    );
    runtime().block_on(async {
        let c = Client::connect(s.url()).await.unwrap();
        create_noise(&c).await;

        // Room beside the reserve for half of what the write stages.
        let filler = tmpfs
            .fill_leaving("filler", RESERVE_BYTES + big_bytes / 2)
            .unwrap();
        let e = write_rows(&c, 0..BIG_ROWS).await.unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
        let want = format!(
            "no space left for the store at {}: staging the write needs",
            data.display()
        );
        assert!(
            e.message().starts_with(&want),
            "'{}' is not '{want} ...'",
            e.message()
        );
        wait_staging_empty(&data);

        // Nothing committed, and the server answers.
        let d = c.describe("noise").await.unwrap();
        assert_eq!(d.head_version, 0);
        assert_eq!(d.schema.unwrap().dimensions[0].length, 0);
        let names: Vec<String> = c
            .list_arrays()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, ["noise"]);

        // Space freed: the same write goes through on the same server.
        std::fs::remove_file(&filler).unwrap();
        assert_eq!(write_rows(&c, 0..BIG_ROWS).await.unwrap(), 1);
        assert_eq!(read_all(&c, BIG_ROWS).await, rows(0..BIG_ROWS));
        wait_staging_empty(&data);
    });
    drop(s);
}

#[test]
fn a_larger_disk_reserve_refuses_a_write_that_fits_otherwise() {
    let Some(tmpfs) = Tmpfs::mount(TMPFS_MIB, "full_disk (reserve)") else {
        return;
    };
    let mnt = tmpfs.path();
    let data = mnt.join("data");
    // All but 1 MiB of the free space in reserve: a 4 MiB write cannot fit.
    let reserve = tmpfs.available_bytes().unwrap() - (1 << 20);
    let runtime = runtime();
    let s = Server::start_on(
        data.clone(),
        tempfile::tempdir().expect("temp dir"),
        &["--disk-reserve-bytes", &reserve.to_string()],
    );
    runtime.block_on(async {
        let c = Client::connect(s.url()).await.unwrap();
        create_noise(&c).await;
        let e = write_rows(&c, 0..ROWS).await.unwrap_err();
        assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
        let path = format!("no space left for the store at {}: ", data.display());
        let kept = format!(
            "of which {:.1} MiB stay in reserve",
            reserve as f64 / (1u64 << 20) as f64
        );
        assert!(
            e.message().starts_with(&path) && e.message().ends_with(&kept),
            "'{}' is not '{path}... {kept}'",
            e.message()
        );
        assert_eq!(c.describe("noise").await.unwrap().head_version, 0);
    });
    drop(s);

    // The same store and write with the default reserve: it fits.
    let s = Server::start_on(data, tempfile::tempdir().expect("temp dir"), &[]);
    runtime.block_on(async {
        let c = Client::connect(s.url()).await.unwrap();
        assert_eq!(write_rows(&c, 0..ROWS).await.unwrap(), 1);
        assert_eq!(read_all(&c, ROWS).await, rows(0..ROWS));
    });
    drop(s);
}
