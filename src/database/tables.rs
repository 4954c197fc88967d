//! DDL that must outlive the server: tables (Delta), views and schemas are
//! recorded in the durable catalog as well as registered with DataFusion.
//!
//! Each statement either completes in both places or leaves no trace: data
//! is written and committed before the catalog entry, and the catalog entry
//! before DataFusion sees the relation.

use std::sync::Arc;

use datafusion::catalog::MemorySchemaProvider;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::DataFrame;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    AlterTableOperation, Ident, ObjectName, ObjectType, RenameTableNameKind, SchemaName, Statement,
};
use pgwire::api::results::Tag;

use super::{Database, Outcome};
use crate::catalog::{DEFAULT_SCHEMA, Relation, RelationKind};
use crate::error::{Error, Result};
use crate::offline::{OfflineTable, OfflineTableProvider};
use crate::sql::QualifiedName;

impl Database {
    /// Executes a statement that [`super::classify`] called `Ddl`.
    pub async fn execute_ddl(&self, statement: &DfStatement) -> Result<Outcome> {
        let DfStatement::Statement(inner) = statement else {
            return Err(Error::Internal(format!(
                "not a managed statement: {statement}"
            )));
        };
        let _guard = self.ddl_lock.lock().await;
        match inner.as_ref() {
            Statement::Delete(delete) => self.delete_rows(delete).await,
            Statement::Update(update) => self.update_rows(update).await,
            Statement::Truncate(truncate) => self.truncate_tables(truncate).await,
            Statement::CreateIndex(index) => self.create_index(index).await,
            Statement::CreateTable(create) => {
                self.create_table(statement, create.query.is_some()).await
            }
            Statement::CreateView(_) => self.create_view(statement).await,
            Statement::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => self.create_schema(schema_name, *if_not_exists),
            Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => match object_type {
                ObjectType::Schema => self.drop_schemas(names, *if_exists, *cascade).await,
                ObjectType::Table => {
                    self.drop_relations(names, *if_exists, RelationKind::Table)
                        .await
                }
                _ => {
                    self.drop_relations(names, *if_exists, RelationKind::View)
                        .await
                }
            },
            Statement::AlterTable(alter) => {
                let [AlterTableOperation::RenameTable { table_name }] = alter.operations.as_slice()
                else {
                    return Err(Error::FeatureNotSupported(format!(
                        "ALTER TABLE supports only RENAME TO for now: {inner}"
                    )));
                };
                let (RenameTableNameKind::To(new_name) | RenameTableNameKind::As(new_name)) =
                    table_name;
                let old = QualifiedName::from_object_name(&alter.name)?;
                self.rename_table(&old, new_name, alter.if_exists).await
            }
            other => Err(Error::Internal(format!("not a managed statement: {other}"))),
        }
    }

    async fn plan(&self, statement: &DfStatement) -> Result<LogicalPlan> {
        Ok(self
            .ctx
            .state()
            .statement_to_plan(statement.clone())
            .await?)
    }

    async fn create_table(&self, statement: &DfStatement, as_select: bool) -> Result<Outcome> {
        let LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) =
            self.plan(statement).await?
        else {
            return Err(Error::Internal(
                "CREATE TABLE did not plan as a table".into(),
            ));
        };
        if create.or_replace {
            return Err(Error::FeatureNotSupported(
                "CREATE OR REPLACE TABLE is not supported; DROP the table first".into(),
            ));
        }
        let name = QualifiedName::from_table_reference(&create.name)?;
        if !self.catalog.schema_exists(&name.schema)? {
            return Err(Error::UndefinedSchema(name.schema));
        }
        if self.catalog.relation(&name.schema, &name.name)?.is_some()
            || self.relation_name_taken_by_feature_group(&name.schema, &name.name)
        {
            if create.if_not_exists {
                return Ok(Outcome::tag("CREATE TABLE").with_notice(format!(
                    "relation \"{}\" already exists, skipping",
                    name.name
                )));
            }
            return Err(Error::DuplicateTable(name.name));
        }

