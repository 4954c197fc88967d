//! Feature-group DDL: create (and backfill), drop, comment, and the catalog
//! views `fs.feature_groups` / `fs.features` that SHOW and DESCRIBE read.
//!
//! Naming in SQL: `<schema>.<name>` is the latest version's offline table
//! (full history), `<schema>.<name>_v<N>` is version N; `online.<name>` and
//! `online.<name>_v<N>` are the online projections of online versions.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};

use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::{DataFrame, Expr, col};
use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::ast::{SqlOption, Value, ValueWithSpan};
use pgwire::api::results::Tag;

use super::versioned::{Dropping, VersionedName};
use super::{Database, Outcome};
use crate::catalog::{FeatureGroupDef, versioned_name};
use crate::error::{Error, Result};
use crate::names::{FS_SCHEMA, ONLINE_SCHEMA, normalize_ident};
use crate::offline::Ingest;
use crate::offline::{OfflineTable, OfflineTableProvider};
use crate::online::codec::{key_type_supported, value_type_supported};
use crate::pg_types::postgres_type_name;
use crate::sql::QualifiedName;
use crate::sql::ast::{CreateFeatureGroup, Serving};
use crate::store::FeatureGroup;

/// Key of the feature-group registry: (schema, name, version).
pub type GroupKey = (String, String, u64);

pub(super) fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn option_value(value: &datafusion::sql::sqlparser::ast::Expr) -> String {
    match value {
        datafusion::sql::sqlparser::ast::Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(s) | Value::DoubleQuotedString(s),
            ..
        }) => s.clone(),
        other => other.to_string(),
    }
}

