//! The operator itself: construction (validated), plan properties, and
//! execution per output partition — collect the right side, then stream
//! the left side through it.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, internal_err, plan_err};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::projection::ProjectionExpr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::distribution_requirements::InputDistributionRequirements;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    PlanProperties, SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};

use super::build::BuildInput;
use super::condition::{AsofJoinType, AsofMatch, JoinKeyPair, is_time_type};
use super::probe::Probe;

#[derive(Debug)]
pub struct AsofJoinExec {
    left: Arc<dyn ExecutionPlan>,
    right: Arc<dyn ExecutionPlan>,
    on: Vec<JoinKeyPair>,
    left_time: Arc<dyn PhysicalExpr>,
    right_time: Arc<dyn PhysicalExpr>,
    condition: AsofMatch,
    /// How far a match may lie from the left time, in the time's own unit
    /// (see [`time_values`]).
    tolerance: Option<i64>,
    /// Orders right rows with equal keys and times; the greatest wins.
    right_sequence: Option<Arc<dyn PhysicalExpr>>,
    join_type: AsofJoinType,
    /// The right input's columns that are output (all when `None`); set by
    /// projection push-down so unused right columns are never gathered.
    right_output: Option<Vec<usize>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

pub struct AsofJoinSpec {
    pub on: Vec<JoinKeyPair>,
    pub left_time: Arc<dyn PhysicalExpr>,
    pub right_time: Arc<dyn PhysicalExpr>,
    pub condition: AsofMatch,
    pub tolerance: Option<i64>,
    pub right_sequence: Option<Arc<dyn PhysicalExpr>>,
    pub join_type: AsofJoinType,
    pub right_output: Option<Vec<usize>>,
}

impl AsofJoinExec {
    /// `schema` must be the left input's fields followed by the right
    /// input's (those in `right_output`), the right ones nullable for a left
    /// join.
    pub fn try_new(
        left: Arc<dyn ExecutionPlan>,
        right: Arc<dyn ExecutionPlan>,
        spec: AsofJoinSpec,
        schema: SchemaRef,
    ) -> Result<Self> {
        if spec.on.is_empty() {
            return plan_err!("an AS OF join needs at least one equality key");
        }
        let (left_schema, right_schema) = (left.schema(), right.schema());
        let left_time_type = spec.left_time.data_type(&left_schema)?;
        let right_time_type = spec.right_time.data_type(&right_schema)?;
        if left_time_type != right_time_type || !is_time_type(&left_time_type) {
            return plan_err!(
                "AS OF join times must have one TIMESTAMP, DATE or integer type, got {left_time_type} and {right_time_type}"
            );
        }
        for (l, r) in &spec.on {
            let (lt, rt) = (l.data_type(&left_schema)?, r.data_type(&right_schema)?);
            if lt != rt {
                return plan_err!("AS OF join key types differ: {lt} and {rt}");
            }
        }
        let right_width = spec
            .right_output
            .as_ref()
            .map_or(right_schema.fields().len(), Vec::len);
        if spec
            .right_output
            .iter()
            .flatten()
            .any(|i| *i >= right_schema.fields().len())
            || schema.fields().len() != left_schema.fields().len() + right_width
        {
            return plan_err!("AS OF join output must be the left columns then the right columns");
        }
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            left.output_partitioning().clone(),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(AsofJoinExec {
            left,
            right,
            on: spec.on,
            left_time: spec.left_time,
            right_time: spec.right_time,
            condition: spec.condition,
            tolerance: spec.tolerance,
            right_sequence: spec.right_sequence,
            join_type: spec.join_type,
            right_output: spec.right_output,
            schema,
            properties,
        })
    }

