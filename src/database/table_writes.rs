//! `DELETE`, `UPDATE` and `TRUNCATE` on plain tables, as clients send them
//! (dbt seeds truncate and reload, incremental models delete and insert,
//! pandas and ORMs update rows).
//!
//! Each statement is one query over the table, run while the table's
//! writer lock is held ([`crate::offline::Rewrite`]): it reads every row
//! once, marks the rows the `WHERE` clause is true for (so `NULL` counts as
//! false, as in PostgreSQL), and the rows that stay are written as the
//! table's next version. The `WHERE` clause is planned by DataFusion like
//! any query's, subqueries included.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::arrow::compute::{CastOptions, cast_with_options, filter_record_batch, not};
use datafusion::arrow::error::ArrowError;
use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, Delete, Expr, FromTable, ObjectName, TableFactor, TableWithJoins, Truncate,
    Update,
};
use pgwire::api::results::Tag;

use super::{Database, Outcome};
use crate::error::{Error, Result};
use crate::names::normalize_ident;
use crate::offline::time_travel::WRITE_SEQUENCE_FUNCTION;
use crate::offline::{OfflineTable, OfflineTableProvider, RewriteKind};
use crate::sql::QualifiedName;
use crate::store::FeatureGroup;

enum Target {
    Table(Arc<OfflineTable>),
    Group(Arc<FeatureGroup>),
}

/// The column the rewrite query adds: whether the statement's `WHERE`
/// clause is true for the row.
const MATCHED: &str = "__fs_matched";

impl Database {
    pub(super) async fn delete_rows(&self, delete: &Delete) -> Result<Outcome> {
        refuse_clause(delete.returning.is_some(), "DELETE … RETURNING")?;
        refuse_clause(delete.using.is_some(), "DELETE … USING")?;
        refuse_clause(
            !delete.order_by.is_empty() || delete.limit.is_some(),
            "DELETE … ORDER BY/LIMIT",
        )?;
        let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
        let [relation] = from.as_slice() else {
            return Err(Error::FeatureNotSupported(
                "DELETE from more than one table is not supported".into(),
            ));
        };
        let target = table_name(relation, "DELETE FROM")?;
        let (name, table) = match self.rewrite_target(target, "DELETE FROM").await? {
            (name, Target::Table(table)) => (name, table),
            (_, Target::Group(group)) => {
                let deleted = self
                    .forget_rows(&group, relation, delete.selection.as_ref())
                    .await?;
                return Ok(Outcome {
                    tag: Tag::new("DELETE").with_rows(deleted as usize),
                    notices: Vec::new(),
                });
            }
        };
        let query = matched_query(&relation.to_string(), delete.selection.as_ref(), &[]);
        let kind = RewriteKind::Delete {
            predicate: delete.selection.as_ref().map(ToString::to_string),
        };
        let columns = table.schema().fields().len();
        let deleted = self
            .rewrite(&table, &query, kind, |batch, matched| {
                let rows = batch.project(&(0..columns).collect::<Vec<_>>())?;
                filter_record_batch(&rows, &not(matched)?)
            })
            .await?;
        tracing::debug!(table = %name, deleted, "rows deleted");
        Ok(Outcome {
            tag: Tag::new("DELETE").with_rows(deleted as usize),
            notices: Vec::new(),
        })
    }

