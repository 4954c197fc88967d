//! Where each of our statements goes: fstore's own statements run in the
//! room of their object kind, persistent DDL in `tables`, statements that
//! read the catalog become queries over `fs.*`; [`classify`] tells the
//! server which DataFusion statements are ours and which it hands on.

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{ObjectType, Statement};
use pgwire::api::results::Tag;

use super::Database;
use super::feature_groups::sql_string;
use crate::error::{Error, Result};
use crate::names::normalize_ident;
use crate::offline::{IngestTarget, OfflineTableProvider};
use crate::sql::QualifiedName;
use crate::sql::ast::{FsStatement, ObjectKind};

/// How the server treats a statement DataFusion's parser understood.
#[derive(Debug, PartialEq, Eq)]
pub enum StatementClass {
    /// Persistent DDL executed by [`Database::execute_ddl`].
    Ddl,
    /// Refused before planning (SQLSTATE 42501).
    Forbidden { message: String, hint: String },
    /// Handed on to DataFusion as is.
    HandOn,
}

pub fn classify(statement: &DfStatement, allow_file_access: bool) -> StatementClass {
    let file_access_hint =
        "start the server with --allow-file-access to let SQL read and write server files"
            .to_string();
    match statement {
        DfStatement::CreateExternalTable(_) if !allow_file_access => StatementClass::Forbidden {
            message: "CREATE EXTERNAL TABLE reads server files and is disabled".into(),
            hint: file_access_hint,
        },
        DfStatement::CopyTo(_) if !allow_file_access => StatementClass::Forbidden {
            message: "COPY to a server file is disabled".into(),
            hint: file_access_hint,
        },
        DfStatement::Statement(inner) => match inner.as_ref() {
            Statement::Copy { .. } if !allow_file_access => StatementClass::Forbidden {
                message: "COPY with a server file is disabled".into(),
                hint: file_access_hint,
            },
            Statement::CreateTable(create) if !create.temporary && !create.external => {
                StatementClass::Ddl
            }
            Statement::CreateTable(create) if create.external && !allow_file_access => {
                StatementClass::Forbidden {
                    message: "CREATE EXTERNAL TABLE reads server files and is disabled".into(),
                    hint: file_access_hint,
                }
            }
            Statement::CreateView(view) if !view.temporary && !view.materialized => {
                StatementClass::Ddl
            }
            Statement::CreateSchema { .. }
            | Statement::AlterTable(_)
            | Statement::Delete(_)
            | Statement::Update(_)
            | Statement::Truncate(_)
            | Statement::CreateIndex(_) => StatementClass::Ddl,
            Statement::Drop {
                object_type: ObjectType::Table | ObjectType::View | ObjectType::Schema,
                ..
            } => StatementClass::Ddl,
            _ => StatementClass::HandOn,
        },
        // EXPLAIN ANALYZE runs its statement: the same checks apply.
        DfStatement::Explain(explain) => match classify(&explain.statement, allow_file_access) {
            forbidden @ StatementClass::Forbidden { .. } => forbidden,
            _ => StatementClass::HandOn,
        },
        _ => StatementClass::HandOn,
    }
}

/// The result of a DDL statement: its command tag and any notices.
#[derive(Debug)]
pub struct Outcome {
    pub tag: Tag,
    pub notices: Vec<String>,
}

impl Outcome {
    pub(super) fn tag(tag: &str) -> Self {
        Outcome {
            tag: Tag::new(tag),
            notices: Vec::new(),
        }
    }

    pub(super) fn with_notice(mut self, notice: String) -> Self {
        self.notices.push(notice);
        self
    }
}

