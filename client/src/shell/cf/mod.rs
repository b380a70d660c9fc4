//! The CF conventions both gridded loaders (`load netcdf`, `load zarr`) decode:
//! time units and calendars ([`TimeUnits`]), packing and missing values
//! ([`Packing`]), evenly spaced coordinates ([`regular`]) and which attributes
//! become the array's metadata ([`metadata`]). Each format reads
//! its attributes its own way and hands them over as numbers and text.

pub mod metadata;
mod packing;
mod time;

pub use packing::{regular, Packing};
pub use time::TimeUnits;
