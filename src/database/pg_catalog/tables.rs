//! The `pg_catalog` schema itself: datafusion-pg-catalog's tables, with
//! fstore's rows added (descriptions, primary keys, settings) and
//! `pg_tables`/`pg_views` corrected from `pg_class`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, Int32Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Fields, Int16Type, Int32Type, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use super::arrays;
use super::columns::{batch_of, int32_column, keep_relations, scan_all, utf8_column};
use super::facts::{
    BTREE_ACCESS_METHOD_OID, CONSTRAINT_OID_BASE, CatalogFacts, INDEX_OID_BASE, PG_CATALOG,
    PG_CLASS_OID, SeenRelation,
};
use super::functions::functions;
use super::information_schema::{INFORMATION_SCHEMA, InformationSchemaOverlay};
use super::settings::settings_batch;

/// Replaces the `pg_catalog` schema of `ctx` with the overlay and registers
/// its functions.
pub fn install(ctx: &SessionContext, catalog: &str) -> Result<Arc<CatalogFacts>> {
    let provider = ctx
        .catalog(catalog)
        .ok_or_else(|| DataFusionError::Plan(format!("catalog {catalog} is not registered")))?;
    let inner = provider
        .schema(PG_CATALOG)
        .ok_or_else(|| DataFusionError::Plan("pg_catalog is not registered".into()))?;
    let facts = Arc::new(CatalogFacts::default());
    provider.register_schema(
        PG_CATALOG,
        Arc::new(PgCatalogOverlay {
            inner,
            facts: facts.clone(),
        }),
    )?;
    provider.register_schema(
        INFORMATION_SCHEMA,
        Arc::new(InformationSchemaOverlay::new(
            ctx.state().catalog_list().clone(),
            catalog,
            facts.clone(),
        )),
    )?;
    for udf in functions(&facts)
        .into_iter()
        .chain(super::reflection::functions(&facts))
        .chain(super::routines::functions(&facts.routines))
    {
        ctx.register_udf(udf);
    }
    Ok(facts)
}

/// Key columns by `(schema, relation)`.
type PrimaryKeys = HashMap<(String, String), Vec<String>>;

#[derive(Debug)]
struct PgCatalogOverlay {
    inner: Arc<dyn SchemaProvider>,
    facts: Arc<CatalogFacts>,
}

impl std::fmt::Debug for CatalogFacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogFacts").finish_non_exhaustive()
    }
}

