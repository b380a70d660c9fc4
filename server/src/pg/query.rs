//! The simple and extended query protocols: each statement is classified
//! (statement.rs), then answered by the door itself, by LISTEN/COPY, or by the
//! engine (exec.rs). Extended-protocol Describe needs the columns before Execute:
//! they are worked out at Parse (queries are planned, not run).

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DescribePortalResponse, DescribeResponse, DescribeStatementResponse, FieldInfo, Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use crate::pg::auth::settings;
use crate::pg::errors::{error, UNDEFINED_OBJECT};
use crate::pg::exec::respond;
use crate::pg::params;
use crate::pg::rows::{fields, Col, Table};
use crate::pg::statement::{classify, split, Kind};
use crate::pg::types::Values;
use crate::pg::Handler;

/// A parsed statement of the extended protocol.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub sql: String,
    pub kind: Kind,
    /// Its columns (None: it answers no rows, or it has parameters and they are
    /// worked out per portal).
    pub schema: Option<Vec<(String, Type)>>,
    /// Number of `$n` parameters.
    pub params: usize,
}

impl Handler {
    /// Answers one statement.
    async fn answer(&self, sql: &str, kind: &Kind, format: &Format) -> PgWireResult<Response> {
        let table = match kind {
            Kind::Empty => return Ok(Response::EmptyQuery),
            Kind::Begin => return Ok(Response::TransactionStart(Tag::new("BEGIN"))),
            Kind::End(tag) => return Ok(Response::TransactionEnd(Tag::new(tag))),
            Kind::Session(tag) => return Ok(Response::Execution(Tag::new(tag))),
            Kind::Listen(channel) => {
                self.listen(channel).await?;
                return Ok(Response::Execution(Tag::new("LISTEN")));
            }
            Kind::Unlisten(channel) => {
                self.unlisten(channel.as_deref());
                return Ok(Response::Execution(Tag::new("UNLISTEN")));
            }
            Kind::Copy => return self.start_copy(sql).await,
            Kind::ShowSetting(name) => {
                let value = settings()
                    .into_iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_string())
                    .ok_or_else(|| {
                        error(
                            UNDEFINED_OBJECT,
                            format!("unrecognized configuration parameter \"{name}\""),
                        )
                    })?;
                Table::text(name, vec![value], "SHOW")
            }
            Kind::Version => Table::text(
                "version",
                vec![format!(
                    "arrayq {} (Postgres wire-protocol door)",
                    env!("CARGO_PKG_VERSION")
                )],
                "SELECT",
            ),
            Kind::Constant(v) => Table {
                cols: vec![Col {
                    name: "?column?".into(),
                    ty: Type::INT4,
                    values: Values::I32(vec![*v]),
                    stride: 1,
                }],
                rows: 1,
                tag: "SELECT".into(),
            },
            Kind::Ingest => self.run_ingest(sql).await?,
            Kind::Ddl(_) | Kind::Explain | Kind::Listing | Kind::Query => {
                self.run_engine(sql, kind).await?
            }
        };
        Ok(respond(self, table, format))
    }
}

impl Handler {
    /// The portal's statement with its parameters written in.
    fn bind(&self, portal: &Portal<Prepared>) -> PgWireResult<String> {
        params::bind(
            &portal.statement.statement.sql,
            &portal.statement.parameter_types,
            &portal.parameter_format,
            &portal.parameters,
        )
    }
}

#[async_trait]
impl SimpleQueryHandler for Handler {
    async fn do_query<C>(&self, _client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut out = Vec::new();
        for sql in split(query) {
            match self.answer(sql, &classify(sql), &Format::UnifiedText).await {
                Ok(r) => {
                    let copy = matches!(r, Response::CopyIn(_));
                    out.push(r);
                    // The copy sub-protocol takes over the rest of the exchange.
                    if copy {
                        break;
                    }
                }
                // Like Postgres: the statements before the failing one stand, the
                // rest of the string is not run.
                Err(PgWireError::UserError(e)) => {
                    out.push(Response::Error(e));
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// The columns Describe announces for `schema` in `format` (None: the statement
/// answers no rows).
fn described(schema: Option<&[(String, Type)]>, format: &Format) -> Option<Vec<FieldInfo>> {
    schema.map(|s| fields(s, format).as_ref().clone())
}

/// Parse: classifies and works out the columns.
pub struct Parser {
    pub handler: Handler,
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let kind = classify(sql);
        if kind == Kind::Empty {
            return Ok(None);
        }
        let params = params::count(sql);
        let _ = types;
        // With parameters the columns are known once they are bound (the portal).
        let schema = match params {
            0 => self.handler.describe(sql, &kind).await?,
            _ => None,
        };
        Ok(Some(Prepared {
            sql: sql.to_string(),
            kind,
            schema,
            params,
        }))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(vec![Type::TEXT; stmt.params])
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let format = column_format.cloned().unwrap_or_default();
        Ok(described(stmt.schema.as_deref(), &format).unwrap_or_default())
    }
}

#[async_trait]
impl ExtendedQueryHandler for Handler {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        Arc::new(Parser {
            handler: self.clone(),
        })
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<Prepared>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let p = &target.statement;
        // The client's parameter types where it gave them, else text.
        let types: Vec<Type> = (0..p.params)
            .map(|k| {
                target
                    .parameter_types
                    .get(k)
                    .cloned()
                    .flatten()
                    .unwrap_or(Type::TEXT)
            })
            .collect();
        Ok(match described(p.schema.as_deref(), &Format::UnifiedText) {
            Some(f) => DescribeStatementResponse::new(types, f),
            None if types.is_empty() => DescribeStatementResponse::no_data(),
            None => DescribeStatementResponse::new(types, vec![]),
        })
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Prepared>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let p = &portal.statement.statement;
        let bound;
        let schema = match p.params {
            0 => &p.schema,
            _ => {
                let sql = self.bind(portal)?;
                bound = self.describe(&sql, &p.kind).await?;
                &bound
            }
        };
        Ok(
            match described(schema.as_deref(), &portal.result_column_format) {
                Some(f) => DescribePortalResponse::new(f),
                None => DescribePortalResponse::no_data(),
            },
        )
    }

    async fn do_query<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let p = &portal.statement.statement;
        if p.params > 0 {
            let sql = self.bind(portal)?;
            return self
                .answer(&sql, &p.kind, &portal.result_column_format)
                .await;
        }
        let response = self
            .answer(&p.sql, &p.kind, &portal.result_column_format)
            .await?;
        // The rows must have the columns Describe announced (DDL fills its three).
        if let (Response::Query(q), Some(schema)) = (&response, &p.schema) {
            let described = q.row_schema();
            let got: Vec<&Type> = described.iter().map(|f| f.datatype()).collect();
            let want: Vec<&Type> = schema.iter().map(|(_, t)| t).collect();
            if got != want {
                return Err(error(
                    "0A000",
                    "the statement's columns changed since it was prepared; prepare it again",
                ));
            }
        }
        Ok(response)
    }
}
