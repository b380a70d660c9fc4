//! EXPLAIN: the plan as text, the layout chosen and why, and (ANALYZE) what the run did.

use crate::exec::group_text;
use crate::logical::{Kind, LayoutWhy, Plan, NEAR_BYTES};
use crate::{ExplainOutput, QueryStats};
use std::fmt::Write;

fn fmt_bytes(b: u64) -> String {
    if b >= 10 << 20 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 10 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

pub fn explain(plan: &Plan, stats: Option<QueryStats>) -> ExplainOutput {
    let schema = plan.snap.schema();
    let mut t = String::new();
    let h = &plan.header;
    let cols: Vec<String> = plan
        .col_texts
        .iter()
        .zip(&h.columns)
        .map(|(e, (name, dt))| {
            if *e == *name {
                format!("{e} [{dt}]")
            } else {
                format!("{e} AS {name} [{dt}]")
            }
        })
        .collect();
    match &plan.kind {
        Kind::Project { .. } => {
            let _ = writeln!(t, "Project: {}", cols.join(", "));
            let _ = writeln!(
                t,
                "  element-wise over each chunk; streamed in chunk-aligned slabs"
            );
        }
        Kind::Aggregate {
            inputs,
            groups,
            calls,
            ..
        } => {
            let _ = writeln!(t, "Aggregate: {}", cols.join(", "));
            if groups.is_empty() {
                let _ = writeln!(t, "  reduce all dimensions (scalar)");
            } else {
                let g: Vec<String> = groups
                    .iter()
                    .map(|g| group_text(g, &schema.dims[g.dim].name))
                    .collect();
                let _ = writeln!(
                    t,
                    "  group by: {} -> {} groups",
                    g.join(", "),
                    groups.iter().map(|g| g.len).product::<usize>()
                );
            }
            let ins: Vec<String> = inputs.iter().map(|i| i.text.clone()).collect();
            let _ = writeln!(
                t,
                "  {} aggregate call(s) over input(s) [{}]; partial aggregates per chunk (f64, NaN skipped), merged across rayon workers",
                calls.len(),
                ins.join(", ")
            );
        }
    }
    let attrs: Vec<&str> = plan
        .attrs
        .iter()
        .map(|&a| schema.attrs[a].name.as_str())
        .collect();
    let _ = writeln!(
        t,
        "Scan: {} version {} attributes [{}]",
        schema.name,
        plan.snap.version(),
        attrs.join(", ")
    );
    if !plan.filters.is_empty() {
        let _ = writeln!(t, "  where: {}", plan.filters.join(" AND "));
    }
    let picks: Vec<String> = plan
        .dims
        .iter()
        .enumerate()
        .filter_map(|(d, s)| {
            s.picks.as_ref().map(|p| {
                format!(
                    "{}: {} of {}",
                    schema.dims[d].name,
                    p.len(),
                    s.range.end - s.range.start
                )
            })
        })
        .collect();
    let _ = writeln!(
        t,
        "  region: {} ({} cells){}",
        plan.region,
        plan.region.len(),
        if picks.is_empty() {
            String::new()
        } else {
            format!(", picks {}", picks.join(", "))
        }
    );
    let _ = writeln!(
        t,
        "  result: {} bytes{}",
        plan.result_bytes,
        if plan.state_bytes > 0 {
            format!(", aggregation state: {} bytes", plan.state_bytes)
        } else {
            String::new()
        }
    );
    let chosen = &schema.layouts[plan.layout];
    let why = match plan.layout_why {
        LayoutWhy::Forced => "forced by WITH (layout = ...)".to_string(),
        LayoutWhy::Empty => "empty selection: nothing is read".to_string(),
        _ if plan.candidates.len() == 1 => "the only layout".to_string(),
        LayoutWhy::LeastBytes => "least estimated bytes to read".to_string(),
        LayoutWhy::SmallerChunks => format!(
            "estimated bytes within {:.0}% of the least, smaller chunks",
            NEAR_BYTES * 100.0
        ),
    };
    let _ = writeln!(
        t,
        "  layout: {} {:?} ({why})",
        chosen.name, chosen.chunk_shape
    );
    for c in &plan.candidates {
        let mark = if c.layout == plan.layout {
            "  <- chosen"
        } else {
            ""
        };
        let _ = writeln!(
            t,
            "    {} {:?}: {} chunks, ~{}{mark}",
            c.name,
            c.chunk_shape,
            c.chunks,
            fmt_bytes(c.est_bytes)
        );
    }
    for n in &h.notes {
        let _ = writeln!(t, "Note: {n}");
    }
    if let Some(s) = &stats {
        let _ = writeln!(t, "Analyze:");
        let _ = writeln!(
            t,
            "  chunks read: {} (+{} never written), bytes read: {}, bytes decoded: {}",
            s.chunks_read,
            s.chunks_fill,
            fmt_bytes(s.bytes_read),
            fmt_bytes(s.bytes_decoded)
        );
        for (name, d) in &s.stages {
            let _ = writeln!(t, "  {name}: {:.3} ms", d.as_secs_f64() * 1e3);
        }
        let _ = writeln!(t, "  total: {:.3} ms", s.elapsed.as_secs_f64() * 1e3);
    }
    ExplainOutput {
        text: t,
        layout: chosen.name.clone(),
        candidates: plan.candidates.clone(),
        version: plan.snap.version(),
        analyze: stats,
    }
}
