//! Array schemas: dimensions, attributes, physical layouts.

use crate::codec::CodecChain;
use crate::coord::{Coordinate, LabelRef};
use crate::dtype::{DType, Scalar};
use crate::error::{Result, StorageError};
use crate::metadata::Metadata;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// A named axis with its coordinate and current length.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dimension {
    pub name: String,
    pub coord: Coordinate,
    /// Current number of cells (for label dimensions, the number of labels).
    pub len: u64,
    /// Whether writes may extend it (like NetCDF's unlimited dimension).
    pub growable: bool,
}

impl Dimension {
    /// Position of `label` (O(1) amortised): `Ok(None)` when the dimension does not
    /// have it, an error naming the dimension and the label when the label's kind is
    /// not the dimension's (text for int64 labels or the reverse) or the dimension has
    /// no labels at all.
    pub fn label_position(&self, label: LabelRef<'_>) -> Result<Option<u64>> {
        self.check_label_kind(label)?;
        Ok(self.coord.label_position(label))
    }

    /// Fails unless `label` is of this label dimension's kind.
    pub fn check_label_kind(&self, label: LabelRef<'_>) -> Result<()> {
        let fits = matches!(
            (&self.coord, label),
            (Coordinate::Labels { .. }, LabelRef::Int(_))
                | (Coordinate::TextLabels { .. }, LabelRef::Text(_))
        );
        if fits {
            return Ok(());
        }
        Err(StorageError::LabelKind {
            dim: self.name.clone(),
            label: label.to_string(),
            has: match self.coord {
                Coordinate::Labels { .. } => "integer labels",
                Coordinate::TextLabels { .. } => "text labels",
                Coordinate::Regular { .. } => "regular coordinates, not labels",
                Coordinate::Time { .. } => "time coordinates, not labels",
            },
        })
    }
}

/// A named, typed value stored at every cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// Stable id used in chunk keys; never reused within an array.
    pub id: u16,
    pub name: String,
    pub dtype: DType,
    /// Little-endian bytes of the fill value (JSON cannot carry NaN).
    pub fill: Vec<u8>,
}

impl Attribute {
    pub fn new(name: &str, dtype: DType, fill: Option<Scalar>) -> Attribute {
        let fill = fill.unwrap_or_else(|| dtype.default_fill());
        Attribute {
            id: 0,
            name: name.to_string(),
            dtype,
            fill: fill.to_le_bytes(dtype),
        }
    }

    pub fn fill_value(&self) -> Scalar {
        Scalar::from_le_bytes(self.dtype, &self.fill)
    }
}

/// One physical chunking of the whole array, with its codec chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    /// Stable id used in chunk keys; never reused within an array.
    pub id: u16,
    pub name: String,
    pub chunk_shape: Vec<u64>,
    pub codec: CodecChain,
    /// Per dimension, how many chunks the stored chunk keys are shifted by: the chunk
    /// at (visible) chunk coordinate `c` is stored under `c + key_offset`. It lets a
    /// dimension grow backward by whole chunks without re-keying what is stored
    /// ([`crate::WriteTx::prepend`]). Empty means zeros (and is how it is serialized).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_offset: Vec<u64>,
}

impl Layout {
    pub fn new(name: &str, chunk_shape: Vec<u64>, codec: CodecChain) -> Layout {
        Layout {
            id: 0,
            name: name.to_string(),
            chunk_shape,
            codec,
            key_offset: Vec::new(),
        }
    }

    /// The chunk coordinates chunk `c` is stored under (see [`Layout::key_offset`]).
    pub fn key_coords<'a>(&self, c: &'a [u64]) -> std::borrow::Cow<'a, [u64]> {
        if self.key_offset.iter().all(|&o| o == 0) {
            return std::borrow::Cow::Borrowed(c);
        }
        std::borrow::Cow::Owned(c.iter().zip(&self.key_offset).map(|(c, o)| c + o).collect())
    }

    /// The chunk a stored key's coordinates name (the inverse of
    /// [`Layout::key_coords`]); `None` for a key before the grid's start.
    pub fn grid_coords(&self, key: &[u64]) -> Option<Vec<u64>> {
        key.iter()
            .zip(self.key_offset.iter().chain(std::iter::repeat(&0)))
            .map(|(k, o)| k.checked_sub(*o))
            .collect()
    }

    pub fn chunk_len(&self) -> usize {
        self.chunk_shape.iter().product::<u64>() as usize
    }
}