    pub(super) async fn update_rows(&self, update: &Update) -> Result<Outcome> {
        refuse_clause(update.returning.is_some(), "UPDATE … RETURNING")?;
        refuse_clause(update.from.is_some(), "UPDATE … FROM")?;
        refuse_clause(
            !update.order_by.is_empty() || update.limit.is_some(),
            "UPDATE … ORDER BY/LIMIT",
        )?;
        let (_, table) = self
            .rewritable_table(table_name(&update.table, "UPDATE")?, "UPDATE")
            .await?;
        let schema = table.schema();
        let mut assigned: Vec<(usize, Expr)> = Vec::new();
        for assignment in &update.assignments {
            let AssignmentTarget::ColumnName(column) = &assignment.target else {
                return Err(Error::FeatureNotSupported(
                    "UPDATE … SET (a, b) = (…) is not supported; assign each column".into(),
                ));
            };
            let column = column_of(column)?;
            let index = schema
                .index_of(&column)
                .map_err(|_| Error::UndefinedColumn(column.clone()))?;
            if assigned.iter().any(|(i, _)| *i == index) {
                return Err(Error::syntax(
                    format!("multiple assignments to same column \"{column}\""),
                    None,
                ));
            }
            assigned.push((index, assignment.value.clone()));
        }
        let values: Vec<Expr> = assigned.iter().map(|(_, value)| value.clone()).collect();
        let query = matched_query(
            &update.table.to_string(),
            update.selection.as_ref(),
            &values,
        );
        let kind = RewriteKind::Update {
            predicate: update.selection.as_ref().map(ToString::to_string),
        };
        let columns = schema.fields().len();
        // NOT NULL is checked by the write, which names the column.
        let unchecked = Arc::new(datafusion::arrow::datatypes::Schema::new(
            schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ));
        let updated = self
            .rewrite(&table, &query, kind, |batch, matched| {
                let mut out = batch.columns()[..columns].to_vec();
                for (n, (index, _)) in assigned.iter().enumerate() {
                    let field = schema.field(*index);
                    let value = cast_with_options(
                        batch.column(columns + 1 + n),
                        field.data_type(),
                        &CastOptions {
                            safe: false,
                            ..CastOptions::default()
                        },
                    )?;
                    out[*index] = zip(matched, &value, &out[*index])?;
                }
                RecordBatch::try_new(unchecked.clone(), out)
            })
            .await?;
        Ok(Outcome {
            tag: Tag::new("UPDATE").with_rows(updated as usize),
            notices: Vec::new(),
        })
    }

    pub(super) async fn truncate_tables(&self, truncate: &Truncate) -> Result<Outcome> {
        // Every name is checked before any table is emptied.
        let mut tables = Vec::new();
        for target in &truncate.table_names {
            match self.rewritable_table(&target.name, "TRUNCATE").await {
                Err(Error::UndefinedTable(_)) if truncate.if_exists => continue,
                other => tables.push(other?.1),
            }
        }
        for table in tables {
            let rewrite = table.begin_rewrite().await?;
            rewrite
                .commit(RewriteKind::Delete { predicate: None })
                .await?;
        }
        Ok(Outcome::tag("TRUNCATE TABLE"))
    }

    /// `CREATE INDEX` (pandas' `to_sql(index=True)`, ORMs' migrations) is
    /// accepted on tables and feature groups and builds nothing: fstore
    /// keeps no secondary indexes (scans prune Delta files by their
    /// statistics; online lookups go by the primary key). A NOTICE says so.
    pub(super) async fn create_index(
        &self,
        index: &datafusion::sql::sqlparser::ast::CreateIndex,
    ) -> Result<Outcome> {
        if index.unique {
            return Err(Error::FeatureNotSupported(
                "CREATE UNIQUE INDEX is not supported: fstore does not enforce uniqueness \
                 (a feature group's primary key is the latest row per key)"
                    .into(),
            ));
        }
        let name = QualifiedName::from_object_name(&index.table_name)?;
        let provider = self.relation_provider(&name).await?;
        if provider.downcast_ref::<OfflineTableProvider>().is_none() {
            return Err(Error::WrongObjectType {
                name: name.to_string(),
                expected: "table",
                hint: Some("CREATE INDEX applies to tables and feature groups.".into()),
            });
        }
        let schema = provider.schema();
        for column in &index.columns {
            if let Expr::Identifier(ident) = &column.column.expr {
                let column = normalize_ident(ident);
                schema
                    .index_of(&column)
                    .map_err(|_| Error::UndefinedColumn(column.clone()))?;
            }
        }
        let index_name = index
            .name
            .as_ref()
            .map_or_else(|| format!("{}_idx", name.name), ToString::to_string);
        Ok(Outcome::tag("CREATE INDEX").with_notice(format!(
            "fstore keeps no secondary indexes: index \"{index_name}\" on \"{name}\" is \
             accepted and not built (scans prune files by their statistics; online lookups go \
             by the primary key)"
        )))
    }

