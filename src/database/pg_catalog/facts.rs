//! What the overlay knows about the relations clients have seen: the OIDs
//! datafusion-pg-catalog gave them, and fstore's descriptions and keys.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock, RwLock, Weak};

use crate::database::Database;
use crate::names::ONLINE_SCHEMA;
use crate::sql::QualifiedName;

/// `pg_class`'s OID in Postgres: `pg_description.classoid` of relations.
pub(super) const PG_CLASS_OID: i32 = 1259;
pub(super) const PG_CATALOG: &str = "pg_catalog";
/// Where our constraint OIDs start: far above the OIDs datafusion-pg-catalog
/// hands out from 16384, so that the two never meet.
pub(super) const CONSTRAINT_OID_BASE: i32 = 1 << 29;
/// Where the OIDs of the indexes behind primary keys start (above the
/// constraints').
pub(super) const INDEX_OID_BASE: i32 = 1 << 30;
/// `pg_am`'s `btree`, the access method a primary key's index reports.
pub(super) const BTREE_ACCESS_METHOD_OID: i32 = 403;

/// What the overlay knows about the relations clients have seen.
#[derive(Default)]
pub struct CatalogFacts {
    /// OID → relation, from the latest `pg_class` scan.
    pub(super) relations: RwLock<HashMap<i32, SeenRelation>>,
    /// Type name → OID, from the static `pg_type`.
    pub(super) types: OnceLock<HashMap<String, i32>>,
    /// Function OID → what `pg_proc` says of it.
    pub(super) routines: super::routines::Routines,
    pub(super) database: OnceLock<Weak<Database>>,
}

#[derive(Debug, Clone)]
pub(super) struct SeenRelation {
    pub(super) schema: String,
    pub(super) name: String,
    pub(super) namespace: i32,
    /// `r` table, `v` view, …
    pub(super) kind: String,
}

/// What fstore adds about one relation.
pub struct RelationFacts {
    pub description: Option<String>,
    /// Where its offline files are (feature groups, tables, training
    /// datasets); views and online relations have none.
    pub files: Option<std::path::PathBuf>,
}

impl CatalogFacts {
    pub(super) fn relation(&self, oid: i32) -> Option<SeenRelation> {
        self.relations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&oid)
            .cloned()
    }

    pub(super) fn oid_of(&self, schema: &str, name: &str) -> Option<i32> {
        self.relations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(_, r)| r.schema == schema && r.name == name)
            .map(|(oid, _)| *oid)
    }

    pub(super) fn facts(&self, schema: &str, name: &str) -> Option<RelationFacts> {
        let database = self.database.get()?.upgrade()?;
        Some(database.relation_facts(schema, name))
    }

    /// See [`Database::version_aliases`]; read once per scan.
    pub(super) fn version_aliases(&self) -> HashSet<(String, String)> {
        self.database
            .get()
            .and_then(Weak::upgrade)
            .map(|database| database.version_aliases())
            .unwrap_or_default()
    }

    /// The relations of the latest `pg_class` scan, by OID.
    pub(super) fn seen_relations(&self) -> HashMap<i32, SeenRelation> {
        self.relations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The server's data directory.
    pub(super) fn data_dir(&self) -> Option<std::path::PathBuf> {
        Some(self.database.get()?.upgrade()?.config().data_dir.clone())
    }

    /// A view's query, as `pg_get_viewdef` gives it.
    pub(super) fn view_definition(&self, schema: &str, name: &str) -> Option<String> {
        let database = self.database.get()?.upgrade()?;
        if let Some(view) = database.feature_view_registry().resolve(schema, name) {
            return Some(view.query.clone());
        }
        let relation = database.catalog.relation(schema, name).ok()??;
        let definition = relation.definition?;
        let parsed = datafusion::sql::sqlparser::parser::Parser::parse_sql(
            &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
            &definition,
        )
        .ok()?;
        match parsed.first()? {
            datafusion::sql::sqlparser::ast::Statement::CreateView(view) => {
                Some(view.query.to_string())
            }
            _ => Some(definition),
        }
    }

    /// The relation and key columns of the index behind a primary key
    /// (OIDs from [`INDEX_OID_BASE`]).
    pub(super) fn primary_key_index(&self, index_oid: i32) -> Option<(SeenRelation, Vec<String>)> {
        let relation = self.relation(index_oid.checked_sub(INDEX_OID_BASE)?)?;
        let database = self.database.get()?.upgrade()?;
        let key = database
            .primary_keys()
            .remove(&(relation.schema.clone(), relation.name.clone()))?;
        Some((relation, key))
    }

    pub(super) fn description(&self, oid: i32) -> Option<String> {
        let relation = self.relation(oid)?;
        self.facts(&relation.schema, &relation.name)?.description
    }
}

