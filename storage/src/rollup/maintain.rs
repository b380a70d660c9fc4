//! Keeping rollups current at commit: the buckets (days x cells) a commit touches are
//! recomputed from the new version's data and stored as new versions of the rollup
//! chunks holding them, before the commit point. Recomputing whole buckets (never
//! adding deltas) keeps them exact under overwrites, NaNs and fill values.

use super::{day_region, DayGrid, Rollup, RollupAttr, RollupField};
use crate::dtype::DType;
use crate::error::{Result, StorageError};
use crate::keys;
use crate::meta::LayoutStats;
use crate::region::{copy_box, Region};
use crate::snapshot::Snapshot;
use crate::store::Store;
use rayon::prelude::*;

/// Recomputes every rollup of `snap`'s version over the buckets `affected` (a box of
/// the array at `snap`'s version, whose chunks are stored but not committed yet)
/// touches, storing them at that version over the rollup as of `head`. Returns the
/// rollups' new stored sizes (`prev`: as of `head`, per rollup).
pub(crate) fn maintain(
    store: &Store,
    snap: &Snapshot,
    head: u64,
    affected: &Region,
    prev: &[LayoutStats],
) -> Result<Vec<LayoutStats>> {
    let schema = snap.schema();
    let rollups = &snap.meta().rollups;
    let mut out = Vec::with_capacity(rollups.len());
    for (ri, rollup) in rollups.iter().enumerate() {
        let mut stats = prev.get(ri).cloned().unwrap_or_default();
        let Some(full) = Region::full(&schema.shape()).intersect(affected) else {
            out.push(stats);
            continue;
        };
        let grid = DayGrid::of(schema, rollup.dim).ok_or_else(|| {
            StorageError::SchemaConflict(format!(
                "rollup '{}' buckets dimension '{}', which is not a time dimension",
                rollup.name, schema.dims[rollup.dim].name
            ))
        })?;
        let rbox = day_region(&full, rollup.dim, grid.days_of(&full.0[rollup.dim]));
        let sizes: Vec<(usize, Option<usize>)> = rbox
            .chunks(&rollup.chunk_shape)
            .par_iter()
            .map(|c| update_chunk(store, snap, head, rollup, &grid, &rbox, c))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        for (n, old) in sizes {
            match old {
                Some(o) => stats.bytes = (stats.bytes + n as u64).saturating_sub(o as u64),
                None => {
                    stats.chunks += 1;
                    stats.bytes += n as u64;
                }
            }
        }
        out.push(stats);
    }
    Ok(out)
}

/// The buckets of one rollup chunk inside `rbox`, recomputed and stored; returns
/// per stored field its size and the size of the version it replaces.
fn update_chunk(
    store: &Store,
    snap: &Snapshot,
    head: u64,
    rollup: &Rollup,
    grid: &DayGrid,
    rbox: &Region,
    c: &[u64],
) -> Result<Vec<(usize, Option<usize>)>> {
    let schema = snap.schema();
    let cs = &rollup.chunk_shape;
    let chunk_box = Region::of_chunk(c, cs);
    let cbox = chunk_box.intersect(rbox).expect("a chunk of the box");
    let dim = rollup.dim;
    let days = cbox.0[dim].clone();
    let mut src = cbox.clone();
    src.0[dim] = grid.indices_of(days.start).start..grid.indices_of(days.end - 1).end;
    let mut sizes = Vec::new();
    for k in &rollup.attrs {
        let ai = schema
            .attrs
            .iter()
            .position(|a| a.id == k.attr)
            .ok_or_else(|| {
                StorageError::SchemaConflict(format!(
                    "rollup '{}' aggregates an attribute the array no longer has",
                    rollup.name
                ))
            })?;
        let values = if src.is_empty() {
            Vec::new()
        } else {
            snap.read_with(ai, &src, Default::default())?.to_f64_vec()
        };
        let buckets = Buckets::compute(&values, &src, &cbox, dim, grid, k);
        let dtype = schema.attrs[ai].dtype;
        for field in Rollup::fields(k) {
            let fdtype = rollup.field_dtype(field, dtype);
            let key_attr = Rollup::key_attr(k.attr, field);
            let old =
                store.fetch_chunk(snap.meta().array_id, rollup.key_layout(), key_attr, c, head)?;
            let codec = rollup.codec(fdtype);
            let esize = fdtype.size();
            let mut raw = match &old {
                Some((v, bytes)) => {
                    let mut raw = vec![0u8; rollup.chunk_len() * esize];
                    if !codec.decode_into(bytes, &mut raw)? {
                        return Err(StorageError::Corrupt {
                            array: schema.name.clone(),
                            layout: format!("rollup {}", rollup.name),
                            attr: format!("{}.{}", schema.attrs[ai].name, field.name()),
                            chunk: c.to_vec(),
                            version: *v,
                        });
                    }
                    raw
                }
                None => empty_field(field, fdtype).repeat(rollup.chunk_len()),
            };
            let new = buckets.field_bytes(field, fdtype);
            let to_usize =
                |v: Vec<u64>| -> Vec<usize> { v.into_iter().map(|x| x as usize).collect() };
            let cshape: Vec<usize> = to_usize(cs.clone());
            let start: Vec<usize> = cbox
                .0
                .iter()
                .zip(&chunk_box.0)
                .map(|(a, b)| (a.start - b.start) as usize)
                .collect();
            copy_box(
                &new,
                &cbox.shape(),
                &vec![0; cshape.len()],
                &mut raw,
                &cshape,
                &start,
                &cbox.shape(),
                esize,
            );
            let key = keys::with_version(
                &keys::chunk_prefix(snap.meta().array_id, rollup.key_layout(), key_attr, c),
                snap.version(),
            );
            let encoded = codec.encode(&raw)?;
            store
                .inner
                .tree
                .insert(key, store.put_chunk_value(&encoded, None)?)?;
            sizes.push((encoded.len(), old.map(|(_, b)| b.len())));
        }
    }
    Ok(sizes)
}

