//! `statement_timeout`: a statement running longer is cancelled with
//! 57014, as in PostgreSQL. datafusion-postgres applies the timeout to
//! planning only; a query's rows are computed while they are sent, so the
//! deadline is also put on its row stream.

use std::time::Duration;

use futures::StreamExt;
use pgwire::api::ClientInfo;
use pgwire::api::results::{QueryResponse, Response};
use pgwire::error::{ErrorInfo, PgWireError};
use tokio::time::Instant;

use crate::server::errors::QUERY_CANCELED;

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

/// `response` with its rows cut off by an error at `deadline`.
pub(crate) fn with_deadline(response: Response, deadline: Option<Instant>) -> Response {
    match (response, deadline) {
        (Response::Query(query), Some(deadline)) => Response::Query(limit_rows(query, deadline)),
        (other, _) => other,
    }
}

fn limit_rows(query: QueryResponse, deadline: Instant) -> QueryResponse {
    let command_tag = query.command_tag.clone();
    let timer = Box::pin(tokio::time::sleep_until(deadline));
    let rows = futures::stream::unfold(
        (query.data_rows, timer, false),
        |(mut rows, mut timer, timed_out)| async move {
            if timed_out {
                return None;
            }
            tokio::select! {
                biased;
                row = rows.next() => row.map(|row| (row, (rows, timer, false))),
                _ = &mut timer => Some((Err(statement_timed_out()), (rows, timer, true))),
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
