//! The durable catalog: which schemas, tables and views exist, in LMDB.
//!
//! One LMDB environment at `<data-dir>/catalog` with named databases:
//! - `schemas`: schema name → [`SchemaEntry`] (JSON);
//! - `relations`: `schema \0 name` → [`Relation`] (JSON);
//! - `meta`: `format_version` and the relation sequence counter.
//!
//! Every change is one LMDB write transaction, so a crash leaves either the
//! old or the new catalog. Relations carry a creation sequence number so views
//! can be re-created at start-up in the order they were defined.

use std::path::Path;

use heed::types::Str;
use heed::{CommitOrAbort, Database, Env, EnvOpenOptions};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Bumped when the stored layout changes incompatibly.
const FORMAT_VERSION: &str = "1";
const CATALOG_MAP_SIZE: usize = 1 << 30;

pub use crate::names::DEFAULT_SCHEMA;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelationKind {
    Table,
    View,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relation {
    pub schema: String,
    pub name: String,
    pub kind: RelationKind,
    /// Tables: the directory (under `<data-dir>/tables`) of the Delta table.
    /// It is independent of the name, so a rename touches only the catalog.
    pub storage_id: Option<String>,
    /// Views: the `CREATE VIEW` statement that re-creates the view.
    pub definition: Option<String>,
    pub created_seq: u64,
}

/// One version of a feature group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureGroupDef {
    pub schema: String,
    pub name: String,
    pub version: u64,
    pub primary_key: Vec<String>,
    pub event_time: Option<String>,
    pub online: bool,
    pub ttl_seconds: Option<i64>,
    pub description: Option<String>,
    pub tags: std::collections::BTreeMap<String, String>,
    /// The Delta table directory under `<data-dir>/tables` and the online
    /// database name.
    pub storage_id: String,
    /// Microseconds since the Unix epoch.
    pub created_at_micros: i64,
}

impl FeatureGroupDef {
    /// The name under which this very version is addressable in SQL.
    pub fn versioned_name(&self) -> String {
        versioned_name(&self.name, self.version)
    }
}

pub fn versioned_name(name: &str, version: u64) -> String {
    format!("{name}_v{version}")
}

/// One version of a feature view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureViewDef {
    pub schema: String,
    pub name: String,
    pub version: u64,
    /// The view's query with every feature group pinned to the version it
    /// named at creation (`schema.name_vN`), AS OF joins in their canonical
    /// spelling (see `sql::asof`).
    pub query: String,
    pub labels: Vec<String>,
    /// The root feature group (`schema.name_vN`): its primary key and event
    /// time are the view's serving key and event time.
    pub root: String,
    pub serving_key: Vec<String>,
    pub event_time: Option<String>,
    /// Every feature group the query reads (`schema.name_vN`).
    pub feature_groups: Vec<String>,
    pub description: Option<String>,
    pub created_at_micros: i64,
}

impl FeatureViewDef {
    pub fn versioned_name(&self) -> String {
        versioned_name(&self.name, self.version)
    }
}

/// One version of a training dataset and the inputs it was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingDatasetDef {
    pub schema: String,
    pub name: String,
    pub version: u64,
    /// `schema.name_vN` of the feature view.
    pub feature_view: String,
    /// The exact query that produced the rows, feature groups read at the
    /// recorded offline versions.
    pub query: String,
    /// The Delta version of each feature group read (`schema.name_vN`).
    pub offline_versions: std::collections::BTreeMap<String, u64>,
    pub filter: Option<String>,
    /// The `SPLIT …` clause as written, if any.
    pub split: Option<String>,
    pub seed: Option<u64>,
    pub rows: u64,
    /// Directory under `<data-dir>/datasets` holding the Parquet files.
    pub storage_id: String,
    pub description: Option<String>,
    pub created_at_micros: i64,
}

