//! `pg_catalog` as clients read it: datafusion-pg-catalog's emulation with
//! fstore's own facts layered on top, so that psql, JDBC metadata,
//! SQLAlchemy's inspector and BI tools see what a feature store holds:
//!
//! - `pg_description`, `obj_description()`: the descriptions (COMMENT) of
//!   feature groups, feature views and training datasets;
//! - `pg_constraint`: a primary key (`<name>_pkey`) for every feature group
//!   and `online.*` relation;
//! - `pg_table_is_visible()`: true only for relations that an unqualified
//!   name reaches (`public`, `pg_catalog`), as name resolution does;
//! - `to_regtype()`, `to_regclass()`, `pg_function_is_visible()`,
//!   `pg_type_is_visible()`, `col_description()`.
//!
//! Relation OIDs are assigned by datafusion-pg-catalog when `pg_class` is
//! read. The overlay records them from every `pg_class` scan (a query that
//! asks about a relation's OID has read `pg_class` first), which is how
//! descriptions and keys are joined to the same OIDs the client sees.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, new_null_array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarUDF, Signature, SimpleScalarUDF, TableType, TypeSignature,
    Volatility, create_udf,
};
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use super::{Database, ONLINE_SCHEMA, QualifiedName};
use crate::catalog::DEFAULT_SCHEMA;

/// `pg_class`'s OID in Postgres: `pg_description.classoid` of relations.
const PG_CLASS_OID: i32 = 1259;
const PG_CATALOG: &str = "pg_catalog";
/// Where our constraint OIDs start: far above the OIDs datafusion-pg-catalog
/// hands out from 16384, so that the two never meet.
const CONSTRAINT_OID_BASE: i32 = 1 << 29;

/// What the overlay knows about the relations clients have seen.
#[derive(Default)]
pub struct CatalogFacts {
    /// OID → relation, from the latest `pg_class` scan.
    relations: RwLock<HashMap<i32, SeenRelation>>,
    /// Type name → OID, from the static `pg_type`.
    types: OnceLock<HashMap<String, i32>>,
    database: OnceLock<Weak<Database>>,
}

#[derive(Debug, Clone)]
struct SeenRelation {
    schema: String,
    name: String,
    namespace: i32,
    /// `r` table, `v` view, …
    kind: String,
}

/// What fstore adds about one relation.
pub(crate) struct RelationFacts {
    pub description: Option<String>,
    pub primary_key: Vec<String>,
    /// Where its offline files are (feature groups, tables, training
    /// datasets); views and online relations have none.
    pub files: Option<std::path::PathBuf>,
}

impl CatalogFacts {
    fn relation(&self, oid: i32) -> Option<SeenRelation> {
        self.relations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&oid)
            .cloned()
    }

    fn oid_of(&self, schema: &str, name: &str) -> Option<i32> {
        self.relations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(_, r)| r.schema == schema && r.name == name)
            .map(|(oid, _)| *oid)
    }

    fn facts(&self, schema: &str, name: &str) -> Option<RelationFacts> {
        let database = self.database.get()?.upgrade()?;
        Some(database.relation_facts(schema, name))
    }

    fn description(&self, oid: i32) -> Option<String> {
        let relation = self.relation(oid)?;
        self.facts(&relation.schema, &relation.name)?.description
    }
}

/// Replaces the `pg_catalog` schema of `ctx` with the overlay and registers
/// its functions.
pub(super) fn install(ctx: &SessionContext, catalog: &str) -> Result<Arc<CatalogFacts>> {
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
    for udf in functions(&facts) {
        ctx.register_udf(udf);
    }
    Ok(facts)
}

impl Database {
    /// Lets the overlay ask the database about relations.
    pub(super) fn attach_catalog_facts(self: &Arc<Self>) {
        let _ = self.catalog_facts.database.set(Arc::downgrade(self));
    }

