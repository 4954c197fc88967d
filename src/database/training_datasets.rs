//! Training datasets: a feature view's rows materialised once as immutable
//! Parquet (under `<data-dir>/datasets/<storage-id>`), with a `split`
//! column, and the inputs that reproduce them recorded in the catalog.
//!
//! The recorded query reads every feature group at the offline (Delta)
//! version it had when the dataset was made (`fstore_time_travel`), so
//! re-running it after later writes, late data included, gives the same
//! rows. Rows are written sorted by every column, so the files are the same
//! bit for bit. Random splits hash the seed with the row's serving key and
//! event time (`fstore_unit_hash`): the same entity at the same time always
//! lands in the same split.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, Float64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, TableProviderFilterPushDown,
    Volatility,
};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::sqlparser::ast::{
    FunctionArg, FunctionArgExpr, TableFactor, TableFunctionArgs, Value, VisitMut, VisitorMut,
};
use pgwire::api::results::Tag;

use super::feature_groups::{now_micros, sql_string};
use super::feature_views::parse_query;
use super::versioned::{Dropping, VersionedName};
use super::{Database, Outcome};
use crate::catalog::{DefKind, TrainingDatasetDef, versioned_name};
use crate::error::{Error, Result};
use crate::sql::QualifiedName;
use crate::sql::ast::{CreateTrainingDataset, Split};

/// Sends progress messages to the client while a statement runs.
pub type Progress = tokio::sync::mpsc::UnboundedSender<String>;

pub(super) fn datasets_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("datasets")
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

impl Database {
    pub(super) fn dataset_path(&self, storage_id: &str) -> PathBuf {
        datasets_dir(&self.config.data_dir).join(storage_id)
    }

    fn training_dataset_versions(
        &self,
        schema: &str,
        name: &str,
    ) -> Result<Vec<TrainingDatasetDef>> {
        Ok(self
            .catalog
            .defs::<TrainingDatasetDef>(DefKind::TrainingDataset)?
            .into_iter()
            .filter(|d| d.schema == schema && d.name == name)
            .collect())
    }

    pub(super) fn find_training_dataset(
        &self,
        name: &QualifiedName,
        version: Option<u64>,
    ) -> Result<TrainingDatasetDef> {
        training_dataset(name, version).find(
            self.training_dataset_versions(&name.schema, &name.name)?,
            |d| d.version,
        )
    }

    /// The training dataset a relation name means: `name` (latest) or
    /// `name_vN`.
    pub(super) fn training_dataset_by_relation(
        &self,
        schema: &str,
        relation: &str,
    ) -> Result<Option<TrainingDatasetDef>> {
        let defs = self
            .catalog
            .defs::<TrainingDatasetDef>(DefKind::TrainingDataset)?;
        let latest = defs
            .iter()
            .rev()
            .find(|d| d.schema == schema && d.name == relation);
        Ok(latest
            .or_else(|| {
                defs.iter()
                    .find(|d| d.schema == schema && d.versioned_name() == relation)
            })
            .cloned())
    }

    pub(super) fn training_dataset_name_taken(&self, schema: &str, name: &str) -> Result<bool> {
        Ok(self
            .catalog
            .defs::<TrainingDatasetDef>(DefKind::TrainingDataset)?
            .iter()
            .any(|d| d.schema == schema && (d.name == name || d.versioned_name() == name)))
    }