/// Name of the layout an array gets when its creator gives none.
pub const DEFAULT_LAYOUT_NAME: &str = "primary";
/// zstd level of the default layout, and of layouts that leave the level to the server.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// Largest extent of a default chunk along one dimension.
pub const DEFAULT_CHUNK_EXTENT: u64 = 256;
/// Largest number of cells of a default chunk.
pub const DEFAULT_CHUNK_CELLS: u64 = 1 << 20;

/// The chunk shape an array gets when its creator gives none (SQL `CREATE ARRAY`
/// without `chunks`, gRPC `CreateArray` without layouts): per dimension its length
/// clamped to 1..=256, or 256 when growable; then, while the chunk holds more than
/// 2^20 cells, the largest extent (the last of equals) is halved, rounding up.
pub fn default_chunk_shape(dims: &[Dimension]) -> Vec<u64> {
    let mut shape: Vec<u64> = dims
        .iter()
        .map(|d| {
            if d.growable {
                DEFAULT_CHUNK_EXTENT
            } else {
                d.len.clamp(1, DEFAULT_CHUNK_EXTENT)
            }
        })
        .collect();
    while shape.iter().product::<u64>() > DEFAULT_CHUNK_CELLS {
        let Some((k, _)) = shape.iter().enumerate().max_by_key(|&(_, x)| *x) else {
            break;
        };
        shape[k] = shape[k].div_ceil(2);
    }
    shape
}

/// The layout an array gets when its creator gives none: [`DEFAULT_LAYOUT_NAME`],
/// [`default_chunk_shape`], byte shuffle by the largest element size, then zstd at
/// [`DEFAULT_ZSTD_LEVEL`].
pub fn default_layout(dims: &[Dimension], attrs: &[Attribute]) -> Layout {
    let elem_size = attrs.iter().map(|a| a.dtype.size()).max().unwrap_or(4);
    Layout::new(
        DEFAULT_LAYOUT_NAME,
        default_chunk_shape(dims),
        CodecChain::shuffle_zstd(elem_size, DEFAULT_ZSTD_LEVEL),
    )
}

/// What an array is: its dimensions, attributes and layouts (the first is primary).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArraySchema {
    pub name: String,
    pub dims: Vec<Dimension>,
    pub attrs: Vec<Attribute>,
    pub layouts: Vec<Layout>,
    /// Descriptive metadata (CF attributes) of the array, its dimensions and attributes.
    #[serde(default, skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
}

impl ArraySchema {
    pub fn shape(&self) -> Vec<u64> {
        self.dims.iter().map(|d| d.len).collect()
    }

    pub fn attr(&self, name: &str) -> Result<&Attribute> {
        self.attrs
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| StorageError::UnknownAttribute {
                array: self.name.clone(),
                attr: name.to_string(),
            })
    }

    pub fn attr_index(&self, name: &str) -> Result<usize> {
        let a = self.attr(name)?;
        Ok(self.attrs.iter().position(|x| x.id == a.id).unwrap())
    }

    pub fn dim_index(&self, name: &str) -> Result<usize> {
        self.dims
            .iter()
            .position(|d| d.name == name)
            .ok_or_else(|| StorageError::UnknownDimension {
                array: self.name.clone(),
                dim: name.to_string(),
            })
    }

    pub fn layout_index(&self, name: &str) -> Result<usize> {
        self.layouts
            .iter()
            .position(|l| l.name == name)
            .ok_or_else(|| StorageError::UnknownLayout {
                array: self.name.clone(),
                layout: name.to_string(),
            })
    }

    /// Checks names, ranks and chunk shapes; assigns ids to attributes and layouts.
    pub fn validate(&mut self) -> Result<()> {
        let bad = |m: String| Err(StorageError::InvalidSchema(m));
        if !valid_name(&self.name) {
            return bad(format!(
                "array name '{}' is not a valid identifier",
                self.name
            ));
        }
        if self.dims.is_empty() {
            return bad(format!(
                "array '{}' needs at least one dimension",
                self.name
            ));
        }
        if self.attrs.is_empty() {
            return bad(format!(
                "array '{}' needs at least one attribute",
                self.name
            ));
        }
        if self.layouts.is_empty() {
            return bad(format!("array '{}' needs a chunk layout", self.name));
        }
        let mut names = HashSet::new();
        for d in &self.dims {
            if !valid_name(&d.name) || !names.insert(d.name.clone()) {
                return bad(format!(
                    "dimension name '{}' is invalid or repeated",
                    d.name
                ));
            }
            match &d.coord {
                Coordinate::Regular { start, step } => {
                    if !start.is_finite() || !step.is_finite() || *step == 0.0 {
                        return bad(format!(
                            "dimension '{}' needs a finite, non-zero step",
                            d.name
                        ));
                    }
                }
                Coordinate::Time { step_ns, .. } => {
                    if *step_ns <= 0 {
                        return bad(format!("time dimension '{}' needs a positive step", d.name));
                    }
                }
                Coordinate::Labels { .. } | Coordinate::TextLabels { .. } => {
                    let n = d.coord.label_count();
                    let repeated = match &d.coord {
                        Coordinate::Labels { labels } => {
                            labels.iter().collect::<HashSet<_>>().len() != n
                        }
                        Coordinate::TextLabels { labels } => {
                            labels.iter().collect::<HashSet<_>>().len() != n
                        }
                        _ => false,
                    };
                    if repeated {
                        return bad(format!("dimension '{}' has repeated labels", d.name));
                    }
                    if n as u64 != d.len {
                        return bad(format!(
                            "dimension '{}' has {n} labels but length {}",
                            d.name, d.len
                        ));
                    }
                }
            }
        }
        for (k, a) in self.attrs.iter_mut().enumerate() {
            if !valid_name(&a.name) || !names.insert(a.name.clone()) {
                return bad(format!(
                    "attribute name '{}' is invalid or clashes with another name",
                    a.name
                ));
            }
            if a.fill.len() != a.dtype.size() {
                return bad(format!("attribute '{}' has a malformed fill value", a.name));
            }
            a.id = k as u16;
        }
        self.metadata.validate(&self.name, &names)?;
        let mut lnames = HashSet::new();
        for (k, l) in self.layouts.iter_mut().enumerate() {
            check_layout(l, self.dims.len(), &mut lnames)?;
            l.id = k as u16;
        }
        Ok(())
    }
}

