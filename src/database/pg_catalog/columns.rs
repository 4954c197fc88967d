//! Reading and building the batches of pg_catalog tables by column name,
//! and the shapes of the catalog functions' answers.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringBuilder, new_null_array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type, SchemaRef};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarUDF, Signature, SimpleScalarUDF, TypeSignature, Volatility,
};
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

/// A text function of an OID (and optionally an integer second argument),
/// answered row by row by `answer(oid, second)`.
pub(super) fn text_by_oid(
    name: &str,
    signatures: Vec<TypeSignature>,
    answer: impl Fn(i32, Option<i64>) -> Option<String> + Send + Sync + 'static,
) -> ScalarUDF {
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        name,
        Signature::one_of(signatures, Volatility::Stable),
        DataType::Utf8,
        Arc::new(move |args: &[ColumnarValue]| {
            let rows = row_count(args);
            let oids = cast(&args[0].to_array(rows)?, &DataType::Int32)?;
            let oids = oids.as_primitive::<datafusion::arrow::datatypes::Int32Type>();
            let seconds = match args.get(1) {
                Some(second) => Some(cast(&second.to_array(rows)?, &DataType::Int64)?),
                None => None,
            };
            let seconds = seconds
                .as_ref()
                .map(|s| s.as_primitive::<datafusion::arrow::datatypes::Int64Type>());
            let mut out = StringBuilder::new();
            for row in 0..rows {
                let second = seconds.and_then(|s| (!s.is_null(row)).then(|| s.value(row)));
                out.append_option(
                    (!oids.is_null(row))
                        .then(|| answer(oids.value(row), second))
                        .flatten(),
                );
            }
            shaped_like(args, Arc::new(out.finish()))
        }),
    ))
}

/// How many rows a call answers: its array arguments' length, 1 for
/// constants.
pub(super) fn row_count(args: &[ColumnarValue]) -> usize {
    args.iter()
        .find_map(|a| match a {
            ColumnarValue::Array(array) => Some(array.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1)
}

/// `answers` as a scalar when every argument is one, else as an array.
pub(super) fn shaped_like(args: &[ColumnarValue], answers: ArrayRef) -> Result<ColumnarValue> {
    Ok(
        if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&answers, 0)?)
        } else {
            ColumnarValue::Array(answers)
        },
    )
}
