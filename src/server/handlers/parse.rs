//! The extended protocol's Parse: a lookup on `online.*` is recognised
//! and planned for the fast path; anything else is routed, and what is
//! handed on is parsed by datafusion-postgres.

use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::Parser as DfParser;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::api::stmt::QueryParser;
use pgwire::api::{ClientInfo, Type};
use pgwire::error::{PgWireError, PgWireResult};

use super::output::renamed_fields;
use super::planned::TreePlanner;
use super::routing::{HandOn, Route, route};
use super::session_reset;
use crate::server::fast_path;
use crate::sql::column_names::postgres_column_names;

use crate::database::Database;
use crate::error::Error;
use crate::server::errors::{QueryContext, in_context, prefer_positioned, to_pgwire};
use crate::sql::identifiers::truncate_long_identifiers;
use crate::sql::split_statements;

/// `DfSessionService`'s prepared-statement type, which we share so that its
/// cursor and transaction hooks find the portal store they expect.
pub type PreparedStatement = (String, Option<(sqlparser::ast::Statement, LogicalPlan)>);

pub struct FstoreParser {
    pub(super) database: Arc<Database>,
    pub(super) inner: Arc<DfParser>,
    pub(super) planner: Arc<TreePlanner>,
}

impl FstoreParser {
    /// Whether DataFusion turns every subquery of `parsed`'s plan into a
    /// join: one left over fails when the portal runs, past the point where
    /// the text as written could still be tried.
    fn decorrelates(&self, parsed: &PreparedStatement) -> bool {
        use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
        use datafusion::logical_expr::Expr;
        let (_, Some((_, plan))) = parsed else {
            return true;
        };
        let Ok(optimized) = self.database.session_context().state().optimize(plan) else {
            return false;
        };
        let mut subquery_left = false;
        let _ = optimized.apply_with_subqueries(|node| {
            node.apply_expressions(|expr| {
                expr.apply(|e| {
                    if matches!(
                        e,
                        Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_)
                    ) {
                        subquery_left = true;
                        return Ok(TreeNodeRecursion::Stop);
                    }
                    Ok(TreeNodeRecursion::Continue)
                })
            })
        });
        !subquery_left
    }

    /// As in the simple protocol: a catalog query's faithful form if it
    /// plans (and every subquery of it becomes a join), else the text.
    async fn parse_catalog_aware<C>(
        &self,
        client: &C,
        text: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<PreparedStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        for variant in crate::sql::catalog_text_variants(text) {
            if let Ok(parsed) = self.inner.parse_sql(client, &variant, types).await
                && parsed.as_ref().is_none_or(|p| self.decorrelates(p))
            {
                tracing::debug!(%variant, "catalog query planned as");
                return Ok(match parsed {
                    Some((text, Some((tree, plan)))) => {
                        let plan = super::planned::with_postgres_result_types(plan, None)
                            .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
                        Some((text, Some((tree, plan))))
                    }
                    other => other,
                });
            }
        }
        self.inner.parse_sql(client, text, types).await
    }
}

#[async_trait]
impl QueryParser for FstoreParser {
    type Statement = PreparedStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        if let Some(lookup) =
            fast_path::recognize_on(&self.database, sql, types).map_err(|e| to_pgwire(e, None))?
        {
            let statement = lookup.statement.clone();
            let plan = fast_path::LookupNode::plan(lookup).map_err(|e| to_pgwire(e, None))?;
            return Ok(Some((sql.to_string(), Some((statement, plan)))));
        }
        let statements = split_statements(sql).map_err(|e| to_pgwire(e, None))?;
        // PostgreSQL sends the truncation NOTICE at Parse; pgwire gives a
        // parser no way to send one, so the extended protocol truncates
        // silently.
        if let Some(truncated) = truncate_long_identifiers(&statements) {
            return self.parse_sql(client, &truncated.sql, types).await;
        }
        match statements.as_slice() {
            [] => self.inner.parse_sql(client, sql, types).await,
            [statement] => {
                let context = QueryContext {
                    query: statement.text,
                    char_offset: statement.char_offset,
                };
                if session_reset::recognizes(&statement.tokens) {
                    return Ok(Some((sql.to_string(), None)));
                }
                match route(&self.database, statement).map_err(|e| to_pgwire(e, Some(&context)))? {
                    Route::HandOn(HandOn::Tree(tree)) => {
                        let (tree, plan) = self.planner.plan(client, *tree).await.map_err(|e| {
                            in_context(PgWireError::ApiError(Box::new(e)), &context)
                        })?;
                        Ok(Some((sql.to_string(), Some((tree, plan)))))
                    }
                    Route::HandOn(HandOn::Text(text)) => self
                        .parse_catalog_aware(client, &text, types)
                        .await
                        .map_err(|e| in_context(e, &context)),
                    Route::HandOn(HandOn::AsWritten { syntax }) => self
                        .parse_catalog_aware(client, sql, types)
                        .await
                        .map_err(|e| prefer_positioned(in_context(e, &context), syntax)),
                    Route::Fstore(_)
                    | Route::Ddl(_)
                    | Route::Transaction(_)
                    | Route::SessionOption(_) => Ok(Some((sql.to_string(), None))),
                }
            }
            [_, second, ..] => Err(to_pgwire(
                Error::syntax(
                    "cannot insert multiple commands into a prepared statement",
                    Some(second.char_offset + 1),
                ),
                None,
            )),
        }
    }

    fn get_parameter_types(&self, statement: &Self::Statement) -> PgWireResult<Vec<Type>> {
        if let (_, Some((_, plan))) = statement
            && let Some(lookup) = fast_path::as_lookup(plan)
        {
            return Ok(lookup.parameter_types());
        }
        let mut types = self.inner.get_parameter_types(statement)?;
        if let (sql, Some((_, plan))) = statement {
            described_as_cast_to_oid(sql, plan, &mut types);
        }
        Ok(types)
    }

    fn get_result_schema(
        &self,
        statement: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        if let (_, Some((_, plan))) = statement
            && let Some(lookup) = fast_path::as_lookup(plan)
        {
            return lookup
                .fields(column_format.unwrap_or(&Format::UnifiedText))
                .map(|fields| fields.as_ref().clone());
        }
        let fields = self.inner.get_result_schema(statement, column_format)?;
        Ok(match statement {
            (_, Some((tree, _))) => match postgres_column_names(tree) {
                Some(names) => renamed_fields(&fields, &names),
                None => fields,
            },
            _ => fields,
        })
    }
}

/// Parameters cast to `oid`/`oid[]` in `sql` described as PostgreSQL
/// describes them, where DataFusion planned them as `int4`/`int4[]` (the
/// values' encodings are the same). `types` is in `$n` order of the
/// parameters `plan` has, as datafusion-postgres lists them.
fn described_as_cast_to_oid(sql: &str, plan: &LogicalPlan, types: &mut [Type]) {
    let cast = crate::sql::placeholders::parameters_cast_to_oid(sql);
    if cast.is_empty() {
        return;
    }
    let Ok(parameters) = plan.get_parameter_types() else {
        return;
    };
    let mut numbers: Vec<usize> = parameters
        .keys()
        .filter_map(|id| id.strip_prefix('$')?.parse().ok())
        .collect();
    numbers.sort_unstable();
    for (number, array) in cast {
        let Some(position) = numbers.iter().position(|&n| n == number) else {
            continue;
        };
        let Some(described) = types.get_mut(position) else {
            continue;
        };
        *described = match (array, &*described) {
            (false, &Type::INT4) => Type::OID,
            (true, &Type::INT4_ARRAY) => Type::OID_ARRAY,
            _ => continue,
        };
    }
}
