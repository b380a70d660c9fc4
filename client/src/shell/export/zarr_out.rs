//! The Zarr writer: a group as xarray writes one (`_ARRAY_DIMENSIONS` in v2,
//! `dimension_names` in v3), zstd-compressed chunks, and consolidated metadata
//! (`.zmetadata` in v2, inline in the group's `zarr.json` in v3) so
//! `xarray.open_zarr` opens it without a warning.

use super::layout::{Attrs, CoordValues, Layout};
use super::Sink;
use arrayq_client::DType;
use serde_json::{json, Map, Value};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zarrs::array::{Array, ArrayBytes, ArrayMetadata, ArraySubset};
use zarrs::filesystem::FilesystemStore;

pub struct ZarrSink {
    root: PathBuf,
    version: u8,
    /// The data variables' arrays, in the layout's order.
    arrays: Vec<Array<FilesystemStore>>,
    shape: Vec<u64>,
    names: Vec<String>,
}

/// How a variable is stored: its data type and fill value in either version.
struct Kind {
    v2_dtype: &'static str,
    v3_dtype: &'static str,
    /// The fill value; floats get NaN, which xarray reads as `_FillValue`.
    fill: Value,
}

fn kind(d: DType) -> Kind {
    let (v2_dtype, v3_dtype) = match d {
        DType::F32 => ("<f4", "float32"),
        DType::F64 => ("<f8", "float64"),
        DType::I8 => ("|i1", "int8"),
        DType::I16 => ("<i2", "int16"),
        DType::I32 => ("<i4", "int32"),
        DType::I64 => ("<i8", "int64"),
        DType::U8 => ("|u1", "uint8"),
        DType::U16 => ("<u2", "uint16"),
        DType::U32 => ("<u4", "uint32"),
        DType::U64 => ("<u8", "uint64"),
        DType::Bool => ("|b1", "bool"),
    };
    let fill = match d {
        DType::F32 | DType::F64 => json!("NaN"),
        DType::Bool => json!(false),
        _ => json!(0),
    };
    Kind {
        v2_dtype,
        v3_dtype,
        fill,
    }
}

/// xarray's v3 `_FillValue` attribute of a float variable: the little-endian
/// f64 bytes in base64 (here always NaN).
const NAN_FILL_V3: &str = "AAAAAAAA+H8=";

impl ZarrSink {
    pub fn create(layout: &Layout, out: &Path, version: u8) -> Result<ZarrSink, String> {
        std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
        let store = Arc::new(FilesystemStore::new(out).map_err(|e| e.to_string())?);
        let mut sink = ZarrSink {
            root: out.to_path_buf(),
            version,
            arrays: Vec::new(),
            shape: layout.shape.clone(),
            names: Vec::new(),
        };
        if version == 2 {
            write_json(&out.join(".zgroup"), &json!({"zarr_format": 2}))?;
            write_json(&out.join(".zattrs"), &json!({}))?;
        } else {
            write_json(
                &out.join("zarr.json"),
                &json!({"zarr_format": 3, "node_type": "group", "attributes": {}}),
            )?;
        }
        for c in &layout.coords {
            let dims = [c.name.clone()];
            let n = [c.values.len() as u64];
            let mut attrs = c.attrs.clone();
            let a = match &c.values {
                CoordValues::F64(v) => {
                    let a = sink.array(&store, &c.name, &dims, &n, &n, "f64", &attrs)?;
                    a.store_array_subset(&a.subset_all(), v.as_slice())
                        .map(|_| a)
                }
                CoordValues::I64(v) => {
                    let a = sink.array(&store, &c.name, &dims, &n, &n, "i64", &attrs)?;
                    a.store_array_subset(&a.subset_all(), v.as_slice())
                        .map(|_| a)
                }
                CoordValues::Time { counts, unit_ns } => {
                    attrs.insert("units".into(), CoordValues::time_units(*unit_ns).into());
                    attrs.insert("calendar".into(), "proleptic_gregorian".into());
                    let a = sink.array(&store, &c.name, &dims, &n, &n, "time", &attrs)?;
                    a.store_array_subset(&a.subset_all(), counts.as_slice())
                        .map(|_| a)
                }
                CoordValues::Text(v) => {
                    let a = sink.array(&store, &c.name, &dims, &n, &n, "text", &attrs)?;
                    a.store_array_subset(&a.subset_all(), v.clone()).map(|_| a)
                }
            };
            a.map_err(|e| format!("coordinate '{}': {e}", c.name))?;
        }
        for v in &layout.vars {
            let a = sink.array_of(
                &store,
                &v.name,
                &layout.dim_names,
                &layout.shape,
                &layout.chunk_shape,
                kind(v.dtype),
                matches!(v.dtype, DType::F32 | DType::F64),
                &v.attrs,
            )?;
            sink.arrays.push(a);
        }
        Ok(sink)
    }

