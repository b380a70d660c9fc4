//! Per-chunk statistics (count of non-missing values, their sum, minimum and
//! maximum), computed from the raw chunk when it is encoded and kept in front of the
//! chunk's sled value, so that an aggregate over whole chunks can be answered
//! without decoding them (see docs/format.md, "Chunk values").
//!
//! A value with statistics is `0x02 ‖ count u64 LE ‖ sum f64 LE ‖ min f64 LE ‖
//! max f64 LE ‖ crc32 LE of the 32 bytes before it ‖ inner value` where the inner
//! value is the plain inline or pointer value. Chunks written before statistics
//! existed (format 2) have none, and statistics whose checksum fails are ignored:
//! readers decode those chunks.

use crate::dtype::DType;
use crate::error::Result;
use crate::keys;
use crate::snapshot::Snapshot;
use std::collections::HashMap;

const WITH_STATS: u8 = 2;
const STATS_LEN: usize = 1 + 8 * 4 + 4;

/// What a chunk holds, over every cell of its (padded) box: values that are not
/// missing (NaN), their sum in f64, and their extrema (infinite when none).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChunkStats {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl ChunkStats {
    const EMPTY: ChunkStats = ChunkStats {
        count: 0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };

    /// The statistics of `cells` cells all holding `fill` (a chunk never written).
    pub fn of_fill(fill: f64, cells: u64) -> ChunkStats {
        if fill.is_nan() {
            return ChunkStats::EMPTY;
        }
        ChunkStats {
            count: cells,
            sum: fill * cells as f64,
            min: fill,
            max: fill,
        }
    }

    /// The statistics of a raw chunk (little-endian values of `dtype`); none for
    /// booleans (no aggregate reads them through statistics).
    pub fn compute(raw: &[u8], dtype: DType) -> Option<ChunkStats> {
        fn fold<const N: usize>(raw: &[u8], f: impl Fn([u8; N]) -> f64) -> ChunkStats {
            // Eight independent lanes: the sums and extrema vectorise, and the f64
            // sums of eight interleaved partials lose no more than one running sum.
            let mut count = [0u64; 8];
            let mut sum = [0f64; 8];
            let mut min = [f64::INFINITY; 8];
            let mut max = [f64::NEG_INFINITY; 8];
            let mut lanes = raw.chunks_exact(N * 8);
            for block in &mut lanes {
                for l in 0..8 {
                    let v = f(block[l * N..(l + 1) * N].try_into().unwrap());
                    let ok = !v.is_nan();
                    count[l] += ok as u64;
                    sum[l] += if ok { v } else { 0.0 };
                    min[l] = if ok && v < min[l] { v } else { min[l] };
                    max[l] = if ok && v > max[l] { v } else { max[l] };
                }
            }
            for x in lanes.remainder().chunks_exact(N) {
                let v = f(x.try_into().unwrap());
                if !v.is_nan() {
                    count[0] += 1;
                    sum[0] += v;
                    min[0] = min[0].min(v);
                    max[0] = max[0].max(v);
                }
            }
            ChunkStats {
                count: count.iter().sum(),
                sum: sum.iter().sum(),
                min: min.iter().copied().fold(f64::INFINITY, f64::min),
                max: max.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            }
        }
        Some(match dtype {
            DType::F32 => fold::<4>(raw, |b| f32::from_le_bytes(b) as f64),
            DType::F64 => fold::<8>(raw, f64::from_le_bytes),
            DType::I64 => fold::<8>(raw, |b| i64::from_le_bytes(b) as f64),
            DType::I32 => fold::<4>(raw, |b| i32::from_le_bytes(b) as f64),
            DType::I16 => fold::<2>(raw, |b| i16::from_le_bytes(b) as f64),
            DType::I8 => fold::<1>(raw, |b| i8::from_le_bytes(b) as f64),
            DType::U8 => fold::<1>(raw, |b| u8::from_le_bytes(b) as f64),
            DType::U16 => fold::<2>(raw, |b| u16::from_le_bytes(b) as f64),
            DType::U32 => fold::<4>(raw, |b| u32::from_le_bytes(b) as f64),
            DType::U64 => fold::<8>(raw, |b| u64::from_le_bytes(b) as f64),
            DType::Bool => return None,
        })
    }

    /// Adds `other` (statistics of disjoint cells).
    pub fn merge(&mut self, other: &ChunkStats) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }
}

