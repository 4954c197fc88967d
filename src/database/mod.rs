//! The database: one DataFusion `SessionContext` shared by all connections,
//! backed by the durable catalog (LMDB) and the offline store (Delta).
//!
//! [`Database::open`] rebuilds the in-memory DataFusion catalog from the
//! durable one at start-up: schemas, then tables (Delta providers), then views
//! in the order they were created. DDL that must persist is executed here
//! (see `ddl.rs`); everything else runs on the shared context unchanged.

mod dispatch;
pub(crate) mod feature_groups;
pub(crate) mod feature_views;
mod online_serving;
mod pg_catalog;
mod system_tables;
mod table_writes;
mod tables;
mod training_datasets;
mod versioned;

pub use feature_views::FeatureViewRegistry;
pub use training_datasets::Progress;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::pg_catalog::setup_pg_catalog;

pub use crate::names::{DATABASE_NAME, FS_SCHEMA, ONLINE_SCHEMA, normalize_ident};
pub use dispatch::{Outcome, StatementClass, classify};
pub use pg_catalog::rewrite_show;

use std::collections::BTreeMap;

use crate::catalog::{Catalog, DEFAULT_SCHEMA, RelationKind};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::offline::{OfflineTable, OfflineTableProvider};
use crate::online::OnlineStore;
use crate::store::FeatureGroup;

/// The PostgreSQL version fstore answers as, everywhere a client reads one:
/// the `server_version` start-up parameter, `SHOW server_version` and
/// `version()` (whose text must start with the same number).
pub const POSTGRES_VERSION: &str = "15.0";

/// DataFusion's `execution.time_zone` for sessions that set no `TimeZone`:
/// UTC, the server's `TimeZone`.
pub const ENGINE_TIME_ZONE: &str = "+00:00";

/// What `SELECT version()` answers. Drivers parse the leading
/// "PostgreSQL <major>.<minor>" to pick their protocol features.
pub const SERVER_VERSION: &str = concat!(
    "PostgreSQL 15.0 (fstore ",
    env!("CARGO_PKG_VERSION"),
    ") on x86_64-pc-linux-gnu, compiled by rustc, 64-bit"
);

pub struct Database {
    config: Config,
    ctx: Arc<SessionContext>,
    catalog: Catalog,
    online: Arc<OnlineStore>,
    groups: std::sync::RwLock<BTreeMap<feature_groups::GroupKey, Arc<FeatureGroup>>>,
    views: Arc<FeatureViewRegistry>,
    metrics: crate::metrics::Metrics,
    /// What pg_catalog adds about our relations (see `pg_catalog`).
    catalog_facts: Arc<pg_catalog::CatalogFacts>,
    /// How each feature view version is served online (`fs.feature_views`).
    online_view_status:
        std::sync::RwLock<std::collections::HashMap<feature_views::ViewKey, String>>,
    /// Bumped whenever an `online.*` name changes meaning (see
    /// `online_serving`).
    online_generation: std::sync::atomic::AtomicU64,
    /// Serialises DDL so that catalog checks and DataFusion registration
    /// happen as one step.
    ddl_lock: tokio::sync::Mutex<()>,
}

impl Database {
    pub async fn open(config: Config) -> Result<Arc<Self>> {
        std::fs::create_dir_all(&config.data_dir)?;
        std::fs::create_dir_all(tables_dir(&config.data_dir))?;
        let catalog = Catalog::open(&config.data_dir.join("catalog"))?;
        let online = Arc::new(OnlineStore::open(
            &config.data_dir.join("online"),
            config.max_online_groups,
        )?);
        std::fs::create_dir_all(training_datasets::datasets_dir(&config.data_dir))?;
        // The store's directories survive a power loss before anything is
        // acknowledged in them (LMDB syncs its files, not their names).
        for dir in [
            config.data_dir.clone(),
            tables_dir(&config.data_dir),
            training_datasets::datasets_dir(&config.data_dir),
            config.data_dir.join("catalog"),
            config.data_dir.join("online"),
        ] {
            crate::offline::durable::sync_created_dir(&dir)?;
        }
        let views = Arc::new(FeatureViewRegistry::default());
        let ctx = Arc::new(new_session_context(&config)?);
        let catalog_facts = pg_catalog::install(&ctx, DATABASE_NAME)?;
        pg_catalog::load_static_rows(&ctx, &catalog_facts).await?;
        let database = Arc::new(Database {
            config,
            ctx,
            catalog,
            online,
            groups: std::sync::RwLock::new(BTreeMap::new()),
            views,
            metrics: crate::metrics::Metrics::default(),
            catalog_facts,
            online_view_status: Default::default(),
            online_generation: std::sync::atomic::AtomicU64::new(0),
            ddl_lock: tokio::sync::Mutex::new(()),
        });
        database.attach_catalog_facts();
        let catalog_provider = database.catalog_provider()?;
        for reserved in [ONLINE_SCHEMA, FS_SCHEMA] {
            catalog_provider.register_schema(reserved, Arc::new(MemorySchemaProvider::new()))?;
        }
        database.register_system_tables()?;
        database.restore().await?;
        Ok(database)
    }

