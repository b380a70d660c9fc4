//! The CF descriptions a load keeps as the array's metadata: the text attributes of
//! the loaded variables (`units`, `long_name`, `standard_name`, ...), of the
//! coordinate variables and of the file itself (`Conventions`, `history`, ...).
//! Numeric attributes are encoding (`scale_factor`, `_FillValue`) or ranges the
//! load changes; they are not kept.

use std::collections::BTreeMap;

/// Text key -> text value.
pub type TextMap = BTreeMap<String, String>;

/// Descriptions of the array ("" never used), its dimensions and variables, by the
/// files' names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileMetadata {
    pub global: TextMap,
    pub items: BTreeMap<String, TextMap>,
}

/// Attributes that describe how values are stored, not what they are: dropped
/// from every variable.
const ENCODING: [&str; 2] = ["coordinates", "grid_mapping"];

/// Attributes of the time coordinate the load decodes into instants.
const TIME_ENCODING: [&str; 2] = ["units", "calendar"];

/// The text attributes of `attrs`, without hidden (`_...`) ones and `skip`.
pub fn text_attributes<'a>(
    attrs: impl Iterator<Item = netcdf::Attribute<'a>>,
    skip: &[&str],
) -> TextMap {
    attrs
        .filter(|a| !a.name().starts_with('_') && !skip.contains(&a.name()))
        .filter_map(|a| {
            let text = match a.value().ok()? {
                netcdf::AttributeValue::Str(s) => s,
                netcdf::AttributeValue::Strs(v) => v.join("\n"),
                _ => return None,
            };
            Some((a.name().to_string(), text))
        })
        .collect()
}

/// The descriptions of `file` for a load of `vars` along `time_dim` and `space`.
pub fn of_file(
    file: &netcdf::File,
    time_dim: &str,
    space: &[String],
    vars: &[String],
) -> FileMetadata {
    let mut items = BTreeMap::new();
    let mut keep = |name: &str, extra_skip: &[&str]| {
        if let Some(v) = file.variable(name) {
            let skip: Vec<&str> = ENCODING.iter().chain(extra_skip).copied().collect();
            let map = text_attributes(v.attributes(), &skip);
            if !map.is_empty() {
                items.insert(name.to_string(), map);
            }
        }
    };
    keep(time_dim, &TIME_ENCODING);
    for name in space.iter().chain(vars) {
        keep(name, &[]);
    }
    FileMetadata {
        global: text_attributes(file.attributes(), &[]),
        items,
    }
}

/// `METADATA ('key' = 'value', ...)` of `map` for `CREATE ARRAY`; empty when the
/// map is.
pub fn sql_clause(map: &TextMap) -> String {
    if map.is_empty() {
        return String::new();
    }
    let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{} = {}", quote(k), quote(v)))
        .collect();
    format!(" METADATA ({})", pairs.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_clause_quotes_keys_and_values() {
        let map = TextMap::from([
            ("long_name".into(), "2 metre temperature".into()),
            ("note".into(), "it's".into()),
        ]);
        assert_eq!(
            sql_clause(&map),
            " METADATA ('long_name' = '2 metre temperature', 'note' = 'it''s')"
        );
        assert_eq!(sql_clause(&TextMap::new()), "");
    }
}
