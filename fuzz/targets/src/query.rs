//! `query`: query text -> parse, plan and (for read-only statements) execute on
//! the fixture store (`query_fixture`). Checks: nothing panics; every syntax error
//! and every error that points at the text points inside it; no internal error; a
//! result has exactly the shape, columns and types its header announced, and its
//! blocks cover every column once, in order.

use crate::query_fixture::engine;
use arrayq_query::{Execution, QueryContext, QueryError, ResultStream, Span, WireBlock};

pub fn run(data: &[u8]) {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let engine = engine();
    let ctx = QueryContext::default();
    match engine.prepare(sql, &ctx) {
        Err(e) => check_error(sql, &e),
        // Writes and DDL are parsed and planned only: the fixture never changes.
        Ok(false) => {}
        Ok(true) => match engine.execute(sql, &ctx) {
            Err(e) => {
                assert!(
                    !matches!(e, QueryError::Parse { .. }),
                    "{sql:?} parsed in prepare but not in execute: {e}"
                );
                check_error(sql, &e)
            }
            Ok(Execution::Rows(stream)) => check_rows(sql, stream),
            Ok(Execution::Explain(x)) => assert!(!x.text.is_empty(), "{sql:?}: empty EXPLAIN"),
            Ok(Execution::Table(t)) => {
                for row in &t.rows {
                    assert_eq!(row.len(), t.columns.len(), "{sql:?}: ragged table");
                }
            }
            Ok(Execution::Done { .. }) => panic!("{sql:?}: a read-only statement wrote"),
        },
    }
}

/// Where the errors point must be inside the text (1-based line and column in
/// characters; the column just after a line's end is where a missing token goes).
fn check_error(sql: &str, e: &QueryError) {
    match e {
        QueryError::Parse { line, column, .. } => {
            assert!(
                inside(sql, *line, *column),
                "{sql:?}: {e} points outside the text"
            )
        }
        QueryError::Plan(d)
        | QueryError::NotFound(d)
        | QueryError::UnknownName(d)
        | QueryError::Type(d) => {
            if let Some(s) = d.at.filter(Span::is_known) {
                assert!(
                    inside(sql, s.line, s.column) && inside(sql, s.end_line, s.end_column),
                    "{sql:?}: {e} spans {s:?}, outside the text"
                );
                assert!(
                    (s.line, s.column) <= (s.end_line, s.end_column),
                    "{sql:?}: {e} spans {s:?}, which ends before it starts"
                );
            }
        }
        QueryError::Internal(m) => panic!("{sql:?}: internal error: {m}"),
        _ => {}
    }
}

fn inside(sql: &str, line: u64, column: u64) -> bool {
    let Some(text) = (line as usize)
        .checked_sub(1)
        .and_then(|l| sql.split('\n').nth(l))
    else {
        return false;
    };
    column >= 1 && column <= text.chars().count() as u64 + 1
}

/// The blocks of every column, in order, exactly fill the announced shape with the
/// announced types; coordinates have one value per index.
fn check_rows(sql: &str, mut stream: ResultStream) {
    let h = stream.header.clone();
    assert_eq!(
        h.coords.len(),
        h.dims.len(),
        "{sql:?}: coordinates per dimension"
    );
    assert_eq!(h.shape.len(), h.dims.len(), "{sql:?}: shape per dimension");
    for (d, c) in h.coords.iter().enumerate() {
        assert_eq!(
            c.len(),
            h.shape[d],
            "{sql:?}: coordinates of '{}'",
            h.dims[d]
        );
    }
    if h.scalar {
        assert!(
            h.shape.is_empty(),
            "{sql:?}: a scalar result with dimensions"
        );
    }
    let len = h.len();
    let mut filled = vec![0usize; h.columns.len()];
    while let Some(block) = stream.next_wire() {
        let b = match block {
            Ok(WireBlock::Values(b)) => b,
            Ok(WireBlock::Stored(_)) => panic!("{sql:?}: stored chunks were not asked for"),
            Err(e) => return check_error(sql, &e),
        };
        let (name, dtype) = h.columns.get(b.column).unwrap_or_else(|| {
            panic!(
                "{sql:?}: block of column {} of {}",
                b.column,
                h.columns.len()
            )
        });
        assert_eq!(b.data.dtype(), *dtype, "{sql:?}: type of column '{name}'");
        assert_eq!(
            b.offset, filled[b.column],
            "{sql:?}: block of '{name}' out of order"
        );
        filled[b.column] += b.data.len();
        assert!(
            filled[b.column] <= len,
            "{sql:?}: '{name}' past the shape {:?}",
            h.shape
        );
    }
    for (c, n) in filled.iter().enumerate() {
        assert_eq!(
            *n, len,
            "{sql:?}: column '{}' of shape {:?}",
            h.columns[c].0, h.shape
        );
    }
}
