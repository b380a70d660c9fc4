//! Every operation a caller can ask for, and the role each needs. A new statement
//! kind or RPC does not compile until [`required_role`] gives it a role.

use std::fmt;

use arrayq_query::{ParsedStatement, QueryError, StatementKind};
use tonic::Status;
use tracing::{info, warn};

use super::{Caller, Role};
use crate::ingest_jobs::statement::IngestStatement;

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// A statement of the query language: the Query RPC and the Postgres door, and
    /// the RPCs that do the same as one (CreateArray, DropArray, ListArrays,
    /// DescribeArray, Explain).
    Statement(StatementKind),
    /// The Write RPC.
    Write,
    /// The IngestRows RPC.
    IngestRows,
    /// `COPY array FROM STDIN` on the door.
    CopyFrom,
    /// The Subscribe RPC and LISTEN on the door.
    Subscribe,
    /// `CREATE INGEST`: a server job that writes an array.
    CreateIngest,
    /// `ALTER INGEST ... PAUSE | RESUME`.
    AlterIngest,
    /// `DROP INGEST`: stops a job (its array stays).
    DropIngest,
    ShowIngests,
}

/// The least role that may do `op`.
pub fn required_role(op: Operation) -> Role {
    use StatementKind as S;
    match op {
        Operation::Statement(kind) => match kind {
            S::Select | S::Explain | S::ShowArrays | S::Describe => Role::Read,
            S::CreateArray | S::CreateArrayAs | S::Insert | S::AddLayout => Role::Write,
            // Both delete history: a retention policy is a vacuum on a schedule.
            // A rollup changes the array's physical design for every reader, as SET does.
            S::DropArray | S::Vacuum | S::AlterRetention | S::AlterRollup => Role::Admin,
        },
        Operation::Subscribe | Operation::ShowIngests => Role::Read,
        Operation::Write
        | Operation::IngestRows
        | Operation::CopyFrom
        | Operation::CreateIngest
        | Operation::AlterIngest
        | Operation::DropIngest => Role::Write,
    }
}

impl Operation {
    /// The name in log lines.
    pub fn name(self) -> &'static str {
        use StatementKind as S;
        match self {
            Operation::Statement(kind) => match kind {
                S::Select => "SELECT",
                S::Explain => "EXPLAIN",
                S::ShowArrays => "SHOW ARRAYS",
                S::Describe => "DESCRIBE",
                S::CreateArray => "CREATE ARRAY",
                S::CreateArrayAs => "CREATE ARRAY AS",
                S::Insert => "INSERT",
                S::AddLayout => "ALTER ARRAY ADD LAYOUT",
                S::DropArray => "DROP ARRAY",
                S::Vacuum => "VACUUM",
                S::AlterRetention => "ALTER ARRAY SET (retain)",
                S::AlterRollup => "ALTER ARRAY ADD/DROP ROLLUP",
            },
            Operation::Write => "Write",
            Operation::IngestRows => "IngestRows",
            Operation::CopyFrom => "COPY FROM",
            Operation::Subscribe => "Subscribe",
            Operation::CreateIngest => "CREATE INGEST",
            Operation::AlterIngest => "ALTER INGEST",
            Operation::DropIngest => "DROP INGEST",
            Operation::ShowIngests => "SHOW INGESTS",
        }
    }

    /// What the caller tried, as the verb of "may not ...".
    fn verb(self) -> &'static str {
        use StatementKind as S;
        match self {
            Operation::Statement(kind) => match kind {
                S::Select => "query",
                S::Explain => "explain a query of",
                S::ShowArrays => "list",
                S::Describe => "describe",
                S::CreateArray | S::CreateArrayAs => "create",
                S::Insert => "insert into",
                S::AddLayout => "add a layout to",
                S::DropArray => "drop",
                S::Vacuum => "vacuum",
                S::AlterRetention => "set the retention of",
                S::AlterRollup => "add or drop a rollup of",
            },
            Operation::Write => "write",
            Operation::IngestRows => "ingest rows into",
            Operation::CopyFrom => "copy into",
            Operation::Subscribe => "subscribe to",
            Operation::CreateIngest => "create",
            Operation::AlterIngest => "alter",
            Operation::DropIngest => "drop",
            Operation::ShowIngests => "list",
        }
    }
}

/// One request: the operation and what it concerns.
#[derive(Clone, Copy, Debug)]
pub struct Access<'a> {
    pub op: Operation,
    pub array: Option<&'a str>,
    /// The ingest job, for ingest statements.
    pub ingest: Option<&'a str>,
}

