//! Feature views: named, versioned queries over feature groups whose AS OF
//! joins make them point-in-time correct.
//!
//! At creation the query's feature-group names are pinned to the versions
//! they meant then (`transactions` → `public.transactions_v1`), so a new
//! feature-group version never changes an existing view. The root feature
//! group (the first relation in FROM) gives the view its serving key and
//! event time. A view is registered as a DataFusion view under `name` (its
//! latest version) and `name_vN`; filters on it push down through the AS OF
//! joins into the root's scan.

mod spine;

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::{Arc, RwLock};

use datafusion::datasource::ViewTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    Ident, JoinOperator, ObjectName, ObjectNamePart, Query, SetExpr, Statement, TableAlias,
    TableFactor, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use pgwire::api::results::Tag;

use super::feature_groups::{now_micros, sql_string};
use super::versioned::{Dropping, VersionedName};
use super::{Database, Outcome};
use crate::catalog::{DefKind, FeatureViewDef, versioned_name};
use crate::error::{Error, Result};
use crate::sql::QualifiedName;
use crate::sql::ast::{CreateFeatureView, ObjectKind};
use crate::store::FeatureGroup;

pub type ViewKey = (String, String, u64);

/// Feature view definitions by (schema, name, version), shared with the
/// planner (spine retrieval reads them while planning).
#[derive(Debug, Default)]
pub struct FeatureViewRegistry {
    views: RwLock<BTreeMap<ViewKey, Arc<FeatureViewDef>>>,
}

