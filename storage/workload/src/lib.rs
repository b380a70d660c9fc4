//! Reference workloads of arrayq: an ERA5-like temperature cube ([`era5`]) and an
//! energy portfolio of quarter-hourly timeseries ([`energy`]), and the loaders that
//! put them into an arrayq store ([`load`]).
//!
//! Both are closed formulas, so tests and benchmarks can generate any part of the
//! data on demand and compute expected query answers independently (the project's
//! numpy reference lives in `tests/reference/workload_ref.py`). Every value is
//! computed in `f64` in the same operation order as the numpy reference and rounded
//! to `f32` once, at the end, so both produce bit-identical data.

#![warn(missing_docs)]

use std::fmt;
use std::str::FromStr;

pub mod energy;
pub mod era5;
#[cfg(feature = "store")]
pub mod load;
pub mod plan;

/// SplitMix64 finaliser (wrapping arithmetic): the single source of all noise, chosen
/// because every language can reproduce it exactly from an integer key.
pub fn splitmix64(key: u64) -> u64 {
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Maps a hash to a uniform `f64` in `[0, 1)` using its top 53 bits (exact in `f64`).
pub fn unit(z: u64) -> f64 {
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Size of a workload; all scales share the formulas, only the extent changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scale {
    /// Tiny: seconds to generate, for unit and integration tests.
    XS,
    /// One month: a realistic but quick benchmark.
    S,
    /// One year: the full benchmark size.
    M,
}

impl Scale {
    /// All scales, smallest first (handy for CLIs and loops in benchmarks).
    pub const ALL: [Scale; 3] = [Scale::XS, Scale::S, Scale::M];
}

/// Error of [`Scale::from_str`]: the text named no scale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseScaleError(pub String);

impl fmt::Display for ParseScaleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown scale {:?} (expected XS, S or M)", self.0)
    }
}

impl std::error::Error for ParseScaleError {}

/// Parses "xs", "s" or "m" in any case, as typed on a command line.
impl FromStr for Scale {
    type Err = ParseScaleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "XS" => Ok(Scale::XS),
            "S" => Ok(Scale::S),
            "M" => Ok(Scale::M),
            _ => Err(ParseScaleError(s.to_string())),
        }
    }
}

/// Prints the canonical upper-case name used by the README and the Python references.
impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scale::XS => "XS",
            Scale::S => "S",
            Scale::M => "M",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_known_values() {
        // Computed independently with Python's arbitrary-precision ints masked to 64 bits.
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(1), 0x910A_2DEC_8902_5CC1);
        assert_eq!(splitmix64(12345), 0x2211_8258_A9D1_11A0);
        assert_eq!(splitmix64(u64::MAX), 0xE4D9_7177_1B65_2C20);
    }

    #[test]
    fn unit_range() {
        assert_eq!(unit(0), 0.0);
        assert_eq!(unit(u64::MAX), 1.0 - 2f64.powi(-53));
        assert_eq!(unit(1 << 63), 0.5);
    }

    #[test]
    fn scale_parse_and_display() {
        for s in Scale::ALL {
            assert_eq!(s.to_string().parse::<Scale>(), Ok(s));
            assert_eq!(s.to_string().to_lowercase().parse::<Scale>(), Ok(s));
        }
        assert_eq!("Xs".parse::<Scale>(), Ok(Scale::XS));
        assert!("L".parse::<Scale>().is_err());
    }
}
