//! Group keys that bucket a dimension's coordinates instead of keeping them: calendar
//! truncation, fixed-stride time bins, calendar components and numeric blocks. Each
//! becomes an index map onto its buckets at plan time (`planner::bucket_map`), so
//! the aggregation itself only ever sees group positions.

use crate::timeutil::{format_instant, Field, TruncUnit};
use chrono_tz::Tz;

/// How a GROUP BY key buckets its dimension.
#[derive(Clone, Debug, PartialEq)]
pub enum Bucket {
    /// `date_trunc('unit', time[, 'Zone'])`: calendar buckets.
    Trunc { unit: TruncUnit, tz: Option<Tz> },
    /// `date_bin('stride', time, 'origin'[, 'Zone'])` and
    /// `time_bucket('stride', time[, 'origin' | 'Zone'])`: bins of a fixed length
    /// counted from an origin (a wall-clock reading in a zone), as written.
    Bin {
        stride_ns: i64,
        origin_ns: i64,
        tz: Option<Tz>,
        /// The function and its stride as written (for EXPLAIN).
        func: &'static str,
        stride: String,
        /// The origin was written (date_bin always; time_bucket optionally).
        origin_written: bool,
    },
    /// `extract(field FROM time)` / `date_part('field', time[, 'Zone'])`: the values
    /// of a calendar component (month 1..12, ...) that occur, ascending.
    Extract { field: Field, tz: Option<Tz> },
    /// `floor(x / step)` (or `floor(x)`): blocks of `step` in coordinate units,
    /// each named by its lower edge `floor(x / step) * step`.
    Floor { step: f64, step_text: String },
    /// `coarsen(x, n)`: blocks of `n` consecutive selected cells, an incomplete last
    /// block dropped, each named by the mean of its coordinates (xarray's
    /// `coarsen(x=n, boundary='trim').mean()`).
    Coarsen { n: usize },
}

impl Bucket {
    /// The key as written in a query, over dimension `dim` (for EXPLAIN).
    pub fn text(&self, dim: &str) -> String {
        let zone = |tz: &Option<Tz>| match tz {
            Some(tz) => format!(", '{}'", tz.name()),
            None => String::new(),
        };
        match self {
            Bucket::Trunc { unit, tz } => {
                format!("date_trunc('{}', {dim}{})", unit.name(), zone(tz))
            }
            Bucket::Bin {
                origin_ns,
                tz,
                func,
                stride,
                origin_written,
                ..
            } => {
                let origin = match (origin_written, tz) {
                    (false, _) => String::new(),
                    // A wall-clock reading in the zone: no offset.
                    (true, Some(_)) => {
                        format!(", '{}'", format_instant(*origin_ns).trim_end_matches('Z'))
                    }
                    (true, None) => format!(", '{}'", format_instant(*origin_ns)),
                };
                format!("{func}('{stride}', {dim}{origin}{})", zone(tz))
            }
            Bucket::Extract { field, tz: None } => format!("extract({} FROM {dim})", field.name()),
            Bucket::Extract { field, tz } => {
                format!("date_part('{}', {dim}{})", field.name(), zone(tz))
            }
            Bucket::Floor { step_text, .. } => format!("floor({dim} / {step_text})"),
            Bucket::Coarsen { n } => format!("coarsen({dim}, {n})"),
        }
    }
}
