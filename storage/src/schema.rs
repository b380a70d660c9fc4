//! Array schemas: dimensions, attributes, physical layouts.

use crate::codec::CodecChain;
use crate::coord::Coordinate;
use crate::dtype::{DType, Scalar};
use crate::error::{Result, StorageError};
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
}

impl Layout {
    pub fn new(name: &str, chunk_shape: Vec<u64>, codec: CodecChain) -> Layout {
        Layout {
            id: 0,
            name: name.to_string(),
            chunk_shape,
            codec,
        }
    }

    pub fn chunk_len(&self) -> usize {
        self.chunk_shape.iter().product::<u64>() as usize
    }
}

/// What an array is: its dimensions, attributes and layouts (the first is primary).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArraySchema {
    pub name: String,
    pub dims: Vec<Dimension>,
    pub attrs: Vec<Attribute>,
    pub layouts: Vec<Layout>,
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
                Coordinate::Labels { labels } => {
                    let set: HashSet<_> = labels.iter().collect();
                    if set.len() != labels.len() {
                        return bad(format!("dimension '{}' has repeated labels", d.name));
                    }
                    if labels.len() as u64 != d.len {
                        return bad(format!(
                            "dimension '{}' has {} labels but length {}",
                            d.name,
                            labels.len(),
                            d.len
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
    if l.chunk_len() > 1 << 28 {
        return bad(format!("layout '{}' chunks exceed 2^28 cells", l.name));
    }
    l.codec.validate()
}

fn valid_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        && s.len() <= 128
}
