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
//! rewrite the expected outputs from the actual ones (lines with placeholders that
//! still match are kept as written).

use arrayq_query::{render_table, Engine, EngineConfig, Execution, QueryContext};
use arrayq_storage::{Buffer, Store};
use ndarray::{ArrayD, IxDyn};
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
    Comment(String),
    Ok(String),
    Query { sql: String, expected: String },
}

fn parse_file(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.trim().is_empty() {
            i += 1;
            continue;
        }
        if l.starts_with('#') {
            out.push(Record::Comment(l.to_string()));
            i += 1;
            continue;
        }
        let kind = l.trim();
        i += 1;
        let mut sql = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() && lines[i] != "----" {
            sql.push(lines[i]);
            i += 1;
        }
        let sql = sql.join("\n");
        match kind {
            "statement ok" => out.push(Record::Ok(sql)),
            "query" => {
                let mut expected = String::new();
                if i < lines.len() && lines[i] == "----" {
                    i += 1;
                    while i < lines.len() && !lines[i].is_empty() {
                        expected.push_str(lines[i]);
                        expected.push('\n');
                        i += 1;
                    }
                }
                out.push(Record::Query { sql, expected });
            }
            other => panic!("unknown record kind '{other}'"),
        }
    }
    out
}

fn run_file(path: &Path, bless: bool) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let engine = Engine::new(Store::temporary().unwrap(), EngineConfig::default());
    fixtures(&engine);
    let mut failures = Vec::new();
    let mut rewritten = String::new();
    // Consecutive comment lines stay one paragraph: the blank line goes after it.
    let mut after_comment = false;
    for rec in parse_file(&text) {
        if std::mem::take(&mut after_comment) && !matches!(rec, Record::Comment(_)) {
            rewritten.push('\n');
        }
        match rec {
            Record::Comment(c) => {
                rewritten.push_str(&c);
                rewritten.push('\n');
                after_comment = true;
            }
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
                rewritten.push_str(&format!("statement ok\n{sql}\n\n"));
            }
            Record::Query { sql, expected } => {
                let got = output_of(&engine, &sql);
                // Blank lines end a record: keep outputs free of them.
                let got: String = got
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| format!("{}\n", normalize(l.trim_end())))
                    .collect();
                if !output_matches(&expected, &got) {
                    failures.push(format!(
                        "{}: mismatch for\n{sql}\n--- expected\n{expected}--- got\n{got}",
                        path.display()
                    ));
                }
                let keep = if output_matches(&expected, &got) {
                    &expected
                } else {
                    &got
                };
                rewritten.push_str(&format!("query\n{sql}\n----\n{keep}\n"));
            }
        }
    }
    if bless {
        std::fs::write(path, rewritten).unwrap();
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
