//! Suite `storage`: the storage engine against bare zstd on the ERA5 cube of the
//! chosen scale, map-tile chunks `(1, 153, 281)`, shuffle + zstd level 3, all in one
//! run on the same data:
//!
//! 1. ingest: `load_era5` into a fresh, durable on-disk store (time in the store:
//!    slab -> chunks, shuffle, zstd, CRC, sled, fsync; generation excluded) vs bare
//!    zstd compression of the same shuffled chunks on the same threads. Target:
//!    arrayq throughput >= 0.5 x zstd.
//! 2. read: `read_with` of the whole cube (warm) vs bare zstd decompression of
//!    exactly the stored payloads, held in memory, into a ready buffer. Target >= 0.8.
//! 3. size: `size_on_disk` after flush, and the stored chunk bytes from the layout
//!    statistics, vs zstd at the same level without shuffle. Target <= 1.0.
//!
//! Stage timings (chunk copy, encode, payloads as sled values, chunk fetch, unshuffle, CRC,
//! single-thread decode with and without shuffle) show where the time goes when a
//! target is missed. The machine is shared, so the systems of each phase run in
//! interleaved rounds (each round runs every system once) and the targets use the
//! median of the per-round ratios.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use arrayq_storage::codec::{shuffle, unshuffle};
use arrayq_storage::{
    AsOf, Buffer, CodecChain, DType, ReadOptions, ReadStats, Region, Scalar, Store,
};
use arrayq_workload::era5;
use arrayq_workload::load::{self, LoadReport, MAP_TILES};
use rayon::prelude::*;
use tempfile::TempDir;

use super::{Ctx, Suite};
use crate::measure::{interleaved, paired_ratio, Job, Timing};
use crate::results::{CaseResult, Check, SuiteResult};

/// zstd level of the suite (the store's default codec level).
pub const LEVEL: i32 = 3;

/// The storage engine figures.
pub struct Storage;

impl Suite for Storage {
    fn name(&self) -> &'static str {
        "storage"
    }

    fn about(&self) -> &'static str {
        "ingest, full read and stored size of arrayq vs bare zstd (targets 0.5 / 0.8 / 1.0)"
    }

    fn run(&self, ctx: &Ctx) -> Result<SuiteResult> {
        run(ctx)
    }
}

fn compressor() -> zstd::bulk::Compressor<'static> {
    zstd::bulk::Compressor::new(LEVEL).expect("zstd compressor")
}

fn decompressor() -> zstd::bulk::Decompressor<'static> {
    zstd::bulk::Decompressor::new().expect("zstd decompressor")
}

