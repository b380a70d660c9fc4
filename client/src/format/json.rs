//! Results as one JSON object (its form is in the module documentation of
//! [`format`](super)).

use std::io::{self, Write};

use arrayq_format::time::format_unix_ns;

use super::cell::{column_json, Cell};
use crate::result::{Coords, QueryResult};

fn json_coord(c: &Coords, i: usize, w: &mut dyn Write) -> io::Result<()> {
    match c.get(i) {
        arrayq_format::CoordValue::Number(x) => x.json(w),
        arrayq_format::CoordValue::Time(ns) => {
            serde_json::to_writer(w, &format_unix_ns(ns)).map_err(io::Error::other)
        }
        arrayq_format::CoordValue::Label(l) => write!(w, "{l}"),
        arrayq_format::CoordValue::Text(t) => write!(w, "{}", json_str(&t)),
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// JSON: one object `{"dims", "shape", "coords", "values"}` (see the [`format`](super)
/// module documentation), without a trailing newline.
pub fn write_json(mut w: impl Write, r: &QueryResult) -> io::Result<()> {
    let w: &mut dyn Write = &mut w;
    let dims: Vec<String> = r.dims.iter().map(|d| json_str(&d.name)).collect();
    let shape: Vec<String> = r.shape.iter().map(|n| n.to_string()).collect();
    write!(
        w,
        "{{\"dims\":[{}],\"shape\":[{}],\"coords\":{{",
        dims.join(","),
        shape.join(",")
    )?;
    for (d, dim) in r.dims.iter().enumerate() {
        if d > 0 {
            w.write_all(b",")?;
        }
        write!(w, "{}:[", json_str(&dim.name))?;
        for i in 0..r.shape[d] {
            if i > 0 {
                w.write_all(b",")?;
            }
            json_coord(&dim.coords, i, w)?;
        }
        w.write_all(b"]")?;
    }
    w.write_all(b"},\"values\":{")?;
    for (k, c) in r.columns.iter().enumerate() {
        if k > 0 {
            w.write_all(b",")?;
        }
        write!(w, "{}:[", json_str(&c.name))?;
        for i in 0..c.values.len() {
            if i > 0 {
                w.write_all(b",")?;
            }
            column_json(c, i, w)?;
        }
        w.write_all(b"]")?;
    }
    w.write_all(b"}}")?;
    w.flush()
}