pub(crate) fn check_layout(l: &Layout, rank: usize, names: &mut HashSet<String>) -> Result<()> {
    let bad = |m: String| Err(StorageError::InvalidSchema(m));
    if !valid_name(&l.name) || !names.insert(l.name.clone()) {
        return bad(format!("layout name '{}' is invalid or repeated", l.name));
    }
    if l.chunk_shape.len() != rank {
        return bad(format!(
            "layout '{}' has a chunk shape of rank {} for {} dimensions",
            l.name,
            l.chunk_shape.len(),
            rank
        ));
    }
    if l.chunk_shape.contains(&0) {
        return bad(format!("layout '{}' has a zero chunk extent", l.name));
    }
    if !l.key_offset.is_empty() && l.key_offset.len() != rank {
        return bad(format!(
            "layout '{}' has a key offset of rank {} for {} dimensions",
            l.name,
            l.key_offset.len(),
            rank
        ));
    }
    if l.chunk_len() > 1 << 28 {
        return bad(format!("layout '{}' chunks exceed 2^28 cells", l.name));
    }
    Ok(l.codec.validate()?)
}

pub fn valid_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        && s.len() <= 128
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::BytesToBytes;

    fn dim(len: u64, growable: bool) -> Dimension {
        Dimension {
            name: "d".into(),
            coord: Coordinate::Regular {
                start: 0.0,
                step: 1.0,
            },
            len,
            growable,
        }
    }

    #[test]
    fn default_chunk_shapes_follow_the_rule() {
        // Short fixed dimensions are taken whole; an empty one still gets one cell.
        assert_eq!(default_chunk_shape(&[dim(10, false)]), vec![10]);
        assert_eq!(default_chunk_shape(&[dim(0, false)]), vec![1]);
        assert_eq!(default_chunk_shape(&[dim(3, true)]), vec![256]);
        // era5 (time growable, 153 lat, 281 lon): 256x153x256 = 10,027,008 cells, then
        // halve 256 (lon) 256 (time) 153 (lat) 128 (lon): 128x77x64 = 630,784 cells.
        assert_eq!(
            default_chunk_shape(&[dim(0, true), dim(153, false), dim(281, false)]),
            vec![128, 77, 64]
        );
        // Four 256s are halved round-robin from the last until 32^4 = 2^20.
        assert_eq!(default_chunk_shape(&vec![dim(1000, false); 4]), vec![32; 4]);
    }

    #[test]
    fn default_layout_shuffles_by_the_widest_element() {
        let attrs = [
            Attribute::new("a", DType::I16, None),
            Attribute::new("b", DType::F64, None),
        ];
        let l = default_layout(&[dim(5, false), dim(7, false)], &attrs);
        assert_eq!(l.name, "primary");
        assert_eq!(l.chunk_shape, vec![5, 7]);
        assert_eq!(
            l.codec.bytes_to_bytes,
            vec![
                BytesToBytes::Shuffle { elem_size: 8 },
                BytesToBytes::Zstd { level: 3 }
            ]
        );
    }
}
