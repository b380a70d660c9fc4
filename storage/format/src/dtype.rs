//! Element types and the one mapping of type names to them.
//!
//! SQL's meaning of a name wins wherever names collide: `int8` is PostgreSQL's 8-byte
//! integer (i64), not an 8-bit one; the 1-byte integer is `int1` / `tinyint` / `i8`.
//! The SQL parser, the gRPC name lookup and the shell all use [`DType::from_name`].

use crate::scalar::Scalar;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The element type of an attribute.
///
/// Serialized (in the store's catalog) as its canonical short name, [`DType::name`]:
/// `"f32"`, `"i8"`, `"i64"`, ... — never as an alias, so a stored schema means the
/// same whatever aliases exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
}

/// Every accepted name other than the canonical short names, lower case.
const ALIASES: &[(&str, DType)] = &[
    ("float32", DType::F32),
    ("float4", DType::F32),
    ("real", DType::F32),
    ("float", DType::F32),
    ("float64", DType::F64),
    ("float8", DType::F64),
    ("double", DType::F64),
    ("double precision", DType::F64),
    ("int1", DType::I8),
    ("tinyint", DType::I8),
    ("int16", DType::I16),
    ("int2", DType::I16),
    ("smallint", DType::I16),
    ("int32", DType::I32),
    ("int4", DType::I32),
    ("int", DType::I32),
    ("integer", DType::I32),
    ("int64", DType::I64),
    ("int8", DType::I64),
    ("bigint", DType::I64),
    ("uint8", DType::U8),
    ("uint16", DType::U16),
    ("uint32", DType::U32),
    ("uint64", DType::U64),
    ("boolean", DType::Bool),
];

impl DType {
    pub const ALL: [DType; 11] = [
        DType::F32,
        DType::F64,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::Bool,
    ];

    /// Bytes per element (bool: one byte 0/1).
    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }

    /// The canonical short name (`f32`, `i64`, `bool`): what the catalog stores and
    /// what errors and DESCRIBE print.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I8 => "i8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::U64 => "u64",
            DType::Bool => "bool",
        }
    }

    /// The dtype a type name means, case-insensitively, with runs of blanks taken as
    /// one space (`DOUBLE   PRECISION`): canonical short names and the SQL and numpy
    /// style aliases (`int8` = `bigint` = i64, `int1` = `tinyint` = i8, `real` = f32,
    /// `uint16`, `boolean`, ...).
    pub fn from_name(name: &str) -> Option<DType> {
        let n = name
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        DType::ALL
            .into_iter()
            .find(|d| d.name() == n)
            .or_else(|| ALIASES.iter().find(|(a, _)| *a == n).map(|&(_, d)| d))
    }

    /// Same as [`DType::from_name`] (kept for existing callers).
    pub fn parse(name: &str) -> Option<DType> {
        DType::from_name(name)
    }

    /// All names of this dtype: the canonical one first, then its aliases.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.name()).chain(
            ALIASES
                .iter()
                .filter(move |(_, d)| *d == self)
                .map(|&(a, _)| a),
        )
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// The fill value used when a schema names none: NaN for floats, zero otherwise.
    pub fn default_fill(self) -> Scalar {
        match self {
            DType::F32 | DType::F64 => Scalar::F64(f64::NAN),
            DType::Bool => Scalar::Bool(false),
            DType::U8 | DType::U16 | DType::U32 | DType::U64 => Scalar::U64(0),
            _ => Scalar::I64(0),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A type name that [`DType::from_name`] does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown type '{0}' (expected f32, f64, i8..i64, u8..u64, bool or an SQL name such as REAL, DOUBLE, TINYINT, SMALLINT, INT, BIGINT, BOOLEAN)")]
pub struct UnknownDType(pub String);

impl FromStr for DType {
    type Err = UnknownDType;

    fn from_str(s: &str) -> Result<DType, UnknownDType> {
        DType::from_name(s).ok_or_else(|| UnknownDType(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, element size in bytes, signed integer?, float?) from the SQL / numpy
    /// definitions of each name, written out independently of the table above.
    const EXPECTED: &[(&str, usize, bool, bool)] = &[
        ("int8", 8, true, false),
        ("INT8", 8, true, false),
        ("bigint", 8, true, false),
        ("int64", 8, true, false),
        ("i64", 8, true, false),
        ("int4", 4, true, false),
        ("int", 4, true, false),
        ("Integer", 4, true, false),
        ("int32", 4, true, false),
        ("int2", 2, true, false),
        ("smallint", 2, true, false),
        ("int16", 2, true, false),
        ("int1", 1, true, false),
        ("tinyint", 1, true, false),
        ("i8", 1, true, false),
        ("float4", 4, false, true),
        ("real", 4, false, true),
        ("float32", 4, false, true),
        ("float8", 8, false, true),
        ("double precision", 8, false, true),
        ("DOUBLE  PRECISION", 8, false, true),
        ("float64", 8, false, true),
        ("double", 8, false, true),
    ];

    #[test]
    fn sql_meaning_of_integer_names() {
        for &(name, size, signed, float) in EXPECTED {
            let d = DType::from_name(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(d.size(), size, "{name}");
            assert_eq!(d.is_float(), float, "{name}");
            let is_signed = matches!(d, DType::I8 | DType::I16 | DType::I32 | DType::I64);
            assert_eq!(is_signed, signed, "{name}");
        }
        assert_eq!(DType::from_name("int8"), Some(DType::I64));
        assert_eq!(DType::from_name("int1"), Some(DType::I8));
        assert_eq!(DType::from_name("tinyint"), Some(DType::I8));
        assert_eq!(DType::from_name("uint8"), Some(DType::U8));
        assert_eq!(DType::from_name("uint64"), Some(DType::U64));
        assert_eq!(DType::from_name("boolean"), Some(DType::Bool));
    }

    #[test]
    fn every_name_round_trips() {
        for d in DType::ALL {
            assert_eq!(DType::from_name(d.name()), Some(d));
            assert_eq!(d.to_string().parse::<DType>(), Ok(d));
            for n in d.names() {
                assert_eq!(DType::from_name(n), Some(d), "{n}");
                assert_eq!(DType::from_name(&n.to_ascii_uppercase()), Some(d), "{n}");
            }
        }
        // No name means two dtypes.
        let mut all: Vec<_> = DType::ALL.iter().flat_map(|d| d.names()).collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn unknown_names_are_named_in_the_error() {
        let e = "complex64".parse::<DType>().unwrap_err();
        assert!(e.to_string().starts_with("unknown type 'complex64'"), "{e}");
        assert_eq!(DType::from_name(""), None);
        assert_eq!(DType::from_name("int 8"), None);
    }

    #[test]
    fn catalog_spelling_is_the_short_name() {
        // The bytes existing stores hold: serde's lowercase variant names.
        let stored = [
            (DType::F32, "f32"),
            (DType::F64, "f64"),
            (DType::I8, "i8"),
            (DType::I16, "i16"),
            (DType::I32, "i32"),
            (DType::I64, "i64"),
            (DType::U8, "u8"),
            (DType::U16, "u16"),
            (DType::U32, "u32"),
            (DType::U64, "u64"),
            (DType::Bool, "bool"),
        ];
        for (d, s) in stored {
            assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{s}\""));
            assert_eq!(
                serde_json::from_str::<DType>(&format!("\"{s}\"")).unwrap(),
                d
            );
            assert_eq!(d.name(), s);
        }
        // Aliases are names for people, not catalog spellings.
        assert!(serde_json::from_str::<DType>("\"int8\"").is_err());
    }
}