    /// Description and primary key of `schema.name` as fstore knows them.
    pub(crate) fn relation_facts(&self, schema: &str, name: &str) -> RelationFacts {
        let none = RelationFacts {
            description: None,
            primary_key: Vec::new(),
            files: None,
        };
        if schema == ONLINE_SCHEMA {
            let group = self
                .groups_read()
                .values()
                .rev()
                .find(|g| g.def.online && (g.def.name == name || g.def.versioned_name() == name))
                .cloned();
            if let Some(group) = group {
                return RelationFacts {
                    description: group.def.description.clone(),
                    primary_key: group.def.primary_key.clone(),
                    files: None,
                };
            }
            let view = self
                .feature_view_registry()
                .all()
                .into_iter()
                .rev()
                .find(|v| v.name == name || v.versioned_name() == name);
            return view.map_or(none, |v| RelationFacts {
                description: v.description.clone(),
                primary_key: v.serving_key.clone(),
                files: None,
            });
        }
        let qualified = QualifiedName {
            schema: schema.to_string(),
            name: name.to_string(),
        };
        if let Some(group) = self.resolve_feature_group(&qualified) {
            return RelationFacts {
                description: group.def.description.clone(),
                primary_key: group.def.primary_key.clone(),
                files: Some(self.table_path(&group.def.storage_id)),
            };
        }
        if let Some(view) = self.feature_view_registry().resolve(schema, name) {
            return RelationFacts {
                description: view.description.clone(),
                primary_key: Vec::new(),
                files: None,
            };
        }
        if let Ok(Some(dataset)) = self.training_dataset_by_relation(schema, name) {
            return RelationFacts {
                description: dataset.description,
                primary_key: Vec::new(),
                files: Some(self.dataset_path(&dataset.storage_id)),
            };
        }
        if let Ok(Some(relation)) = self.catalog.relation(schema, name)
            && let Some(storage_id) = &relation.storage_id
        {
            return RelationFacts {
                files: Some(self.table_path(storage_id)),
                ..none
            };
        }
        none
    }
}

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
            "pg_tables" => Extra::Tables,
            "pg_views" => Extra::Views,
            "pg_settings" => {
                return Ok(Some(Arc::new(MemTable::try_new(
                    inner.schema(),
                    vec![vec![settings_batch(&inner.schema())?]],
                )?)));
            }
            _ => return Ok(Some(inner)),
        };
        Ok(Some(Arc::new(OverlayTable {
            inner,
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
    /// datafusion-pg-catalog lists views in `pg_tables`, and `pg_views`
    /// holds only system views: both are corrected from `pg_class`.
    Tables,
    Views,
}

#[derive(Debug)]
struct OverlayTable {
    inner: Arc<dyn TableProvider>,
    schema_provider: Arc<dyn SchemaProvider>,
    facts: Arc<CatalogFacts>,
    extra: Extra,
}

async fn scan_all(table: &Arc<dyn TableProvider>, state: &dyn Session) -> Result<Vec<RecordBatch>> {
    let plan = table.scan(state, None, &[], None).await?;
    collect(plan, state.task_ctx()).await
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
        let relations = self
            .facts
            .relations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
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
                if kind == "v" {
                    rows.push(HashMap::from([
                        ("schemaname", ScalarValue::from(schema)),
                        ("viewname", ScalarValue::from(name)),
                        ("viewowner", ScalarValue::from("postgres")),
                    ]));
                }
                continue;
            }
            let Some(facts) = self.facts.facts(&schema, &name) else {
                continue;
            };
            match self.extra {
                Extra::Descriptions => {
                    if let Some(description) = facts.description {
                        rows.push(HashMap::from([
                            ("objoid", ScalarValue::Int32(Some(oid))),
                            ("classoid", ScalarValue::Int32(Some(pg_class_oid))),
                            ("objsubid", ScalarValue::Int32(Some(0))),
                            ("description", ScalarValue::from(description)),
                        ]));
                    }
                }
                Extra::PrimaryKeys if !facts.primary_key.is_empty() => {
                    let Some(columns) = self.column_numbers(&schema, &name) else {
                        continue;
                    };
                    let key: Vec<ScalarValue> = facts
                        .primary_key
                        .iter()
                        .filter_map(|k| columns.get(k))
                        .map(|n| ScalarValue::Int16(Some(*n)))
                        .collect();
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
                        ("conindid", ScalarValue::Int32(Some(0))),
                        ("conparentid", ScalarValue::Int32(Some(0))),
                        ("confrelid", ScalarValue::Int32(Some(0))),
                        ("conislocal", ScalarValue::Boolean(Some(true))),
                        ("coninhcount", ScalarValue::Int32(Some(0))),
                        ("connoinherit", ScalarValue::Boolean(Some(true))),
                        (
                            "conkey",
                            ScalarValue::List(ScalarValue::new_list_nullable(
                                &key,
                                &DataType::Int16,
                            )),
                        ),
                    ]));
                }
                _ => {}
            }
        }
        rows
    }

    async fn tables_without_views(&self, state: &dyn Session) -> Result<Vec<RecordBatch>> {
        let views: std::collections::HashSet<(String, String)> = self
            .facts
            .relations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|r| r.kind == "v")
            .map(|r| (r.schema.clone(), r.name.clone()))
            .collect();
        let mut kept = Vec::new();
        for batch in scan_all(&self.inner, state).await? {
            let schemas = utf8_column(&batch, "schemaname")?;
            let names = utf8_column(&batch, "tablename")?;
            let keep: datafusion::arrow::array::BooleanArray = (0..batch.num_rows())
                .map(|row| Some(!views.contains(&(schemas[row].clone(), names[row].clone()))))
                .collect();
            kept.push(datafusion::arrow::compute::filter_record_batch(
                &batch, &keep,
            )?);
        }
        Ok(kept)
    }

    /// Column name → attribute number (1-based, as in `pg_attribute`).
    fn column_numbers(&self, schema: &str, name: &str) -> Option<HashMap<String, i16>> {
        let database = self.facts.database.get()?.upgrade()?;
        let provider = database.schema_provider(schema).ok()?;
        let table = futures::executor::block_on(provider.table(name)).ok()??;
        Some(
            table
                .schema()
                .fields()
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
        self.inner.schema()
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
        let mut batches = self.record_relations(state).await?;
        if let Extra::Tables = self.extra {
            batches = self.tables_without_views(state).await?;
        } else if !matches!(self.extra, Extra::RecordRelations) {
            batches = scan_all(&self.inner, state).await?;
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

/// One batch in `schema` from rows given by column name; columns no row
/// names are NULL, or zero/empty where the column cannot be NULL.
fn batch_of(
    schema: &SchemaRef,
    rows: &[HashMap<&'static str, ScalarValue>],
) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| -> Result<ArrayRef> {
            let values: Vec<Option<&ScalarValue>> =
                rows.iter().map(|r| r.get(field.name().as_str())).collect();
            let Some(example) = values.iter().flatten().next() else {
                if field.is_nullable() {
                    return Ok(new_null_array(field.data_type(), rows.len()));
                }
                let default = ScalarValue::new_default(field.data_type())?;
                return default.to_array_of_size(rows.len());
            };
            let null = ScalarValue::try_from(example.data_type())?;
            let array = ScalarValue::iter_to_array(
                values
                    .into_iter()
                    .map(|v| v.cloned().unwrap_or(null.clone())),
            )?;
            Ok(cast(&array, field.data_type())?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

fn int32_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a datafusion::arrow::array::PrimitiveArray<Int32Type>> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<Int32Type>())
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog column {name} is not int4")))
}

fn utf8_column(batch: &RecordBatch, name: &str) -> Result<Vec<String>> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog column {name} is missing")))?;
    let strings = cast(column, &DataType::Utf8)?;
    let strings = strings.as_string::<i32>();
    Ok((0..strings.len())
        .map(|i| strings.value(i).to_string())
        .collect())
}

/// The server's settings as `SHOW`, `current_setting()` and `pg_settings`
/// report them.
pub const SERVER_SETTINGS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("default_transaction_isolation", "read committed"),
    ("default_transaction_read_only", "off"),
    ("extra_float_digits", "1"),
    ("integer_datetimes", "on"),
    ("IntervalStyle", "postgres"),
    ("jit", "off"),
    ("lc_collate", "en_US.UTF-8"),
    ("lc_ctype", "en_US.UTF-8"),
    ("max_identifier_length", "63"),
    ("search_path", "\"$user\", public"),
    ("server_encoding", "UTF8"),
    ("server_version", "15.0"),
    ("server_version_num", "150000"),
    ("standard_conforming_strings", "on"),
    ("statement_timeout", "0"),
    ("TimeZone", "UTC"),
    ("transaction_isolation", "read committed"),
    ("transaction_read_only", "off"),
];

/// Parameters each session sets for itself: `SHOW` answers them from the
/// session (datafusion-postgres keeps them with the connection).
const SESSION_PARAMETERS: &[&str] = &[
    "application_name",
    "bytea_output",
    "datestyle",
    "extra_float_digits",
    "intervalstyle",
    "search_path",
    "statement_timeout",
];

/// `SHOW ALL` and `SHOW <server setting>` as queries over the settings;
/// `None` for session parameters and other statements.
pub fn rewrite_show(
    tokens: &[datafusion::sql::sqlparser::tokenizer::Token],
) -> crate::error::Result<Option<String>> {
    use datafusion::sql::sqlparser::tokenizer::Token;
    let [Token::Word(show), Token::Word(name)] = tokens else {
        return Ok(None);
    };
    if !show.value.eq_ignore_ascii_case("SHOW") {
        return Ok(None);
    }
    let lowered = name.value.to_ascii_lowercase();
    if lowered == "all" {
        return Ok(Some(
            "SELECT name, setting, short_desc AS description FROM pg_catalog.pg_settings \
             ORDER BY name"
                .into(),
        ));
    }
    if SESSION_PARAMETERS.contains(&lowered.as_str()) {
        return Ok(None);
    }
    match SERVER_SETTINGS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&lowered))
    {
        Some((canonical, value)) => Ok(Some(format!(
            "SELECT '{}' AS \"{}\"",
            value.replace('\'', "''"),
            canonical.to_ascii_lowercase()
        ))),
        None => Err(crate::error::Error::UnrecognizedParameter(
            name.value.clone(),
        )),
    }
}