impl Database {
    /// Lets the overlay ask the database about relations.
    pub(in crate::database) fn attach_catalog_facts(self: &Arc<Self>) {
        let _ = self.catalog_facts.database.set(Arc::downgrade(self));
    }

    /// The `(schema, name_vN)` aliases of every version of a feature group,
    /// feature view or training dataset (their `online.*` relations too):
    /// names of versions, not of objects, which listings leave out.
    pub(crate) fn version_aliases(&self) -> HashSet<(String, String)> {
        let mut aliases = HashSet::new();
        let mut add = |schema: &str, name: &str, version: u64, online: bool| {
            let alias = crate::catalog::versioned_name(name, version);
            aliases.insert((schema.to_string(), alias.clone()));
            if online {
                aliases.insert((ONLINE_SCHEMA.to_string(), alias));
            }
        };
        for ((schema, name, version), group) in self.groups_read().iter() {
            add(schema, name, *version, group.def.online);
        }
        for view in self.feature_view_registry().all() {
            add(&view.schema, &view.name, view.version, true);
        }
        for dataset in self
            .catalog
            .defs::<crate::catalog::TrainingDatasetDef>(crate::catalog::DefKind::TrainingDataset)
            .unwrap_or_default()
        {
            add(&dataset.schema, &dataset.name, dataset.version, false);
        }
        aliases
    }

    /// The primary key of every relation that has one, by `(schema, name)`:
    /// feature groups under their name and each version's, their
    /// `online.*` relations, and feature views' `online.*` serving keys.
    /// From memory only: `pg_class` scans ask on every catalog query.
    pub(crate) fn primary_keys(&self) -> HashMap<(String, String), Vec<String>> {
        let mut keys = HashMap::new();
        for group in self.groups_read().values() {
            let def = &group.def;
            let mut names = vec![(def.schema.clone(), def.versioned_name())];
            if def.online {
                names.push((ONLINE_SCHEMA.to_string(), def.versioned_name()));
            }
            // Versions ascend: the latest one's key is left under the name.
            names.push((def.schema.clone(), def.name.clone()));
            if def.online {
                names.push((ONLINE_SCHEMA.to_string(), def.name.clone()));
            }
            for name in names {
                keys.insert(name, def.primary_key.clone());
            }
        }
        for view in self.feature_view_registry().all() {
            keys.insert(
                (ONLINE_SCHEMA.to_string(), view.versioned_name()),
                view.serving_key.clone(),
            );
            keys.insert(
                (ONLINE_SCHEMA.to_string(), view.name.clone()),
                view.serving_key.clone(),
            );
        }
        keys
    }

    /// Description and files of `schema.name` as fstore knows them (keys:
    /// [`Database::primary_keys`]).
    pub(crate) fn relation_facts(&self, schema: &str, name: &str) -> RelationFacts {
        let none = RelationFacts {
            description: None,
            files: None,
        };
        if schema == ONLINE_SCHEMA {
            let group = self
                .groups_read()
                .values()
                .rev()
                .find(|g| g.def.online && (g.def.name == name || g.def.versioned_name() == name))
                .cloned();
            if let Some(group) = group {
                return RelationFacts {
                    description: group.def.description.clone(),
                    files: None,
                };
            }
            let view = self
                .feature_view_registry()
                .all()
                .into_iter()
                .rev()
                .find(|v| v.name == name || v.versioned_name() == name);
            return view.map_or(none, |v| RelationFacts {
                description: v.description.clone(),
                files: None,
            });
        }
        let qualified = QualifiedName {
            schema: schema.to_string(),
            name: name.to_string(),
        };
        if let Some(group) = self.resolve_feature_group(&qualified) {
            return RelationFacts {
                description: group.def.description.clone(),
                files: Some(self.table_path(&group.def.storage_id)),
            };
        }
        if let Some(view) = self.feature_view_registry().resolve(schema, name) {
            return RelationFacts {
                description: view.description.clone(),
                files: None,
            };
        }
        if let Ok(Some(dataset)) = self.training_dataset_by_relation(schema, name) {
            return RelationFacts {
                description: dataset.description,
                files: Some(self.dataset_path(&dataset.storage_id)),
            };
        }
        if let Ok(Some(relation)) = self.catalog.relation(schema, name)
            && let Some(storage_id) = &relation.storage_id
        {
            return RelationFacts {
                files: Some(self.table_path(storage_id)),
                ..none
            };
        }
        none
    }
}
