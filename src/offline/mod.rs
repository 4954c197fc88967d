//! The offline store: one Delta Lake table (Parquet files plus an atomic
//! commit log) per table, under `<data-dir>/tables/<storage-id>`.
//!
//! [`OfflineTable`] owns the `DeltaTable` handle. Reads go through
//! [`OfflineTableProvider`], which plans every scan against the latest
//! committed snapshot; writes stream through [`OfflineTable::append`], which
//! writes Parquet files as batches arrive and commits them in one Delta
//! transaction at the end, so a statement that fails leaves no trace.

pub mod durable;
mod ingest;
mod provider;
mod rewrite;
pub mod time_travel;

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::execution::SendableRecordBatchStream;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::{TryIntoArrow, TryIntoKernel};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableBuilder};
use tokio::sync::Mutex;
use url::Url;

pub use ingest::{Ingest, IngestTarget};
pub use provider::{OfflineTableProvider, SequencedScan};
pub use rewrite::{Rewrite, RewriteKind};

/// The hidden column that orders a feature group's rows by write (see
/// `planner::asof`): ties between equal event times go to the later write.
pub const WRITE_SEQUENCE_COLUMN: &str = "_fs_write_seq";

use crate::error::{Error, Result};

/// The same scan with the write sequence, if `provider` reads a table that
/// keeps one (latest or time travel).
pub fn sequenced_provider(provider: &dyn TableProvider) -> Option<Arc<dyn TableProvider>> {
    let any: &dyn std::any::Any = provider;
    if let Some(latest) = any.downcast_ref::<OfflineTableProvider>() {
        return latest.with_write_sequence();
    }
    any.downcast_ref::<time_travel::TimeTravelProvider>()?
        .with_write_sequence()
}

pub struct OfflineTable {
    /// Qualified name used in error messages; renames update it.
    display_name: std::sync::RwLock<String>,
    /// The schema DataFusion sees: what Delta scans produce (string
    /// columns come back as views, for instance), without the write
    /// sequence.
    schema: SchemaRef,
    /// `schema` plus the write sequence, for tables that keep one.
    sequenced_schema: SchemaRef,
    /// The schema Parquet files are written with, from the Delta log.
    write_schema: SchemaRef,
    /// `write_schema` without the write sequence: what callers write.
    visible_write_schema: SchemaRef,
    /// Whether rows carry [`WRITE_SEQUENCE_COLUMN`] (feature groups with an
    /// event time), always the last column.
    sequenced: bool,
    /// Held for the whole of an append: one writer per table keeps Delta
    /// commits free of conflicts and in statement order.
    table: Arc<Mutex<DeltaTable>>,
    /// The latest committed snapshot, which scans are planned against.
    snapshot: std::sync::RwLock<Arc<DeltaTable>>,
}

impl std::fmt::Debug for OfflineTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineTable")
            .field("name", &self.name())
            .finish()
    }
}

fn table_url(path: &Path) -> Result<Url> {
    let absolute = std::path::absolute(path)?;
    Url::from_directory_path(&absolute)
        .map_err(|()| Error::Internal(format!("not a usable table path: {}", absolute.display())))
}

/// Delta stores timestamps in microseconds and has no view or large string
/// types; map what DataFusion's SQL planner produces onto what Delta keeps,
/// so the declared schema is the schema read back.
fn storable_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        other => other.clone(),
    }
}

pub fn storable_schema(schema: &Schema) -> Schema {
    Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| {
                Field::new(f.name(), storable_type(f.data_type()), f.is_nullable())
                    .with_metadata(f.metadata().clone())
            })
            .collect::<Vec<_>>(),
    )
}

