//! Keeping rollups current at commit: the buckets (days x cells) a commit touches are
//! recomputed from the new version's data and stored as new versions of the rollup
//! chunks holding them, before the commit point. Recomputing whole buckets (never
//! adding deltas) keeps them exact under overwrites, NaNs and fill values. Buckets
//! the commit's writes determine are folded from them (`fresh`); the others are
//! read back from the version's chunks.

use super::buckets::{to_le, Buckets};
use super::fresh::Fresh;
use super::{day_region, DayGrid, Rollup, RollupField};
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
/// touches, storing them at that version over the rollup as of `head`; `fresh`: the
/// commit's writes, when it has any. Returns the rollups' new stored sizes (`prev`:
/// as of `head`, per rollup).
pub(crate) fn maintain(
    store: &Store,
    snap: &Snapshot,
    head: u64,
    affected: &Region,
    prev: &[LayoutStats],
    fresh: Option<&Fresh>,
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
            .map(|c| update_chunk(store, snap, head, rollup, &grid, &rbox, c, fresh))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        stats.add_stored(sizes);
        out.push(stats);
    }
    Ok(out)
}

/// The buckets of one rollup chunk inside `rbox`, recomputed and stored; returns
/// per stored field its size and the size of the version it replaces.
#[allow(clippy::too_many_arguments)]
fn update_chunk(
    store: &Store,
    snap: &Snapshot,
    head: u64,
    rollup: &Rollup,
    grid: &DayGrid,
    rbox: &Region,
    c: &[u64],
    fresh: Option<&Fresh>,
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
        let attr = &schema.attrs[ai];
        let dtype = attr.dtype;
        let mut buckets = Buckets::new(&cbox, dim, grid, k);
        if !src.is_empty() {
            let fill = attr.fill_value().to_le_bytes(dtype);
            let folded = match fresh {
                Some(f) => f.fold(&mut buckets, ai, &src, dim, dtype, &fill)?,
                None => false,
            };
            if !folded {
                let values = snap.read_with(ai, &src, Default::default())?;
                buckets.fold(&src, &crate::write::le_bytes(&values), dtype);
            }
        }
        for field in Rollup::fields(k) {
            let fdtype = rollup.field_dtype(field, dtype);
            let key_attr = Rollup::key_attr(k.attr, field);
            let old =
                store.fetch_chunk(snap.meta().array_id, rollup.key_layout(), key_attr, c, head)?;
            let codec = rollup.codec(fdtype);
            let esize = fdtype.size();
            let mut raw = match &old {
                // Every bucket of the chunk is recomputed: nothing of the old survives.
                _ if cbox == chunk_box => vec![0u8; rollup.chunk_len() * esize],
                Some((v, bytes)) => {
                    let mut raw = vec![0u8; rollup.chunk_len() * esize];
                    if !codec.decode_into(bytes, &mut raw)? {
                        return Err(StorageError::Corrupt {
                            array: schema.name.clone(),
                            layout: format!("rollup {}", rollup.name),
                            attr: format!("{}.{}", attr.name, field.name()),
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