pub(super) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl Database {
    pub(super) fn find_version(
        &self,
        name: &QualifiedName,
        version: Option<u64>,
    ) -> Result<Arc<FeatureGroup>> {
        feature_group(name, version)
            .find(self.feature_group_versions(&name.schema, &name.name), |g| {
                g.def.version
            })
    }

    pub(super) fn groups_read(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, BTreeMap<GroupKey, Arc<FeatureGroup>>> {
        self.groups
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn groups_write(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, BTreeMap<GroupKey, Arc<FeatureGroup>>> {
        self.groups
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The versions of `schema.name`, oldest first.
    pub fn feature_group_versions(&self, schema: &str, name: &str) -> Vec<Arc<FeatureGroup>> {
        self.groups_read()
            .iter()
            .filter(|((s, n, _), _)| s == schema && n == name)
            .map(|(_, g)| g.clone())
            .collect()
    }

    /// Opens a feature group version from its catalog entry, catches its
    /// online store up with the offline log and registers its names.
    pub(super) async fn restore_feature_group(&self, def: FeatureGroupDef) -> Result<()> {
        let offline = OfflineTable::open(
            &self.table_path(&def.storage_id),
            &format!("{}.{}", def.schema, def.versioned_name()),
        )
        .await?;
        let group = Arc::new(FeatureGroup::new(
            def.clone(),
            offline,
            Some(self.online.clone()),
        )?);
        // One group's broken online store must not keep the server from
        // starting: the group is served offline and says why.
        if let Err(error) = group.catch_up().await {
            tracing::error!(
                feature_group = %group.qualified_name(),
                %error,
                "catch-up of the online store failed; serving the group offline only"
            );
            group.mark_online_unavailable(format!(
                "catch-up from the offline log failed at start-up: {error}"
            ));
        }
        self.groups_write()
            .insert((def.schema.clone(), def.name.clone(), def.version), group);
        self.register_feature_group_names(&def.schema, &def.name)
    }

    /// (Re-)registers `name`, `name_vN`, `online.name` and `online.name_vN`
    /// from the registry's current versions of `schema.name`.
    fn register_feature_group_names(&self, schema: &str, name: &str) -> Result<()> {
        let versions = self.feature_group_versions(schema, name);
        let offline_schema = self.schema_provider(schema)?;
        let online_schema = self.schema_provider(ONLINE_SCHEMA)?;
        offline_schema.deregister_table(name)?;
        online_schema.deregister_table(name)?;
        for group in &versions {
            let versioned = group.def.versioned_name();
            let provider = Arc::new(OfflineTableProvider::with_target(
                group.offline.clone(),
                group.clone(),
            ));
            offline_schema.deregister_table(&versioned)?;
            offline_schema.register_table(versioned.clone(), provider)?;
            online_schema.deregister_table(&versioned)?;
            if let Some(online) = group.online_provider()? {
                online_schema.register_table(versioned, Arc::new(online))?;
            }
        }
        if let Some(latest) = versions.last() {
            offline_schema.register_table(
                name.to_string(),
                Arc::new(OfflineTableProvider::with_target(
                    latest.offline.clone(),
                    latest.clone(),
                )),
            )?;
            if let Some(online) = latest.online_provider()? {
                online_schema.register_table(name.to_string(), Arc::new(online))?;
            }
        }
        self.bump_online_generation();
        Ok(())
    }

    /// A relation, feature-group, feature-view or training-dataset name
    /// already in use in `schema`.
    pub(super) fn name_in_use(&self, schema: &str, name: &str) -> Result<bool> {
        if self.catalog.relation(schema, name)?.is_some()
            || self.views.resolve(schema, name).is_some()
            || self.training_dataset_name_taken(schema, name)?
        {
            return Ok(true);
        }
        Ok(self
            .groups_read()
            .iter()
            .any(|((s, n, v), _)| s == schema && (n == name || versioned_name(n, *v) == name)))
    }

    pub(super) fn relation_name_taken_by_feature_group(&self, schema: &str, name: &str) -> bool {
        self.groups_read()
            .iter()
            .any(|((s, n, v), _)| s == schema && (n == name || versioned_name(n, *v) == name))
    }

    pub(super) async fn create_feature_group(
        &self,
        create: &CreateFeatureGroup,
    ) -> Result<Outcome> {
        let name = QualifiedName::from_object_name(&create.name)?;
        if name.schema == ONLINE_SCHEMA || name.schema == FS_SCHEMA {
            return Err(Error::FeatureNotSupported(format!(
                "schema \"{}\" is reserved for fstore's own tables",
                name.schema
            )));
        }
        if !self.catalog.schema_exists(&name.schema)? {
            return Err(Error::UndefinedSchema(name.schema));
        }
        let existing = self.feature_group_versions(&name.schema, &name.name);
        let skipping = || {
            Ok(Outcome {
                tag: Tag::new("CREATE FEATURE GROUP"),
                notices: vec![format!(
                    "feature group \"{}\" already exists, skipping",
                    name.name
                )],
            })
        };
        let version = match create.version {
            Some(v) if existing.iter().any(|g| g.def.version == v) => {
                if create.if_not_exists {
                    return skipping();
                }
                return Err(Error::DuplicateObject {
                    kind: "feature group",
                    name: format!("{name} version {v}"),
                });
            }
            Some(v) => v,
            None if existing.is_empty() => 1,
            None if create.if_not_exists => return skipping(),
            None => {
                return Err(Error::DuplicateObject {
                    kind: "feature group",
                    name: name.to_string(),
                });
            }
        };
        if existing.is_empty() && self.name_in_use(&name.schema, &name.name)? {
            return Err(Error::DuplicateTable(name.name));
        }
        let versioned = versioned_name(&name.name, version);
        if self.name_in_use(&name.schema, &versioned)? {
            return Err(Error::DuplicateTable(versioned));
        }
        let online = create.serving != Some(Serving::Offline);
        if online
            && existing.is_empty()
            && self.schema_provider(ONLINE_SCHEMA)?.table_exist(&name.name)
        {
            return Err(Error::DuplicateObject {
                kind: "online feature group",
                name: format!("{ONLINE_SCHEMA}.{}", name.name),
            });
        }

        let (schema, backfill) = self.feature_group_schema(create).await?;
        // A new version without keys of its own keeps the previous version's.
        let previous = existing.last().map(|g| g.def.clone());
        let mut primary_key: Vec<String> = create.primary_key.iter().map(normalize_ident).collect();
        let mut event_time = create.event_time.as_ref().map(normalize_ident);
        if primary_key.is_empty()
            && let Some(previous) = &previous
        {
            primary_key = previous.primary_key.clone();
            if event_time.is_none() {
                event_time = previous.event_time.clone();
            }
        }
        let schema =
            validate_feature_group_schema(&schema, &primary_key, event_time.as_deref(), online)?;
        let ttl_seconds = match &create.ttl {
            Some(expr) => Some(self.interval_seconds(&expr.to_string()).await?),
            None => None,
        };
        let tags = create
            .options
            .iter()
            .map(|option| match option {
                SqlOption::KeyValue { key, value } => {
                    Ok((normalize_ident(key), option_value(value)))
                }
                other => Err(Error::syntax(
                    format!("WITH takes key = 'value' pairs, not {other}"),
                    None,
                )),
            })
            .collect::<Result<BTreeMap<_, _>>>()?;

        let def = FeatureGroupDef {
            schema: name.schema.clone(),
            name: name.name.clone(),
            version,
            primary_key,
            event_time,
            online,
            ttl_seconds,
            description: create.comment.clone(),
            tags,
            storage_id: uuid::Uuid::new_v4().to_string(),
            created_at_micros: now_micros(),
        };
        let path = self.table_path(&def.storage_id);
        let created = async {
            let offline = OfflineTable::create(
                &path,
                &format!("{}.{}", def.schema, def.versioned_name()),
                &schema,
                def.event_time.is_some(),
            )
            .await?;
            if online {
                self.online.create_group(&def.storage_id)?;
            }
            let group = Arc::new(FeatureGroup::new(
                def.clone(),
                offline,
                Some(self.online.clone()),
            )?);
            let rows = match backfill {
                Some(frame) => Some(group.clone().ingest(frame.execute_stream().await?).await?),
                None => None,
            };
            crate::crash_point!("create_as_select.data_committed");
            self.catalog.put_feature_group(&def)?;
            Ok::<_, Error>((group, rows))
        }
        .await;
        let (group, rows) = match created {
            Ok(done) => done,
            Err(e) => {
                let _ = self.online.drop_group(&def.storage_id);
                let _ = std::fs::remove_dir_all(&path);
                return Err(e);
            }
        };
        self.groups_write()
            .insert((def.schema.clone(), def.name.clone(), def.version), group);
        self.register_feature_group_names(&def.schema, &def.name)?;
        Ok(Outcome {
            tag: match rows {
                Some(rows) => Tag::new("SELECT").with_rows(rows as usize),
                None => Tag::new("CREATE FEATURE GROUP"),
            },
            notices: Vec::new(),
        })
    }

    /// The group's columns, and the backfill query's rows cast onto them.
    async fn feature_group_schema(
        &self,
        create: &CreateFeatureGroup,
    ) -> Result<(Schema, Option<DataFrame>)> {
        let declared = if create.columns.is_empty() {
            None
        } else {
            let columns = create
                .columns
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let plan = self
                .ctx
                .state()
                .create_logical_plan(&format!("CREATE TABLE __fstore_feature_group ({columns})"))
                .await?;
            let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(table)) = plan else {
                return Err(Error::Internal(
                    "column list did not plan as a table".into(),
                ));
            };
            Some(table.input.schema().as_arrow().clone())
        };
        let query = match &create.query {
            Some(query) => Some(self.ctx.sql(&query.to_string()).await?),
            None => None,
        };
        match (declared, query) {
            (Some(schema), None) => Ok((schema, None)),
            (None, Some(frame)) => {
                let schema = frame.schema().as_arrow().clone();
                Ok((schema, Some(frame)))
            }
            (Some(schema), Some(frame)) => {
                let produced = frame.schema().fields().len();
                if produced != schema.fields().len() {
                    return Err(Error::syntax(
                        format!(
                            "the AS query returns {produced} columns but the feature group declares {}",
                            schema.fields().len()
                        ),
                        None,
                    ));
                }
                let casts: Vec<Expr> = frame
                    .schema()
                    .columns()
                    .into_iter()
                    .zip(schema.fields())
                    .map(|(column, field)| {
                        datafusion::prelude::cast(col(column), field.data_type().clone())
                            .alias(field.name())
                    })
                    .collect();
                Ok((schema, Some(frame.select(casts)?)))
            }
            (None, None) => Err(Error::syntax(
                "a feature group needs a column list or AS query",
                None,
            )),
        }
    }

    async fn interval_seconds(&self, expr: &str) -> Result<i64> {
        let batches = self
            .ctx
            .sql(&format!("SELECT {expr}"))
            .await?
            .collect()
            .await?;
        let value = batches
            .first()
            .filter(|b| b.num_rows() == 1)
            .map(|b| ScalarValue::try_from_array(b.column(0), 0))
            .transpose()?;
        let seconds = match value {
            Some(ScalarValue::IntervalMonthDayNano(Some(v))) => {
                v.months as i64 * 30 * 86_400
                    + v.days as i64 * 86_400
                    + v.nanoseconds / 1_000_000_000
            }
            Some(ScalarValue::IntervalDayTime(Some(v))) => {
                v.days as i64 * 86_400 + v.milliseconds as i64 / 1_000
            }
            Some(ScalarValue::IntervalYearMonth(Some(months))) => months as i64 * 30 * 86_400,
            Some(other) if other.data_type().is_integer() => other
                .cast_to(&DataType::Int64)?
                .to_string()
                .parse()
                .unwrap_or(0),
            _ => {
                return Err(Error::InvalidParameter(format!(
                    "TTL must be an interval such as INTERVAL '30 days', not {expr}"
                )));
            }
        };
        if seconds <= 0 {
            return Err(Error::InvalidParameter(format!(
                "TTL must be positive, not {expr}"
            )));
        }
        Ok(seconds)
    }

    pub(super) fn drop_feature_group(
        &self,
        name: &QualifiedName,
        version: Option<u64>,
        if_exists: bool,
    ) -> Result<Outcome> {
        let targets = match feature_group(name, version).to_drop(
            self.feature_group_versions(&name.schema, &name.name),
            |g| g.def.version,
            if_exists,
            "DROP FEATURE GROUP",
        )? {
            Dropping::Versions(targets) => targets,
            Dropping::Skipped(outcome) => return Ok(outcome),
        };
        let defs: Vec<FeatureGroupDef> = targets.iter().map(|g| g.def.clone()).collect();
        let dropped: Vec<String> = targets.iter().map(|g| g.qualified_name()).collect();
        let dependents = self.views_reading(&dropped);
        if !dependents.is_empty() {
            let next = self
                .feature_group_versions(&name.schema, &name.name)
                .iter()
                .map(|g| g.def.version)
                .max()
                .unwrap_or(0)
                + 1;
            return Err(Error::DependentObjects {
                object: format!("feature group {name}"),
                detail: format!("feature view {} depends on it", dependents.join(", ")),
                hint: format!(
                    "Drop the feature views that read it first (DROP FEATURE VIEW …) and create them again \
                     afterwards, or keep this version and create the next one beside it \
                     (CREATE FEATURE GROUP {name} VERSION {next} …)."
                ),
            });
        }
        self.catalog.drop_feature_groups(&defs)?;
        crate::crash_point!("drop.catalog_dropped");
        {
            let mut groups = self.groups_write();
            for def in &defs {
                groups.remove(&(def.schema.clone(), def.name.clone(), def.version));
            }
        }
        let offline_schema = self.schema_provider(&name.schema)?;
        let online_schema = self.schema_provider(ONLINE_SCHEMA)?;
        for def in &defs {
            offline_schema.deregister_table(&def.versioned_name())?;
            online_schema.deregister_table(&def.versioned_name())?;
        }
        self.register_feature_group_names(&name.schema, &name.name)?;
        for def in &defs {
            if def.online
                && let Err(e) = self.online.drop_group(&def.storage_id)
            {
                tracing::warn!(error = %e, "could not clear a dropped group's online rows");
            }
            if let Err(e) = std::fs::remove_dir_all(self.table_path(&def.storage_id)) {
                tracing::warn!(error = %e, "could not remove a dropped group's files");
            }
        }
        Ok(Outcome {
            tag: Tag::new("DROP FEATURE GROUP"),
            notices: Vec::new(),
        })
    }

    pub(super) fn comment_on_feature_group(
        &self,
        name: &QualifiedName,
        version: Option<u64>,
        comment: Option<String>,
    ) -> Result<Outcome> {
        let group = self.find_version(name, version)?;
        let mut def = group.def.clone();
        def.description = comment;
        self.catalog.put_feature_group(&def)?;
        let updated = Arc::new(FeatureGroup::new(
            def.clone(),
            group.offline.clone(),
            Some(self.online.clone()),
        )?);
        self.groups_write()
            .insert((def.schema.clone(), def.name.clone(), def.version), updated);
        self.register_feature_group_names(&def.schema, &def.name)?;
        Ok(Outcome {
            tag: Tag::new("COMMENT"),
            notices: Vec::new(),
        })
    }
}

/// Checks keys, event time and types; returns the schema to store, with
/// key and event-time columns NOT NULL.
fn validate_feature_group_schema(
    schema: &Schema,
    primary_key: &[String],
    event_time: Option<&str>,
    online: bool,
) -> Result<Schema> {
    let mut seen = std::collections::HashSet::new();
    for field in schema.fields() {
        if !seen.insert(field.name().clone()) {
            return Err(Error::DuplicateColumn(field.name().clone()));
        }
    }
    if primary_key.is_empty() {
        return Err(Error::InvalidDefinition(
            "a feature group needs a PRIMARY KEY (…)".into(),
        ));
    }
    for key in primary_key {
        let field = schema
            .field_with_name(key)
            .map_err(|_| Error::UndefinedColumn(key.clone()))?;
        if !key_type_supported(field.data_type()) {
            return Err(Error::FeatureNotSupported(format!(
                "primary key column \"{key}\" has type {}; keys must be integers, text, bytea, boolean, date or timestamp",
                postgres_type_name(field.data_type())
            )));
        }
    }
    if let Some(event_time) = event_time {
        let field = schema
            .field_with_name(event_time)
            .map_err(|_| Error::UndefinedColumn(event_time.to_string()))?;
        if !matches!(
            field.data_type(),
            DataType::Timestamp(_, _) | DataType::Date32
        ) {
            return Err(Error::DatatypeMismatch(format!(
                "event time column \"{event_time}\" must be TIMESTAMP or DATE, not {}",
                postgres_type_name(field.data_type())
            )));
        }
    }
    if online
        && let Some(field) = schema
            .fields()
            .iter()
            .find(|f| !value_type_supported(f.data_type()))
    {
        return Err(Error::FeatureNotSupported(format!(
            "column \"{}\" of type {} cannot be served online; declare the group OFFLINE",
            field.name(),
            postgres_type_name(field.data_type())
        )));
    }
    Ok(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| {
                let required =
                    primary_key.contains(f.name()) || event_time == Some(f.name().as_str());
                Field::new(
                    f.name(),
                    f.data_type().clone(),
                    f.is_nullable() && !required,
                )
            })
            .collect::<Vec<_>>(),
    ))
}

fn feature_group(name: &QualifiedName, version: Option<u64>) -> VersionedName<'_> {
    VersionedName {
        kind: "feature group",
        name,
        version,
    }
}
