//! `DESCRIBE name`: dimensions, attributes, their metadata (CF attributes), layouts
//! (with what they store) and the version.

use super::options::codec_text;
use super::{retention_text, unknown_array};
use crate::error::QueryError;
use crate::timeutil::{format_duration, format_instant};
use crate::{Execution, TextTable};
use arrayq_storage::{AsOf, Coordinate, Store};

fn coord_text(c: &Coordinate) -> String {
    match c {
        Coordinate::Regular { start, step } => format!("start {start} step {step}"),
        Coordinate::Time { start_ns, step_ns } => format!(
            "start {} step {}",
            format_instant(*start_ns),
            format_duration(*step_ns)
        ),
        Coordinate::Labels { .. } | Coordinate::TextLabels { .. } => {
            let n = c.label_count();
            let shown: Vec<String> = (0..n.min(10) as u64)
                .filter_map(|i| c.label_at(i))
                .map(|l| l.to_string())
                .collect();
            let more = if n > 10 {
                format!(", ... ({n} labels)")
            } else {
                String::new()
            };
            format!("labels ({}{more})", shown.join(", "))
        }
    }
}

pub(crate) fn describe(store: &Store, name: &str) -> Result<Execution, QueryError> {
    let snap = store
        .snapshot(name, AsOf::Latest)
        .map_err(|_| unknown_array(store, name))?;
    let sc = snap.schema();
    let mut rows = Vec::new();
    for d in &sc.dims {
        let ty = match d.coord {
            Coordinate::Regular { .. } => "double",
            Coordinate::Time { .. } => "timestamp",
            Coordinate::Labels { .. } => "labels",
            Coordinate::TextLabels { .. } => "text labels",
        };
        let mut det = format!("{} length {}", coord_text(&d.coord), d.len);
        if d.growable {
            det.push_str(" growable");
        }
        rows.push(vec!["dimension".into(), d.name.clone(), ty.into(), det]);
    }
    for a in &sc.attrs {
        let fill = a.fill_value();
        let ft = if a.dtype.is_float() && fill.as_f64().is_nan() {
            "NaN".to_string()
        } else {
            fill.to_string()
        };
        rows.push(vec![
            "attribute".into(),
            a.name.clone(),
            a.dtype.to_string(),
            format!("fill {ft}"),
        ]);
    }
    // One row per description: of the array itself, then of each dimension and
    // attribute in schema order.
    let owners = std::iter::once((sc.name.as_str(), &sc.metadata.array))
        .chain(
            sc.dims
                .iter()
                .map(|d| (d.name.as_str(), sc.metadata.of(&d.name))),
        )
        .chain(
            sc.attrs
                .iter()
                .map(|a| (a.name.as_str(), sc.metadata.of(&a.name))),
        );
    for (owner, map) in owners {
        for (key, value) in map {
            rows.push(vec![
                "metadata".into(),
                owner.into(),
                key.clone(),
                value.clone(),
            ]);
        }
    }
    for (k, l) in sc.layouts.iter().enumerate() {
        let st = &snap.meta().stats[k];
        let shape: Vec<String> = l.chunk_shape.iter().map(|x| x.to_string()).collect();
        rows.push(vec![
            "layout".into(),
            l.name.clone(),
            format!("({})", shape.join(", ")),
            format!(
                "codec {}, {} chunks, {} bytes stored{}",
                codec_text(&l.codec),
                st.chunks,
                st.bytes,
                if k == 0 { ", primary" } else { "" }
            ),
        ]);
    }
    for (k, r) in snap.meta().rollups.iter().enumerate() {
        let st = snap.meta().rollup_stats.get(k).cloned().unwrap_or_default();
        let shape: Vec<String> = r.chunk_shape.iter().map(|x| x.to_string()).collect();
        rows.push(vec![
            "rollup".into(),
            r.name.clone(),
            format!("({})", shape.join(", ")),
            format!(
                "{}; {} chunks, {} bytes stored",
                r.describe(sc),
                st.chunks,
                st.bytes
            ),
        ]);
    }
    // Retention and history rows only where there is something to say, so the
    // answer for an array never vacuumed and without a policy is unchanged.
    let policy = store.retention(name).map_err(QueryError::from_storage)?;
    if !policy.is_empty() {
        rows.push(vec![
            "retention".into(),
            String::new(),
            String::new(),
            retention_text(&policy),
        ]);
    }
    let commits = store.commits(name).map_err(QueryError::from_storage)?;
    if let Some(oldest) = commits.first().filter(|c| c.version > 0) {
        rows.push(vec![
            "oldest version".into(),
            oldest.version.to_string(),
            String::new(),
            format!("committed {}", format_instant(oldest.timestamp_ns)),
        ]);
    }
    rows.push(vec![
        "version".into(),
        snap.version().to_string(),
        String::new(),
        format!("committed {}", format_instant(snap.timestamp_ns())),
    ]);
    Ok(Execution::Table(TextTable {
        columns: ["kind", "name", "type", "details"]
            .map(String::from)
            .to_vec(),
        rows,
    }))
}
