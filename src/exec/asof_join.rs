//! `AsofJoinExec`: the AS OF join operator.
//!
//! # Semantics (SPEC §3)
//! For each left row, the right row with equal keys whose time is the
//! closest one satisfying the match condition: for `l.t >= r.t` the greatest
//! right time not after the left time, for `l.t > r.t` the greatest strictly
//! before it, for `l.t <= r.t` / `l.t < r.t` the smallest right time not
//! before / strictly after it (DuckDB's meaning). Among right rows with equal
//! keys and equal times the later write wins: the greatest `sequence`, or,
//! without a sequence expression, the row that arrived last. A row whose key
//! or time is NULL never matches. With a `tolerance`, a match further than
//! that from the left time is no match.
//!
//! [`AsofJoinType::Left`] keeps every left row (right columns NULL when
//! nothing matches), [`AsofJoinType::Inner`] drops unmatched left rows.
//!
//! # Execution and input distribution
//! Both inputs must be hash-partitioned on the equality keys (the planner's
//! distribution rules insert the repartitioning; with one target partition no
//! shuffle happens). Per partition the right side is collected, interned by
//! key and sorted by (time, sequence) within each key; the left side then
//! streams through, each left row found by a hash lookup and a binary search.
//! Output rows follow the left rows of their partition, but no ordering is
//! declared to the optimizer yet; output partitioning is the left input's.
//!
//! # Memory
//! The collected right side and its index are accounted in the session's
//! memory pool; going over the limit fails the query with
//! `ResourcesExhausted` (SQLSTATE 53200) rather than growing the process.
//! The left side is never held beyond one batch. Spilling the right side is
//! left for later.
//!
//! # Contract
//! Shaped like DataFusion's joins (`on` pairs of key expressions over the
//! left and right inputs; output = left columns then right columns), so the
//! upstream AS OF operator can replace it once a DataFusion release ships
//! one: the times are physical expressions, the comparison an [`AsofMatch`].

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, UInt32Array, new_null_array,
};
use datafusion::arrow::compute::{cast, concat, take};
use datafusion::arrow::datatypes::{DataType, Int64Type, Schema, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, HashMap, Result, internal_err, plan_err};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
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

/// Which side of the left time a match may lie on, as written in SQL with
/// the left time first (`l.t >= r.t` is [`AsofMatch::GreaterEq`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum AsofMatch {
    GreaterEq,
    Greater,
    LessEq,
    Less,
}

impl AsofMatch {
    /// The same condition with the operands swapped (`r.t <= l.t` ⇔ `l.t >= r.t`).
    pub fn flipped(self) -> Self {
        match self {
            AsofMatch::GreaterEq => AsofMatch::LessEq,
            AsofMatch::Greater => AsofMatch::Less,
            AsofMatch::LessEq => AsofMatch::GreaterEq,
            AsofMatch::Less => AsofMatch::Greater,
        }
    }

    /// True when matches lie at or before the left time.
    pub fn looks_back(self) -> bool {
        matches!(self, AsofMatch::GreaterEq | AsofMatch::Greater)
    }
}

impl fmt::Display for AsofMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AsofMatch::GreaterEq => ">=",
            AsofMatch::Greater => ">",
            AsofMatch::LessEq => "<=",
            AsofMatch::Less => "<",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum AsofJoinType {
    Inner,
    Left,
}

impl fmt::Display for AsofJoinType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AsofJoinType::Inner => "Inner",
            AsofJoinType::Left => "Left",
        })
    }
}

pub type JoinKeyPair = (Arc<dyn PhysicalExpr>, Arc<dyn PhysicalExpr>);

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

/// The time types an AS OF join compares: TIMESTAMP, DATE, integers.
pub fn is_time_type(data_type: &DataType) -> bool {
    data_type.is_integer()
        || matches!(
            data_type,
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
        )
}

