//! fstore's pgwire handlers and the service behind them: what every
//! protocol part shares — the database, datafusion-postgres's session
//! service it hands statements on to, executing a routed statement, and
//! running an online lookup.

use std::sync::Arc;

use datafusion_postgres::DfSessionService;
use futures::Sink;
use pgwire::api::ClientInfo;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldInfo, Response};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use crate::metrics::QueryKind;
use pgwire::api::results::QueryResponse;
use pgwire::messages::data::DataRow;
use pgwire::types::format::FormatOptions;

use super::notices::{Severity, send_message, send_notice};
use super::parse::FstoreParser;
use super::planned::TreePlanner;
use super::routing::Route;
use super::session_options::{self, Applied};
use crate::server::fast_path;

use crate::database::Database;
use crate::error::Error;
use crate::server::errors::to_pgwire;
use crate::server::shutdown::InFlight;
use crate::server::transactions;
use crate::sql::FsStatement;

pub struct FstoreService {
    pub(super) database: Arc<Database>,
    pub(super) inner: Arc<DfSessionService>,
    pub(super) parser: Arc<FstoreParser>,
    pub(super) planner: Arc<TreePlanner>,
    pub(super) in_flight: InFlight,
    /// Simple-protocol lookups by text.
    pub(super) simple_lookups: fast_path::LookupCache,
}

impl FstoreService {
    pub(super) async fn execute_routed<C>(
        &self,
        client: &mut C,
        route: Route,
    ) -> Result<Response, Error>
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
                crate::server::copy_out::copy_to_stdout(&self.database, &copy).await
            }
            Route::Fstore(statement) => {
                let (progress, mut messages) = tokio::sync::mpsc::unbounded_channel();
                let running = crate::statement_stop::scope(
                    statement_stop(client),
                    self.database
                        .execute_fstore_statement(&statement, Some(&progress)),
                );
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
            Route::Ddl(statement) => {
                let outcome = crate::statement_stop::scope(
                    statement_stop(client),
                    self.database.execute_ddl(&statement),
                )
                .await?;
                for notice in outcome.notices {
                    send_notice(client, notice).await?;
                }
                Ok(Response::Execution(outcome.tag))
            }
            Route::SessionOption(option) => {
                let session = self.database.session_context();
                let done = |tag| Response::Execution(pgwire::api::results::Tag::new(tag));
                match session_options::apply(client, &session, &option)? {
                    Applied::Done { tag } => Ok(done(tag)),
                    Applied::ParameterChanged { tag, name, value } => {
                        use futures::SinkExt;
                        use pgwire::messages::startup::ParameterStatus;
                        client
                            .send(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                                name, value,
                            )))
                            .await
                            .map_err(|e| Error::Internal(PgWireError::from(e).to_string()))?;
                        Ok(done(tag))
                    }
                    Applied::Shown { name, value } => {
                        Ok(Response::Query(show_response(&name, value)))
                    }
                }
            }
            Route::HandOn(_) => Err(Error::Internal(
                "a statement to hand on reached fstore's executor".into(),
            )),
        }
    }
}

/// A SHOW's answer: one text column named after the parameter, as in
/// PostgreSQL.
fn show_response(name: &str, value: String) -> QueryResponse {
    use pgwire::api::results::{DataRowEncoder, FieldFormat};
    let fields = Arc::new(vec![FieldInfo::new(
        name.to_string(),
        None,
        None,
        pgwire::api::Type::TEXT,
        FieldFormat::Text,
    )]);
    let mut encoder = DataRowEncoder::new(fields.clone());
    let row = encoder
        .encode_field(&Some(value))
        .map(|()| encoder.take_row());
    QueryResponse::new(fields, futures::stream::iter([row]))
}

impl FstoreService {
    /// Recognises a simple-protocol lookup, through the cache of lookups
    /// by text; a statement refused while recognising (a key that does not
    /// parse) counts as a failed lookup.
    pub(super) fn recognize_counted(
        &self,
        sql: &str,
    ) -> PgWireResult<Option<Arc<fast_path::Lookup>>> {
        let started = std::time::Instant::now();
        self.simple_lookups
            .recognize(&self.database, sql)
            .map_err(|e| {
                self.database
                    .metrics()
                    .record(QueryKind::OnlineLookup, started.elapsed(), 0, true);
                to_pgwire(e, None)
            })
    }

    /// Answers a recognised lookup from the online store.
    pub(super) fn run_lookup<C: ClientInfo>(
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
    pub(super) fn run_lookup_rows<C: ClientInfo>(
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
        let (_, (fields, rows)) = outcome?;
        let rows = super::output::with_postgres_text_rows(&fields, rows);
        Ok((fields, rows))
    }
}

/// What stops the fstore statement `client` starts now: its session's
/// cancel and its `statement_timeout`.
fn statement_stop<C: ClientInfo>(client: &C) -> crate::statement_stop::StatementStop {
    crate::statement_stop::StatementStop {
        cancel: crate::server::sessions::start_statement(client),
        deadline: super::timeout::deadline(client),
    }
}
