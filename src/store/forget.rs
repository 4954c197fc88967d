//! Taking rows out of a feature group (`DELETE FROM <group> WHERE …`, the
//! right to be forgotten): the rows leave the offline history as a new
//! Delta version, and in the same write the online store gives every key
//! that lost a row the latest row it has left, or forgets the key.
//!
//! "Latest" is what an AS OF join and the online store agree on: the
//! greatest event time, ties to the later write. The rows a group keeps
//! carry the write sequence they were first written with, so the rows left
//! for a key are applied in sequence order and the last one standing is
//! the one an AS OF join would pick.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{BooleanArray, RecordBatch};
use datafusion::arrow::compute::{
    concat_batches, filter_record_batch, sort_to_indices, take_record_batch,
};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;

use super::FeatureGroup;
use crate::error::{Error, Result};
use crate::offline::{
    OfflineTableProvider, Rewrite, RewriteKind, SequencedScan, WRITE_SEQUENCE_COLUMN,
};
use crate::online::OnlineStore;
use crate::online::codec::encode_key_into;

impl FeatureGroup {
    /// Refuses a DELETE the online store could not follow: without an
    /// event time, which row of a key is latest is only the order of
    /// writes, which a rewrite does not keep.
    pub fn check_forgettable(&self) -> Result<()> {
        if self.online.is_some() && self.def.event_time.is_none() {
            return Err(Error::FeatureNotSupported(format!(
                "DELETE FROM \"{}\" is not supported: an online feature group without an EVENT \
                 TIME has no order to choose the row each key keeps online",
                self.qualified_name()
            )));
        }
        Ok(())
    }

    /// Commits `rewrite` (the rows that stay, already written) and brings
    /// the online store along: every key of `removed` is removed, then the
    /// rows `kept` streams for those keys (all the rows that stay, with
    /// their write sequence last) are applied in write order. Runs to its
    /// end once the offline commit starts, as every write does.
    pub async fn forget(
        &self,
        rewrite: Rewrite,
        kind: RewriteKind,
        removed: Vec<RecordBatch>,
        mut kept: SendableRecordBatchStream,
    ) -> Result<()> {
        let Some(store) = &self.online else {
            rewrite.commit(kind).await?;
            return Ok(());
        };
        store.check_available(&self.def.storage_id)?;
        let mut keys = HashSet::new();
        let mut removed_rows = Vec::new();
        let mut key = Vec::new();
        for batch in removed {
            let batch = self.offline.conform(batch)?;
            for row in 0..batch.num_rows() {
                encode_key_into(&mut key, &batch, &self.layout.key_columns, row)?;
                keys.insert(key.clone());
            }
            removed_rows.push(batch);
        }
        let mut left = Vec::new();
        while let Some(batch) = crate::statement_stop::next(&mut kept).await? {
            let batch = batch?;
            let visible = batch.num_columns().saturating_sub(1);
            let rows = self.offline.conform(
                batch
                    .project(&(0..visible).collect::<Vec<_>>())
                    .map_err(datafusion::error::DataFusionError::from)?,
            )?;
            let mut affected = Vec::with_capacity(rows.num_rows());
            for row in 0..rows.num_rows() {
                encode_key_into(&mut key, &rows, &self.layout.key_columns, row)?;
                affected.push(Some(keys.contains(&key)));
            }
            let affected = BooleanArray::from(affected);
            if affected.true_count() == 0 {
                continue;
            }
            let mut columns = rows.columns().to_vec();
            columns.push(batch.column(visible).clone());
            let with_sequence = RecordBatch::try_new(sequenced_schema(&rows), columns)
                .map_err(datafusion::error::DataFusionError::from)?;
            left.push(
                filter_record_batch(&with_sequence, &affected)
                    .map_err(datafusion::error::DataFusionError::from)?,
            );
        }
        let writer = store.begin_write(self.layout.clone())?;
        let mut online_bytes = 0u64;
        for batch in removed_rows {
            writer.remove(batch).await?;
        }
        if let Some(rows) = in_write_order(left)? {
            online_bytes += rows.get_array_memory_size() as u64;
            writer.apply(rows).await?;
        }
        writer.check().await?;
        store.reserve(online_bytes)?;
        let name = self.qualified_name();
        crate::offline::finish_detached(async move {
            let Some(version) = rewrite.commit(kind).await? else {
                return Ok(());
            };
            crate::crash_point!("offline.rewrite_committed");
            if let Err(e) = writer.commit(version).await {
                tracing::error!(
                    feature_group = %name,
                    offline_version = version,
                    error = %e,
                    "online commit failed after the offline commit; aborting so that recovery rebuilds it"
                );
                std::process::abort();
            }
            Ok(())
        })
        .await?
    }

    /// Replaces the group's online rows by the offline rows, applied in
    /// write order, and records `version` as applied: the catch-up of a
    /// log that took rows out. Returns the rows applied.
    pub(super) async fn replay_in_write_order(
        &self,
        store: &Arc<OnlineStore>,
        version: u64,
    ) -> Result<u64> {
        let provider = OfflineTableProvider::new(self.offline.clone())
            .with_write_sequence()
            .ok_or_else(|| {
                Error::Internal(format!(
                    "\"{}\" took rows out but keeps no write sequence",
                    self.qualified_name()
                ))
            })?;
        let ctx = SessionContext::new();
        let frame = ctx.read_table(provider)?.sort(vec![
            datafusion::prelude::col(WRITE_SEQUENCE_COLUMN).sort(true, false),
        ])?;
        let mut stream = frame.execute_stream().await?;
        let writer = store.begin_write(self.layout.clone())?;
        writer.clear().await?;
        let mut rows = 0u64;
        while let Some(batch) = crate::statement_stop::next(&mut stream).await? {
            let batch = self.offline.conform(batch?)?;
            rows += batch.num_rows() as u64;
            writer.apply(batch).await?;
        }
        writer.commit(version).await?;
        Ok(rows)
    }
}

fn sequenced_schema(rows: &RecordBatch) -> datafusion::arrow::datatypes::SchemaRef {
    let mut fields: Vec<_> = rows.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(datafusion::arrow::datatypes::Field::new(
        WRITE_SEQUENCE_COLUMN,
        datafusion::arrow::datatypes::DataType::Int64,
        false,
    )));
    Arc::new(datafusion::arrow::datatypes::Schema::new(fields))
}

/// The rows of `batches` (write sequence last) sorted by write sequence,
/// without it.
fn in_write_order(batches: Vec<RecordBatch>) -> Result<Option<RecordBatch>> {
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let all = concat_batches(&first.schema(), &batches)
        .map_err(datafusion::error::DataFusionError::from)?;
    let sequence = all.num_columns() - 1;
    let order = sort_to_indices(all.column(sequence), None, None)
        .map_err(datafusion::error::DataFusionError::from)?;
    let sorted =
        take_record_batch(&all, &order).map_err(datafusion::error::DataFusionError::from)?;
    Ok(Some(
        sorted
            .project(&(0..sequence).collect::<Vec<_>>())
            .map_err(datafusion::error::DataFusionError::from)?,
    ))
}
