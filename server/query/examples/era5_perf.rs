//! ERA5 Q1-Q6 through the query engine, against their decode floor.
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo run --release -p arrayq-query --example era5_perf -- \
//!     --scale M --data /work/m-store --runs 5
//! ```
//!
//! The cube (`era5`, `t2m` f32) is stored with two layouts in one array: map tiles
//! `maps (1, 153, 281)` and pencils `pencils (n_time, 8, 8)`; the planner picks one
//! per query. With `--data DIR` a store already loaded there is reused (it is loaded
//! into DIR when empty); without it the cube goes to a temporary directory. Loading
//! uses `arrayq_workload::load::load_era5_with` (bounded slabs, one commit each), then
//! vacuums the pencil versions the slabs superseded.
//!
//! For every query the example
//! - runs it `--runs` times in-process (`Engine::execute`, then drains the stream
//!   block by block; nothing is collected) and takes the median wall time;
//! - reads the layout and the chunks / bytes read from `EXPLAIN ANALYZE`;
//! - measures the *decode floor*: the same stored chunks of the chosen layout over
//!   the query's region are fetched with `Snapshot::fetch` (not timed) and only their
//!   zstd frames are decompressed (`arrayq_storage::codec::zstd_decompress`) on a
//!   2-thread rayon pool into pre-touched per-thread buffers; batches of at most
//!   64 MB of payload keep memory bounded;
//! - records the peak RSS of the query (VmHWM, reset through `/proc/self/clear_refs`
//!   before each query).
//!
//! `ratio = query time / floor`; the target is `ratio <= 1.5`, or under 5 ms when the
//! floor is under 2 ms. Q1 and Q2 also run with each layout forced
//! (`FROM era5 WITH (layout = 'name')`): the chosen plan must be within 2x of the
//! best of them. `F` (a full-size projection, streamed) is informative.
//!
//! Options: `--scale S|M` (default S), `--data DIR`, `--runs N` (default 5),
//! `--cache-mb N` (sled page cache, default 64), `--only Q1,Q6` (a subset),
//! `--no-floor`, `--no-forced`, `--check` (verify results against the formula),
//! `--slab-maps N` (maps per load slab, default a month: 744), `--no-storage` (skip
//! the storage pass), `--floor-only` (floors without query runs).
//!
//! Stable comparisons (instruction counts, no timing noise) with callgrind: the
//! difference between `--runs 3` and `--runs 1` of the same command is two runs.
//!
//! ```text
//! valgrind --tool=callgrind era5_perf --scale S --data D --only Q4 --no-floor --no-forced --runs 1
//! valgrind --tool=callgrind era5_perf --scale S --data D --only Q4 --no-floor --no-forced --runs 3
//! # floor: only the 2 floor-pool threads decompress
//! valgrind --tool=callgrind --separate-threads=yes era5_perf ... --floor-only --no-storage
//! ```

use arrayq_query::{Engine, EngineConfig, Execution, QueryContext};
use arrayq_storage::{codec, AsOf, Options, Region, Snapshot, Store};
use arrayq_workload::{era5, load, Scale};
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const ARRAY: &str = "era5";