    /// The plain table a rewrite targets; feature groups, views and system
    /// tables are refused with the reason.
    async fn rewritable_table(
        &self,
        name: &ObjectName,
        statement: &str,
    ) -> Result<(QualifiedName, Arc<OfflineTable>)> {
        match self.rewrite_target(name, statement).await? {
            (name, Target::Table(table)) => Ok((name, table)),
            (name, Target::Group(_)) => Err(Error::FeatureNotSupported(format!(
                "{statement} \"{name}\" is not supported: it is a feature group, whose rows are \
                 its history (AS OF joins and training datasets read them); write new values \
                 with INSERT, take rows out with DELETE, or drop the group"
            ))),
        }
    }

    /// `DELETE FROM <feature group> WHERE …`: the matching rows leave the
    /// offline history and the online store recomputes the keys they had
    /// (see `store::FeatureGroup::forget`). Returns the rows deleted.
    async fn forget_rows(
        &self,
        group: &Arc<FeatureGroup>,
        relation: &TableWithJoins,
        selection: Option<&Expr>,
    ) -> Result<u64> {
        group.check_forgettable()?;
        if !group.offline.keeps_write_sequence() {
            // Offline only (`check_forgettable`) and without an event time:
            // its rows are rewritten as a plain table's.
            let columns = group.offline.schema().fields().len();
            let query = matched_query(&relation.to_string(), selection, &[]);
            let kind = RewriteKind::Delete {
                predicate: selection.map(ToString::to_string),
            };
            return self
                .rewrite(&group.offline, &query, kind, |batch, matched| {
                    let rows = batch.project(&(0..columns).collect::<Vec<_>>())?;
                    filter_record_batch(&rows, &not(matched)?)
                })
                .await;
        }
        let TableFactor::Table { name, alias, .. } = &relation.relation else {
            return Err(Error::FeatureNotSupported(
                "DELETE FROM needs a table name".into(),
            ));
        };
        let alias = match alias {
            Some(alias) => alias.name.to_string(),
            None => name.0.last().map(ToString::to_string).unwrap_or_default(),
        };
        let source = format!(
            "{WRITE_SEQUENCE_FUNCTION}({}) AS {alias}",
            super::feature_groups::sql_string(&group.qualified_name())
        );
        let kind = RewriteKind::Delete {
            predicate: selection.map(ToString::to_string),
        };
        let mut rewrite = group.offline.begin_rewrite().await?;
        let frame = self
            .ctx
            .sql(&matched_query(&source, selection, &[]))
            .await?;
        let mut stream = frame.execute_stream().await?;
        let mut removed = Vec::new();
        let mut deleted = 0u64;
        while let Some(batch) = crate::statement_stop::next(&mut stream).await? {
            let batch = batch?;
            let matched = matched_of(&batch)?;
            deleted += matched.true_count() as u64;
            // The group's columns, then its write sequence.
            let rows = batch
                .project(&(0..batch.num_columns() - 1).collect::<Vec<_>>())
                .map_err(datafusion::error::DataFusionError::from)?;
            let visible = rows.num_columns() - 1;
            let kept = filter_record_batch(
                &rows,
                &not(&matched).map_err(datafusion::error::DataFusionError::from)?,
            )
            .map_err(datafusion::error::DataFusionError::from)?;
            rewrite.write_keeping_sequence(kept).await?;
            if matched.true_count() > 0 {
                let gone = filter_record_batch(&rows, &matched)
                    .map_err(datafusion::error::DataFusionError::from)?;
                removed.push(
                    gone.project(&(0..visible).collect::<Vec<_>>())
                        .map_err(datafusion::error::DataFusionError::from)?,
                );
            }
        }
        if deleted == 0 {
            return Ok(0);
        }
        // The rows that stay, read again from the snapshot the rewrite
        // replaces (no other write can commit while it lives): the online
        // store needs those of the keys that lost a row.
        let kept_query = match selection {
            Some(selection) => format!("SELECT * FROM {source} WHERE ({selection}) IS NOT TRUE"),
            None => format!("SELECT * FROM {source} WHERE false"),
        };
        let kept = self.ctx.sql(&kept_query).await?.execute_stream().await?;
        group.forget(rewrite, kind, removed, kept).await?;
        Ok(deleted)
    }

