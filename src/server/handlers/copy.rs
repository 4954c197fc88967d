//! `COPY … FROM STDIN`: the CopyInResponse, then the client's CopyData
//! into the connection's COPY in progress, committed at CopyDone and
//! abandoned at CopyFail or a dropped connection.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::ClientInfo;
use pgwire::api::copy::CopyHandler;
use pgwire::api::results::Response;
use pgwire::api::results::{CopyResponse, Tag};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};

use crate::copy_in::{CopyFormat, CopyIn};

use super::service::FstoreService;

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
        copy_failed(&fail.message)
    }
}
