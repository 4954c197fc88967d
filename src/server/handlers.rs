//! pgwire handlers: fstore's front door in front of datafusion-postgres.
//!
//! Every statement is split off and classified by `sql::parse_statement`:
//! fstore's own statements and persistent DDL run here against the
//! [`Database`]; everything else goes to datafusion-postgres's
//! `DfSessionService` unchanged (its pg_catalog, `SET`/`SHOW`, transactions,
//! cursors and type encoding). Both protocols share the statement type of
//! `DfSessionService`: a statement we execute ourselves is stored as
//! `(sql, None)` and re-parsed at Execute.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser;
use datafusion_postgres::{DfSessionService, Parser as DfParser};
use futures::{Sink, SinkExt};
use pgwire::api::auth::StartupHandler;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use pgwire::api::copy::CopyHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{CopyResponse, Tag};
use pgwire::api::results::{FieldInfo, Response};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionManager, PgWireServerHandlers, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::response::NoticeResponse;

use crate::ingest::copy::{CopyFormat, CopyIn};
use crate::metrics::QueryKind;
use pgwire::api::portal::PortalExecutionState;
use pgwire::api::results::QueryResponse;
use pgwire::api::store::Entry;
use pgwire::api::{DEFAULT_NAME, PgWireConnectionState};
use pgwire::messages::data::{DataRow, RowDescription};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Describe, Execute, TARGET_TYPE_BYTE_PORTAL,
};
use pgwire::messages::simplequery::Query;
use pgwire::types::format::FormatOptions;

use super::fast_path;

use super::errors::{
    FstoreErrorHandler, QueryContext, api_error_info, datafusion_error_info, to_pgwire,
};
use super::shutdown::InFlight;
use super::transactions;
use crate::database::{Database, StatementClass, classify};
use crate::error::Error;
use crate::sql::{FsStatement, Parsed, StatementText, parse_statement, split_statements};
use pgwire::messages::response::TransactionStatus;

/// `DfSessionService`'s prepared-statement type, which we share so that its
/// cursor and transaction hooks find the portal store they expect.
pub type PreparedStatement = (String, Option<(sqlparser::ast::Statement, LogicalPlan)>);

pub struct FstoreHandlers {
    service: Arc<FstoreService>,
    startup: Arc<FstoreStartup>,
    cancel: Arc<DefaultCancelHandler>,
}

impl FstoreHandlers {
    pub fn new(database: Arc<Database>, in_flight: InFlight) -> Self {
        let inner = Arc::new(DfSessionService::new(database.session_context()));
        let parser = Arc::new(FstoreParser {
            database: database.clone(),
            inner: ExtendedQueryHandler::query_parser(inner.as_ref()),
        });
        let connections = Arc::new(ConnectionManager::new());
        FstoreHandlers {
            service: Arc::new(FstoreService {
                database,
                inner,
                parser,
                in_flight,
            }),
            startup: Arc::new(FstoreStartup {
                connections: connections.clone(),
            }),
            cancel: Arc::new(DefaultCancelHandler::new(connections)),
        }
    }
}

impl PgWireServerHandlers for FstoreHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.service.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.service.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn error_handler(&self) -> Arc<impl pgwire::api::ErrorHandler> {
        Arc::new(FstoreErrorHandler)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }

    fn copy_handler(&self) -> Arc<impl CopyHandler> {
        Arc::new(FstoreCopyHandler)
    }
}

/// Any user name is accepted until authentication is configured (SPEC §7).
pub struct FstoreStartup {
    connections: Arc<ConnectionManager>,
}

#[async_trait]
impl NoopStartupHandler for FstoreStartup {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.connections.clone())
    }
}

/// Where one statement goes.
enum Route {
    Transaction(transactions::Control),
    Fstore(Box<FsStatement>),
    /// An fstore statement that reads the catalog, as plain SQL.
    Rewritten(String),
    Managed(Box<DfStatement>),
    /// Carries DataFusion's syntax error, if its parser rejected the text.
    Delegated(Option<Error>),
}

