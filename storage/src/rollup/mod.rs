//! Rollups: per-bucket aggregates of an array (sum and count, minimum, maximum of
//! some attributes per UTC day of a time dimension and per cell of the others),
//! kept in chunks of their own beside the layouts' and maintained by every commit
//! in the same version (`maintain`), so a read of version v sees the rollup of v
//! (`read`). See docs/query-language.md (what they answer) and docs/format.md.

mod buckets;
mod catalog;
mod fresh;
mod maintain;
mod read;

pub use catalog::RollupSpec;

pub(crate) use fresh::Fresh;
pub(crate) use maintain::maintain;
pub use read::RollupCells;

use crate::codec::CodecChain;
use crate::coord::Coordinate;
use crate::dtype::DType;
use crate::error::{Result, StorageError};
use crate::region::Region;
use crate::schema::ArraySchema;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// A UTC day, the only bucket rollups keep for now.
pub const DAY_NS: i64 = 86_400_000_000_000;
/// Chunk keys of rollup `r` use layout id `ROLLUP_KEY_BASE + r.id` (layouts never
/// reach it: an array has far fewer layouts).
pub const ROLLUP_KEY_BASE: u16 = 0xF000;
/// Day `d` (days since 1970-01-01 UTC, negative before) is keyed `d + DAY_KEY_ORIGIN`.
const DAY_KEY_ORIGIN: i64 = 1 << 32;
/// Cells of a rollup chunk aimed at: days are added until about this many (a day of
/// hourly 153 x 281 maps is one chunk, so a query of a few days decodes only those).
const CHUNK_CELLS: u64 = 1 << 16;

/// What a rollup keeps of one attribute per bucket (a count always).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollupAttr {
    /// The attribute's id.
    pub attr: u16,
    /// The sum of the values (for sum and avg).
    pub sum: bool,
    pub min: bool,
    pub max: bool,
}

/// One stored aggregate of a rollup's attribute per bucket and cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollupField {
    /// Values that are not missing (NaN).
    Count,
    /// Their sum in f64.
    Sum,
    Min,
    Max,
}

impl RollupField {
    pub const ALL: [RollupField; 4] = [
        RollupField::Count,
        RollupField::Sum,
        RollupField::Min,
        RollupField::Max,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RollupField::Count => "count",
            RollupField::Sum => "sum",
            RollupField::Min => "min",
            RollupField::Max => "max",
        }
    }
}

/// Aggregates of some attributes per UTC day of time dimension `dim` and per cell of
/// the other dimensions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rollup {
    /// Stable id used in chunk keys; never reused within an array.
    pub id: u16,
    pub name: String,
    /// Index of the time dimension bucketed by days.
    pub dim: usize,
    pub attrs: Vec<RollupAttr>,
    /// Extent of a rollup chunk: days along `dim`, cells along the others.
    pub chunk_shape: Vec<u64>,
    /// Type of the stored counts (the smallest that holds a day's cells).
    pub count_dtype: DType,
    /// zstd level of the stored fields (after a byte shuffle).
    pub zstd_level: i32,
}

impl Rollup {
    /// Rollup `id` of `attrs` (names with the aggregates kept) by days of `dim`; chunk
    /// extents of the other dimensions follow the primary layout.
    pub fn new(
        schema: &ArraySchema,
        existing: &[Rollup],
        id: u16,
        name: &str,
        dim: &str,
        attrs: &[RollupSpec],
    ) -> Result<Rollup> {
        let bad = |m: String| Err(StorageError::InvalidSchema(m));
        if !crate::schema::valid_name(name) {
            return bad(format!("rollup name '{name}' is not a valid identifier"));
        }
        if existing.iter().any(|r| r.name == name) {
            return bad(format!(
                "array '{}' already has a rollup '{name}'",
                schema.name
            ));
        }
        let d = schema.dim_index(dim)?;
        let Coordinate::Time { step_ns, .. } = schema.dims[d].coord else {
            return bad(format!(
                "rollup '{name}': dimension '{dim}' is not a time dimension (rollups bucket time by days)"
            ));
        };
        if attrs.is_empty() {
            return bad(format!("rollup '{name}' aggregates no attribute"));
        }
        let mut kept: Vec<RollupAttr> = Vec::new();
        for (a, sum, min, max) in attrs {
            let attr = schema.attr(a)?;
            if attr.dtype == DType::Bool {
                return bad(format!(
                    "rollup '{name}': attribute '{a}' is boolean (rollups aggregate numbers)"
                ));
            }
            match kept.iter_mut().find(|k| k.attr == attr.id) {
                Some(k) => {
                    k.sum |= sum;
                    k.min |= min;
                    k.max |= max;
                }
                None => kept.push(RollupAttr {
                    attr: attr.id,
                    sum: *sum,
                    min: *min,
                    max: *max,
                }),
            }
        }
        let per_day = (DAY_NS / step_ns).max(1) as u64 + 1;
        let count_dtype = if per_day <= u8::MAX as u64 {
            DType::U8
        } else if per_day <= u16::MAX as u64 {
            DType::U16
        } else {
            DType::U32
        };
        let primary = &schema.layouts[0].chunk_shape;
        let mut chunk_shape = primary.clone();
        chunk_shape[d] = 1;
        let others: u64 = chunk_shape.iter().product();
        chunk_shape[d] = (CHUNK_CELLS / others.max(1)).clamp(1, 64);
        Ok(Rollup {
            id,
            name: name.to_string(),
            dim: d,
            attrs: kept,
            chunk_shape,
            count_dtype,
            zstd_level: crate::schema::DEFAULT_ZSTD_LEVEL,
        })
    }

