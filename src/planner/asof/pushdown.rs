//! The optimizer rule that moves filters on left columns below an AS OF
//! join.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::expr_rewriter::normalize_col;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{Expr, Extension, Filter, LogicalPlan, LogicalPlanBuilder};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use super::node::AsofJoinNode;

/// Moves filters on left columns below an AS OF join: dropping left rows
/// changes no other left row's match. (DataFusion's own filter push-down
/// would send a predicate to every input of an extension node.)
#[derive(Debug, Default)]
pub struct AsofFilterPushdown;

impl OptimizerRule for AsofFilterPushdown {
    fn name(&self) -> &str {
        "asof_filter_pushdown"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Filter(filter) = &plan else {
            return Ok(Transformed::no(plan));
        };
        // The planner puts a column-only projection over the join when it
        // hides columns; predicates see the same columns through it.
        let (projection, below) = match filter.input.as_ref() {
            LogicalPlan::Projection(p) if p.expr.iter().all(|e| matches!(e, Expr::Column(_))) => {
                (Some(p), p.input.as_ref())
            }
            other => (None, other),
        };
        let LogicalPlan::Extension(extension) = below else {
            return Ok(Transformed::no(plan));
        };
        let Some(node) = extension.node.as_any().downcast_ref::<AsofJoinNode>() else {
            return Ok(Transformed::no(plan));
        };
        let left_schema = node.left.schema();
        let (push, keep): (Vec<&Expr>, Vec<&Expr>) = split_conjunction(&filter.predicate)
            .into_iter()
            .partition(|e| {
                !e.is_volatile()
                    && !e.column_refs().is_empty()
                    && e.column_refs().iter().all(|c| left_schema.has_column(c))
                    && !e
                        .exists(|e| {
                            Ok(matches!(
                                e,
                                Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_)
                            ))
                        })
                        .unwrap_or(true)
            });
        let Some(pushed) = conjunction(push.into_iter().cloned()) else {
            return Ok(Transformed::no(plan));
        };
        let pushed = normalize_col(pushed, &node.left)?;
        let left = LogicalPlan::Filter(Filter::try_new(pushed, node.left.clone())?);
        let mut moved = node.clone();
        moved.left = Arc::new(left);
        let mut joined = LogicalPlan::Extension(Extension {
            node: Arc::new(moved),
        });
        if let Some(projection) = projection {
            joined = LogicalPlanBuilder::from(joined)
                .project(projection.expr.clone())?
                .build()?;
        }
        let plan = match conjunction(keep.into_iter().cloned()) {
            Some(kept) => LogicalPlan::Filter(Filter::try_new(kept, Arc::new(joined))?),
            None => joined,
        };
        Ok(Transformed::yes(plan))
    }
}
