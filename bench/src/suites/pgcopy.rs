//! The energy portfolio as PostgreSQL binary `COPY` streams, straight from the
//! generator: `energy_pg.py --stdin-copy` passes them to the server untouched, so
//! no CSV is written, parsed or staged (at scale M that file would hold 350 M rows).
//!
//! On the pipe each layout is a sequence of frames (`u32` little-endian length, then
//! that many bytes of the COPY stream); a frame of length 0 ends the layout.

use std::io::Write;
use std::sync::mpsc::sync_channel;

use anyhow::{Context, Result};
use arrayq_workload::{energy, Scale};
use chrono::NaiveDate;
use indicatif::ProgressBar;
use rayon::prelude::*;

/// A table layout of energy_pg.py.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `power_rows(asset_id int, ts timestamptz, version int, value real)`, in ingest
    /// order: round by round, then asset, day, quarter (as the rounds arrive).
    Rows,
    /// `power_day_f4(asset_id int, day date, version int, t0 timestamptz, vals real[])`,
    /// by asset, day, version.
    RealArray,
    /// `power_day_f8`, the same with `double precision[]`.
    Float8Array,
}

impl Layout {
    /// The name energy_pg.py uses (`--layouts`, `--load`, `loaded.json`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Layout::Rows => "rows",
            Layout::RealArray => "real_array",
            Layout::Float8Array => "float8_array",
        }
    }

    /// Bytes of one array element (0 for the row layout).
    fn elem_bytes(self) -> usize {
        match self {
            Layout::Rows => 0,
            Layout::RealArray => 4,
            Layout::Float8Array => 8,
        }
    }
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z).
const PG_EPOCH_US: i64 = 946_684_800_000_000;
/// Assets generated per step: a few tens of MB of stream, so memory stays flat.
const BAND: usize = 25;
/// OIDs of `float4` and `float8` (array element types).
const FLOAT4_OID: u32 = 700;
const FLOAT8_OID: u32 = 701;

fn pg_ts(q: usize) -> i64 {
    energy::ts_ns(q) / 1000 - PG_EPOCH_US
}

/// PostgreSQL `date` (days since 2000-01-01) of local day `d` (0 = 2023-01-01).
fn pg_date(d: usize) -> i32 {
    let pg = NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date");
    let day0 = NaiveDate::from_ymd_opt(2023, 1, 1).expect("valid date");
    ((day0 - pg).num_days() + d as i64) as i32
}