impl OfflineTable {
    /// Creates an empty Delta table at `path` with `schema`, plus the
    /// hidden write sequence when `sequenced`.
    pub async fn create(
        path: &Path,
        display_name: &str,
        schema: &Schema,
        sequenced: bool,
    ) -> Result<Arc<Self>> {
        std::fs::create_dir_all(path)?;
        let mut storable = storable_schema(schema);
        if sequenced {
            let mut fields: Vec<Field> = storable
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.push(Field::new(WRITE_SEQUENCE_COLUMN, DataType::Int64, false));
            storable = Schema::new(fields);
        }
        let kernel_schema: StructType = (&storable).try_into_kernel().map_err(|e| {
            Error::FeatureNotSupported(format!(
                "a column type of \"{display_name}\" cannot be stored: {e}"
            ))
        })?;
        let table = DeltaTable::try_from_url(table_url(path)?).await?;
        let table = table
            .create()
            .with_table_name(display_name)
            .with_columns(kernel_schema.fields().cloned())
            .await?;
        durable::sync_tree(path)?;
        Self::from_table(table, display_name).await
    }

    pub async fn open(path: &Path, display_name: &str) -> Result<Arc<Self>> {
        let mut table = DeltaTableBuilder::from_url(table_url(path)?)?.build()?;
        table.load().await?;
        Self::from_table(table, display_name).await
    }

    async fn from_table(table: DeltaTable, display_name: &str) -> Result<Arc<Self>> {
        let kernel_schema = table.snapshot()?.schema();
        let write_schema: Schema = kernel_schema
            .as_ref()
            .try_into_arrow()
            .map_err(|e| Error::Internal(format!("Delta schema has no Arrow form: {e}")))?;
        let scan_schema = table.table_provider().build().await?.schema();
        let sequenced = write_schema
            .fields()
            .last()
            .is_some_and(|f| f.name() == WRITE_SEQUENCE_COLUMN);
        let without_sequence = |schema: &Schema| -> SchemaRef {
            let visible = schema.fields().len() - usize::from(sequenced);
            Arc::new(Schema::new(schema.fields()[..visible].to_vec()))
        };
        Ok(Arc::new(OfflineTable {
            display_name: std::sync::RwLock::new(display_name.into()),
            schema: without_sequence(&scan_schema),
            sequenced_schema: scan_schema,
            visible_write_schema: without_sequence(&write_schema),
            write_schema: Arc::new(write_schema),
            sequenced,
            snapshot: std::sync::RwLock::new(Arc::new(table.clone())),
            table: Arc::new(Mutex::new(table)),
        }))
    }

    pub fn name(&self) -> String {
        self.display_name
            .read()
            .map(|n| n.clone())
            .unwrap_or_default()
    }

