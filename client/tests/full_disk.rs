//! The store on a full disk: a real `arrayqd` whose store lies on a small tmpfs
//! (mounted here; needs root, else the test says SKIPPED and passes). Writes that
//! do not fit fail with RESOURCE_EXHAUSTED naming the store path, the server keeps
//! answering, what was committed before reads back exactly, and once space is freed
//! writes succeed again without a restart.

mod common;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrayq_client::{Buffer, Client, Code, ColumnValues};
use common::Server;
use ndarray::ArrayD;

/// Cells along `x`; a write of `ROWS` rows is 4 MiB of DOUBLE (8 chunks).
const WIDTH: u64 = 1024;
const ROWS: u64 = 512;
/// The tmpfs, the filler file the test frees later, and the server's default
/// reserve (`Options::reserved_disk_bytes`), MiB.
const TMPFS_MIB: u64 = 48;
const FILLER_MIB: u64 = 12;

/// A tmpfs mounted for the test, unmounted on drop (also when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, mib: u64) -> Option<Tmpfs> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}M"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_path_buf())),
            Ok(o) => {
                let why = String::from_utf8_lossy(&o.stderr).trim().to_string();
                eprintln!("SKIPPED full_disk: cannot mount a tmpfs (not root?): {why}");
                None
            }
            Err(e) => {
                eprintln!("SKIPPED full_disk: cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Busy (a server still closing): detach it now, freed when unused.
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
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
    let outside = tempfile::tempdir().expect("temp dir");
    let mnt = outside.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let Some(_tmpfs) = Tmpfs::mount(&mnt, TMPFS_MIB) else {
        return;
    };
    let filler = mnt.join("filler");
    std::fs::write(&filler, vec![1u8; (FILLER_MIB << 20) as usize]).unwrap();
    let data = mnt.join("data");
    let log_dir = tempfile::tempdir().expect("temp dir");
    let s = Server::start_on(data.clone(), log_dir, &[]);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let c = Client::connect(s.url()).await.unwrap();
            c.create_array_sql(&format!(
                "CREATE ARRAY noise (i DOUBLE START 0 STEP 1 LENGTH 0 GROWABLE, \
                 x DOUBLE START 0 STEP 1 LENGTH {WIDTH}, v DOUBLE) \
                 WITH (chunks = (64, {WIDTH}))"
            ))
            .await
            .unwrap();

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
