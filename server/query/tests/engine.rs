//! Engine behaviour beyond the golden files: streaming blocks, limits, cancellation,
//! timeouts, EXPLAIN ANALYZE, AS OF TIMESTAMP, and a grammar fuzz test.

use arrayq_query::{Engine, EngineConfig, Execution, QueryContext, QueryError};
use arrayq_storage::{Buffer, Store};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// `cube(time, y, x; a f32)`, 40 x 30 x 20 hourly, a = t + y/100 + x/10000;
/// chunks (4, 10, 10).
fn engine_with(config: EngineConfig) -> Engine {
    let e = Engine::new(Store::temporary().unwrap(), config);
    let ctx = QueryContext::default();
    e.execute(
        "CREATE ARRAY cube (time TIMESTAMP START '2024-01-01T00:00:00Z' STEP '1 hour' LENGTH 40,
          y DOUBLE START 0 STEP 1 LENGTH 30, x DOUBLE START 0 STEP 1 LENGTH 20, a REAL)
         WITH (chunks = (4, 10, 10))",
        &ctx,
    )
    .unwrap();
    let mut v = Vec::new();
    for t in 0..40 {
        for y in 0..30 {
            for x in 0..20 {
                v.push(t as f32 + y as f32 / 100.0 + x as f32 / 10000.0);
            }
        }
    }
    e.store()
        .write(
            "cube",
            "a",
            &[0, 0, 0],
            Buffer::F32(ArrayD::from_shape_vec(IxDyn(&[40, 30, 20]), v).unwrap()),
        )
        .unwrap();
    e
}

fn rows(
    e: &Engine,
    sql: &str,
    ctx: &QueryContext,
) -> Result<arrayq_query::ResultStream, QueryError> {
    match e.execute(sql, ctx)? {
        Execution::Rows(s) => Ok(s),
        _ => panic!("not rows"),
    }
}

#[test]
fn blocks_respect_block_bytes_and_cover_the_result() {
    let e = engine_with(EngineConfig {
        block_bytes: 1000,
        ..Default::default()
    });
    let s = rows(
        &e,
        "SELECT a, a * 2 AS b FROM cube WHERE time < '2024-01-01T10:00:00Z'",
        &QueryContext::default(),
    )
    .unwrap();
    assert_eq!(s.header.shape, vec![10, 30, 20]);
    let n = 10 * 30 * 20;
    let mut seen = [vec![false; n], vec![false; n]];
    let mut last_col = 0;
    for b in s {
        let b = b.unwrap();
        assert!(b.data.len() * 4 <= 1000);
        assert!(b.column >= last_col, "columns come one after another");
        last_col = b.column;
        let vals = b.data.to_f64_vec();
        for (k, v) in vals.iter().enumerate() {
            let i = b.offset + k;
            assert!(!seen[b.column][i]);
            seen[b.column][i] = true;
            let (t, y, x) = (i / 600, (i / 20) % 30, i % 20);
            let want = (t as f32 + y as f32 / 100.0 + x as f32 / 10000.0)
                * if b.column == 1 { 2.0 } else { 1.0 };
            assert_eq!(*v as f32, want, "column {} cell {i}", b.column);
        }
    }
    assert!(seen.iter().all(|c| c.iter().all(|&x| x)));
}

