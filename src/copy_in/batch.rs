//! Text fields of COPY rows collected per column and cast, a batch at a
//! time, to the target's types: every COPY format converts values here, so
//! all share one conversion, one NOT NULL check and one error message.

use datafusion::arrow::array::{Array, ArrayRef, StringBuilder, new_null_array};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;

use crate::error::{Error, Result};

/// Rows per batch handed to the ingestion path.
const BATCH_ROWS: usize = 8192;

/// Collects text fields and turns them into typed batches.
pub(super) struct BatchBuilder {
    schema: SchemaRef,
    columns: Vec<usize>,
    fields: Vec<StringBuilder>,
    lines: Vec<u64>,
}

impl BatchBuilder {
    pub(super) fn new(schema: SchemaRef, columns: Vec<usize>) -> Self {
        let fields = columns.iter().map(|_| StringBuilder::new()).collect();
        BatchBuilder {
            schema,
            columns,
            fields,
            lines: Vec::new(),
        }
    }

    pub(super) fn push_row<S: AsRef<str>>(
        &mut self,
        line: u64,
        values: &[Option<S>],
    ) -> Result<Option<RecordBatch>> {
        if values.len() > self.columns.len() {
            return Err(Error::BadCopyData {
                message: "extra data after last expected column".into(),
                line,
                column: None,
            });
        }
        if values.len() < self.columns.len() {
            let missing = self.schema.field(self.columns[values.len()]).name().clone();
            return Err(Error::BadCopyData {
                message: format!("missing data for column \"{missing}\""),
                line,
                column: Some(missing),
            });
        }
        for (builder, value) in self.fields.iter_mut().zip(values) {
            match value {
                Some(value) => builder.append_value(value.as_ref()),
                None => builder.append_null(),
            }
        }
        self.lines.push(line);
        if self.lines.len() >= BATCH_ROWS {
            self.flush()
        } else {
            Ok(None)
        }
    }

    pub(super) fn flush(&mut self) -> Result<Option<RecordBatch>> {
        if self.lines.is_empty() {
            return Ok(None);
        }
        let rows = self.lines.len();
        let mut arrays: Vec<Option<ArrayRef>> = vec![None; self.schema.fields().len()];
        for (builder, &target) in self.fields.iter_mut().zip(&self.columns) {
            let text = builder.finish();
            let field = self.schema.field(target);
            let options = CastOptions {
                safe: true,
                ..Default::default()
            };
            let typed = cast_with_options(&text, field.data_type(), &options)
                .map_err(DataFusionError::from)?;
            if typed.null_count() > text.null_count() {
                let row = (0..rows)
                    .find(|&r| typed.is_null(r) && !text.is_null(r))
                    .unwrap_or(0);
                return Err(Error::BadCopyData {
                    message: format!(
                        "invalid input syntax for type {}: \"{}\"",
                        crate::pg_types::postgres_type_name(field.data_type()),
                        if text.is_valid(row) {
                            text.value(row).to_string()
                        } else {
                            String::new()
                        }
                    ),
                    line: self.lines[row],
                    column: Some(field.name().clone()),
                });
            }
            arrays[target] = Some(typed);
        }
        let columns = arrays
            .into_iter()
            .zip(self.schema.fields())
            .map(|(array, field)| array.unwrap_or_else(|| new_null_array(field.data_type(), rows)))
            .collect();
        self.lines.clear();
        Ok(Some(
            RecordBatch::try_new(self.schema.clone(), columns).map_err(DataFusionError::from)?,
        ))
    }
}
