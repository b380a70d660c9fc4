//! A bucketed group key's index map and coordinates: every selected index of the
//! dimension gets its bucket, computed once at plan time; the aggregation then only
//! sees group positions.
//!
//! Buckets are in array order when each is one contiguous run of indices (calendar
//! truncation and bins of a time axis, blocks of a regular axis, descending latitude
//! included); otherwise (calendar components such as the month, which recurs every
//! year) they are the distinct values, ascending.

use crate::logical::{Bucket, DimSel, SKIP};
use crate::timeutil::{date_bin, date_trunc, extract};
use crate::CoordValues;
use arrayq_storage::{CoordValue, Coordinate};

/// Region-relative index -> bucket position (or SKIP), the buckets' coordinates and
/// how many there are.
pub(super) fn bucket_map(
    b: &Bucket,
    coord: &Coordinate,
    s: &DimSel,
) -> (Vec<u32>, CoordValues, usize) {
    let pos = s.positions();
    let abs = |r: usize| s.range.start + r as u64;
    let time = |r: usize| match coord {
        Coordinate::Time { start_ns, step_ns } => start_ns + step_ns * abs(r) as i64,
        _ => unreachable!("time buckets are planned on time dimensions only"),
    };
    let keyed = |f: &dyn Fn(usize) -> i64| -> Vec<Option<i64>> {
        (0..pos.len())
            .map(|r| (pos[r] != SKIP).then(|| f(r)))
            .collect()
    };
    match b {
        Bucket::Trunc { unit, tz } => {
            let (map, keys) = assign(&keyed(&|r| date_trunc(time(r), *unit, *tz)), false);
            let n = keys.len();
            (map, CoordValues::Times(keys), n)
        }
        Bucket::Bin {
            stride_ns,
            origin_ns,
            tz,
            ..
        } => {
            let f = |r| date_bin(time(r), *stride_ns, *origin_ns, *tz);
            let (map, keys) = assign(&keyed(&f), false);
            let n = keys.len();
            (map, CoordValues::Times(keys), n)
        }
        Bucket::Extract { field, tz } => {
            let (map, keys) = assign(&keyed(&|r| extract(time(r), *field, *tz)), true);
            let n = keys.len();
            (map, CoordValues::Labels(keys), n)
        }
        Bucket::Floor { step, .. } => {
            let keys: Vec<Option<f64>> = (0..pos.len())
                .map(|r| {
                    (pos[r] != SKIP).then(|| (coord.value(abs(r)).as_f64() / step).floor() * step)
                })
                .collect();
            let (map, keys) = assign(&keys, false);
            let n = keys.len();
            (map, CoordValues::Numbers(keys), n)
        }
        Bucket::Coarsen { n } => {
            // Blocks of n selected cells; the incomplete last block is dropped.
            let blocks = s.count() / n;
            let map: Vec<u32> = pos
                .iter()
                .map(|&p| match p {
                    SKIP => SKIP,
                    p if (p as usize) < blocks * n => (p as usize / n) as u32,
                    _ => SKIP,
                })
                .collect();
            let idx = s.indices();
            let coords = match coord {
                Coordinate::Time { start_ns, step_ns } => CoordValues::Times(
                    idx.chunks_exact(*n)
                        .map(|c| {
                            let sum: i128 = c
                                .iter()
                                .map(|&i| (start_ns + step_ns * i as i64) as i128)
                                .sum();
                            (sum / *n as i128) as i64
                        })
                        .collect(),
                ),
                _ => CoordValues::Numbers(
                    idx.chunks_exact(*n)
                        .map(|c| {
                            c.iter().map(|&i| coord.value(i).as_f64()).sum::<f64>() / *n as f64
                        })
                        .collect(),
                ),
            };
            (map, coords, blocks)
        }
    }
}

/// The bucket of coordinate `i` of `coord` (a computed join key), or None for
/// buckets of cells rather than coordinates (`coarsen`).
pub(super) fn bucket_value(b: &Bucket, coord: &Coordinate, i: u64) -> Option<CoordValue> {
    let time = || match coord.value(i) {
        CoordValue::Time(t) => t,
        _ => unreachable!("time buckets are planned on time dimensions only"),
    };
    Some(match b {
        Bucket::Trunc { unit, tz } => CoordValue::Time(date_trunc(time(), *unit, *tz)),
        Bucket::Bin {
            stride_ns,
            origin_ns,
            tz,
            ..
        } => CoordValue::Time(date_bin(time(), *stride_ns, *origin_ns, *tz)),
        Bucket::Extract { field, tz } => CoordValue::Label(extract(time(), *field, *tz)),
        Bucket::Floor { step, .. } => {
            CoordValue::Number((coord.value(i).as_f64() / step).floor() * step)
        }
        Bucket::Coarsen { .. } => return None,
    })
}

/// Positions of the keys' buckets: in array order when every bucket is one run and
/// `sort` is off, else the distinct keys ascending.
fn assign<K: Copy + PartialOrd>(keys: &[Option<K>], sort: bool) -> (Vec<u32>, Vec<K>) {
    let mut map = vec![SKIP; keys.len()];
    let mut runs: Vec<K> = Vec::new();
    for (m, k) in map.iter_mut().zip(keys) {
        if let Some(k) = *k {
            if runs.last() != Some(&k) {
                runs.push(k);
            }
            *m = (runs.len() - 1) as u32;
        }
    }
    let cmp = |a: &K, b: &K| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal);
    let mut distinct = runs.clone();
    distinct.sort_by(cmp);
    distinct.dedup();
    if !sort && distinct.len() == runs.len() {
        return (map, runs);
    }
    for (m, k) in map.iter_mut().zip(keys) {
        if let Some(k) = k {
            *m = distinct.partition_point(|d| cmp(d, k).is_lt()) as u32;
        }
    }
    (map, distinct)
}

#[cfg(test)]
mod tests {
    use super::assign;

    #[test]
    fn runs_keep_array_order_recurring_keys_sort() {
        let desc = [Some(50.0), Some(50.0), None, Some(49.0)];
        assert_eq!(
            assign(&desc, false),
            (vec![0, 0, u32::MAX, 1], vec![50.0, 49.0])
        );
        let months = [Some(12), Some(1), Some(1), Some(12)];
        assert_eq!(assign(&months, false), (vec![1, 0, 0, 1], vec![1, 12]));
        assert_eq!(
            assign(&[Some(12), Some(1)], true),
            (vec![1, 0], vec![1, 12])
        );
    }
}
