//! What stops a running query with 57014, as in PostgreSQL: its
//! `statement_timeout`, or its session's cancel (a CancelRequest, the client
//! gone). datafusion-postgres applies the timeout to planning only; a
//! query's rows are computed while they are sent, so both are also put on
//! its row stream.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use pgwire::api::ClientInfo;
use pgwire::api::results::{QueryResponse, Response};
use pgwire::error::{ErrorInfo, PgWireError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::server::errors::QUERY_CANCELED;
use crate::server::sessions::SessionControl;

/// Where datafusion-postgres's `SET statement_timeout` keeps the value, in
/// milliseconds, in the connection's metadata.
const STATEMENT_TIMEOUT_METADATA: &str = "statement_timeout_ms";

/// The session's `statement_timeout`, if one is set (0 is none).
pub(crate) fn statement_timeout<C: ClientInfo + ?Sized>(client: &C) -> Option<Duration> {
    client
        .metadata()
        .get(STATEMENT_TIMEOUT_METADATA)
        .and_then(|ms| ms.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

pub(crate) fn statement_timed_out() -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        QUERY_CANCELED.into(),
        "canceling statement due to statement timeout".into(),
    )))
}

pub(crate) fn statement_cancelled() -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        QUERY_CANCELED.into(),
        "canceling statement due to user request".into(),
    )))
}

/// When a statement's rows must stop: a fixed instant (a simple-protocol
/// statement), or the deadline of the Execute fetching them now (a
/// portal: PostgreSQL times each Execute, so a cursor fetched slowly in
/// parts is not cut off by its first fetch's clock).
#[derive(Clone)]
pub(crate) enum Deadline {
    At(Option<Instant>),
    OfCurrentExecute(Arc<SessionControl>),
}

impl Deadline {
    fn current(&self) -> Option<Instant> {
        match self {
            Deadline::At(at) => *at,
            Deadline::OfCurrentExecute(control) => control.execute_deadline(),
        }
    }

    /// Resolves once the deadline passes (never, without one).
    async fn passed(self) {
        loop {
            let Some(at) = self.current() else {
                return std::future::pending().await;
            };
            tokio::time::sleep_until(at).await;
            // A later Execute may have moved the deadline meanwhile.
            if self.current().is_some_and(|at| at <= Instant::now()) {
                return;
            }
        }
    }
}

/// The deadline of a portal's rows: each Execute's own, as the handler of
/// every Execute sets it (see [`Deadline`]), or fixed now for a connection
/// without controls.
pub(crate) fn deadline_per_execute<C: ClientInfo + ?Sized>(client: &C) -> Deadline {
    match client.session_extensions().get::<Arc<SessionControl>>() {
        Some(control) => Deadline::OfCurrentExecute(control.as_ref().clone()),
        None => Deadline::At(deadline(client)),
    }
}

/// `response` with its rows cut off by an error at `deadline` or when
/// `cancel` fires.
pub(crate) fn with_limits(
    response: Response,
    deadline: Deadline,
    cancel: &CancellationToken,
) -> Response {
    match response {
        Response::Query(query) => Response::Query(limit_rows(query, deadline, cancel.clone())),
        other => other,
    }
}

fn limit_rows(
    query: QueryResponse,
    deadline: Deadline,
    cancel: CancellationToken,
) -> QueryResponse {
    let command_tag = query.command_tag.clone();
    let timer = Box::pin(deadline.passed());
    let rows = futures::stream::unfold(
        (query.data_rows, timer, cancel, false),
        |(mut rows, mut timer, cancel, stopped)| async move {
            if stopped {
                return None;
            }
            tokio::select! {
                biased;
                _ = cancel.cancelled() => Some((Err(statement_cancelled()), (rows, timer, cancel, true))),
                _ = &mut timer => Some((Err(statement_timed_out()), (rows, timer, cancel, true))),
                row = rows.next() => row.map(|row| (row, (rows, timer, cancel, false))),
            }
        },
    );
    let mut limited = QueryResponse::new(query.row_schema, rows);
    limited.set_command_tag(&command_tag);
    limited
}

/// When a statement that starts now must end, for `client`'s session.
pub(crate) fn deadline<C: ClientInfo + ?Sized>(client: &C) -> Option<Instant> {
    statement_timeout(client).map(|limit| Instant::now() + limit)
}

/// `work`, or 57014 as soon as `cancel` fires (`work` is dropped then:
/// only for work whose commits finish on their own, see
/// `offline::finish_detached`).
pub(crate) async fn cancellable<T>(
    work: impl std::future::Future<Output = Result<T, PgWireError>>,
    cancel: &CancellationToken,
) -> Result<T, PgWireError> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(statement_cancelled()),
        done = work => done,
    }
}
