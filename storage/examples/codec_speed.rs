//! Single-thread codec speeds on smooth float32 chunks: the engine's decode path
//! (CRC + zstd + unshuffle) against bare zstd. `cargo run --release --example codec_speed`

use arrayq_storage::codec::{unshuffle, zstd_compress, zstd_decompress, CodecChain};
use std::time::Instant;

fn main() {
    let (nlat, nlon) = (153usize, 281usize);
    let chunk: Vec<u8> = (0..nlat * nlon)
        .flat_map(|k| {
            let (i, j) = (k / nlon, k % nlon);
            let v = 280.0
                + 10.0 * ((i as f64) * 0.05).sin()
                + 5.0 * ((j as f64) * 0.03).cos()
                + ((k * 2654435761) % 1000) as f64 / 2000.0;
            (v as f32).to_le_bytes()
        })
        .collect();
    let reps = 2000;
    for (name, chain) in [
        ("shuffle+zstd3", CodecChain::shuffle_zstd(4, 3)),
        ("zstd3", CodecChain::zstd(3)),
    ] {
        let stored = chain.encode(&chunk).unwrap();
        let payload = &stored[..stored.len() - 4];
        let mut out = vec![0u8; chunk.len()];
        let t = Instant::now();
        for _ in 0..reps {
            zstd_decompress(payload, &mut out).unwrap();
        }
        let bare = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for _ in 0..reps {
            assert!(chain.decode_into(&stored, &mut out).unwrap());
        }
        let full = t.elapsed().as_secs_f64();
        let mut tmp = vec![0u8; chunk.len()];
        let t = Instant::now();
        for _ in 0..reps {
            arrayq_storage::codec::shuffle(&chunk, &mut tmp, 4);
        }
        println!(
            "shuffle {:.1} GB/s",
            (chunk.len() * reps) as f64 / 1e9 / t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        for _ in 0..reps {
            unshuffle(&out, &mut tmp, 4);
        }
        let unsh = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for _ in 0..reps / 10 {
            zstd_compress(&chunk, 3).unwrap();
        }
        let comp = t.elapsed().as_secs_f64() * 10.0;
        let gb = (chunk.len() * reps) as f64 / 1e9;
        println!(
            "{name:14} ratio {:.2}  bare zstd decode {:.2} GB/s  engine decode {:.2} GB/s ({:.0}%)  unshuffle {:.1} GB/s  compress {:.2} GB/s",
            chunk.len() as f64 / stored.len() as f64,
            gb / bare,
            gb / full,
            100.0 * bare / full,
            gb / unsh,
            gb / comp
        );
    }
}
