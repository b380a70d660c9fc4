//! Helpers shared by arrayq's tests and benchmarks: a real `arrayqd` on a free
//! loopback port ([`TestServer`]), the workspace's binaries, a managed Python venv
//! for the numpy reference and other Python peers, `.npy` file I/O, evicting
//! files from the page cache (cold reads), and small tmpfs mounts (full disks).

#![warn(missing_docs)]

mod binary;
mod npy;
mod page_cache;
mod postgres;
mod pyvenv;
mod server;
mod tmpfs;

pub use binary::{
    arrayq_command, arrayq_ok, arrayqd_binary, clean_env, described_metadata, workspace_binary,
    ARRAYQD_ENV,
};
pub use npy::{read_npy_f32, read_npy_f64, write_npy_f32, write_npy_f64, Npy};
pub use page_cache::{cached_bytes, evict_dir};
pub use postgres::{PgCluster, PG_URL_ENV};
pub use pyvenv::{python, python_client_venv, run_reference, workspace_root};
pub use server::{DropStop, StartError, TestServer, TestServerBuilder};
pub use tmpfs::Tmpfs;

/// Distance between two `f32` in units in the last place (0 when bit-identical;
/// `+0.0` and `-0.0` are 1 apart), so tests can bound libm differences precisely.
pub fn ulp_diff(a: f32, b: f32) -> u32 {
    // Map the bit patterns onto a monotonic integer line.
    fn key(x: f32) -> i64 {
        let b = x.to_bits() as i32 as i64;
        if b < 0 {
            i32::MIN as i64 - b - 1
        } else {
            b
        }
    }
    (key(a) - key(b)).unsigned_abs().min(u32::MAX as u64) as u32
}

#[cfg(test)]
mod tests {
    use super::ulp_diff;

    #[test]
    fn ulps() {
        assert_eq!(ulp_diff(1.0, 1.0), 0);
        assert_eq!(ulp_diff(1.0, f32::from_bits(1.0f32.to_bits() + 1)), 1);
        assert_eq!(ulp_diff(0.0, -0.0), 1);
        assert_eq!(ulp_diff(f32::from_bits(1), -f32::from_bits(1)), 3);
        assert_eq!(ulp_diff(-2.0, -2.0), 0);
    }
}