fn setting(name: &str) -> Option<&'static str> {
    SERVER_SETTINGS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

fn settings_batch(schema: &SchemaRef) -> Result<RecordBatch> {
    let rows: Vec<HashMap<&'static str, ScalarValue>> = SERVER_SETTINGS
        .iter()
        .map(|(name, value)| {
            HashMap::from([
                ("name", ScalarValue::from(*name)),
                ("setting", ScalarValue::from(*value)),
                ("reset_val", ScalarValue::from(*value)),
                ("source", ScalarValue::from("default")),
                ("context", ScalarValue::from("user")),
                ("vartype", ScalarValue::from("string")),
            ])
        })
        .collect();
    batch_of(schema, &rows)
}

/// Relation names reachable without a schema: what name resolution does.
fn visible(schema: &str) -> bool {
    schema == DEFAULT_SCHEMA || schema == PG_CATALOG
}

fn disk_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => disk_bytes(&entry.path()),
            _ => entry.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// `pg_size_pretty`: bytes below 10 kB, then kB, MB, … rounded half up,
/// each unit used below 20 of the next minus one, as in Postgres.
fn size_pretty(bytes: i64) -> String {
    if bytes.abs() < 10 * 1024 {
        return format!("{bytes} bytes");
    }
    let mut halves = bytes >> 9;
    let units = ["kB", "MB", "GB", "TB", "PB"];
    for (i, unit) in units.iter().enumerate() {
        if halves.abs() < 20 * 1024 || i == units.len() - 1 {
            return format!("{} {unit}", (halves + halves.signum()) / 2);
        }
        halves >>= 10;
    }
    unreachable!("the last unit always returns")
}