fn route(database: &Database, statement: &StatementText<'_>) -> Result<Route, Error> {
    if let Some(control) = transactions::recognize(&statement.tokens) {
        return Ok(Route::Transaction(control));
    }
    if let Some(show) = crate::database::rewrite_show(&statement.tokens)? {
        return Ok(Route::Rewritten(show));
    }
    let mut rewritten = crate::sql::rewrite_extensions(statement.text);
    let text = rewritten.as_deref().unwrap_or(statement.text);
    if let Some(expanded) = database.expand_feature_view_calls(text)? {
        rewritten = Some(expanded);
    }
    if let Some(protected) = crate::sql::projection_subqueries::protect_projection_subqueries(
        rewritten.as_deref().unwrap_or(statement.text),
    ) {
        rewritten = Some(protected);
    }
    if let Some(rewritten) = rewritten {
        let parts = split_statements(&rewritten)?;
        if let [one] = parts.as_slice() {
            return match route_parsed(database, one)? {
                Route::Delegated(_) => Ok(Route::Rewritten(rewritten.clone())),
                other => Ok(other),
            };
        }
    }
    route_parsed(database, statement)
}

fn route_parsed(database: &Database, statement: &StatementText<'_>) -> Result<Route, Error> {
    match parse_statement(statement)? {
        Parsed::Fstore(s) => match database.rewrite_read_statement(&s)? {
            Some(sql) => Ok(Route::Rewritten(sql)),
            None => Ok(Route::Fstore(s)),
        },
        Parsed::Passthrough(syntax) => Ok(Route::Delegated(syntax)),
        Parsed::Sql(s) => match classify(&s, database.config().allow_file_access) {
            StatementClass::Managed => Ok(Route::Managed(s)),
            StatementClass::Delegated => Ok(Route::Delegated(None)),
            StatementClass::Forbidden { message, hint } => {
                Err(Error::InsufficientPrivilege { message, hint })
            }
        },
    }
}

pub struct FstoreService {
    database: Arc<Database>,
    inner: Arc<DfSessionService>,
    parser: Arc<FstoreParser>,
    in_flight: InFlight,
}

impl FstoreService {
    async fn execute_routed<C>(&self, client: &mut C, route: Route) -> Result<Response, Error>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match route {
            Route::Transaction(control) => {
                let applied = transactions::apply(client, &control)?;
                if let Some(warning) = applied.warning {
                    send_message(client, Severity::Warning, warning).await?;
                }
                Ok(applied.response)
            }
            Route::Fstore(statement) if matches!(*statement, FsStatement::CopyFromStdin(_)) => {
                self.start_copy_in(client, &statement).await
            }
            Route::Fstore(statement) if matches!(*statement, FsStatement::CopyToStdout(_)) => {
                let FsStatement::CopyToStdout(copy) = *statement else {
                    return Err(Error::Internal("not a COPY TO statement".into()));
                };
                super::copy_out::copy_to_stdout(&self.database, &copy).await
            }
            Route::Fstore(statement) => {
                let (progress, mut messages) = tokio::sync::mpsc::unbounded_channel();
                let running = self
                    .database
                    .execute_fstore_statement(&statement, Some(&progress));
                tokio::pin!(running);
                let outcome = loop {
                    tokio::select! {
                        outcome = &mut running => break outcome?,
                        Some(message) = messages.recv() => send_notice(client, message).await?,
                    }
                };
                while let Ok(message) = messages.try_recv() {
                    send_notice(client, message).await?;
                }
                for notice in outcome.notices {
                    send_notice(client, notice).await?;
                }
                Ok(Response::Execution(outcome.tag))
            }
            Route::Managed(statement) => {
                let outcome = self.database.execute_ddl(&statement).await?;
                for notice in outcome.notices {
                    send_notice(client, notice).await?;
                }
                Ok(Response::Execution(outcome.tag))
            }
            Route::Delegated(_) | Route::Rewritten(_) => Err(Error::Internal(
                "a delegated statement reached fstore's executor".into(),
            )),
        }
    }
}

impl FstoreService {
    /// Recognises a lookup; a statement refused while recognising (a key
    /// that does not parse) counts as a failed lookup.
    fn recognize_counted(
        &self,
        sql: &str,
        declared: &[Option<Type>],
    ) -> PgWireResult<Option<fast_path::Lookup>> {
        let started = std::time::Instant::now();
        fast_path::recognize_on(&self.database, sql, declared).map_err(|e| {
            self.database
                .metrics()
                .record(QueryKind::OnlineLookup, started.elapsed(), 0, true);
            to_pgwire(e, None)
        })
    }