#[test]
fn result_limit_is_a_clear_error() {
    let e = engine_with(EngineConfig::default());
    let ctx = QueryContext {
        max_result_bytes: Some(1000),
        ..Default::default()
    };
    match rows(&e, "SELECT a FROM cube", &ctx) {
        Err(QueryError::ResourcesExhausted(m)) => assert!(m.contains("1000"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
    // Aggregates are small: fine under the same limit.
    let r = rows(&e, "SELECT avg(a) FROM cube GROUP BY time", &ctx)
        .unwrap()
        .collect_all()
        .unwrap();
    assert_eq!(r.header.shape, vec![40]);
}

#[test]
fn cancellation_and_timeout() {
    let e = engine_with(EngineConfig::default());
    let ctx = QueryContext::default();
    let s = rows(&e, "SELECT avg(a) FROM cube", &ctx).unwrap();
    ctx.cancel.store(true, Ordering::Relaxed);
    assert!(matches!(s.collect_all(), Err(QueryError::Cancelled)));

    let ctx = QueryContext {
        deadline: Some(Instant::now() - Duration::from_millis(1)),
        ..Default::default()
    };
    assert!(matches!(
        rows(&e, "SELECT a FROM cube", &ctx).err(),
        Some(QueryError::Timeout)
    ));

    let e2 = engine_with(EngineConfig {
        timeout: Some(Duration::ZERO),
        ..Default::default()
    });
    assert!(matches!(
        rows(&e2, "SELECT a FROM cube", &QueryContext::default()).err(),
        Some(QueryError::Timeout)
    ));
}

#[test]
fn aggregates_match_a_direct_computation() {
    let e = engine_with(EngineConfig::default());
    let r = rows(&e, "SELECT avg(a), min(a), max(a), count(a), stddev_pop(a) FROM cube WHERE y BETWEEN 3 AND 17 GROUP BY x", &QueryContext::default())
        .unwrap()
        .collect_all()
        .unwrap();
    assert_eq!(r.header.dims, vec!["x"]);
    for x in 0..20 {
        let vals: Vec<f64> = (0..40)
            .flat_map(|t| {
                (3..=17).map(move |y| (t as f32 + y as f32 / 100.0 + x as f32 / 10000.0) as f64)
            })
            .collect();
        let n = vals.len() as f64;
        let mean = vals.iter().sum::<f64>() / n;
        let var = vals.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let got: Vec<f64> = r.columns.iter().map(|c| c.to_f64_vec()[x]).collect();
        assert!((got[0] - mean).abs() < 1e-9 * mean.abs());
        assert_eq!(got[1], vals.iter().cloned().fold(f64::INFINITY, f64::min));
        assert_eq!(
            got[2],
            vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
        );
        assert_eq!(got[3], n);
        assert!((got[4] - var.sqrt()).abs() < 1e-9 * var.sqrt());
    }
}

#[test]
fn explain_analyze_reports_io_and_stages() {
    let e = engine_with(EngineConfig::default());
    let x = e
        .explain(
            "SELECT avg(a) FROM cube WHERE time < '2024-01-01T08:00:00Z' GROUP BY y",
            true,
            &QueryContext::default(),
        )
        .unwrap();
    let s = x.analyze.clone().unwrap();
    assert_eq!(s.chunks_read, 2 * 3 * 2);
    assert!(s.bytes_read > 0 && s.bytes_decoded == 12 * 400 * 4);
    assert!(
        x.text.contains("Analyze:") && x.text.contains("chunks read: 12"),
        "{}",
        x.text
    );
    assert_eq!(x.layout, "primary");
    match e
        .execute(
            "EXPLAIN ANALYZE SELECT a FROM cube WHERE x = 3",
            &QueryContext::default(),
        )
        .unwrap()
    {
        Execution::Explain(x) => {
            // x = 3 lies in the first of two x chunks: all 10 time chunks x 3 y
            // chunks, each decoded whole (4 x 10 x 10 f32).
            let s = x.analyze.expect("EXPLAIN ANALYZE runs the query");
            assert_eq!(s.chunks_read, 10 * 3);
            assert_eq!(s.bytes_decoded, 10 * 3 * 400 * 4);
            assert_eq!(x.layout, "primary");
            assert!(x.text.contains("chunks read: 30"), "{}", x.text);
        }
        _ => panic!("EXPLAIN ANALYZE did not return an explanation"),
    }
}

#[test]
fn as_of_timestamp_reads_the_version_of_that_time() {
    let e = engine_with(EngineConfig::default());
    e.store()
        .write(
            "cube",
            "a",
            &[0, 0, 0],
            Buffer::F32(ArrayD::from_elem(IxDyn(&[1, 1, 1]), 1000.0f32)),
        )
        .unwrap();
    let versions = e.store().versions("cube").unwrap();
    let (v1, t1) = versions[1];
    let ts = chrono::DateTime::<chrono::Utc>::from_timestamp_nanos(t1)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let q = |sql: &str| {
        rows(&e, sql, &QueryContext::default())
            .unwrap()
            .collect_all()
            .unwrap()
    };
    let old = q(&format!("SELECT a FROM cube AS OF TIMESTAMP '{ts}' WHERE time = '2024-01-01T00:00:00Z' AND y = 0 AND x = 0"));
    assert_eq!(old.header.version, v1);
    assert_eq!(old.columns[0].to_f64_vec(), vec![0.0]);
    let new = q("SELECT a FROM cube WHERE time = '2024-01-01T00:00:00Z' AND y = 0 AND x = 0");
    assert_eq!(new.columns[0].to_f64_vec(), vec![1000.0]);
}

#[test]
fn complete_names_lists_arrays_attributes_and_dimensions() {
    let e = engine_with(EngineConfig::default());
    assert_eq!(e.complete_names(), vec!["a", "cube", "time", "x", "y"]);
}

#[test]
fn parse_errors_render_a_caret() {
    let e = engine_with(EngineConfig::default());
    let sql = "SELECT a\n  FROM cube\n  WHERE x >> 3";
    let err = e.execute(sql, &QueryContext::default()).err().unwrap();
    let (line, _) = err.position().expect("positioned");
    assert_eq!(line, 3);
    assert!(err.render(sql).contains('^'));
}

// ------------------------------------------------------------------- grammar fuzz

const WORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "AND",
    "OR",
    "NOT",
    "IN",
    "BETWEEN",
    "AS",
    "OF",
    "VERSION",
    "TIMESTAMP",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST",
    "INT",
    "REAL",
    "EXPLAIN",
    "ANALYZE",
    "CREATE",
    "ARRAY",
    "ALTER",
    "ADD",
    "LAYOUT",
    "CHUNKS",
    "DROP",
    "SHOW",
    "ARRAYS",
    "DESCRIBE",
    "WITH",
    "START",
    "STEP",
    "LENGTH",
    "GROWABLE",
    "LABELS",
    "a",
    "cube",
    "time",
    "x",
    "y",
    "avg",
    "sum",
    "count",
    "max",
    "stddev",
    "date_trunc",
    "abs",
    "sqrt",
    "round",
    "'day'",
    "'Europe/Amsterdam'",
    "'2024-01-01T03:00:00Z'",
    "'x'",
    "*",
    "(",
    ")",
    ",",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "<>",
    "+",
    "-",
    "/",
    "%",
    "0",
    "1",
    "3",
    "2.5",
    "-7",
    "1e300",
    ";",
    "''",
    "\"a\"",
    "\n",
    "9999999999999999999",
];

fn valid_queries() -> Vec<&'static str> {
    vec![
        "SELECT a FROM cube WHERE x = 3 AND y = 4",
        "SELECT avg(a) FROM cube GROUP BY date_trunc('day', time)",
        "SELECT CASE WHEN a > 3 THEN a ELSE 0 END AS c FROM cube WHERE time = '2024-01-01T03:00:00Z'",
        "SELECT sum(a * 2) FROM cube AS OF VERSION 1 WHERE x BETWEEN 1 AND 3 GROUP BY y",
        "EXPLAIN SELECT max(a) FROM cube GROUP BY x, y",
        "CREATE ARRAY z (t TIMESTAMP START '2024-01-01' STEP '1 hour' LENGTH 3, v REAL)",
    ]
}

/// The position of the error of `sql` and its last two rendered lines (the source
/// line and the carets).
fn error_at(e: &Engine, sql: &str) -> ((u64, u64), String, String) {
    let ctx = QueryContext::default();
    let err = match e.execute(sql, &ctx) {
        Err(err) => err,
        Ok(_) => panic!("{sql:?} succeeded"),
    };
    let pos = err
        .position()
        .unwrap_or_else(|| panic!("no position: {err}"));
    let r = err.render(sql);
    let lines: Vec<&str> = r.lines().collect();
    assert!(lines.len() >= 3, "{r}");
    let head = lines[..lines.len() - 2].join("\n");
    let tail = lines[lines.len() - 2..].join("\n");
    (pos, head, tail)
}

#[test]
fn errors_after_parsing_point_at_the_offending_text() {
    let e = engine_with(EngineConfig::default());
    let cases: &[(&str, (u64, u64), &str, &str)] = &[
        (
            "SELECT a\nFROM cube\nWHERE yy = 3",
            (3, 7),
            "unknown attribute or dimension 'yy' in array 'cube' at line 3, column 7 (did you mean 'y'?)",
            "WHERE yy = 3\n      ^^",
        ),
        (
            "SELECT a\n  FROM cub",
            (2, 8),
            "unknown array 'cub' at line 2, column 8 (did you mean 'cube'?)",
            "  FROM cub\n       ^^^",
        ),
        (
            "SELECT\n  sqr(a)\nFROM cube",
            (2, 3),
            "unknown function 'sqr' at line 2, column 3 (did you mean 'sqrt'?)",
            "  sqr(a)\n  ^^^^^^",
        ),
        (
            "SELECT a FROM cube\nWHERE time = 'noon'",
            (2, 14),
            "type error at line 2, column 14: 'noon' is not an ISO-8601 timestamp (compared with time dimension 'time')",
            "WHERE time = 'noon'\n             ^^^^^^",
        ),
        (
            "SELECT a\nFROM cube WHERE a > 'x'",
            (2, 21),
            "type error at line 2, column 21: cannot compare a with the string 'x'",
            "FROM cube WHERE a > 'x'\n                    ^^^",
        ),
        // An expression that goes on over the next line: carets to the end of the first.
        (
            "SELECT a FROM cube\nWHERE a + y * 2 -\n  1",
            (2, 7),
            "type error at line 2, column 7: WHERE needs a condition, ((a + (y * 2)) - 1) is f64",
            "WHERE a + y * 2 -\n      ^^^^^^^^^^^",
        ),
        (
            "SELECT avg(a)\nFROM cube\nGROUP BY y, a",
            (3, 13),
            "planning error at line 3, column 13: GROUP BY keeps dimensions; 'a' is an attribute (grouping by values is not supported)",
            "GROUP BY y, a\n            ^",
        ),
        (
            "SELECT avg(a) FROM cube\nGROUP BY date_trunc('day',\n    time, 'Mars/Olympus')",
            (3, 11),
            "unknown time zone 'Mars/Olympus' at line 3, column 11 (use an IANA name like 'Europe/Amsterdam')",
            "    time, 'Mars/Olympus')\n          ^^^^^^^^^^^^^^",
        ),
        (
            "SELECT avg(a) FROM cube\nGROUP BY date_trunc('fortnight', time)",
            (2, 21),
            "unknown date_trunc unit 'fortnight' at line 2, column 21",
            "GROUP BY date_trunc('fortnight', time)\n                    ^^^^^^^^^^^",
        ),
        (
            "SELECT a FROM cube\n  AS OF TIMESTAMP 'later'",
            (2, 19),
            "type error at line 2, column 19: AS OF TIMESTAMP 'later' is not an ISO-8601 timestamp",
            "  AS OF TIMESTAMP 'later'\n                  ^^^^^^^",
        ),
        (
            "SELECT a FROM cube\nORDER BY aa",
            (2, 10),
            "unknown result column 'aa' in ORDER BY (order by a result column, alias or dimension) at line 2, column 10 (did you mean 'a'?)",
            "ORDER BY aa\n         ^^",
        ),
        // Parentheses, casts and calls belong to the expression they enclose.
        (
            "SELECT a +\n  ((y > 1)) FROM cube",
            (2, 3),
            "type error at line 2, column 3: arithmetic '+' on the bool expression (y > 1); CAST it to a number first",
            "  ((y > 1)) FROM cube\n  ^^^^^^^^^",
        ),
        (
            "SELECT x,\n  max(CAST(a AS BOOLEAN)) FROM cube GROUP BY x",
            (2, 7),
            "type error at line 2, column 7: max() of the bool expression CAST(a AS bool); use count() or max(CAST(CAST(a AS bool) AS INT))",
            "  max(CAST(a AS BOOLEAN)) FROM cube GROUP BY x\n      ^^^^^^^^^^^^^^^^^^",
        ),
        (
            "SELECT a FROM cube\n  WITH (layout = 'mpas')",
            (2, 18),
            "unknown layout 'mpas' of array 'cube' at line 2, column 18",
            "  WITH (layout = 'mpas')\n                 ^^^^^^",
        ),
        (
            "CREATE ARRAY q (t DOUBLE START 0 STEP 1 LENGTH 2, v REAL)\n  WITH (chunk = (1))",
            (2, 9),
            "unknown option 'chunk' at line 2, column 9 (did you mean 'chunks'?)",
            "  WITH (chunk = (1))\n        ^^^^^",
        ),
        (
            "DESCRIBE\n  cueb",
            (2, 3),
            "unknown array 'cueb' at line 2, column 3 (did you mean 'cube'?)",
            "  cueb\n  ^^^^",
        ),
    ];
    for (sql, pos, head, tail) in cases {
        let (p, h, t) = error_at(&e, sql);
        assert_eq!((p, h.as_str(), t.as_str()), (*pos, *head, *tail), "{sql:?}");
    }
}

fn check(e: &Engine, sql: &str) {
    let ctx = QueryContext {
        max_result_bytes: Some(1 << 20),
        ..Default::default()
    };
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        match e.execute(sql, &ctx) {
            Ok(Execution::Rows(s)) => s.collect_all().map(|_| ()),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }));
    match r {
        Err(_) => panic!("panic on {sql:?}"),
        Ok(Err(QueryError::Internal(m))) => panic!("internal error on {sql:?}: {m}"),
        Ok(Err(err)) => {
            let _ = err.render(sql);
            // Every position points into the text (or just past the end of a line).
            if let Some((line, column)) = err.position() {
                let lines = sql.lines().count().max(1) as u64;
                let fits = sql
                    .lines()
                    .nth(line as usize - 1)
                    .is_none_or(|t| column as usize <= t.chars().count() + 1);
                assert!(
                    (1..=lines).contains(&line) && column >= 1 && fits,
                    "{sql:?}: position {line}:{column} of {err}"
                );
            }
        }
        Ok(Ok(())) => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_token_soup_never_panics(words in proptest::collection::vec(proptest::sample::select(WORDS), 0..25)) {
        thread_local!(static E: Engine = engine_with(EngineConfig::default()));
        let sql = words.join(" ");
        E.with(|e| check(e, &sql));
    }

    #[test]
    fn mutated_queries_never_panic(
        q in proptest::sample::select(valid_queries()),
        cut in 0usize..200,
        ins in proptest::sample::select(WORDS),
        del in 0usize..4,
    ) {
        thread_local!(static E: Engine = engine_with(EngineConfig::default()));
        let chars: Vec<char> = q.chars().collect();
        let at = cut % (chars.len() + 1);
        let end = (at + del).min(chars.len());
        let mut s: String = chars[..at].iter().collect();
        s.push(' ');
        s.push_str(ins);
        s.push(' ');
        s.extend(&chars[end..]);
        E.with(|e| check(e, &s));
    }

    #[test]
    fn arbitrary_strings_never_panic(s in "\\PC{0,60}") {
        thread_local!(static E: Engine = engine_with(EngineConfig::default()));
        E.with(|e| check(e, &s));
    }
}