    /// A coordinate array of one chunk.
    #[allow(clippy::too_many_arguments)]
    fn array(
        &mut self,
        store: &Arc<FilesystemStore>,
        name: &str,
        dims: &[String],
        shape: &[u64],
        chunks: &[u64],
        what: &str,
        attrs: &Attrs,
    ) -> Result<Array<FilesystemStore>, String> {
        let chunks: Vec<u64> = chunks.iter().map(|&c| c.max(1)).collect();
        let (k, float) = match what {
            "f64" => (kind(DType::F64), true),
            "text" => (
                Kind {
                    v2_dtype: "|O",
                    v3_dtype: "string",
                    fill: json!(""),
                },
                false,
            ),
            _ => (kind(DType::I64), false),
        };
        self.array_of(store, name, dims, shape, &chunks, k, float, attrs)
    }

    #[allow(clippy::too_many_arguments)]
    fn array_of(
        &mut self,
        store: &Arc<FilesystemStore>,
        name: &str,
        dims: &[String],
        shape: &[u64],
        chunks: &[u64],
        k: Kind,
        float: bool,
        attrs: &Attrs,
    ) -> Result<Array<FilesystemStore>, String> {
        let text = k.v3_dtype == "string";
        let mut attributes: Map<String, Value> = attrs
            .iter()
            .map(|(a, v)| (a.clone(), Value::String(v.clone())))
            .collect();
        let meta = if self.version == 2 {
            attributes.insert("_ARRAY_DIMENSIONS".into(), json!(dims));
            // v2 readers take fill_value as _FillValue: only floats have one (NaN).
            let fill = if float { k.fill } else { Value::Null };
            json!({
                "zarr_format": 2,
                "shape": shape,
                "chunks": chunks,
                "dtype": k.v2_dtype,
                "compressor": if text { Value::Null } else { json!({"id": "zstd", "level": 3}) },
                "fill_value": fill,
                "order": "C",
                "filters": if text { json!([{"id": "vlen-utf8"}]) } else { Value::Null },
                "dimension_separator": ".",
                "attributes": attributes,
            })
        } else {
            if float {
                attributes.insert("_FillValue".into(), json!(NAN_FILL_V3));
            }
            let codecs = if text {
                json!([{"name": "vlen-utf8"}])
            } else {
                json!([
                    {"name": "bytes", "configuration": {"endian": "little"}},
                    {"name": "zstd", "configuration": {"level": 3, "checksum": false}}
                ])
            };
            json!({
                "zarr_format": 3,
                "node_type": "array",
                "shape": shape,
                "data_type": k.v3_dtype,
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
                "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
                "fill_value": k.fill,
                "codecs": codecs,
                "attributes": attributes,
                "dimension_names": dims,
            })
        };
        let meta: ArrayMetadata =
            serde_json::from_value(meta).map_err(|e| format!("'{name}': metadata: {e}"))?;
        let a = Array::new_with_metadata(store.clone(), &format!("/{name}"), meta)
            .map_err(|e| format!("'{name}': {e}"))?;
        a.store_metadata().map_err(|e| format!("'{name}': {e}"))?;
        self.names.push(name.to_string());
        Ok(a)
    }

    /// The group's metadata with every array's, as xarray's `consolidated=True`
    /// reads it.
    fn consolidate(&self) -> Result<(), String> {
        if self.version == 2 {
            let mut m = Map::new();
            m.insert(".zgroup".into(), json!({"zarr_format": 2}));
            m.insert(".zattrs".into(), json!({}));
            for n in &self.names {
                for f in [".zarray", ".zattrs"] {
                    let p = self.root.join(n).join(f);
                    if p.is_file() {
                        m.insert(format!("{n}/{f}"), read_json(&p)?);
                    }
                }
            }
            write_json(
                &self.root.join(".zmetadata"),
                &json!({"metadata": m, "zarr_consolidated_format": 1}),
            )
        } else {
            let mut m = Map::new();
            for n in &self.names {
                m.insert(n.clone(), read_json(&self.root.join(n).join("zarr.json"))?);
            }
            write_json(
                &self.root.join("zarr.json"),
                &json!({
                    "zarr_format": 3,
                    "node_type": "group",
                    "attributes": {},
                    "consolidated_metadata": {"kind": "inline", "must_understand": false, "metadata": m},
                }),
            )
        }
    }
}

impl Sink for ZarrSink {
    fn write_slab(&mut self, var: usize, rows: Range<u64>, bytes: Vec<u8>) -> Result<(), String> {
        let ranges: Vec<Range<u64>> = if self.shape.is_empty() {
            Vec::new()
        } else {
            std::iter::once(rows)
                .chain(self.shape[1..].iter().map(|&n| 0..n))
                .collect()
        };
        let a = &self.arrays[var];
        // The result's little-endian bytes are the array's native-endian bytes on
        // the little-endian machines arrayq runs on.
        a.store_array_subset(
            &ArraySubset::new_with_ranges(&ranges),
            ArrayBytes::new_flen(bytes),
        )
        .map_err(|e| format!("variable '{}': {e}", a.path()))
    }

    fn finish(self: Box<Self>) -> Result<(), String> {
        self.consolidate()
    }
}

fn write_json(path: &Path, v: &Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_json(path: &Path) -> Result<Value, String> {
    let t = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&t).map_err(|e| format!("{}: {e}", path.display()))
}
