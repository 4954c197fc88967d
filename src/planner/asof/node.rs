//! The logical AS OF join node: both inputs, the key pairs, the two times,
//! the match direction and an optional bound; output schema = left columns
//! then right columns.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use datafusion::common::{DFSchema, DFSchemaRef, Result};
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNodeCore};

use crate::exec::asof_join::{AsofJoinType, AsofMatch};

/// The logical AS OF join. Output: the left input's columns, then the
/// right input's (nullable for [`AsofJoinType::Left`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AsofJoinNode {
    pub left: Arc<LogicalPlan>,
    pub right: Arc<LogicalPlan>,
    pub on: Vec<(Expr, Expr)>,
    pub left_time: Expr,
    pub right_time: Expr,
    pub condition: AsofMatch,
    pub tolerance: Option<i64>,
    pub right_sequence: Option<Expr>,
    pub join_type: AsofJoinType,
    schema: DFSchemaRef,
}

impl PartialOrd for AsofJoinNode {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        (self == other).then_some(Ordering::Equal)
    }
}

impl AsofJoinNode {
    #[allow(clippy::too_many_arguments)]
    pub fn try_new(
        left: Arc<LogicalPlan>,
        right: Arc<LogicalPlan>,
        on: Vec<(Expr, Expr)>,
        (left_time, condition, right_time): (Expr, AsofMatch, Expr),
        tolerance: Option<i64>,
        right_sequence: Option<Expr>,
        join_type: AsofJoinType,
    ) -> Result<Self> {
        let schema = output_schema(left.schema(), right.schema(), join_type)?;
        Ok(AsofJoinNode {
            left,
            right,
            on,
            left_time,
            right_time,
            condition,
            tolerance,
            right_sequence,
            join_type,
            schema,
        })
    }
}

fn output_schema(
    left: &DFSchema,
    right: &DFSchema,
    join_type: AsofJoinType,
) -> Result<DFSchemaRef> {
    let right_fields = right
        .iter()
        .map(|(qualifier, field)| {
            let field = match join_type {
                AsofJoinType::Left => Arc::new(field.as_ref().clone().with_nullable(true)),
                AsofJoinType::Inner => field.clone(),
            };
            (qualifier.cloned(), field)
        })
        .collect();
    let right = DFSchema::new_with_metadata(right_fields, right.metadata().clone())?;
    Ok(Arc::new(left.join(&right)?))
}

impl UserDefinedLogicalNodeCore for AsofJoinNode {
    fn name(&self) -> &str {
        "AsofJoin"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.left, &self.right]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        let mut expressions: Vec<Expr> = self.on.iter().map(|(l, _)| l.clone()).collect();
        expressions.extend(self.on.iter().map(|(_, r)| r.clone()));
        expressions.push(self.left_time.clone());
        expressions.push(self.right_time.clone());
        expressions.extend(self.right_sequence.clone());
        expressions
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let on = self
            .on
            .iter()
            .map(|(l, r)| format!("{l} = {r}"))
            .collect::<Vec<_>>()
            .join(", ");
        write!(
            f,
            "AsofJoin: type={}, on=[{on}], match={} {} {}",
            self.join_type, self.left_time, self.condition, self.right_time
        )?;
        if let Some(tolerance) = self.tolerance {
            write!(f, ", tolerance={tolerance}")?;
        }
        Ok(())
    }

    fn with_exprs_and_inputs(&self, exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        let [left, right]: [LogicalPlan; 2] = inputs.try_into().map_err(|_| {
            datafusion::error::DataFusionError::Internal("AsofJoin has two inputs".into())
        })?;
        let keys = self.on.len();
        let mut exprs = exprs.into_iter();
        let left_keys: Vec<Expr> = exprs.by_ref().take(keys).collect();
        let right_keys: Vec<Expr> = exprs.by_ref().take(keys).collect();
        let (Some(left_time), Some(right_time)) = (exprs.next(), exprs.next()) else {
            return Err(datafusion::error::DataFusionError::Internal(
                "AsofJoin expressions are missing the times".into(),
            ));
        };
        AsofJoinNode::try_new(
            Arc::new(left),
            Arc::new(right),
            left_keys.into_iter().zip(right_keys).collect(),
            (left_time, self.condition, right_time),
            self.tolerance,
            exprs.next(),
            self.join_type,
        )
    }

    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        let left_len = self.left.schema().fields().len();
        let mut left: Vec<usize> = output_columns
            .iter()
            .copied()
            .filter(|i| *i < left_len)
            .collect();
        let mut right: Vec<usize> = output_columns
            .iter()
            .filter(|i| **i >= left_len)
            .map(|i| i - left_len)
            .collect();
        let left_exprs = self.on.iter().map(|(l, _)| l).chain([&self.left_time]);
        let right_exprs = self
            .on
            .iter()
            .map(|(_, r)| r)
            .chain([&self.right_time])
            .chain(self.right_sequence.as_ref());
        for expr in left_exprs {
            for column in expr.column_refs() {
                left.push(self.left.schema().index_of_column(column).ok()?);
            }
        }
        for expr in right_exprs {
            for column in expr.column_refs() {
                right.push(self.right.schema().index_of_column(column).ok()?);
            }
        }
        for indices in [&mut left, &mut right] {
            indices.sort_unstable();
            indices.dedup();
        }
        Some(vec![left, right])
    }
}
