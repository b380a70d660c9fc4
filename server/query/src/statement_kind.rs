//! What a statement does, known from parsing alone: the server decides who may run
//! it (roles) before anything is planned or read. [`StatementKind`] names every
//! statement of the language; a new [`Statement`] variant does not compile until it
//! is given a kind here, and a new kind not until the server gives it a role.

use std::time::{Duration, Instant};

use crate::ast::{Name, Statement};
use crate::error::QueryError;
use crate::parser;

/// Every kind of statement of the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatementKind {
    Select,
    Explain,
    ShowArrays,
    Describe,
    CreateArray,
    CreateArrayAs,
    Insert,
    AddLayout,
    /// `ALTER ARRAY name ADD ROLLUP ... | DROP ROLLUP name`.
    AlterRollup,
    /// `ALTER ARRAY name SET/RESET (retain ...)`: a retention policy.
    AlterRetention,
    DropArray,
    Vacuum,
}

/// A parsed statement, ready for [`crate::Engine::run`].
#[derive(Debug)]
pub struct ParsedStatement {
    pub(crate) statement: Statement,
    pub(crate) started: Instant,
    pub(crate) parse_time: Duration,
}

impl ParsedStatement {
    /// Parses `sql` (the clock of the statement's timings starts here).
    pub fn parse(sql: &str) -> Result<ParsedStatement, QueryError> {
        let started = Instant::now();
        let statement = parser::parse(sql)?;
        Ok(ParsedStatement {
            statement,
            started,
            parse_time: started.elapsed(),
        })
    }

    pub fn kind(&self) -> StatementKind {
        match &self.statement {
            Statement::Select(_) => StatementKind::Select,
            Statement::Explain { .. } => StatementKind::Explain,
            Statement::ShowArrays => StatementKind::ShowArrays,
            Statement::Describe(_) => StatementKind::Describe,
            Statement::CreateArray(_) => StatementKind::CreateArray,
            Statement::CreateArrayAs(_) => StatementKind::CreateArrayAs,
            Statement::Insert(_) => StatementKind::Insert,
            Statement::AddLayout(_) => StatementKind::AddLayout,
            Statement::AlterRollup(_) => StatementKind::AlterRollup,
            Statement::DropArray { .. } => StatementKind::DropArray,
            Statement::Vacuum(_) => StatementKind::Vacuum,
            Statement::AlterRetention(_) => StatementKind::AlterRetention,
        }
    }

    /// The array the statement reads or changes (a join's left array; none for
    /// SHOW ARRAYS).
    pub fn array(&self) -> Option<&str> {
        fn name(n: &Name) -> Option<&str> {
            Some(n.value.as_str())
        }
        match &self.statement {
            Statement::Select(s) => name(&s.from),
            Statement::Explain { query, .. } => name(&query.from),
            Statement::ShowArrays => None,
            Statement::Describe(n) => name(n),
            Statement::CreateArray(c) => Some(c.name.as_str()),
            Statement::CreateArrayAs(c) => name(&c.name),
            Statement::Insert(i) => name(&i.into),
            Statement::AddLayout(a) => name(&a.array),
            Statement::AlterRollup(a) => name(&a.array),
            Statement::DropArray { name: n, .. } => name(n),
            Statement::Vacuum(v) => name(&v.array),
            Statement::AlterRetention(a) => name(&a.array),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_arrays_of_statements() {
        let cases = [
            ("SELECT t2m FROM era5", StatementKind::Select, Some("era5")),
            (
                "EXPLAIN SELECT avg(v) FROM a",
                StatementKind::Explain,
                Some("a"),
            ),
            ("SHOW ARRAYS", StatementKind::ShowArrays, None),
            ("DESCRIBE era5", StatementKind::Describe, Some("era5")),
            (
                "CREATE ARRAY b (i INT8 START 0 STEP 1 LENGTH 10, v DOUBLE)",
                StatementKind::CreateArray,
                Some("b"),
            ),
            (
                "ALTER ARRAY a ADD LAYOUT p CHUNKS (10)",
                StatementKind::AddLayout,
                Some("a"),
            ),
            (
                "ALTER ARRAY a ADD ROLLUP daily AS SELECT avg(v) GROUP BY date_trunc('day', t)",
                StatementKind::AlterRollup,
                Some("a"),
            ),
            (
                "ALTER ARRAY a DROP ROLLUP daily",
                StatementKind::AlterRollup,
                Some("a"),
            ),
            (
                "CREATE ARRAY c AS SELECT v FROM a",
                StatementKind::CreateArrayAs,
                Some("c"),
            ),
            (
                "INSERT INTO a VALUES (1, 2.0)",
                StatementKind::Insert,
                Some("a"),
            ),
            (
                "DROP ARRAY IF EXISTS a",
                StatementKind::DropArray,
                Some("a"),
            ),
        ];
        for (sql, kind, array) in cases {
            let p = ParsedStatement::parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert_eq!((p.kind(), p.array()), (kind, array), "{sql}");
        }
    }
}
