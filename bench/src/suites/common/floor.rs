//! What the hardware bounds a query by: the decode floor (bare zstd of exactly the
//! stored chunks a query touches) and the machine's memory read bandwidth.

use std::sync::Mutex;

use anyhow::{Context, Result};
use arrayq_query::Engine;
use arrayq_storage::{AsOf, Region};
use rayon::prelude::*;

use crate::measure::{time_runs, Timing};

/// The decode floor of one query: the stored payloads of the chunks it touches
/// through `layout`, decompressed by bare zstd on pools of 1 and `threads` threads.
pub struct Floor {
    /// The zstd frames (without their CRC32) of the chunks.
    pub payloads: Vec<Vec<u8>>,
    raw_len: usize,
    /// Stored bytes of those chunks.
    pub stored: u64,
}

impl Floor {
    /// The payloads of the chunks of array `era5` that `region` touches through
    /// layout `layout_name`.
    pub fn fetch(engine: &Engine, layout_name: &str, region: &Region) -> Result<Floor> {
        Floor::fetch_array(engine, "era5", layout_name, region)
    }

    /// The same for any array (of one attribute, or its first attribute).
    pub fn fetch_array(
        engine: &Engine,
        array: &str,
        layout_name: &str,
        region: &Region,
    ) -> Result<Floor> {
        let snap = engine.store().snapshot(array, AsOf::Latest)?;
        let schema = snap.schema();
        let l = schema
            .layouts
            .iter()
            .find(|l| l.name == layout_name)
            .with_context(|| format!("no layout {layout_name}"))?;
        let raw_len = l.chunk_len() * schema.attrs[0].dtype.size();
        let mut payloads = Vec::new();
        let mut stored = 0;
        for c in region.chunks(&l.chunk_shape) {
            if let Some((_, v)) = snap.fetch(l.id, schema.attrs[0].id, &c)? {
                stored += v.len() as u64;
                // The zstd frame without its trailing CRC32.
                payloads.push(v[..v.len() - 4].to_vec());
            }
        }
        Ok(Floor {
            payloads,
            raw_len,
            stored,
        })
    }

    /// `runs` timed passes on `threads` threads.
    pub fn time(&self, threads: usize, runs: usize) -> Result<Timing> {
        let dec = self.decoder(threads)?;
        let (t, ()) = time_runs(runs, 1, || self.decode(&dec))?;
        Ok(t)
    }

    /// A pool of `threads` threads and one pre-touched output buffer per thread.
    pub fn decoder(&self, threads: usize) -> Result<Decoder> {
        Ok(Decoder {
            pool: rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()?,
            bufs: (0..threads)
                .map(|_| Mutex::new(vec![1u8; self.raw_len]))
                .collect(),
        })
    }

    /// One pass: every payload decompressed on the decoder's pool.
    pub fn decode(&self, dec: &Decoder) -> Result<()> {
        dec.pool.install(|| {
            self.payloads.par_iter().try_for_each(|p| -> Result<()> {
                let i = rayon::current_thread_index().unwrap_or(0);
                let mut out = dec.bufs[i].lock().expect("unpoisoned");
                arrayq_storage::codec::zstd_decompress(p, &mut out)?;
                Ok(())
            })
        })
    }
}

/// Where [`Floor::decode`] runs.
pub struct Decoder {
    pool: rayon::ThreadPool,
    bufs: Vec<Mutex<Vec<u8>>>,
}

/// Memory read bandwidth, GB/s, of `threads` threads summing a pre-touched buffer of
/// 512 MiB (larger than any cache): the fastest of `runs` (at least 5), since other
/// work on the machine only ever slows it down.
pub fn memory_bandwidth(threads: usize, runs: usize) -> Result<f64> {
    let buf: Vec<u64> = (0..(512usize << 20) / 8).map(|k| k as u64).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let (t, s) = time_runs(runs.max(5), 1, || -> Result<u64> {
        Ok(pool.install(|| {
            buf.par_chunks(1 << 16)
                .map(|c| c.iter().fold(0u64, |a, &x| a.wrapping_add(x)))
                .reduce(|| 0, u64::wrapping_add)
        }))
    })?;
    std::hint::black_box(s);
    Ok((buf.len() * 8) as f64 / 1e9 / t.min_s)
}
