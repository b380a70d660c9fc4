//! The regrid operator: the cells of a virtual array on a projected target grid,
//! interpolated from the source array's scan. It is the source of its parent's
//! pieces (a [`ScanExec`] whose `regrid` is set hands its reads here): a piece is a
//! block of whole target maps (rows x columns, as many maps as one source chunk
//! holds along the carried dimensions); for it, the source box under those target
//! cells is read once per attribute, then every map is interpolated in parallel
//! over target rows.

use super::scan::ScanExec;
use super::{OperatorMetrics, TaskContext};
use crate::error::QueryError;
use crate::eval::Col;
use crate::logical::RegridSpec;
use arrayq_regrid::kernels::{interpolate, Sample, Window};
use arrayq_regrid::{CacheLookup, IndexBox};
use arrayq_storage::{ArraySchema, Buffer, DType, ReadOptions, Region};
use ndarray::{ArrayD, IxDyn};
use std::sync::Arc;
use std::time::Instant;

/// How a regridded scan's cells are computed.
pub struct RegridExec {
    /// The scan of the source array (its region: the source box of the query).
    pub source: Arc<ScanExec>,
    /// The virtual array on the target grid.
    pub schema: ArraySchema,
    pub spec: RegridSpec,
}

impl RegridExec {
    /// Computes every attribute `slots` asks for (slot -> attribute index; `skip`ped
    /// slots are left alone) over the virtual `piece` into `cols`. Compute time goes
    /// to `metrics`, source reads to the source scan's.
    pub fn fill(
        &self,
        metrics: &OperatorMetrics,
        ctx: &TaskContext,
        piece: &Region,
        slots: &[usize],
        skip: &[bool],
        cols: &mut [Col],
    ) -> Result<(), QueryError> {
        ctx.check()?;
        let nc = self.spec.carried.len();
        let to_usize = |r: &std::ops::Range<u64>| r.start as usize..r.end as usize;
        let (rows, columns) = (to_usize(&piece.0[nc]), to_usize(&piece.0[nc + 1]));
        let maps: usize = piece.0[..nc]
            .iter()
            .map(|r| (r.end - r.start) as usize)
            .product();
        let cells = rows.len() * columns.len();
        let cells_box = self
            .spec
            .map
            .source_box(self.spec.method, rows.clone(), columns.clone())
            .map_err(|e| QueryError::plan(e.to_string()))?;
        for (k, &a) in slots.iter().enumerate() {
            if skip[k] {
                continue;
            }
            let f32_out = self.schema.attrs[a].dtype == DType::F32;
            let Some(b) = &cells_box else {
                cols[k] = if f32_out {
                    Col::F32(vec![f32::NAN; maps * cells])
                } else {
                    Col::F64(vec![f64::NAN; maps * cells])
                };
                continue;
            };
            let t = Instant::now();
            let src = self.read_source(ctx, piece, a, b)?;
            OperatorMetrics::add(&self.source.metrics.read_ns, t);
            let t = Instant::now();
            let fill = self.source.snap.schema().attrs[a].fill_value().as_f64();
            cols[k] = if f32_out {
                let mut data: Vec<f32> = match src {
                    // Read in standard layout: the values as they are, no copy.
                    Buffer::F32(a) if a.is_standard_layout() => a.into_raw_vec_and_offset().0,
                    other => values(other),
                };
                mask_fill(&mut data, fill);
                Col::F32(self.maps(&data, b, maps, rows.clone(), columns.clone())?)
            } else {
                let mut data: Vec<f64> = values(src);
                mask_fill(&mut data, fill);
                Col::F64(self.maps(&data, b, maps, rows.clone(), columns.clone())?)
            };
            OperatorMetrics::add(&metrics.compute_ns, t);
        }
        Ok(())
    }