    /// Answers a recognised lookup from the online store.
    fn run_lookup<C: ClientInfo>(
        &self,
        client: &C,
        lookup: &Arc<fast_path::Lookup>,
        bound: &fast_path::Bound<'_>,
        result_format: &Format,
    ) -> Result<Response, Error> {
        let (fields, rows) = self.run_lookup_rows(client, lookup, bound, result_format)?;
        Ok(Response::Query(QueryResponse::new(
            fields,
            futures::stream::iter(rows.into_iter().map(Ok)),
        )))
    }

    /// A lookup's RowDescription fields and DataRows, counted in the
    /// metrics.
    fn run_lookup_rows<C: ClientInfo>(
        &self,
        client: &C,
        lookup: &Arc<fast_path::Lookup>,
        bound: &fast_path::Bound<'_>,
        result_format: &Format,
    ) -> Result<(Arc<Vec<FieldInfo>>, Vec<DataRow>), Error> {
        let started = std::time::Instant::now();
        let outcome =
            fast_path::current(&self.database, lookup, bound.declared).and_then(|lookup| {
                let options = FormatOptions::from_client_metadata(client.metadata());
                let kind = if lookup.is_vector() {
                    QueryKind::OnlineVector
                } else {
                    QueryKind::OnlineLookup
                };
                Ok((kind, lookup.execute(bound, result_format, &options)?))
            });
        let (kind, rows) = match &outcome {
            Ok((kind, (_, rows))) => (*kind, rows.len() as u64),
            Err(_) if lookup.is_vector() => (QueryKind::OnlineVector, 0),
            Err(_) => (QueryKind::OnlineLookup, 0),
        };
        self.database
            .metrics()
            .record(kind, started.elapsed(), rows, outcome.is_err());
        let (_, fields_and_rows) = outcome?;
        Ok(fields_and_rows)
    }

    async fn start_copy_in<C>(
        &self,
        client: &mut C,
        statement: &FsStatement,
    ) -> Result<Response, Error>
    where
        C: ClientInfo,
    {
        use datafusion::sql::sqlparser::ast::{CopySource, Statement};
        let FsStatement::CopyFromStdin(copy) = statement else {
            return Err(Error::Internal("not a COPY statement".into()));
        };
        let Statement::Copy {
            source:
                CopySource::Table {
                    table_name,
                    columns,
                },
            options,
            legacy_options,
            ..
        } = copy.as_ref()
        else {
            return Err(Error::Internal("not a COPY FROM table statement".into()));
        };
        let format = CopyFormat::from_options(options, legacy_options)?;
        let wire_format = if format.binary { 1 } else { 0 };
        let name = crate::database::QualifiedName::from_object_name(table_name)?;
        let (target, indices) = self.database.copy_target(&name, columns).await?;
        let column_count = indices.len();
        let copy = crate::ingest::copy::start(target, indices, format);
        let slot = copy_slot(client);
        if let Some(previous) = slot.0.lock().await.replace(copy) {
            previous.abort().await;
        }
        Ok(Response::CopyIn(CopyResponse::new(
            wire_format,
            column_count,
            futures::stream::empty(),
        )))
    }
}

/// The COPY in progress on a connection, between CopyInResponse and
/// CopyDone/CopyFail.
#[derive(Default)]
struct CopySlot(tokio::sync::Mutex<Option<CopyIn>>);

fn copy_slot<C: ClientInfo + ?Sized>(client: &C) -> Arc<CopySlot> {
    client
        .session_extensions()
        .get_or_insert_with(CopySlot::default)
}

pub struct FstoreCopyHandler;

#[async_trait]
impl CopyHandler for FstoreCopyHandler {
    async fn on_copy_data<C>(&self, client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let slot = copy_slot(client);
        if let Some(copy) = slot.0.lock().await.as_ref() {
            copy.data(copy_data.data).await;
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let slot = copy_slot(client);
        let Some(copy) = slot.0.lock().await.take() else {
            return Err(to_pgwire(
                Error::Internal("CopyDone without a COPY in progress".into()),
                None,
            ));
        };
        let rows = copy.finish().await.map_err(|e| to_pgwire(e, None))?;
        let tag = Tag::new("COPY").with_rows(rows as usize);
        client
            .send(PgWireBackendMessage::CommandComplete(tag.into()))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let slot = copy_slot(client);
        if let Some(copy) = slot.0.lock().await.take() {
            copy.abort().await;
        }
        let mut info = pgwire::error::ErrorInfo::new(
            "ERROR".into(),
            super::errors::QUERY_CANCELED.into(),
            format!("COPY from stdin failed: {}", fail.message),
        );
        info.severity_nonlocalized = Some("ERROR".into());
        PgWireError::UserError(Box::new(info))
    }
}

async fn send_notice<C>(client: &mut C, message: String) -> Result<(), Error>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    send_message(client, Severity::Notice, message).await
}

