//! NOTICE and WARNING messages sent while a statement runs.

use futures::{Sink, SinkExt};
use pgwire::error::PgWireError;
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::response::NoticeResponse;

use crate::error::Error;

pub(super) async fn send_notice<C>(client: &mut C, message: String) -> Result<(), Error>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    send_message(client, Severity::Notice, message).await
}

#[derive(Clone, Copy)]
pub(super) enum Severity {
    Notice,
    /// A NOTICE with its own SQLSTATE (42622 for a truncated identifier).
    NoticeWithCode(&'static str),
    /// 01000
    Warning,
}

pub(super) async fn send_message<C>(
    client: &mut C,
    severity: Severity,
    message: String,
) -> Result<(), Error>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let (severity, code) = match severity {
        Severity::Notice => ("NOTICE", "00000"),
        Severity::NoticeWithCode(code) => ("NOTICE", code),
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