struct Args {
    scale: Scale,
    data: Option<PathBuf>,
    runs: usize,
    cache_mb: u64,
    only: Option<Vec<String>>,
    floor: bool,
    forced: bool,
    check: bool,
    slab_maps: u64,
    /// Measure floors only (no query runs): for callgrind.
    floor_only: bool,
    /// Skip the storage pass.
    storage: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        scale: Scale::S,
        data: None,
        runs: 5,
        cache_mb: 64,
        only: None,
        floor: true,
        forced: true,
        check: false,
        slab_maps: 744,
        floor_only: false,
        storage: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{k} needs a value")))
        };
        match k.as_str() {
            "--scale" => a.scale = val().parse().unwrap_or_else(|e| usage(&format!("{e}"))),
            "--data" => a.data = Some(PathBuf::from(val())),
            "--runs" => a.runs = val().parse().unwrap_or_else(|_| usage("--runs N")),
            "--cache-mb" => a.cache_mb = val().parse().unwrap_or_else(|_| usage("--cache-mb N")),
            "--slab-maps" => a.slab_maps = val().parse().unwrap_or_else(|_| usage("--slab-maps N")),
            "--only" => {
                a.only = Some(
                    val()
                        .split(',')
                        .map(|s| s.trim().to_ascii_uppercase())
                        .collect(),
                )
            }
            "--no-floor" => a.floor = false,
            "--no-forced" => a.forced = false,
            "--check" => a.check = true,
            "--floor-only" => a.floor_only = true,
            "--no-storage" => a.storage = false,
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    a.runs = a.runs.max(1);
    a
}

fn usage(msg: &str) -> ! {
    if !msg.is_empty() {
        eprintln!("error: {msg}");
    }
    eprintln!(
        "usage: era5_perf [--scale S|M] [--data DIR] [--runs N] [--cache-mb N] [--only Q1,Q2,..] \
         [--no-floor] [--no-forced] [--check] [--slab-maps N]"
    );
    std::process::exit(2)
}

// ------------------------------------------------------------------ memory

fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Peak RSS so far (since the last reset), MB.
fn peak_mb() -> f64 {
    status_kb("VmHWM:") as f64 / 1024.0
}

fn rss_mb() -> f64 {
    status_kb("VmRSS:") as f64 / 1024.0
}

/// Resets the peak RSS to the current RSS (Linux: `echo 5 > /proc/self/clear_refs`).
/// Returns the peak before the reset.
fn reset_peak(process_peak: &mut f64) {
    *process_peak = process_peak.max(peak_mb());
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// CPU time of the whole process (all threads).
fn cpu_time() -> Duration {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: plain libc call writing into a timespec we own.
    if unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.sec as u64, ts.nsec as u32)
}

// ------------------------------------------------------------------ queries

struct Query {
    id: &'static str,
    sql: String,
    /// Index region the query reads (for the floor).
    region: Region,
    what: &'static str,
}

fn queries(scale: Scale) -> Vec<Query> {
    let n = era5::n_time(scale) as u64;
    let (nl, nm) = (era5::N_LAT as u64, era5::N_LON as u64);
    // lat 52.0 / lon 5.0 -> indices 80 / 120; the box lat 50..54 x lon 3..8.
    let (i52, j5) = (80, 120);
    let (lat_box, lon_box) = (72..89, 112..133);
    let hour = 14 * 24 + 12; // 2023-01-15T12:00Z
    let week = 7 * 24;
    vec![
        Query {
            id: "Q1",
            sql: "SELECT t2m FROM era5 WHERE lat = 52.0 AND lon = 5.0".into(),
            region: Region(vec![0..n, i52..i52 + 1, j5..j5 + 1]),
            what: "timeseries at one point",
        },
        Query {
            id: "Q2",
            sql: "SELECT t2m FROM era5 WHERE time = '2023-01-15T12:00:00Z'".into(),
            region: Region(vec![hour..hour + 1, 0..nl, 0..nm]),
            what: "map at one hour",
        },
        Query {
            id: "Q3",
            sql: "SELECT avg(t2m) FROM era5 WHERE lat BETWEEN 50 AND 54 AND lon BETWEEN 3 AND 8 \
                  GROUP BY time"
                .into(),
            region: Region(vec![0..n, lat_box, lon_box]),
            what: "hourly box mean",
        },
        Query {
            id: "Q4",
            sql: "SELECT avg(t2m) AS t2m FROM era5 WHERE time < '2023-01-08T00:00:00Z' \
                  GROUP BY lat, lon"
                .into(),
            region: Region(vec![0..week, 0..nl, 0..nm]),
            what: "mean map, first week",
        },
        Query {
            id: "Q5",
            sql: "SELECT max(t2m) FROM era5 WHERE time < '2023-01-08T00:00:00Z' \
                  GROUP BY date_trunc('day', time), lat, lon"
                .into(),
            region: Region(vec![0..week, 0..nl, 0..nm]),
            what: "daily max per cell, first week",
        },
        Query {
            id: "Q6",
            sql: "SELECT avg(t2m) FROM era5".into(),
            region: Region(vec![0..n, 0..nl, 0..nm]),
            what: "mean of the cube",
        },
        Query {
            id: "F",
            sql: "SELECT t2m FROM era5".into(),
            region: Region(vec![0..n, 0..nl, 0..nm]),
            what: "whole cube, streamed (informative)",
        },
    ]
}