/// The sled value for a chunk: its statistics, if any, in front of `inner`.
pub(crate) fn wrap(stats: Option<ChunkStats>, inner: Vec<u8>) -> Vec<u8> {
    let Some(s) = stats else {
        return inner;
    };
    let mut v = Vec::with_capacity(STATS_LEN + inner.len());
    v.push(WITH_STATS);
    v.extend_from_slice(&s.count.to_le_bytes());
    v.extend_from_slice(&s.sum.to_le_bytes());
    v.extend_from_slice(&s.min.to_le_bytes());
    v.extend_from_slice(&s.max.to_le_bytes());
    let crc = crc32fast::hash(&v[1..]);
    v.extend_from_slice(&crc.to_le_bytes());
    v.extend_from_slice(&inner);
    v
}

/// A chunk's sled value split into its statistics (if it has them) and the plain
/// inline or pointer value behind them.
pub(crate) fn split(value: &[u8]) -> (Option<ChunkStats>, &[u8]) {
    if value.first() != Some(&WITH_STATS) || value.len() < STATS_LEN {
        return (None, value);
    }
    let inner = &value[STATS_LEN..];
    let crc = u32::from_le_bytes(value[33..37].try_into().unwrap());
    if crc32fast::hash(&value[1..33]) != crc {
        return (None, inner);
    }
    let f = |i: usize| f64::from_le_bytes(value[1 + 8 * i..9 + 8 * i].try_into().unwrap());
    let stats = ChunkStats {
        count: u64::from_le_bytes(value[1..9].try_into().unwrap()),
        sum: f(1),
        min: f(2),
        max: f(3),
    };
    (Some(stats), inner)
}

/// What a snapshot knows of one chunk without decoding it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ChunkSummary {
    /// Stored with statistics.
    Stats(ChunkStats),
    /// Never written in this version: every cell holds the fill value.
    NeverWritten,
    /// Stored without statistics (written by an older format): decode it.
    Unknown,
}

impl Snapshot {
    /// The summary of every stored chunk of `layout` / `attr` as of this version, by
    /// chunk coordinates (the grid's, not the stored keys'); chunks absent from the
    /// map were never written. One pass over the attribute's chunk index.
    pub fn chunk_summaries(
        &self,
        layout: usize,
        attr: usize,
    ) -> Result<HashMap<Vec<u64>, ChunkSummary>> {
        let schema = self.schema();
        let (l, a) = (&schema.layouts[layout], &schema.attrs[attr]);
        let prefix = keys::chunk_prefix(self.meta().array_id, l.id, a.id, &[]);
        let rank = l.chunk_shape.len();
        let version = self.version();
        let mut newest: HashMap<Vec<u64>, (u64, ChunkSummary)> = HashMap::new();
        for kv in self.store().chunk_index(&prefix) {
            let (k, v) = kv?;
            let (body, found) = keys::split_version(&k);
            if found > version {
                continue;
            }
            let key: Vec<u64> = body[prefix.len()..]
                .chunks_exact(8)
                .take(rank)
                .map(|b| u64::from_be_bytes(b.try_into().unwrap()))
                .collect();
            let summary = match split(&v).0 {
                Some(s) => ChunkSummary::Stats(s),
                None => ChunkSummary::Unknown,
            };
            let e = newest.entry(key).or_insert((found, summary));
            if found >= e.0 {
                *e = (found, summary);
            }
        }
        Ok(newest
            .into_iter()
            .filter_map(|(key, (_, s))| Some((l.grid_coords(&key)?, s)))
            .collect())
    }
}
