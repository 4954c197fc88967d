//! The extended query protocol: Parse (with the fast path's recognition),
//! Bind, Describe and Execute, buffered until Sync as Postgres does.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::portal::Portal;
use pgwire::api::query::ExtendedQueryHandler;
use pgwire::api::results::Response;
use pgwire::api::results::Tag;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use crate::metrics::QueryKind;
use pgwire::api::portal::PortalExecutionState;
use pgwire::api::stmt::StoredStatement;
use pgwire::api::store::Entry;
use pgwire::api::{DEFAULT_NAME, PgWireConnectionState};
use pgwire::messages::data::RowDescription;
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Describe, Execute, Parse, ParseComplete, TARGET_TYPE_BYTE_PORTAL,
};

use super::bound_text;
use super::explain;
use super::output;
use super::parse::FstoreParser;
use super::parse::PreparedStatement;
use super::routing::route;
use super::service::FstoreService;
use super::session_reset;
use super::time_zone;
use super::timeout;
use crate::server::fast_path;
use crate::server::sessions::{self, SessionControl};

use crate::error::Error;
use crate::server::errors::{INVALID_PARAMETER_VALUE, QueryContext, protocol_violation, to_pgwire};
use crate::server::transactions;
use crate::sql::column_names::postgres_column_names;
use crate::sql::split_statements;
use pgwire::messages::response::TransactionStatus;

/// The most rows one Execute returns before PortalSuspended.
const MAX_ROWS_PER_EXECUTE: i32 = 1 << 16;

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
        check_bind_formats(&message)?;
        match client.portal_store().get_statement(statement_name) {
            Some(Entry::Value(statement)) => {
                if let (_, Some((_, plan))) = &statement.statement
                    && let Some(expected) = parameters_of(plan)
                    && expected != message.parameters.len()
                {
                    return Err(protocol_violation(format!(
                        "bind message supplies {} parameters, but prepared statement \"{statement_name}\" requires {expected}",
                        message.parameters.len(),
                    )));
                }
                let portal = Portal::try_new(&message, statement)?;
                client.portal_store().put_portal(Arc::new(portal));
            }
            Some(Entry::Empty) => {
                if !message.parameters.is_empty() {
                    return Err(protocol_violation(format!(
                        "bind message supplies {} parameters, but prepared statement \"{statement_name}\" requires 0",
                        message.parameters.len()
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

    /// pgwire's Parse, remembering the statement's name for `DEALLOCATE
    /// ALL` (see `session_reset`).
    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME).to_owned();
        match StoredStatement::parse(client, &message, self.query_parser()).await? {
            Some(statement) => client.portal_store().put_statement(Arc::new(statement)),
            None => client.portal_store().put_empty_statement(&name),
        }
        if name != DEFAULT_NAME
            && let Some(control) = client.session_extensions().get::<Arc<SessionControl>>()
        {
            control.remember_prepared(&name);
        }
        client
            .send(PgWireBackendMessage::ParseComplete(ParseComplete::new()))
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
        if message.max_rows <= 0
            && matches!(client.state(), PgWireConnectionState::ReadyForQuery)
            && let Some(Entry::Value(portal)) = client.portal_store().get_portal(portal_name)
            && let (_, Some((_, plan))) = &portal.statement.statement
            && let Some(lookup) = fast_path::as_lookup(plan)
        {
            // A failed block refuses lookups too, as every other statement.
            transactions::check_not_failed(client).map_err(|e| to_pgwire(e, None))?;
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
        // pgwire reserves room for `max_rows` rows up front: a client's
        // claim must not size an allocation. Fewer rows and PortalSuspended
        // is what a client asking for more than the cap then sees, and it
        // fetches the rest with the next Execute.
        let mut message = message;
        // As in PostgreSQL, zero or less means all rows.
        message.max_rows = message.max_rows.clamp(0, MAX_ROWS_PER_EXECUTE);
        // A suspended portal's rows run against this Execute's clock.
        if let Some(control) = client.session_extensions().get::<Arc<SessionControl>>() {
            control.set_execute_deadline(timeout::deadline(client));
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
        // DataFusion plans DEALLOCATE for its own PREPAREs: ours first.
        if session_reset::may_be(sql)
            && let [statement] = split_statements(sql)
                .map_err(|e| to_pgwire(e, None))?
                .as_slice()
            && let Some(reset) =
                session_reset::apply(client, &statement.tokens).map_err(|e| to_pgwire(e, None))?
        {
            return Ok(reset);
        }
        if planned.is_some() || sql.trim().is_empty() {
            let started = std::time::Instant::now();
            let deadline = timeout::deadline_per_execute(client);
            let cancel = sessions::start_statement(client);
            let zone = time_zone::chosen(client).map(|zone| zone.arrow);
            let answer =
                ExtendedQueryHandler::do_query(self.inner.as_ref(), client, portal, max_rows);
            let hidden_paths = explain::is_explain(sql)
                .then(|| explain::storage_prefix(&self.database.config().data_dir));
            let outcome = timeout::cancellable(answer, &cancel)
                .await
                .map(|response| match hidden_paths {
                    Some(prefix) => explain::hide_storage_paths(response, prefix),
                    None => response,
                })
                .map(|response| match planned {
                    Some((tree, _)) => match postgres_column_names(tree) {
                        Some(names) => output::with_postgres_names(response, &names),
                        None => response,
                    },
                    None => response,
                })
                .map(|response| output::with_postgres_text(response, zone.as_deref()))
                .map(|response| timeout::with_limits(response, deadline, &cancel));
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
        let sql = bound_text::with_bound_parameters(sql, portal).map_err(|e| to_pgwire(e, None))?;
        let statements = split_statements(&sql).map_err(|e| to_pgwire(e, None))?;
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

/// How many parameters a planned statement takes: its highest `$n` (as
/// PostgreSQL counts them), or a lookup's own count.
fn parameters_of(plan: &datafusion::logical_expr::LogicalPlan) -> Option<usize> {
    if let Some(lookup) = fast_path::as_lookup(plan) {
        return Some(lookup.parameter_types().len());
    }
    let placeholders = plan.get_parameter_types().ok()?;
    Some(
        placeholders
            .keys()
            .filter_map(|name| name.strip_prefix('$')?.parse::<usize>().ok())
            .max()
            .unwrap_or(0),
    )
}

/// The format codes of a Bind, checked as PostgreSQL checks them: each is
/// text (0) or binary (1), and there are none, one for all, or one per
/// parameter.
fn check_bind_formats(message: &Bind) -> PgWireResult<()> {
    let codes = message
        .parameter_format_codes
        .iter()
        .chain(&message.result_column_format_codes);
    if let Some(code) = codes.into_iter().find(|code| !matches!(code, 0 | 1)) {
        return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".into(),
            INVALID_PARAMETER_VALUE.into(),
            format!("unsupported format code: {code}"),
        ))));
    }
    let formats = message.parameter_format_codes.len();
    if formats > 1 && formats != message.parameters.len() {
        return Err(protocol_violation(format!(
            "bind message has {formats} parameter formats but {} parameters",
            message.parameters.len()
        )));
    }
    Ok(())
}
