//! Golden-file tests: `tests/golden/*.slt`, sqllogictest-style, run against small
//! arrays created here with values simple enough to check by hand.
//!
//! Record kinds (separated by blank lines, `#` starts a comment line):
//!
//! ```text
//! statement ok          the statement must succeed (output not compared)
//! <sql, one or more lines>
//!
//! query                 the output must match (results, tables, messages, errors)
//! <sql>
//! ----
//! <expected output>
//! ```
//!
//! Numbers that depend on the compressor (stored bytes, estimated bytes) or on the
//! clock are written as placeholders in the expected output:
//!
//! ```text
//! {{198 +-50%}}         a number within 50% of 198 (decimals allowed)
//! {{n}}                 any number (timings)
//! ```
//!
//! Everything else on the line must match exactly. Run with `ARRAYQ_BLESS=1` to
//! rewrite the expected outputs that no longer match from the actual ones (outputs
//! that still match, placeholders and all, are kept as written, and so is the rest of
//! the file, byte for byte).

use arrayq_query::{render_table, Engine, EngineConfig, Execution, QueryContext};
use arrayq_storage::{Buffer, Store};
use ndarray::{ArrayD, IxDyn};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// `grid(time, lat, lon; v f32, flag bool)`: 6 hours from 2023-01-01T00Z, lat 52, 51,
/// 50, lon 0..3; `v = 100*t + 10*i + j` except `v[5,2,3] = NaN`; `flag = j is even`.
/// Layouts: `maps (1,3,4)` and `pencils (6,1,1)`.
///
/// `pw(asset, time; value f32)`: assets 10, 20, 30; quarter-hours from
/// 2023-03-25T23:00Z (local midnight of the spring DST day in Europe/Amsterdam), 188
/// of them (the 92 of 2023-03-26 and 96 of 2023-03-27). Version 1: value = asset/10;
/// version 2 sets asset 10 on 2023-03-27 (local) to 5.
///
/// `pwa(asset, time; value f32)`: asset 1, quarter-hours from 2023-10-28T22:00Z
/// (local midnight of the autumn DST day), 196 of them (100 + 96), value = 1.
///
/// `tl(asset, time; value f32)`: text labels 'NL-WIND-042', 'NL-SOLAR-007' (version
/// 1), 'DE-HYDRO-001' (version 2); 4 hours from 2023-01-01T00Z; value = 10 a + t + 1
/// for asset index a and hour t (1..4, 11..14, 21..24).
pub fn fixtures(engine: &Engine) {
    let ctx = QueryContext::default();
    let run = |sql: &str| {
        engine
            .execute(sql, &ctx)
            .unwrap_or_else(|e| panic!("{}", e.render(sql)));
    };
    let store = engine.store();
    run("CREATE ARRAY grid (
            time TIMESTAMP START '2023-01-01T00:00:00Z' STEP '1 hour' LENGTH 6 GROWABLE,
            lat DOUBLE START 52 STEP -1 LENGTH 3,
            lon DOUBLE START 0 STEP 1 LENGTH 4,
            v REAL,
            flag BOOLEAN
         ) WITH (chunks = (1, 3, 4), layout = maps, zstd_level = 1)");
    let mut v = Vec::new();
    let mut flag = Vec::new();
    for t in 0..6 {
        for i in 0..3 {
            for j in 0..4 {
                v.push(if (t, i, j) == (5, 2, 3) {
                    f32::NAN
                } else {
                    (100 * t + 10 * i + j) as f32
                });
                flag.push(j % 2 == 0);
            }
        }
    }
    let mut tx = store.begin_write("grid").unwrap();
    tx.write(
        "v",
        &[0, 0, 0],
        Buffer::F32(ArrayD::from_shape_vec(IxDyn(&[6, 3, 4]), v).unwrap()),
    )
    .unwrap();
    tx.write(
        "flag",
        &[0, 0, 0],
        Buffer::Bool(ArrayD::from_shape_vec(IxDyn(&[6, 3, 4]), flag).unwrap()),
    )
    .unwrap();
    tx.commit().unwrap();
    run("ALTER ARRAY grid ADD LAYOUT pencils CHUNKS (6, 1, 1)");

    run("CREATE ARRAY pw (
            asset LABELS (10, 20, 30) GROWABLE,
            time TIMESTAMP START '2023-03-25T23:00:00Z' STEP '15 minutes' LENGTH 188,
            value REAL
         ) WITH (chunks = (1, 96))");
    let mut vals = Vec::new();
    for a in [1.0f32, 2.0, 3.0] {
        vals.extend(std::iter::repeat_n(a, 188));
    }
    store
        .write(
            "pw",
            "value",
            &[0, 0],
            Buffer::F32(ArrayD::from_shape_vec(IxDyn(&[3, 188]), vals).unwrap()),
        )
        .unwrap();
    store
        .write(
            "pw",
            "value",
            &[0, 92],
            Buffer::F32(ArrayD::from_elem(IxDyn(&[1, 96]), 5.0f32)),
        )
        .unwrap();

    run("CREATE ARRAY pwa (
            asset LABELS (1),
            time TIMESTAMP START '2023-10-28T22:00:00Z' STEP '15 minutes' LENGTH 196,
            value REAL
         ) WITH (chunks = (1, 64))");
    store
        .write(
            "pwa",
            "value",
            &[0, 0],
            Buffer::F32(ArrayD::from_elem(IxDyn(&[1, 196]), 1.0f32)),
        )
        .unwrap();

    run("CREATE ARRAY tl (
            asset TEXT LABELS () GROWABLE,
            time TIMESTAMP START '2023-01-01T00:00:00Z' STEP '1 hour' LENGTH 4,
            value REAL
         ) WITH (chunks = (2, 4))");
    for (names, first) in [
        (&["NL-WIND-042", "NL-SOLAR-007"][..], 0usize),
        (&["DE-HYDRO-001"][..], 2),
    ] {
        let mut tx = store.begin_write("tl").unwrap();
        tx.append_text_labels("asset", names).unwrap();
        let vals: Vec<f32> = (first..first + names.len())
            .flat_map(|a| (0..4).map(move |t| (10 * a + t + 1) as f32))
            .collect();
        tx.write(
            "value",
            &[first as u64, 0],
            Buffer::F32(ArrayD::from_shape_vec(IxDyn(&[names.len(), 4]), vals).unwrap()),
        )
        .unwrap();
        tx.commit().unwrap();
    }
}

