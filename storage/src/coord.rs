//! Dimension coordinates: regular numbers, regular timestamps, explicit labels
//! (int64 or text).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::ops::{Deref, Range};
use std::sync::OnceLock;

/// The labels of a label dimension: unique, in insertion order. Serialized as the plain
/// list; a position index is built on the first lookup (ingest looks labels up per row,
/// so a linear scan over thousands of assets would dominate) and kept up to date by
/// [`LabelList::push`].
pub struct LabelList<T> {
    items: Vec<T>,
    index: OnceLock<HashMap<T, u64>>,
}

impl<T: Eq + Hash + Clone> LabelList<T> {
    /// Position of `label`, O(1) amortised.
    pub fn position<Q>(&self, label: &Q) -> Option<u64>
    where
        T: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.index
            .get_or_init(|| {
                let mut m = HashMap::with_capacity(self.items.len());
                for (i, l) in self.items.iter().enumerate() {
                    // The first occurrence wins, as a linear scan would (validate()
                    // refuses repeats, so this only matters for unchecked input).
                    m.entry(l.clone()).or_insert(i as u64);
                }
                m
            })
            .get(label)
            .copied()
    }

    /// Appends `label` unless it is there already (then returns false).
    pub fn push(&mut self, label: T) -> bool {
        if self.position(&label).is_some() {
            return false;
        }
        let i = self.items.len() as u64;
        if let Some(m) = self.index.get_mut() {
            m.insert(label.clone(), i);
        }
        self.items.push(label);
        true
    }
}

impl<T> LabelList<T> {
    pub fn as_slice(&self) -> &[T] {
        &self.items
    }

    pub fn into_vec(self) -> Vec<T> {
        self.items
    }
}

impl<T> Default for LabelList<T> {
    fn default() -> Self {
        Vec::new().into()
    }
}

impl<T> From<Vec<T>> for LabelList<T> {
    fn from(items: Vec<T>) -> Self {
        LabelList {
            items,
            index: OnceLock::new(),
        }
    }
}

impl<T> FromIterator<T> for LabelList<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        iter.into_iter().collect::<Vec<T>>().into()
    }
}

impl<T> Deref for LabelList<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<T: Clone> Clone for LabelList<T> {
    fn clone(&self) -> Self {
        // The index is rebuilt on demand rather than copied: most clones (schemas of
        // snapshots and commits) never look a label up.
        self.items.clone().into()
    }
}

impl<T: PartialEq> PartialEq for LabelList<T> {
    fn eq(&self, other: &Self) -> bool {
        self.items == other.items
    }
}

impl<T: PartialEq> PartialEq<Vec<T>> for LabelList<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        &self.items == other
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for LabelList<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.items.fmt(f)
    }
}

impl<T: Serialize> Serialize for LabelList<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.items.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for LabelList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(d).map(LabelList::from)
    }
}

/// One label to look up, of either kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LabelRef<'a> {
    Int(i64),
    Text(&'a str),
}

impl std::fmt::Display for LabelRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabelRef::Int(l) => write!(f, "{l}"),
            LabelRef::Text(t) => write!(f, "'{t}'"),
        }
    }
}

/// Labels to append to a label dimension, of either kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Labels {
    Int(Vec<i64>),
    Text(Vec<String>),
}

impl Labels {
    pub fn len(&self) -> usize {
        match self {
            Labels::Int(v) => v.len(),
            Labels::Text(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            Labels::Int(_) => "integer",
            Labels::Text(_) => "text",
        }
    }
}

/// How a dimension's index maps to a coordinate value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Coordinate {
    /// `start + i * step` (latitude, longitude, heights...). `step` may be negative.
    Regular { start: f64, step: f64 },
    /// `start_ns + i * step_ns`, UTC nanoseconds since the Unix epoch.
    Time { start_ns: i64, step_ns: i64 },
    /// Explicit int64 labels (asset ids, EAN codes); unique, in insertion order.
    Labels { labels: LabelList<i64> },
    /// Explicit text labels (asset names like `NL-WIND-042`); unique, in insertion order.
    #[serde(rename = "text_labels")]
    TextLabels { labels: LabelList<String> },
}

/// One coordinate value (shared with clients, so it lives in `arrayq-format`).
pub use arrayq_format::CoordValue;

