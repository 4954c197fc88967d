//! Queries planned from the tree fstore's one parse made (with our
//! rewrites — AS OF joins, time travel, feature-view calls — applied): the
//! compatibility parser's rewrite rules, the ones it applies after its own
//! parse, run over the tree, and DataFusion plans it. The statement is never
//! printed and parsed again. Catalog queries are the exception: they go to
//! datafusion-postgres as text, whose parser knows drivers' queries by their
//! tokens.

use std::sync::Arc;

use datafusion::error::DataFusionError;
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use datafusion_postgres::arrow_pg::datatypes::df::encode_dataframe;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use pgwire::api::ClientInfo;
use pgwire::api::portal::Format;
use pgwire::api::results::Response;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::types::format::FormatOptions;

use super::output::with_postgres_names;
use super::session_options::session_state;
use super::timeout::{statement_timed_out, statement_timeout};
use crate::sql::column_names::postgres_column_names;

pub(crate) struct TreePlanner {
    session: Arc<SessionContext>,
    compatibility: PostgresCompatibilityParser,
}

impl TreePlanner {
    pub(crate) fn new(session: Arc<SessionContext>) -> Self {
        TreePlanner {
            session,
            compatibility: PostgresCompatibilityParser::new(),
        }
    }

    /// The tree as the compatibility parser would have left it, and its
    /// logical plan.
    pub(crate) async fn plan<C: ClientInfo + ?Sized>(
        &self,
        client: &C,
        tree: SqlStatement,
    ) -> Result<(SqlStatement, LogicalPlan), DataFusionError> {
        let tree = self.compatibility.rewrite(tree);
        let state = session_state(client, &self.session);
        let plan = plan_rewritten(&state, tree.clone()).await?;
        Ok((tree, plan))
    }

    /// Plans and runs a query of the simple protocol, answered in text, as
    /// datafusion-postgres answers the queries handed on to it (including
    /// its statement timeout).
    pub(crate) async fn run_simple<C: ClientInfo>(
        &self,
        client: &C,
        tree: SqlStatement,
    ) -> PgWireResult<Response> {
        let api_error = |e: DataFusionError| PgWireError::ApiError(Box::new(e));
        let tree = self.compatibility.rewrite(tree);
        let names = postgres_column_names(&tree);
        let state = session_state(client, &self.session);
        let running = async {
            let plan = plan_rewritten(&state, tree).await?;
            Ok::<_, DataFusionError>(DataFrame::new(state.clone(), plan))
        };
        let frame = match statement_timeout(client) {
            Some(limit) => tokio::time::timeout(limit, running)
                .await
                .map_err(|_| statement_timed_out())?,
            None => running.await,
        }
        .map_err(api_error)?;
        let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
        let response = encode_dataframe(frame, &Format::UnifiedText, Some(options)).await?;
        let response = Response::Query(response);
        Ok(match names {
            Some(names) => with_postgres_names(response, &names),
            None => response,
        })
    }
}

async fn plan_rewritten(
    state: &SessionState,
    tree: SqlStatement,
) -> Result<LogicalPlan, DataFusionError> {
    let plan = state
        .statement_to_plan(DfStatement::Statement(Box::new(tree)))
        .await?;
    let zone = state.config_options().execution.time_zone.clone();
    let shown_in = zone
        .as_deref()
        .filter(|zone| *zone != crate::database::ENGINE_TIME_ZONE);
    with_postgres_result_types(
        crate::planner::placeholder_types::with_array_parameter_types(plan)?,
        shown_in,
    )
}

/// A query's result columns in types PostgreSQL would answer with:
/// DataFusion's unsigned integers (`row_number()`, `cardinality`, …), which
/// arrow-pg sends as `numeric`, become `bigint`; an untyped `NULL` column
/// (sent as `unknown`) becomes `text`, as PostgreSQL resolves it. With a
/// session `TimeZone` (`shown_in`), timestamptz columns are that zone's, so
/// that they print in it, as PostgreSQL prints them (the instant is kept).
pub(super) fn with_postgres_result_types(
    plan: LogicalPlan,
    shown_in: Option<&str>,
) -> Result<LogicalPlan, DataFusionError> {
    use datafusion::arrow::datatypes::DataType;
    use datafusion::logical_expr::{LogicalPlanBuilder, cast, col};
    let is_query = !matches!(
        plan,
        LogicalPlan::Dml(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::DescribeTable(_)
    );
    let postgres_type = |data_type: &DataType| match data_type {
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            Some(DataType::Int64)
        }
        DataType::Null => Some(DataType::Utf8),
        DataType::Timestamp(unit, Some(zone)) => shown_in
            .filter(|shown_in| *shown_in != zone.as_ref())
            .map(|shown_in| DataType::Timestamp(*unit, Some(shown_in.into()))),
        _ => None,
    };
    let needs_casts = plan
        .schema()
        .fields()
        .iter()
        .any(|field| postgres_type(field.data_type()).is_some());
    if !is_query || !needs_casts {
        return Ok(plan);
    }
    let columns: Vec<_> = plan
        .schema()
        .iter()
        .map(|(qualifier, field)| {
            let column = col(datafusion::common::Column::from((qualifier, field)));
            match postgres_type(field.data_type()) {
                Some(target) => {
                    cast(column, target).alias_qualified(qualifier.cloned(), field.name())
                }
                None => column,
            }
        })
        .collect();
    LogicalPlanBuilder::from(plan).project(columns)?.build()
}
