//! `fs.feature_groups` (one row per version) and `fs.features` (one row per
//! column of each version).

use std::sync::Arc;

use super::SystemTable;
use crate::database::Database;
use crate::database::versioned::latest_flags;
use crate::error::Result;
use crate::pg_types::postgres_type_name;
use crate::store::FeatureGroup;

pub(super) struct GroupRow {
    group: Arc<FeatureGroup>,
    is_latest: bool,
}

pub(super) fn feature_groups() -> SystemTable<GroupRow> {
    SystemTable::default()
        .text("schema_name", |r: &GroupRow| r.group.def.schema.clone())
        .text("name", |r| r.group.def.name.clone())
        .int64("version", |r| r.group.def.version as i64)
        .boolean("is_latest", |r| r.is_latest)
        .text("table_name", |r| r.group.def.versioned_name())
        .boolean("online", |r| r.group.def.online)
        .nullable_text("online_status", |r| r.group.online_status())
        .text("primary_key", |r| r.group.def.primary_key.join(", "))
        .nullable_text("event_time", |r| r.group.def.event_time.clone())
        .nullable_int64("ttl_seconds", |r| r.group.def.ttl_seconds)
        .nullable_text("description", |r| r.group.def.description.clone())
        .text("tags", |r| {
            serde_json::to_string(&r.group.def.tags).unwrap_or_default()
        })
        .int64("offline_version", |r| r.group.offline.version() as i64)
        .timestamp("created_at", |r| r.group.def.created_at_micros)
}

pub(super) fn feature_group_rows(database: &Database) -> Result<Vec<GroupRow>> {
    let groups: Vec<Arc<FeatureGroup>> = database.groups_read().values().cloned().collect();
    let latest = latest_flags(&groups, |g| (&g.def.schema, &g.def.name, g.def.version));
    Ok(groups
        .into_iter()
        .zip(latest)
        .map(|(group, is_latest)| GroupRow { group, is_latest })
        .collect())
}

pub(super) struct FeatureRow {
    group: Arc<FeatureGroup>,
    ordinal: usize,
}

impl FeatureRow {
    fn name(&self) -> String {
        self.group
            .offline
            .schema()
            .field(self.ordinal)
            .name()
            .clone()
    }
}

pub(super) fn features() -> SystemTable<FeatureRow> {
    SystemTable::default()
        .text("schema_name", |r: &FeatureRow| r.group.def.schema.clone())
        .text("feature_group", |r| r.group.def.name.clone())
        .int64("version", |r| r.group.def.version as i64)
        .int32("ordinal", |r| r.ordinal as i32 + 1)
        .text("feature", FeatureRow::name)
        .text("data_type", |r| {
            postgres_type_name(r.group.offline.schema().field(r.ordinal).data_type())
        })
        .boolean("nullable", |r| {
            r.group.offline.schema().field(r.ordinal).is_nullable()
        })
        .boolean("primary_key", |r| {
            r.group.def.primary_key.contains(&r.name())
        })
        .boolean("event_time", |r| {
            r.group.def.event_time.as_deref() == Some(r.name().as_str())
        })
}

pub(super) fn feature_rows(database: &Database) -> Result<Vec<FeatureRow>> {
    Ok(database
        .groups_read()
        .values()
        .flat_map(|group| {
            (0..group.offline.schema().fields().len()).map(|ordinal| FeatureRow {
                group: group.clone(),
                ordinal,
            })
        })
        .collect())
}