    /// What a rewrite targets: a plain table, or a feature group (only
    /// DELETE takes one); views and system tables are refused.
    async fn rewrite_target(
        &self,
        name: &ObjectName,
        statement: &str,
    ) -> Result<(QualifiedName, Target)> {
        let name = QualifiedName::from_object_name(name)?;
        let provider = self.relation_provider(&name).await?;
        let Some(offline) = provider.downcast_ref::<OfflineTableProvider>() else {
            return Err(Error::WrongObjectType {
                name: name.to_string(),
                expected: "table",
                hint: Some(format!("{statement} changes rows of tables only.")),
            });
        };
        if !offline.is_plain_table() {
            let group = self.resolve_feature_group(&name).ok_or_else(|| {
                Error::Internal(format!(
                    "\"{name}\" writes to a feature group fstore does not know"
                ))
            })?;
            return Ok((name, Target::Group(group)));
        }
        Ok((name, Target::Table(offline.table().clone())))
    }

    /// Runs `query` (the table's rows, then [`MATCHED`], then any assigned
    /// values) under the table's writer lock; `keep` turns each batch into
    /// the rows that stay. Returns how many rows matched.
    async fn rewrite(
        &self,
        table: &Arc<OfflineTable>,
        query: &str,
        kind: RewriteKind,
        keep: impl Fn(&RecordBatch, &BooleanArray) -> std::result::Result<RecordBatch, ArrowError>,
    ) -> Result<u64> {
        let mut rewrite = table.begin_rewrite().await?;
        let frame = self.ctx.sql(query).await?;
        let mut stream = frame.execute_stream().await?;
        let mut matched_rows = 0u64;
        while let Some(batch) = crate::statement_stop::next(&mut stream).await? {
            let batch = batch?;
            let matched = matched_of(&batch)?;
            matched_rows += matched.true_count() as u64;
            let kept = keep(&batch, &matched).map_err(datafusion::error::DataFusionError::from)?;
            rewrite.write(kept).await?;
        }
        if matched_rows > 0 {
            rewrite.commit(kind).await?;
        }
        Ok(matched_rows)
    }
}

/// `SELECT *, (where) IS TRUE, values… FROM relation`: every row once, with
/// whether the statement applies to it and what it assigns. DataFusion
/// plans subqueries only in filters, so a `WHERE` clause with one becomes
/// the matched rows and the others, each filtered (a volatile function
/// there could then see a row twice; without a subquery it runs once).
fn matched_query(relation: &str, selection: Option<&Expr>, values: &[Expr]) -> String {
    let values_of = |matched: bool| -> String {
        (0..values.len())
            .map(|n| {
                let value = if matched {
                    format!("({})", values[n])
                } else {
                    "NULL".into()
                };
                format!(", {value} AS \"__fs_value_{n}\"")
            })
            .collect()
    };
    match selection {
        None => format!(
            "SELECT *, true AS \"{MATCHED}\"{} FROM {relation}",
            values_of(true)
        ),
        Some(selection) if has_subquery(selection) => format!(
            "SELECT *, true AS \"{MATCHED}\"{} FROM {relation} WHERE ({selection}) \
             UNION ALL SELECT *, false AS \"{MATCHED}\"{} FROM {relation} \
             WHERE ({selection}) IS NOT TRUE",
            values_of(true),
            values_of(false)
        ),
        Some(selection) => format!(
            "SELECT *, ({selection}) IS TRUE AS \"{MATCHED}\"{} FROM {relation}",
            values_of(true)
        ),
    }
}

