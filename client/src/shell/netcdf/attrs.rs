//! A NetCDF variable's attributes as the CF decoding wants them: numbers as f64,
//! text as strings.

use crate::shell::cf::Packing;
use netcdf::{AttributeValue, Variable};

/// A variable's numeric attribute as f64 (the first value of a list).
pub fn number(var: &Variable, name: &str) -> Option<f64> {
    let v = var.attribute_value(name)?.ok()?;
    Some(match v {
        AttributeValue::Uchar(x) => x as f64,
        AttributeValue::Schar(x) => x as f64,
        AttributeValue::Ushort(x) => x as f64,
        AttributeValue::Short(x) => x as f64,
        AttributeValue::Uint(x) => x as f64,
        AttributeValue::Int(x) => x as f64,
        AttributeValue::Ulonglong(x) => x as f64,
        AttributeValue::Longlong(x) => x as f64,
        AttributeValue::Float(x) => x as f64,
        AttributeValue::Double(x) => x,
        AttributeValue::Floats(x) => *x.first()? as f64,
        AttributeValue::Doubles(x) => *x.first()?,
        AttributeValue::Shorts(x) => *x.first()? as f64,
        AttributeValue::Ints(x) => *x.first()? as f64,
        _ => return None,
    })
}

/// A variable's text attribute.
pub fn text(var: &Variable, name: &str) -> Option<String> {
    match var.attribute_value(name)?.ok()? {
        AttributeValue::Str(s) => Some(s),
        AttributeValue::Strs(v) => v.into_iter().next(),
        _ => None,
    }
}

/// The variable's packing and missing values.
pub fn packing(var: &Variable) -> Packing {
    Packing::from_attrs(|n| number(var, n))
}
