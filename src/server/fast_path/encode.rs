//! Online rows to DataRows without Arrow: each stored value is turned into
//! the Rust type arrow-pg would have read from an Arrow array and written
//! with pgwire's encoders, so both paths put the same bytes on the wire
//! (text and binary formats).

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::datatypes::{DataType, Schema, TimeUnit};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::ToSqlText;
use pgwire::types::format::FormatOptions;
use postgres_types::{IsNull, ToSql};
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

/// Builds DataRows in one growing buffer: each row is split off the
/// front, so rows share allocations instead of paying one (or a few
/// reallocations) each.
pub struct RowBuffer {
    buffer: BytesMut,
}

const ROW_BUFFER_CHUNK: usize = 16 * 1024;

impl Default for RowBuffer {
    fn default() -> Self {
        RowBuffer {
            buffer: BytesMut::with_capacity(ROW_BUFFER_CHUNK),
        }
    }
}

impl RowBuffer {
    fn field<T: ToSql + ToSqlText>(
        &mut self,
        value: &T,
        pg_type: &Type,
        format: FieldFormat,
        options: &FormatOptions,
    ) -> PgWireResult<()> {
        let at = self.buffer.len();
        self.buffer.put_i32(-1);
        let is_null = match format {
            FieldFormat::Text => value.to_sql_text(pg_type, &mut self.buffer, options),
            FieldFormat::Binary => value.to_sql(pg_type, &mut self.buffer),
        }
        .map_err(PgWireError::ApiError)?;
        if let IsNull::No = is_null {
            self.patch_length(at);
        }
        Ok(())
    }

    fn patch_length(&mut self, at: usize) {
        let length = (self.buffer.len() - at - 4) as i32;
        self.buffer[at..at + 4].copy_from_slice(&length.to_be_bytes());
    }

    fn take_row(&mut self, fields: usize) -> DataRow {
        let row = DataRow::new(self.buffer.split(), fields as i16);
        if self.buffer.capacity() < ROW_BUFFER_CHUNK / 4 {
            self.buffer.reserve(ROW_BUFFER_CHUNK);
        }
        row
    }
}

/// One DataRow from a row's stored column values.
pub fn write_row(
    buffer: &mut RowBuffer,
    columns: &[Column],
    fields: &[FieldInfo],
    options: &FormatOptions,
    values: &[Option<&[u8]>],
) -> PgWireResult<DataRow> {
    for (column, field) in columns.iter().zip(fields) {
        let value = values.get(column.source).copied().flatten();
        encode(
            buffer,
            column,
            value,
            field.datatype(),
            field.format(),
            options,
        )?;
    }
    Ok(buffer.take_row(columns.len()))
}

/// `YYYY-MM-DD HH:MM:SS.ffffff`, what pgwire writes for a timestamp with
/// DateStyle ISO, without a format string parsed per value; `None` for
/// years outside 0..=9999, left to pgwire.
fn iso_timestamp(time: &NaiveDateTime) -> Option<[u8; 26]> {
    use chrono::{Datelike, Timelike};
    let year = time.year();
    if !(0..=9999).contains(&year) {
        return None;
    }
    let mut out = *b"0000-00-00 00:00:00.000000";
    let mut put = |at: usize, width: usize, mut value: u32| {
        for i in (0..width).rev() {
            out[at + i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year as u32);
    put(5, 2, time.month());
    put(8, 2, time.day());
    put(11, 2, time.hour());
    put(14, 2, time.minute());
    put(17, 2, time.second());
    put(20, 6, time.nanosecond() / 1_000);
    Some(out)
}

fn encode(
    buffer: &mut RowBuffer,
    column: &Column,
    value: Option<&[u8]>,
    pg_type: &pgwire::api::Type,
    format: FieldFormat,
    options: &FormatOptions,
) -> PgWireResult<()> {
    macro_rules! put {
        ($value:expr) => {
            buffer.field(&$value, pg_type, format, options)
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
                None => {
                    let naive = utc.naive_utc();
                    let iso = (format == FieldFormat::Text
                        && *pg_type == Type::TIMESTAMP
                        && options.date_style.starts_with("ISO"))
                    .then(|| iso_timestamp(&naive))
                    .flatten();
                    match iso {
                        Some(text) => {
                            buffer.buffer.put_i32(text.len() as i32);
                            buffer.buffer.extend_from_slice(&text);
                            Ok(())
                        }
                        None => put!(naive),
                    }
                }
            }
        }
        other => Err(internal(format!(
            "the online fast path cannot encode type {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_timestamps_match_pgwire_text() {
        let options = FormatOptions::default();
        for micros in [
            0i64,
            1_767_312_000_000_000,
            1_767_312_000_123_456,
            -1_000_000,
            253_402_300_799_999_999,
            -62_135_596_800_000_000,
        ] {
            let time = DateTime::from_timestamp_micros(micros).unwrap().naive_utc();
            let mut expected = BytesMut::new();
            time.to_sql_text(&Type::TIMESTAMP, &mut expected, &options)
                .unwrap();
            let fast = iso_timestamp(&time).unwrap();
            assert_eq!(&fast[..], &expected[..], "{time}");
        }
    }
}
