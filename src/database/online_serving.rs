//! The `online` schema's serving side: which source `online.<name>` is,
//! feature views' online vectors, the generation counter prepared lookups
//! check, and the `fs.metrics` views.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::feature_views::parse_query;
use super::{Database, ONLINE_SCHEMA, QualifiedName};
use crate::catalog::FeatureViewDef;
use crate::error::{Error, Result};
use crate::metrics::{BUCKET_BOUNDS_US, Metrics};
use crate::online::vector::{VectorInput, plan_vector};
use crate::online::{OnlineSource, OnlineTableProvider};

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

    /// Registers `fs.metrics` and `fs.metric_buckets`.
    pub(super) fn register_metric_views(self: &Arc<Self>) -> Result<()> {
        self.register_fs_view("metrics", metrics_schema(), Database::metrics_batch)?;
        self.register_fs_view(
            "metric_buckets",
            metric_buckets_schema(),
            Database::metric_buckets_batch,
        )
    }

    fn metrics_batch(&self, schema: SchemaRef) -> Result<RecordBatch> {
        let snapshot = self.metrics.snapshot();
        let quantile = |q: f64| -> ArrayRef {
            Arc::new(Float64Array::from_iter(
                snapshot
                    .iter()
                    .map(|k| k.quantile_micros(q).map(|v| v as f64)),
            ))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                snapshot.iter().map(|k| k.kind.name()),
            )),
            Arc::new(Int64Array::from_iter_values(
                snapshot.iter().map(|k| k.calls as i64),
            )),
            Arc::new(Int64Array::from_iter_values(
                snapshot.iter().map(|k| k.errors as i64),
            )),
            Arc::new(Int64Array::from_iter_values(
                snapshot.iter().map(|k| k.rows as i64),
            )),
            Arc::new(Float64Array::from_iter_values(
                snapshot.iter().map(|k| k.total_micros as f64 / 1_000.0),
            )),
            Arc::new(Float64Array::from_iter(snapshot.iter().map(|k| {
                (k.calls > 0).then(|| k.total_micros as f64 / k.calls as f64)
            }))),
            quantile(0.5),
            quantile(0.95),
            quantile(0.99),
            Arc::new(Float64Array::from_iter(
                snapshot
                    .iter()
                    .map(|k| (k.calls > 0).then_some(k.max_micros as f64)),
            )),
        ];
        RecordBatch::try_new(schema, columns)
            .map_err(|e| Error::Internal(format!("fs.metrics: {e}")))
    }

    fn metric_buckets_batch(&self, schema: SchemaRef) -> Result<RecordBatch> {
        let (mut kinds, mut bounds, mut counts) = (Vec::new(), Vec::new(), Vec::new());
        for kind in self.metrics.snapshot() {
            let mut cumulative = 0u64;
            for (index, count) in kind.buckets.iter().enumerate() {
                cumulative += count;
                kinds.push(kind.kind.name());
                bounds.push(BUCKET_BOUNDS_US.get(index).map(|&b| b as f64));
                counts.push(cumulative as i64);
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(kinds)),
            Arc::new(Float64Array::from(bounds)),
            Arc::new(Int64Array::from(counts)),
        ];
        RecordBatch::try_new(schema, columns)
            .map_err(|e| Error::Internal(format!("fs.metric_buckets: {e}")))
    }
}

fn metrics_schema() -> SchemaRef {
    let float = |name: &str| Field::new(name, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        Field::new("query_kind", DataType::Utf8, false),
        Field::new("calls", DataType::Int64, false),
        Field::new("errors", DataType::Int64, false),
        Field::new("rows", DataType::Int64, false),
        Field::new("total_ms", DataType::Float64, false),
        float("mean_us"),
        float("p50_us"),
        float("p95_us"),
        float("p99_us"),
        float("max_us"),
    ]))
}

fn metric_buckets_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("query_kind", DataType::Utf8, false),
        // NULL is the unbounded last bucket (+Inf).
        Field::new("le_us", DataType::Float64, true),
        Field::new("calls", DataType::Int64, false),
    ]))
}
