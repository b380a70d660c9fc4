//! Where a row goes: the label dimension's index of labels and the time grid.

use super::{Label, SeriesError};
use crate::coord::Coordinate;
use crate::ingest::IngestSink;
use crate::schema::Dimension;
use std::collections::HashMap;

/// The label dimension's labels and where each one is.
#[derive(Default)]
pub(super) struct LabelIndex {
    ints: HashMap<i64, u64>,
    texts: HashMap<String, u64>,
    text: Option<bool>,
    len: u64,
    new_ints: Vec<i64>,
    new_texts: Vec<String>,
}

/// The time dimension's grid.
#[derive(Clone, Copy, Default)]
pub(super) struct TimeGrid {
    pub(super) start_ns: i64,
    pub(super) step_ns: i64,
}

impl LabelIndex {
    pub(super) fn of(dim: &Dimension) -> Option<LabelIndex> {
        let mut me = LabelIndex {
            len: dim.len,
            ..Default::default()
        };
        match &dim.coord {
            Coordinate::Labels { labels } => {
                me.text = Some(false);
                me.ints = labels
                    .as_slice()
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| (l, i as u64))
                    .collect();
            }
            Coordinate::TextLabels { labels } => {
                me.text = Some(true);
                me.texts = labels
                    .as_slice()
                    .iter()
                    .enumerate()
                    .map(|(i, l)| (l.clone(), i as u64))
                    .collect();
            }
            _ => return None,
        }
        Some(me)
    }

    pub(super) fn index_of(
        &mut self,
        label: &Label,
        row: u64,
        dim: &str,
    ) -> Result<u64, SeriesError> {
        let kind_error = |got, want| SeriesError::LabelKind {
            row,
            label: label.clone(),
            dim: dim.to_string(),
            got,
            want,
        };
        let parsed;
        let label = match (label, self.text) {
            (Label::Untyped(s), Some(false)) => match s.trim().parse::<i64>() {
                Ok(v) => {
                    parsed = Label::Int(v);
                    &parsed
                }
                Err(_) => return Err(kind_error("text", "integer")),
            },
            (Label::Untyped(s), Some(true)) => {
                parsed = Label::Text(s.clone());
                &parsed
            }
            _ => label,
        };
        match (label, self.text) {
            (Label::Int(v), Some(false)) => Ok(*self.ints.entry(*v).or_insert_with(|| {
                self.new_ints.push(*v);
                self.len += 1;
                self.len - 1
            })),
            (Label::Text(s), Some(true)) => {
                if let Some(&i) = self.texts.get(s) {
                    return Ok(i);
                }
                self.texts.insert(s.clone(), self.len);
                self.new_texts.push(s.clone());
                self.len += 1;
                Ok(self.len - 1)
            }
            (Label::Int(_), _) => Err(kind_error("an integer", "text")),
            (_, _) => Err(kind_error("text", "integer")),
        }
    }

    /// Appends the labels learnt since the last call to the sink's write.
    pub(super) fn append_new(
        &mut self,
        sink: &mut IngestSink,
        dim: &str,
    ) -> Result<(), SeriesError> {
        if !self.new_ints.is_empty() {
            sink.append_labels(dim, &std::mem::take(&mut self.new_ints))?;
        }
        if !self.new_texts.is_empty() {
            sink.append_text_labels(dim, &std::mem::take(&mut self.new_texts))?;
        }
        Ok(())
    }
}

impl TimeGrid {
    pub(super) fn index_of(&self, t: i64, row: u64, dim: &str) -> Result<u64, SeriesError> {
        let off = t - self.start_ns;
        if off < 0 || off % self.step_ns != 0 {
            return Err(SeriesError::OffGrid {
                row,
                time: crate::time::format_unix_ns(t),
                dim: dim.to_string(),
                start: crate::time::format_unix_ns(self.start_ns),
                step_min: self.step_ns as f64 / 60e9,
            });
        }
        Ok((off / self.step_ns) as u64)
    }
}

pub(super) fn lcm(a: u64, b: u64) -> u64 {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    a / gcd(a, b) * b
}
