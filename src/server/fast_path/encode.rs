//! Online rows to DataRows without Arrow: each stored value is turned into
//! the Rust type arrow-pg would have read from an Arrow array and written
//! with pgwire's encoders, so both paths put the same bytes on the wire
//! (text and binary formats).

use chrono::{DateTime, NaiveDate};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::datatypes::{DataType, Schema, TimeUnit};
use pgwire::api::portal::Format;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::format::FormatOptions;
use rust_decimal::Decimal;
use std::str::FromStr;

use crate::online::codec::le_bytes;

/// How one output column is written.
#[derive(Debug, Clone)]
pub struct Column {
    source: usize,
    data_type: DataType,
    timezone: Option<Tz>,
}

/// The RowDescription of `schema` in `format`, as the DataFusion path
/// describes it.
pub fn describe(schema: &Schema, format: &Format) -> PgWireResult<Vec<FieldInfo>> {
    arrow_pg::datatypes::arrow_schema_to_pg_fields(schema, format, None)
}

fn internal(message: String) -> PgWireError {
    PgWireError::ApiError(Box::new(crate::error::Error::Internal(message)))
}

/// The encoders of a projection: `projection[i]` is the source column of
/// output column `i`, whose Arrow field is `schema.field(i)`.
pub fn columns(schema: &Schema, projection: &[usize]) -> PgWireResult<Vec<Column>> {
    projection
        .iter()
        .zip(schema.fields())
        .map(|(&source, field)| {
            let timezone = match field.data_type() {
                DataType::Timestamp(_, Some(tz)) => {
                    Some(Tz::from_str(tz).map_err(|e| internal(format!("time zone {tz}: {e}")))?)
                }
                _ => None,
            };
            Ok(Column {
                source,
                data_type: field.data_type().clone(),
                timezone,
            })
        })
        .collect()
}

/// One DataRow from a row's stored column values.
pub fn write_row(
    encoder: &mut DataRowEncoder,
    columns: &[Column],
    fields: &[FieldInfo],
    options: &FormatOptions,
    values: &[Option<&[u8]>],
) -> PgWireResult<DataRow> {
    for (column, field) in columns.iter().zip(fields) {
        let value = values.get(column.source).copied().flatten();
        encode(
            encoder,
            column,
            value,
            field.datatype(),
            field.format(),
            options,
        )?;
    }
    Ok(encoder.take_row())
}

fn encode(
    encoder: &mut DataRowEncoder,
    column: &Column,
    value: Option<&[u8]>,
    pg_type: &pgwire::api::Type,
    format: FieldFormat,
    options: &FormatOptions,
) -> PgWireResult<()> {
    macro_rules! put {
        ($value:expr) => {
            encoder.encode_field_with_type_and_format(&$value, pg_type, format, options)
        };
    }
    let Some(bytes) = value else {
        return put!(None::<i64>);
    };
    let bad = |e: crate::error::Error| PgWireError::ApiError(Box::new(e));
    macro_rules! num {
        ($t:ty, $n:literal) => {
            <$t>::from_le_bytes(le_bytes::<$n>(bytes).map_err(bad)?)
        };
    }
    match &column.data_type {
        DataType::Null => put!(None::<i64>),
        DataType::Boolean => put!(bytes.first().is_some_and(|b| *b != 0)),
        DataType::Int8 => put!(num!(i8, 1) as i16),
        DataType::Int16 => put!(num!(i16, 2)),
        DataType::Int32 => put!(num!(i32, 4)),
        DataType::Int64 => put!(num!(i64, 8)),
        DataType::UInt8 => put!(num!(u8, 1) as i16),
        DataType::UInt16 => put!(num!(u16, 2) as i32),
        DataType::UInt32 => put!(num!(u32, 4) as i64),
        DataType::UInt64 => put!(Decimal::from(num!(u64, 8))),
        DataType::Float32 => put!(num!(f32, 4)),
        DataType::Float64 => put!(num!(f64, 8)),
        DataType::Decimal128(_, scale) => {
            let decimal = Decimal::try_from_i128_with_scale(num!(i128, 16), (*scale).max(0) as u32)
                .map_err(|e| internal(format!("numeric value out of range: {e}")))?;
            put!(decimal)
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = std::str::from_utf8(bytes)
                .map_err(|e| internal(format!("online text is not UTF-8: {e}")))?;
            put!(text)
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => put!(bytes),
        DataType::Date32 => {
            let days = num!(i32, 4);
            let date = NaiveDate::default()
                .checked_add_signed(chrono::Duration::days(days as i64))
                .ok_or_else(|| internal(format!("date out of range: {days} days")))?;
            put!(date)
        }
        DataType::Timestamp(unit, _) => {
            let micros = num!(i64, 8);
            // The store keeps microseconds; a coarser column never has more.
            let micros = match unit {
                TimeUnit::Second => micros / 1_000_000 * 1_000_000,
                TimeUnit::Millisecond => micros / 1_000 * 1_000,
                TimeUnit::Microsecond | TimeUnit::Nanosecond => micros,
            };
            let utc = DateTime::from_timestamp_micros(micros)
                .ok_or_else(|| internal(format!("timestamp out of range: {micros}")))?;
            match &column.timezone {
                Some(tz) => put!(utc.with_timezone(tz).fixed_offset()),
                None => put!(utc.naive_utc()),
            }
        }
        other => Err(internal(format!(
            "the online fast path cannot encode type {other}"
        ))),
    }
}