impl<'a> Access<'a> {
    pub fn new(op: Operation, array: Option<&'a str>) -> Access<'a> {
        Access {
            op,
            array,
            ingest: None,
        }
    }
}

impl fmt::Display for Access<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = self.op.verb();
        match (self.ingest, self.array, self.op) {
            (Some(job), _, _) => write!(f, "{verb} ingest '{job}'"),
            (None, Some(a), _) => write!(f, "{verb} array '{a}'"),
            (None, None, Operation::ShowIngests) => write!(f, "{verb} ingest jobs"),
            (None, None, _) => write!(f, "{verb} arrays"),
        }
    }
}

/// The access an ingest statement asks for.
pub fn ingest_access(stmt: &IngestStatement) -> Access<'_> {
    let (op, array, ingest) = match stmt {
        IngestStatement::Create(spec) => (
            Operation::CreateIngest,
            Some(spec.array.as_str()),
            Some(spec.name.as_str()),
        ),
        IngestStatement::Show => (Operation::ShowIngests, None, None),
        IngestStatement::Pause(name) | IngestStatement::Resume(name) => {
            (Operation::AlterIngest, None, Some(name.as_str()))
        }
        IngestStatement::Drop(name) => (Operation::DropIngest, None, Some(name.as_str())),
    };
    Access { op, array, ingest }
}

/// A request the caller's role does not allow; the message names the token, its
/// role, the operation and the role it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied(pub String);

impl From<Denied> for Status {
    fn from(d: Denied) -> Status {
        Status::permission_denied(d.0)
    }
}

/// Whether `caller` may do `access`. Every allowed write or DDL gets one log line
/// (token, operation, array), every refusal a warning.
pub fn authorize(caller: &Caller, access: &Access) -> Result<(), Denied> {
    let needed = required_role(access.op);
    let (token, role, operation) = (&*caller.name, caller.role.as_str(), access.op.name());
    let array = access.array.unwrap_or("-");
    if caller.role < needed {
        warn!(target: "arrayq::access", token, role, operation, array, "denied");
        return Err(Denied(format!(
            "token '{token}' (role {role}) may not {access}: that needs role {needed}"
        )));
    }
    if needed > Role::Read {
        let ingest = access.ingest.unwrap_or("-");
        info!(target: "arrayq::access", token, role, operation, array, ingest, "granted");
    }
    Ok(())
}

/// Why a statement does not run: it does not parse, or the caller may not.
#[derive(Debug)]
pub enum Refused {
    Query(QueryError),
    Denied(Denied),
}

/// Parses a statement of the query language and checks that `caller` may run it.
pub fn parse_authorized(caller: &Caller, sql: &str) -> Result<ParsedStatement, Refused> {
    let parsed = ParsedStatement::parse(sql).map_err(Refused::Query)?;
    let access = Access::new(Operation::Statement(parsed.kind()), parsed.array());
    authorize(caller, &access).map_err(Refused::Denied)?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn caller(role: Role) -> Caller {
        Caller {
            name: Arc::from("analyst"),
            role,
        }
    }

    #[test]
    fn each_role_against_each_class() {
        let select = Access::new(Operation::Statement(StatementKind::Select), Some("era5"));
        let write = Access::new(Operation::Write, Some("era5"));
        let drop = Access::new(Operation::Statement(StatementKind::DropArray), Some("era5"));
        let table = [
            (Role::Read, [true, false, false]),
            (Role::Write, [true, true, false]),
            (Role::Admin, [true, true, true]),
        ];
        for (role, allowed) in table {
            for (access, ok) in [select, write, drop].iter().zip(allowed) {
                assert_eq!(
                    authorize(&caller(role), access).is_ok(),
                    ok,
                    "{role} {access}"
                );
            }
        }
    }

    #[test]
    fn denial_names_token_role_operation_and_array() {
        let e = authorize(
            &caller(Role::Read),
            &Access::new(Operation::Write, Some("era5")),
        )
        .unwrap_err();
        assert_eq!(
            e.0,
            "token 'analyst' (role read) may not write array 'era5': that needs role write"
        );
        let s = Status::from(e);
        assert_eq!(s.code(), tonic::Code::PermissionDenied);
        let e = authorize(
            &caller(Role::Write),
            &Access::new(Operation::Statement(StatementKind::DropArray), Some("a")),
        )
        .unwrap_err();
        assert_eq!(
            e.0,
            "token 'analyst' (role write) may not drop array 'a': that needs role admin"
        );
    }
}