/// A time column as i64 in its own unit: the timestamp's unit, days for
/// DATE, milliseconds for Date64, the value for integers.
fn time_values(array: &ArrayRef) -> Result<ArrayRef> {
    let array = match array.data_type() {
        DataType::Date32 => cast(array, &DataType::Int32)?,
        _ => array.clone(),
    };
    Ok(cast(&array, &DataType::Int64)?)
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

/// Interns equality-key values as dense ids. One integer key column (the
/// common case: an entity id) skips the row encoding.
enum KeyInterner {
    Integer(HashMap<i64, u32>),
    Rows {
        converter: RowConverter,
        ids: HashMap<Box<[u8]>, u32>,
    },
}

impl KeyInterner {
    fn new(key_types: &[DataType]) -> Result<Self> {
        if let [only] = key_types
            && only.is_integer()
            && *only != DataType::UInt64
        {
            return Ok(KeyInterner::Integer(HashMap::new()));
        }
        let fields = key_types.iter().cloned().map(SortField::new).collect();
        Ok(KeyInterner::Rows {
            converter: RowConverter::new(fields)?,
            ids: HashMap::new(),
        })
    }

    fn len(&self) -> usize {
        match self {
            KeyInterner::Integer(ids) => ids.len(),
            KeyInterner::Rows { ids, .. } => ids.len(),
        }
    }

    /// The id of every row's key (unseen keys get new ids), `None` where a
    /// key column is NULL.
    fn intern(&mut self, keys: &[ArrayRef], out: &mut Vec<Option<u32>>) -> Result<()> {
        out.clear();
        let rows = keys.first().map_or(0, |k| k.len());
        let any_null = |row: usize| keys.iter().any(|k| k.is_null(row));
        match self {
            KeyInterner::Integer(ids) => {
                let values = cast(&keys[0], &DataType::Int64)?;
                let values = values.as_primitive::<Int64Type>();
                for row in 0..rows {
                    if values.is_null(row) {
                        out.push(None);
                        continue;
                    }
                    let next = ids.len() as u32;
                    out.push(Some(*ids.entry(values.value(row)).or_insert(next)));
                }
            }
            KeyInterner::Rows { converter, ids } => {
                let encoded = converter.convert_columns(keys)?;
                for row in 0..rows {
                    if any_null(row) {
                        out.push(None);
                        continue;
                    }
                    let bytes = encoded.row(row);
                    let bytes = bytes.as_ref();
                    let id = match ids.get(bytes) {
                        Some(id) => *id,
                        None => {
                            let id = ids.len() as u32;
                            ids.insert(bytes.into(), id);
                            id
                        }
                    };
                    out.push(Some(id));
                }
            }
        }
        Ok(())
    }
}

struct BuildInput {
    keys: Vec<Arc<dyn PhysicalExpr>>,
    time: Arc<dyn PhysicalExpr>,
    sequence: Option<Arc<dyn PhysicalExpr>>,
    schema: SchemaRef,
}

/// The collected right side of one partition, indexed for lookups.
struct BuildSide {
    interner: KeyInterner,
    /// The right rows, concatenated so that lookups are plain `take`s.
    rows: RecordBatch,
    /// Rows of key `k` are `offsets[k]..offsets[k + 1]`, sorted by
    /// (time, sequence, arrival).
    offsets: Vec<usize>,
    times: Vec<i64>,
    /// Row in `rows` of each sorted entry.
    locations: Vec<u32>,
    _reservation: MemoryReservation,
}

impl BuildInput {
    async fn collect(
        self,
        mut stream: SendableRecordBatchStream,
        reservation: MemoryReservation,
    ) -> Result<BuildSide> {
        let key_types = self
            .keys
            .iter()
            .map(|k| k.data_type(&self.schema))
            .collect::<Result<Vec<_>>>()?;
        let mut interner = KeyInterner::new(&key_types)?;
        let mut batches = Vec::new();
        // (key id, time, sequence, row) per matchable right row.
        let mut entries: Vec<(u32, i64, i64, u32)> = Vec::new();
        let mut collected_rows = 0usize;
        let mut ids = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            reservation.try_grow(batch.get_array_memory_size())?;
            let keys = evaluate_all(&self.keys, &batch)?;
            interner.intern(&keys, &mut ids)?;
            let times = time_values(&self.time.evaluate(&batch)?.into_array(batch.num_rows())?)?;
            let times = times.as_primitive::<Int64Type>();
            let sequence = match &self.sequence {
                Some(expr) => Some(cast(
                    &expr.evaluate(&batch)?.into_array(batch.num_rows())?,
                    &DataType::Int64,
                )?),
                None => None,
            };
            let sequence = sequence.as_ref().map(|s| s.as_primitive::<Int64Type>());
            let first_row = collected_rows;
            collected_rows += batch.num_rows();
            if collected_rows > u32::MAX as usize {
                return Err(DataFusionError::ResourcesExhausted(
                    "the right side of an AS OF join partition exceeds 4 billion rows".into(),
                ));
            }
            let before = entries.capacity();
            for (row, id) in ids.iter().enumerate() {
                let (Some(id), false) = (id, times.is_null(row)) else {
                    continue;
                };
                let sequence = sequence.map_or(0, |s| s.value(row));
                entries.push((*id, times.value(row), sequence, (first_row + row) as u32));
            }
            grow_for_capacity::<(u32, i64, i64, u32)>(&reservation, before, entries.capacity())?;
            batches.push(batch);
        }
        let key_count = interner.len();
        // Counting sort by key, then each key's run by (time, sequence, arrival).
        let mut offsets = vec![0usize; key_count + 1];
        for entry in &entries {
            offsets[entry.0 as usize + 1] += 1;
        }
        for k in 0..key_count {
            offsets[k + 1] += offsets[k];
        }
        reservation.try_grow(
            offsets.len() * size_of::<usize>()
                + entries.len()
                    * (size_of::<(u32, i64, i64, u32)>() + size_of::<i64>() + size_of::<u32>()),
        )?;
        let mut next = offsets.clone();
        let mut sorted = vec![(0i64, 0i64, 0u32); entries.len()];
        for (key, time, sequence, row) in entries {
            let slot = &mut next[key as usize];
            sorted[*slot] = (time, sequence, row);
            *slot += 1;
        }
        for k in 0..key_count {
            sorted[offsets[k]..offsets[k + 1]].sort_unstable();
        }
        let times = sorted.iter().map(|e| e.0).collect();
        let locations = sorted.iter().map(|e| e.2).collect();
        drop(sorted);
        // Column by column, so that only one column is held twice at a time.
        let mut parts: Vec<Vec<ArrayRef>> = vec![Vec::new(); self.schema.fields().len()];
        for batch in batches {
            for (index, column) in batch.columns().iter().enumerate() {
                parts[index].push(column.clone());
            }
        }
        let widest = parts
            .iter()
            .map(|p| p.iter().map(|a| a.get_array_memory_size()).sum::<usize>())
            .max()
            .unwrap_or(0);
        reservation.try_grow(widest)?;
        if collected_rows == 0 {
            return Ok(BuildSide {
                interner,
                rows: RecordBatch::new_empty(self.schema.clone()),
                offsets,
                times,
                locations,
                _reservation: reservation,
            });
        }
        let columns = parts
            .iter_mut()
            .map(|column_parts| {
                let arrays: Vec<&dyn Array> = column_parts.iter().map(|a| a.as_ref()).collect();
                let joined = concat(&arrays);
                column_parts.clear();
                joined
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        reservation.shrink(widest);
        let rows = RecordBatch::try_new(self.schema.clone(), columns)?;
        Ok(BuildSide {
            interner,
            rows,
            offsets,
            times,
            locations,
            _reservation: reservation,
        })
    }
}

fn grow_for_capacity<T>(
    reservation: &MemoryReservation,
    before: usize,
    after: usize,
) -> Result<()> {
    if after > before {
        reservation.try_grow((after - before) * size_of::<T>())?;
    }
    Ok(())
}

fn evaluate_all(exprs: &[Arc<dyn PhysicalExpr>], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    exprs
        .iter()
        .map(|e| e.evaluate(batch)?.into_array(batch.num_rows()))
        .collect()
}

#[derive(Clone)]
struct Probe {
    keys: Vec<Arc<dyn PhysicalExpr>>,
    time: Arc<dyn PhysicalExpr>,
    condition: AsofMatch,
    tolerance: Option<i64>,
    join_type: AsofJoinType,
    right_output: Option<Vec<usize>>,
    schema: SchemaRef,
}

impl Probe {
    fn join(&self, side: &BuildSide, batch: &RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let keys = evaluate_all(&self.keys, batch)?;
        let mut ids = Vec::with_capacity(rows);
        // The interner is only read here; lookups never insert.
        lookup_ids(&side.interner, &keys, &mut ids)?;
        let times = time_values(&self.time.evaluate(batch)?.into_array(rows)?)?;
        let times = times.as_primitive::<Int64Type>();
        let mut left_rows: Vec<u32> = Vec::with_capacity(rows);
        let mut right_rows: Vec<Option<u32>> = Vec::with_capacity(rows);
        for (row, id) in ids.iter().enumerate() {
            let found = match id {
                Some(id) if !times.is_null(row) => side.find(*id, times.value(row), self),
                _ => None,
            };
            match (found, self.join_type) {
                (Some(right_row), _) => {
                    left_rows.push(row as u32);
                    right_rows.push(Some(right_row));
                }
                (None, AsofJoinType::Left) => {
                    left_rows.push(row as u32);
                    right_rows.push(None);
                }
                (None, AsofJoinType::Inner) => {}
            }
        }
        let mut columns: Vec<ArrayRef> = if left_rows.len() == rows {
            batch.columns().to_vec()
        } else {
            let indices = UInt32Array::from(left_rows);
            batch
                .columns()
                .iter()
                .map(|c| take(c, &indices, None))
                .collect::<std::result::Result<_, _>>()?
        };
        let matched = right_rows.len();
        let right_indices = UInt32Array::from(right_rows);
        let all: Vec<usize> = (0..side.rows.num_columns()).collect();
        for index in self.right_output.as_ref().unwrap_or(&all) {
            let column = side.rows.column(*index);
            columns.push(if side.rows.num_rows() == 0 {
                new_null_array(column.data_type(), matched)
            } else {
                take(column, &right_indices, None)?
            });
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

fn lookup_ids(interner: &KeyInterner, keys: &[ArrayRef], out: &mut Vec<Option<u32>>) -> Result<()> {
    out.clear();
    let rows = keys.first().map_or(0, |k| k.len());
    match interner {
        KeyInterner::Integer(ids) => {
            let values = cast(&keys[0], &DataType::Int64)?;
            let values = values.as_primitive::<Int64Type>();
            out.extend((0..rows).map(|row| {
                if values.is_null(row) {
                    None
                } else {
                    ids.get(&values.value(row)).copied()
                }
            }));
        }
        KeyInterner::Rows { converter, ids } => {
            let encoded = converter.convert_columns(keys)?;
            out.extend((0..rows).map(|row| {
                if keys.iter().any(|k| k.is_null(row)) {
                    None
                } else {
                    ids.get(encoded.row(row).as_ref()).copied()
                }
            }));
        }
    }
    Ok(())
}

impl BuildSide {
    /// The row in `rows` of the match for one left row, if any.
    fn find(&self, key: u32, left_time: i64, probe: &Probe) -> Option<u32> {
        let range = self.offsets[key as usize]..self.offsets[key as usize + 1];
        let times = &self.times[range.clone()];
        let index = match probe.condition {
            // The last entry at or before the left time is the latest write
            // of the greatest qualifying time.
            AsofMatch::GreaterEq => times.partition_point(|t| *t <= left_time).checked_sub(1)?,
            AsofMatch::Greater => times.partition_point(|t| *t < left_time).checked_sub(1)?,
            AsofMatch::LessEq | AsofMatch::Less => {
                let first = if probe.condition == AsofMatch::LessEq {
                    times.partition_point(|t| *t < left_time)
                } else {
                    times.partition_point(|t| *t <= left_time)
                };
                let matched_time = *times.get(first)?;
                // The latest write among the entries with that time.
                times.partition_point(|t| *t <= matched_time) - 1
            }
        };
        let matched_time = times[index];
        if let Some(tolerance) = probe.tolerance {
            let distance = (i128::from(left_time) - i128::from(matched_time)).abs();
            if distance > i128::from(tolerance) {
                return None;
            }
        }
        Some(self.locations[range.start + index])
    }
}