#[test]
fn stored_chunks_only_for_whole_contiguous_chunks_of_bare_attributes() {
    let e = engine_with(EngineConfig {
        block_bytes: 1000,
        ..Default::default()
    });
    let ctx = QueryContext::default();
    // y and x each exactly one chunk: every (4, 10, 10) chunk is a contiguous run.
    let sql = "SELECT a FROM cube WHERE y <= 9 AND x BETWEEN 10 AND 19";
    let mut s = rows(&e, sql, &ctx).unwrap();
    assert!(s.send_stored_chunks(1 << 20));
    let (mut next, mut stored) = (0, 0);
    while let Some(b) = s.next_wire() {
        let b = match b.unwrap() {
            arrayq_query::WireBlock::Stored(b) => {
                stored += 1;
                assert_eq!(
                    b.chunks.len(),
                    1,
                    "a 1600-byte chunk fills a 1000-byte block"
                );
                let mut out = vec![0u8; b.elements() * 4];
                b.decode_into(&mut out).unwrap();
                let v: Vec<f32> = out
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect();
                (b.offset, v)
            }
            arrayq_query::WireBlock::Values(b) => panic!("decoded block at {}", b.offset),
        };
        assert_eq!(b.0, next);
        for (k, v) in b.1.iter().enumerate() {
            let i = next + k;
            let (t, y, x) = (i / 100, (i / 10) % 10, 10 + i % 10);
            let want = t as f32 + y as f32 / 100.0 + x as f32 / 10000.0;
            assert_eq!(*v, want, "element {i}");
        }
        next += b.1.len();
    }
    assert_eq!((next, stored), (4000, 10));
    assert_eq!(s.stats().bytes_decoded, 0);
    assert_eq!(s.stats().chunks_read, 10);

    // The plain iterator decodes stored blocks itself.
    let mut s = rows(&e, sql, &ctx).unwrap();
    assert!(s.send_stored_chunks(1 << 20));
    let flat = |s: &mut arrayq_query::ResultStream| -> Vec<f64> {
        s.by_ref()
            .flat_map(|b| b.unwrap().data.to_f64_vec())
            .collect()
    };
    let plain = flat(&mut rows(&e, sql, &ctx).unwrap());
    assert_eq!(plain.len(), 4000);
    assert!(
        flat(&mut s) == plain,
        "stored blocks decode to the plain result"
    );

    for sql in [
        "SELECT a * 2 AS b FROM cube WHERE y <= 9 AND x <= 9",
        "SELECT avg(a) FROM cube WHERE y <= 9 AND x <= 9 GROUP BY time",
        "SELECT a FROM cube WHERE y <= 15 AND x <= 9",
        "SELECT a FROM cube",
    ] {
        let mut s = rows(&e, sql, &ctx).unwrap();
        assert!(!s.send_stored_chunks(1 << 20), "{sql}");
    }
    let mut s = rows(&e, sql, &ctx).unwrap();
    s.next().unwrap().unwrap();
    assert!(
        !s.send_stored_chunks(1 << 20),
        "only before the first block"
    );
}

