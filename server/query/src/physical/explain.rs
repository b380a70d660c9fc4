//! EXPLAIN: the operator tree as text, each operator describing itself
//! (`ExecutionPlan::fmt_explain`) indented under its parent; with ANALYZE, each
//! operator's metrics under it and the query's totals at the end.

use super::{ExecutionPlan, OperatorMetrics, PhysicalQuery};
use crate::{ExplainOutput, QueryStats};
use std::fmt::Write;

pub fn fmt_bytes(b: u64) -> String {
    if b >= 10 << 20 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else if b >= 10 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

fn ms(d: std::time::Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// The operator's metrics in one line: what a scan (or any operator that read
/// chunks) read, the time operators above the scan spent computing, the merge of an
/// aggregation.
fn metrics_line(op: &dyn ExecutionPlan) -> Option<String> {
    let m = op.metrics();
    let (chunks, fill, read, decoded) = m.read.get();
    let mut parts = Vec::new();
    if op.children().is_empty() || chunks + fill > 0 {
        parts.push(format!(
            "chunks read {chunks} (+{fill} never written), bytes read {}, bytes decoded {}, read+decode {}",
            fmt_bytes(read),
            fmt_bytes(decoded),
            ms(OperatorMetrics::duration(&m.read_ns))
        ));
    }
    let merge = OperatorMetrics::duration(&m.merge_ns);
    if !op.children().is_empty() {
        parts.push(format!(
            "compute {}",
            ms(OperatorMetrics::duration(&m.compute_ns))
        ));
    }
    if op.name() == "Aggregate" || !merge.is_zero() {
        parts.push(format!("merge {}", ms(merge)));
    }
    let seen = m.cells_in.load(std::sync::atomic::Ordering::Relaxed);
    if seen > 0 {
        let kept = m.cells_out.load(std::sync::atomic::Ordering::Relaxed);
        parts.push(format!("cells {seen}, kept {kept}"));
    }
    (!parts.is_empty()).then(|| format!("metrics: {}", parts.join(", ")))
}

fn write_tree(t: &mut String, op: &dyn ExecutionPlan, depth: usize, analyze: bool) {
    let indent = "  ".repeat(depth);
    for line in op.fmt_explain() {
        let _ = writeln!(t, "{indent}{line}");
    }
    if analyze {
        if let Some(line) = metrics_line(op) {
            let _ = writeln!(t, "{indent}  {line}");
        }
    }
    for child in op.children() {
        write_tree(t, child, depth + 1, analyze);
    }
}

/// The plan as text; with `stats` (EXPLAIN ANALYZE, after the run) the metrics of
/// every operator and the totals.
pub fn explain(query: &PhysicalQuery, stats: Option<QueryStats>) -> ExplainOutput {
    let mut t = String::new();
    write_tree(&mut t, query.root.as_ref(), 0, stats.is_some());
    for n in &query.header.notes {
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
            let _ = writeln!(t, "  {name}: {}", ms(*d));
        }
        let _ = writeln!(t, "  total: {}", ms(s.elapsed));
    }
    ExplainOutput {
        text: t,
        layout: query.header.layout.clone(),
        candidates: query.candidates.clone(),
        version: query.header.version,
        analyze: stats,
    }
}