/// Output of one statement as text (results, tables, messages and errors alike).
pub fn output_of(engine: &Engine, sql: &str) -> String {
    let ctx = QueryContext::default();
    match engine.execute(sql, &ctx) {
        Err(e) => format!("error: {}\n", e.render(sql)),
        Ok(Execution::Done {
            message, version, ..
        }) => match version {
            Some(v) => format!("ok: {message} (version {v})\n"),
            None => format!("ok: {message}\n"),
        },
        Ok(Execution::Table(t)) => render_table(&t),
        Ok(Execution::Explain(x)) => x.text,
        Ok(Execution::Rows(s)) => match s.collect_all() {
            Ok(r) => r.to_text(500),
            Err(e) => format!("error: {}\n", e.render(sql)),
        },
    }
}

/// Commit times differ per run: `committed <instant>` becomes `committed <time>`.
fn normalize(line: &str) -> String {
    match line.find("committed ") {
        Some(i) => format!("{}committed <time>", &line[..i]),
        None => line.to_string(),
    }
}

enum Record {
    Ok(String),
    Query(Query),
}

struct Query {
    sql: String,
    expected: String,
    /// Where `expected` stands in the file's text; without a `----` line (`ruled`
    /// false), the empty range right after the SQL.
    expected_at: Range<usize>,
    ruled: bool,
}

impl Query {
    /// The edit of the file that makes `got` this query's expected output.
    fn bless(&self, got: &str) -> (Range<usize>, String) {
        let rule = if self.ruled { "" } else { "----\n" };
        (self.expected_at.clone(), format!("{rule}{got}"))
    }
}

/// The records of a golden file (comment lines and blank lines between records
/// skipped), with where each query's expected output stands in `text`.
fn parse_file(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    // Each line without its newline, and the byte offset it starts at.
    let mut lines: Vec<(usize, &str)> = Vec::new();
    let mut at = 0;
    for l in text.split_inclusive('\n') {
        lines.push((at, l.strip_suffix('\n').unwrap_or(l)));
        at += l.len();
    }
    let start_of = |i: usize| lines.get(i).map_or(text.len(), |l| l.0);
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].1;
        if l.trim().is_empty() || l.starts_with('#') {
            i += 1;
            continue;
        }
        let kind = l.trim();
        i += 1;
        let mut sql = Vec::new();
        while i < lines.len() && !lines[i].1.trim().is_empty() && lines[i].1 != "----" {
            sql.push(lines[i].1);
            i += 1;
        }
        let sql = sql.join("\n");
        match kind {
            "statement ok" => out.push(Record::Ok(sql)),
            "query" => {
                let ruled = i < lines.len() && lines[i].1 == "----";
                if ruled {
                    i += 1;
                }
                let first = i;
                let mut expected = String::new();
                while ruled && i < lines.len() && !lines[i].1.is_empty() {
                    expected.push_str(lines[i].1);
                    expected.push('\n');
                    i += 1;
                }
                out.push(Record::Query(Query {
                    sql,
                    expected,
                    expected_at: start_of(first)..start_of(i),
                    ruled,
                }));
            }
            other => panic!("unknown record kind '{other}'"),
        }
    }
    out
}

