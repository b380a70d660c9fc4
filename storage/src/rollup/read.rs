//! Reading a rollup as of a snapshot's version: the buckets of a box of its grid
//! (the array's dimensions, with day keys along the rollup's time dimension).

use super::{Rollup, RollupField};
use crate::dtype::{Buffer, DType};
use crate::error::{Result, StorageError};
use crate::region::{copy_box, Region};
use crate::snapshot::Snapshot;
use rayon::prelude::*;

/// The buckets of one attribute over a box of a rollup's grid, row-major. Fields the
/// rollup does not keep are empty; a bucket without values has count 0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RollupCells {
    pub count: Vec<f64>,
    pub sum: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
    /// Stored chunks read and their bytes.
    pub chunks_read: u64,
    pub bytes_read: u64,
}

impl Snapshot {
    /// The buckets of rollup index `rollup` for attribute index `attr` over `region`
    /// (day keys along the rollup's dimension, see [`super::DayGrid`]): `fields` of
    /// them (all it keeps when empty).
    pub fn read_rollup(
        &self,
        rollup: usize,
        attr: usize,
        region: &Region,
        fields: &[RollupField],
    ) -> Result<RollupCells> {
        let schema = self.schema();
        let r = &self.meta().rollups[rollup];
        let a = &schema.attrs[attr];
        let kept = r.kept(a.id).ok_or_else(|| {
            StorageError::InvalidSchema(format!(
                "rollup '{}' does not aggregate attribute '{}'",
                r.name, a.name
            ))
        })?;
        let mut out = RollupCells::default();
        let wanted = Rollup::fields(kept)
            .into_iter()
            .filter(|f| fields.is_empty() || fields.contains(f));
        for field in wanted {
            let dtype = r.field_dtype(field, a.dtype);
            let (values, chunks, bytes) = self.read_field(r, a.id, field, dtype, region)?;
            out.chunks_read += chunks;
            out.bytes_read += bytes;
            match field {
                RollupField::Count => out.count = values,
                RollupField::Sum => out.sum = values,
                RollupField::Min => out.min = values,
                RollupField::Max => out.max = values,
            }
        }
        Ok(out)
    }

    /// One field over `region`, as f64, with the chunks and bytes read.
    fn read_field(
        &self,
        r: &Rollup,
        attr_id: u16,
        field: RollupField,
        dtype: DType,
        region: &Region,
    ) -> Result<(Vec<f64>, u64, u64)> {
        let esize = dtype.size();
        let codec = r.codec(dtype);
        let key_attr = Rollup::key_attr(attr_id, field);
        let cshape: Vec<usize> = r.chunk_shape.iter().map(|&x| x as usize).collect();
        // Each chunk is decoded, cut and widened to f64 on its own worker; only the
        // copies into place below run in order.
        let pieces: Vec<Option<(Region, Vec<f64>, usize)>> = region
            .chunks(&r.chunk_shape)
            .par_iter()
            .map(|c| -> Result<_> {
                let Some((v, stored)) = self.fetch(r.key_layout(), key_attr, c)? else {
                    return Ok(None); // no bucket there holds a value
                };
                let mut raw = vec![0u8; r.chunk_len() * esize];
                if !codec.decode_into(&stored, &mut raw)? {
                    return Err(StorageError::Corrupt {
                        array: self.schema().name.clone(),
                        layout: format!("rollup {}", r.name),
                        attr: format!("{attr_id}.{}", field.name()),
                        chunk: c.to_vec(),
                        version: v,
                    });
                }
                let cbox = Region::of_chunk(c, &r.chunk_shape);
                let inter = cbox.intersect(region).expect("a chunk of the region");
                let start: Vec<usize> = inter
                    .0
                    .iter()
                    .zip(&cbox.0)
                    .map(|(a, b)| (a.start - b.start) as usize)
                    .collect();
                let mut part = vec![0u8; inter.len() as usize * esize];
                let rank = cshape.len();
                copy_box(
                    &raw,
                    &cshape,
                    &start,
                    &mut part,
                    &inter.shape(),
                    &vec![0; rank],
                    &inter.shape(),
                    esize,
                );
                let values = Buffer::from_le_bytes(dtype, &inter.shape(), &part)?.to_f64_vec();
                Ok(Some((inter, values, stored.len())))
            })
            .collect::<Result<_>>()?;
        let empty = match field {
            RollupField::Count | RollupField::Sum => 0.0,
            RollupField::Min => f64::INFINITY,
            RollupField::Max => f64::NEG_INFINITY,
        };
        let shape = region.shape();
        let mut out = vec![empty; region.len() as usize];
        let (mut chunks, mut bytes) = (0, 0);
        for (inter, values, n) in pieces.into_iter().flatten() {
            chunks += 1;
            bytes += n as u64;
            let start: Vec<usize> = inter
                .0
                .iter()
                .zip(&region.0)
                .map(|(a, b)| (a.start - b.start) as usize)
                .collect();
            copy_box(
                bytemuck::cast_slice(&values),
                &inter.shape(),
                &vec![0; shape.len()],
                bytemuck::cast_slice_mut(&mut out),
                &shape,
                &start,
                &inter.shape(),
                8,
            );
        }
        Ok((out, chunks, bytes))
    }
}