/// With a layout forced: `FROM era5` -> `FROM era5 WITH (layout = 'x')`.
fn forced(sql: &str, layout: &str) -> String {
    sql.replacen(
        "FROM era5",
        &format!("FROM era5 WITH (layout = '{layout}')"),
        1,
    )
}

/// What one drained run saw.
struct Run {
    /// Peak RSS during the run over the RSS before it: memory the query itself took
    /// (storage caches already filled by earlier runs stay out).
    engine_mb: f64,
    time: Duration,
    cpu: Duration,
    peak_mb: f64,
    blocks: usize,
    values: usize,
    /// Largest block, elements.
    max_block: usize,
    checksum: f64,
    first: Vec<f64>,
}

/// Runs `sql` and drains its stream block by block. With `inspect`, also sums column 0
/// and keeps its first `keep_first` values (not done in timed runs: converting a
/// full-size result would cost more than the query).
#[inline(never)]
fn run_query(
    engine: &Engine,
    sql: &str,
    inspect: bool,
    keep_first: usize,
    process_peak: &mut f64,
) -> Run {
    reset_peak(process_peak);
    let rss_before = rss_mb();
    let c = cpu_time();
    let t = Instant::now();
    let mut stream = match engine.execute(sql, &QueryContext::default()) {
        Ok(Execution::Rows(s)) => s,
        Ok(_) => panic!("not a query: {sql}"),
        Err(e) => panic!("{}", e.render(sql)),
    };
    let (mut blocks, mut values, mut max_block, mut checksum) = (0, 0, 0, 0.0);
    let mut first = Vec::new();
    for b in stream.by_ref() {
        let b = b.unwrap_or_else(|e| panic!("{}", e.render(sql)));
        blocks += 1;
        values += b.data.len();
        max_block = max_block.max(b.data.len());
        if inspect && b.column == 0 {
            let v = b.data.to_f64_vec();
            checksum += v.iter().sum::<f64>();
            if first.len() < keep_first {
                let k = (keep_first - first.len()).min(v.len());
                first.extend_from_slice(&v[..k]);
            }
        }
    }
    let time = t.elapsed();
    let cpu = cpu_time().saturating_sub(c);
    if std::env::var("ERA5_PERF_STAGES").is_ok() {
        let st = stream.stats();
        let parts: Vec<String> = st
            .stages
            .iter()
            .map(|(n, d)| format!("{n} {:.3}", d.as_secs_f64() * 1e3))
            .collect();
        eprintln!("  stages (ms): {}", parts.join(", "));
    }
    let peak = peak_mb();
    Run {
        time,
        cpu,
        peak_mb: peak,
        engine_mb: peak - rss_before,
        blocks,
        values,
        max_block,
        checksum,
        first,
    }
}

/// Timings of one query, run after run (query and floor alternate).
#[derive(Default)]
struct Measured {
    time: Vec<Duration>,
    cpu: Vec<Duration>,
    floor: Vec<Duration>,
    floor_cpu: Vec<Duration>,
    storage: Vec<Duration>,
    peak: f64,
    engine: f64,
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

// ------------------------------------------------------------------ floor

/// The decode floor of one query: its stored chunks (through the chosen layout),
/// decompressed by bare zstd on a 2-thread pool.
struct Floor<'a> {
    snap: &'a Snapshot,
    layout: u16,
    attr: u16,
    chunks: Vec<Vec<u64>>,
    pool: &'a rayon::ThreadPool,
    /// One pre-touched output buffer per pool thread.
    bufs: Vec<Mutex<Vec<u8>>>,
    /// Stored chunks and their bytes (as fetched).
    n: u64,
    stored: u64,
}