#[derive(Clone, Copy)]
enum Severity {
    Notice,
    /// 01000
    Warning,
}

async fn send_message<C>(client: &mut C, severity: Severity, message: String) -> Result<(), Error>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let (severity, code) = match severity {
        Severity::Notice => ("NOTICE", "00000"),
        Severity::Warning => ("WARNING", "01000"),
    };
    let notice = NoticeResponse::new(vec![
        (b'S', severity.into()),
        (b'V', severity.into()),
        (b'C', code.into()),
        (b'M', message),
    ]);
    client
        .send(PgWireBackendMessage::NoticeResponse(notice))
        .await
        .map_err(|e| Error::Internal(format!("could not send a notice: {}", PgWireError::from(e))))
}

/// Re-maps an error that came back from datafusion-postgres with the
/// statement's position in the whole query string.
fn in_context(error: PgWireError, context: &QueryContext<'_>) -> PgWireError {
    use datafusion::error::DataFusionError;
    match error {
        PgWireError::ApiError(inner) => {
            let info = if let Some(df) = inner.downcast_ref::<DataFusionError>() {
                datafusion_error_info(df, Some(context))
            } else if let Some(parser) = inner.downcast_ref::<sqlparser::parser::ParserError>() {
                let wrapped = DataFusionError::SQL(Box::new(parser.clone()), None);
                datafusion_error_info(&wrapped, Some(context))
            } else {
                api_error_info(inner.as_ref())
            };
            PgWireError::UserError(Box::new(info))
        }
        other => other,
    }
}

/// When the compatibility parser rejects a statement without saying where,
/// report DataFusion's parser error, which has a position.
fn prefer_positioned(error: PgWireError, syntax: Option<Error>) -> PgWireError {
    match (&error, syntax) {
        (PgWireError::UserError(info), Some(syntax))
            if info.code == super::errors::SYNTAX_ERROR && info.position.is_none() =>
        {
            to_pgwire(syntax, None)
        }
        _ => error,
    }
}