/// Postgres's spellings of the types fstore stores, for `to_regtype`.
const TYPE_ALIASES: &[(&str, &str)] = &[
    ("integer", "int4"),
    ("int", "int4"),
    ("bigint", "int8"),
    ("smallint", "int2"),
    ("real", "float4"),
    ("double precision", "float8"),
    ("boolean", "bool"),
    ("character varying", "varchar"),
    ("character", "bpchar"),
    ("char", "bpchar"),
    ("decimal", "numeric"),
    ("timestamp without time zone", "timestamp"),
    ("timestamp with time zone", "timestamptz"),
    ("time without time zone", "time"),
    ("time with time zone", "timetz"),
];

fn type_oid(facts: &CatalogFacts, name: &str) -> Option<i32> {
    let types = facts.types.get()?;
    let mut name = name.trim().to_ascii_lowercase();
    if let Some(unqualified) = name.strip_prefix("pg_catalog.") {
        name = unqualified.to_string();
    }
    let name = name.trim_matches('"').to_string();
    let (base, array) = match name.strip_suffix("[]") {
        Some(base) => (base.trim().to_string(), true),
        None => (name, false),
    };
    let base = TYPE_ALIASES
        .iter()
        .find(|(alias, _)| *alias == base)
        .map_or(base.clone(), |(_, name)| name.to_string());
    let name = if array { format!("_{base}") } else { base };
    types.get(&name).copied()
}