impl Coordinate {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Coordinate::Regular { .. } => "regular",
            Coordinate::Time { .. } => "time",
            Coordinate::Labels { .. } => "labels",
            Coordinate::TextLabels { .. } => "text labels",
        }
    }

    /// Int64 labels from a list (duplicates are refused by schema validation).
    pub fn int_labels(labels: Vec<i64>) -> Coordinate {
        Coordinate::Labels {
            labels: labels.into(),
        }
    }

    /// Text labels from a list (duplicates are refused by schema validation).
    pub fn text_labels<S: Into<String>>(labels: impl IntoIterator<Item = S>) -> Coordinate {
        Coordinate::TextLabels {
            labels: labels.into_iter().map(Into::into).collect(),
        }
    }

    /// True for label dimensions of either kind.
    pub fn is_labels(&self) -> bool {
        matches!(
            self,
            Coordinate::Labels { .. } | Coordinate::TextLabels { .. }
        )
    }

    /// Number of labels (0 for other coordinates).
    pub fn label_count(&self) -> usize {
        match self {
            Coordinate::Labels { labels } => labels.len(),
            Coordinate::TextLabels { labels } => labels.len(),
            _ => 0,
        }
    }

    /// The label at index `i` (None past the labels or for other coordinates).
    pub fn label_at(&self, i: u64) -> Option<LabelRef<'_>> {
        match self {
            Coordinate::Labels { labels } => labels.get(i as usize).map(|&l| LabelRef::Int(l)),
            Coordinate::TextLabels { labels } => labels.get(i as usize).map(|l| LabelRef::Text(l)),
            _ => None,
        }
    }

    /// The coordinate of index `i` (labels beyond the known ones are not valid).
    pub fn value(&self, i: u64) -> CoordValue {
        match self {
            Coordinate::Regular { start, step } => CoordValue::Number(start + step * i as f64),
            Coordinate::Time { start_ns, step_ns } => {
                CoordValue::Time(start_ns + step_ns * i as i64)
            }
            Coordinate::Labels { labels } => CoordValue::Label(labels[i as usize]),
            Coordinate::TextLabels { labels } => CoordValue::Text(labels[i as usize].clone()),
        }
    }

    /// Index of the cell nearest to `x` within half a step (xarray's `method='nearest'`),
    /// or `None` when `x` lies outside the grid of `len` cells.
    pub fn nearest(&self, x: f64, len: u64) -> Option<u64> {
        let (start, step) = match self {
            Coordinate::Regular { start, step } => (*start, *step),
            Coordinate::Time { start_ns, step_ns } => (*start_ns as f64, *step_ns as f64),
            Coordinate::Labels { labels } => {
                return labels.iter().position(|&l| l as f64 == x).map(|p| p as u64)
            }
            Coordinate::TextLabels { .. } => return None,
        };
        let pos = (x - start) / step;
        // Half a step tolerance on both ends, with a hair of slack for float rounding.
        if !(-0.5 - 1e-9..=len as f64 - 0.5 + 1e-9).contains(&pos) || len == 0 {
            return None;
        }
        Some((pos.round().max(0.0) as u64).min(len - 1))
    }

    /// Index range of the cells whose coordinate lies in `[lo, hi]` (bounds optional,
    /// each inclusive or exclusive). Works for ascending and descending grids.
    pub fn index_range(
        &self,
        lo: Option<(f64, bool)>,
        hi: Option<(f64, bool)>,
        len: u64,
    ) -> Range<u64> {
        let (start, step) = match self {
            Coordinate::Regular { start, step } => (*start, *step),
            Coordinate::Time { start_ns, step_ns } => (*start_ns as f64, *step_ns as f64),
            // Labels carry no order: callers filter them one by one instead.
            Coordinate::Labels { .. } | Coordinate::TextLabels { .. } => return 0..len,
        };
        let eps = 1e-9 * step.abs();
        // Positions (in index units) where the coordinate crosses each bound.
        let first_ok = |p: f64, incl: bool, rising: bool| -> f64 {
            // Smallest index i with coord(i) on the allowed side of the bound.
            if rising {
                if incl {
                    (p - eps / step.abs()).ceil()
                } else {
                    (p + eps / step.abs()).floor() + 1.0
                }
            } else if incl {
                (p + eps / step.abs()).floor() + 1.0
            } else {
                (p - eps / step.abs()).ceil()
            }
        };
        let mut a = 0.0f64;
        let mut b = len as f64; // exclusive
        let ascending = step > 0.0;
        if let Some((v, incl)) = lo {
            let p = (v - start) / step;
            if ascending {
                a = a.max(first_ok(p, incl, true));
            } else {
                // coord >= v  <=>  i <= p (descending)
                b = b.min(first_ok(p, incl, false));
            }
        }
        if let Some((v, incl)) = hi {
            let p = (v - start) / step;
            if ascending {
                b = b.min(first_ok(p, incl, false));
            } else {
                a = a.max(first_ok(p, incl, true));
            }
        }
        let a = a.clamp(0.0, len as f64) as u64;
        let b = b.clamp(0.0, len as f64) as u64;
        a..b.max(a)
    }

    /// Position of an int64 label, for int label dimensions (O(1) amortised).
    pub fn label_index(&self, label: i64) -> Option<u64> {
        self.label_position(LabelRef::Int(label))
    }

    /// Position of a label (O(1) amortised); None when it is not there, including when
    /// its kind is not the dimension's ([`crate::Dimension::label_position`] tells
    /// those apart).
    pub fn label_position(&self, label: LabelRef<'_>) -> Option<u64> {
        match (self, label) {
            (Coordinate::Labels { labels }, LabelRef::Int(l)) => labels.position(&l),
            (Coordinate::TextLabels { labels }, LabelRef::Text(t)) => labels.position(t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_within_half_step_on_descending_grid() {
        let lat = Coordinate::Regular {
            start: 72.0,
            step: -0.25,
        };
        assert_eq!(lat.nearest(52.0, 153), Some(80));
        assert_eq!(lat.nearest(52.1, 153), Some(80));
        assert_eq!(lat.nearest(72.1, 153), Some(0));
        assert_eq!(lat.nearest(72.2, 153), None);
        assert_eq!(lat.nearest(33.8, 153), None);
    }

    #[test]
    fn inclusive_box_on_descending_grid() {
        let lat = Coordinate::Regular {
            start: 72.0,
            step: -0.25,
        };
        let r = lat.index_range(Some((50.0, true)), Some((54.0, true)), 153);
        assert_eq!(r, 72..89); // 54.0 is index 72, 50.0 is index 88
        let r = lat.index_range(Some((50.0, false)), Some((54.0, false)), 153);
        assert_eq!(r, 73..88);
    }

    #[test]
    fn ascending_bounds() {
        let lon = Coordinate::Regular {
            start: -25.0,
            step: 0.25,
        };
        assert_eq!(
            lon.index_range(Some((3.0, true)), Some((8.0, true)), 281),
            112..133
        );
        assert_eq!(lon.index_range(None, Some((-25.0, false)), 281), 0..0);
        assert_eq!(lon.index_range(Some((100.0, true)), None, 281), 281..281);
    }
}
