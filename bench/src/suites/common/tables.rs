//! Tables of the query suites' results.

use std::fmt::Write as _;

use crate::measure::fmt_secs;
use crate::results::CaseResult;

/// Query x system table: median warm time (ratio to arrayq's best), or the cold run.
pub fn pivot(cases: &[CaseResult], ids: &[&str], order: &[String], cold: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}",
        if cold {
            "Cold runs (first run after evicting the system's files; arrayq also reopens its store):"
        } else {
            "Median warm time (ratio to the best arrayq time of the query):"
        }
    );
    s.push('\n');
    let systems: Vec<&String> = order
        .iter()
        .filter(|sys| {
            cases.iter().any(|c| {
                &c.system == *sys
                    && ids.contains(&c.case.as_str())
                    && (!cold || c.extra.contains_key("cold ms"))
            })
        })
        .collect();
    let _ = write!(s, "| query |");
    for sys in &systems {
        let _ = write!(s, " {sys} |");
    }
    s.push_str("\n| --- |");
    for _ in &systems {
        s.push_str(" ---: |");
    }
    s.push('\n');
    for id in ids {
        let _ = write!(s, "| {id} |");
        for sys in &systems {
            let cell = match cases.iter().find(|c| c.case == *id && &&c.system == sys) {
                None => "".to_string(),
                Some(c) if c.extra.contains_key("wrong answer") => "WRONG".to_string(),
                Some(c) if cold => c
                    .extra
                    .get("cold ms")
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
