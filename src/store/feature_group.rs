//! Feature groups at run time: one version's offline table, its online
//! store, and the write path that keeps the two consistent.
//!
//! A write streams batches into new Parquet files and, at the same time, into
//! an open LMDB write transaction; the Delta commit comes first, then the
//! LMDB commit records the Delta version it reflects. A crash between the two
//! leaves the online store behind the offline log, never ahead of it: at
//! start-up [`FeatureGroup::catch_up`] replays the missing Delta versions.
//! If the online commit itself fails after the offline commit, the server
//! aborts rather than acknowledge or retry (an fsync failure cannot be
//! trusted); recovery then catches up from the offline log.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::catalog::FeatureGroupDef;
use crate::error::{Error, Result};
use crate::offline::Ingest;
use crate::offline::OfflineTable;
use crate::offline::durable::percent_decode;
use crate::online::{
    OnlineGroup, OnlineLayout, OnlineSource, OnlineStore, OnlineTableProvider, key_size,
};

#[derive(Debug)]
pub struct FeatureGroup {
    pub def: FeatureGroupDef,
    pub offline: Arc<OfflineTable>,
    pub(super) online: Option<Arc<OnlineStore>>,
    pub(super) layout: OnlineLayout,
}

fn column_index(schema: &SchemaRef, name: &str) -> Result<usize> {
    schema
        .index_of(name)
        .map_err(|_| Error::Internal(format!("feature group column {name} is missing")))
}

impl FeatureGroup {
    pub fn new(
        def: FeatureGroupDef,
        offline: Arc<OfflineTable>,
        online: Option<Arc<OnlineStore>>,
    ) -> Result<Self> {
        let schema = offline.write_schema();
        let key_columns = def
            .primary_key
            .iter()
            .map(|c| column_index(&schema, c))
            .collect::<Result<Vec<_>>>()?;
        let event_time_column = def
            .event_time
            .as_deref()
            .map(|c| column_index(&schema, c))
            .transpose()?;
        let layout = OnlineLayout {
            storage_id: def.storage_id.clone(),
            key_columns,
            event_time_column,
        };
        let online = if def.online { online } else { None };
        Ok(FeatureGroup {
            def,
            offline,
            online,
            layout,
        })
    }

    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.def.schema, self.def.versioned_name())
    }

    /// The group's online rows, if it is online.
    pub fn online_group(&self) -> Result<Option<OnlineGroup>> {
        let Some(store) = &self.online else {
            return Ok(None);
        };
        OnlineGroup::new(
            store.clone(),
            self.def.storage_id.clone(),
            self.offline.schema(),
            self.layout.key_columns.clone(),
            self.def.ttl_seconds,
        )
        .map(Some)
    }

    /// `online.<name>`'s table, if the group is online.
    pub fn online_provider(&self) -> Result<Option<OnlineTableProvider>> {
        Ok(self
            .online_group()?
            .map(|group| OnlineTableProvider::new(OnlineSource::Group(group))))
    }

    /// Marks the group's online rows unavailable: lookups and writes are
    /// refused with `reason` until [`FeatureGroup::rebuild_online`].
    pub fn mark_online_unavailable(&self, reason: String) {
        if let Some(store) = &self.online {
            store.mark_unavailable(&self.def.storage_id, &self.qualified_name(), reason);
        }
    }

    /// `ready`, or `unavailable: why`; `None` for an offline group.
    pub fn online_status(&self) -> Option<String> {
        let store = self.online.as_ref()?;
        Some(match store.unavailable_reason(&self.def.storage_id) {
            None => "ready".into(),
            Some(reason) => format!("unavailable: {reason}"),
        })
    }

    /// Rebuilds the online rows from the whole offline log (after a failed
    /// catch-up, or on request); returns the rows replayed. On failure the
    /// group stays unavailable, with the new reason.
    pub async fn rebuild_online(&self) -> Result<u64> {
        let Some(store) = &self.online else {
            return Err(Error::FeatureNotSupported(format!(
                "feature group \"{}\" is not online",
                self.qualified_name()
            )));
        };
        // Writers to the group wait (an append holds the table's writer
        // lock), so none commits between the clear and the replay.
        let _writers_wait = self.offline.begin_append().await?;
        let storage_id = self.def.storage_id.clone();
        let cleared = store.clone();
        tokio::task::spawn_blocking(move || cleared.drop_group(&storage_id))
            .await
            .map_err(|e| Error::Internal(format!("online rebuild task failed: {e}")))??;
        crate::crash_point!("rebuild_online.cleared");
        match self.catch_up().await {
            Ok(rows) => {
                store.mark_available(&self.def.storage_id);
                Ok(rows)
            }
            Err(error) => {
                self.mark_online_unavailable(format!("rebuild failed: {error}"));
                Err(error)
            }
        }
    }

    /// Brings the online store up to the latest offline version by
    /// replaying the Delta commits it has not applied yet.
    pub async fn catch_up(&self) -> Result<u64> {
        let Some(store) = &self.online else {
            return Ok(0);
        };
        let applied = store.applied_version(&self.def.storage_id)?;
        let latest = self.offline.version();
        if applied > latest {
            // Online rows the offline log cannot account for: serving them
            // would break online == offline, and the next commit would
            // reuse a version LMDB already counts as applied.
            return Err(Error::Internal(format!(
                "the online store reflects offline version {applied} but the offline log ends at \
                 version {latest}: offline commits were lost (files removed, or a power loss on a \
                 disk that ignored fsync); ALTER FEATURE GROUP {} REBUILD ONLINE makes online \
                 match the offline log again",
                self.qualified_name()
            )));
        }
        if applied == latest {
            return Ok(0);
        }
        let table_dir = self.offline.path()?;
        let mut versions = Vec::new();
        for version in applied + 1..=latest {
            versions.push(version_files(&table_dir, version)?);
        }
        if versions.iter().any(|v| v.removes) {
            // A DELETE took rows out: replaying what versions added would
            // bring them back, so the online rows are rebuilt from the rows
            // that are left.
            let rows = self.replay_in_write_order(store, latest).await?;
            tracing::info!(
                feature_group = %self.qualified_name(),
                from_version = applied,
                to_version = latest,
                rows,
                "online store rebuilt from the offline rows (the log took rows out)"
            );
            return Ok(rows);
        }
        let writer = store.begin_write(self.layout.clone())?;
        let mut rows = 0u64;
        for version in versions {
            for file in version.adds {
                let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file)?)
                    .map_err(|e| Error::Internal(format!("{}: {e}", file.display())))?
                    .build()
                    .map_err(|e| Error::Internal(format!("{}: {e}", file.display())))?;
                for batch in reader {
                    let batch = batch.map_err(datafusion::error::DataFusionError::from)?;
                    rows += batch.num_rows() as u64;
                    writer.apply(self.offline.conform(batch)?).await?;
                }
            }
            crate::crash_point!("online.catch_up");
        }
        writer.commit(latest).await?;
        tracing::info!(
            feature_group = %self.qualified_name(),
            from_version = applied,
            to_version = latest,
            rows,
            "online store caught up from the offline log"
        );
        Ok(rows)
    }
}