impl FeatureViewRegistry {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<ViewKey, Arc<FeatureViewDef>>> {
        self.views.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<ViewKey, Arc<FeatureViewDef>>> {
        self.views.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn all(&self) -> Vec<Arc<FeatureViewDef>> {
        self.read().values().cloned().collect()
    }

    pub fn versions(&self, schema: &str, name: &str) -> Vec<Arc<FeatureViewDef>> {
        self.read()
            .iter()
            .filter(|((s, n, _), _)| s == schema && n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The view `name` (latest version) or `name_vN` in `schema`.
    pub fn resolve(&self, schema: &str, name: &str) -> Option<Arc<FeatureViewDef>> {
        let views = self.read();
        let latest = views
            .iter()
            .rev()
            .find(|((s, n, _), _)| s == schema && n == name);
        if let Some((_, def)) = latest {
            return Some(def.clone());
        }
        views
            .iter()
            .find(|((s, n, v), _)| s == schema && versioned_name(n, *v) == name)
            .map(|(_, def)| def.clone())
    }

    fn insert(&self, def: FeatureViewDef) {
        self.write().insert(
            (def.schema.clone(), def.name.clone(), def.version),
            Arc::new(def),
        );
    }

    fn remove(&self, key: &ViewKey) {
        self.write().remove(key);
    }
}

/// `"schema"."name_vN"`, as pinned names are written.
pub(crate) fn pinned_name(schema: &str, versioned: &str) -> ObjectName {
    ObjectName(vec![
        ObjectNamePart::Identifier(Ident::with_quote('"', schema)),
        ObjectNamePart::Identifier(Ident::with_quote('"', versioned)),
    ])
}

/// Parses a stored or written query (canonical AS OF spelling).
pub(crate) fn parse_query(sql: &str) -> Result<Box<Query>> {
    let mut parser = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .map_err(|e| Error::syntax(e.to_string(), None))?;
    parser
        .parse_query()
        .map_err(|e| Error::syntax(e.to_string(), None))
}

/// The leftmost relation of the first FROM item.
fn root_relation(query: &Query) -> Option<&ObjectName> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let mut factor = &select.from.first()?.relation;
    loop {
        match factor {
            TableFactor::Table {
                name, args: None, ..
            } => return Some(name),
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => factor = &table_with_joins.relation,
            _ => return None,
        }
    }
}

/// Relations joined with a plain (not AS OF) join, anywhere in FROM.
fn plainly_joined(query: &Query) -> Vec<ObjectName> {
    struct Finder(Vec<ObjectName>);
    impl datafusion::sql::sqlparser::ast::Visitor for Finder {
        type Break = ();
        fn pre_visit_select(
            &mut self,
            select: &datafusion::sql::sqlparser::ast::Select,
        ) -> ControlFlow<()> {
            for item in &select.from {
                for join in &item.joins {
                    if matches!(join.join_operator, JoinOperator::AsOf { .. }) {
                        continue;
                    }
                    if let TableFactor::Table { name, .. } = &join.relation {
                        self.0.push(name.clone());
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder(Vec::new());
    let _ = datafusion::sql::sqlparser::ast::Visit::visit(query, &mut finder);
    finder.0
}

impl Database {
    pub fn feature_view_registry(&self) -> Arc<FeatureViewRegistry> {
        self.views.clone()
    }

    /// Expands every feature-view call (`view(spine)`, spine retrieval) in
    /// `statement` into its query; `tokens` are the statement's, for a cheap
    /// test first. Whether anything was expanded.
    pub fn expand_feature_view_calls(
        &self,
        tokens: &[datafusion::sql::sqlparser::tokenizer::Token],
        statement: &mut datafusion::sql::sqlparser::ast::Statement,
    ) -> Result<bool> {
        use datafusion::sql::sqlparser::tokenizer::Token;
        let views = self.views.all();
        if views.is_empty() {
            return Ok(false);
        }
        let calls_a_view = tokens.windows(2).any(|pair| match pair {
            [Token::Word(word), Token::LParen] => {
                let called = word.value.to_lowercase();
                views.iter().any(|v| {
                    v.name == called || v.versioned_name() == called || v.name == word.value
                })
            }
            _ => false,
        });
        if !calls_a_view {
            return Ok(false);
        }
        spine::expand_spine_calls(statement, &self.views)
    }

    /// The feature group version a relation name means: `name` (latest) or
    /// `name_vN`, in its schema.
    pub(crate) fn resolve_feature_group(&self, name: &QualifiedName) -> Option<Arc<FeatureGroup>> {
        let versions = self.feature_group_versions(&name.schema, &name.name);
        if let Some(latest) = versions.last() {
            return Some(latest.clone());
        }
        self.groups_read()
            .values()
            .find(|g| g.def.schema == name.schema && g.def.versioned_name() == name.name)
            .cloned()
    }

    /// Rewrites every feature-group name in `query` to `schema.name_vN`;
    /// returns the groups read, in order of appearance.
    fn pin_feature_groups(&self, query: &mut Query) -> Result<Vec<Arc<FeatureGroup>>> {
        struct Pinner<'a> {
            database: &'a Database,
            found: Vec<Arc<FeatureGroup>>,
            error: Option<Error>,
        }
        impl VisitorMut for Pinner<'_> {
            type Break = ();
            fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
                let TableFactor::Table {
                    name,
                    alias,
                    args: None,
                    ..
                } = factor
                else {
                    return ControlFlow::Continue(());
                };
                let qualified = match QualifiedName::from_object_name(name) {
                    Ok(q) => q,
                    Err(e) => {
                        self.error = Some(e);
                        return ControlFlow::Break(());
                    }
                };
                if let Some(group) = self.database.resolve_feature_group(&qualified) {
                    // Columns qualified by the written name keep resolving.
                    if alias.is_none() {
                        *alias = Some(TableAlias {
                            explicit: true,
                            name: Ident::with_quote('"', qualified.name.clone()),
                            columns: vec![],
                            at: None,
                        });
                    }
                    *name = pinned_name(&group.def.schema, &group.def.versioned_name());
                    if !self.found.iter().any(|g| Arc::ptr_eq(g, &group)) {
                        self.found.push(group);
                    }
                }
                ControlFlow::Continue(())
            }
        }
        let mut pinner = Pinner {
            database: self,
            found: Vec::new(),
            error: None,
        };
        let _ = query.visit(&mut pinner);
        match pinner.error {
            Some(e) => Err(e),
            None => Ok(pinner.found),
        }
    }

    /// Plans a query written in fstore SQL (AS OF joins in canonical form).
    pub(crate) async fn plan_query(&self, query: &Query) -> Result<LogicalPlan> {
        let mut query = query.clone();
        crate::sql::asof::nest_asof_joins(&mut query);
        let statement = DfStatement::Statement(Box::new(Statement::Query(Box::new(query))));
        Ok(self.ctx.state().statement_to_plan(statement).await?)
    }

    pub(super) async fn create_feature_view(&self, create: &CreateFeatureView) -> Result<Outcome> {
        let name = QualifiedName::from_object_name(&create.name)?;
        self.schema_provider(&name.schema)?;
        let versions = self.views.versions(&name.schema, &name.name);
        let version = match create.version {
            Some(v) => v,
            None => versions.last().map_or(1, |v| v.version + 1),
        };
        if versions.iter().any(|v| v.version == version) {
            let described = format!("{name} version {version}");
            if create.if_not_exists {
                return Ok(Outcome {
                    tag: Tag::new("CREATE FEATURE VIEW"),
                    notices: vec![format!(
                        "feature view \"{described}\" already exists, skipping"
                    )],
                });
            }
            return Err(Error::DuplicateObject {
                kind: "feature view",
                name: described,
            });
        }
        if versions.is_empty()
            && (self.name_in_use(&name.schema, &name.name)?
                || self.name_in_use(&name.schema, &versioned_name(&name.name, version))?)
        {
            return Err(Error::DuplicateTable(name.to_string()));
        }
        let mut query = create.query.as_ref().clone();
        let root_name = root_relation(&query).cloned().ok_or_else(|| {
            Error::InvalidDefinition(
                "a feature view selects FROM a feature group (its root), optionally AS OF joined to others".into(),
            )
        })?;
        let root = self
            .resolve_feature_group(&QualifiedName::from_object_name(&root_name)?)
            .ok_or_else(|| Error::WrongObjectType {
                name: root_name.to_string(),
                expected: "feature group",
                hint: Some(
                    "the first relation in a feature view's FROM is a feature group; its primary key and event time are the view's".into(),
                ),
            })?;
        let mut notices = Vec::new();
        if root.def.event_time.is_some() {
            for joined in plainly_joined(&query) {
                let Ok(qualified) = QualifiedName::from_object_name(&joined) else {
                    continue;
                };
                if let Some(group) = self.resolve_feature_group(&qualified)
                    && let Some(event_time) = &group.def.event_time
                {
                    notices.push(format!(
                        "WARNING: feature group \"{joined}\" is joined with a plain JOIN: rows can see its feature values from their future (data leakage); use ASOF LEFT JOIN {joined} ON … AND <root event time> >= {joined}.{event_time}"
                    ));
                }
            }
        }
        let groups = self.pin_feature_groups(&mut query)?;
        let plan = self.plan_query(&query).await?;
        let output = plan.schema().clone();
        let mut seen = std::collections::HashSet::new();
        for field in output.fields() {
            if !seen.insert(field.name().clone()) {
                return Err(Error::InvalidDefinition(format!(
                    "column \"{}\" appears more than once in the feature view; give one of them an alias",
                    field.name()
                )));
            }
        }
        let has_column = |column: &str| output.fields().iter().any(|f| f.name() == column);
        for key in &root.def.primary_key {
            if !has_column(key) {
                return Err(Error::InvalidDefinition(format!(
                    "a feature view selects its root feature group's primary key: \"{key}\" of \"{}\" is missing",
                    root.qualified_name()
                )));
            }
        }
        if let Some(event_time) = &root.def.event_time
            && !has_column(event_time)
        {
            return Err(Error::InvalidDefinition(format!(
                "a feature view selects its root feature group's event time: \"{event_time}\" of \"{}\" is missing",
                root.qualified_name()
            )));
        }
        let labels: Vec<String> = create.labels.iter().map(super::normalize_ident).collect();
        for label in &labels {
            if !has_column(label) {
                return Err(Error::UndefinedColumn(format!(
                    "{label} (LABELS names columns the view selects)"
                )));
            }
            if root.def.primary_key.contains(label) || root.def.event_time.as_ref() == Some(label) {
                return Err(Error::InvalidDefinition(format!(
                    "\"{label}\" is the view's serving key or event time and cannot be a label"
                )));
            }
        }
        let def = FeatureViewDef {
            schema: name.schema.clone(),
            name: name.name.clone(),
            version,
            query: query.to_string(),
            labels,
            root: root.qualified_name(),
            serving_key: root.def.primary_key.clone(),
            event_time: root.def.event_time.clone(),
            feature_groups: groups.iter().map(|g| g.qualified_name()).collect(),
            description: create.comment.clone(),
            created_at_micros: now_micros(),
        };
        self.catalog.put_def(
            DefKind::FeatureView,
            (&def.schema, &def.name, def.version),
            &def,
        )?;
        self.views.insert(def.clone());
        let online_notices = self
            .register_feature_view_names(&def.schema, &def.name)
            .await?;
        // Only the new version's notice is news.
        notices.extend(
            online_notices
                .into_iter()
                .filter(|n| n.contains(&format!("\"{}\"", def.versioned_name()))),
        );
        Ok(Outcome {
            tag: Tag::new("CREATE FEATURE VIEW"),
            notices,
        })
    }

    /// (Re-)registers `name` and every `name_vN` of a feature view, and
    /// their `online.*` vectors; returns notices for versions not served
    /// online.
    async fn register_feature_view_names(&self, schema: &str, name: &str) -> Result<Vec<String>> {
        let provider = self.schema_provider(schema)?;
        provider.deregister_table(name)?;
        let versions = self.views.versions(schema, name);
        let mut notices = Vec::new();
        for (index, def) in versions.iter().enumerate() {
            provider.deregister_table(&def.versioned_name())?;
            self.deregister_online_view(def)?;
            let plan = self.plan_query(&*parse_query(&def.query)?).await?;
            let latest = index + 1 == versions.len();
            notices.extend(self.register_online_view(def, plan.schema().as_arrow(), latest)?);
            provider.register_table(
                def.versioned_name(),
                Arc::new(ViewTable::new(plan.clone(), Some(def.query.clone()))),
            )?;
            if latest {
                provider.register_table(
                    name.to_string(),
                    Arc::new(ViewTable::new(plan, Some(def.query.clone()))),
                )?;
            }
        }
        Ok(notices)
    }

    pub(super) async fn restore_feature_views(&self) -> Result<()> {
        let defs: Vec<FeatureViewDef> = self.catalog.defs(DefKind::FeatureView)?;
        let mut names = std::collections::BTreeSet::new();
        for def in defs {
            names.insert((def.schema.clone(), def.name.clone()));
            self.views.insert(def);
        }
        for (schema, name) in names {
            if let Err(e) = self.register_feature_view_names(&schema, &name).await {
                tracing::warn!(feature_view = %format!("{schema}.{name}"), error = %e, "feature view could not be planned");
            }
        }
        Ok(())
    }

    pub(super) fn find_feature_view(
        &self,
        name: &QualifiedName,
        version: Option<u64>,
    ) -> Result<Arc<FeatureViewDef>> {
        let named = feature_view(name, version);
        let versions = self.views.versions(&name.schema, &name.name);
        // An unversioned name may also be a versioned one (`name_v2`).
        named
            .pick(versions, |d| d.version)
            .or_else(|| {
                version
                    .is_none()
                    .then(|| self.views.resolve(&name.schema, &name.name))
                    .flatten()
            })
            .ok_or_else(|| named.undefined())
    }

    pub(super) async fn drop_feature_view(
        &self,
        name: &QualifiedName,
        version: Option<u64>,
        if_exists: bool,
    ) -> Result<Outcome> {
        let tag = Tag::new("DROP FEATURE VIEW");
        let targets = match feature_view(name, version).to_drop(
            self.views.versions(&name.schema, &name.name),
            |d| d.version,
            if_exists,
            "DROP FEATURE VIEW",
        )? {
            Dropping::Versions(targets) => targets,
            Dropping::Skipped(outcome) => return Ok(outcome),
        };
        let keys: Vec<ViewKey> = targets
            .iter()
            .map(|d| (d.schema.clone(), d.name.clone(), d.version))
            .collect();
        self.catalog.delete_defs(DefKind::FeatureView, &keys)?;
        let provider = self.schema_provider(&name.schema)?;
        for (key, def) in keys.iter().zip(&targets) {
            self.views.remove(key);
            provider.deregister_table(&def.versioned_name())?;
            self.deregister_online_view(def)?;
        }
        self.register_feature_view_names(&name.schema, &name.name)
            .await?;
        Ok(Outcome {
            tag,
            notices: Vec::new(),
        })
    }

    /// Feature views that read any version of `schema.name`.
    pub(super) fn views_reading(&self, group_names: &[String]) -> Vec<String> {
        self.views
            .all()
            .iter()
            .filter(|v| v.feature_groups.iter().any(|g| group_names.contains(g)))
            .map(|v| format!("{}.{} (version {})", v.schema, v.name, v.version))
            .collect()
    }

    pub(super) fn rewrite_view_read_statement(
        &self,
        kind: ObjectKind,
        describe: Option<(&ObjectName, Option<u64>)>,
    ) -> Result<String> {
        match (kind, describe) {
            (ObjectKind::FeatureView, None) => Ok(
                "SELECT schema_name, name, version, root_feature_group, serving_key, event_time, labels, description \
                 FROM fs.feature_views ORDER BY schema_name, name, version"
                    .into(),
            ),
            (ObjectKind::FeatureView, Some((name, version))) => {
                let name = QualifiedName::from_object_name(name)?;
                let def = self.find_feature_view(&name, version)?;
                Ok(format!(
                    "SELECT column_name, data_type, role FROM fs.feature_view_columns \
                     WHERE schema_name = {} AND feature_view = {} AND version = {} ORDER BY ordinal",
                    sql_string(&def.schema),
                    sql_string(&def.name),
                    def.version
                ))
            }
            (ObjectKind::TrainingDataset, None) => Ok(
                "SELECT schema_name, name, version, feature_view, rows, split, seed, filter, description \
                 FROM fs.training_datasets ORDER BY schema_name, name, version"
                    .into(),
            ),
            (ObjectKind::TrainingDataset, Some((name, version))) => {
                let name = QualifiedName::from_object_name(name)?;
                let def = self.find_training_dataset(&name, version)?;
                Ok(format!(
                    "SELECT feature_view, query, offline_versions, filter, split, seed, rows, created_at \
                     FROM fs.training_datasets WHERE schema_name = {} AND name = {} AND version = {}",
                    sql_string(&def.schema),
                    sql_string(&def.name),
                    def.version
                ))
            }
        }
    }
}

fn feature_view(name: &QualifiedName, version: Option<u64>) -> VersionedName<'_> {
    VersionedName {
        kind: "feature view",
        name,
        version,
    }
}
