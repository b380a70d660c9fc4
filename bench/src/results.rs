//! Result files of a suite run: `<suite>-<scale>.json` (everything), `.md` (tables)
//! and `.svg` (chart of median times), and the merge of several into one report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::chart;
use crate::machine::Machine;
use crate::measure::{fmt_bytes, fmt_secs, Timing};

/// One timed case of one system (e.g. "read full cube" by "arrayq").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// What was done (the chart's group).
    pub case: String,
    /// Who did it (the chart's bar within a group).
    pub system: String,
    /// Run times.
    #[serde(flatten)]
    pub timing: Timing,
    /// Bytes of data the case processes, for throughput (raw, uncompressed).
    pub bytes: Option<u64>,
    /// Further counters (chunks read, stored bytes read, ...), shown in the table.
    #[serde(default)]
    pub extra: BTreeMap<String, f64>,
}

impl CaseResult {
    /// A case without throughput or counters.
    pub fn new(case: &str, system: &str, timing: Timing) -> CaseResult {
        CaseResult {
            case: case.into(),
            system: system.into(),
            timing,
            bytes: None,
            extra: BTreeMap::new(),
        }
    }

    /// Sets the data volume used for MB/s.
    pub fn bytes(mut self, bytes: u64) -> CaseResult {
        self.bytes = Some(bytes);
        self
    }

    /// Adds a counter.
    pub fn extra(mut self, key: &str, value: f64) -> CaseResult {
        self.extra.insert(key.into(), value);
        self
    }

    /// Throughput of the median run, MB/s, when the data volume is known.
    pub fn mb_per_s(&self) -> Option<f64> {
        self.bytes.map(|b| self.timing.mb_per_s(b))
    }
}

/// A measured quantity that is not a time (a size, a compression ratio, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// What it is.
    pub name: String,
    /// Its value in `unit`.
    pub value: f64,
    /// "B", "x", "MB/s", ...
    pub unit: String,
    /// How it was obtained.
    #[serde(default)]
    pub note: String,
}

/// A target the suite checks: `value` compared with `target` by `cmp`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What is compared (e.g. "ingest: arrayq / bare zstd").
    pub name: String,
    /// The measured ratio.
    pub value: f64,
    /// ">=" or "<=".
    pub cmp: String,
    /// The bound.
    pub target: f64,
    /// Whether the target is met.
    pub pass: bool,
    /// How `value` is computed.
    #[serde(default)]
    pub detail: String,
}

impl Check {
    /// `value >= target`.
    pub fn at_least(name: &str, value: f64, target: f64, detail: &str) -> Check {
        Check {
            name: name.into(),
            value,
            cmp: ">=".into(),
            target,
            pass: value >= target,
            detail: detail.into(),
        }
    }

    /// `value <= target`.
    pub fn at_most(name: &str, value: f64, target: f64, detail: &str) -> Check {
        Check {
            name: name.into(),
            value,
            cmp: "<=".into(),
            target,
            pass: value <= target,
            detail: detail.into(),
        }
    }
}

/// Everything one suite run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuiteResult {
    /// Suite name ("storage", "layouts", ...).
    pub suite: String,
    /// Workload scale ("XS", "S", "M").
    pub scale: String,
    /// Timed runs per case.
    pub runs: usize,
    /// Where it ran.
    pub machine: Machine,
    /// Timed cases, in the order they ran.
    pub cases: Vec<CaseResult>,
    /// Sizes and ratios.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Targets and whether they were met.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// Free-form remarks (setup, caveats).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Further Markdown tables (e.g. query x system), printed after the cases table.
    #[serde(default)]
    pub tables: Vec<String>,
}

impl SuiteResult {
    /// An empty result of `suite` at `scale`.
    pub fn new(suite: &str, scale: &str, runs: usize, machine: Machine) -> SuiteResult {
        SuiteResult {
            suite: suite.into(),
            scale: scale.into(),
            runs,
            machine,
            cases: vec![],
            metrics: vec![],
            checks: vec![],
            notes: vec![],
            tables: vec![],
        }
    }

    /// Adds a metric.
    pub fn metric(&mut self, name: &str, value: f64, unit: &str, note: &str) {
        self.metrics.push(Metric {
            name: name.into(),
            value,
            unit: unit.into(),
            note: note.into(),
        });
    }

