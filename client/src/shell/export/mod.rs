//! `arrayq export zarr|netcdf --query SQL OUT`: a query's result as a Zarr store
//! or a NetCDF-4 file that xarray opens as a Dataset ([`layout`] says how).
//!
//! The result streams: blocks are gathered into slabs of whole chunks of one
//! column and handed to a writer thread (encoding stays off tokio's I/O threads),
//! so at most a few slabs are in memory, never the whole result twice. A failure
//! removes what was written.

pub mod layout;
mod netcdf_out;
mod zarr_out;

use arrayq_client::{Client, Error};
use layout::Layout;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The file format written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// A Zarr store of this format version (2 or 3).
    Zarr(u8),
    /// A NetCDF-4 (HDF5) file.
    Netcdf,
}

/// What `arrayq export` was asked.
pub struct Export {
    pub query: String,
    pub out: PathBuf,
    pub format: ExportFormat,
}

/// A writer of one output: coordinates are written when it is made, then the
/// columns' slabs in any order.
pub trait Sink {
    /// Stores the little-endian elements `bytes` of variable `var` for rows `rows`
    /// of the first dimension (the single value of a scalar result: rows 0..1).
    fn write_slab(&mut self, var: usize, rows: Range<u64>, bytes: Vec<u8>) -> Result<(), String>;
    /// Completes the output (consolidated metadata, closing the file).
    fn finish(self: Box<Self>) -> Result<(), String>;
}

fn create_sink(format: ExportFormat, layout: &Layout, out: &Path) -> Result<Box<dyn Sink>, String> {
    match format {
        ExportFormat::Zarr(version) => {
            Ok(Box::new(zarr_out::ZarrSink::create(layout, out, version)?))
        }
        ExportFormat::Netcdf => Ok(Box::new(netcdf_out::NetcdfSink::create(layout, out)?)),
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidInput(msg.into())
}

/// A slab for the writer: variable, rows, bytes.
type Slab = (usize, Range<u64>, Vec<u8>);

pub async fn export(client: &Client, job: &Export) -> Result<String, Error> {
    let t0 = Instant::now();
    if job.out.exists() {
        return Err(invalid(format!("{} exists already", job.out.display())));
    }
    let mut stream = client.query_stream(&job.query).await?;
    let layout = std::sync::Arc::new(Layout::of(stream.header()).map_err(invalid)?);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Slab>(2);
    let (format, out, writer_layout) = (job.format, job.out.clone(), layout.clone());
    let writer = std::thread::spawn(move || -> Result<(), String> {
        let mut sink = create_sink(format, &writer_layout, &out)?;
        while let Some((var, rows, bytes)) = rx.blocking_recv() {
            sink.write_slab(var, rows, bytes)?;
        }
        sink.finish()
    });
    let sizes: Vec<u64> = layout.vars.iter().map(|v| v.dtype.size() as u64).collect();
    let total = layout.len() * sizes.iter().sum::<u64>();
    let bar = super::load::progress_bar(total, format!("writing {}", job.out.display()));
    let sent = send_slabs(&mut stream, &layout, &sizes, &tx, &bar).await;
    drop(tx);
    let written = writer
        .join()
        .unwrap_or_else(|_| Err("the writer thread panicked".into()));
    // The writer's error explains a refused send better than the send itself.
    let outcome = match (written, sent) {
        (Err(e), _) => Err(invalid(format!("{}: {e}", job.out.display()))),
        (Ok(()), Err(e)) => Err(e),
        (Ok(()), Ok(())) => Ok(()),
    };
    if let Err(e) = outcome {
        bar.abandon();
        remove_output(&job.out);
        return Err(e);
    }
    bar.finish_and_clear();
    let shape = if layout.shape.is_empty() {
        "scalar".to_string()
    } else {
        layout
            .dim_names
            .iter()
            .zip(&layout.shape)
            .map(|(d, n)| format!("{d} {n}"))
            .collect::<Vec<_>>()
            .join(" x ")
    };
    Ok(format!(
        "exported {} variables ({}) over {shape} to {} in {:.1} s",
        layout.vars.len(),
        layout
            .vars
            .iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        job.out.display(),
        t0.elapsed().as_secs_f64()
    ))
}

/// Gathers each column's blocks (they arrive column after column, in order) into
/// slabs of `rows_per_chunk` rows and sends them.
async fn send_slabs(
    stream: &mut arrayq_client::QueryStream,
    layout: &Layout,
    sizes: &[u64],
    tx: &tokio::sync::mpsc::Sender<Slab>,
    bar: &indicatif::ProgressBar,
) -> Result<(), Error> {
    let rows_total = layout.shape.first().copied().unwrap_or(1);
    let row_elems = layout.row_elems();
    let mut column = 0usize;
    let mut buf: Vec<u8> = Vec::new();
    let mut next_row = 0u64;
    let send = |var: usize, rows: Range<u64>, bytes: Vec<u8>| async move {
        tx.send((var, rows, bytes))
            .await
            .map_err(|_| invalid("the writer stopped"))
    };
    while let Some((col, _offset, bytes)) = stream.next_raw().await? {
        if col != column {
            if !buf.is_empty() {
                let rows = next_row..rows_total;
                send(column, rows, std::mem::take(&mut buf)).await?;
            }
            (column, next_row) = (col, 0);
        }
        bar.inc(bytes.len() as u64);
        buf.extend_from_slice(&bytes);
        let slab_bytes = (layout.rows_per_chunk() * row_elems * sizes[col]) as usize;
        while slab_bytes > 0 && buf.len() >= slab_bytes {
            let rest = buf.split_off(slab_bytes);
            let rows = next_row..(next_row + layout.rows_per_chunk()).min(rows_total);
            next_row = rows.end;
            send(col, rows, std::mem::replace(&mut buf, rest)).await?;
        }
    }
    if !buf.is_empty() {
        send(column, next_row..rows_total, buf).await?;
    }
    Ok(())
}

fn remove_output(out: &Path) {
    let _ = if out.is_dir() {
        std::fs::remove_dir_all(out)
    } else {
        std::fs::remove_file(out)
    };
}
