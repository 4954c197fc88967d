//! The simple query protocol: a query string of one or more statements,
//! each routed and answered in turn; lookups on `online.*` first try the
//! fast path.

use std::borrow::Cow;
use std::fmt::Debug;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::portal::Format;
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::results::{QueryResponse, Response};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use crate::metrics::QueryKind;
use pgwire::messages::simplequery::Query;

use super::explain;
use super::notices::{Severity, send_message};
use super::output;
use super::routing::{HandOn, Route, route};
use super::service::FstoreService;
use super::session_reset;
use super::time_zone;
use super::timeout;
use crate::server::fast_path;
use crate::server::sessions;

use crate::server::errors::{
    NAME_TOO_LONG, QueryContext, in_context, prefer_positioned, to_pgwire,
};
use crate::server::transactions;
use crate::sql::identifiers::truncate_long_identifiers;
use crate::sql::split_statements;

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
            && let Some(lookup) = self.recognize_counted(query)?
        {
            transactions::check_not_failed(client).map_err(|e| to_pgwire(e, None))?;
            let response = self
                .run_lookup(
                    client,
                    &lookup,
                    &fast_path::Bound::NONE,
                    &Format::UnifiedText,
                )
                .map_err(|e| to_pgwire(e, None))?;
            return Ok(vec![response]);
        }
        let statements = split_statements(query).map_err(|e| to_pgwire(e, None))?;
        let truncated = truncate_long_identifiers(&statements);
        let statements = match &truncated {
            Some(truncated) => {
                for notice in &truncated.notices {
                    let name_too_long = Severity::NoticeWithCode(NAME_TOO_LONG);
                    send_message(client, name_too_long, notice.clone())
                        .await
                        .map_err(|e| to_pgwire(e, None))?;
                }
                split_statements(&truncated.sql).map_err(|e| to_pgwire(e, None))?
            }
            None => statements,
        };
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        let last = statements.len() - 1;
        let mut committed_writes = 0;
        for (index, statement) in statements.iter().enumerate() {
            let context = QueryContext {
                query: statement.text,
                char_offset: statement.char_offset,
            };
            let started = std::time::Instant::now();
            let deadline = timeout::deadline(client);
            let cancel = sessions::start_statement(client);
            let mut kind = QueryKind::Statement;
            let outcome = async {
                if let Some(reset) = session_reset::apply(client, &statement.tokens)
                    .map_err(|e| to_pgwire(e, Some(&context)))?
                {
                    return Ok(vec![reset]);
                }
                let routed =
                    route(&self.database, statement).map_err(|e| to_pgwire(e, Some(&context)))?;
                if !matches!(routed, Route::Transaction(_)) {
                    transactions::check_not_failed(client).map_err(|e| to_pgwire(e, None))?;
                }
                match routed {
                    Route::HandOn(hand_on) => {
                        kind = QueryKind::Query;
                        let (text, syntax): (Cow<str>, _) = match hand_on {
                            HandOn::Tree(tree) => {
                                let response = self.planner.run_simple(client, *tree);
                                let response = timeout::cancellable(response, &cancel).await;
                                return Ok(vec![response.map_err(|e| in_context(e, &context))?]);
                            }
                            HandOn::Text(text) => (text.into(), None),
                            HandOn::AsWritten { syntax } => (statement.text.into(), syntax),
                        };
                        let names = output::column_names_of_text(&text);
                        // A catalog query's faithful form first; the text as
                        // written (with the compatibility parser's own
                        // handling) if that does not plan.
                        let variants = crate::sql::catalog_text_variants(&text);
                        let answer = async {
                            for variant in &variants {
                                match SimpleQueryHandler::do_query(
                                    self.inner.as_ref(),
                                    client,
                                    variant,
                                )
                                .await
                                {
                                    Ok(responses) => {
                                        tracing::debug!(%variant, "catalog query answered as");
                                        return Ok(responses);
                                    }
                                    Err(error) => {
                                        tracing::debug!(%variant, %error, "catalog query variant");
                                    }
                                }
                            }
                            SimpleQueryHandler::do_query(self.inner.as_ref(), client, &text).await
                        };
                        timeout::cancellable(answer, &cancel)
                            .await
                            .map(|responses| match names {
                                Some(names) => responses
                                    .into_iter()
                                    .map(|r| output::with_postgres_names(r, &names))
                                    .collect(),
                                None => responses,
                            })
                            .map_err(|e| prefer_positioned(in_context(e, &context), syntax))
                    }
                    other => Ok(vec![
                        self.execute_routed(client, other)
                            .await
                            .map_err(|e| to_pgwire(e, Some(&context)))?,
                    ]),
                }
            }
            .await;
            // A query's rows are computed as they are sent, after every
            // statement of the string has run; one that fails must stop the
            // statements after it, as in PostgreSQL.
            let hidden_paths = explain::is_explain(statement.text)
                .then(|| explain::storage_prefix(&self.database.config().data_dir));
            let zone = time_zone::chosen(client).map(|zone| zone.arrow);
            let outcome = outcome.map(|responses| {
                responses
                    .into_iter()
                    .map(|response| match &hidden_paths {
                        Some(prefix) => explain::hide_storage_paths(response, prefix.clone()),
                        None => response,
                    })
                    .map(|response| output::with_postgres_text(response, zone.as_deref()))
                    .map(|response| {
                        timeout::with_limits(response, timeout::Deadline::At(deadline), &cancel)
                    })
                    .collect::<Vec<_>>()
            });
            let outcome = match outcome {
                Ok(responses) if index < last => run_to_completion(responses).await,
                other => other,
            };
            self.database
                .metrics()
                .record(kind, started.elapsed(), 0, outcome.is_err());
            if outcome.is_ok() && transactions::writes_data(&statement.tokens) {
                transactions::note_write(client);
                committed_writes += 1;
            }
            responses.extend(outcome.map_err(|e| after_committed_writes(e, committed_writes))?);
        }
        Ok(responses)
    }
}

/// An error that stopped a query string, telling the client which of the
/// statements before it stay done. PostgreSQL runs a query string as one
/// implicit transaction; fstore commits each statement when it completes
/// (each is all or nothing, SPEC §3), and a write committed to one Delta
/// table cannot be undone together with another's, so the string stops
/// here and says what was kept rather than keeping it silently.
fn after_committed_writes(error: PgWireError, committed_writes: usize) -> PgWireError {
    match error {
        PgWireError::UserError(mut info) if committed_writes > 0 => {
            let kept = format!(
                "{committed_writes} statement(s) before it in this query string wrote data and \
                 stay committed: fstore commits each statement when it completes"
            );
            info.detail = Some(match info.detail.take() {
                Some(detail) => format!("{detail}\n{kept}"),
                None => kept,
            });
            PgWireError::UserError(info)
        }
        other => other,
    }
}

/// The responses with every query's rows computed (and held), so that an
/// error in them is known now.
async fn run_to_completion(responses: Vec<Response>) -> PgWireResult<Vec<Response>> {
    use futures::TryStreamExt;
    let mut done = Vec::with_capacity(responses.len());
    for response in responses {
        done.push(match response {
            Response::Query(query) => {
                let rows: Vec<_> = query.data_rows.try_collect().await?;
                let mut computed = QueryResponse::new(
                    query.row_schema,
                    futures::stream::iter(rows.into_iter().map(Ok)),
                );
                computed.set_command_tag(&query.command_tag);
                Response::Query(computed)
            }
            other => other,
        });
    }
    Ok(done)
}