    /// The median of a case, if it was measured.
    pub fn median(&self, case: &str, system: &str) -> Option<f64> {
        self.find(case, system).map(|c| c.timing.median_s)
    }

    /// A case by name and system.
    pub fn find(&self, case: &str, system: &str) -> Option<&CaseResult> {
        self.cases
            .iter()
            .find(|c| c.case == case && c.system == system)
    }

    /// `<suite>-<scale>`, the stem of the result files.
    pub fn stem(&self) -> String {
        format!("{}-{}", self.suite, self.scale)
    }

    /// The tables as Markdown: machine, cases, metrics, checks, notes.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# {} suite, scale {} ({} runs per case)\n",
            self.suite, self.scale, self.runs
        );
        let _ = writeln!(s, "{}\n", self.machine.to_string().replace('\n', "  \n"));
        s.push_str(&cases_table(&self.cases, false));
        for t in &self.tables {
            s.push('\n');
            s.push_str(t);
            if !t.ends_with('\n') {
                s.push('\n');
            }
        }
        if !self.metrics.is_empty() {
            s.push_str("\n| metric | value | how |\n| --- | ---: | --- |\n");
            for m in &self.metrics {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} |",
                    m.name,
                    fmt_metric(m.value, &m.unit),
                    m.note
                );
            }
        }
        if !self.checks.is_empty() {
            s.push_str(
                "\n| target | ratio | bound | result | how |\n| --- | ---: | ---: | --- | --- |\n",
            );
            for c in &self.checks {
                let _ = writeln!(
                    s,
                    "| {} | {:.3} | {} {} | {} | {} |",
                    c.name,
                    c.value,
                    c.cmp,
                    c.target,
                    if c.pass { "PASS" } else { "**FAIL**" },
                    c.detail
                );
            }
        }
        if !self.notes.is_empty() {
            s.push('\n');
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        s
    }

    /// Writes `<stem>.json`, `<stem>.md` and `<stem>.svg` into `dir`; returns their paths.
    pub fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let stem = self.stem();
        let json = dir.join(format!("{stem}.json"));
        self.save_json(&json)?;
        let md = dir.join(format!("{stem}.md"));
        std::fs::write(&md, self.to_markdown())
            .with_context(|| format!("writing {}", md.display()))?;
        let svg = dir.join(format!("{stem}.svg"));
        let title = format!("arrayq bench: {} suite, scale {}", self.suite, self.scale);
        chart::bar_chart(&svg, &title, &self.cases)?;
        Ok(vec![json, md, svg])
    }

    /// Writes the JSON alone (for `--json OUT`).
    pub fn save_json(&self, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }

    /// Reads a result file.
    pub fn load(path: &Path) -> Result<SuiteResult> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// The cases table; `qualified` prefixes nothing but adds suite/scale columns via the
/// case name already carrying them (used by the merged report).
pub fn cases_table(cases: &[CaseResult], qualified: bool) -> String {
    let extra_keys: Vec<String> = {
        let mut k: Vec<String> = cases.iter().flat_map(|c| c.extra.keys().cloned()).collect();
        k.sort();
        k.dedup();
        k
    };
    let mut s = String::new();
    let first = if qualified {
        "suite/scale/case"
    } else {
        "case"
    };
    let _ = write!(s, "| {first} | system | median | min | max | MB/s |");
    for k in &extra_keys {
        let _ = write!(s, " {k} |");
    }
    s.push_str("\n| --- | --- | ---: | ---: | ---: | ---: |");
    for _ in &extra_keys {
        s.push_str(" ---: |");
    }
    s.push('\n');
    for c in cases {
        let _ = write!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            c.case,
            c.system,
            fmt_secs(c.timing.median_s),
            fmt_secs(c.timing.min_s),
            fmt_secs(c.timing.max_s),
            c.mb_per_s().map_or("".into(), fmt_rate)
        );
        for k in &extra_keys {
            let v = c.extra.get(k).map_or(String::new(), |&v| fmt_extra(k, v));
            let _ = write!(s, " {v} |");
        }
        s.push('\n');
    }
    s
}