fn run(ctx: &Ctx) -> Result<SuiteResult> {
    let scale = ctx.scale;
    let runs = ctx.runs;
    let n = era5::n_time(scale);
    let chunk_bytes = era5::MAP_CELLS * 4;
    let raw_total = (n * chunk_bytes) as u64;
    let mut res = ctx.result("storage");
    res.notes.push(format!(
        "ERA5 cube {n} x 153 x 281 f32 ({:.1} MB raw), layout map tiles (1, 153, 281), \
         shuffle + zstd level {LEVEL}; every system on {} threads; {runs} interleaved rounds \
         after one warm-up round.",
        raw_total as f64 / 1e6,
        ctx.threads
    ));
    let bar = ctx.bar(4, "storage: preparing chunks");

    // The chunks the store will hold, prepared untimed for the baselines.
    let values = era5::hours(0, n);
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    drop(values);
    let raw_chunks: Vec<&[u8]> = raw.chunks(chunk_bytes).collect();
    let shuffled: Vec<Vec<u8>> = raw_chunks
        .par_iter()
        .map(|c| {
            let mut out = vec![0u8; c.len()];
            shuffle(c, &mut out, 4);
            out
        })
        .collect();
    let chain = CodecChain::shuffle_zstd(4, LEVEL);
    bar.inc(1);

    // 1. Ingest, with its stages.
    bar.set_message("storage: ingest rounds");
    let compressed: RefCell<Vec<Vec<u8>>> = RefCell::new(Vec::new());
    let kept: RefCell<Option<(TempDir, Store, LoadReport)>> = RefCell::new(None);
    let total_t: RefCell<Vec<Duration>> = RefCell::new(Vec::new());
    let apply_t: RefCell<Vec<Duration>> = RefCell::new(Vec::new());
    let flush_t: RefCell<Vec<Duration>> = RefCell::new(Vec::new());
    let sled_disk = RefCell::new(0u64);
    let stored_ref: RefCell<Vec<Vec<u8>>> = RefCell::new(Vec::new());
    let mut jobs: Vec<Job<'_>> = vec![
        // zstd alone over the shuffled chunks.
        Box::new(|| {
            let c = shuffled
                .par_iter()
                .map_init(compressor, |c, s| c.compress(s))
                .collect::<std::io::Result<Vec<_>>>()?;
            *compressed.borrow_mut() = c;
            Ok(None)
        }),
        // Shuffle + zstd from the raw chunks, buffers reused per thread.
        Box::new(|| {
            raw_chunks
                .par_iter()
                .map_init(
                    || (compressor(), vec![0u8; chunk_bytes]),
                    |(c, buf), r| {
                        shuffle(r, buf, 4);
                        c.compress(buf)
                    },
                )
                .collect::<std::io::Result<Vec<_>>>()?;
            Ok(None)
        }),
        // arrayq: load_era5 into a fresh durable store; the time spent in the store.
        Box::new(|| {
            // The previous store is closed and removed before the next load.
            drop(kept.borrow_mut().take());
            let dir = ctx.temp_dir("arrayq-bench-storage-")?;
            let store = Store::open(dir.path())?;
            let rep = load::load_era5(&store, "era5", scale, &[("map", MAP_TILES)], LEVEL, false)?;
            let t = rep.write_time;
            total_t.borrow_mut().push(rep.total_time);
            *kept.borrow_mut() = Some((dir, store, rep));
            Ok(Some(t))
        }),
        // Stage: each chunk copied out of the slab into its own buffer.
        Box::new(|| {
            let v: Vec<Vec<u8>> = raw_chunks.par_iter().map(|c| c.to_vec()).collect();
            drop(v);
            Ok(None)
        }),
        // Stage: CodecChain::encode (shuffle, zstd, CRC) on the pool.
        Box::new(|| {
            let e = raw_chunks
                .par_iter()
                .map(|c| chain.encode(c))
                .collect::<Result<Vec<_>, _>>()?;
            *stored_ref.borrow_mut() = e;
            Ok(None)
        }),
        // Stage: the encoded chunks as sled values in a fresh db, one batch + flush: what
        // storing payloads in sled itself would cost (the store keeps them in segments).
        Box::new(|| {
            let stored = stored_ref.borrow();
            let sdir = ctx.temp_dir("arrayq-bench-sled-")?;
            let db = sled::Config::new()
                .path(sdir.path())
                .cache_capacity(256 << 20)
                .open()?;
            let tree = db.open_tree("t")?;
            let t = Instant::now();
            let mut batch = sled::Batch::default();
            for (h, s) in stored.iter().enumerate() {
                batch.insert(&(h as u64).to_be_bytes(), s.as_slice());
            }
            tree.apply_batch(batch)?;
            let applied = t.elapsed();
            db.flush()?;
            let all = t.elapsed();
            apply_t.borrow_mut().push(applied);
            flush_t.borrow_mut().push(all - applied);
            *sled_disk.borrow_mut() = db.size_on_disk()?;
            Ok(Some(all))
        }),
    ];
    let t = interleaved(runs, 1, &mut jobs)?;
    drop(jobs);
    let [t_zc, t_szc, t_ingest, t_copy, t_encode, t_sled] =
        <[Timing; 6]>::try_from(t).map_err(|_| anyhow::anyhow!("six ingest jobs"))?;
    // Per-stage times of the timed rounds only (the warm-up round comes first).
    let skip = |v: Vec<Duration>| Timing::from_durations(&v[v.len().saturating_sub(runs.max(1))..]);
    let t_ingest_total = skip(total_t.into_inner());
    let t_apply = skip(apply_t.into_inner());
    let t_flush = skip(flush_t.into_inner());
    let sled_disk = sled_disk.into_inner();
    let compressed = compressed.into_inner();
    let (dir, store, rep) = kept.into_inner().context("an arrayq load")?;
    bar.inc(1);

    // 2. Read, with its stages.
    bar.set_message("storage: read rounds");
    let snap = store.snapshot("era5", AsOf::Latest)?;
    let full = Region::full(&snap.shape());
    let opts = ReadOptions {
        layout: Some(0),
        ..Default::default()
    };
    let cube = snap.read_with(0, &full, opts)?;
    ensure!(
        arrayq_storage::codec::buffer_bytes(&cube) == Some(raw.as_slice()),
        "the cube read back differs from the generated one"
    );
    drop(cube);
    let stats = ReadStats::default();
    snap.read_with(
        0,
        &full,
        ReadOptions {
            stats: Some(&stats),
            ..opts
        },
    )?;
    let (chunks_read, _, stored_read, decoded) = stats.get();
    let (lid, aid) = (snap.schema().layouts[0].id, snap.schema().attrs[0].id);
    let stored: Vec<Vec<u8>> = (0..n as u64)
        .map(|h| -> Result<Vec<u8>> {
            let (_, v) = snap
                .fetch(lid, aid, &[h, 0, 0])?
                .with_context(|| format!("chunk of hour {h} is not stored"))?;
            Ok(v.to_vec())
        })
        .collect::<Result<_>>()?;
    let payloads: Vec<&[u8]> = stored.iter().map(|s| &s[..s.len() - 4]).collect();
    let out = RefCell::new(vec![0u8; raw.len()]);
    let reused = RefCell::new(Buffer::filled(DType::F32, &full.shape(), Scalar::F64(0.0)));
    let decompress_into = |dst: &mut [u8]| -> Result<()> {
        dst.par_chunks_mut(chunk_bytes)
            .zip(payloads.par_iter())
            .try_for_each_init(decompressor, |d, (o, p)| -> Result<()> {
                let got = d.decompress_to_buffer(p, o)?;
                ensure!(got == o.len(), "short chunk");
                Ok(())
            })
    };
    let mut jobs: Vec<Job<'_>> = vec![
        // arrayq: a new buffer per read.
        Box::new(|| {
            let t = Instant::now();
            let b = snap.read_with(0, &full, opts)?;
            let d = t.elapsed();
            drop(b);
            Ok(Some(d))
        }),
        // arrayq: one reused buffer.
        Box::new(|| {
            snap.read_into(0, &full, opts, &mut reused.borrow_mut())?;
            Ok(None)
        }),
        // zstd alone into a pre-touched buffer.
        Box::new(|| {
            decompress_into(&mut out.borrow_mut())?;
            Ok(None)
        }),
        // zstd into a new buffer allocated as read_with allocates its output.
        Box::new(|| {
            let t = Instant::now();
            let mut fresh = Buffer::zeroed(DType::F32, &full.shape());
            decompress_into(
                arrayq_storage::codec::buffer_bytes_mut(&mut fresh).context("numeric buffer")?,
            )?;
            let d = t.elapsed();
            drop(fresh);
            Ok(Some(d))
        }),
        // Stage: every chunk fetched (sled index lookup + segment read, copied out).
        Box::new(|| {
            let n_bytes: u64 = (0..n as u64)
                .into_par_iter()
                .map(|h| -> Result<u64> {
                    Ok(snap
                        .fetch(lid, aid, &[h, 0, 0])?
                        .map_or(0, |(_, v)| v.len() as u64))
                })
                .sum::<Result<u64>>()?;
            ensure!(n_bytes > 0, "nothing fetched");
            Ok(None)
        }),
        // Stage: unshuffle of every chunk.
        Box::new(|| {
            out.borrow_mut()
                .par_chunks_mut(chunk_bytes)
                .zip(shuffled.par_iter())
                .for_each(|(o, s)| unshuffle(s, o, 4));
            Ok(None)
        }),
        // Stage: CRC32 of every stored payload.
        Box::new(|| {
            let x = payloads
                .par_iter()
                .map(|p| crc32fast::hash(p))
                .reduce(|| 0, |a, b| a ^ b);
            std::hint::black_box(x);
            Ok(None)
        }),
    ];
    let t = interleaved(runs, 1, &mut jobs)?;
    drop(jobs);
    let [t_read, t_read_into, t_zd, t_zd_fresh, t_fetch, t_unshuffle, t_crc] =
        <[Timing; 7]>::try_from(t).map_err(|_| anyhow::anyhow!("seven read jobs"))?;
    ensure!(
        arrayq_storage::codec::buffer_bytes(&reused.borrow()) == Some(raw.as_slice()),
        "read_into returned other values"
    );
    decompress_into(&mut out.borrow_mut())?;
    ensure!(
        out.borrow()
            .chunks(chunk_bytes)
            .zip(&shuffled)
            .all(|(a, b)| a == b.as_slice()),
        "stored payloads do not decompress to the shuffled chunks"
    );
    drop(out);
    drop(reused);
    bar.inc(1);

    // 3. Single-thread decode, with and without shuffle (this thread, no pool).
    bar.set_message("storage: single-thread decode");
    let noshuf: Vec<Vec<u8>> = raw_chunks
        .par_iter()
        .map_init(compressor, |c, r| c.compress(r))
        .collect::<std::io::Result<_>>()?;
    let one = RefCell::new(vec![0u8; chunk_bytes]);
    let d = RefCell::new(decompressor());
    let mut jobs: Vec<Job<'_>> = vec![
        Box::new(|| {
            let mut one = one.borrow_mut();
            for s in &stored {
                ensure!(chain.decode_into(s, &mut one)?, "checksum mismatch");
            }
            Ok(None)
        }),
        Box::new(|| {
            let (mut d, mut one) = (d.borrow_mut(), one.borrow_mut());
            for p in &payloads {
                d.decompress_to_buffer(p, &mut one[..])?;
            }
            Ok(None)
        }),
        Box::new(|| {
            let (mut d, mut one) = (d.borrow_mut(), one.borrow_mut());
            for p in &noshuf {
                d.decompress_to_buffer(p.as_slice(), &mut one[..])?;
            }
            Ok(None)
        }),
    ];
    let t = interleaved(runs, 1, &mut jobs)?;
    drop(jobs);
    let [t1_codec, t1_zstd_shuf, t1_zstd_raw] =
        <[Timing; 3]>::try_from(t).map_err(|_| anyhow::anyhow!("three decode jobs"))?;
    bar.inc(1);

    // 4. Sizes.
    store.flush()?;
    let disk = store.size_on_disk()?;
    let chunk_stored = rep.stored_bytes;
    let zstd_shuf: u64 = compressed.iter().map(|c| c.len() as u64).sum();
    let zstd_raw: u64 = noshuf.iter().map(|c| c.len() as u64).sum();
    bar.finish_and_clear();

    let raw_u = raw_total;
    res.cases = vec![
        CaseResult::new("ingest", "arrayq", t_ingest.clone())
            .bytes(raw_u)
            .extra("commits", rep.commits.len() as f64)
            .extra("written bytes", rep.bytes_written as f64),
        CaseResult::new("ingest", "zstd", t_zc.clone()).bytes(raw_u),
        CaseResult::new("ingest", "shuffle+zstd", t_szc.clone()).bytes(raw_u),
        CaseResult::new("ingest", "payloads as sled values", t_sled.clone())
            .bytes(raw_u)
            .extra("written bytes", chunk_stored as f64),
        CaseResult::new("ingest stage", "chunk copy", t_copy).bytes(raw_u),
        CaseResult::new("ingest stage", "encode", t_encode).bytes(raw_u),
        CaseResult::new("ingest stage", "sled apply_batch", t_apply).bytes(raw_u),
        CaseResult::new("ingest stage", "sled flush", t_flush).bytes(raw_u),
        CaseResult::new("ingest incl. generation", "arrayq", t_ingest_total).bytes(raw_u),
        CaseResult::new("read full cube", "arrayq", t_read.clone())
            .bytes(raw_u)
            .extra("chunks", chunks_read as f64)
            .extra("read bytes", stored_read as f64)
            .extra("decoded bytes", decoded as f64),
        CaseResult::new("read full cube", "arrayq read_into", t_read_into.clone()).bytes(raw_u),
        CaseResult::new("read full cube", "zstd", t_zd.clone()).bytes(raw_u),
        CaseResult::new("read full cube", "zstd, fresh buffer", t_zd_fresh.clone()).bytes(raw_u),
        CaseResult::new("read stage", "chunk fetch", t_fetch).bytes(raw_u),
        CaseResult::new("read stage", "unshuffle", t_unshuffle).bytes(raw_u),
        CaseResult::new("read stage", "crc32", t_crc).bytes(raw_u),
        CaseResult::new("decode 1 thread", "arrayq", t1_codec.clone()).bytes(raw_u),
        CaseResult::new("decode 1 thread", "zstd", t1_zstd_shuf.clone()).bytes(raw_u),
        CaseResult::new("decode 1 thread", "zstd no shuffle", t1_zstd_raw.clone()).bytes(raw_u),
    ];

    let disk_ratio = disk as f64 / zstd_raw as f64;
    let chunk_ratio = chunk_stored as f64 / zstd_raw as f64;
    res.metric("raw size", raw_u as f64, "B", "n_time x 153 x 281 x 4");
    res.metric(
        "stored chunk bytes",
        chunk_stored as f64,
        "B",
        "sum of layout stats (payload + CRC)",
    );
    res.metric(
        "size on disk",
        disk as f64,
        "B",
        "Store::size_on_disk after flush",
    );
    res.metric(
        "payloads as sled values: size on disk",
        sled_disk as f64,
        "B",
        "the same stored chunks put into a fresh sled db (one batch, flush)",
    );
    res.metric(
        "zstd, shuffled",
        zstd_shuf as f64,
        "B",
        "bare zstd of the shuffled chunks",
    );
    res.metric(
        "zstd, no shuffle",
        zstd_raw as f64,
        "B",
        "bare zstd of the raw chunks",
    );
    res.metric(
        "compression ratio with shuffle",
        raw_u as f64 / zstd_shuf as f64,
        "x",
        "raw / zstd shuffled",
    );
    res.metric(
        "compression ratio without shuffle",
        raw_u as f64 / zstd_raw as f64,
        "x",
        "raw / zstd raw",
    );
    res.metric(
        "shuffle: single-thread zstd decode speed-up",
        paired_ratio(&t1_zstd_raw, &t1_zstd_shuf),
        "x",
        "zstd time without shuffle / zstd time of the shuffled payload (unshuffle not included)",
    );
    res.metric(
        "single-thread decode, shuffled (arrayq codec)",
        t1_codec.mb_per_s(raw_u),
        "MB/s",
        "CRC + zstd + unshuffle, raw MB/s",
    );
    res.metric(
        "single-thread decode, no shuffle (zstd)",
        t1_zstd_raw.mb_per_s(raw_u),
        "MB/s",
        "zstd alone, raw MB/s",
    );
    res.metric(
        "ingest: arrayq / zstd, ratio of medians",
        t_zc.median_s / t_ingest.median_s,
        "x",
        "for comparison with the paired ratio of the check",
    );
    res.checks = vec![
        Check::at_least(
            "ingest: arrayq / bare zstd compress",
            paired_ratio(&t_zc, &t_ingest),
            0.5,
            "throughput ratio = zstd compress time of the shuffled chunks / arrayq time in the \
             store, median over rounds",
        ),
        // Like against like: the engine's read path (read_into, which queries use) against
        // zstd writing into mapped memory; a read that allocates its output against zstd
        // writing into a fresh allocation (both pay the kernel's page zeroing).
        Check::at_least(
            "read: arrayq read_into / bare zstd decompress",
            paired_ratio(&t_zd, &t_read_into),
            0.8,
            "zstd decompress time of the stored payloads / arrayq read_into time, median over \
             rounds; both write into memory that is already mapped",
        ),
        Check::at_least(
            "read, fresh output: arrayq read_with / bare zstd decompress into a fresh buffer",
            paired_ratio(&t_zd_fresh, &t_read),
            0.8,
            "zstd into a newly allocated buffer / arrayq read_with (allocates its output), \
             median over rounds",
        ),
        Check::at_most(
            "size on disk / zstd without shuffle",
            disk_ratio,
            1.0,
            "Store::size_on_disk / bare zstd of the raw chunks",
        ),
        Check::at_most(
            "stored chunk bytes / zstd without shuffle",
            chunk_ratio,
            1.0,
            "layout stats bytes / bare zstd of the raw chunks",
        ),
    ];
    res.notes.push(format!(
        "arrayq ingest = time in the store per load (staging + commit: chunking, shuffle, zstd, \
         CRC, sled, fsync), {} commit(s); generation ({:.0} ms) excluded, shown separately as \
         'ingest incl. generation'.",
        rep.commits.len(),
        rep.gen_time.as_secs_f64() * 1e3
    ));
    res.notes.push(
        "read = warm Snapshot::read_with of the whole cube through the map layout, returning a \
         new buffer; read_into = the same into one reused buffer; zstd = decompression of the \
         same stored payloads, already in memory, into a pre-touched buffer ('fresh buffer': \
         into a new Buffer::zeroed each run, as read_with allocates)."
            .into(),
    );
    res.notes.push(
        "stage rows time one step alone over the whole cube, on the pool: copying chunks out of \
         the slab, CodecChain::encode (shuffle + zstd + CRC), payloads as sled values \
         (apply_batch of the encoded chunks into a fresh sled db, then flush: the design the \
         store avoids); fetching every chunk (index lookup + segment read, copied out), \
         unshuffling, CRC32."
            .into(),
    );
    drop(snap);
    drop(store);
    drop(dir);
    Ok(res)
}
