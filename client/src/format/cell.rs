//! One element of a result as text and as JSON, per element type.

use std::io::{self, Write};

use arrayq_format::time::format_unix_ns;
use arrayq_format::{with_buffer, DType};
use ndarray::ArrayD;

use crate::result::{format_f32, format_f64, Column};
use crate::values::{ColumnType, ColumnValues};

/// Per-element-type text and JSON forms.
pub(super) trait Cell: Copy {
    fn text(self) -> String;
    fn json(self, w: &mut dyn Write) -> io::Result<()>;
    fn as_f64(self) -> f64;
}

/// Floats: the shortest round-trip text; NaN and infinities are JSON `null`.
macro_rules! float_cell {
    ($($t:ty => $text:path),*) => {$(
        impl Cell for $t {
            fn text(self) -> String {
                $text(self)
            }
            fn json(self, w: &mut dyn Write) -> io::Result<()> {
                if self.is_finite() {
                    serde_json::to_writer(w, &self).map_err(io::Error::other)
                } else {
                    w.write_all(b"null")
                }
            }
            fn as_f64(self) -> f64 {
                f64::from(self)
            }
        }
    )*};
}
float_cell!(f32 => format_f32, f64 => format_f64);

impl Cell for bool {
    fn text(self) -> String {
        self.to_string()
    }
    fn json(self, w: &mut dyn Write) -> io::Result<()> {
        w.write_all(if self { b"true" } else { b"false" })
    }
    fn as_f64(self) -> f64 {
        self as u8 as f64
    }
}

macro_rules! int_cell {
    ($($t:ty),*) => {$(
        impl Cell for $t {
            fn text(self) -> String {
                self.to_string()
            }
            fn json(self, w: &mut dyn Write) -> io::Result<()> {
                write!(w, "{self}")
            }
            fn as_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
int_cell!(i8, i16, i32, i64, u8, u16, u32, u64);

fn elem<T: Copy>(a: &ArrayD<T>, i: usize) -> T {
    match a.as_slice() {
        Some(s) => s[i],
        None => *a.iter().nth(i).expect("element index in range"),
    }
}

/// Element `i` of a result column as text: a timestamp column (see
/// [`Column::times`]) in ISO-8601, others as [`value_text`].
pub fn column_text(c: &Column, i: usize) -> String {
    match c.times() {
        Some(a) => format_unix_ns(elem(a, i)),
        None => value_text(&c.values, i),
    }
}

pub(super) fn column_json(c: &Column, i: usize, w: &mut dyn Write) -> io::Result<()> {
    match c.times() {
        Some(a) => serde_json::to_writer(w, &format_unix_ns(elem(a, i))).map_err(io::Error::other),
        None => value_json(&c.values, i, w),
    }
}

/// Element `i` (row-major) of a column as text: shortest round-trip decimal
/// for floats (`NaN`, `inf`), integers, `true`/`false`, text as it is.
pub fn value_text(v: &ColumnValues, i: usize) -> String {
    match v {
        ColumnValues::Numeric(b) => with_buffer!(b, a => elem(a, i).text()),
        ColumnValues::Text(a) => text_elem(a, i).to_string(),
    }
}

fn value_json(v: &ColumnValues, i: usize, w: &mut dyn Write) -> io::Result<()> {
    match v {
        ColumnValues::Numeric(b) => with_buffer!(b, a => elem(a, i).json(w)),
        ColumnValues::Text(a) => {
            serde_json::to_writer(w, text_elem(a, i)).map_err(io::Error::other)
        }
    }
}

fn text_elem(a: &ArrayD<String>, i: usize) -> &str {
    match a.as_slice() {
        Some(s) => &s[i],
        None => a.iter().nth(i).expect("element index in range"),
    }
}

/// Numbers are right-aligned in tables; booleans and text are not.
pub(super) fn is_numeric_text(t: ColumnType) -> bool {
    !matches!(t, ColumnType::Numeric(DType::Bool) | ColumnType::Text)
}

/// Steps a row-major index over `shape` (the last dimension fastest): the
/// order of a result's cells.
pub(super) fn advance(idx: &mut [usize], shape: &[usize]) {
    for d in (0..idx.len()).rev() {
        idx[d] += 1;
        if idx[d] < shape[d] {
            return;
        }
        idx[d] = 0;
    }
}
