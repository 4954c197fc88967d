//! The one ingestion path. Every write — `INSERT … VALUES/SELECT`,
//! `CREATE … AS SELECT`, `COPY … FROM STDIN` — ends as a stream of record
//! batches in the target's column order handed to [`Ingest::ingest`]:
//! validate → commit to the offline store → apply to the online store.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;

use super::OfflineTable;
use crate::error::Result;

/// Something rows can be written to.
#[async_trait]
pub trait Ingest: std::fmt::Debug + Send + Sync {
    /// Qualified name, for messages.
    fn name(&self) -> String;
    /// The columns a written batch must have, in order.
    fn schema(&self) -> SchemaRef;
    /// Writes every batch of `input` or, on any error, nothing. Returns the
    /// number of rows written once they are durable in every store.
    async fn ingest(self: Arc<Self>, input: SendableRecordBatchStream) -> Result<u64>;
}

#[async_trait]
impl Ingest for OfflineTable {
    fn name(&self) -> String {
        OfflineTable::name(self)
    }

    fn schema(&self) -> SchemaRef {
        OfflineTable::schema(self)
    }

    async fn ingest(self: Arc<Self>, input: SendableRecordBatchStream) -> Result<u64> {
        self.append(input).await
    }
}

pub type IngestTarget = Arc<dyn Ingest>;
