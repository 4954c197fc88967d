//! fstore's system tables in schema `fs`: rows computed from the live
//! catalog each time they are scanned, each table one [`SystemTable`]
//! definition next to the function that lists its rows.

mod feature_groups;
mod feature_views;
mod metrics;
mod provider;
mod table;
mod training_datasets;

use std::sync::Arc;

pub use provider::CatalogView;
pub use table::SystemTable;

use super::Database;
use crate::error::{Error, Result};
use crate::names::FS_SCHEMA;

impl Database {
    /// Registers every `fs.*` table.
    pub(super) fn register_system_tables(self: &Arc<Self>) -> Result<()> {
        self.register_system_table(
            "feature_groups",
            feature_groups::feature_groups(),
            feature_groups::feature_group_rows,
        )?;
        self.register_system_table(
            "features",
            feature_groups::features(),
            feature_groups::feature_rows,
        )?;
        self.register_system_table(
            "feature_views",
            feature_views::feature_views(),
            feature_views::feature_view_rows,
        )?;
        self.register_system_table(
            "feature_view_columns",
            feature_views::feature_view_columns(),
            feature_views::feature_view_column_rows,
        )?;
        self.register_system_table(
            "training_datasets",
            training_datasets::training_datasets(),
            training_datasets::training_dataset_rows,
        )?;
        self.register_system_table("metrics", metrics::metrics(), metrics::metric_rows)?;
        self.register_system_table(
            "metric_buckets",
            metrics::metric_buckets(),
            metrics::metric_bucket_rows,
        )
    }

    /// Registers `fs.<name>`, whose rows `rows` lists from the live catalog
    /// on every scan. It holds the database weakly, so the catalog does not
    /// keep the database alive.
    fn register_system_table<T: 'static>(
        self: &Arc<Self>,
        name: &str,
        table: SystemTable<T>,
        rows: fn(&Database) -> Result<Vec<T>>,
    ) -> Result<()> {
        let weak = Arc::downgrade(self);
        let schema = table.schema();
        self.schema_provider(FS_SCHEMA)?.register_table(
            name.into(),
            Arc::new(CatalogView::new(
                schema,
                Arc::new(move || {
                    let database = weak
                        .upgrade()
                        .ok_or_else(|| Error::Internal("database is gone".into()))?;
                    table.batch(&rows(&database)?)
                }),
            )),
        )?;
        Ok(())
    }
}
