//! Text of the answers that are not query results: the shell's own `\d` listing
//! and description (from the ListArrays and DescribeArray RPCs) and change events
//! (`\listen`). The SQL statements SHOW ARRAYS, DESCRIBE and EXPLAIN come back from
//! the Query RPC and print like any result.

use arrayq_client::format::{fmt_count, render_table, whole_duration};
use arrayq_client::proto as v1;
use arrayq_client::result::{dtype_from_wire, format_f64};
use arrayq_client::time::format_unix_ns;

/// A table without its "(N rows)" footer.
fn grid(headers: &[&str], rows: &[Vec<String>], right: &[bool]) -> String {
    let headers: Vec<String> = headers.iter().map(|s| s.to_string()).collect();
    let t = render_table(&headers, rows, right);
    let body = t
        .trim_end()
        .rsplit_once('\n')
        .map_or(t.as_str(), |(b, _)| b);
    format!("{body}\n")
}

/// `SHOW ARRAYS` / `\d`.
pub fn array_list(arrays: &[v1::ArraySummary]) -> String {
    if arrays.is_empty() {
        return "No arrays.\n".into();
    }
    let rows: Vec<Vec<String>> = arrays
        .iter()
        .map(|a| {
            let dims: Vec<String> = a
                .dimensions
                .iter()
                .zip(&a.shape)
                .map(|(d, n)| format!("{d}={n}"))
                .collect();
            vec![
                a.name.clone(),
                dims.join(", "),
                a.attributes.join(", "),
                a.head_version.to_string(),
            ]
        })
        .collect();
    let mut out = String::from("List of arrays\n");
    out.push_str(&render_table(
        &["name", "dimensions", "attributes", "version"].map(String::from),
        &rows,
        &[false, false, false, true],
    ));
    out
}

fn duration_text(ns: i64) -> String {
    match whole_duration(ns) {
        Some((n, _, name)) => {
            let plural = if n == 1 || name.len() <= 2 { "" } else { "s" };
            format!("{n} {name}{plural}")
        }
        None => format!("{ns} ns"),
    }
}

fn coordinate_text(d: &v1::Dimension) -> String {
    use v1::dimension::Coordinate as C;
    match &d.coordinate {
        Some(C::Regular(r)) => format!(
            "regular, from {} step {}",
            format_f64(r.start),
            format_f64(r.step)
        ),
        Some(C::Time(t)) => format!(
            "time, from {} step {}",
            format_unix_ns(t.start_unix_ns),
            duration_text(t.step_ns)
        ),
        Some(C::Labels(l)) => {
            if l.labels.is_empty() {
                "labels".into()
            } else {
                let shown: Vec<String> = l.labels.iter().take(5).map(|x| x.to_string()).collect();
                let more = if l.labels.len() > 5 { ", ..." } else { "" };
                format!("labels ({}{more})", shown.join(", "))
            }
        }
        Some(C::TextLabels(l)) => {
            if l.labels.is_empty() {
                "text labels".into()
            } else {
                let shown: Vec<String> =
                    l.labels.iter().take(5).map(|x| format!("'{x}'")).collect();
                let more = if l.labels.len() > 5 { ", ..." } else { "" };
                format!("text labels ({}{more})", shown.join(", "))
            }
        }
        None => "index".into(),
    }
}

fn fill_text(a: &v1::Attribute) -> String {
    use v1::attribute::Fill;
    match &a.fill {
        None => match dtype_from_wire(a.dtype) {
            Ok(d) if d.is_float() => "NaN".into(),
            Ok(arrayq_format::DType::Bool) => "false".into(),
            _ => "0".into(),
        },
        Some(Fill::FillDouble(x)) => format_f64(*x),
        Some(Fill::FillInt(x)) => x.to_string(),
        Some(Fill::FillUint(x)) => x.to_string(),
        Some(Fill::FillBool(x)) => x.to_string(),
    }
}

fn bytes_text(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut x = n as f64;
    let mut u = 0;
    while x >= 1000.0 && u < UNITS.len() - 1 {
        x /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{x:.1} {}", UNITS[u])
    }
}