impl Database {
    /// Runs one of fstore's own statements; `progress` receives NOTICE
    /// messages while long statements run.
    pub async fn execute_fstore_statement(
        &self,
        statement: &FsStatement,
        progress: Option<&super::Progress>,
    ) -> Result<Outcome> {
        let _guard = self.ddl_lock.lock().await;
        match statement {
            FsStatement::CreateFeatureGroup(create) => self.create_feature_group(create).await,
            FsStatement::DropFeatureGroup {
                if_exists,
                name,
                version,
            } => {
                let name = QualifiedName::from_object_name(name)?;
                self.drop_feature_group(&name, *version, *if_exists)
            }
            FsStatement::RebuildOnline { name, version } => {
                let name = QualifiedName::from_object_name(name)?;
                let group = self.find_version(&name, *version)?;
                let rows = group.rebuild_online().await?;
                Ok(Outcome {
                    tag: Tag::new("ALTER FEATURE GROUP"),
                    notices: vec![format!(
                        "rebuilt the online rows of \"{}\" from {rows} offline rows",
                        group.qualified_name()
                    )],
                })
            }
            FsStatement::CommentOnFeatureGroup {
                name,
                version,
                comment,
            } => {
                let name = QualifiedName::from_object_name(name)?;
                self.comment_on_feature_group(&name, *version, comment.clone())
            }
            FsStatement::CreateFeatureView(create) => self.create_feature_view(create).await,
            FsStatement::CreateTrainingDataset(create) => {
                self.create_training_dataset(create, progress).await
            }
            FsStatement::Drop {
                kind,
                if_exists,
                name,
                version,
            } => {
                let name = QualifiedName::from_object_name(name)?;
                match kind {
                    ObjectKind::FeatureView => {
                        self.drop_feature_view(&name, *version, *if_exists).await
                    }
                    ObjectKind::TrainingDataset => {
                        self.drop_training_dataset(&name, *version, *if_exists)
                            .await
                    }
                }
            }
            FsStatement::ShowFeatureGroups
            | FsStatement::DescribeFeatureGroup { .. }
            | FsStatement::Show(_)
            | FsStatement::Describe { .. }
            | FsStatement::CopyFromStdin(_)
            | FsStatement::CopyToStdout(_) => {
                Err(Error::Internal(format!("not executed as DDL: {statement}")))
            }
        }
    }

    /// The provider DataFusion reads `name` from; 42P01 when there is none,
    /// its schema missing included, as PostgreSQL says for a statement that
    /// names an existing relation.
    pub(super) async fn relation_provider(
        &self,
        name: &QualifiedName,
    ) -> Result<std::sync::Arc<dyn datafusion::catalog::TableProvider>> {
        self.catalog_provider()?
            .schema(&name.schema)
            .ok_or_else(|| Error::UndefinedTable(name.to_string()))?
            .table(&name.name)
            .await?
            .ok_or_else(|| Error::UndefinedTable(name.to_string()))
    }

    /// Where `COPY name FROM STDIN` writes, and the target column indices in
    /// input order.
    pub async fn copy_target(
        &self,
        name: &QualifiedName,
        columns: &[datafusion::sql::sqlparser::ast::Ident],
    ) -> Result<(IngestTarget, Vec<usize>)> {
        let provider = self.relation_provider(name).await?;
        let Some(offline) = provider.downcast_ref::<OfflineTableProvider>() else {
            return Err(Error::WrongObjectType {
                name: name.to_string(),
                expected: "table or feature group",
                hint: Some("COPY … FROM writes to tables and feature groups only.".into()),
            });
        };
        let target = offline.target().clone();
        let schema = target.schema();
        let indices = if columns.is_empty() {
            (0..schema.fields().len()).collect()
        } else {
            columns
                .iter()
                .map(|c| {
                    let column = normalize_ident(c);
                    schema
                        .index_of(&column)
                        .map_err(|_| Error::UndefinedColumn(column))
                })
                .collect::<Result<Vec<_>>>()?
        };
        Ok((target, indices))
    }

    /// Statements that read the catalog are rewritten to SQL over the `fs`
    /// views, so both protocols describe and stream them like any query.
    pub fn rewrite_read_statement(&self, statement: &FsStatement) -> Result<Option<String>> {
        match statement {
            FsStatement::ShowFeatureGroups => Ok(Some(
                "SELECT schema_name, name, version, online, primary_key, event_time, \
                 ttl_seconds, description FROM fs.feature_groups \
                 ORDER BY schema_name, name, version"
                    .to_string(),
            )),
            FsStatement::DescribeFeatureGroup { name, version } => {
                let name = QualifiedName::from_object_name(name)?;
                let group = self.find_version(&name, *version)?;
                Ok(Some(format!(
                    "SELECT feature, data_type, nullable, primary_key, event_time FROM fs.features \
                     WHERE schema_name = {} AND feature_group = {} AND version = {} ORDER BY ordinal",
                    sql_string(&group.def.schema),
                    sql_string(&group.def.name),
                    group.def.version
                )))
            }
            FsStatement::Show(kind) => Ok(Some(self.rewrite_view_read_statement(*kind, None)?)),
            FsStatement::Describe {
                kind,
                name,
                version,
            } => Ok(Some(
                self.rewrite_view_read_statement(*kind, Some((name, *version)))?,
            )),
            _ => Ok(None),
        }
    }
}