impl<'a> Floor<'a> {
    fn new(
        snap: &'a Snapshot,
        layout: usize,
        region: &Region,
        pool: &'a rayon::ThreadPool,
    ) -> Floor<'a> {
        let schema = snap.schema();
        let l = &schema.layouts[layout];
        let raw_len = l.chunk_len() * schema.attrs[0].dtype.size();
        let mut f = Floor {
            snap,
            layout: l.id,
            attr: schema.attrs[0].id,
            chunks: region.chunks(&l.chunk_shape),
            pool,
            bufs: (0..pool.current_num_threads())
                .map(|_| Mutex::new(vec![1u8; raw_len]))
                .collect(),
            n: 0,
            stored: 0,
        };
        // Warm-up (thread-local zstd contexts, caches); counts the chunks.
        let (_, _, n, stored) = f.pass();
        f.n = n;
        f.stored = stored;
        f
    }

    /// What storage alone takes to deliver the same chunks: `Snapshot::read_into` of
    /// every chunk (clipped to the array) into a reused buffer per pool thread, on the
    /// same 2-thread pool: fetch from sled, checksums, zstd, unshuffle. The engine
    /// cannot be faster than this; query / this is the engine's own overhead.
    #[inline(never)]
    fn storage_pass(&self, layout: usize) -> Duration {
        let schema = self.snap.schema();
        let cs = &schema.layouts[layout].chunk_shape;
        let shape = self.snap.shape();
        let bufs: Vec<Mutex<Option<arrayq_storage::Buffer>>> = (0..self.pool.current_num_threads())
            .map(|_| Mutex::new(None))
            .collect();
        let t = Instant::now();
        self.pool.install(|| {
            self.chunks.par_iter().for_each(|c| {
                let r = Region(
                    c.iter()
                        .zip(cs)
                        .zip(&shape)
                        .map(|((&c, &n), &len)| c * n..((c + 1) * n).min(len))
                        .collect(),
                );
                let i = rayon::current_thread_index().unwrap_or(0);
                let mut b = bufs[i].lock().unwrap();
                if b.as_ref().map(|b| b.shape()) != Some(r.shape().as_slice()) {
                    *b = Some(arrayq_storage::Buffer::zeroed(
                        schema.attrs[0].dtype,
                        &r.shape(),
                    ));
                }
                let opts = arrayq_storage::ReadOptions {
                    layout: Some(layout),
                    ..Default::default()
                };
                self.snap
                    .read_into(0, &r, opts, b.as_mut().unwrap())
                    .expect("read_into");
            });
        });
        t.elapsed()
    }

    /// One timed pass: (wall, cpu) of the decompression only.
    fn run(&self) -> (Duration, Duration) {
        let (w, c, _, _) = self.pass();
        (w, c)
    }

    /// The timed part of the floor (a separate function, so that callgrind can collect
    /// it alone: `--toggle-collect='*Floor*decompress*'`).
    #[inline(never)]
    fn decompress<V: std::ops::Deref<Target = [u8]> + Sync>(&self, batch: &[V]) {
        self.pool.install(|| {
            batch.par_iter().for_each(|v| {
                let i = rayon::current_thread_index().unwrap_or(0);
                let mut out = self.bufs[i].lock().unwrap();
                let payload = &v[..v.len() - 4]; // the zstd frame without its CRC32
                codec::zstd_decompress(payload, &mut out).expect("zstd");
            });
        });
    }

    fn pass(&self) -> (Duration, Duration, u64, u64) {
        // Batches of at most 64 MB of payload keep memory bounded; fetching is not timed.
        const BATCH: u64 = 64 << 20;
        let (mut wall, mut cpu) = (Duration::ZERO, Duration::ZERO);
        let (mut n, mut stored) = (0u64, 0u64);
        let mut k = 0;
        while k < self.chunks.len() {
            let mut batch = Vec::new();
            let mut bytes = 0u64;
            while k < self.chunks.len() && bytes < BATCH {
                if let Some((_, v)) = self
                    .snap
                    .fetch(self.layout, self.attr, &self.chunks[k])
                    .expect("fetch")
                {
                    bytes += v.len() as u64;
                    batch.push(v);
                }
                k += 1;
            }
            n += batch.len() as u64;
            stored += bytes;
            let c = cpu_time();
            let t = Instant::now();
            self.decompress(&batch);
            wall += t.elapsed();
            cpu += cpu_time().saturating_sub(c);
        }
        (wall, cpu, n, stored)
    }
}

