//! The collected right side of one partition: its keys interned as dense
//! ids, per key the rows sorted by (time, sequence), accounted in the
//! memory pool.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::{cast, concat};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{DataFusionError, HashMap, Result};
use datafusion::execution::memory_pool::MemoryReservation;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::StreamExt;

use super::condition::time_values;

/// Interns equality-key values as dense ids. One integer key column (the
/// common case: an entity id) skips the row encoding.
pub(super) enum KeyInterner {
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

pub(super) struct BuildInput {
    pub(super) keys: Vec<Arc<dyn PhysicalExpr>>,
    pub(super) time: Arc<dyn PhysicalExpr>,
    pub(super) sequence: Option<Arc<dyn PhysicalExpr>>,
    pub(super) schema: SchemaRef,
}

/// The collected right side of one partition, indexed for lookups.
pub(super) struct BuildSide {
    pub(super) interner: KeyInterner,
    /// The right rows, concatenated so that lookups are plain `take`s.
    pub(super) rows: RecordBatch,
    /// Rows of key `k` are `offsets[k]..offsets[k + 1]`, sorted by
    /// (time, sequence, arrival).
    pub(super) offsets: Vec<usize>,
    pub(super) times: Vec<i64>,
    /// Row in `rows` of each sorted entry.
    pub(super) locations: Vec<u32>,
    pub(super) _reservation: MemoryReservation,
}

impl BuildInput {
    pub(super) async fn collect(
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

pub(super) fn evaluate_all(
    exprs: &[Arc<dyn PhysicalExpr>],
    batch: &RecordBatch,
) -> Result<Vec<ArrayRef>> {
    exprs
        .iter()
        .map(|e| e.evaluate(batch)?.into_array(batch.num_rows()))
        .collect()
}

pub(super) fn lookup_ids(
    interner: &KeyInterner,
    keys: &[ArrayRef],
    out: &mut Vec<Option<u32>>,
) -> Result<()> {
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