    pub fn set_name(&self, name: &str) {
        if let Ok(mut guard) = self.display_name.write() {
            *guard = name.into();
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Whether rows carry [`WRITE_SEQUENCE_COLUMN`].
    pub fn keeps_write_sequence(&self) -> bool {
        self.sequenced
    }

    /// What a scan produces: [`Self::schema`], plus the write sequence when
    /// asked for and kept.
    pub fn scan_schema(&self, with_sequence: bool) -> SchemaRef {
        if with_sequence && self.sequenced {
            self.sequenced_schema.clone()
        } else {
            self.schema.clone()
        }
    }

    pub fn latest(&self) -> Arc<DeltaTable> {
        self.snapshot
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Streams `input` into new Parquet files and commits them as one Delta
    /// version. Returns the number of rows written. Nothing is visible to
    /// readers until the commit; on any error nothing is committed.
    pub async fn append(self: &Arc<Self>, mut input: SendableRecordBatchStream) -> Result<u64> {
        let mut append = self.begin_append().await?;
        while let Some(batch) = crate::statement_stop::next(&mut input).await? {
            append.write(batch?).await?;
        }
        Ok(append.commit().await?.map(|(rows, _)| rows).unwrap_or(0))
    }

    /// Starts an append; only one runs at a time per table.
    pub async fn begin_append(self: &Arc<Self>) -> Result<Append> {
        let table = self.table.clone().lock_owned().await;
        let writer = RecordBatchWriter::for_table(&table)?;
        Ok(Append {
            owner: self.clone(),
            table,
            writer,
            rows: 0,
        })
    }

    /// Makes a version just committed the one scans read.
    fn publish(&self, committed: Arc<DeltaTable>) {
        match self.snapshot.write() {
            Ok(mut guard) => *guard = committed,
            Err(poisoned) => *poisoned.into_inner() = committed,
        }
    }

    /// The latest committed Delta version.
    pub fn version(&self) -> u64 {
        self.latest().version().unwrap_or(0)
    }

    /// The table's location on disk.
    pub fn path(&self) -> Result<std::path::PathBuf> {
        self.latest()
            .table_url()
            .to_file_path()
            .map_err(|()| Error::Internal("offline table is not on the local disk".into()))
    }

    /// The stored types of the columns callers write (no write sequence).
    pub fn write_schema(&self) -> SchemaRef {
        self.visible_write_schema.clone()
    }

    pub fn check_not_null(&self, batch: &RecordBatch) -> Result<()> {
        for (index, field) in self.schema.fields().iter().enumerate() {
            if field.is_nullable() {
                continue;
            }
            let Some(column) = batch.columns().get(index) else {
                return Err(Error::Internal(format!(
                    "batch for \"{}\" has {} columns, table has {}",
                    self.name(),
                    batch.num_columns(),
                    self.schema.fields().len()
                )));
            };
            if column.logical_null_count() > 0 {
                return Err(Error::NotNullViolation {
                    table: self.name(),
                    column: field.name().clone(),
                });
            }
        }
        Ok(())
    }

    /// Casts a batch that matches the table column for column onto the exact
    /// stored types (timestamp unit, string representation, nullability).
    /// A batch read back from the table's files loses its write sequence.
    pub fn conform(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let batch = if self.sequenced && batch.num_columns() == self.write_schema.fields().len() {
            batch
                .project(&(0..self.schema.fields().len()).collect::<Vec<_>>())
                .map_err(datafusion::error::DataFusionError::from)?
        } else {
            batch
        };
        if batch.schema().fields().len() != self.schema.fields().len() {
            return Err(Error::Internal(format!(
                "batch for \"{}\" has {} columns, table has {}",
                self.name(),
                batch.num_columns(),
                self.schema.fields().len()
            )));
        }
        let columns = batch
            .columns()
            .iter()
            .zip(self.visible_write_schema.fields())
            .map(|(column, field)| {
                if column.data_type() == field.data_type() {
                    Ok(column.clone())
                } else {
                    datafusion::arrow::compute::cast(column, field.data_type())
                }
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(datafusion::error::DataFusionError::from)?;
        Ok(
            RecordBatch::try_new(self.visible_write_schema.clone(), columns)
                .map_err(datafusion::error::DataFusionError::from)?,
        )
    }

    /// `batch` (already conformed) with its write sequence appended:
    /// `(commit version << 40) | row number within the commit`, so the
    /// order of writes is the order of sequence numbers.
    fn with_sequence(
        &self,
        batch: RecordBatch,
        version: u64,
        first_row: u64,
    ) -> Result<RecordBatch> {
        if !self.sequenced {
            return Ok(batch);
        }
        check_sequence_bounds(version, first_row + batch.num_rows() as u64)?;
        let base = (version << SEQUENCE_ROW_BITS) + first_row;
        let sequence = datafusion::arrow::array::Int64Array::from_iter_values(
            (0..batch.num_rows() as u64).map(|i| (base + i) as i64),
        );
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(sequence));
        Ok(RecordBatch::try_new(self.write_schema.clone(), columns)
            .map_err(datafusion::error::DataFusionError::from)?)
    }
}

/// Bits of the write sequence that number a row within its commit.
const SEQUENCE_ROW_BITS: u32 = 40;
/// The last commit version a sequenced table can take: the sequence is a
/// non-negative i64, so versions have 63 − 40 = 23 bits.
pub const MAX_SEQUENCED_VERSION: u64 = (1 << (63 - SEQUENCE_ROW_BITS)) - 1;
/// The most rows one commit of a sequenced table can hold.
pub const MAX_SEQUENCED_ROWS: u64 = 1 << SEQUENCE_ROW_BITS;

/// A write whose sequence numbers would overflow (and so invert the order
/// of writes AS OF breaks ties with) is refused before it is written.
fn check_sequence_bounds(version: u64, rows_after: u64) -> Result<()> {
    if version > MAX_SEQUENCED_VERSION {
        return Err(Error::LimitExceeded {
            limit: crate::error::Limit::ProgramLimit,
            message: format!(
                "this feature group has reached {MAX_SEQUENCED_VERSION} versions, the most a \
                 group with an event time can have; copy it into a new group \
                 (CREATE FEATURE GROUP … AS SELECT)"
            ),
        });
    }
    if rows_after > MAX_SEQUENCED_ROWS {
        return Err(Error::LimitExceeded {
            limit: crate::error::Limit::ProgramLimit,
            message: format!(
                "one statement can write at most {MAX_SEQUENCED_ROWS} rows into a feature group \
                 with an event time"
            ),
        });
    }
    Ok(())
}

/// Runs `work` to its end on its own task, whether or not the caller goes
/// on waiting for it.
pub async fn finish_detached<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T> {
    tokio::spawn(work)
        .await
        .map_err(|e| Error::Internal(format!("commit task failed: {e}")))
}

/// An append in progress: Parquet files are written as batches arrive and
/// committed as one Delta version by [`Append::commit`]. Dropping it without
/// committing leaves no trace (the files are never referenced).
pub struct Append {
    owner: Arc<OfflineTable>,
    table: tokio::sync::OwnedMutexGuard<DeltaTable>,
    writer: RecordBatchWriter,
    rows: u64,
}

impl Append {
    /// Validates and writes a batch whose columns are the table's, in order;
    /// returns it as written (stored types).
    pub async fn write(&mut self, batch: RecordBatch) -> Result<Option<RecordBatch>> {
        self.write_checked(batch, |_| Ok(())).await
    }

    /// [`Append::write`], after `check` accepted the batch in the table's
    /// write types (what the online store must also take).
    pub async fn write_checked(
        &mut self,
        batch: RecordBatch,
        check: impl FnOnce(&RecordBatch) -> Result<()>,
    ) -> Result<Option<RecordBatch>> {
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        self.owner.check_not_null(&batch)?;
        let batch = self.owner.conform(batch)?;
        check(&batch)?;
        // One writer per table, so the next commit's version is known.
        let version = self.table.version().unwrap_or(0) + 1;
        let stored = self
            .owner
            .with_sequence(batch.clone(), version, self.rows)?;
        self.rows += batch.num_rows() as u64;
        self.writer.write(stored).await?;
        Ok(Some(batch))
    }

    /// Commits what was written: `(rows, new Delta version)`, or `None` if
    /// nothing was written (no version is created then). Once started, the
    /// commit runs to its end even if the caller stops waiting (a cancelled
    /// or timed-out statement, a client gone): stopped half-way, the table
    /// would not know the version it just committed.
    pub async fn commit(self) -> Result<Option<(u64, u64)>> {
        finish_detached(self.commit_here()).await?
    }

    async fn commit_here(mut self) -> Result<Option<(u64, u64)>> {
        if self.rows == 0 {
            return Ok(None);
        }
        let table_dir = self.owner.path()?;
        crate::crash_point!("offline.files_written");
        let version = durable::commit_synced(&mut self.writer, &mut self.table, &table_dir).await?;
        self.owner.publish(Arc::new(self.table.clone()));
        Ok(Some((self.rows, version)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_sequences_stay_ordered_up_to_their_bounds() {
        let last = (MAX_SEQUENCED_VERSION << SEQUENCE_ROW_BITS) + (MAX_SEQUENCED_ROWS - 1);
        assert!(
            i64::try_from(last).is_ok(),
            "the largest sequence fits an i64"
        );
        assert!(check_sequence_bounds(MAX_SEQUENCED_VERSION, MAX_SEQUENCED_ROWS).is_ok());
        for (version, rows) in [(MAX_SEQUENCED_VERSION + 1, 1), (1, MAX_SEQUENCED_ROWS + 1)] {
            let refused = check_sequence_bounds(version, rows);
            assert!(
                matches!(
                    refused,
                    Err(Error::LimitExceeded {
                        limit: crate::error::Limit::ProgramLimit,
                        ..
                    })
                ),
                "{version} {rows}: {refused:?}"
            );
        }
    }
}
