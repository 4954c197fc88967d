//! `fstore_time_travel(name, 'version' | 'timestamp', value)`: a table (or
//! feature group version) as it was at a Delta version or point in time.
//! The SQL surface is `name VERSION AS OF n` / `name TIMESTAMP AS OF '…'`
//! (see `sql::time_travel`).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::catalog::{
    CatalogProviderList, Session, TableFunctionArgs, TableFunctionImpl, TableProvider,
};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::scalar::ScalarValue;
use deltalake::DeltaTableBuilder;

use super::{OfflineTable, OfflineTableProvider};

#[derive(Debug, Clone, Copy)]
enum AsOf {
    Version(u64),
    /// Microseconds since the epoch, UTC.
    Timestamp(i64),
}

/// The table function; resolves names in the session's catalogs.
#[derive(Debug)]
pub struct TimeTravelFunction {
    catalogs: Arc<dyn CatalogProviderList>,
    default_catalog: String,
    default_schema: String,
}

impl TimeTravelFunction {
    pub fn new(
        catalogs: Arc<dyn CatalogProviderList>,
        default_catalog: &str,
        default_schema: &str,
    ) -> Self {
        TimeTravelFunction {
            catalogs,
            default_catalog: default_catalog.into(),
            default_schema: default_schema.into(),
        }
    }
}

fn string_argument(expr: &Expr, what: &str) -> Result<String> {
    match expr {
        Expr::Literal(ScalarValue::Utf8(Some(s)), _)
        | Expr::Literal(ScalarValue::Utf8View(Some(s)), _)
        | Expr::Literal(ScalarValue::LargeUtf8(Some(s)), _) => Ok(s.clone()),
        other => Err(DataFusionError::Plan(format!(
            "time travel needs a literal {what}, not {other}"
        ))),
    }
}

impl TableFunctionImpl for TimeTravelFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let [name, kind, value] = args.exprs() else {
            return Err(DataFusionError::Plan(
                "fstore_time_travel takes a table name, 'version' or 'timestamp', and a value"
                    .into(),
            ));
        };
        let name = string_argument(name, "table name")?;
        let kind = string_argument(kind, "kind")?;
        let value = string_argument(value, "value")?;
        let as_of = match kind.as_str() {
            "version" => AsOf::Version(value.parse::<u64>().map_err(|_| {
                DataFusionError::Plan(format!("VERSION AS OF needs a version number, not {value}"))
            })?),
            "timestamp" => {
                let cast = ScalarValue::Utf8(Some(value.clone()))
                    .cast_to(&DataType::Timestamp(TimeUnit::Microsecond, None))
                    .map_err(|_| {
                        DataFusionError::Plan(format!(
                            "TIMESTAMP AS OF needs a timestamp such as '2026-01-01 00:00:00', not '{value}'"
                        ))
                    })?;
                match cast {
                    ScalarValue::TimestampMicrosecond(Some(micros), _) => AsOf::Timestamp(micros),
                    _ => {
                        return Err(DataFusionError::Plan(format!(
                            "TIMESTAMP AS OF needs a timestamp, not '{value}'"
                        )));
                    }
                }
            }
            other => {
                return Err(DataFusionError::Plan(format!(
                    "unknown time travel kind {other}"
                )));
            }
        };
        let provider = self.resolve(&name)?;
        let Some(offline) = provider.downcast_ref::<OfflineTableProvider>() else {
            return Err(DataFusionError::Plan(format!(
                "\"{name}\" has no history: VERSION/TIMESTAMP AS OF applies to tables and feature groups"
            )));
        };
        Ok(Arc::new(TimeTravelProvider {
            table: offline.table().clone(),
            as_of,
            with_sequence: false,
        }))
    }
}

impl TimeTravelFunction {
    fn resolve(&self, name: &str) -> Result<Arc<dyn TableProvider>> {
        let reference = datafusion::common::TableReference::parse_str(name);
        let catalog_name = reference.catalog().unwrap_or(&self.default_catalog);
        let schema_name = reference.schema().unwrap_or(&self.default_schema);
        self.catalogs
            .catalog(catalog_name)
            .and_then(|c| c.schema(schema_name))
            .map(|schema| {
                // In-memory schema providers answer without I/O.
                futures::executor::block_on(schema.table(reference.table()))
            })
            .transpose()?
            .flatten()
            .ok_or_else(|| DataFusionError::Plan(format!("table '{name}' not found")))
    }
}

/// `fstore_with_write_sequence(name)`: a feature group's latest rows with
/// their write sequence as the last column, which `DELETE FROM` a group
/// keeps for the rows that stay.
pub const WRITE_SEQUENCE_FUNCTION: &str = "fstore_with_write_sequence";

#[derive(Debug)]
pub struct WriteSequenceFunction(pub TimeTravelFunction);

impl TableFunctionImpl for WriteSequenceFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let [name] = args.exprs() else {
            return Err(DataFusionError::Plan(format!(
                "{WRITE_SEQUENCE_FUNCTION} takes a table name"
            )));
        };
        let name = string_argument(name, "table name")?;
        let provider = self.0.resolve(&name)?;
        provider
            .downcast_ref::<OfflineTableProvider>()
            .and_then(super::provider::SequencedScan::with_write_sequence)
            .ok_or_else(|| DataFusionError::Plan(format!("\"{name}\" keeps no write sequence")))
    }
}

#[derive(Debug)]
pub(super) struct TimeTravelProvider {
    table: Arc<OfflineTable>,
    as_of: AsOf,
    with_sequence: bool,
}

impl super::provider::SequencedScan for TimeTravelProvider {
    fn with_write_sequence(&self) -> Option<Arc<dyn TableProvider>> {
        if !self.table.keeps_write_sequence() {
            return None;
        }
        Some(Arc::new(TimeTravelProvider {
            table: self.table.clone(),
            as_of: self.as_of,
            with_sequence: true,
        }))
    }
}

#[async_trait]
impl TableProvider for TimeTravelProvider {
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
        let latest = self.table.latest();
        let mut table = DeltaTableBuilder::from_url(latest.table_url().clone())
            .and_then(|b| b.build())
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let loaded = match self.as_of {
            AsOf::Version(version) => table.load_version(version).await,
            AsOf::Timestamp(micros) => {
                let at = chrono::DateTime::from_timestamp_micros(micros).ok_or_else(|| {
                    DataFusionError::Plan("TIMESTAMP AS OF is out of range".into())
                })?;
                table.load_with_datetime(at).await
            }
        };
        loaded.map_err(|e| {
            tracing::debug!(error = %e, "time travel failed");
            DataFusionError::Plan(format!(
                "\"{}\" has no {} (its latest version is {})",
                self.table.name(),
                match self.as_of {
                    AsOf::Version(v) => format!("version {v}"),
                    AsOf::Timestamp(_) => "data at that time".to_string(),
                },
                self.table.version()
            ))
        })?;
        let schema = TableProvider::schema(self);
        super::provider::scan_snapshot(&table, state, &schema, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}