impl TrainingDatasetDef {
    pub fn versioned_name(&self) -> String {
        versioned_name(&self.name, self.version)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaEntry {
    pub name: String,
}

pub struct Catalog {
    env: Env,
    schemas: Database<'static, Str, Str>,
    relations: Database<'static, Str, Str>,
    feature_groups: Database<'static, Str, Str>,
    feature_views: Database<'static, Str, Str>,
    training_datasets: Database<'static, Str, Str>,
    meta: Database<'static, Str, Str>,
}

/// Which versioned-object table a definition lives in.
#[derive(Debug, Clone, Copy)]
pub enum DefKind {
    FeatureView,
    TrainingDataset,
}

fn feature_group_key(schema: &str, name: &str, version: u64) -> String {
    // Zero-padded so LMDB's byte order is version order.
    format!("{schema}\0{name}\0{version:020}")
}

fn relation_key(schema: &str, name: &str) -> String {
    format!("{schema}\0{name}")
}

impl Catalog {
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        // SAFETY: the data directory is owned by this server process; no
        // other code maps this environment, and LMDB's own locking makes a
        // second process opening it safe.
        let env = unsafe {
            EnvOpenOptions::new()
                .map_size(CATALOG_MAP_SIZE)
                .max_dbs(8)
                .open(dir)?
        };
        let (schemas, relations, feature_groups, feature_views, training_datasets, meta) = env
            .create_databases_and_commit(env.write_txn()?, |opener, wtxn| {
                let schemas = opener.create_database(wtxn, Some("schemas"))?;
                let relations = opener.create_database(wtxn, Some("relations"))?;
                let feature_groups = opener.create_database(wtxn, Some("feature_groups"))?;
                let feature_views = opener.create_database(wtxn, Some("feature_views"))?;
                let training_datasets = opener.create_database(wtxn, Some("training_datasets"))?;
                let meta = opener.create_database(wtxn, Some("meta"))?;
                Ok::<_, heed::Error>(CommitOrAbort::<_, ()>::Commit((
                    schemas,
                    relations,
                    feature_groups,
                    feature_views,
                    training_datasets,
                    meta,
                )))
            })?
            .unwrap_commit();
        let catalog = Catalog {
            env,
            schemas,
            relations,
            feature_groups,
            feature_views,
            training_datasets,
            meta,
        };
        let mut wtxn = catalog.env.write_txn()?;
        match catalog.meta.get(&wtxn, "format_version")? {
            None => catalog
                .meta
                .put(&mut wtxn, "format_version", FORMAT_VERSION)?,
            Some(FORMAT_VERSION) => {}
            Some(other) => {
                return Err(Error::Internal(format!(
                    "catalog format version {other} is not supported by this fstore (expects {FORMAT_VERSION})"
                )));
            }
        }
        if catalog.schemas.get(&wtxn, DEFAULT_SCHEMA)?.is_none() {
            let entry = serde_json::to_string(&SchemaEntry {
                name: DEFAULT_SCHEMA.into(),
            })?;
            catalog.schemas.put(&mut wtxn, DEFAULT_SCHEMA, &entry)?;
        }
        wtxn.commit()?;
        Ok(catalog)
    }

    pub fn schemas(&self) -> Result<Vec<SchemaEntry>> {
        let rtxn = self.env.read_txn()?;
        let mut out = Vec::new();
        for item in self.schemas.iter(&rtxn)? {
            let (_, value) = item?;
            out.push(serde_json::from_str(value)?);
        }
        Ok(out)
    }

    pub fn schema_exists(&self, name: &str) -> Result<bool> {
        let rtxn = self.env.read_txn()?;
        Ok(self.schemas.get(&rtxn, name)?.is_some())
    }

    pub fn create_schema(&self, name: &str) -> Result<()> {
        let mut wtxn = self.env.write_txn()?;
        if self.schemas.get(&wtxn, name)?.is_some() {
            return Err(Error::DuplicateSchema(name.into()));
        }
        let entry = serde_json::to_string(&SchemaEntry { name: name.into() })?;
        self.schemas.put(&mut wtxn, name, &entry)?;
        wtxn.commit()?;
        Ok(())
    }

    /// Removes the schema and every relation in it in one transaction.
    pub fn drop_schema(&self, name: &str) -> Result<Vec<Relation>> {
        let mut wtxn = self.env.write_txn()?;
        let contained = self.relations_in(&wtxn, Some(name))?;
        for relation in &contained {
            self.relations
                .delete(&mut wtxn, &relation_key(&relation.schema, &relation.name))?;
        }
        self.schemas.delete(&mut wtxn, name)?;
        wtxn.commit()?;
        Ok(contained)
    }

    /// All relations, oldest first.
    pub fn relations(&self, schema: Option<&str>) -> Result<Vec<Relation>> {
        let rtxn = self.env.read_txn()?;
        self.relations_in(&rtxn, schema)
    }

    fn relations_in(&self, txn: &heed::RoTxn, schema: Option<&str>) -> Result<Vec<Relation>> {
        let mut out: Vec<Relation> = Vec::new();
        for item in self.relations.iter(txn)? {
            let (_, value) = item?;
            let relation: Relation = serde_json::from_str(value)?;
            if schema.is_none_or(|s| s == relation.schema) {
                out.push(relation);
            }
        }
        out.sort_by_key(|r| r.created_seq);
        Ok(out)
    }

    pub fn relation(&self, schema: &str, name: &str) -> Result<Option<Relation>> {
        let rtxn = self.env.read_txn()?;
        match self.relations.get(&rtxn, &relation_key(schema, name))? {
            Some(value) => Ok(Some(serde_json::from_str(value)?)),
            None => Ok(None),
        }
    }

    /// Inserts `relation` (its `created_seq` is assigned here); fails if the
    /// name is taken or the schema is gone.
    pub fn create_relation(&self, mut relation: Relation) -> Result<Relation> {
        let mut wtxn = self.env.write_txn()?;
        if self.schemas.get(&wtxn, &relation.schema)?.is_none() {
            return Err(Error::UndefinedSchema(relation.schema));
        }
        let key = relation_key(&relation.schema, &relation.name);
        if self.relations.get(&wtxn, &key)?.is_some() {
            return Err(Error::DuplicateTable(relation.name));
        }
        relation.created_seq = self.next_seq(&mut wtxn)?;
        self.relations
            .put(&mut wtxn, &key, &serde_json::to_string(&relation)?)?;
        wtxn.commit()?;
        Ok(relation)
    }

    pub fn drop_relation(&self, schema: &str, name: &str) -> Result<()> {
        let mut wtxn = self.env.write_txn()?;
        self.relations
            .delete(&mut wtxn, &relation_key(schema, name))?;
        wtxn.commit()?;
        Ok(())
    }

    /// Renames a relation; a view's stored statement is replaced by
    /// `definition` (its `CREATE VIEW` under the new name).
    pub fn rename_relation(
        &self,
        schema: &str,
        old: &str,
        new: &str,
        definition: Option<String>,
    ) -> Result<Relation> {
        let mut wtxn = self.env.write_txn()?;
        let old_key = relation_key(schema, old);
        let new_key = relation_key(schema, new);
        let Some(value) = self.relations.get(&wtxn, &old_key)? else {
            return Err(Error::UndefinedTable(old.into()));
        };
        let mut relation: Relation = serde_json::from_str(value)?;
        if self.relations.get(&wtxn, &new_key)?.is_some() {
            return Err(Error::DuplicateTable(new.into()));
        }
        relation.name = new.into();
        if definition.is_some() {
            relation.definition = definition;
        }
        self.relations.delete(&mut wtxn, &old_key)?;
        self.relations
            .put(&mut wtxn, &new_key, &serde_json::to_string(&relation)?)?;
        wtxn.commit()?;
        Ok(relation)
    }

    /// Every version of every feature group, ordered by schema, name, version.
    pub fn feature_groups(&self) -> Result<Vec<FeatureGroupDef>> {
        let rtxn = self.env.read_txn()?;
        let mut out = Vec::new();
        for item in self.feature_groups.iter(&rtxn)? {
            let (_, value) = item?;
            out.push(serde_json::from_str(value)?);
        }
        Ok(out)
    }

    /// The versions of one feature group, oldest first.
    pub fn feature_group_versions(&self, schema: &str, name: &str) -> Result<Vec<FeatureGroupDef>> {
        Ok(self
            .feature_groups()?
            .into_iter()
            .filter(|d| d.schema == schema && d.name == name)
            .collect())
    }

    pub fn put_feature_group(&self, def: &FeatureGroupDef) -> Result<()> {
        let mut wtxn = self.env.write_txn()?;
        self.feature_groups.put(
            &mut wtxn,
            &feature_group_key(&def.schema, &def.name, def.version),
            &serde_json::to_string(def)?,
        )?;
        wtxn.commit()?;
        Ok(())
    }

    pub fn drop_feature_groups(&self, defs: &[FeatureGroupDef]) -> Result<()> {
        let mut wtxn = self.env.write_txn()?;
        for def in defs {
            self.feature_groups.delete(
                &mut wtxn,
                &feature_group_key(&def.schema, &def.name, def.version),
            )?;
        }
        wtxn.commit()?;
        Ok(())
    }

    fn defs_db(&self, kind: DefKind) -> Database<'static, Str, Str> {
        match kind {
            DefKind::FeatureView => self.feature_views,
            DefKind::TrainingDataset => self.training_datasets,
        }
    }