/// What one Delta commit did to a table's files.
struct VersionFiles {
    /// The data files it added, in the order the commit lists them.
    adds: Vec<std::path::PathBuf>,
    /// Whether it took files out (a DELETE).
    removes: bool,
}

fn version_files(table_dir: &Path, version: u64) -> Result<VersionFiles> {
    let log = table_dir
        .join("_delta_log")
        .join(format!("{version:020}.json"));
    let text = std::fs::read_to_string(&log)?;
    let mut files = VersionFiles {
        adds: Vec::new(),
        removes: false,
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let action: serde_json::Value = serde_json::from_str(line)?;
        files.removes |= action.get("remove").is_some();
        if let Some(path) = action
            .get("add")
            .and_then(|add| add.get("path"))
            .and_then(|p| p.as_str())
        {
            let decoded = percent_decode(path);
            files.adds.push(table_dir.join(decoded));
        }
    }
    Ok(files)
}

#[async_trait]
impl Ingest for FeatureGroup {
    fn name(&self) -> String {
        self.qualified_name()
    }

    fn schema(&self) -> SchemaRef {
        self.offline.schema()
    }

    async fn ingest(self: Arc<Self>, mut input: SendableRecordBatchStream) -> Result<u64> {
        if let Some(store) = &self.online {
            store.check_available(&self.def.storage_id)?;
        }
        let mut append = self.offline.begin_append().await?;
        let writer = match &self.online {
            Some(store) => Some(store.begin_write(self.layout.clone())?),
            None => None,
        };
        let mut online_bytes = 0u64;
        while let Some(batch) = crate::statement_stop::next(&mut input).await? {
            let check = |batch: &RecordBatch| match &writer {
                Some(_) => {
                    key_size::check_key_sizes(batch, &self.layout.key_columns, &self.def.name)
                }
                None => Ok(()),
            };
            if let Some(written) = append.write_checked(batch?, check).await?
                && let Some(writer) = &writer
            {
                online_bytes += written.get_array_memory_size() as u64;
                writer.apply(written).await?;
            }
        }
        if let (Some(store), Some(writer)) = (&self.online, &writer) {
            writer.check().await?;
            store.reserve(online_bytes)?;
        }
        // Dropping the writer without a commit aborts its transaction. Once
        // the offline commit starts, both commits run to their end even if
        // this statement is cancelled or its client goes: an offline
        // version without its online commit would leave online behind
        // offline until the next start-up.
        let name = self.qualified_name();
        crate::offline::finish_detached(async move {
            let Some((rows, version)) = append.commit().await? else {
                return Ok(0);
            };
            crate::crash_point!("offline.committed");
            if let Some(writer) = writer
                && let Err(e) = writer.commit(version).await
            {
                tracing::error!(
                    feature_group = %name,
                    offline_version = version,
                    error = %e,
                    "online commit failed after the offline commit; aborting so that recovery replays it"
                );
                std::process::abort();
            }
            Ok(rows)
        })
        .await?
    }
}
