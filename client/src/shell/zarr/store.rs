//! A Zarr v2 or v3 group on disk as xarray writes it, read with `zarrs`: its
//! arrays, their dimension names (`_ARRAY_DIMENSIONS` in v2, `dimension_names`
//! in v3), their attributes as numbers and text, and their values as f64.

use crate::shell::cf::Packing;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zarrs::array::{data_type, Array, ArraySubset};
use zarrs::filesystem::FilesystemStore;

pub type ZarrArray = Array<FilesystemStore>;

/// An opened store: a directory holding a Zarr group.
pub struct Store {
    pub path: PathBuf,
    fs: Arc<FilesystemStore>,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, String> {
        let is_group = path.join(".zgroup").is_file() || path.join("zarr.json").is_file();
        if !is_group {
            return Err(format!(
                "{}: not a Zarr store (no .zgroup or zarr.json)",
                path.display()
            ));
        }
        let fs = FilesystemStore::new(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Store {
            path: path.to_path_buf(),
            fs: Arc::new(fs),
        })
    }

    /// The names of the group's arrays (its directories holding `.zarray`, or a
    /// `zarr.json` of an array), sorted.
    pub fn array_names(&self) -> Result<Vec<String>, String> {
        let entries =
            std::fs::read_dir(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        let mut names = Vec::new();
        for e in entries.flatten() {
            let dir = e.path();
            let v3_array = std::fs::read_to_string(dir.join("zarr.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .is_some_and(|m| m["node_type"] == "array");
            if dir.join(".zarray").is_file() || v3_array {
                names.push(e.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// The group's own attributes (a v2 `.zattrs` beside `.zgroup`, a v3 group's
    /// `attributes`).
    pub fn group_attributes(&self) -> Result<serde_json::Map<String, serde_json::Value>, String> {
        zarrs::group::Group::open(self.fs.clone(), "/")
            .map(|g| g.attributes().clone())
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }

    pub fn array(&self, name: &str) -> Result<ZarrArray, String> {
        Array::open(self.fs.clone(), &format!("/{name}"))
            .map_err(|e| format!("{}: array '{name}': {e}", self.path.display()))
    }
}

/// The array's dimension names (empty when it names none).
pub fn dims(a: &ZarrArray) -> Vec<String> {
    if let Some(names) = a.dimension_names() {
        if let Some(v) = names.iter().cloned().collect::<Option<Vec<String>>>() {
            return v;
        }
    }
    match a.attributes().get("_ARRAY_DIMENSIONS") {
        Some(serde_json::Value::Array(v)) => v
            .iter()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn json_number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            // xarray's v3 encoding of a float _FillValue: base64 of its f64 bytes.
            other => {
                use base64::Engine;
                let b = base64::engine::general_purpose::STANDARD
                    .decode(other)
                    .ok()?;
                Some(f64::from_le_bytes(b.try_into().ok()?))
            }
        },
        serde_json::Value::Array(v) => json_number(v.first()?),
        _ => None,
    }
}

/// A numeric attribute as f64 (the first value of a list; "NaN" as NaN).
pub fn number(a: &ZarrArray, name: &str) -> Option<f64> {
    json_number(a.attributes().get(name)?)
}

/// (name, text value if the value is text) of each of `attrs`.
pub fn listed(attrs: &serde_json::Map<String, serde_json::Value>) -> Vec<(&str, Option<String>)> {
    attrs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().map(str::to_string)))
        .collect()
}

/// A text attribute.
pub fn text(a: &ZarrArray, name: &str) -> Option<String> {
    a.attributes().get(name)?.as_str().map(str::to_string)
}

/// The array's packing and missing values. A v2 array's `fill_value` is a missing
/// value too (xarray reads it as `_FillValue`); a v3 array's is only the value of
/// chunks never written, so its `_FillValue` attribute alone counts.
pub fn packing(a: &ZarrArray) -> Packing {
    let mut p = Packing::from_attrs(|n| number(a, n));
    let meta = serde_json::to_value(a.metadata()).unwrap_or_default();
    if meta["zarr_format"] == 2 {
        if let Some(f) = json_number(&meta["fill_value"]) {
            p.add_missing(f);
        }
    }
    p
}

/// All values of a one-dimensional (coordinate) array as f64.
pub fn read_all_f64(a: &ZarrArray) -> Result<Vec<f64>, String> {
    read_f64(a, &a.subset_all().to_ranges())
}

/// The values of `region` (one range per dimension) as f64, converted from the
/// array's numeric type.
pub fn read_f64(a: &ZarrArray, region: &[Range<u64>]) -> Result<Vec<f64>, String> {
    let subset = ArraySubset::new_with_ranges(region);
    let dt = a.data_type();
    macro_rules! read_as {
        ($($make:ident => $t:ty),*) => {
            $(if *dt == data_type::$make() {
                return a
                    .retrieve_array_subset::<Vec<$t>>(&subset)
                    .map(|v| v.into_iter().map(|x| x as f64).collect())
                    .map_err(|e| e.to_string());
            })*
        };
    }
    read_as!(float32 => f32, float64 => f64, int8 => i8, int16 => i16, int32 => i32,
        int64 => i64, uint8 => u8, uint16 => u16, uint32 => u32, uint64 => u64);
    Err(format!("data type {dt} is not a number type arrayq loads"))
}