    pub fn session_context(&self) -> Arc<SessionContext> {
        self.ctx.clone()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn catalog_provider(&self) -> Result<Arc<dyn CatalogProvider>> {
        self.ctx
            .catalog(DATABASE_NAME)
            .ok_or_else(|| Error::Internal("the fstore catalog is not registered".into()))
    }

    fn schema_provider(&self, schema: &str) -> Result<Arc<dyn SchemaProvider>> {
        self.catalog_provider()?
            .schema(schema)
            .ok_or_else(|| Error::UndefinedSchema(schema.into()))
    }

    fn table_path(&self, storage_id: &str) -> PathBuf {
        tables_dir(&self.config.data_dir).join(storage_id)
    }

    /// Re-registers every durable schema, table and view with DataFusion.
    async fn restore(&self) -> Result<()> {
        let catalog_provider = self.catalog_provider()?;
        for schema in self.catalog.schemas()? {
            if catalog_provider.schema(&schema.name).is_none() {
                catalog_provider
                    .register_schema(&schema.name, Arc::new(MemorySchemaProvider::new()))?;
            }
        }
        let relations = self.catalog.relations(None)?;
        for relation in relations.iter().filter(|r| r.kind == RelationKind::Table) {
            let qualified = format!("{}.{}", relation.schema, relation.name);
            let storage_id = relation
                .storage_id
                .as_deref()
                .ok_or_else(|| Error::Internal(format!("table {qualified} has no storage id")))?;
            let table = OfflineTable::open(&self.table_path(storage_id), &qualified).await?;
            self.schema_provider(&relation.schema)?.register_table(
                relation.name.clone(),
                Arc::new(OfflineTableProvider::new(table)),
            )?;
        }
        // Views may read feature groups, so groups come first.
        for def in self.catalog.feature_groups()? {
            self.restore_feature_group(def).await?;
        }
        self.restore_feature_views().await?;
        self.restore_training_datasets().await?;
        for relation in relations {
            let qualified = format!("{}.{}", relation.schema, relation.name);
            match relation.kind {
                RelationKind::Table => {}
                RelationKind::View => {
                    let Some(definition) = &relation.definition else {
                        continue;
                    };
                    // A view whose inputs were dropped cannot be planned; the
                    // server still starts and the view reports the problem.
                    if let Err(e) = self.ctx.sql(definition).await {
                        tracing::warn!(view = %qualified, error = %e, "view could not be re-created");
                    }
                }
            }
        }
        Ok(())
    }
}

pub fn tables_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("tables")
}

fn new_session_context(config: &Config) -> Result<SessionContext> {
    // `information_schema` is the pg_catalog overlay's (DataFusion's own,
    // when on, would shadow it).
    let mut session_config = SessionConfig::new()
        .with_information_schema(false)
        .with_default_catalog_and_schema(DATABASE_NAME, DEFAULT_SCHEMA)
        .with_create_default_catalog_and_schema(true);
    session_config
        .options_mut()
        .set("datafusion.sql_parser.dialect", "PostgreSQL")?;
    // `now()` and `current_timestamp` are timestamptz in PostgreSQL; with a
    // session time zone DataFusion types them so (times without a zone stay
    // without one).
    session_config
        .options_mut()
        .set("datafusion.execution.time_zone", ENGINE_TIME_ZONE)?;
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(config.memory_limit_bytes, 1.0)
        .build_arc()?;
    let state = crate::planner::with_fstore_planning(
        SessionStateBuilder::new()
            .with_config(session_config)
            .with_runtime_env(runtime)
            .with_default_features(),
    )
    .build();
    let ctx = SessionContext::new_with_state(state);
    ctx.add_optimizer_rule(Arc::new(crate::planner::asof::AsofFilterPushdown));
    ctx.add_optimizer_rule(Arc::new(crate::planner::like_escape::LikeEscapeRewrite));
    setup_pg_catalog(&ctx, DATABASE_NAME, EmptyContextProvider).map_err(|e| *e)?;
    {
        // Before DataFusion's type coercion, which refuses `Boolean = Utf8`;
        // json/jsonb types and operators over the pg_catalog layer's.
        let state = ctx.state_ref();
        let existing = state.read().clone();
        let mut rules = existing.analyzer().rules.clone();
        let at = rules
            .iter()
            .position(|rule| rule.name() == "type_coercion")
            .unwrap_or(0);
        rules.insert(
            at,
            Arc::new(crate::planner::boolean_literals::BooleanLiterals),
        );
        let mut expr_planners = existing.expr_planners().to_vec();
        expr_planners.insert(0, Arc::new(crate::planner::json::JsonOperators));
        *state.write() = SessionStateBuilder::new_from_existing(existing)
            .with_analyzer_rules(rules)
            .with_type_planner(Arc::new(crate::planner::json::PostgresTypes::default()))
            .with_expr_planners(expr_planners)
            .build();
    }
    for function in crate::planner::json::json_functions() {
        ctx.register_udf(function.as_ref().clone());
    }
    ctx.register_udtf(
        crate::offline::time_travel::WRITE_SEQUENCE_FUNCTION,
        Arc::new(crate::offline::time_travel::WriteSequenceFunction(
            crate::offline::time_travel::TimeTravelFunction::new(
                ctx.state().catalog_list().clone(),
                DATABASE_NAME,
                DEFAULT_SCHEMA,
            ),
        )),
    );
    ctx.register_udtf(
        crate::sql::time_travel::TIME_TRAVEL_FUNCTION,
        Arc::new(crate::offline::time_travel::TimeTravelFunction::new(
            ctx.state().catalog_list().clone(),
            DATABASE_NAME,
            DEFAULT_SCHEMA,
        )),
    );
    ctx.register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(
        training_datasets::UnitHash::default(),
    ));
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::from(SERVER_VERSION)))),
    ));
    Ok(ctx)
}

impl Drop for Database {
    /// datafusion-pg-catalog's `pg_catalog` schema refers back to the
    /// catalog list that contains it, so the providers (and the LMDB
    /// environments they hold) would outlive the database; deregistering
    /// the schemas breaks that cycle so a new `Database` can open the same
    /// directory in this process.
    fn drop(&mut self) {
        if let Some(catalog) = self.ctx.catalog(DATABASE_NAME) {
            for schema in catalog.schema_names() {
                let _ = catalog.deregister_schema(&schema, true);
            }
        }
    }
}