#[async_trait]
impl SimpleQueryHandler for FstoreService {
    /// pgwire's, after restoring a failed block that a leading
    /// `ROLLBACK TO SAVEPOINT` will recover (see `transactions`).
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        transactions::prepare_rollback_to_sql(client, &query.query);
        self._on_query(client, query).await
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let _busy = self.in_flight.enter();
        if fast_path::may_be_lookup(query)
            && let Some(lookup) = self.recognize_counted(query, &[])?
        {
            transactions::check_not_failed(client).map_err(|e| to_pgwire(e, None))?;
            let response = self
                .run_lookup(
                    client,
                    &Arc::new(lookup),
                    &fast_path::Bound::NONE,
                    &Format::UnifiedText,
                )
                .map_err(|e| to_pgwire(e, None))?;
            return Ok(vec![response]);
        }
        let statements = split_statements(query).map_err(|e| to_pgwire(e, None))?;
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        for statement in &statements {
            let context = QueryContext {
                query: statement.text,
                char_offset: statement.char_offset,
            };
            let started = std::time::Instant::now();
            let mut kind = QueryKind::Statement;
            let outcome = async {
                let routed =
                    route(&self.database, statement).map_err(|e| to_pgwire(e, Some(&context)))?;
                if !matches!(routed, Route::Transaction(_)) {
                    transactions::check_not_failed(client).map_err(|e| to_pgwire(e, None))?;
                }
                match routed {
                    Route::Delegated(syntax) => {
                        kind = QueryKind::Query;
                        SimpleQueryHandler::do_query(self.inner.as_ref(), client, statement.text)
                            .await
                            .map_err(|e| prefer_positioned(in_context(e, &context), syntax))
                    }
                    Route::Rewritten(sql) => {
                        kind = QueryKind::Query;
                        SimpleQueryHandler::do_query(self.inner.as_ref(), client, &sql)
                            .await
                            .map_err(|e| in_context(e, &context))
                    }
                    other => Ok(vec![
                        self.execute_routed(client, other)
                            .await
                            .map_err(|e| to_pgwire(e, Some(&context)))?,
                    ]),
                }
            }
            .await;
            self.database
                .metrics()
                .record(kind, started.elapsed(), 0, outcome.is_err());
            if outcome.is_ok() && transactions::writes_data(&statement.tokens) {
                transactions::note_write(client);
            }
            responses.extend(outcome?);
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for FstoreService {
    type Statement = PreparedStatement;
    type QueryParser = FstoreParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    /// pgwire's Bind, except that BindComplete is buffered like the rest of
    /// the response until Sync or Flush, as Postgres does: a flush per
    /// message costs a write and a client wake-up each, which at lookup
    /// rates is most of the time spent.
    async fn on_bind<C>(&self, client: &mut C, message: Bind) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement_name = message.statement_name.as_deref().unwrap_or(DEFAULT_NAME);
        let portal_name = message.portal_name.as_deref().unwrap_or(DEFAULT_NAME);
        match client.portal_store().get_statement(statement_name) {
            Some(Entry::Value(statement)) => {
                let portal = Portal::try_new(&message, statement)?;
                client.portal_store().put_portal(Arc::new(portal));
            }
            Some(Entry::Empty) => {
                if !message.parameters.is_empty() {
                    return Err(PgWireError::UserError(Box::new(
                        pgwire::error::ErrorInfo::new(
                            "ERROR".to_owned(),
                            "08P01".to_owned(),
                            format!(
                                "bind message supplies {} parameters, but prepared statement \"{statement_name}\" requires 0",
                                message.parameters.len()
                            ),
                        ),
                    )));
                }
                client.portal_store().put_empty_portal(portal_name);
            }
            None => return Err(PgWireError::StatementNotFound(statement_name.to_owned())),
        }
        client
            .feed(PgWireBackendMessage::BindComplete(BindComplete::new()))
            .await?;
        Ok(())
    }

    /// Describing a lookup's portal buffers its RowDescription (see
    /// `on_bind`); everything else is pgwire's.
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if message.target_type == TARGET_TYPE_BYTE_PORTAL
            && let Some(Entry::Value(portal)) = client
                .portal_store()
                .get_portal(message.name.as_deref().unwrap_or(DEFAULT_NAME))
            && let (_, Some((_, plan))) = &portal.statement.statement
            && let Some(lookup) = fast_path::as_lookup(plan)
        {
            let fields = lookup.fields(&portal.result_column_format)?;
            client
                .feed(PgWireBackendMessage::RowDescription(RowDescription::new(
                    fields.iter().map(Into::into).collect(),
                )))
                .await?;
            return Ok(());
        }
        self._on_describe(client, message).await
    }