/// MB/s with two significant digits below 100.
fn fmt_rate(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// Counters whose name ends in `bytes` print as sizes, others as plain numbers.
fn fmt_extra(key: &str, v: f64) -> String {
    if key.ends_with("bytes") {
        fmt_bytes(v)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

fn fmt_metric(v: f64, unit: &str) -> String {
    match unit {
        "B" => format!("{} ({v:.0} B)", fmt_bytes(v)),
        "x" => format!("{v:.3}x"),
        "MB/s" => format!("{v:.0} MB/s"),
        "" => format!("{v}"),
        u => format!("{v:.3} {u}"),
    }
}

/// Merges result files into one table (cases named `suite/scale/case`), one chart,
/// and every check; writes `<out>.md` and `<out>.svg`.
pub fn merge(results: &[SuiteResult], out: &Path) -> Result<String> {
    let mut md = String::from("# arrayq benchmark report\n\n");
    let mut machines: Vec<String> = results.iter().map(|r| r.machine.to_string()).collect();
    machines.sort();
    machines.dedup();
    for m in &machines {
        let _ = writeln!(md, "{}\n", m.replace('\n', "  \n"));
    }
    let mut all = Vec::new();
    for r in results {
        for c in &r.cases {
            let mut c = c.clone();
            c.case = format!("{}/{}/{}", r.suite, r.scale, c.case);
            all.push(c);
        }
    }
    md.push_str(&cases_table(&all, true));
    let checks: Vec<(String, &Check)> = results
        .iter()
        .flat_map(|r| {
            r.checks
                .iter()
                .map(move |c| (format!("{}/{}", r.suite, r.scale), c))
        })
        .collect();
    if !checks.is_empty() {
        md.push_str("\n| suite/scale | target | ratio | bound | result |\n| --- | --- | ---: | ---: | --- |\n");
        for (k, c) in checks {
            let _ = writeln!(
                md,
                "| {k} | {} | {:.3} | {} {} | {} |",
                c.name,
                c.value,
                c.cmp,
                c.target,
                if c.pass { "PASS" } else { "**FAIL**" }
            );
        }
    }
    let md_path = out.with_extension("md");
    if let Some(parent) = md_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&md_path, &md).with_context(|| format!("writing {}", md_path.display()))?;
    chart::bar_chart(&out.with_extension("svg"), "arrayq benchmark report", &all)?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(suite: &str) -> SuiteResult {
        let mut r = SuiteResult::new(suite, "XS", 3, Machine::default());
        r.cases.push(
            CaseResult::new("read", "arrayq", Timing::from_secs(vec![0.01, 0.02, 0.03]))
                .bytes(20_000_000)
                .extra("chunks", 48.0)
                .extra("read bytes", 5e6),
        );
        r.cases.push(CaseResult::new(
            "read",
            "zstd",
            Timing::from_secs(vec![0.008]),
        ));
        r.checks.push(Check::at_least("read ratio", 0.8, 0.8, "x"));
        r.metric("stored", 1.5e6, "B", "size_on_disk");
        r
    }

    #[test]
    fn markdown_has_throughput_checks_and_counters() {
        let md = sample("storage").to_markdown();
        assert!(
            md.contains("| read | arrayq | 20.0 ms | 10.0 ms | 30.0 ms | 1000 |"),
            "{md}"
        );
        assert!(md.contains("| 48 | 5.0 MB |"), "{md}");
        assert!(md.contains("PASS"));
        assert!(md.contains("1.5 MB (1500000 B)"));
    }

    #[test]
    fn save_load_and_merge() {
        let dir = tempfile::tempdir().unwrap();
        let a = sample("storage");
        let files = a.save(dir.path()).unwrap();
        assert_eq!(files.len(), 3);
        for f in &files {
            assert!(std::fs::metadata(f).unwrap().len() > 0, "{}", f.display());
        }
        let back = SuiteResult::load(&files[0]).unwrap();
        assert_eq!(back, a);
        let svg = std::fs::read_to_string(&files[2]).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("arrayq"), "{svg}");
        let md = merge(&[a, sample("layouts")], &dir.path().join("report")).unwrap();
        assert!(md.contains("storage/XS/read") && md.contains("layouts/XS/read"));
        assert!(dir.path().join("report.svg").exists());
    }
}