/// Loads `pg_type`'s names once (the static table never changes).
pub(super) async fn load_types(ctx: &SessionContext, facts: &CatalogFacts) -> Result<()> {
    let batches = ctx
        .sql("SELECT typname, oid FROM pg_catalog.pg_type")
        .await?
        .collect()
        .await?;
    let mut types = HashMap::new();
    for batch in &batches {
        let names = utf8_column(batch, "typname")?;
        let oids = cast(batch.column(1), &DataType::Int32)?;
        let oids = oids.as_primitive::<Int32Type>();
        for (row, name) in names.into_iter().enumerate() {
            types.insert(name, oids.value(row));
        }
    }
    let _ = facts.types.set(types);
    Ok(())
}

/// Applies `f` to each row of a one-argument call.
fn map_rows(
    args: &[ColumnarValue],
    output: DataType,
    f: impl Fn(&ScalarValue) -> ScalarValue,
) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let first = &arrays[0];
    let values = (0..first.len())
        .map(|row| ScalarValue::try_from_array(first, row).map(|v| f(&v)))
        .collect::<Result<Vec<_>>>()?;
    if values.is_empty() {
        return Ok(ColumnarValue::Array(new_null_array(&output, 0)));
    }
    let array = ScalarValue::iter_to_array(values)?;
    Ok(ColumnarValue::Array(cast(&array, &output)?))
}

fn as_oid(value: &ScalarValue) -> Option<i32> {
    match value {
        ScalarValue::Int32(v) => *v,
        ScalarValue::Int64(v) => v.and_then(|v| i32::try_from(v).ok()),
        ScalarValue::UInt32(v) => v.and_then(|v| i32::try_from(v).ok()),
        ScalarValue::Int16(v) => v.map(i32::from),
        _ => None,
    }
}

fn as_text(value: &ScalarValue) -> Option<String> {
    match value {
        ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => v.clone(),
        _ => None,
    }
}

