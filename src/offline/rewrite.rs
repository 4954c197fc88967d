//! Statements that replace a table's rows rather than add to them
//! (`DELETE`, `UPDATE`, `TRUNCATE`): copy-on-write over Delta. Under the
//! table's writer lock, the rows that stay are written to new Parquet files
//! and one Delta version adds them and removes every file the statement
//! read. Older versions keep the old files, so time travel still sees the
//! rows as they were (until a vacuum, which fstore does not run).

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use deltalake::DeltaTable;
use deltalake::kernel::Action;
use deltalake::protocol::DeltaOperation;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use futures::TryStreamExt;

use super::{OfflineTable, durable, finish_detached};
use crate::error::Result;

/// What a rewrite does, as the Delta log records it.
#[derive(Debug, Clone)]
pub enum RewriteKind {
    Delete { predicate: Option<String> },
    Update { predicate: Option<String> },
}

impl RewriteKind {
    fn operation(self) -> DeltaOperation {
        match self {
            RewriteKind::Delete { predicate } => DeltaOperation::Delete { predicate },
            RewriteKind::Update { predicate } => DeltaOperation::Update { predicate },
        }
    }
}

/// A rewrite in progress. While it lives no other write reaches the table,
/// so the rows its statement reads from the latest snapshot are exactly the
/// rows of the files it removes. Dropped without committing, it leaves no
/// trace.
pub struct Rewrite {
    owner: Arc<OfflineTable>,
    table: tokio::sync::OwnedMutexGuard<DeltaTable>,
    writer: RecordBatchWriter,
    removes: Vec<Action>,
    rows: u64,
}

impl OfflineTable {
    /// Takes the table's writer lock for a statement that replaces its
    /// rows; scans planned while the rewrite lives read the snapshot it
    /// replaces.
    pub async fn begin_rewrite(self: &Arc<Self>) -> Result<Rewrite> {
        let table = self.table.clone().lock_owned().await;
        let removes: Vec<Action> = table
            .get_active_add_actions_by_predicate(None)
            .map_ok(|file| Action::Remove(file.remove_action(true)))
            .try_collect()
            .await?;
        let writer = RecordBatchWriter::for_table(&table)?;
        Ok(Rewrite {
            owner: self.clone(),
            table,
            writer,
            removes,
            rows: 0,
        })
    }
}

impl Rewrite {
    /// Writes rows that stay in the table (in the table's visible columns).
    pub async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if self.owner.sequenced {
            return Err(crate::error::Error::Internal(
                "a table with a write sequence is rewritten with its sequence".into(),
            ));
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.owner.check_not_null(&batch)?;
        let batch = self.owner.conform(batch)?;
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch).await?;
        Ok(())
    }

    /// Writes rows that stay in a table that keeps a write sequence: its
    /// visible columns, then the sequence each row was first written with
    /// (kept, so AS OF still breaks ties in write order). Returns the rows
    /// in the table's write types, without the sequence.
    pub async fn write_keeping_sequence(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let visible = batch.num_columns().saturating_sub(1);
        let rows = batch
            .project(&(0..visible).collect::<Vec<_>>())
            .map_err(datafusion::error::DataFusionError::from)?;
        self.owner.check_not_null(&rows)?;
        let rows = self.owner.conform(rows)?;
        if rows.num_rows() == 0 {
            return Ok(rows);
        }
        let sequence = datafusion::arrow::compute::cast(
            batch.column(visible),
            &datafusion::arrow::datatypes::DataType::Int64,
        )
        .map_err(datafusion::error::DataFusionError::from)?;
        let mut columns = rows.columns().to_vec();
        columns.push(sequence);
        let stored = RecordBatch::try_new(self.owner.write_schema.clone(), columns)
            .map_err(datafusion::error::DataFusionError::from)?;
        self.rows += stored.num_rows() as u64;
        self.writer.write(stored).await?;
        Ok(rows)
    }

    /// Commits the new files and the removal of the old ones as one Delta
    /// version, synced; returns it, or `None` when the table had no files
    /// and gains none. Runs to its end once started (see
    /// [`super::Append::commit`]).
    pub async fn commit(self, kind: RewriteKind) -> Result<Option<u64>> {
        finish_detached(self.commit_here(kind)).await?
    }

    async fn commit_here(mut self, kind: RewriteKind) -> Result<Option<u64>> {
        if self.rows == 0 && self.removes.is_empty() {
            return Ok(None);
        }
        let table_dir = self.owner.path()?;
        crate::crash_point!("offline.rewrite_files_written");
        let version = durable::commit_rewrite_synced(
            &mut self.writer,
            std::mem::take(&mut self.removes),
            kind.operation(),
            &mut self.table,
            &table_dir,
        )
        .await?;
        self.owner.publish(Arc::new(self.table.clone()));
        Ok(Some(version))
    }
}
