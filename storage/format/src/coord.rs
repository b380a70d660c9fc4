//! One coordinate value of a dimension.

use serde::{Deserialize, Serialize};

/// One coordinate value, as reported in change events and results: a regular number,
/// a time (UTC nanoseconds since the Unix epoch), an int64 label or a text label.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum CoordValue {
    Number(f64),
    Time(i64),
    Label(i64),
    /// A text label (`{"kind":"text","value":"NL-WIND-042"}` in the change log).
    Text(String),
}

impl CoordValue {
    /// The value as a number; NaN for text labels, which have none.
    pub fn as_f64(&self) -> f64 {
        match self {
            CoordValue::Number(v) => *v,
            CoordValue::Time(t) | CoordValue::Label(t) => *t as f64,
            CoordValue::Text(_) => f64::NAN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_form_is_tagged() {
        // The change log stores this form (docs/format.md, `ChangeEvent`).
        let j = serde_json::to_string(&CoordValue::Time(5)).unwrap();
        assert_eq!(j, r#"{"kind":"time","value":5}"#);
        let back: CoordValue = serde_json::from_str(r#"{"kind":"label","value":-3}"#).unwrap();
        assert_eq!(back, CoordValue::Label(-3));
        let j = serde_json::to_string(&CoordValue::Text("NL-WIND-042".into())).unwrap();
        assert_eq!(j, r#"{"kind":"text","value":"NL-WIND-042"}"#);
        let back: CoordValue = serde_json::from_str(&j).unwrap();
        assert_eq!(back, CoordValue::Text("NL-WIND-042".into()));
    }
}
