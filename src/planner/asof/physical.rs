//! From [`AsofJoinNode`] to [`AsofJoinExec`], and the query planner that
//! knows the extension.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::{DFSchema, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::{
    Expr, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};

use crate::exec::asof_join::{AsofJoinExec, AsofJoinSpec};

use super::node::AsofJoinNode;

/// Physical planning of [`AsofJoinNode`].
pub struct AsofExtensionPlanner;

#[async_trait]
impl ExtensionPlanner for AsofExtensionPlanner {
    async fn plan_extension(
        &self,
        planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn datafusion::catalog::Session,
        planning_ctx: &datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(node) = node.as_any().downcast_ref::<AsofJoinNode>() else {
            return Ok(None);
        };
        let (left_schema, right_schema) = (logical_inputs[0].schema(), logical_inputs[1].schema());
        let physical = |expr: &Expr, schema: &DFSchema| {
            planner.create_physical_expr(expr, schema, session, planning_ctx)
        };
        let on = node
            .on
            .iter()
            .map(|(l, r)| Ok((physical(l, left_schema)?, physical(r, right_schema)?)))
            .collect::<Result<Vec<_>>>()?;
        let spec = AsofJoinSpec {
            on,
            left_time: physical(&node.left_time, left_schema)?,
            right_time: physical(&node.right_time, right_schema)?,
            condition: node.condition,
            tolerance: node.tolerance,
            right_sequence: node
                .right_sequence
                .as_ref()
                .map(|e| physical(e, right_schema))
                .transpose()?,
            join_type: node.join_type,
            right_output: None,
        };
        let schema = Arc::new(UserDefinedLogicalNodeCore::schema(node).as_arrow().clone());
        Ok(Some(Arc::new(AsofJoinExec::try_new(
            physical_inputs[0].clone(),
            physical_inputs[1].clone(),
            spec,
            schema,
        )?)))
    }
}

/// DataFusion's default planner plus fstore's operators.
#[derive(Debug, Default)]
pub struct FstoreQueryPlanner;

#[async_trait]
impl QueryPlanner for FstoreQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn datafusion::catalog::Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(AsofExtensionPlanner)])
            .create_physical_plan(logical_plan, session)
            .await
    }
}
