//! The `online` schema's serving side: which source `online.<name>` is,
//! feature views' online vectors, the generation counter prepared lookups
//! check, and the `fs.metrics` views.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use datafusion::arrow::datatypes::Schema;

use super::Database;
use super::feature_views::parse_query;
use crate::catalog::FeatureViewDef;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::names::ONLINE_SCHEMA;
use crate::online::vector::{VectorInput, plan_vector};
use crate::online::{OnlineSource, OnlineTableProvider};
use crate::sql::QualifiedName;

impl Database {
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Changes whenever what an `online.*` name means changes.
    pub fn online_generation(&self) -> u64 {
        self.online_generation.load(Ordering::Acquire)
    }

    pub(super) fn bump_online_generation(&self) {
        self.online_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// What `online.<name>` serves, if anything.
    pub fn online_source(&self, name: &str) -> Option<OnlineSource> {
        let schema = self.schema_provider(ONLINE_SCHEMA).ok()?;
        // The online schema is an in-memory provider: its lookups are ready
        // at once.
        let table = futures::executor::block_on(schema.table(name))
            .ok()
            .flatten()?;
        table
            .downcast_ref::<OnlineTableProvider>()
            .map(|provider| provider.source().clone())
    }

    /// How `online.<view>` is assembled, or why the view cannot be served
    /// online.
    fn vector_source(
        &self,
        def: &FeatureViewDef,
        view_schema: &Schema,
    ) -> Result<std::result::Result<OnlineSource, String>> {
        let query = parse_query(&def.query)?;
        let resolve = |schema: &str, name: &str| {
            let group = self.resolve_feature_group(&QualifiedName {
                schema: schema.to_string(),
                name: name.to_string(),
            })?;
            Some(VectorInput {
                online: group.online_group().ok().flatten(),
                event_time: group.def.event_time.clone(),
                display_name: group.qualified_name(),
            })
        };
        Ok(plan_vector(&query, view_schema, &def.labels, &resolve)
            .map(|plan| OnlineSource::Vector(Arc::new(plan))))
    }

    /// Registers `online.<view>` (latest version) and `online.<view_vN>`
    /// for the versions that can be served online; returns a notice for
    /// each that cannot.
    pub(super) fn register_online_view(
        &self,
        def: &FeatureViewDef,
        view_schema: &Schema,
        latest: bool,
    ) -> Result<Vec<String>> {
        let online = self.schema_provider(ONLINE_SCHEMA)?;
        let mut names = vec![def.versioned_name()];
        if latest {
            names.push(def.name.clone());
        }
        let source = match self.vector_source(def, view_schema)? {
            Ok(source) => source,
            Err(reason) => {
                self.set_online_status(def, format!("not served online: {reason}"));
                return Ok(vec![format!(
                    "feature view \"{}\" is not served online: {reason}",
                    def.versioned_name()
                )]);
            }
        };
        let mut notices = Vec::new();
        let mut served = Vec::new();
        for name in names {
            let taken = online.table_exist(&name)
                && self
                    .online_view_owner(&name)
                    .is_none_or(|owner| owner.schema != def.schema || owner.name != def.name);
            if taken {
                notices.push(format!(
                    "feature view \"{}\" is not served as {ONLINE_SCHEMA}.{name}: that name is taken",
                    def.versioned_name()
                ));
                continue;
            }
            online.deregister_table(&name)?;
            online.register_table(
                name.clone(),
                Arc::new(OnlineTableProvider::new(source.clone())),
            )?;
            served.push(format!("{ONLINE_SCHEMA}.{name}"));
        }
        self.set_online_status(
            def,
            if served.is_empty() {
                "not served online: its online names are taken".into()
            } else {
                format!("served as {}", served.join(", "))
            },
        );
        self.bump_online_generation();
        Ok(notices)
    }

    fn set_online_status(&self, def: &FeatureViewDef, status: String) {
        self.online_view_status
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert((def.schema.clone(), def.name.clone(), def.version), status);
    }

    /// How a feature view version is served online, for `fs.feature_views`.
    pub(super) fn online_status(&self, def: &FeatureViewDef) -> Option<String> {
        self.online_view_status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(def.schema.clone(), def.name.clone(), def.version))
            .cloned()
    }

    /// The feature view an `online.<name>` belongs to, if it is a view's.
    fn online_view_owner(&self, online_name: &str) -> Option<Arc<FeatureViewDef>> {
        self.views
            .all()
            .into_iter()
            .find(|v| v.name == online_name || v.versioned_name() == online_name)
    }

    /// Removes `online.<name>` entries of a feature view.
    pub(super) fn deregister_online_view(&self, def: &FeatureViewDef) -> Result<()> {
        let online = self.schema_provider(ONLINE_SCHEMA)?;
        for name in [def.versioned_name(), def.name.clone()] {
            if let Some(table) = futures::executor::block_on(online.table(&name))
                .ok()
                .flatten()
                && let Some(provider) = table.downcast_ref::<OnlineTableProvider>()
                && matches!(provider.source(), OnlineSource::Vector(_))
            {
                online.deregister_table(&name)?;
            }
        }
        self.bump_online_generation();
        Ok(())
    }
}
