//! `COPY … FROM STDIN`: the CopyInResponse, then the client's CopyData
//! into the connection's COPY in progress, committed at CopyDone and
//! abandoned at CopyFail or a dropped connection.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::ClientInfo;
use pgwire::api::copy::CopyHandler;
use pgwire::api::results::Response;
use pgwire::api::results::{CopyResponse, Tag};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};

use tokio_util::sync::{CancellationToken, DropGuard};

use crate::copy_in::{CopyFormat, CopyIn};

use super::service::FstoreService;
use super::timeout::statement_cancelled;
use crate::server::sessions;

use crate::error::Error;
use crate::server::errors::{copy_failed, to_pgwire};
use crate::sql::FsStatement;

impl FstoreService {
    pub(super) async fn start_copy_in<C>(
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
        let name = crate::sql::QualifiedName::from_object_name(table_name)?;
        let (target, indices) = self.database.copy_target(&name, columns).await?;
        let column_count = indices.len();
        let copy = crate::copy_in::start(target, indices, format);
        let slot = copy_slot(client);
        let cancel = sessions::start_statement(client);
        let watch_ends = CancellationToken::new();
        let id = slot.next_id.fetch_add(1, Ordering::Relaxed);
        let active = Active {
            id,
            copy,
            _watch: watch_ends.clone().drop_guard(),
        };
        if let Some(previous) = slot.active.lock().await.replace(active) {
            previous.copy.abort().await;
        }
        // A cancel stops the COPY at once, idle or not: its rows are
        // dropped and what it holds (the table's writer, the online
        // transaction) is released; the client hears 57014 at its next
        // message.
        // Weak: the session's end must drop the COPY (which aborts it), not
        // wait for this task.
        let slot = Arc::downgrade(&slot);
        tokio::spawn(async move {
            tokio::select! {
                _ = watch_ends.cancelled() => {}
                _ = cancel.cancelled() => {
                    let Some(slot) = slot.upgrade() else {
                        return;
                    };
                    let mut active = slot.active.lock().await;
                    if active.as_ref().is_some_and(|a| a.id == id)
                        && let Some(cancelled) = active.take()
                    {
                        slot.cancelled.store(true, Ordering::Release);
                        cancelled.copy.abort().await;
                    }
                }
            }
        });
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
struct CopySlot {
    active: tokio::sync::Mutex<Option<Active>>,
    /// The COPY was cancelled; its client has not heard it yet.
    cancelled: AtomicBool,
    next_id: AtomicU64,
}

struct Active {
    id: u64,
    copy: CopyIn,
    /// Ends the task that watches for a cancel when the COPY ends.
    _watch: DropGuard,
}

impl CopySlot {
    /// The error a COPY cancelled since the client last heard from it
    /// gets, once.
    fn take_cancelled(&self) -> PgWireResult<()> {
        if self.cancelled.swap(false, Ordering::AcqRel) {
            return Err(statement_cancelled());
        }
        Ok(())
    }
}

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
        if let Some(active) = slot.active.lock().await.as_ref() {
            active.copy.data(copy_data.data).await;
        }
        slot.take_cancelled()
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let slot = copy_slot(client);
        slot.take_cancelled()?;
        let Some(Active { copy, .. }) = slot.active.lock().await.take() else {
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
        if let Some(active) = slot.active.lock().await.take() {
            active.copy.abort().await;
        }
        slot.cancelled.store(false, Ordering::Release);
        copy_failed(&fail.message)
    }
}