#[test]
fn stored_blocks_count_their_description_against_the_size_bound() {
    let e = Engine::new(Store::temporary().unwrap(), EngineConfig::default());
    let ctx = QueryContext::default();
    e.execute(
        "CREATE ARRAY tiny (i DOUBLE START 0 STEP 1 LENGTH 3000, v REAL) WITH (chunks = (2))",
        &ctx,
    )
    .unwrap();
    // Incompressible-ish values: chunk payloads of a few bytes each.
    let v: Vec<f32> = (0..3000u32)
        .map(|i| f32::from_bits(i.wrapping_mul(2_654_435_761) >> 2))
        .collect();
    e.store()
        .write(
            "tiny",
            "v",
            &[0],
            Buffer::F32(ArrayD::from_shape_vec(IxDyn(&[3000]), v.clone()).unwrap()),
        )
        .unwrap();
    let max = 2000;
    let mut s = rows(&e, "SELECT v FROM tiny", &ctx).unwrap();
    assert!(s.send_stored_chunks(max));
    let (mut got, mut blocks) = (Vec::new(), 0);
    while let Some(b) = s.next_wire() {
        let arrayq_query::WireBlock::Stored(b) = b.unwrap() else {
            panic!("a decoded block")
        };
        // Bytes plus two varints per chunk and the codec steps stay under the bound.
        assert!(
            b.stored_bytes() + 24 * b.chunks.len() <= max,
            "{}",
            b.stored_bytes()
        );
        let mut out = vec![0u8; b.elements() * 4];
        b.decode_into(&mut out).unwrap();
        got.extend(
            out.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()).to_bits()),
        );
        blocks += 1;
    }
    assert!(blocks > 1);
    assert_eq!(got, v.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
}
