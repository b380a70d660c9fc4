//! The catalog RPCs: one door for creating arrays, and the conveniences DropArray,
//! ListArrays and DescribeArray over the same store.
//!
//! `CreateArray{sql}` runs the statement through the query engine, exactly as
//! `Query("CREATE ARRAY ...")` does. `CreateArray{schema}` converts the schema
//! ([`schema_from_pb`], which fills the same defaults the engine uses when a schema
//! leaves them open) and makes the same storage call. Both answer with the stored
//! schema and the version created.

use arrayq_proto::v1 as pb;
use arrayq_proto::v1::create_array_request::Definition;
use arrayq_query::{Engine, Execution, QueryContext, StatementKind};
use arrayq_storage::{AsOf, Snapshot, Store};
use tonic::Status;

use crate::errors::{query_status, storage_status};
use crate::roles::{authorize, parse_authorized, Access, Caller, Operation, Refused};
use crate::schema_pb::{retention_to_pb, schema_from_pb, schema_to_pb};

const CREATE: Operation = Operation::Statement(StatementKind::CreateArray);

/// Creates an array from either definition of a CreateArray request (blocking: run
/// it on the blocking pool).
pub fn create_array(
    engine: &Engine,
    caller: &Caller,
    definition: Option<Definition>,
) -> Result<pb::CreateArrayResponse, Status> {
    let store = engine.store();
    let (name, version) = match definition {
        None => {
            return Err(Status::invalid_argument(
                "CreateArray needs a schema or a CREATE ARRAY statement",
            ))
        }
        Some(Definition::Schema(s)) => {
            let schema = schema_from_pb(&s)?;
            let name = schema.name.clone();
            authorize(caller, &Access::new(CREATE, Some(&name)))?;
            let info = store.create_array(schema).map_err(storage_status)?;
            (name, info.version)
        }
        Some(Definition::Sql(sql)) => {
            // Only CREATE ARRAY may come this way: checked before anything runs.
            if !is_create_array(&sql) {
                return Err(Status::invalid_argument(
                    "CreateArray.sql must be a CREATE ARRAY statement",
                ));
            }
            let parsed = match parse_authorized(caller, &sql) {
                Ok(p) => p,
                Err(Refused::Query(e)) => return Err(query_status(e)),
                Err(Refused::Denied(d)) => return Err(d.into()),
            };
            match engine
                .run(parsed, &QueryContext::default())
                .map_err(query_status)?
            {
                Execution::Done {
                    array: Some(a),
                    version,
                    ..
                } => {
                    // IF NOT EXISTS on an existing array commits nothing: answer with
                    // the array's current head.
                    let version = match version {
                        Some(v) => v,
                        None => store
                            .snapshot(&a, AsOf::Latest)
                            .map_err(storage_status)?
                            .version(),
                    };
                    (a, version)
                }
                _ => {
                    return Err(Status::invalid_argument(
                        "CreateArray.sql must be a CREATE ARRAY statement",
                    ))
                }
            }
        }
    };
    let snap = store
        .snapshot(&name, AsOf::Version(version))
        .map_err(storage_status)?;
    Ok(pb::CreateArrayResponse {
        schema: Some(schema_to_pb(snap.schema(), false)),
        version,
    })
}

/// True if the statement's first words (after blanks and comments) are
/// `CREATE ARRAY`.
fn is_create_array(sql: &str) -> bool {
    let mut words = skip_space_and_comments(sql)
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty());
    words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("create"))
        && words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("array"))
}

/// Skips whitespace, `-- line` and `/* block */` comments.
fn skip_space_and_comments(mut s: &str) -> &str {
    loop {
        s = s.trim_start();
        if let Some(r) = s.strip_prefix("--") {
            s = r.find('\n').map_or("", |i| &r[i + 1..]);
        } else if let Some(r) = s.strip_prefix("/*") {
            s = r.find("*/").map_or("", |i| &r[i + 2..]);
        } else {
            return s;
        }
    }
}

/// DescribeArray: the schema, head version, history (the newest `max_commits`, all
/// with 0) and per-layout storage statistics.
pub fn describe(
    store: &Store,
    name: &str,
    max_commits: u32,
    omit_labels: bool,
) -> Result<pb::DescribeArrayResponse, Status> {
    let snap = store.snapshot(name, AsOf::Latest).map_err(storage_status)?;
    let all = store.commits(name).map_err(storage_status)?;
    let skip = if max_commits == 0 {
        0
    } else {
        all.len().saturating_sub(max_commits as usize)
    };
    let commits = all[skip..]
        .iter()
        .map(|c| pb::Commit {
            version: c.version,
            timestamp_ns: c.timestamp_ns,
            cells_written: c.cells_written,
        })
        .collect();
    let retention = store.retention(name).map_err(storage_status)?;
    let schema = snap.schema();
    Ok(pb::DescribeArrayResponse {
        retention: retention_to_pb(&retention),
        schema: Some(schema_to_pb(schema, omit_labels)),
        head_version: snap.version(),
        marks: snap
            .meta()
            .marks
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        commits,
        layouts: schema
            .layouts
            .iter()
            .zip(&snap.meta().stats)
            .map(|(l, s)| pb::LayoutStats {
                name: l.name.clone(),
                chunks: s.chunks,
                bytes: s.bytes,
            })
            .collect(),
    })
}

/// ListArrays: every array's summary, by name.
pub fn list_arrays(store: &Store) -> Vec<pb::ArraySummary> {
    store
        .list_arrays()
        .iter()
        // An array dropped meanwhile is simply left out.
        .filter_map(|n| store.snapshot(n, AsOf::Latest).ok())
        .map(|s| summary(&s))
        .collect()
}

fn summary(snap: &Snapshot) -> pb::ArraySummary {
    let s = snap.schema();
    pb::ArraySummary {
        name: s.name.clone(),
        dimensions: s.dims.iter().map(|d| d.name.clone()).collect(),
        shape: s.shape(),
        attributes: s.attrs.iter().map(|a| a.name.clone()).collect(),
        head_version: snap.version(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_statement_recognised() {
        assert!(is_create_array("CREATE ARRAY w (x INT)"));
        assert!(is_create_array("  create array if not exists \"My_A\" (x)"));
        assert!(is_create_array(
            "-- the cube\n/* hourly */ CREATE ARRAY c (x INT)"
        ));
        assert!(!is_create_array("DROP ARRAY w"));
        assert!(!is_create_array("CREATE TABLE w"));
        assert!(!is_create_array("SELECT 1; CREATE ARRAY w (x INT)"));
        assert!(!is_create_array(""));
    }
}