    pub(super) async fn create_training_dataset(
        &self,
        create: &CreateTrainingDataset,
        progress: Option<&Progress>,
    ) -> Result<Outcome> {
        let tag = Tag::new("CREATE TRAINING DATASET");
        let name = QualifiedName::from_object_name(&create.name)?;
        self.schema_provider(&name.schema)?;
        let versions = self.training_dataset_versions(&name.schema, &name.name)?;
        let version = match create.version {
            Some(v) => v,
            None => versions.last().map_or(1, |d| d.version + 1),
        };
        if versions.iter().any(|d| d.version == version) {
            let described = format!("{name} version {version}");
            if create.if_not_exists {
                return Ok(Outcome {
                    tag,
                    notices: vec![format!(
                        "training dataset \"{described}\" already exists, skipping"
                    )],
                });
            }
            return Err(Error::DuplicateObject {
                kind: "training dataset",
                name: described,
            });
        }
        if versions.is_empty()
            && (self.name_in_use(&name.schema, &name.name)?
                || self.name_in_use(&name.schema, &versioned_name(&name.name, version))?)
        {
            return Err(Error::DuplicateTable(name.to_string()));
        }
        let view_name = QualifiedName::from_object_name(&create.view)?;
        let view = self.find_feature_view(&view_name, create.view_version)?;

        // Pin every feature group to its current offline version.
        let mut offline_versions = BTreeMap::new();
        for group_name in &view.feature_groups {
            let (schema, versioned) = group_name
                .split_once('.')
                .ok_or_else(|| Error::Internal(format!("bad feature group name {group_name}")))?;
            let group = self
                .resolve_feature_group(&QualifiedName {
                    schema: schema.into(),
                    name: versioned.into(),
                })
                .ok_or_else(|| Error::UndefinedObject {
                    kind: "feature group",
                    name: group_name.clone(),
                })?;
            offline_versions.insert(group_name.clone(), group.offline.version());
        }
        let mut view_query = parse_query(&view.query)?;
        read_at_versions(&mut view_query, &offline_versions);
        crate::sql::asof::nest_asof_joins(&mut view_query);

        let split_expr = match &create.split {
            None => "'train'".to_string(),
            Some(Split::Random { fractions, seed }) => {
                let total: f64 = fractions.iter().map(|(_, f)| f).sum();
                if fractions.iter().any(|(_, f)| *f <= 0.0) || (total - 1.0).abs() > 1e-9 {
                    return Err(Error::InvalidParameter(format!(
                        "split fractions must be positive and add up to 1, not {total}"
                    )));
                }
                let mut hashed: Vec<String> =
                    view.serving_key.iter().map(|k| quote_ident(k)).collect();
                hashed.extend(view.event_time.iter().map(|t| quote_ident(t)));
                let unit = format!("{HASH_FUNCTION}({seed}, {})", hashed.join(", "));
                let mut cumulative = 0.0;
                let arms: Vec<String> = fractions
                    .iter()
                    .enumerate()
                    .map(|(i, (split, fraction))| {
                        cumulative += fraction;
                        let bound = if i + 1 == fractions.len() {
                            2.0
                        } else {
                            cumulative
                        };
                        format!("WHEN {unit} < {bound} THEN {}", sql_string(&split.value))
                    })
                    .collect();
                format!("CASE {} END", arms.join(" "))
            }
            Some(Split::ByTime { parts }) => {
                let event_time = view.event_time.as_ref().ok_or_else(|| {
                    Error::InvalidDefinition(format!(
                        "SPLIT BY TIME needs an event time, and feature view \"{view_name}\" has none"
                    ))
                })?;
                let arms: Vec<String> = parts
                    .iter()
                    .map(|(split, op, value)| {
                        format!(
                            "WHEN {} {op} {value} THEN {}",
                            quote_ident(event_time),
                            sql_string(&split.value)
                        )
                    })
                    .collect();
                format!("CASE {} END", arms.join(" "))
            }
        };
        let seed = match &create.split {
            Some(Split::Random { seed, .. }) => Some(*seed),
            _ => None,
        };
        let filter = create.filter.as_ref().map(|f| f.to_string());
        let where_clause = filter
            .as_ref()
            .map(|f| format!(" WHERE {f}"))
            .unwrap_or_default();
        let inner = format!(
            "SELECT *, {split_expr} AS split FROM ({view_query}) AS fstore_view{where_clause}"
        );
        // Sorted by every column: the same inputs give the same files. The
        // query is planned once; `query` records the same steps as SQL.
        let planned = self.ctx.sql(&inner).await?;
        let columns = planned.schema().columns();
        let order: Vec<String> = (1..=columns.len()).map(|i| i.to_string()).collect();
        let query = format!(
            "SELECT * FROM ({inner}) AS fstore_rows WHERE split IS NOT NULL ORDER BY {}",
            order.join(", ")
        );
        let split_column = columns
            .last()
            .cloned()
            .ok_or_else(|| Error::Internal("a training dataset query has no columns".into()))?;
        let sort_keys = columns
            .into_iter()
            .map(|c| datafusion::prelude::Expr::Column(c).sort(true, false))
            .collect::<Vec<_>>();
        let frame = planned
            .filter(datafusion::prelude::Expr::Column(split_column).is_not_null())?
            .sort(sort_keys)?;

        if let Some(progress) = progress {
            let versions: Vec<String> = offline_versions
                .iter()
                .map(|(group, version)| format!("{group} at version {version}"))
                .collect();
            let _ = progress.send(format!(
                "training dataset \"{name}\": reading feature view \"{}.{}\" ({})",
                view.schema,
                view.versioned_name(),
                versions.join(", ")
            ));
        }
        let storage_id = uuid::Uuid::new_v4().to_string();
        let dir = self.dataset_path(&storage_id);
        let written = async {
            let mut stream = frame.execute_stream().await?;
            std::fs::create_dir_all(&dir)?;
            let file = std::fs::File::create(dir.join("part-00000.parquet"))?;
            let mut writer = ArrowWriter::try_new(file, stream.schema(), None)
                .map_err(datafusion::error::DataFusionError::from)?;
            let mut rows = 0u64;
            let mut reported = 0u64;
            while let Some(batch) = crate::statement_stop::next(&mut stream).await? {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                writer
                    .write(&batch)
                    .map_err(datafusion::error::DataFusionError::from)?;
                if let Some(progress) = progress
                    && rows - reported >= 100_000
                {
                    reported = rows;
                    let _ =
                        progress.send(format!("training dataset \"{name}\": {rows} rows written"));
                }
            }
            drop(
                writer
                    .into_inner()
                    .map_err(datafusion::error::DataFusionError::from)?,
            );
            // The file, its directory and that directory's entry: the
            // catalog names the dataset only after all three are durable.
            crate::offline::durable::sync_tree(&dir)?;
            Ok::<_, Error>(rows)
        }
        .await;
        let rows = match written {
            Ok(rows) => rows,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        crate::crash_point!("training_dataset.data_written");
        let def = TrainingDatasetDef {
            schema: name.schema.clone(),
            name: name.name.clone(),
            version,
            feature_view: format!("{}.{}", view.schema, view.versioned_name()),
            query,
            offline_versions,
            filter,
            split: create.split.as_ref().map(|s| s.to_string()),
            seed,
            rows,
            storage_id,
            description: create.comment.clone(),
            created_at_micros: now_micros(),
        };
        if let Err(e) = self.catalog.put_def(
            DefKind::TrainingDataset,
            (&def.schema, &def.name, def.version),
            &def,
        ) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        self.register_training_dataset_names(&def.schema, &def.name)
            .await?;
        Ok(Outcome {
            tag,
            notices: vec![format!(
                "training dataset \"{name}\" version {version}: {rows} rows from feature view \"{}\"",
                def.feature_view
            )],
        })
    }

    async fn register_training_dataset_names(&self, schema: &str, name: &str) -> Result<()> {
        let provider = self.schema_provider(schema)?;
        provider.deregister_table(name)?;
        let versions = self.training_dataset_versions(schema, name)?;
        for def in &versions {
            provider.deregister_table(&def.versioned_name())?;
            provider.register_table(def.versioned_name(), self.dataset_table(def).await?)?;
        }
        if let Some(latest) = versions.last() {
            provider.register_table(name.to_string(), self.dataset_table(latest).await?)?;
        }
        Ok(())
    }

    async fn dataset_table(&self, def: &TrainingDatasetDef) -> Result<Arc<dyn TableProvider>> {
        let dir = std::path::absolute(self.dataset_path(&def.storage_id))?;
        let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let state = self.ctx.state();
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .infer_schema(&state)
            .await?;
        Ok(Arc::new(ReadOnly {
            name: format!("{}.{}", def.schema, def.versioned_name()),
            inner: Arc::new(ListingTable::try_new(config)?),
        }))
    }

    pub(super) async fn restore_training_datasets(&self) -> Result<()> {
        let defs: Vec<TrainingDatasetDef> = self.catalog.defs(DefKind::TrainingDataset)?;
        let names: std::collections::BTreeSet<(String, String)> = defs
            .iter()
            .map(|d| (d.schema.clone(), d.name.clone()))
            .collect();
        for (schema, name) in names {
            if let Err(e) = self.register_training_dataset_names(&schema, &name).await {
                tracing::warn!(training_dataset = %format!("{schema}.{name}"), error = %e, "training dataset could not be opened");
            }
        }
        Ok(())
    }

    pub(super) async fn drop_training_dataset(
        &self,
        name: &QualifiedName,
        version: Option<u64>,
        if_exists: bool,
    ) -> Result<Outcome> {
        let tag = Tag::new("DROP TRAINING DATASET");
        let targets = match training_dataset(name, version).to_drop(
            self.training_dataset_versions(&name.schema, &name.name)?,
            |d| d.version,
            if_exists,
            "DROP TRAINING DATASET",
        )? {
            Dropping::Versions(targets) => targets,
            Dropping::Skipped(outcome) => return Ok(outcome),
        };
        let keys: Vec<(String, String, u64)> = targets
            .iter()
            .map(|d| (d.schema.clone(), d.name.clone(), d.version))
            .collect();
        self.catalog.delete_defs(DefKind::TrainingDataset, &keys)?;
        let provider = self.schema_provider(&name.schema)?;
        for def in &targets {
            provider.deregister_table(&def.versioned_name())?;
        }
        self.register_training_dataset_names(&name.schema, &name.name)
            .await?;
        for def in &targets {
            if let Err(e) = std::fs::remove_dir_all(self.dataset_path(&def.storage_id)) {
                tracing::warn!(error = %e, "could not remove a dropped training dataset's files");
            }
        }
        Ok(Outcome {
            tag,
            notices: Vec::new(),
        })
    }
}

/// Replaces each pinned feature group (`"schema"."name_vN"`) in a view's
/// query with a read of it at the recorded offline version.
fn read_at_versions(
    query: &mut datafusion::sql::sqlparser::ast::Query,
    versions: &BTreeMap<String, u64>,
) {
    struct Reader<'a>(&'a BTreeMap<String, u64>);
    impl VisitorMut for Reader<'_> {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            let TableFactor::Table { name, args, .. } = factor else {
                return ControlFlow::Continue(());
            };
            if args.is_some() {
                return ControlFlow::Continue(());
            }
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
                .collect();
            let key = parts.join(".");
            let Some(version) = self.0.get(&key) else {
                return ControlFlow::Continue(());
            };
            let literal = |s: String| {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(
                    datafusion::sql::sqlparser::ast::Expr::Value(
                        Value::SingleQuotedString(s).into(),
                    ),
                ))
            };
            *name = datafusion::sql::sqlparser::ast::ObjectName::from(vec![
                datafusion::sql::sqlparser::ast::Ident::new(
                    crate::sql::time_travel::TIME_TRAVEL_FUNCTION,
                ),
            ]);
            *args = Some(TableFunctionArgs {
                args: vec![
                    literal(
                        parts
                            .iter()
                            .map(|p| quote_ident(p))
                            .collect::<Vec<_>>()
                            .join("."),
                    ),
                    literal("version".into()),
                    literal(version.to_string()),
                ],
                settings: None,
            });
            ControlFlow::Continue(())
        }
    }
    let _ = query.visit(&mut Reader(versions));
}

