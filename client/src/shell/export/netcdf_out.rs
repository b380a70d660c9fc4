//! The NetCDF-4 writer (libnetcdf through the `netcdf` crate): the same variables,
//! coordinates and attributes as the Zarr store, deflate-compressed chunks.

use super::layout::{Attrs, CoordValues, Layout};
use super::Sink;
use arrayq_client::DType;
use netcdf::FileMut;
use std::ops::Range;
use std::path::Path;

pub struct NetcdfSink {
    file: FileMut,
    names: Vec<String>,
    dtypes: Vec<DType>,
    shape: Vec<u64>,
}

fn nc(what: &str, e: netcdf::Error) -> String {
    format!("{what}: {e}")
}

fn put_attrs(var: &mut netcdf::VariableMut<'_>, attrs: &Attrs) -> Result<(), String> {
    for (k, v) in attrs {
        var.put_attribute(k, v.as_str())
            .map_err(|e| nc(&format!("attribute '{k}'"), e))?;
    }
    Ok(())
}

impl NetcdfSink {
    pub fn create(layout: &Layout, out: &Path) -> Result<NetcdfSink, String> {
        let mut file = netcdf::create(out).map_err(|e| nc("create", e))?;
        for (d, &n) in layout.dim_names.iter().zip(&layout.shape) {
            file.add_dimension(d, n as usize)
                .map_err(|e| nc(&format!("dimension '{d}'"), e))?;
        }
        for c in &layout.coords {
            let dims = [c.name.as_str()];
            let what = format!("coordinate '{}'", c.name);
            let mut attrs = c.attrs.clone();
            match &c.values {
                CoordValues::F64(v) => {
                    let mut var = file
                        .add_variable::<f64>(&c.name, &dims)
                        .map_err(|e| nc(&what, e))?;
                    put_attrs(&mut var, &attrs)?;
                    var.put_values(v, ..).map_err(|e| nc(&what, e))?;
                }
                CoordValues::I64(v) => {
                    let mut var = file
                        .add_variable::<i64>(&c.name, &dims)
                        .map_err(|e| nc(&what, e))?;
                    put_attrs(&mut var, &attrs)?;
                    var.put_values(v, ..).map_err(|e| nc(&what, e))?;
                }
                CoordValues::Time { counts, unit_ns } => {
                    attrs.insert("units".into(), CoordValues::time_units(*unit_ns).into());
                    attrs.insert("calendar".into(), "proleptic_gregorian".into());
                    let mut var = file
                        .add_variable::<i64>(&c.name, &dims)
                        .map_err(|e| nc(&what, e))?;
                    put_attrs(&mut var, &attrs)?;
                    var.put_values(counts, ..).map_err(|e| nc(&what, e))?;
                }
                CoordValues::Text(v) => {
                    let mut var = file
                        .add_string_variable(&c.name, &dims)
                        .map_err(|e| nc(&what, e))?;
                    put_attrs(&mut var, &attrs)?;
                    for (i, s) in v.iter().enumerate() {
                        var.put_string(s, [i]).map_err(|e| nc(&what, e))?;
                    }
                }
            }
        }
        let dims: Vec<&str> = layout.dim_names.iter().map(|s| s.as_str()).collect();
        let chunks: Vec<usize> = layout.chunk_shape.iter().map(|&c| c as usize).collect();
        for v in &layout.vars {
            let what = format!("variable '{}'", v.name);
            let mut var = match v.dtype {
                DType::F32 => file.add_variable::<f32>(&v.name, &dims),
                DType::F64 => file.add_variable::<f64>(&v.name, &dims),
                DType::I8 | DType::Bool => file.add_variable::<i8>(&v.name, &dims),
                DType::I16 => file.add_variable::<i16>(&v.name, &dims),
                DType::I32 => file.add_variable::<i32>(&v.name, &dims),
                DType::I64 => file.add_variable::<i64>(&v.name, &dims),
                DType::U8 => file.add_variable::<u8>(&v.name, &dims),
                DType::U16 => file.add_variable::<u16>(&v.name, &dims),
                DType::U32 => file.add_variable::<u32>(&v.name, &dims),
                DType::U64 => file.add_variable::<u64>(&v.name, &dims),
            }
            .map_err(|e| nc(&what, e))?;
            if !dims.is_empty() && layout.len() > 0 {
                var.set_chunking(&chunks).map_err(|e| nc(&what, e))?;
                var.set_compression(1, true).map_err(|e| nc(&what, e))?;
            }
            match v.dtype {
                DType::F32 => var.set_fill_value(f32::NAN),
                DType::F64 => var.set_fill_value(f64::NAN),
                _ => Ok(()),
            }
            .map_err(|e| nc(&what, e))?;
            if v.dtype == DType::Bool {
                // xarray's own encoding of booleans in NetCDF: int8 marked as bool.
                var.put_attribute("dtype", "bool")
                    .map_err(|e| nc(&what, e))?;
            }
            put_attrs(&mut var, &v.attrs)?;
        }
        Ok(NetcdfSink {
            file,
            names: layout.vars.iter().map(|v| v.name.clone()).collect(),
            dtypes: layout.vars.iter().map(|v| v.dtype).collect(),
            shape: layout.shape.clone(),
        })
    }
}

/// Little-endian elements as values of `T`.
fn elements<T: bytemuck::Pod>(bytes: &[u8]) -> Vec<T> {
    let mut v = vec![T::zeroed(); bytes.len() / std::mem::size_of::<T>()];
    bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(bytes);
    v
}

impl Sink for NetcdfSink {
    fn write_slab(&mut self, var: usize, rows: Range<u64>, bytes: Vec<u8>) -> Result<(), String> {
        let name = &self.names[var];
        let what = format!("variable '{name}'");
        let mut v = self
            .file
            .variable_mut(name)
            .ok_or_else(|| format!("{what} is gone"))?;
        let extents: Vec<Range<usize>> = if self.shape.is_empty() {
            Vec::new()
        } else {
            std::iter::once(rows.start as usize..rows.end as usize)
                .chain(self.shape[1..].iter().map(|&n| 0..n as usize))
                .collect()
        };
        macro_rules! put {
            ($t:ty) => {
                if extents.is_empty() {
                    v.put_value(elements::<$t>(&bytes)[0], ..)
                } else {
                    v.put_values(&elements::<$t>(&bytes), extents)
                }
            };
        }
        match self.dtypes[var] {
            DType::F32 => put!(f32),
            DType::F64 => put!(f64),
            DType::I8 | DType::Bool => put!(i8),
            DType::I16 => put!(i16),
            DType::I32 => put!(i32),
            DType::I64 => put!(i64),
            DType::U8 => put!(u8),
            DType::U16 => put!(u16),
            DType::U32 => put!(u32),
            DType::U64 => put!(u64),
        }
        .map_err(|e| nc(&what, e))
    }

    fn finish(self: Box<Self>) -> Result<(), String> {
        self.file.close().map_err(|e| nc("close", e))
    }
}