    /// Attribute `a` over the source box of `piece`, ordered (carried..., y, x).
    fn read_source(
        &self,
        ctx: &TaskContext,
        piece: &Region,
        a: usize,
        b: &IndexBox,
    ) -> Result<Buffer, QueryError> {
        let rank = self.source.snap.schema().dims.len();
        let mut region = vec![0..0; rank];
        for (k, &d) in self.spec.carried.iter().enumerate() {
            region[d] = piece.0[k].clone();
        }
        region[self.spec.src_yx[0]] = b.i.start as u64..b.i.end as u64;
        region[self.spec.src_yx[1]] = b.j.start as u64..b.j.end as u64;
        let opts = ReadOptions {
            layout: Some(self.source.layout),
            cancel: Some(&ctx.cancel),
            stats: Some(&self.source.metrics.read),
        };
        let buf = self
            .source
            .snap
            .read_with(a, &Region(region), opts)
            .map_err(QueryError::from_storage)?;
        let order: Vec<usize> = self
            .spec
            .carried
            .iter()
            .chain(&self.spec.src_yx)
            .copied()
            .collect();
        if order.iter().enumerate().all(|(k, &d)| k == d) {
            return Ok(buf);
        }
        Ok(match buf {
            Buffer::F32(x) => Buffer::F32(
                x.permuted_axes(IxDyn(&order))
                    .as_standard_layout()
                    .into_owned(),
            ),
            other => {
                let shape = other.shape().to_vec();
                let x = ArrayD::from_shape_vec(IxDyn(&shape), other.to_f64_vec())
                    .expect("values of the buffer's shape");
                Buffer::F64(
                    x.permuted_axes(IxDyn(&order))
                        .as_standard_layout()
                        .into_owned(),
                )
            }
        })
    }

    /// Interpolates `maps` consecutive source maps (each the box `b`) into the
    /// target cells `rows x cols` of each.
    fn maps<T: Sample>(
        &self,
        data: &[T],
        b: &IndexBox,
        maps: usize,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) -> Result<Vec<T>, QueryError> {
        let per_src = b.i.len() * b.j.len();
        let cells = rows.len() * cols.len();
        // Every cell is written by the kernels: zeroed memory (calloc) costs no fill pass.
        let mut out = vec![T::from_f64(0.0); maps * cells];
        let g = &self.spec.map.source;
        for m in 0..maps {
            let window = Window {
                data: &data[m * per_src..(m + 1) * per_src],
                cells: b.clone(),
                grid_ny: g.ny,
                grid_nx: g.nx,
                wraps: g.wraps(),
            };
            interpolate(
                self.spec.method,
                &self.spec.map,
                &window,
                rows.clone(),
                cols.clone(),
                &mut out[m * cells..(m + 1) * cells],
            )
            .map_err(|e| QueryError::plan(e.to_string()))?;
        }
        Ok(out)
    }

    /// EXPLAIN's lines for the regrid step.
    pub fn explain_lines(&self, region: &Region) -> Vec<String> {
        let t = &self.spec.map.target;
        let b = t.bounds();
        let src = self.source.snap.schema();
        let (ydim, xdim) = (
            &src.dims[self.spec.src_yx[0]].name,
            &src.dims[self.spec.src_yx[1]].name,
        );
        let mut lines = vec![
            format!(
                "Regrid: {} -> '{}', {}, {} x {} cells of {} x {} (x {}..{}, y {}..{})",
                src.name,
                self.spec.crs,
                self.spec.method.name(),
                t.ny,
                t.nx,
                t.res_x,
                t.res_y,
                b.xmin,
                b.xmax,
                b.ymin,
                b.ymax
            ),
            format!(
                "  transform: {} ({} -> {})",
                match self.spec.cache {
                    CacheLookup::Hit => "cache hit",
                    CacheLookup::Miss => "cache miss, computed",
                },
                self.spec.map.transformer.from,
                self.spec.map.transformer.to
            ),
            format!("  target region: {region} ({} cells)", region.len()),
        ];
        let sr = &self.source.region;
        lines.push(format!(
            "  source box: {ydim} {:?}, {xdim} {:?} ({} x {} cells)",
            sr.0[self.spec.src_yx[0]],
            sr.0[self.spec.src_yx[1]],
            sr.0[self.spec.src_yx[0]].end - sr.0[self.spec.src_yx[0]].start,
            sr.0[self.spec.src_yx[1]].end - sr.0[self.spec.src_yx[1]].start
        ));
        lines
    }
}

/// A buffer's values as `T` (float32 buffers as they are).
fn values<T: Sample>(b: Buffer) -> Vec<T> {
    match b {
        Buffer::F32(a) => a.iter().map(|&v| T::from_f64(v as f64)).collect(),
        other => other.to_f64_vec().into_iter().map(T::from_f64).collect(),
    }
}

/// Cells holding the attribute's fill value are missing.
fn mask_fill<T: Sample>(data: &mut [T], fill: f64) {
    if fill.is_nan() {
        return;
    }
    for v in data.iter_mut() {
        if v.to_f64() == fill {
            *v = T::from_f64(f64::NAN);
        }
    }
}