// ------------------------------------------------------------------ load

fn open_or_load(args: &Args) -> (Store, Option<tempfile::TempDir>) {
    let opts = Options {
        cache_bytes: args.cache_mb << 20,
        ..Default::default()
    };
    let (dir, tmp) = match &args.data {
        Some(d) => (d.clone(), None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("era5_perf-")
                .tempdir()
                .expect("a temporary directory");
            (t.path().to_path_buf(), Some(t))
        }
    };
    let store = Store::open_with(&dir, opts).expect("open store");
    let n = era5::n_time(args.scale) as u64;
    if let Ok(snap) = store.snapshot(ARRAY, AsOf::Latest) {
        let shape = snap.shape();
        let names: Vec<&str> = snap
            .schema()
            .layouts
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(
            shape,
            vec![n, era5::N_LAT as u64, era5::N_LON as u64],
            "{} holds an era5 of another scale",
            dir.display()
        );
        assert_eq!(
            names,
            ["maps", "pencils"],
            "unexpected layouts in {}",
            dir.display()
        );
        eprintln!(
            "reusing {} (version {}, {:.0} MB on disk)",
            dir.display(),
            snap.version(),
            store.size_on_disk().unwrap_or(0) as f64 / 1e6
        );
        return (store, tmp);
    }
    let pencils = load::pencils(args.scale);
    eprintln!(
        "loading era5 {} into {} (maps {:?} + pencils {:?}, slabs of {} maps)",
        args.scale,
        dir.display(),
        load::MAP_TILES,
        pencils,
        args.slab_maps
    );
    let lopts = load::Era5LoadOptions {
        progress: true,
        slab_cells: args.slab_maps * era5::MAP_CELLS as u64,
    };
    let rep = load::load_era5_with(
        &store,
        ARRAY,
        args.scale,
        &[("maps", load::MAP_TILES), ("pencils", pencils)],
        3,
        &lopts,
    )
    .expect("load era5");
    let head = store
        .snapshot(ARRAY, AsOf::Latest)
        .expect("snapshot")
        .version();
    let vac = store.vacuum(ARRAY, head).expect("vacuum");
    store.flush().expect("flush");
    eprintln!(
        "loaded in {:.1} s ({} commits, slab {:?}, store {:.1} s, {:.0} MB stored, {:.0} MB written); \
         vacuum removed {} superseded chunk versions; peak RSS of the load {:.0} MB",
        rep.total_time.as_secs_f64(),
        rep.commits.len(),
        rep.slab,
        rep.write_time.as_secs_f64(),
        rep.stored_bytes as f64 / 1e6,
        rep.bytes_written as f64 / 1e6,
        vac.chunks_removed,
        peak_mb()
    );
    (store, tmp)
}

// ------------------------------------------------------------------ checks

