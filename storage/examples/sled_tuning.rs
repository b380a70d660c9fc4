//! How sled's segment size changes write speed and space amplification for
//! chunk-sized values written in pipeline-sized batches.
//! `cargo run --release --example sled_tuning`

use std::time::Instant;

fn main() {
    let (n, size) = (744usize, 92_000usize);
    let vals: Vec<Vec<u8>> = (0..n)
        .map(|k| {
            (0..size)
                .map(|i| ((i * 2654435761usize + k * 97) >> 7) as u8)
                .collect()
        })
        .collect();
    for seg in [
        512usize << 10,
        1 << 20,
        2 << 20,
        512 << 10,
        1 << 20,
        2 << 20,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new()
            .path(dir.path())
            .segment_size(seg)
            .cache_capacity(256 << 20)
            .open()
            .unwrap();
        let t = db.open_tree("x").unwrap();
        let t0 = Instant::now();
        // As commits write: two workers inserting concurrently.
        std::thread::scope(|sc| {
            for half in 0..2 {
                let (t, vals) = (&t, &vals);
                sc.spawn(move || {
                    for k in (half..n).step_by(2) {
                        t.insert((k as u64).to_be_bytes(), vals[k].clone()).unwrap();
                    }
                });
            }
        });
        db.flush().unwrap();
        let el = t0.elapsed();
        let data = (n * size) as f64;
        let disk = db.size_on_disk().unwrap() as f64;
        drop(t);
        drop(db);
        let db = sled::Config::new()
            .path(dir.path())
            .segment_size(seg)
            .open()
            .unwrap();
        println!(
            "segment {:>5} KiB: write+flush {el:?}  on disk / data {:.2}  after reopen {:.2}",
            seg >> 10,
            disk / data,
            db.size_on_disk().unwrap() as f64 / data
        );
    }
}
