//! One definition per system table: each column is a name, a type and how
//! to read it off one row, so a table's schema and its batches cannot drift
//! apart, and adding a column is one line.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, new_empty_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::scalar::ScalarValue;

use crate::error::Result;

type Read<T> = Box<dyn Fn(&T) -> ScalarValue + Send + Sync>;

/// The columns of a system table whose rows are `T`s.
pub struct SystemTable<T> {
    fields: Vec<Field>,
    reads: Vec<Read<T>>,
}

impl<T> Default for SystemTable<T> {
    fn default() -> Self {
        SystemTable {
            fields: Vec::new(),
            reads: Vec::new(),
        }
    }
}

impl<T> SystemTable<T> {
    fn column(
        mut self,
        name: &str,
        data_type: DataType,
        nullable: bool,
        read: impl Fn(&T) -> ScalarValue + Send + Sync + 'static,
    ) -> Self {
        self.fields.push(Field::new(name, data_type, nullable));
        self.reads.push(Box::new(read));
        self
    }

    pub fn text(self, name: &str, read: impl Fn(&T) -> String + Send + Sync + 'static) -> Self {
        self.column(name, DataType::Utf8, false, move |row| {
            ScalarValue::Utf8(Some(read(row)))
        })
    }

    pub fn nullable_text(
        self,
        name: &str,
        read: impl Fn(&T) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.column(name, DataType::Utf8, true, move |row| {
            ScalarValue::Utf8(read(row))
        })
    }

    pub fn int32(self, name: &str, read: impl Fn(&T) -> i32 + Send + Sync + 'static) -> Self {
        self.column(name, DataType::Int32, false, move |row| {
            ScalarValue::Int32(Some(read(row)))
        })
    }

    pub fn int64(self, name: &str, read: impl Fn(&T) -> i64 + Send + Sync + 'static) -> Self {
        self.column(name, DataType::Int64, false, move |row| {
            ScalarValue::Int64(Some(read(row)))
        })
    }

    pub fn nullable_int64(
        self,
        name: &str,
        read: impl Fn(&T) -> Option<i64> + Send + Sync + 'static,
    ) -> Self {
        self.column(name, DataType::Int64, true, move |row| {
            ScalarValue::Int64(read(row))
        })
    }

    pub fn float64(self, name: &str, read: impl Fn(&T) -> f64 + Send + Sync + 'static) -> Self {
        self.column(name, DataType::Float64, false, move |row| {
            ScalarValue::Float64(Some(read(row)))
        })
    }

    pub fn nullable_float64(
        self,
        name: &str,
        read: impl Fn(&T) -> Option<f64> + Send + Sync + 'static,
    ) -> Self {
        self.column(name, DataType::Float64, true, move |row| {
            ScalarValue::Float64(read(row))
        })
    }

    pub fn boolean(self, name: &str, read: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.column(name, DataType::Boolean, false, move |row| {
            ScalarValue::Boolean(Some(read(row)))
        })
    }

    /// Microseconds since the epoch, as `timestamp without time zone`.
    pub fn timestamp(self, name: &str, read: impl Fn(&T) -> i64 + Send + Sync + 'static) -> Self {
        self.column(
            name,
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
            move |row| ScalarValue::TimestampMicrosecond(Some(read(row)), None),
        )
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.fields.clone()))
    }

    pub fn batch(&self, rows: &[T]) -> Result<RecordBatch> {
        let columns = self
            .fields
            .iter()
            .zip(&self.reads)
            .map(|(field, read)| {
                if rows.is_empty() {
                    return Ok(new_empty_array(field.data_type()));
                }
                ScalarValue::iter_to_array(rows.iter().map(read))
            })
            .collect::<std::result::Result<Vec<ArrayRef>, DataFusionError>>()?;
        Ok(RecordBatch::try_new(self.schema(), columns).map_err(DataFusionError::from)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_and_rows_come_from_one_definition() {
        let table = SystemTable::<(i64, Option<&'static str>)>::default()
            .int64("n", |r| r.0)
            .nullable_text("label", |r| r.1.map(str::to_string));
        let batch = table.batch(&[(1, Some("a")), (2, None)]).unwrap();
        assert_eq!(batch.schema(), table.schema());
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column(1).null_count(), 1);
        assert_eq!(table.batch(&[]).unwrap().num_rows(), 0);
    }
}