fn header(out: &mut Vec<u8>) {
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn row_tuple(out: &mut Vec<u8>, asset: i32, q: usize, version: u32, value: f32) {
    out.extend_from_slice(&4i16.to_be_bytes());
    field(out, &asset.to_be_bytes());
    field(out, &pg_ts(q).to_be_bytes());
    field(out, &(version as i32).to_be_bytes());
    field(out, &value.to_be_bytes());
}

/// Bytes of one array tuple of `n` values.
fn array_tuple_bytes(n: usize, elem: usize) -> usize {
    2 + 3 * (4 + 4) + (4 + 8) + 4 + 20 + n * (4 + elem)
}

fn array_tuple(
    out: &mut Vec<u8>,
    layout: Layout,
    asset: i32,
    d: usize,
    q0: usize,
    v: u32,
    vals: &[f32],
) {
    let elem = layout.elem_bytes();
    out.extend_from_slice(&5i16.to_be_bytes());
    field(out, &asset.to_be_bytes());
    field(out, &pg_date(d).to_be_bytes());
    field(out, &(v as i32).to_be_bytes());
    field(out, &pg_ts(q0).to_be_bytes());
    // One-dimensional array without NULLs, lower bound 1.
    out.extend_from_slice(&((20 + vals.len() * (4 + elem)) as i32).to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    let oid = if elem == 4 { FLOAT4_OID } else { FLOAT8_OID };
    out.extend_from_slice(&oid.to_be_bytes());
    out.extend_from_slice(&(vals.len() as i32).to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    for &x in vals {
        out.extend_from_slice(&(elem as i32).to_be_bytes());
        if elem == 4 {
            out.extend_from_slice(&x.to_be_bytes());
        } else {
            // f32 -> f64 is exact, as the CSV path's Python floats were.
            out.extend_from_slice(&f64::from(x).to_be_bytes());
        }
    }
}

/// `(tuples, stream bytes)` of `layout` for asset ids `1..=n_assets` of `scale`.
pub(crate) fn count(scale: Scale, layout: Layout, n_assets: usize) -> (u64, u64) {
    let (_, n_days) = energy::sizes(scale);
    let days = energy::local_days(n_days);
    let (mut tuples, mut bytes) = (0u64, 19u64 + 2);
    for a in 1..=n_assets as i64 {
        for (d, &(_, n)) in days.iter().enumerate() {
            let v = u64::from(energy::versions(a, d));
            if layout == Layout::Rows {
                tuples += v * n as u64;
                bytes += v * n as u64 * 38;
            } else {
                tuples += v;
                bytes += v * array_tuple_bytes(n, layout.elem_bytes()) as u64;
            }
        }
    }
    (tuples, bytes)
}

/// The stream of `layout` for asset ids `1..=n_assets`, one band of assets at a
/// time: `(bytes, tuples in them)`; the first item starts with the header, the last
/// ends with the trailer.
pub(crate) fn bands(
    scale: Scale,
    layout: Layout,
    n_assets: usize,
) -> impl Iterator<Item = (Vec<u8>, u64)> {
    let (_, n_days) = energy::sizes(scale);
    let days = energy::local_days(n_days);
    let starts: Vec<usize> = (0..n_assets).step_by(BAND).collect();
    // Rows come round by round (ingest order); arrays asset by asset.
    let steps: Vec<(u32, usize)> = if layout == Layout::Rows {
        (1..=3)
            .flat_map(|r| starts.iter().map(move |&s| (r, s)))
            .collect()
    } else {
        starts.iter().map(|&s| (0, s)).collect()
    };
    let last = steps.len().saturating_sub(1);
    steps.into_iter().enumerate().map(move |(k, (round, s))| {
        let band = s..(s + BAND).min(n_assets);
        let n_q = energy::n_quarters(scale);
        let per_asset: Vec<(Vec<u8>, u64)> = if layout == Layout::Rows {
            // Version `round` of every batch that has one: the band as known after
            // that round holds exactly those values.
            let m = energy::rows(scale, band.clone(), Some(round));
            m.par_chunks(n_q)
                .enumerate()
                .map(|(i, row)| {
                    let a = (band.start + i + 1) as i64;
                    let mut out = Vec::new();
                    let mut n = 0;
                    for (d, &(q0, len)) in days.iter().enumerate() {
                        if energy::versions(a, d) >= round {
                            for (q, &x) in row.iter().enumerate().skip(q0).take(len) {
                                row_tuple(&mut out, a as i32, q, round, x);
                            }
                            n += len as u64;
                        }
                    }
                    (out, n)
                })
                .collect()
        } else {
            let ms: Vec<Vec<f32>> = (1..=3)
                .map(|v| energy::rows(scale, band.clone(), Some(v)))
                .collect();
            band.clone()
                .into_par_iter()
                .map(|p| {
                    let a = (p + 1) as i64;
                    let i = p - band.start;
                    let mut out = Vec::new();
                    let mut n = 0;
                    for (d, &(q0, len)) in days.iter().enumerate() {
                        for v in 1..=energy::versions(a, d) {
                            let row = &ms[v as usize - 1][i * n_q..(i + 1) * n_q];
                            array_tuple(&mut out, layout, a as i32, d, q0, v, &row[q0..q0 + len]);
                            n += 1;
                        }
                    }
                    (out, n)
                })
                .collect()
        };
        let mut out =
            Vec::with_capacity(per_asset.iter().map(|(b, _)| b.len()).sum::<usize>() + 21);
        if k == 0 {
            header(&mut out);
        }
        let mut n = 0;
        for (b, t) in per_asset {
            out.extend_from_slice(&b);
            n += t;
        }
        if k == last {
            out.extend_from_slice(&(-1i16).to_be_bytes());
        }
        (out, n)
    })
}

/// Writes the framed stream of `layout` (asset ids `1..=n_assets`) to `w`, counting
/// tuples on `bar`; generation of the next band overlaps the write of this one.
/// Returns the stream bytes.
pub(crate) fn send(
    w: &mut impl Write,
    scale: Scale,
    layout: Layout,
    n_assets: usize,
    bar: &ProgressBar,
) -> Result<u64> {
    let (tx, rx) = sync_channel::<(Vec<u8>, u64)>(1);
    std::thread::scope(|s| {
        s.spawn(move || {
            for item in bands(scale, layout, n_assets) {
                // The reader stopped (write error): stop generating.
                if tx.send(item).is_err() {
                    break;
                }
            }
        });
        let mut total = 0u64;
        let res = (|| -> Result<u64> {
            for (buf, n) in rx.iter() {
                w.write_all(&(buf.len() as u32).to_le_bytes())?;
                w.write_all(&buf)?;
                total += buf.len() as u64;
                bar.inc(n);
            }
            w.write_all(&0u32.to_le_bytes())?;
            w.flush()?;
            Ok(total)
        })();
        drop(rx);
        res.with_context(|| format!("streaming layout {} to energy_pg.py", layout.name()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(layout: Layout) -> Vec<u8> {
        let mut out = Vec::new();
        for (b, _) in bands(Scale::XS, layout, 20) {
            out.extend_from_slice(&b);
        }
        out
    }

    #[test]
    fn epochs() {
        assert_eq!(pg_date(0), 8401); // 2023-01-01
                                      // 2022-12-31T23:00:00Z in microseconds since 2000-01-01.
        assert_eq!(pg_ts(0), 725_842_800_000_000);
    }

    #[test]
    fn counts_match_streams() {
        for layout in [Layout::Rows, Layout::RealArray, Layout::Float8Array] {
            let s = stream(layout);
            let (tuples, bytes) = count(Scale::XS, layout, 20);
            assert_eq!(s.len() as u64, bytes, "{layout:?}");
            let n: u64 = bands(Scale::XS, layout, 20).map(|(_, n)| n).sum();
            assert_eq!(n, tuples, "{layout:?}");
            assert!(s.starts_with(b"PGCOPY\n\xff\r\n\0"));
            assert!(s.ends_with(&(-1i16).to_be_bytes()));
        }
        // Every version of every batch: XS rows = values of all rounds.
        let rounds: usize = (1..=3)
            .flat_map(|r| energy::round(Scale::XS, r))
            .map(|b| b.values.len())
            .sum();
        assert_eq!(count(Scale::XS, Layout::Rows, 20).0, rounds as u64);
    }

    #[test]
    fn first_row_is_the_generators() {
        let s = stream(Layout::Rows);
        let b = &energy::round(Scale::XS, 1)[0];
        let t = &s[19..];
        assert_eq!(i16::from_be_bytes([t[0], t[1]]), 4);
        assert_eq!(
            i32::from_be_bytes(t[6..10].try_into().unwrap()),
            b.asset as i32
        );
        let v = f32::from_be_bytes(t[34..38].try_into().unwrap());
        assert_eq!(v, b.values[0]);
    }

    #[test]
    fn frames_end_with_zero() {
        let mut out = Vec::new();
        send(
            &mut out,
            Scale::XS,
            Layout::RealArray,
            3,
            &ProgressBar::hidden(),
        )
        .unwrap();
        assert_eq!(&out[out.len() - 4..], &0u32.to_le_bytes());
        let first = u32::from_le_bytes(out[..4].try_into().unwrap()) as usize;
        assert_eq!(first + 8, out.len());
    }
}
