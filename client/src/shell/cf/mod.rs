//! The CF conventions both gridded loaders (`load netcdf`, `load zarr`) decode:
//! time units and calendars ([`TimeUnits`]), packing and missing values
//! ([`Packing`]) and evenly spaced coordinates ([`regular`]). Each format reads
//! its attributes its own way and hands them over as numbers and text.

mod packing;
mod time;

pub use packing::{regular, Packing};
pub use time::TimeUnits;