    /// The layout id its chunk keys use.
    pub fn key_layout(&self) -> u16 {
        ROLLUP_KEY_BASE + self.id
    }

    /// The attribute id its chunk keys use for `field` of attribute id `attr`.
    pub fn key_attr(attr: u16, field: RollupField) -> u16 {
        attr * 4 + field as u16
    }

    /// What it keeps of attribute id `attr`, if anything.
    pub fn kept(&self, attr: u16) -> Option<&RollupAttr> {
        self.attrs.iter().find(|k| k.attr == attr)
    }

    /// The fields stored for `k`, in key order.
    pub fn fields(k: &RollupAttr) -> Vec<RollupField> {
        RollupField::ALL
            .into_iter()
            .filter(|f| match f {
                RollupField::Count => true,
                RollupField::Sum => k.sum,
                RollupField::Min => k.min,
                RollupField::Max => k.max,
            })
            .collect()
    }

    /// The stored type of `field` of an attribute of type `attr`.
    pub fn field_dtype(&self, field: RollupField, attr: DType) -> DType {
        match field {
            RollupField::Count => self.count_dtype,
            RollupField::Sum => DType::F64,
            RollupField::Min | RollupField::Max if attr == DType::F32 => DType::F32,
            RollupField::Min | RollupField::Max => DType::F64,
        }
    }

    pub fn codec(&self, dtype: DType) -> CodecChain {
        CodecChain::shuffle_zstd(dtype.size(), self.zstd_level)
    }

    pub fn chunk_len(&self) -> usize {
        self.chunk_shape.iter().product::<u64>() as usize
    }

    /// The aggregates it keeps, as written in `ADD ROLLUP` (for DESCRIBE, EXPLAIN).
    pub fn describe(&self, schema: &ArraySchema) -> String {
        let mut calls = Vec::new();
        for k in &self.attrs {
            let name = schema
                .attrs
                .iter()
                .find(|a| a.id == k.attr)
                .map_or("?", |a| a.name.as_str());
            calls.push(format!("count({name})"));
            if k.sum {
                calls.push(format!("sum({name})"));
            }
            if k.min {
                calls.push(format!("min({name})"));
            }
            if k.max {
                calls.push(format!("max({name})"));
            }
        }
        format!(
            "{} per date_trunc('day', {}) (UTC)",
            calls.join(", "),
            schema.dims[self.dim].name
        )
    }
}

/// The days of a time dimension: which day an index falls in, which indices a day
/// holds.
#[derive(Clone, Copy, Debug)]
pub struct DayGrid {
    start_ns: i64,
    step_ns: i64,
    len: u64,
}

impl DayGrid {
    /// The days of dimension `dim` of `schema`; `None` unless it is a time dimension.
    pub fn of(schema: &ArraySchema, dim: usize) -> Option<DayGrid> {
        let d = &schema.dims[dim];
        match d.coord {
            Coordinate::Time { start_ns, step_ns } => Some(DayGrid {
                start_ns,
                step_ns,
                len: d.len,
            }),
            _ => None,
        }
    }

    /// The key of the day index `i` falls in.
    pub fn day_of(&self, i: u64) -> u64 {
        let t = self.start_ns as i128 + i as i128 * self.step_ns as i128;
        (t.div_euclid(DAY_NS as i128) as i64 + DAY_KEY_ORIGIN) as u64
    }

    /// The indices of the dimension (within its length) that day `key` holds.
    pub fn indices_of(&self, key: u64) -> Range<u64> {
        let day_start = (key as i64 - DAY_KEY_ORIGIN) as i128 * DAY_NS as i128;
        let first = |t: i128| -> u64 {
            let rel = t - self.start_ns as i128;
            if rel <= 0 {
                return 0;
            }
            let step = self.step_ns as i128;
            ((rel + step - 1) / step).min(self.len as i128) as u64
        };
        first(day_start)..first(day_start + DAY_NS as i128)
    }

    /// The day keys indices `r` touch (the first's to the last's), empty for none.
    pub fn days_of(&self, r: &Range<u64>) -> Range<u64> {
        if r.is_empty() {
            return 0..0;
        }
        self.day_of(r.start)..self.day_of(r.end - 1) + 1
    }

    /// Midnight UTC of day `key`, in ns.
    pub fn day_start_ns(key: u64) -> i64 {
        (key as i64 - DAY_KEY_ORIGIN) * DAY_NS
    }
}

/// `region` (of the array) with dimension `dim` in day keys.
pub(crate) fn day_region(region: &Region, dim: usize, days: Range<u64>) -> Region {
    let mut r = region.clone();
    r.0[dim] = days;
    r
}
