//! A NetCDF file's descriptions for the array's metadata (what is kept:
//! [`crate::shell::cf::metadata`]).

use crate::shell::cf::metadata::{keep, SourceMetadata};
use std::collections::BTreeMap;

/// (name, text value if the attribute is text) of each attribute.
fn listed<'a>(attrs: impl Iterator<Item = netcdf::Attribute<'a>>) -> Vec<(String, Option<String>)> {
    attrs
        .map(|a| {
            let text = match a.value() {
                Ok(netcdf::AttributeValue::Str(s)) => Some(s),
                Ok(netcdf::AttributeValue::Strs(v)) => Some(v.join("\n")),
                _ => None,
            };
            (a.name().to_string(), text)
        })
        .collect()
}

fn kept(list: &[(String, Option<String>)], is_time: bool) -> BTreeMap<String, String> {
    keep(list.iter().map(|(n, t)| (n.as_str(), t.clone())), is_time)
}

/// The descriptions of `file` for a load of `vars` along `time_dim` and `space`.
pub fn of_file(
    file: &netcdf::File,
    time_dim: &str,
    space: &[String],
    vars: &[String],
) -> SourceMetadata {
    let mut items = BTreeMap::new();
    let names = std::iter::once(time_dim).chain(space.iter().chain(vars).map(String::as_str));
    for name in names {
        if let Some(v) = file.variable(name) {
            let map = kept(&listed(v.attributes()), name == time_dim);
            if !map.is_empty() {
                items.insert(name.to_string(), map);
            }
        }
    }
    SourceMetadata {
        global: kept(&listed(file.attributes()), false),
        items,
    }
}
