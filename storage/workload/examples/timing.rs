//! Times generation of the ERA5 cube and energy portfolio per scale:
//!
//!     cargo run --release -p arrayq-workload --example timing -- xs s [m] [--raw DIR]
//!
//! `--raw DIR` also writes each cube as raw little-endian f32 (`era5_<scale>.f32`),
//! and each portfolio (`energy_<scale>.f32`), byte-comparable with the payload of the
//! numpy reference's `.npy` files.

use std::io::Write;
use std::time::Instant;

use arrayq_workload::{energy, era5, Scale};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let raw = args
        .iter()
        .position(|a| a == "--raw")
        .map(|k| std::path::PathBuf::from(&args[k + 1]));
    let mut scales: Vec<Scale> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if scales.is_empty() {
        scales = vec![Scale::XS, Scale::S];
    }
    println!("rayon threads: {}", rayon::current_num_threads());
    for scale in scales {
        let t = Instant::now();
        let cube = era5::cube(scale);
        let secs = t.elapsed().as_secs_f64();
        let mean = cube.iter().map(|&v| v as f64).sum::<f64>() / cube.len() as f64;
        let mvals = cube.len() as f64 / 1e6;
        println!(
            "era5 {scale}: {:?} in {secs:.2} s ({:.0} Mvalues/s), mean {mean:.6}",
            cube.shape(),
            mvals / secs
        );
        if let Some(dir) = &raw {
            write_raw(&dir.join(format!("era5_{scale}.f32")), cube.iter());
        }
        drop(cube);

        let t = Instant::now();
        let m = energy::portfolio(scale, None);
        let secs = t.elapsed().as_secs_f64();
        println!("energy {scale}: {:?} in {secs:.2} s", m.shape());
        if let Some(dir) = &raw {
            write_raw(&dir.join(format!("energy_{scale}.f32")), m.iter());
        }
    }
}

fn write_raw<'a>(path: &std::path::Path, values: impl Iterator<Item = &'a f32>) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create raw file"));
    for v in values {
        f.write_all(&v.to_le_bytes()).expect("write raw file");
    }
    f.flush().expect("flush raw file");
}