    /// Executing a lookup's portal writes its DataRows and CommandComplete
    /// into the connection's buffer directly, without a row stream; other
    /// portals, and lookups fetched a few rows at a time, go through
    /// pgwire's portal machinery.
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let portal_name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        if client.transaction_status() == TransactionStatus::Error
            && let Some(Entry::Value(portal)) = client.portal_store().get_portal(portal_name)
        {
            transactions::prepare_rollback_to_sql(client, &portal.statement.statement.0);
        }
        if message.max_rows == 0
            && matches!(client.state(), PgWireConnectionState::ReadyForQuery)
            && let Some(Entry::Value(portal)) = client.portal_store().get_portal(portal_name)
            && let (_, Some((_, plan))) = &portal.statement.statement
            && let Some(lookup) = fast_path::as_lookup(plan)
        {
            let _busy = self.in_flight.enter();
            let state = portal.state();
            let mut state = state.lock().await;
            // Executing a finished portal again returns no rows, as in
            // Postgres.
            let rows = if matches!(*state, PortalExecutionState::Initial) {
                let bound = fast_path::Bound::of(portal.as_ref());
                let (_, rows) = self
                    .run_lookup_rows(client, lookup, &bound, &portal.result_column_format)
                    .map_err(|e| to_pgwire(e, None))?;
                *state = PortalExecutionState::Finished;
                rows
            } else {
                Vec::new()
            };
            let count = rows.len();
            for row in rows {
                client.feed(PgWireBackendMessage::DataRow(row)).await?;
            }
            let tag = Tag::new("SELECT").with_rows(count);
            client
                .feed(PgWireBackendMessage::CommandComplete(tag.into()))
                .await?;
            return Ok(());
        }
        self._on_execute(client, message).await
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let _busy = self.in_flight.enter();
        let (sql, planned) = &portal.statement.statement;
        if client.transaction_status() == TransactionStatus::Error && !transactions::is_control(sql)
        {
            return Err(to_pgwire(Error::InFailedTransaction, None));
        }
        if let Some((_, plan)) = planned
            && let Some(lookup) = fast_path::as_lookup(plan)
        {
            let bound = fast_path::Bound::of(portal);
            return self
                .run_lookup(client, lookup, &bound, &portal.result_column_format)
                .map_err(|e| to_pgwire(e, None));
        }
        if planned.is_some() || sql.trim().is_empty() {
            let started = std::time::Instant::now();
            let outcome =
                ExtendedQueryHandler::do_query(self.inner.as_ref(), client, portal, max_rows).await;
            self.database.metrics().record(
                QueryKind::Query,
                started.elapsed(),
                0,
                outcome.is_err(),
            );
            if outcome.is_ok() {
                transactions::note_write_of(client, sql);
            }
            return outcome;
        }
        let statements = split_statements(sql).map_err(|e| to_pgwire(e, None))?;
        let [statement] = statements.as_slice() else {
            return Err(to_pgwire(
                Error::Internal("a prepared fstore statement is not one statement".into()),
                None,
            ));
        };
        let context = QueryContext {
            query: statement.text,
            char_offset: statement.char_offset,
        };
        let started = std::time::Instant::now();
        let outcome = match route(&self.database, statement) {
            Ok(routed) => self.execute_routed(client, routed).await,
            Err(e) => Err(e),
        };
        if outcome.is_ok() && transactions::writes_data(&statement.tokens) {
            transactions::note_write(client);
        }
        self.database.metrics().record(
            QueryKind::Statement,
            started.elapsed(),
            0,
            outcome.is_err(),
        );
        outcome.map_err(|e| to_pgwire(e, Some(&context)))
    }
}

pub struct FstoreParser {
    database: Arc<Database>,
    inner: Arc<DfParser>,
}

#[async_trait]
impl QueryParser for FstoreParser {
    type Statement = PreparedStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        if let Some(lookup) =
            fast_path::recognize_on(&self.database, sql, types).map_err(|e| to_pgwire(e, None))?
        {
            let statement = lookup.statement.clone();
            let plan = fast_path::LookupNode::plan(lookup).map_err(|e| to_pgwire(e, None))?;
            return Ok(Some((sql.to_string(), Some((statement, plan)))));
        }
        let statements = split_statements(sql).map_err(|e| to_pgwire(e, None))?;
        match statements.as_slice() {
            [] => self.inner.parse_sql(client, sql, types).await,
            [statement] => {
                let context = QueryContext {
                    query: statement.text,
                    char_offset: statement.char_offset,
                };
                match route(&self.database, statement).map_err(|e| to_pgwire(e, Some(&context)))? {
                    Route::Delegated(syntax) => self
                        .inner
                        .parse_sql(client, sql, types)
                        .await
                        .map_err(|e| prefer_positioned(in_context(e, &context), syntax)),
                    Route::Rewritten(rewritten) => self
                        .inner
                        .parse_sql(client, &rewritten, types)
                        .await
                        .map_err(|e| in_context(e, &context)),
                    Route::Fstore(_) | Route::Managed(_) | Route::Transaction(_) => {
                        Ok(Some((sql.to_string(), None)))
                    }
                }
            }
            [_, second, ..] => Err(to_pgwire(
                Error::syntax(
                    "cannot insert multiple commands into a prepared statement",
                    Some(second.char_offset + 1),
                ),
                None,
            )),
        }
    }

    fn get_parameter_types(&self, statement: &Self::Statement) -> PgWireResult<Vec<Type>> {
        if let (_, Some((_, plan))) = statement
            && let Some(lookup) = fast_path::as_lookup(plan)
        {
            return Ok(lookup.parameter_types());
        }
        self.inner.get_parameter_types(statement)
    }

    fn get_result_schema(
        &self,
        statement: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        if let (_, Some((_, plan))) = statement
            && let Some(lookup) = fast_path::as_lookup(plan)
        {
            return lookup
                .fields(column_format.unwrap_or(&Format::UnifiedText))
                .map(|fields| fields.as_ref().clone());
        }
        self.inner.get_result_schema(statement, column_format)
    }
}
