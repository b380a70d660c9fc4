//! `arrayq load npy` and `arrayq demo era5`: writing data over gRPC.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use arrayq_client::client::write_header;
use arrayq_client::format::fmt_count;
use arrayq_client::npy::{read_npy, NpyArray};
use arrayq_client::result::dtype_from_wire;
use arrayq_client::{Client, Code, DType, Error};
use arrayq_format::Scalar;
use arrayq_proto::v1::WriteRequest;
use arrayq_workload::plan::{self as load, era5_create_sql};
use arrayq_workload::{era5, Scale};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte progress bar on stderr (hidden when stderr is not a terminal).
pub(crate) fn progress_bar(total: u64, msg: String) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(msg);
    bar
}

/// Sends what `read` produces (on its own thread, so decoding stays off tokio's
/// I/O threads) as one streamed Write call after `header`: one commit, or none
/// when `read` fails (its error ends the stream short, and the server commits
/// nothing of an incomplete Write).
pub(crate) async fn stream_write<F>(
    client: &Client,
    header: arrayq_proto::v1::WriteHeader,
    bar: &ProgressBar,
    read: F,
) -> Result<arrayq_proto::v1::WriteResponse, Error>
where
    F: FnOnce(&tokio::sync::mpsc::Sender<WriteRequest>) -> Result<(), String> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<WriteRequest>(8);
    let (err_tx, err_rx) = tokio::sync::oneshot::channel::<String>();
    let reader = std::thread::spawn(move || {
        if tx.blocking_send(WriteRequest::header(header)).is_err() {
            return;
        }
        if let Err(e) = read(&tx) {
            let _ = err_tx.send(e);
            // Dropping `tx` now ends the stream short: the server commits nothing.
        }
    });
    let write = client.write_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    tokio::pin!(write);
    let result = tokio::select! {
        r = &mut write => r,
        Ok(e) = err_rx => Err(Error::InvalidInput(e)),
    };
    let _ = reader.join();
    if result.is_err() {
        bar.abandon();
    } else {
        bar.finish_and_clear();
    }
    result
}

/// Sends one attribute's little-endian bytes in Write blocks, counting them on
/// the bar; `offset` is where the next byte of attribute `k` goes.
pub(crate) fn send_blocks(
    tx: &tokio::sync::mpsc::Sender<WriteRequest>,
    bar: &ProgressBar,
    k: usize,
    offset: &mut u64,
    bytes: &[u8],
) -> Result<(), String> {
    for piece in bytes.chunks(arrayq_proto::MAX_BLOCK_BYTES) {
        bar.inc(piece.len() as u64);
        tx.blocking_send(WriteRequest::data(k as u32, *offset, piece.to_vec()))
            .map_err(|_| "the server ended the write".to_string())?;
        *offset += piece.len() as u64;
    }
    Ok(())
}

/// Converts little-endian elements of `from` to `to` (numpy `astype`
/// semantics: saturating float-to-int, wrapping never).
fn convert(data: &[u8], from: DType, to: DType) -> Vec<u8> {
    let n = data.len() / from.size();
    let mut out = Vec::with_capacity(n * to.size());
    for e in data.chunks_exact(from.size()) {
        let v = Scalar::from_le_bytes(from, e);
        out.extend_from_slice(&v.to_le_bytes(to));
    }
    debug_assert_eq!(out.len(), n * to.size());
    out
}

/// Whether every value of `from` is representable in `to`.
fn lossless(from: DType, to: DType) -> bool {
    use DType::*;
    matches!(
        (from, to),
        (F32, F64)
            | (I8, I16 | I32 | I64 | F32 | F64)
            | (I16, I32 | I64 | F32 | F64)
            | (I32, I64 | F64)
            | (U8, I16 | I32 | I64 | U16 | U32 | U64 | F32 | F64)
            | (U16, I32 | I64 | U32 | U64 | F32 | F64)
            | (U32, I64 | U64 | F64)
            | (Bool, _)
    )
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidInput(msg.into())
}

