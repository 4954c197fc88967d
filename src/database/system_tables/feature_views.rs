//! `fs.feature_views` (one row per version) and `fs.feature_view_columns`
//! (one row per output column of each version).

use std::sync::Arc;

use super::SystemTable;
use crate::catalog::FeatureViewDef;
use crate::database::Database;
use crate::database::versioned::latest_flags;
use crate::error::Result;
use crate::pg_types::postgres_type_name;

pub(super) struct ViewRow {
    view: Arc<FeatureViewDef>,
    latest: bool,
    online_status: Option<String>,
}

pub(super) fn feature_views() -> SystemTable<ViewRow> {
    SystemTable::default()
        .text("schema_name", |r: &ViewRow| r.view.schema.clone())
        .text("name", |r| r.view.name.clone())
        .int64("version", |r| r.view.version as i64)
        .boolean("latest", |r| r.latest)
        .text("versioned_name", |r| r.view.versioned_name())
        .text("root_feature_group", |r| r.view.root.clone())
        .text("serving_key", |r| r.view.serving_key.join(", "))
        .nullable_text("event_time", |r| r.view.event_time.clone())
        .text("labels", |r| r.view.labels.join(", "))
        .text("feature_groups", |r| r.view.feature_groups.join(", "))
        .text("query", |r| r.view.query.clone())
        .nullable_text("description", |r| r.view.description.clone())
        .timestamp("created_at", |r| r.view.created_at_micros)
        .nullable_text("online_status", |r| r.online_status.clone())
}

pub(super) fn feature_view_rows(database: &Database) -> Result<Vec<ViewRow>> {
    let views = database.views.all();
    let latest = latest_flags(&views, |v| (&v.schema, &v.name, v.version));
    Ok(views
        .into_iter()
        .zip(latest)
        .map(|(view, latest)| ViewRow {
            online_status: database.online_status(&view),
            view,
            latest,
        })
        .collect())
}

pub(super) struct ViewColumnRow {
    view: Arc<FeatureViewDef>,
    ordinal: usize,
    name: String,
    data_type: String,
}

pub(super) fn feature_view_columns() -> SystemTable<ViewColumnRow> {
    SystemTable::default()
        .text("schema_name", |r: &ViewColumnRow| r.view.schema.clone())
        .text("feature_view", |r| r.view.name.clone())
        .int64("version", |r| r.view.version as i64)
        .int32("ordinal", |r| r.ordinal as i32 + 1)
        .text("column_name", |r| r.name.clone())
        .text("data_type", |r| r.data_type.clone())
        .text("role", |r| {
            let role = if r.view.serving_key.contains(&r.name) {
                "serving key"
            } else if r.view.event_time.as_ref() == Some(&r.name) {
                "event time"
            } else if r.view.labels.contains(&r.name) {
                "label"
            } else {
                "feature"
            };
            role.to_string()
        })
}

pub(super) fn feature_view_column_rows(database: &Database) -> Result<Vec<ViewColumnRow>> {
    let provider = database.catalog_provider()?;
    let mut rows = Vec::new();
    for view in database.views.all() {
        let Some(table) = provider.schema(&view.schema).and_then(|s| {
            futures::executor::block_on(s.table(&view.versioned_name()))
                .ok()
                .flatten()
        }) else {
            continue;
        };
        for (ordinal, field) in table.schema().fields().iter().enumerate() {
            rows.push(ViewColumnRow {
                view: view.clone(),
                ordinal,
                name: field.name().clone(),
                data_type: postgres_type_name(field.data_type()),
            });
        }
    }
    Ok(rows)
}
