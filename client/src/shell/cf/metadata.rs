//! The CF descriptions a gridded load keeps as the array's metadata: the text
//! attributes of the loaded variables (`units`, `long_name`, `standard_name`, ...),
//! of the coordinate variables and of the file or store itself (`Conventions`,
//! `history`, ...). Numeric attributes are encoding (`scale_factor`, `_FillValue`)
//! or ranges the load changes; they are not kept. Each format lists its attributes
//! as (name, text if the value is text) and this module decides what stays.

use std::collections::BTreeMap;

/// Text key -> text value.
pub type TextMap = BTreeMap<String, String>;

/// Descriptions of the array (`global`) and of its dimensions and variables, by
/// the source's names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceMetadata {
    pub global: TextMap,
    pub items: BTreeMap<String, TextMap>,
}

impl SourceMetadata {
    /// The descriptions of the dimension or variable `name` (empty when none).
    pub fn of(&self, name: &str) -> TextMap {
        self.items.get(name).cloned().unwrap_or_default()
    }
}

/// Attributes that describe how values are stored, not what they are: dropped
/// from every variable.
const ENCODING: [&str; 2] = ["coordinates", "grid_mapping"];

/// Attributes of the time coordinate the load decodes into instants.
const TIME_ENCODING: [&str; 2] = ["units", "calendar"];

/// The attributes worth keeping of a variable (`is_time`: the time coordinate)
/// or, with `is_time` false and no encoding names, of a whole source: text values,
/// no hidden (`_...`) names.
pub fn keep<'a>(
    attrs: impl IntoIterator<Item = (&'a str, Option<String>)>,
    is_time: bool,
) -> TextMap {
    attrs
        .into_iter()
        .filter(|(name, _)| {
            let encoding = ENCODING.contains(name) || (is_time && TIME_ENCODING.contains(name));
            !name.starts_with('_') && !encoding
        })
        .filter_map(|(name, text)| Some((name.to_string(), text?)))
        .collect()
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

    #[test]
    fn keep_drops_hidden_encoding_and_numeric_attributes() {
        let attrs = || {
            [
                ("units", Some("hours since 1900-01-01".to_string())),
                ("calendar", Some("gregorian".to_string())),
                ("long_name", Some("time".to_string())),
                ("_FillValue", Some("x".to_string())),
                ("coordinates", Some("lat lon".to_string())),
                ("valid_min", None),
            ]
        };
        let time = keep(attrs(), true);
        assert_eq!(time, TextMap::from([("long_name".into(), "time".into())]));
        let other = keep(attrs(), false);
        assert_eq!(
            other.keys().collect::<Vec<_>>(),
            ["calendar", "long_name", "units"]
        );
    }
}