/// The little-endian value of `field` for a bucket without values.
fn empty_field(field: RollupField, dtype: DType) -> Vec<u8> {
    let x = match field {
        RollupField::Count | RollupField::Sum => 0.0,
        RollupField::Min => f64::INFINITY,
        RollupField::Max => f64::NEG_INFINITY,
    };
    to_le(dtype, x)
}

fn to_le(dtype: DType, x: f64) -> Vec<u8> {
    match dtype {
        DType::U8 => vec![x as u8],
        DType::U16 => (x as u16).to_le_bytes().to_vec(),
        DType::U32 => (x as u32).to_le_bytes().to_vec(),
        DType::F32 => (x as f32).to_le_bytes().to_vec(),
        _ => x.to_le_bytes().to_vec(),
    }
}

/// Count, sum and extrema of every bucket of a box (row-major, days along `dim`).
struct Buckets {
    count: Vec<u64>,
    sum: Vec<f64>,
    min: Vec<f64>,
    max: Vec<f64>,
}

impl Buckets {
    /// Folds `values` (row-major over `src`, the indices of `cbox`'s days) into the
    /// buckets of `cbox`.
    fn compute(
        values: &[f64],
        src: &Region,
        cbox: &Region,
        dim: usize,
        grid: &DayGrid,
        k: &RollupAttr,
    ) -> Buckets {
        let n = cbox.len() as usize;
        let mut b = Buckets {
            count: vec![0; n],
            sum: if k.sum { vec![0.0; n] } else { vec![] },
            min: if k.min {
                vec![f64::INFINITY; n]
            } else {
                vec![]
            },
            max: if k.max {
                vec![f64::NEG_INFINITY; n]
            } else {
                vec![]
            },
        };
        if values.is_empty() {
            return b;
        }
        let rank = src.rank();
        let shape = src.shape();
        let cshape = cbox.shape();
        let mut cstride = vec![1usize; rank];
        for d in (0..rank.saturating_sub(1)).rev() {
            cstride[d] = cstride[d + 1] * cshape[d + 1];
        }
        // Per index along `dim`: its bucket's position in the box.
        let day0 = cbox.0[dim].start;
        let day_pos: Vec<usize> = src.0[dim]
            .clone()
            .map(|i| (grid.day_of(i) - day0) as usize)
            .collect();
        let pos = |d: usize, i: usize| if d == dim { day_pos[i] } else { i };
        let last = rank - 1;
        let mut idx = vec![0usize; rank];
        let mut v = values.iter();
        loop {
            let base: usize = (0..last).map(|d| pos(d, idx[d]) * cstride[d]).sum();
            for j in 0..shape[last] {
                let x = *v.next().expect("values of the box");
                if x.is_nan() {
                    continue;
                }
                let g = base + pos(last, j) * cstride[last];
                b.count[g] += 1;
                if k.sum {
                    b.sum[g] += x;
                }
                if k.min && x < b.min[g] {
                    b.min[g] = x;
                }
                if k.max && x > b.max[g] {
                    b.max[g] = x;
                }
            }
            let mut d = last;
            loop {
                if d == 0 {
                    return b;
                }
                d -= 1;
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
    }

    fn field_bytes(&self, field: RollupField, dtype: DType) -> Vec<u8> {
        let counts: Vec<f64>;
        let values: &[f64] = match field {
            RollupField::Count => {
                counts = self.count.iter().map(|&c| c as f64).collect();
                &counts
            }
            RollupField::Sum => &self.sum,
            RollupField::Min => &self.min,
            RollupField::Max => &self.max,
        };
        let mut out = Vec::with_capacity(values.len() * dtype.size());
        match dtype {
            DType::U8 => out.extend(values.iter().map(|&x| x as u8)),
            DType::U16 => values
                .iter()
                .for_each(|&x| out.extend_from_slice(&(x as u16).to_le_bytes())),
            DType::U32 => values
                .iter()
                .for_each(|&x| out.extend_from_slice(&(x as u32).to_le_bytes())),
            DType::F32 => values
                .iter()
                .for_each(|&x| out.extend_from_slice(&(x as f32).to_le_bytes())),
            _ => values
                .iter()
                .for_each(|&x| out.extend_from_slice(&x.to_le_bytes())),
        }
        out
    }
}