    fn spec(&self) -> AsofJoinSpec {
        AsofJoinSpec {
            on: self.on.clone(),
            left_time: self.left_time.clone(),
            right_time: self.right_time.clone(),
            condition: self.condition,
            tolerance: self.tolerance,
            right_sequence: self.right_sequence.clone(),
            join_type: self.join_type,
            right_output: self.right_output.clone(),
        }
    }
}

impl DisplayAs for AsofJoinExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let on = self
            .on
            .iter()
            .map(|(l, r)| format!("({l}, {r})"))
            .collect::<Vec<_>>()
            .join(", ");
        write!(
            f,
            "AsofJoinExec: join_type={}, on=[{on}], match=({} {} {})",
            self.join_type, self.left_time, self.condition, self.right_time
        )?;
        if let Some(tolerance) = self.tolerance {
            write!(f, ", tolerance={tolerance}")?;
        }
        if let Some(columns) = &self.right_output {
            write!(f, ", right_columns={columns:?}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for AsofJoinExec {
    /// A projection of plain columns above the join is absorbed: the join
    /// outputs only the right columns it keeps (the left ones pass through
    /// untouched, so all are kept).
    fn try_swapping_with_projection(
        &self,
        projection: &ProjectionExec,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let left_width = self.left.schema().fields().len();
        let current: Vec<usize> = self
            .right_output
            .clone()
            .unwrap_or_else(|| (0..self.right.schema().fields().len()).collect());
        let mut used = std::collections::BTreeSet::new();
        for item in projection.expr() {
            let Some(column) = item.expr.downcast_ref::<Column>() else {
                return Ok(None);
            };
            if column.index() >= left_width {
                used.insert(column.index() - left_width);
            }
        }
        if used.len() == current.len() {
            return Ok(None);
        }
        let kept: Vec<usize> = used.iter().copied().collect();
        let fields: Vec<_> = self.schema.fields()[..left_width]
            .iter()
            .cloned()
            .chain(
                kept.iter()
                    .map(|i| self.schema.field(left_width + i).clone().into()),
            )
            .collect();
        let schema = Arc::new(Schema::new_with_metadata(
            fields,
            self.schema.metadata().clone(),
        ));
        let mut spec = self.spec();
        spec.right_output = Some(kept.iter().map(|i| current[*i]).collect());
        let join = Arc::new(AsofJoinExec::try_new(
            self.left.clone(),
            self.right.clone(),
            spec,
            schema,
        )?);
        let remapped = projection
            .expr()
            .iter()
            .map(|item| {
                let column = item.expr.downcast_ref::<Column>().expect("checked above");
                let index = if column.index() < left_width {
                    column.index()
                } else {
                    let position = kept
                        .iter()
                        .position(|k| *k == column.index() - left_width)
                        .expect("every used column is kept");
                    left_width + position
                };
                ProjectionExpr::new(
                    Arc::new(Column::new(column.name(), index)) as Arc<dyn PhysicalExpr>,
                    item.alias.clone(),
                )
            })
            .collect::<Vec<_>>();
        Ok(Some(Arc::new(ProjectionExec::try_new(remapped, join)?)))
    }

    fn name(&self) -> &str {
        "AsofJoinExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        let (left, right): (Vec<_>, Vec<_>) = self.on.iter().cloned().unzip();
        InputDistributionRequirements::co_partitioned(vec![
            Distribution::KeyPartitioned(left),
            Distribution::KeyPartitioned(right),
        ])
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.left, &self.right]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        let mut expressions: Vec<&Arc<dyn PhysicalExpr>> =
            self.on.iter().flat_map(|(l, r)| [l, r]).collect();
        expressions.push(&self.left_time);
        expressions.push(&self.right_time);
        expressions.extend(self.right_sequence.as_ref());
        for expression in expressions {
            if f(expression)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [left, right]: [Arc<dyn ExecutionPlan>; 2] = children
            .try_into()
            .map_err(|_| DataFusionError::Internal("AsofJoinExec has two children".into()))?;
        Ok(Arc::new(AsofJoinExec::try_new(
            left,
            right,
            self.spec(),
            self.schema.clone(),
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let right_partitions = self.right.output_partitioning().partition_count();
        let left_partitions = self.left.output_partitioning().partition_count();
        if left_partitions != right_partitions {
            return internal_err!(
                "AsofJoinExec inputs are partitioned differently: {left_partitions} and {right_partitions}"
            );
        }
        let reservation = MemoryConsumer::new(format!("AsofJoinExec[{partition}]"))
            .register(context.memory_pool());
        let right_stream = self.right.execute(partition, context.clone())?;
        let left_stream = self.left.execute(partition, context)?;
        let build = BuildInput {
            keys: self.on.iter().map(|(_, r)| r.clone()).collect(),
            time: self.right_time.clone(),
            sequence: self.right_sequence.clone(),
            schema: self.right.schema(),
        };
        let probe = Probe {
            keys: self.on.iter().map(|(l, _)| l.clone()).collect(),
            time: self.left_time.clone(),
            condition: self.condition,
            tolerance: self.tolerance,
            join_type: self.join_type,
            right_output: self.right_output.clone(),
            schema: self.schema.clone(),
        };
        let built = futures::stream::once(async move {
            let side = build.collect(right_stream, reservation).await?;
            Ok::<_, DataFusionError>((Arc::new(side), left_stream))
        });
        let output = built
            .map_ok(move |(side, left_stream)| {
                let probe = probe.clone();
                left_stream.map(move |batch| probe.join(&side, &batch?))
            })
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            output,
        )))
    }
}
