//! Reading and building the batches of pg_catalog tables by column name.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, new_null_array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type, SchemaRef};
use datafusion::common::{DataFusionError, Result};
use datafusion::scalar::ScalarValue;

/// One batch in `schema` from rows given by column name; columns no row
/// names are NULL, or zero/empty where the column cannot be NULL.
pub(super) fn batch_of(
    schema: &SchemaRef,
    rows: &[HashMap<&'static str, ScalarValue>],
) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| -> Result<ArrayRef> {
            let values: Vec<Option<&ScalarValue>> =
                rows.iter().map(|r| r.get(field.name().as_str())).collect();
            let Some(example) = values.iter().flatten().next() else {
                if field.is_nullable() {
                    return Ok(new_null_array(field.data_type(), rows.len()));
                }
                let default = ScalarValue::new_default(field.data_type())?;
                return default.to_array_of_size(rows.len());
            };
            let null = ScalarValue::try_from(example.data_type())?;
            let array = ScalarValue::iter_to_array(
                values
                    .into_iter()
                    .map(|v| v.cloned().unwrap_or(null.clone())),
            )?;
            Ok(cast(&array, field.data_type())?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Every row of `table`.
pub(super) async fn scan_all(
    table: &std::sync::Arc<dyn datafusion::catalog::TableProvider>,
    state: &dyn datafusion::catalog::Session,
) -> Result<Vec<RecordBatch>> {
    let plan = table.scan(state, None, &[], None).await?;
    datafusion::physical_plan::collect(plan, state.task_ctx()).await
}

/// The rows of `batch` whose `(schema, name)` columns `keep` accepts.
pub(super) fn keep_relations(
    batch: &RecordBatch,
    schema_column: &str,
    name_column: &str,
    keep: impl Fn(&(String, String)) -> bool,
) -> Result<RecordBatch> {
    let schemas = utf8_column(batch, schema_column)?;
    let names = utf8_column(batch, name_column)?;
    let kept: datafusion::arrow::array::BooleanArray = schemas
        .into_iter()
        .zip(names)
        .map(|relation| Some(keep(&relation)))
        .collect();
    Ok(datafusion::arrow::compute::filter_record_batch(
        batch, &kept,
    )?)
}

pub(super) fn int32_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a datafusion::arrow::array::PrimitiveArray<Int32Type>> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<Int32Type>())
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog column {name} is not int4")))
}

pub(super) fn utf8_column(batch: &RecordBatch, name: &str) -> Result<Vec<String>> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog column {name} is missing")))?;
    let strings = cast(column, &DataType::Utf8)?;
    let strings = strings.as_string::<i32>();
    Ok((0..strings.len())
        .map(|i| strings.value(i).to_string())
        .collect())
}