/// `text` with the `edits` (in file order) made: what bless writes, the rest of
/// the file byte for byte.
fn rewrite(text: &str, edits: &[(Range<usize>, String)]) -> String {
    let mut out = String::new();
    let mut at = 0;
    for (range, new) in edits {
        out.push_str(&text[at..range.start]);
        out.push_str(new);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

#[test]
fn bless_rewrites_only_the_outputs_that_changed() {
    let text = "# a first paragraph\n# of two lines\n\n# a second paragraph\n\n\
                statement ok\nSELECT 1\n\nquery\nSELECT 2\n----\nold\nlines\n\n\
                query\nSELECT 3\n----\nkept\n\nquery\nSELECT 4\n";
    let records = parse_file(text);
    assert_eq!(rewrite(text, &[]), text);
    let edits: Vec<(Range<usize>, String)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Query(q) if q.sql != "SELECT 3" => Some(q.bless("new\n")),
            _ => None,
        })
        .collect();
    assert_eq!(
        rewrite(text, &edits),
        "# a first paragraph\n# of two lines\n\n# a second paragraph\n\n\
         statement ok\nSELECT 1\n\nquery\nSELECT 2\n----\nnew\n\n\
         query\nSELECT 3\n----\nkept\n\nquery\nSELECT 4\n----\nnew\n"
    );
}

fn run_file(path: &Path, bless: bool) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let engine = Engine::new(Store::temporary().unwrap(), EngineConfig::default());
    fixtures(&engine);
    let mut failures = Vec::new();
    let mut edits = Vec::new();
    for rec in parse_file(&text) {
        match rec {
            Record::Ok(sql) => {
                if let Err(e) = engine
                    .execute(&sql, &QueryContext::default())
                    .and_then(|x| match x {
                        Execution::Rows(s) => s.collect_all().map(|_| ()),
                        _ => Ok(()),
                    })
                {
                    failures.push(format!(
                        "{}: statement failed:\n{sql}\n{}",
                        path.display(),
                        e.render(&sql)
                    ));
                }
            }
            Record::Query(q) => {
                let got = output_of(&engine, &q.sql);
                // Blank lines end a record: keep outputs free of them.
                let got: String = got
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| format!("{}\n", normalize(l.trim_end())))
                    .collect();
                if !output_matches(&q.expected, &got) {
                    failures.push(format!(
                        "{}: mismatch for\n{}\n--- expected\n{}--- got\n{got}",
                        path.display(),
                        q.sql,
                        q.expected
                    ));
                    edits.push(q.bless(&got));
                }
            }
        }
    }
    if bless {
        std::fs::write(path, rewrite(&text, &edits)).unwrap();
    }
    failures
}

/// Whether `got` matches `expected` line by line (placeholders as documented at
/// the top of this file).
fn output_matches(expected: &str, got: &str) -> bool {
    let (e, g): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), got.lines().collect());
    e.len() == g.len() && e.iter().zip(&g).all(|(e, g)| line_matches(e, g))
}

fn line_matches(expected: &str, got: &str) -> bool {
    let Some(open) = expected.find("{{") else {
        return expected == got;
    };
    let close = open
        + expected[open..]
            .find("}}")
            .expect("placeholder closed by }}");
    let (literal, placeholder) = (&expected[..open], &expected[open + 2..close]);
    let Some(rest) = got.strip_prefix(literal) else {
        return false;
    };
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(rest.len());
    let Ok(value) = rest[..end].parse::<f64>() else {
        return false;
    };
    let ok = match placeholder.trim() {
        "n" => true,
        p => {
            let (centre, tol) = p
                .split_once("+-")
                .unwrap_or_else(|| panic!("placeholder {{{{{p}}}}}: N +-P% or n"));
            let centre: f64 = centre.trim().parse().expect("placeholder centre");
            let pct: f64 = tol.trim().trim_end_matches('%').parse().expect("tolerance");
            (value - centre).abs() <= centre.abs() * pct / 100.0
        }
    };
    ok && line_matches(&expected[close + 2..], &rest[end..])
}

#[test]
fn placeholders_match_numbers_within_their_tolerance() {
    assert!(line_matches("a ~{{200 +-10%}} B", "a ~219 B"));
    assert!(!line_matches("a ~{{200 +-10%}} B", "a ~221 B"));
    assert!(line_matches("{{n}} ms, {{4 +-0%}} x", "0.123 ms, 4 x"));
    assert!(!line_matches("{{n}} ms", "fast ms"));
    assert!(!line_matches("a {{1 +-50%}}", "b 1"));
}

fn golden_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    v.sort();
    v
}

#[test]
fn golden_files_match() {
    let bless = std::env::var("ARRAYQ_BLESS").is_ok_and(|v| v == "1");
    let files = golden_files();
    assert!(!files.is_empty(), "no golden files");
    let mut failures = Vec::new();
    for f in files {
        failures.extend(run_file(&f, bless));
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatches:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