/// `arrayq load npy FILE --array A --attr X [--start i,j,k]`.
pub async fn load_npy(
    client: &Client,
    file: &Path,
    array: &str,
    attr: &str,
    start: Option<Vec<u64>>,
) -> Result<String, Error> {
    let f = std::fs::File::open(file)
        .map_err(|e| invalid(format!("cannot open {}: {e}", file.display())))?;
    let npy: NpyArray = read_npy(std::io::BufReader::new(f))
        .map_err(|e| invalid(format!("{}: {e}", file.display())))?;
    let desc = client.describe_with(array, 1, true).await?;
    let schema = desc
        .schema
        .ok_or_else(|| Error::Protocol("DescribeArray without schema".into()))?;
    let a = schema
        .attributes
        .iter()
        .find(|a| a.name == attr)
        .ok_or_else(|| {
            let names: Vec<&str> = schema.attributes.iter().map(|a| a.name.as_str()).collect();
            invalid(format!(
                "array '{array}' has no attribute '{attr}' (attributes: {})",
                names.join(", ")
            ))
        })?;
    let target = dtype_from_wire(a.dtype).map_err(|e| Error::Protocol(e.to_string()))?;
    let rank = schema.dimensions.len();
    if npy.shape.len() > rank {
        return Err(invalid(format!(
            "the file has {} dimensions {:?}, the array only {rank}",
            npy.shape.len(),
            npy.shape
        )));
    }
    // A lower-rank file fills the trailing dimensions: (lat, lon) into
    // (time, lat, lon) at one time index.
    let mut shape = vec![1usize; rank - npy.shape.len()];
    shape.extend_from_slice(&npy.shape);
    let start = start.unwrap_or_else(|| vec![0; rank]);
    if start.len() != rank {
        return Err(invalid(format!(
            "--start has {} entries, the array has {rank} dimensions ({})",
            start.len(),
            schema
                .dimensions
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if npy.is_empty() {
        return Err(invalid("the file holds no values"));
    }
    let region: Vec<std::ops::Range<u64>> = start
        .iter()
        .zip(&shape)
        .map(|(&s, &n)| s..s + n as u64)
        .collect();
    let data = if npy.dtype == target {
        npy.data
    } else {
        if !lossless(npy.dtype, target) {
            eprintln!(
                "warning: converting {} values to {} may lose precision",
                npy.dtype, target
            );
        }
        convert(&npy.data, npy.dtype, target)
    };
    let header = write_header(array, &[attr], &region, Vec::new())?;
    let total = data.len() as u64;
    let bar = progress_bar(total, format!("loading {}", file.display()));
    let b = bar.clone();
    let r = client
        .write_raw_with_progress(header, vec![data], move |n| b.inc(n as u64))
        .await;
    bar.finish_and_clear();
    let r = r?;
    let corner: Vec<String> = start.iter().map(|s| s.to_string()).collect();
    Ok(format!(
        "wrote {} cells of {array}.{attr} at [{}], version {}",
        fmt_count(r.cells_written as usize),
        corner.join(", "),
        r.version
    ))
}

/// Cells per write of `arrayq demo era5` (a slab aligned to the chunk grid;
/// 8 Mi cells = 32 MiB of f32).
const DEMO_SLAB_CELLS: u64 = 8 << 20;

/// `arrayq demo era5 --scale S [--chunks a,b,c] [--name N]`: creates the
/// ERA5-like cube with the workload's schema and writes it in slabs.
pub async fn demo_era5(
    client: &Client,
    scale: Scale,
    chunks: Option<[u64; 3]>,
    name: &str,
    replace: bool,
    zstd_level: i32,
) -> Result<String, Error> {
    let t0 = Instant::now();
    let chunk = chunks.unwrap_or(load::BALANCED);
    let create = era5_create_sql(name, scale, "primary", chunk, zstd_level);
    if replace {
        match client.drop_array(name).await {
            Ok(()) => eprintln!("dropped the existing array \"{name}\""),
            Err(e) if e.code() == Code::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    client
        .create_array_sql(&create)
        .await
        .map_err(|e| match e.code() {
            Code::AlreadyExists => invalid(format!(
                "array \"{name}\" already exists: use --replace to drop it first, or --name"
            )),
            _ => e,
        })?;
    let shape = [
        era5::n_time(scale) as u64,
        era5::N_LAT as u64,
        era5::N_LON as u64,
    ];
    let slab = load::plan_slab(shape, chunk, DEMO_SLAB_CELLS);
    let mut boxes = Vec::new();
    for t in (0..shape[0]).step_by(slab[0] as usize) {
        for i in (0..shape[1]).step_by(slab[1] as usize) {
            for j in (0..shape[2]).step_by(slab[2] as usize) {
                boxes.push([
                    t..(t + slab[0]).min(shape[0]),
                    i..(i + slab[1]).min(shape[1]),
                    j..(j + slab[2]).min(shape[2]),
                ]);
            }
        }
    }
    let total: u64 = shape.iter().product::<u64>() * 4;
    let bar = progress_bar(total, format!("loading {name} ({scale:?})"));
    let generate = |b: [std::ops::Range<u64>; 3]| {
        tokio::task::spawn_blocking(move || {
            let u = |r: &std::ops::Range<u64>| r.start as usize..r.end as usize;
            let values = era5::block(u(&b[0]), u(&b[1]), u(&b[2]));
            let mut bytes = Vec::with_capacity(values.len() * 4);
            for v in values {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            (b, bytes)
        })
    };
    let mut pending = boxes.first().cloned().map(generate);
    let mut version = 0;
    let mut k = 0;
    while let Some(task) = pending.take() {
        let (b, bytes) = task
            .await
            .map_err(|e| invalid(format!("generator failed: {e}")))?;
        k += 1;
        // Generate the next slab while this one is being sent.
        pending = boxes.get(k).cloned().map(generate);
        let header = write_header(name, &[load::ERA5_ATTR], &b, Vec::new())?;
        let pb = bar.clone();
        let r = client
            .write_raw_with_progress(header, vec![bytes], move |n| pb.inc(n as u64))
            .await;
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                bar.abandon();
                return Err(e);
            }
        };
        version = r.version;
    }
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    Ok(format!(
        "loaded {name}: time={} x lat={} x lon={} ({} cells of t2m, {} writes, {:.1} MB in {secs:.1} s, {:.1} MB/s), version {version}",
        shape[0],
        shape[1],
        shape[2],
        fmt_count((total / 4) as usize),
        boxes.len(),
        total as f64 / 1e6,
        total as f64 / 1e6 / secs.max(1e-9),
    ))
}

/// Parses "a,b,c" into integers.
pub fn parse_list(s: &str) -> Result<Vec<u64>, String> {
    s.split(',')
        .map(|p| {
            p.trim()
                .parse::<u64>()
                .map_err(|_| format!("'{p}' is not a non-negative integer"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let f64s: Vec<u8> = [1.5f64, -2.0, 1e10]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let f32s = convert(&f64s, DType::F64, DType::F32);
        assert_eq!(f32s.len(), 12);
        assert_eq!(f32::from_le_bytes(f32s[4..8].try_into().unwrap()), -2.0);
        let i16s = convert(&f64s, DType::F64, DType::I16);
        assert_eq!(i16::from_le_bytes(i16s[2..4].try_into().unwrap()), -2);
        // Out of range saturates, like `as`.
        assert_eq!(i16::from_le_bytes(i16s[4..6].try_into().unwrap()), i16::MAX);
        assert_eq!(i16::from_le_bytes(i16s[0..2].try_into().unwrap()), 1);
        assert!(lossless(DType::F32, DType::F64));
        assert!(!lossless(DType::F64, DType::F32));
        assert_eq!(parse_list("1, 2,3").unwrap(), vec![1, 2, 3]);
        assert!(parse_list("1,x").is_err());
    }
}