/// Reference answers from the formula (f64), streamed over the region hour by hour.
fn check(q: &Query, run: &Run, scale: Scale) {
    let n = era5::n_time(scale);
    let rel = |got: f64, want: f64| (got - want).abs() / want.abs().max(1e-12);
    let (want_sum, exact_first): (f64, Option<Vec<f64>>) = match q.id {
        "Q1" => {
            let v: Vec<f64> = (0..n)
                .map(|h| era5::value(h as u64, 80, 120) as f64)
                .collect();
            (v.iter().sum(), Some(v))
        }
        "Q2" => {
            let m = era5::block(348..349, 0..era5::N_LAT, 0..era5::N_LON);
            let v: Vec<f64> = m.iter().map(|&x| x as f64).collect();
            (v.iter().sum(), Some(v))
        }
        "Q3" => {
            let mut s = 0.0;
            for h in 0..n {
                let b = era5::block(h..h + 1, 72..89, 112..133);
                s += b.iter().map(|&x| x as f64).sum::<f64>() / b.len() as f64;
            }
            (s, None)
        }
        "Q4" | "Q5" => {
            let b = era5::block(0..168, 0..era5::N_LAT, 0..era5::N_LON);
            let m = era5::MAP_CELLS;
            if q.id == "Q4" {
                let mut sums = vec![0.0f64; m];
                for map in b.chunks_exact(m) {
                    for (s, &x) in sums.iter_mut().zip(map) {
                        *s += x as f64;
                    }
                }
                (sums.iter().map(|s| s / 168.0).sum(), None)
            } else {
                let mut s = 0.0;
                for day in b.chunks_exact(24 * m) {
                    let mut mx = vec![f64::NEG_INFINITY; m];
                    for map in day.chunks_exact(m) {
                        for (a, &x) in mx.iter_mut().zip(map) {
                            *a = a.max(x as f64);
                        }
                    }
                    s += mx.iter().sum::<f64>();
                }
                (s, None)
            }
        }
        "Q6" | "F" => {
            let mut s = 0.0;
            for h0 in (0..n).step_by(96) {
                let b = era5::block(h0..(h0 + 96).min(n), 0..era5::N_LAT, 0..era5::N_LON);
                s += b.iter().map(|&x| x as f64).sum::<f64>();
            }
            let cells = (n * era5::MAP_CELLS) as f64;
            (if q.id == "Q6" { s / cells } else { s }, None)
        }
        _ => return,
    };
    let ok_sum = rel(run.checksum, want_sum) < 1e-9;
    let ok_first = exact_first
        .map(|v| run.first.len() == v.len() && run.first.iter().zip(&v).all(|(a, b)| a == b))
        .unwrap_or(true);
    println!(
        "check {}: checksum {:.6} vs {:.6} (rel {:.1e}) {}{}",
        q.id,
        run.checksum,
        want_sum,
        rel(run.checksum, want_sum),
        if ok_sum && ok_first { "OK" } else { "MISMATCH" },
        if ok_first { "" } else { " (values differ)" }
    );
}

// ------------------------------------------------------------------ main

fn ms(d: Duration) -> String {
    let x = d.as_secs_f64() * 1e3;
    if x < 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.1}")
    }
}