#[async_trait]
impl SchemaProvider for PgCatalogOverlay {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(inner) = self.inner.table(name).await? else {
            return Ok(None);
        };
        let extra = match name.to_ascii_lowercase().as_str() {
            "pg_class" => Extra::RecordRelations,
            "pg_description" => Extra::Descriptions,
            "pg_constraint" => Extra::PrimaryKeys,
            "pg_index" => Extra::PrimaryKeyIndexes,
            "pg_tables" => Extra::Tables,
            "pg_views" => Extra::Views,
            "pg_proc" => Extra::Typed,
            "pg_attribute" => Extra::Attributes,
            "pg_settings" => {
                return Ok(Some(Arc::new(MemTable::try_new(
                    inner.schema(),
                    vec![vec![settings_batch(&inner.schema())?]],
                )?)));
            }
            _ => return Ok(Some(inner)),
        };
        let table = name.to_ascii_lowercase();
        let schema = if arrays::has_array_columns(&table) {
            arrays::typed_schema(&table, &inner.schema())
        } else {
            inner.schema()
        };
        Ok(Some(Arc::new(OverlayTable {
            inner,
            table,
            schema,
            schema_provider: self.inner.clone(),
            facts: self.facts.clone(),
            extra,
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

#[derive(Debug, Clone, Copy)]
enum Extra {
    RecordRelations,
    Descriptions,
    PrimaryKeys,
    /// The index behind each primary key (`<name>_pkey`), as `pg_index`
    /// rows and as `pg_class` rows of kind `i`.
    PrimaryKeyIndexes,
    /// datafusion-pg-catalog lists views in `pg_tables`, and `pg_views`
    /// holds only system views: both are corrected from `pg_class`.
    Tables,
    Views,
    /// Only array columns typed (see `arrays`).
    Typed,
    /// `atttypmod` of numeric columns from their precision and scale, so
    /// `format_type` prints `numeric(10,2)` as PostgreSQL does.
    Attributes,
}

#[derive(Debug)]
struct OverlayTable {
    inner: Arc<dyn TableProvider>,
    /// The table's name, lowercase.
    table: String,
    /// The inner table's schema, with array columns typed as arrays.
    schema: SchemaRef,
    schema_provider: Arc<dyn SchemaProvider>,
    facts: Arc<CatalogFacts>,
    extra: Extra,
}

impl OverlayTable {
    /// Reads `pg_class` and `pg_namespace` and records every relation's OID.
    async fn record_relations(&self, state: &dyn Session) -> Result<Vec<RecordBatch>> {
        let pg_class = match self.extra {
            Extra::RecordRelations => self.inner.clone(),
            _ => self
                .schema_provider
                .table("pg_class")
                .await?
                .ok_or_else(|| DataFusionError::Plan("pg_class is missing".into()))?,
        };
        let pg_namespace = self
            .schema_provider
            .table("pg_namespace")
            .await?
            .ok_or_else(|| DataFusionError::Plan("pg_namespace is missing".into()))?;
        let mut namespaces = HashMap::new();
        for batch in scan_all(&pg_namespace, state).await? {
            let oids = int32_column(&batch, "oid")?;
            let names = utf8_column(&batch, "nspname")?;
            for (row, name) in names.into_iter().enumerate() {
                namespaces.insert(oids.value(row), name);
            }
        }
        let batches = scan_all(&pg_class, state).await?;
        let mut relations = HashMap::new();
        for batch in &batches {
            let oids = int32_column(batch, "oid")?;
            let names = utf8_column(batch, "relname")?;
            let spaces = int32_column(batch, "relnamespace")?;
            let kinds = utf8_column(batch, "relkind")?;
            for row in 0..batch.num_rows() {
                if let Some(schema) = namespaces.get(&spaces.value(row)) {
                    relations.insert(
                        oids.value(row),
                        SeenRelation {
                            schema: schema.clone(),
                            name: names[row].clone(),
                            namespace: spaces.value(row),
                            kind: kinds[row].clone(),
                        },
                    );
                }
            }
        }
        *self
            .facts
            .relations
            .write()
            .unwrap_or_else(|e| e.into_inner()) = relations;
        Ok(batches)
    }

    /// Our rows, as (column → value) maps in the table's schema.
    fn extra_rows(&self) -> Vec<HashMap<&'static str, ScalarValue>> {
        let relations = self.facts.seen_relations();
        let aliases = match self.extra {
            Extra::Views | Extra::PrimaryKeys | Extra::PrimaryKeyIndexes => {
                self.facts.version_aliases()
            }
            _ => Default::default(),
        };
        let keys = match self.extra {
            Extra::PrimaryKeys | Extra::PrimaryKeyIndexes => self.primary_keys(),
            _ => Default::default(),
        };
        // `'pg_class'::regclass` resolves through the emulated pg_class,
        // whose OID for itself is not Postgres's 1259.
        let pg_class_oid = self
            .facts
            .oid_of(PG_CATALOG, "pg_class")
            .unwrap_or(PG_CLASS_OID);
        let mut rows = Vec::new();
        let mut sorted: Vec<_> = relations.into_iter().collect();
        sorted.sort_by_key(|(oid, _)| *oid);
        for (oid, relation) in sorted {
            let SeenRelation {
                schema,
                name,
                namespace,
                kind,
            } = relation;
            if schema == PG_CATALOG || schema == "information_schema" {
                continue;
            }
            if let Extra::Views = self.extra {
                if kind == "v" && !aliases.contains(&(schema.clone(), name.clone())) {
                    rows.push(HashMap::from([
                        ("schemaname", ScalarValue::from(schema)),
                        ("viewname", ScalarValue::from(name)),
                        ("viewowner", ScalarValue::from("postgres")),
                    ]));
                }
                continue;
            }
            if matches!(self.extra, Extra::PrimaryKeys | Extra::PrimaryKeyIndexes) {
                let relation = (schema.clone(), name.clone());
                if aliases.contains(&relation) {
                    continue;
                }
                let Some(primary_key) = keys.get(&relation) else {
                    continue;
                };
                let Some(columns) = self.column_numbers(&schema, &name) else {
                    continue;
                };
                let key: Vec<ScalarValue> = primary_key
                    .iter()
                    .filter_map(|k| columns.get(k))
                    .map(|n| ScalarValue::Int16(Some(*n)))
                    .collect();
                let int2_list = |values: &[ScalarValue]| {
                    ScalarValue::List(ScalarValue::new_list_nullable(values, &DataType::Int16))
                };
                if let Extra::PrimaryKeyIndexes = self.extra {
                    let zeros = vec![ScalarValue::Int16(Some(0)); key.len()];
                    let width = ScalarValue::Int16(Some(key.len() as i16));
                    rows.push(HashMap::from([
                        ("indexrelid", ScalarValue::Int32(Some(INDEX_OID_BASE + oid))),
                        ("indrelid", ScalarValue::Int32(Some(oid))),
                        ("indnatts", width.clone()),
                        ("indnkeyatts", width),
                        ("indisunique", ScalarValue::Boolean(Some(true))),
                        ("indnullsnotdistinct", ScalarValue::Boolean(Some(false))),
                        ("indisprimary", ScalarValue::Boolean(Some(true))),
                        ("indisexclusion", ScalarValue::Boolean(Some(false))),
                        ("indimmediate", ScalarValue::Boolean(Some(true))),
                        ("indisclustered", ScalarValue::Boolean(Some(false))),
                        ("indisvalid", ScalarValue::Boolean(Some(true))),
                        ("indcheckxmin", ScalarValue::Boolean(Some(false))),
                        ("indisready", ScalarValue::Boolean(Some(true))),
                        ("indislive", ScalarValue::Boolean(Some(true))),
                        ("indisreplident", ScalarValue::Boolean(Some(false))),
                        ("indkey", int2_list(&key)),
                        ("indoption", int2_list(&zeros)),
                    ]));
                    continue;
                }
                rows.push(HashMap::from([
                    ("oid", ScalarValue::Int32(Some(CONSTRAINT_OID_BASE + oid))),
                    ("conname", ScalarValue::from(format!("{name}_pkey"))),
                    ("connamespace", ScalarValue::Int32(Some(namespace))),
                    ("contype", ScalarValue::from("p")),
                    ("condeferrable", ScalarValue::Boolean(Some(false))),
                    ("condeferred", ScalarValue::Boolean(Some(false))),
                    ("convalidated", ScalarValue::Boolean(Some(true))),
                    ("conrelid", ScalarValue::Int32(Some(oid))),
                    ("contypid", ScalarValue::Int32(Some(0))),
                    ("conindid", ScalarValue::Int32(Some(INDEX_OID_BASE + oid))),
                    ("conparentid", ScalarValue::Int32(Some(0))),
                    ("confrelid", ScalarValue::Int32(Some(0))),
                    ("conislocal", ScalarValue::Boolean(Some(true))),
                    ("coninhcount", ScalarValue::Int32(Some(0))),
                    ("connoinherit", ScalarValue::Boolean(Some(true))),
                    ("conkey", int2_list(&key)),
                ]));
                continue;
            }
            if let Extra::Descriptions = self.extra
                && let Some(facts) = self.facts.facts(&schema, &name)
                && let Some(description) = facts.description
            {
                rows.push(HashMap::from([
                    ("objoid", ScalarValue::Int32(Some(oid))),
                    ("classoid", ScalarValue::Int32(Some(pg_class_oid))),
                    ("objsubid", ScalarValue::Int32(Some(0))),
                    ("description", ScalarValue::from(description)),
                ]));
            }
        }
        rows
    }

    async fn tables_without_views(&self, state: &dyn Session) -> Result<Vec<RecordBatch>> {
        let views: std::collections::HashSet<(String, String)> = self
            .facts
            .seen_relations()
            .into_values()
            .filter(|r| r.kind == "v")
            .map(|r| (r.schema, r.name))
            .collect();
        let aliases = self.facts.version_aliases();
        scan_all(&self.inner, state)
            .await?
            .iter()
            .map(|batch| {
                keep_relations(batch, "schemaname", "tablename", |relation| {
                    !views.contains(relation) && !aliases.contains(relation)
                })
            })
            .collect()
    }

    /// `pg_class` without the version aliases (`name_v1`) of versioned
    /// objects, which listings show once, under their name; relations with
    /// a primary key have an index (`relhasindex`, which psql's `\d`
    /// reads before it lists indexes).
    fn without_version_aliases(
        &self,
        batches: Vec<RecordBatch>,
        aliases: &HashSet<(String, String)>,
        keys: &PrimaryKeys,
    ) -> Result<Vec<RecordBatch>> {
        let relations = self.facts.seen_relations();
        batches
            .into_iter()
            .map(|batch| {
                let oids = int32_column(&batch, "oid")?;
                let keep: datafusion::arrow::array::BooleanArray =
                    (0..batch.num_rows())
                        .map(|row| {
                            Some(relations.get(&oids.value(row)).is_none_or(|r| {
                                !aliases.contains(&(r.schema.clone(), r.name.clone()))
                            }))
                        })
                        .collect();
                let has_index = batch
                    .column_by_name("relhasindex")
                    .and_then(|c| c.as_boolean_opt());
                let has_index: datafusion::arrow::array::BooleanArray = (0..batch.num_rows())
                    .map(|row| {
                        let keyed = relations.get(&oids.value(row)).is_some_and(|r| {
                            keys.contains_key(&(r.schema.clone(), r.name.clone()))
                        });
                        Some(keyed || has_index.is_some_and(|c| c.is_valid(row) && c.value(row)))
                    })
                    .collect();
                let mut columns = batch.columns().to_vec();
                if let Ok(index) = batch.schema().index_of("relhasindex") {
                    columns[index] = Arc::new(has_index);
                }
                let batch = RecordBatch::try_new(batch.schema(), columns)?;
                Ok(datafusion::arrow::compute::filter_record_batch(
                    &batch, &keep,
                )?)
            })
            .collect()
    }

    /// The inner table's batches in [`Self::schema`].
    fn typed(&self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        if !arrays::has_array_columns(&self.table) {
            return Ok(batches);
        }
        batches
            .iter()
            .map(|batch| arrays::typed_batch(&self.table, &self.schema, batch))
            .collect()
    }

    /// The `pg_class` rows (kind `i`) of the indexes behind primary keys,
    /// for the relations the scan just recorded.
    fn primary_key_index_relations(
        &self,
        aliases: &HashSet<(String, String)>,
        keys: &PrimaryKeys,
    ) -> Vec<HashMap<&'static str, ScalarValue>> {
        let mut relations: Vec<_> = self.facts.seen_relations().into_iter().collect();
        relations.sort_by_key(|(oid, _)| *oid);
        relations
            .into_iter()
            .filter_map(|(oid, relation)| {
                let name = (relation.schema.clone(), relation.name.clone());
                if aliases.contains(&name) {
                    return None;
                }
                let key = keys.get(&name)?;
                Some(HashMap::from([
                    ("oid", ScalarValue::Int32(Some(INDEX_OID_BASE + oid))),
                    (
                        "relname",
                        ScalarValue::from(format!("{}_pkey", relation.name)),
                    ),
                    ("relnamespace", ScalarValue::Int32(Some(relation.namespace))),
                    ("relowner", ScalarValue::Int32(Some(10))),
                    ("relam", ScalarValue::Int32(Some(BTREE_ACCESS_METHOD_OID))),
                    ("relpersistence", ScalarValue::from("p")),
                    ("relkind", ScalarValue::from("i")),
                    ("relnatts", ScalarValue::Int16(Some(key.len() as i16))),
                    ("relispopulated", ScalarValue::Boolean(Some(true))),
                    ("relreplident", ScalarValue::from("n")),
                ]))
            })
            .collect()
    }

    /// See [`Database::primary_keys`](crate::database::Database::primary_keys).
    fn primary_keys(&self) -> PrimaryKeys {
        self.facts
            .database
            .get()
            .and_then(|d| d.upgrade())
            .map(|database| database.primary_keys())
            .unwrap_or_default()
    }

    /// `pg_attribute` batches whose numeric columns carry PostgreSQL's
    /// typmod, `((precision << 16) | scale) + 4`.
    fn with_numeric_typmods(&self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        const NUMERIC_OID: i32 = 1700;
        let relations = self.facts.seen_relations();
        let mut fields_by_relation: HashMap<i32, Option<Fields>> = HashMap::new();
        batches
            .into_iter()
            .map(|batch| {
                let relids = int32_column(&batch, "attrelid")?;
                let types = int32_column(&batch, "atttypid")?;
                let Some(numbers) = batch
                    .column_by_name("attnum")
                    .and_then(|c| c.as_primitive_opt::<Int16Type>())
                else {
                    return Ok(batch);
                };
                let Ok(typmod_index) = batch.schema().index_of("atttypmod") else {
                    return Ok(batch);
                };
                let old = batch.column(typmod_index).as_primitive::<Int32Type>();
                let typmods: Int32Array = (0..batch.num_rows())
                    .map(|row| {
                        if types.value(row) != NUMERIC_OID {
                            return Some(old.value(row));
                        }
                        let relid = relids.value(row);
                        let fields = fields_by_relation.entry(relid).or_insert_with(|| {
                            let relation = relations.get(&relid)?;
                            self.table_fields(&relation.schema, &relation.name)
                        });
                        let field = fields
                            .as_ref()
                            .and_then(|f| f.get(usize::try_from(numbers.value(row) - 1).ok()?));
                        Some(match field.map(|f| f.data_type()) {
                            Some(
                                DataType::Decimal128(precision, scale)
                                | DataType::Decimal256(precision, scale),
                            ) if *scale >= 0 => {
                                ((i32::from(*precision) << 16) | i32::from(*scale)) + 4
                            }
                            _ => old.value(row),
                        })
                    })
                    .collect();
                let mut columns = batch.columns().to_vec();
                columns[typmod_index] = Arc::new(typmods);
                Ok(RecordBatch::try_new(batch.schema(), columns)?)
            })
            .collect()
    }

    /// A relation's columns, as the planner sees them.
    fn table_fields(&self, schema: &str, name: &str) -> Option<Fields> {
        let database = self.facts.database.get()?.upgrade()?;
        let provider = database.schema_provider(schema).ok()?;
        let table = futures::executor::block_on(provider.table(name)).ok()??;
        Some(table.schema().fields().clone())
    }

    /// Column name → attribute number (1-based, as in `pg_attribute`).
    fn column_numbers(&self, schema: &str, name: &str) -> Option<HashMap<String, i16>> {
        Some(
            self.table_fields(schema, name)?
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name().clone(), (i + 1) as i16))
                .collect(),
        )
    }
}

#[async_trait]
impl TableProvider for OverlayTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if let Extra::Typed = self.extra {
            let batches = self.typed(scan_all(&self.inner, state).await?)?;
            return MemTable::try_new(self.schema(), vec![batches])?
                .scan(state, projection, filters, limit)
                .await;
        }
        let mut batches = self.record_relations(state).await?;
        if let Extra::RecordRelations = self.extra {
            let aliases = self.facts.version_aliases();
            let keys = self.primary_keys();
            batches = self.without_version_aliases(self.typed(batches)?, &aliases, &keys)?;
            let indexes = self.primary_key_index_relations(&aliases, &keys);
            if !indexes.is_empty() {
                batches.push(batch_of(&self.schema(), &indexes)?);
            }
        }
        if let Extra::Tables = self.extra {
            batches = self.tables_without_views(state).await?;
        } else if let Extra::Attributes = self.extra {
            batches = self.with_numeric_typmods(scan_all(&self.inner, state).await?)?;
        } else if !matches!(self.extra, Extra::RecordRelations) {
            batches = self.typed(scan_all(&self.inner, state).await?)?;
            let rows = self.extra_rows();
            if !rows.is_empty() {
                batches.push(batch_of(&self.schema(), &rows)?);
            }
        }
        MemTable::try_new(self.schema(), vec![batches])?
            .scan(state, projection, filters, limit)
            .await
    }
}
