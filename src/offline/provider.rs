//! DataFusion's view of an [`OfflineTable`]: scans are delegated to a Delta
//! scan built from the latest committed snapshot (so projection and filter
//! pushdown and file pruning are Delta's), and `INSERT` is planned as a
//! `DataSinkExec` whose sink streams into [`OfflineTable::append`].

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};

use super::IngestTarget;
use super::OfflineTable;

#[derive(Debug)]
pub struct OfflineTableProvider {
    table: Arc<OfflineTable>,
    /// Where `INSERT` sends rows: the table itself, or a feature group that
    /// also maintains an online store.
    target: IngestTarget,
    /// Scans include the write sequence (for AS OF joins).
    with_sequence: bool,
}

impl OfflineTableProvider {
    pub fn new(table: Arc<OfflineTable>) -> Self {
        OfflineTableProvider {
            target: table.clone(),
            table,
            with_sequence: false,
        }
    }

    pub fn with_target(table: Arc<OfflineTable>, target: IngestTarget) -> Self {
        OfflineTableProvider {
            table,
            target,
            with_sequence: false,
        }
    }

    pub fn target(&self) -> &IngestTarget {
        &self.target
    }

    pub fn table(&self) -> &Arc<OfflineTable> {
        &self.table
    }

    /// Whether writes go to the table alone (not a feature group that also
    /// keeps an online store or a write sequence).
    pub fn is_plain_table(&self) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.target), Arc::as_ptr(&self.table))
            && !self.table.keeps_write_sequence()
    }
}

/// Plans a scan of one Delta snapshot (the latest, or one loaded for time
/// travel) in `state`; `schema` is the provider's, which may leave out the
/// write sequence.
pub(super) async fn scan_snapshot(
    table: &deltalake::DeltaTable,
    state: &dyn Session,
    schema: &SchemaRef,
    projection: Option<&Vec<usize>>,
    filters: &[Expr],
    limit: Option<usize>,
) -> Result<Arc<dyn ExecutionPlan>> {
    table
        .update_datafusion_session(state)
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let provider = table.table_provider().await?;
    let all_visible: Vec<usize> = (0..schema.fields().len()).collect();
    let projection = projection.or(Some(&all_visible));
    provider.scan(state, projection, filters, limit).await
}

/// A provider whose scans also produce [`super::WRITE_SEQUENCE_COLUMN`];
/// `None` when the table keeps no write sequence.
pub trait SequencedScan {
    fn with_write_sequence(&self) -> Option<Arc<dyn TableProvider>>;
}

impl SequencedScan for OfflineTableProvider {
    fn with_write_sequence(&self) -> Option<Arc<dyn TableProvider>> {
        if !self.table.keeps_write_sequence() {
            return None;
        }
        Some(Arc::new(OfflineTableProvider {
            table: self.table.clone(),
            target: self.target.clone(),
            with_sequence: true,
        }))
    }
}

#[async_trait]
impl TableProvider for OfflineTableProvider {
    fn schema(&self) -> SchemaRef {
        self.table.scan_schema(self.with_sequence)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = TableProvider::schema(self);
        scan_snapshot(
            &self.table.latest(),
            state,
            &schema,
            projection,
            filters,
            limit,
        )
        .await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Delta prunes files with the filters but DataFusion re-applies them.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return Err(DataFusionError::NotImplemented(format!(
                "{insert_op} into \"{}\" is not supported; only INSERT appends",
                self.table.name()
            )));
        }
        let sink = IngestSink::new(self.target.clone());
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

/// The sink reports every column as nullable so that DataFusion's generic
/// null check (which names columns by index) does not run; the table's own
/// check names the column and the relation, as Postgres does.
#[derive(Debug)]
struct IngestSink {
    target: IngestTarget,
    permissive_schema: SchemaRef,
}

impl IngestSink {
    fn new(target: IngestTarget) -> Self {
        let schema = target.schema();
        let permissive_schema = Arc::new(Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| Field::new(f.name(), f.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        IngestSink {
            target,
            permissive_schema,
        }
    }
}

impl DisplayAs for IngestSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "IngestSink: target={}", self.target.name())
    }
}

#[async_trait]
impl DataSink for IngestSink {
    fn schema(&self) -> &SchemaRef {
        &self.permissive_schema
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        self.target
            .clone()
            .ingest(data)
            .await
            .map_err(DataFusionError::from)
    }
}