        let storage_id = uuid::Uuid::new_v4().to_string();
        let path = self.table_path(&storage_id);
        let schema = create.input.schema().as_arrow().clone();
        let created = async {
            let table = OfflineTable::create(&path, &name.to_string(), &schema, false).await?;
            let rows = if as_select {
                let frame = DataFrame::new(self.ctx.state(), create.input.as_ref().clone());
                table.append(frame.execute_stream().await?).await?
            } else {
                0
            };
            self.catalog.create_relation(Relation {
                schema: name.schema.clone(),
                name: name.name.clone(),
                kind: RelationKind::Table,
                storage_id: Some(storage_id.clone()),
                definition: None,
                created_seq: 0,
            })?;
            Ok::<_, Error>((table, rows))
        }
        .await;
        let (table, rows) = match created {
            Ok(done) => done,
            Err(e) => {
                remove_table_files(&path);
                return Err(e);
            }
        };
        self.schema_provider(&name.schema)?.register_table(
            name.name.clone(),
            Arc::new(OfflineTableProvider::new(table)),
        )?;
        Ok(if as_select {
            Outcome {
                tag: Tag::new("SELECT").with_rows(rows as usize),
                notices: Vec::new(),
            }
        } else {
            Outcome::tag("CREATE TABLE")
        })
    }

    async fn create_view(&self, statement: &DfStatement) -> Result<Outcome> {
        let plan = self.plan(statement).await?;
        let LogicalPlan::Ddl(DdlStatement::CreateView(view)) = &plan else {
            return Err(Error::Internal("CREATE VIEW did not plan as a view".into()));
        };
        let name = QualifiedName::from_table_reference(&view.name)?;
        if !self.catalog.schema_exists(&name.schema)? {
            return Err(Error::UndefinedSchema(name.schema));
        }
        if self.relation_name_taken_by_feature_group(&name.schema, &name.name) {
            return Err(Error::DuplicateTable(name.name));
        }
        match self.catalog.relation(&name.schema, &name.name)? {
            Some(existing) if existing.kind == RelationKind::Table => {
                return Err(Error::DuplicateTable(name.name));
            }
            Some(_) if !view.or_replace => return Err(Error::DuplicateTable(name.name)),
            Some(_) => {
                self.catalog.drop_relation(&name.schema, &name.name)?;
                self.schema_provider(&name.schema)?
                    .deregister_table(&name.name)?;
            }
            None => {}
        }
        self.catalog.create_relation(Relation {
            schema: name.schema.clone(),
            name: name.name.clone(),
            kind: RelationKind::View,
            storage_id: None,
            definition: Some(statement.to_string()),
            created_seq: 0,
        })?;
        if let Err(e) = self.ctx.execute_logical_plan(plan).await {
            self.catalog.drop_relation(&name.schema, &name.name)?;
            return Err(e.into());
        }
        Ok(Outcome::tag("CREATE VIEW"))
    }

    fn create_schema(&self, schema_name: &SchemaName, if_not_exists: bool) -> Result<Outcome> {
        let (SchemaName::Simple(name) | SchemaName::NamedAuthorization(name, _)) = schema_name
        else {
            return Err(Error::FeatureNotSupported(
                "CREATE SCHEMA needs a schema name".into(),
            ));
        };
        let [part] = name.0.as_slice() else {
            return Err(Error::syntax(format!("improper schema name: {name}"), None));
        };
        let schema = part
            .as_ident()
            .map(super::normalize_ident)
            .ok_or_else(|| Error::syntax(format!("improper schema name: {name}"), None))?;
        if [
            super::ONLINE_SCHEMA,
            super::FS_SCHEMA,
            "pg_catalog",
            "information_schema",
        ]
        .contains(&schema.as_str())
        {
            if if_not_exists {
                return Ok(Outcome::tag("CREATE SCHEMA")
                    .with_notice(format!("schema \"{schema}\" already exists, skipping")));
            }
            return Err(Error::DuplicateSchema(schema));
        }
        match self.catalog.create_schema(&schema) {
            Ok(()) => {}
            Err(Error::DuplicateSchema(_)) if if_not_exists => {
                return Ok(Outcome::tag("CREATE SCHEMA")
                    .with_notice(format!("schema \"{schema}\" already exists, skipping")));
            }
            Err(e) => return Err(e),
        }
        self.catalog_provider()?
            .register_schema(&schema, Arc::new(MemorySchemaProvider::new()))?;
        Ok(Outcome::tag("CREATE SCHEMA"))
    }

    async fn drop_relations(
        &self,
        names: &[datafusion::sql::sqlparser::ast::ObjectName],
        if_exists: bool,
        kind: RelationKind,
    ) -> Result<Outcome> {
        let (kind_word, tag) = match kind {
            RelationKind::Table => ("table", "DROP TABLE"),
            RelationKind::View => ("view", "DROP VIEW"),
        };
        // Check every name before dropping any, so a failing statement
        // drops nothing.
        let mut targets = Vec::new();
        let mut notices = Vec::new();
        for object_name in names {
            let name = QualifiedName::from_object_name(object_name)?;
            match self.catalog.relation(&name.schema, &name.name)? {
                Some(relation) if relation.kind == kind => targets.push(relation),
                Some(relation) => {
                    let (other_word, statement) = match relation.kind {
                        RelationKind::Table => ("table", "DROP TABLE"),
                        RelationKind::View => ("view", "DROP VIEW"),
                    };
                    return Err(Error::WrongObjectType {
                        name: name.name,
                        expected: kind_word,
                        hint: Some(format!(
                            "\"{object_name}\" is a {other_word}; use {statement} to remove it."
                        )),
                    });
                }
                None if if_exists => notices.push(format!(
                    "{kind_word} \"{}\" does not exist, skipping",
                    name.name
                )),
                None => return Err(Error::UndefinedTable(name.to_string())),
            }
        }
        for relation in &targets {
            self.drop_relation(relation)?;
        }
        Ok(Outcome {
            tag: Tag::new(tag),
            notices,
        })
    }

    fn drop_relation(&self, relation: &Relation) -> Result<()> {
        self.catalog
            .drop_relation(&relation.schema, &relation.name)?;
        if let Some(provider) = self.catalog_provider()?.schema(&relation.schema) {
            provider.deregister_table(&relation.name)?;
        }
        if let Some(storage_id) = &relation.storage_id {
            remove_table_files(&self.table_path(storage_id));
        }
        Ok(())
    }

    async fn drop_schemas(
        &self,
        names: &[datafusion::sql::sqlparser::ast::ObjectName],
        if_exists: bool,
        cascade: bool,
    ) -> Result<Outcome> {
        let mut targets = Vec::new();
        let mut notices = Vec::new();
        for object_name in names {
            let schema = QualifiedName::from_object_name(object_name)?.name;
            if object_name.0.len() != 1 {
                return Err(Error::syntax(
                    format!("improper schema name: {object_name}"),
                    None,
                ));
            }
            if schema == DEFAULT_SCHEMA {
                return Err(Error::FeatureNotSupported(format!(
                    "schema \"{DEFAULT_SCHEMA}\" is fstore's default schema and cannot be dropped"
                )));
            }
            if !self.catalog.schema_exists(&schema)? {
                if if_exists {
                    notices.push(format!("schema \"{schema}\" does not exist, skipping"));
                    continue;
                }
                return Err(Error::UndefinedSchema(schema));
            }
            let contained = self.catalog.relations(Some(&schema))?;
            let groups: Vec<String> = self
                .catalog
                .feature_groups()?
                .into_iter()
                .filter(|d| d.schema == schema)
                .map(|d| d.versioned_name())
                .collect();
            if !groups.is_empty() {
                return Err(Error::DependentObjects {
                    object: format!("schema {schema}"),
                    hint: "Drop its feature groups first (DROP FEATURE GROUP …).".into(),
                    detail: groups
                        .iter()
                        .map(|g| format!("feature group {schema}.{g} depends on schema {schema}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                });
            }
            if !contained.is_empty() && !cascade {
                let detail = contained
                    .iter()
                    .map(|r| {
                        let kind = match r.kind {
                            RelationKind::Table => "table",
                            RelationKind::View => "view",
                        };
                        format!("{kind} {}.{} depends on schema {schema}", r.schema, r.name)
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                return Err(Error::DependentObjects {
                    object: format!("schema {schema}"),
                    detail,
                    hint: "Use DROP ... CASCADE to drop the dependent objects too.".into(),
                });
            }
            targets.push(schema);
        }
        for schema in targets {
            let dropped = self.catalog.drop_schema(&schema)?;
            for relation in &dropped {
                if let Some(storage_id) = &relation.storage_id {
                    remove_table_files(&self.table_path(storage_id));
                }
            }
            if !dropped.is_empty() {
                notices.push(format!(
                    "drop cascades to {} other object{}",
                    dropped.len(),
                    if dropped.len() == 1 { "" } else { "s" }
                ));
            }
            self.catalog_provider()?.deregister_schema(&schema, true)?;
        }
        Ok(Outcome {
            tag: Tag::new("DROP SCHEMA"),
            notices,
        })
    }

    async fn rename_table(
        &self,
        old: &QualifiedName,
        new_name: &datafusion::sql::sqlparser::ast::ObjectName,
        if_exists: bool,
    ) -> Result<Outcome> {
        let [part] = new_name.0.as_slice() else {
            return Err(Error::syntax(
                format!("RENAME TO takes a name without a schema, not {new_name}"),
                None,
            ));
        };
        let new = part
            .as_ident()
            .map(super::normalize_ident)
            .ok_or_else(|| Error::syntax(format!("improper name: {new_name}"), None))?;
        let Some(relation) = self.catalog.relation(&old.schema, &old.name)? else {
            if if_exists {
                return Ok(Outcome::tag("ALTER TABLE").with_notice(format!(
                    "relation \"{}\" does not exist, skipping",
                    old.name
                )));
            }
            return Err(Error::UndefinedTable(old.to_string()));
        };
        let schema = self.schema_provider(&old.schema)?;
        if schema.table_exist(&new) || self.relation_name_taken_by_feature_group(&old.schema, &new)
        {
            return Err(Error::DuplicateTable(new));
        }
        // A view is restored at start-up by replaying its CREATE VIEW, so
        // the stored statement must carry the new name.
        let definition = match (&relation.kind, &relation.definition) {
            (RelationKind::View, Some(definition)) => {
                Some(renamed_view_definition(definition, &old.schema, &new)?)
            }
            (RelationKind::View, None) => {
                return Err(Error::Internal(format!(
                    "view {old} has no stored definition"
                )));
            }
            (RelationKind::Table, _) => None,
        };
        self.catalog
            .rename_relation(&old.schema, &old.name, &new, definition)?;
        if let Some(provider) = schema.deregister_table(&old.name)? {
            if let Some(offline) = provider.downcast_ref::<OfflineTableProvider>() {
                let renamed = QualifiedName {
                    schema: old.schema.clone(),
                    name: new.clone(),
                };
                offline.table().set_name(&renamed.to_string());
            }
            schema.register_table(new, provider)?;
        }
        Ok(Outcome::tag("ALTER TABLE"))
    }
}

/// `CREATE VIEW <schema>.<new> AS …` from a view's stored statement.
fn renamed_view_definition(definition: &str, schema: &str, new: &str) -> Result<String> {
    let mut statements = datafusion::sql::parser::DFParser::parse_sql(definition)?;
    match statements.pop_front() {
        Some(DfStatement::Statement(mut statement)) => {
            if let Statement::CreateView(view) = statement.as_mut() {
                view.name = ObjectName::from(vec![
                    Ident::with_quote('"', schema),
                    Ident::with_quote('"', new),
                ]);
                return Ok(statement.to_string());
            }
            Err(Error::Internal(format!(
                "a stored view definition is not CREATE VIEW: {definition}"
            )))
        }
        _ => Err(Error::Internal(format!(
            "a stored view definition is not CREATE VIEW: {definition}"
        ))),
    }
}

/// Files of a dropped or never-committed table. Failure to delete only
/// wastes disk: the catalog no longer points at them.
fn remove_table_files(path: &std::path::Path) {
    if let Err(e) = std::fs::remove_dir_all(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "could not remove table files");
    }
}
