//! Tables of the query suites' results.

use std::fmt::Write as _;

use crate::measure::fmt_secs;
use crate::results::CaseResult;

/// Query x system table: median warm time (ratio to arrayq's best), or the cold
/// medians (`cold ms`, and arrayq's `data-cold ms` as a column of its own).
pub fn pivot(cases: &[CaseResult], ids: &[&str], order: &[String], cold: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}",
        if cold {
            "Cold runs, median (each run right after evicting the system's files; arrayq \
             reopens its store, except 'server running': store open, chunk payloads evicted):"
        } else {
            "Median warm time (ratio to the best arrayq time of the query):"
        }
    );
    s.push('\n');
    let has = |sys: &String, key: &str| {
        cases.iter().any(|c| {
            &c.system == sys
                && ids.contains(&c.case.as_str())
                && (key.is_empty() || c.extra.contains_key(key))
        })
    };
    // (header, system, the extra shown; "" = the warm median)
    let mut columns: Vec<(String, &String, &str)> = Vec::new();
    for sys in order {
        if !cold {
            if has(sys, "") {
                columns.push((sys.clone(), sys, ""));
            }
            continue;
        }
        if has(sys, "cold ms") {
            columns.push((sys.clone(), sys, "cold ms"));
        }
        if has(sys, "data-cold ms") {
            columns.push((format!("{sys} (server running)"), sys, "data-cold ms"));
        }
    }
    let _ = write!(s, "| query |");
    for (header, _, _) in &columns {
        let _ = write!(s, " {header} |");
    }
    s.push_str("\n| --- |");
    for _ in &columns {
        s.push_str(" ---: |");
    }
    s.push('\n');
    for id in ids {
        let _ = write!(s, "| {id} |");
        for (_, sys, key) in &columns {
            let cell = match cases.iter().find(|c| c.case == *id && &&c.system == sys) {
                None => "".to_string(),
                Some(c) if c.extra.contains_key("wrong answer") => "WRONG".to_string(),
                Some(c) if !key.is_empty() => c
                    .extra
                    .get(*key)
                    .map_or(String::new(), |ms| fmt_secs(ms / 1e3)),
                Some(c) => match c.extra.get("ratio") {
                    Some(r) => format!("{} ({r:.2}x)", fmt_secs(c.timing.median_s)),
                    None => fmt_secs(c.timing.median_s),
                },
            };
            let _ = write!(s, " {cell} |");
        }
        s.push('\n');
    }
    s
}
