//! How a query result maps onto a Zarr store or a NetCDF file, the same for both:
//! each result dimension a coordinate variable, each result column a variable over
//! the result dimensions, chunked in slabs of whole rows of the first dimension.

use arrayq_client::result::{Coords, Header};
use arrayq_client::values::ColumnType;
use arrayq_client::DType;
use std::collections::BTreeMap;

/// Bytes of one chunk (one slab of rows) at most, unless a single row is larger.
pub const CHUNK_BYTES: usize = 4 << 20;

/// CF attributes of a variable (units, long_name, ...).
pub type Attrs = BTreeMap<String, String>;

/// The values of a coordinate variable.
#[derive(Clone, Debug, PartialEq)]
pub enum CoordValues {
    /// Regular or explicit numbers.
    F64(Vec<f64>),
    /// Timestamps as integer counts of `unit_ns` since 1970-01-01 (CF `units`).
    Time { counts: Vec<i64>, unit_ns: i64 },
    /// Integer labels.
    I64(Vec<i64>),
    /// Text labels.
    Text(Vec<String>),
}

impl CoordValues {
    pub fn len(&self) -> usize {
        match self {
            CoordValues::F64(v) => v.len(),
            CoordValues::Time { counts, .. } => counts.len(),
            CoordValues::I64(v) => v.len(),
            CoordValues::Text(v) => v.len(),
        }
    }

    /// The CF `units` of a time axis (`seconds since 1970-01-01`, or finer when
    /// the timestamps need it), so xarray decodes it to datetime64 exactly.
    pub fn time_units(unit_ns: i64) -> &'static str {
        match unit_ns {
            1_000_000_000 => "seconds since 1970-01-01",
            1_000_000 => "milliseconds since 1970-01-01",
            1_000 => "microseconds since 1970-01-01",
            _ => "nanoseconds since 1970-01-01",
        }
    }
}

pub struct CoordVar {
    pub name: String,
    pub values: CoordValues,
    pub attrs: Attrs,
}

pub struct DataVar {
    pub name: String,
    pub dtype: DType,
    pub attrs: Attrs,
}

/// Everything a writer needs before the first value arrives.
pub struct Layout {
    pub dim_names: Vec<String>,
    /// Empty for a scalar result (0-d variables).
    pub shape: Vec<u64>,
    /// Chunk shape: `rows_per_chunk` rows of the first dimension, the others whole.
    pub chunk_shape: Vec<u64>,
    pub coords: Vec<CoordVar>,
    pub vars: Vec<DataVar>,
}

impl Layout {
    pub fn of(header: &Header) -> Result<Layout, String> {
        let (dims, shape): (Vec<_>, Vec<u64>) = if header.scalar {
            (Vec::new(), Vec::new())
        } else {
            (
                header.dims.iter().collect(),
                header.shape.iter().map(|&n| n as u64).collect(),
            )
        };
        let mut vars = Vec::new();
        for c in &header.columns {
            let ColumnType::Numeric(dtype) = c.column_type else {
                return Err(format!(
                    "column '{}' holds text: only numeric columns can be exported",
                    c.name
                ));
            };
            if dims.iter().any(|d| d.name == c.name) {
                return Err(format!(
                    "column '{}' has the name of a dimension: rename it with AS",
                    c.name
                ));
            }
            vars.push(DataVar {
                name: c.name.clone(),
                dtype,
                attrs: c.metadata.clone(),
            });
        }
        let coords = dims
            .iter()
            .zip(&shape)
            .map(|(d, &n)| CoordVar {
                name: d.name.clone(),
                values: coord_values(&d.coords, n as usize),
                attrs: d.metadata.clone(),
            })
            .collect();
        let widest = vars.iter().map(|v| v.dtype.size()).max().unwrap_or(1);
        let chunk_shape = chunk_shape(&shape, widest);
        Ok(Layout {
            dim_names: dims.iter().map(|d| d.name.clone()).collect(),
            shape,
            chunk_shape,
            coords,
            vars,
        })
    }

    /// Elements of one row of the first dimension (1 for a scalar).
    pub fn row_elems(&self) -> u64 {
        self.shape.iter().skip(1).product()
    }

    /// Rows of the first dimension per chunk (1 for a scalar).
    pub fn rows_per_chunk(&self) -> u64 {
        self.chunk_shape.first().copied().unwrap_or(1)
    }

    /// Elements per column (1 for a scalar).
    pub fn len(&self) -> u64 {
        self.shape.iter().product()
    }
}

/// Whole rows of the first dimension, as many as fit in [`CHUNK_BYTES`] (at least
/// one); zero-length dimensions get chunks of 1.
fn chunk_shape(shape: &[u64], elem_size: usize) -> Vec<u64> {
    let Some((&first, rest)) = shape.split_first() else {
        return Vec::new();
    };
    let row_bytes = rest.iter().product::<u64>().max(1) * elem_size as u64;
    let rows = (CHUNK_BYTES as u64 / row_bytes).clamp(1, first.max(1));
    std::iter::once(rows)
        .chain(rest.iter().map(|&n| n.max(1)))
        .collect()
}

/// A dimension's `n` coordinates as stored values; timestamps in the coarsest
/// unit (seconds down to nanoseconds) that keeps every one exact.
fn coord_values(c: &Coords, n: usize) -> CoordValues {
    match c {
        Coords::Regular { start, step } => {
            CoordValues::F64((0..n).map(|i| start + step * i as f64).collect())
        }
        Coords::Values(v) => CoordValues::F64(v.clone()),
        Coords::Labels(v) => CoordValues::I64(v.clone()),
        Coords::TextLabels(v) => CoordValues::Text(v.clone()),
        Coords::Time { .. } | Coords::Times(_) => {
            let ns: Vec<i64> = (0..n)
                .map(|i| match c.get(i) {
                    arrayq_format::CoordValue::Time(t) => t,
                    _ => 0,
                })
                .collect();
            let unit_ns = [1_000_000_000, 1_000_000, 1_000]
                .into_iter()
                .find(|u| ns.iter().all(|t| t % u == 0))
                .unwrap_or(1);
            CoordValues::Time {
                counts: ns.iter().map(|t| t / unit_ns).collect(),
                unit_ns,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_whole_rows_of_a_few_megabytes() {
        // 1440 x 721 f32 maps: 4 MB each, one per chunk.
        assert_eq!(chunk_shape(&[100, 721, 1440], 4), vec![1, 721, 1440]);
        assert_eq!(chunk_shape(&[48, 10, 12], 4), vec![48, 10, 12]);
        assert_eq!(chunk_shape(&[0, 3], 8), vec![1, 3]);
        assert!(chunk_shape(&[], 4).is_empty());
    }

    #[test]
    fn times_take_the_coarsest_exact_unit() {
        let hourly = Coords::Time {
            start_ns: 1_672_531_200_000_000_000,
            step_ns: 3_600_000_000_000,
        };
        assert_eq!(
            coord_values(&hourly, 2),
            CoordValues::Time {
                counts: vec![1_672_531_200, 1_672_534_800],
                unit_ns: 1_000_000_000
            }
        );
        assert_eq!(
            coord_values(&Coords::Times(vec![1_500, 2_000]), 2),
            CoordValues::Time {
                counts: vec![1_500, 2_000],
                unit_ns: 1
            }
        );
    }
}