/// A training dataset's files, readable and never written.
#[derive(Debug)]
struct ReadOnly {
    name: String,
    inner: Arc<dyn TableProvider>,
}

#[async_trait]
impl TableProvider for ReadOnly {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
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
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        self.inner.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        _input: Arc<dyn ExecutionPlan>,
        _insert_op: InsertOp,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Err(Error::WrongObjectType {
            name: self.name.clone(),
            expected: "table or feature group",
            hint: Some("training datasets are immutable; create a new version instead".into()),
        }
        .into())
    }
}

/// `fstore_unit_hash(seed, value, …)`: a number in [0, 1) that depends only
/// on the seed and the values' text, stable across runs and releases
/// (FNV-1a over the seed and each value's text form).
pub const HASH_FUNCTION: &str = "fstore_unit_hash";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UnitHash {
    signature: Signature,
}

impl Default for UnitHash {
    fn default() -> Self {
        UnitHash {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for UnitHash {
    fn name(&self) -> &str {
        HASH_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = args
            .args
            .iter()
            .map(|a| {
                let array = a.to_array(rows)?;
                Ok(cast(&array, &DataType::Utf8)?)
            })
            .collect::<datafusion::error::Result<Vec<ArrayRef>>>()?;
        let texts: Vec<&StringArray> = arrays
            .iter()
            .map(|a| {
                a.as_any().downcast_ref::<StringArray>().ok_or_else(|| {
                    datafusion::error::DataFusionError::Internal("cast to text failed".into())
                })
            })
            .collect::<datafusion::error::Result<_>>()?;
        let values = (0..rows).map(|row| {
            const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
            const PRIME: u64 = 0x0000_0100_0000_01b3;
            let mut hash = OFFSET;
            for text in &texts {
                let bytes: &[u8] = if text.is_null(row) {
                    b"\xff"
                } else {
                    text.value(row).as_bytes()
                };
                for byte in bytes.iter().chain(b"\x00") {
                    hash ^= u64::from(*byte);
                    hash = hash.wrapping_mul(PRIME);
                }
            }
            (hash >> 11) as f64 / (1u64 << 53) as f64
        });
        Ok(ColumnarValue::Array(Arc::new(
            Float64Array::from_iter_values(values),
        )))
    }
}

fn training_dataset(name: &QualifiedName, version: Option<u64>) -> VersionedName<'_> {
    VersionedName {
        kind: "training dataset",
        name,
        version,
    }
}
