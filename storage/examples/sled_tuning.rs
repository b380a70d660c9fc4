//! How value size changes sled's write speed and space amplification.
//! `cargo run --release --example sled_tuning`

use std::time::Instant;

fn main() {
    let total = 68_000_000usize;
    for size in [4_096usize, 16_384, 65_536, 92_000, 262_144] {
        let n = total / size;
        let vals: Vec<Vec<u8>> = (0..n)
            .map(|k| {
                (0..size)
                    .map(|i| ((i * 2654435761usize + k * 97) >> 7) as u8)
                    .collect()
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new()
            .path(dir.path())
            .cache_capacity(256 << 20)
            .open()
            .unwrap();
        let t = db.open_tree("x").unwrap();
        let t0 = Instant::now();
        for (k, v) in vals.iter().enumerate() {
            t.insert((k as u64).to_be_bytes(), v.clone()).unwrap();
        }
        db.flush().unwrap();
        let el = t0.elapsed();
        let mut blobs = 0u64;
        if let Ok(rd) = std::fs::read_dir(dir.path().join("blobs")) {
            for e in rd.flatten() {
                blobs += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
        let du = std::process::Command::new("du")
            .arg("-sk")
            .arg(dir.path())
            .output()
            .unwrap();
        let used_kb: f64 = String::from_utf8_lossy(&du.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        println!(
            "value {size:>7} x {n:>6}: write+flush {el:?}  size_on_disk/data {:.2}  disk blocks/data {:.2}  blobs {blobs}",
            db.size_on_disk().unwrap() as f64 / (n * size) as f64,
            used_kb * 1024.0 / (n * size) as f64
        );
    }
}
