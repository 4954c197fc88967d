//! The streaming left side: each left batch's keys looked up and times
//! binary-searched in the collected right side, one output batch per input
//! batch.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, UInt32Array, new_null_array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{Int64Type, SchemaRef};
use datafusion::common::Result;
use datafusion::physical_expr::PhysicalExpr;

use super::build::{BuildSide, evaluate_all, lookup_ids};
use super::condition::{AsofJoinType, AsofMatch, time_values};

#[derive(Clone)]
pub(super) struct Probe {
    pub(super) keys: Vec<Arc<dyn PhysicalExpr>>,
    pub(super) time: Arc<dyn PhysicalExpr>,
    pub(super) condition: AsofMatch,
    pub(super) tolerance: Option<i64>,
    pub(super) join_type: AsofJoinType,
    pub(super) right_output: Option<Vec<usize>>,
    pub(super) schema: SchemaRef,
}

impl Probe {
    pub(super) fn join(&self, side: &BuildSide, batch: &RecordBatch) -> Result<RecordBatch> {
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
