//! `fs.training_datasets`: one row per training-dataset version and the
//! inputs it was made from.

use super::SystemTable;
use crate::catalog::{DefKind, TrainingDatasetDef};
use crate::database::Database;
use crate::error::Result;

pub(super) struct DatasetRow {
    def: TrainingDatasetDef,
    location: String,
}

pub(super) fn training_datasets() -> SystemTable<DatasetRow> {
    SystemTable::default()
        .text("schema_name", |r: &DatasetRow| r.def.schema.clone())
        .text("name", |r| r.def.name.clone())
        .int64("version", |r| r.def.version as i64)
        .text("versioned_name", |r| r.def.versioned_name())
        .text("feature_view", |r| r.def.feature_view.clone())
        .text("offline_versions", |r| {
            serde_json::to_string(&r.def.offline_versions).unwrap_or_default()
        })
        .nullable_text("filter", |r| r.def.filter.clone())
        .nullable_text("split", |r| r.def.split.clone())
        .nullable_int64("seed", |r| r.def.seed.map(|s| s as i64))
        .int64("rows", |r| r.def.rows as i64)
        .text("query", |r| r.def.query.clone())
        .text("location", |r| r.location.clone())
        .nullable_text("description", |r| r.def.description.clone())
        .timestamp("created_at", |r| r.def.created_at_micros)
}

pub(super) fn training_dataset_rows(database: &Database) -> Result<Vec<DatasetRow>> {
    let defs: Vec<TrainingDatasetDef> = database.catalog.defs(DefKind::TrainingDataset)?;
    Ok(defs
        .into_iter()
        .map(|def| DatasetRow {
            location: database.dataset_path(&def.storage_id).display().to_string(),
            def,
        })
        .collect())
}