fn main() {
    let args = parse_args();
    let mut process_peak = 0.0f64;
    let threads = rayon::current_num_threads();
    if std::env::var("RAYON_NUM_THREADS").is_err() {
        eprintln!("note: RAYON_NUM_THREADS is not set; the engine uses {threads} threads");
    }
    let (store, _tmp) = open_or_load(&args);
    reset_peak(&mut process_peak);
    let engine = Engine::new(
        store.clone(),
        EngineConfig {
            max_result_bytes: u64::MAX,
            ..Default::default()
        },
    );
    let snap = store.snapshot(ARRAY, AsOf::Latest).expect("snapshot");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool");
    let layouts: Vec<String> = snap
        .schema()
        .layouts
        .iter()
        .map(|l| l.name.clone())
        .collect();
    println!(
        "era5 {} ({} x {} x {} f32, {:.0} MB raw), layouts {}; engine threads {threads}, floor pool 2, \
         runs {}, sled cache {} MB; RSS after open {:.0} MB",
        args.scale,
        snap.shape()[0],
        snap.shape()[1],
        snap.shape()[2],
        snap.shape().iter().product::<u64>() as f64 * 4.0 / 1e6,
        snap.schema()
            .layouts
            .iter()
            .zip(&snap.meta().stats)
            .map(|(l, s)| format!(
                "{} {:?} ({} chunks, {:.0} MB)",
                l.name,
                l.chunk_shape,
                s.chunks,
                s.bytes as f64 / 1e6
            ))
            .collect::<Vec<_>>()
            .join(" + "),
        args.runs,
        args.cache_mb,
        rss_mb()
    );

    let mut rows = Vec::new();
    let mut forced_rows = Vec::new();
    for q in queries(args.scale) {
        if let Some(only) = &args.only {
            if !only.iter().any(|o| o == q.id) {
                continue;
            }
        }
        // EXPLAIN ANALYZE: the layout chosen, chunks and bytes read (and a warm-up).
        let ex = engine
            .explain(&q.sql, true, &QueryContext::default())
            .unwrap_or_else(|e| panic!("{}", e.render(&q.sql)));
        let a = ex.analyze.clone().expect("analyze");
        let layout = snap.schema().layout_index(&ex.layout).expect("layout");
        if std::env::var("ERA5_PERF_EXPLAIN").is_ok() {
            eprintln!("{}", ex.text);
        }
        let floor = args
            .floor
            .then(|| Floor::new(&snap, layout, &q.region, &pool));
        if let Some(f) = &floor {
            if f.n != a.chunks_read || f.stored != a.bytes_read {
                println!(
                    "note {}: the floor fetched {} chunks / {} B, the query read {} / {} B",
                    q.id, f.n, f.stored, a.chunks_read, a.bytes_read
                );
            }
        }
        let keep = if matches!(q.id, "Q1" | "Q2") {
            usize::MAX
        } else {
            0
        };
        // Query and floor alternate, so load from other processes hits both alike.
        let mut m = Measured::default();
        let last = run_query(&engine, &q.sql, true, keep, &mut process_peak);
        for _ in 0..args.runs {
            if !args.floor_only {
                let r = run_query(&engine, &q.sql, false, 0, &mut process_peak);
                m.time.push(r.time);
                m.cpu.push(r.cpu);
                m.peak = m.peak.max(r.peak_mb);
                m.engine = m.engine.max(r.engine_mb);
            }
            if let Some(f) = &floor {
                let (w, c) = f.run();
                m.floor.push(w);
                m.floor_cpu.push(c);
                if args.storage {
                    m.storage.push(f.storage_pass(layout));
                }
            }
        }
        if args.floor_only {
            m.time = m.floor.clone();
            m.cpu = m.floor_cpu.clone();
        }
        if m.storage.is_empty() {
            m.storage = m.time.clone();
        }
        if args.check {
            check(&q, &last, args.scale);
        }
        eprintln!(
            "{} ({}): {} ms (min {} ms), layout {}, {} values in {} blocks (largest {}), peak RSS {:.0} MB (+{:.0} MB during warm runs)",
            q.id,
            q.what,
            ms(median(m.time.clone())),
            ms(*m.time.iter().min().unwrap()),
            ex.layout,
            last.values,
            last.blocks,
            last.max_block,
            m.peak,
            m.engine
        );
        let chosen = median(m.time.clone());
        rows.push((q.id, ex.layout.clone(), a, m, last.blocks));
        if args.forced && matches!(q.id, "Q1" | "Q2") {
            for l in &layouts {
                let sql = forced(&q.sql, l);
                let first = run_query(&engine, &sql, true, usize::MAX, &mut process_peak).first;
                let ts: Vec<Duration> = (0..args.runs)
                    .map(|_| run_query(&engine, &sql, false, 0, &mut process_peak).time)
                    .collect();
                let same = first == last.first;
                forced_rows.push((q.id, l.clone(), median(ts), chosen, same));
            }
        }
    }
    reset_peak(&mut process_peak);

    println!();
    println!(
        "| query | layout | chunks | stored MB | decoded MB | time ms (min) | floor ms (min) | ratio | paired | cpu ratio | storage ms | query / storage | target | ok | peak RSS MB | +RSS MB | blocks |"
    );
    println!(
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |"
    );
    for (id, layout, a, m, blocks) in &rows {
        let t = median(m.time.clone());
        let tmin = *m.time.iter().min().unwrap();
        let (fs, ratio, paired, cpu, st, target, ok) = if m.floor.is_empty() {
            let d = "-".to_string();
            let st = "- | -".to_string();
            (d.clone(), d.clone(), d.clone(), d.clone(), st, d.clone(), d)
        } else {
            let sm = median(m.storage.clone());
            let st = format!(
                "{} | {:.2}",
                ms(sm),
                t.as_secs_f64() / sm.as_secs_f64().max(1e-9)
            );
            let f = median(m.floor.clone());
            let fmin = *m.floor.iter().min().unwrap();
            let ratio = t.as_secs_f64() / f.as_secs_f64().max(1e-9);
            let paired: Vec<f64> = m
                .time
                .iter()
                .zip(&m.floor)
                .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64().max(1e-9))
                .collect();
            let cpu = median(m.cpu.clone()).as_secs_f64()
                / median(m.floor_cpu.clone()).as_secs_f64().max(1e-9);
            let small = f < Duration::from_millis(2);
            let (target, ok) = if small {
                ("< 5 ms".to_string(), t < Duration::from_millis(5))
            } else {
                ("<= 1.5x".to_string(), ratio <= 1.5)
            };
            (
                format!("{} ({})", ms(f), ms(fmin)),
                format!("{ratio:.2}"),
                format!("{:.2}", median_f(paired)),
                format!("{cpu:.2}"),
                st,
                target,
                if *id == "F" {
                    "-".to_string()
                } else if ok {
                    "yes".into()
                } else {
                    "**no**".into()
                },
            )
        };
        println!(
            "| {id} | {layout} | {} | {:.2} | {:.1} | {} ({}) | {fs} | {ratio} | {paired} | {cpu} | {st} | {target} | {ok} | {:.0} | {:.0} | {blocks} |",
            a.chunks_read,
            a.bytes_read as f64 / 1e6,
            a.bytes_decoded as f64 / 1e6,
            ms(t),
            ms(tmin),
            m.peak,
            m.engine,
        );
    }
    if !forced_rows.is_empty() {
        println!();
        println!(
            "| query | forced layout | time ms | chosen plan ms | chosen / this | same values |"
        );
        println!("| --- | --- | ---: | ---: | ---: | --- |");
        for (id, l, t, chosen, same) in &forced_rows {
            println!(
                "| {id} | {l} | {} | {} | {:.2} | {} |",
                ms(*t),
                ms(*chosen),
                chosen.as_secs_f64() / t.as_secs_f64(),
                if *same { "yes" } else { "NO" }
            );
        }
        for id in ["Q1", "Q2"] {
            let mine: Vec<_> = forced_rows.iter().filter(|r| r.0 == id).collect();
            if let Some(best) = mine.iter().min_by_key(|r| r.2) {
                let ratio = best.3.as_secs_f64() / best.2.as_secs_f64();
                println!(
                    "{id}: chosen plan / best single layout ({}) = {ratio:.2} (target <= 2): {}",
                    best.1,
                    if ratio <= 2.0 { "ok" } else { "MISS" }
                );
            }
        }
    }
    println!();
    println!(
        "peak RSS of the process: {:.0} MB (max over phases; VmHWM), now {:.0} MB",
        process_peak,
        rss_mb()
    );
}