fn functions(facts: &Arc<CatalogFacts>) -> Vec<ScalarUDF> {
    let mut udfs = Vec::new();
    let f = facts.clone();
    let description = Arc::new(move |args: &[ColumnarValue]| {
        map_rows(args, DataType::Utf8, |oid| {
            ScalarValue::Utf8(as_oid(oid).and_then(|oid| f.description(oid)))
        })
    });
    // obj_description(oid) and obj_description(oid, 'pg_class'): only
    // relations have descriptions in fstore.
    udfs.push(ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "obj_description",
        Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Int32]),
                TypeSignature::Exact(vec![DataType::Int32, DataType::Utf8]),
            ],
            Volatility::Stable,
        ),
        DataType::Utf8,
        description,
    )));
    let f = facts.clone();
    udfs.push(create_udf(
        "to_regclass",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            map_rows(args, DataType::Int32, |name| {
                let oid = as_text(name).and_then(|name| {
                    let name = name.replace('"', "");
                    match name.split_once('.') {
                        Some((schema, relation)) => f.oid_of(schema, relation),
                        None => f
                            .oid_of(DEFAULT_SCHEMA, &name)
                            .or_else(|| f.oid_of(PG_CATALOG, &name)),
                    }
                });
                ScalarValue::Int32(oid)
            })
        }),
    ));
    let f = facts.clone();
    udfs.push(create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            map_rows(args, DataType::Int32, |name| {
                ScalarValue::Int32(as_text(name).and_then(|n| type_oid(&f, &n)))
            })
        }),
    ));
    let f = facts.clone();
    udfs.push(create_udf(
        "pg_table_is_visible",
        vec![DataType::Int32],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            map_rows(args, DataType::Boolean, |oid| {
                let visible = as_oid(oid)
                    .and_then(|oid| f.relation(oid))
                    .is_none_or(|relation| visible(&relation.schema));
                ScalarValue::Boolean(Some(visible))
            })
        }),
    ));
    // Every function and type lives in pg_catalog, which is always searched.
    for name in ["pg_function_is_visible", "pg_type_is_visible"] {
        udfs.push(create_udf(
            name,
            vec![DataType::Int32],
            DataType::Boolean,
            Volatility::Stable,
            Arc::new(|args: &[ColumnarValue]| {
                map_rows(args, DataType::Boolean, |_| {
                    ScalarValue::Boolean(Some(true))
                })
            }),
        ));
    }
    // current_setting(name [, missing_ok]).
    udfs.push(ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "current_setting",
        Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
            ],
            Volatility::Stable,
        ),
        DataType::Utf8,
        Arc::new(|args: &[ColumnarValue]| {
            let missing_ok = matches!(
                args.get(1),
                Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
            );
            let arrays = ColumnarValue::values_to_arrays(&args[..1])?;
            let names = cast(&arrays[0], &DataType::Utf8)?;
            let names = names.as_string::<i32>();
            let mut values = Vec::with_capacity(names.len());
            for row in 0..names.len() {
                let name = names.value(row);
                match setting(name) {
                    Some(value) => values.push(Some(value)),
                    None if missing_ok => values.push(None),
                    None => {
                        return Err(DataFusionError::Plan(format!(
                            "unrecognized configuration parameter \"{name}\""
                        )));
                    }
                }
            }
            Ok(ColumnarValue::Array(Arc::new(
                datafusion::arrow::array::StringArray::from(values),
            )))
        }),
    )));
    // The bytes of a relation's offline files (Parquet and Delta log).
    let f = facts.clone();
    for name in [
        "pg_table_size",
        "pg_relation_size",
        "pg_total_relation_size",
    ] {
        let f = f.clone();
        udfs.push(create_udf(
            name,
            vec![DataType::Int32],
            DataType::Int64,
            Volatility::Volatile,
            Arc::new(move |args: &[ColumnarValue]| {
                map_rows(args, DataType::Int64, |oid| {
                    let bytes = as_oid(oid)
                        .and_then(|oid| f.relation(oid))
                        .and_then(|r| f.facts(&r.schema, &r.name))
                        .and_then(|facts| facts.files)
                        .map_or(0, |dir| disk_bytes(&dir));
                    ScalarValue::Int64(Some(bytes as i64))
                })
            }),
        ));
    }
    udfs.push(create_udf(
        "pg_size_pretty",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            map_rows(args, DataType::Utf8, |bytes| match bytes {
                ScalarValue::Int64(Some(b)) => ScalarValue::from(size_pretty(*b)),
                _ => ScalarValue::Utf8(None),
            })
        }),
    ));
    // Columns carry no comments in fstore.
    udfs.push(create_udf(
        "col_description",
        vec![DataType::Int32, DataType::Int32],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            map_rows(args, DataType::Utf8, |_| ScalarValue::Utf8(None))
        }),
    ));
    udfs
}