/// `DESCRIBE name` / `\d name`.
pub fn describe(d: &v1::DescribeArrayResponse) -> String {
    let Some(s) = &d.schema else {
        return "(no schema)\n".into();
    };
    let mut out = format!("Array \"{}\", version {}", s.name, d.head_version);
    if let Some(last) = d.commits.last() {
        out.push_str(&format!(
            ", last commit {}",
            format_unix_ns(last.timestamp_ns)
        ));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = s
        .dimensions
        .iter()
        .map(|dim| {
            vec![
                dim.name.clone(),
                coordinate_text(dim),
                dim.length.to_string(),
                if dim.growable { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    out.push_str(&grid(
        &["dimension", "coordinates", "length", "growable"],
        &rows,
        &[false, false, true, false],
    ));
    out.push('\n');
    let rows: Vec<Vec<String>> = s
        .attributes
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                dtype_from_wire(a.dtype)
                    .map(|t| t.to_string())
                    .unwrap_or_else(|_| "?".into()),
                fill_text(a),
            ]
        })
        .collect();
    out.push_str(&grid(
        &["attribute", "type", "fill"],
        &rows,
        &[false, false, false],
    ));
    out.push('\n');
    let rows: Vec<Vec<String>> = s
        .layouts
        .iter()
        .map(|l| {
            let st = d.layouts.iter().find(|x| x.name == l.name);
            let shape: Vec<String> = l.chunk_shape.iter().map(|c| c.to_string()).collect();
            vec![
                l.name.clone(),
                shape.join(" x "),
                l.zstd_level.to_string(),
                if l.shuffle { "yes" } else { "no" }.into(),
                st.map_or("-".into(), |s| fmt_count(s.chunks as usize)),
                st.map_or("-".into(), |s| bytes_text(s.bytes)),
            ]
        })
        .collect();
    out.push_str(&grid(
        &[
            "layout",
            "chunks",
            "zstd",
            "shuffle",
            "stored chunks",
            "stored",
        ],
        &rows,
        &[false, false, true, false, true, true],
    ));
    out
}

/// One line per change event (`\listen`).
pub fn event(e: &v1::ChangeEvent) -> String {
    let kind = match v1::ChangeKind::try_from(e.kind) {
        Ok(v1::ChangeKind::Create) => "CREATE",
        Ok(v1::ChangeKind::Write) => "WRITE",
        Ok(v1::ChangeKind::AddLayout) => "ADD LAYOUT",
        Ok(v1::ChangeKind::Drop) => "DROP",
        Ok(v1::ChangeKind::AddRollup) => "ADD ROLLUP",
        Ok(v1::ChangeKind::DropRollup) => "DROP ROLLUP",
        _ => "CHANGE",
    };
    let mut out = format!(
        "[{}] {} {kind} \"{}\" version {}",
        e.seq,
        format_unix_ns(e.timestamp_ns),
        e.array,
        e.version
    );
    if e.cells_written > 0 {
        out.push_str(&format!(": {} cells", fmt_count(e.cells_written as usize)));
    }
    let region: Vec<String> = e
        .region
        .iter()
        .map(|r| {
            if r.end <= r.start + 1 {
                format!("{} {}", r.dim, r.start_text)
            } else {
                format!("{} {} .. {}", r.dim, r.start_text, r.end_text)
            }
        })
        .collect();
    if !region.is_empty() {
        out.push_str(&format!(" in {}", region.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_line() {
        let e = v1::ChangeEvent {
            seq: 7,
            array: "era5".into(),
            version: 3,
            timestamp_ns: 0,
            cells_written: 1000,
            region: vec![v1::DimExtent {
                dim: "time".into(),
                start: 0,
                end: 2,
                start_text: "2023-01-01T00:00:00Z".into(),
                end_text: "2023-01-01T01:00:00Z".into(),
                start_value: None,
                end_value: None,
            }],
            kind: v1::ChangeKind::Write as i32,
        };
        assert_eq!(
            event(&e),
            "[7] 1970-01-01T00:00:00Z WRITE \"era5\" version 3: 1,000 cells in time 2023-01-01T00:00:00Z .. 2023-01-01T01:00:00Z"
        );
    }

    #[test]
    fn durations_and_bytes() {
        assert_eq!(duration_text(3_600_000_000_000), "1 hour");
        assert_eq!(duration_text(900_000_000_000), "15 minutes");
        assert_eq!(bytes_text(999), "999 B");
        assert_eq!(bytes_text(128_000_000), "128.0 MB");
    }
}