    /// Every version of every object of `kind`, by schema, name, version.
    pub fn defs<T: serde::de::DeserializeOwned>(&self, kind: DefKind) -> Result<Vec<T>> {
        let rtxn = self.env.read_txn()?;
        let mut out = Vec::new();
        for item in self.defs_db(kind).iter(&rtxn)? {
            let (_, value) = item?;
            out.push(serde_json::from_str(value)?);
        }
        Ok(out)
    }

    pub fn put_def<T: Serialize>(
        &self,
        kind: DefKind,
        (schema, name, version): (&str, &str, u64),
        def: &T,
    ) -> Result<()> {
        let mut wtxn = self.env.write_txn()?;
        self.defs_db(kind).put(
            &mut wtxn,
            &feature_group_key(schema, name, version),
            &serde_json::to_string(def)?,
        )?;
        wtxn.commit()?;
        Ok(())
    }

    pub fn delete_defs(&self, kind: DefKind, keys: &[(String, String, u64)]) -> Result<()> {
        let mut wtxn = self.env.write_txn()?;
        for (schema, name, version) in keys {
            self.defs_db(kind)
                .delete(&mut wtxn, &feature_group_key(schema, name, *version))?;
        }
        wtxn.commit()?;
        Ok(())
    }

    fn next_seq(&self, wtxn: &mut heed::RwTxn) -> Result<u64> {
        let current = match self.meta.get(wtxn, "relation_seq")? {
            Some(value) => value
                .parse::<u64>()
                .map_err(|e| Error::Internal(format!("bad relation_seq in catalog: {e}")))?,
            None => 0,
        };
        let next = current + 1;
        self.meta.put(wtxn, "relation_seq", &next.to_string())?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str) -> Relation {
        Relation {
            schema: DEFAULT_SCHEMA.into(),
            name: name.into(),
            kind: RelationKind::Table,
            storage_id: Some(format!("id-{name}")),
            definition: None,
            created_seq: 0,
        }
    }

    #[test]
    fn relations_survive_reopen_in_creation_order() {
        let dir = tempfile::tempdir().unwrap();
        {
            let catalog = Catalog::open(dir.path()).unwrap();
            catalog.create_relation(table("b")).unwrap();
            catalog.create_relation(table("a")).unwrap();
            catalog
                .rename_relation(DEFAULT_SCHEMA, "b", "c", None)
                .unwrap();
        }
        let catalog = Catalog::open(dir.path()).unwrap();
        let names: Vec<_> = catalog
            .relations(None)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, vec!["c", "a"]);
    }

    #[test]
    fn duplicate_names_and_missing_schemas_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path()).unwrap();
        catalog.create_relation(table("t")).unwrap();
        assert!(matches!(
            catalog.create_relation(table("t")),
            Err(Error::DuplicateTable(_))
        ));
        let mut orphan = table("u");
        orphan.schema = "nowhere".into();
        assert!(matches!(
            catalog.create_relation(orphan),
            Err(Error::UndefinedSchema(_))
        ));
        assert!(matches!(
            catalog.create_schema(DEFAULT_SCHEMA),
            Err(Error::DuplicateSchema(_))
        ));
    }
}