/// The one table a DELETE or UPDATE names.
fn table_name<'a>(relation: &'a TableWithJoins, statement: &str) -> Result<&'a ObjectName> {
    let TableFactor::Table { name, .. } = &relation.relation else {
        return Err(Error::FeatureNotSupported(format!(
            "{statement} needs a table name"
        )));
    };
    if !relation.joins.is_empty() {
        return Err(Error::FeatureNotSupported(format!(
            "{statement} with a join is not supported"
        )));
    }
    Ok(name)
}

/// Which rows of a rewrite query's batch the statement applies to.
fn matched_of(batch: &RecordBatch) -> Result<BooleanArray> {
    let matched = batch
        .column_by_name(MATCHED)
        .ok_or_else(|| Error::Internal("rewrite query lost its match column".into()))?
        .as_boolean();
    // `IS TRUE` is never NULL: the values alone are the answer.
    Ok(BooleanArray::new(matched.values().clone(), None))
}

fn has_subquery(expr: &Expr) -> bool {
    use std::ops::ControlFlow;
    datafusion::sql::sqlparser::ast::visit_expressions(expr, |e| match e {
        Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

fn column_of(name: &ObjectName) -> Result<String> {
    // `SET t.col = …` names the column last, as PostgreSQL allows.
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .map(normalize_ident)
        .ok_or_else(|| Error::syntax(format!("\"{name}\" is not a column"), None))
}

fn refuse_clause(present: bool, clause: &str) -> Result<()> {
    if present {
        return Err(Error::FeatureNotSupported(format!(
            "{clause} is not supported yet"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    #[test]
    fn the_match_column_follows_the_rows_and_precedes_the_values() {
        let parsed = Parser::parse_sql(
            &PostgreSqlDialect {},
            "UPDATE s.t AS x SET a = x.b + 1 WHERE a > 2 OR b IS NULL",
        )
        .unwrap();
        let datafusion::sql::sqlparser::ast::Statement::Update(update) = &parsed[0] else {
            panic!("not an update");
        };
        let values: Vec<Expr> = update.assignments.iter().map(|a| a.value.clone()).collect();
        assert_eq!(
            matched_query(
                &update.table.to_string(),
                update.selection.as_ref(),
                &values
            ),
            "SELECT *, (a > 2 OR b IS NULL) IS TRUE AS \"__fs_matched\", (x.b + 1) AS \
             \"__fs_value_0\" FROM s.t AS x"
        );
    }

    #[test]
    fn a_where_clause_with_a_subquery_is_a_filter_on_both_sides() {
        let parsed = Parser::parse_sql(
            &PostgreSqlDialect {},
            "DELETE FROM t WHERE id IN (SELECT id FROM u)",
        )
        .unwrap();
        let datafusion::sql::sqlparser::ast::Statement::Delete(delete) = &parsed[0] else {
            panic!("not a delete");
        };
        let FromTable::WithFromKeyword(from) = &delete.from else {
            panic!("no FROM");
        };
        assert_eq!(
            matched_query(&from[0].to_string(), delete.selection.as_ref(), &[]),
            "SELECT *, true AS \"__fs_matched\" FROM t WHERE (id IN (SELECT id FROM u)) \
             UNION ALL SELECT *, false AS \"__fs_matched\" FROM t WHERE (id IN (SELECT id \
             FROM u)) IS NOT TRUE"
        );
    }
}
