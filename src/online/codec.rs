//! The online store's on-disk encodings (format version 1).
//!
//! **Keys** preserve the order of the primary key, column by column, so
//! LMDB's byte order is the key order and range scans are possible:
//! a leading format byte `0x01`, then for each key column a type-specific
//! encoding —
//! - signed integers: big-endian with the sign bit flipped (8 bytes for
//!   BIGINT/TIMESTAMP, 4 for INT/DATE, 2 for SMALLINT, 1 for TINYINT);
//! - unsigned integers: big-endian;
//! - BOOLEAN: one byte, 0 or 1;
//! - TEXT and BYTEA: the bytes with `0x00` escaped as `0x00 0xFF`, then the
//!   terminator `0x00 0x01`, so a shorter string sorts before its extensions
//!   and composite keys never run into each other.
//!
//! Floating-point key columns are refused when a feature group is created:
//! they do not compare exactly.
//!
//! **Values** are whole rows: a leading format byte `0x01`, the event time
//! (microseconds since the epoch, little-endian i64; `i64::MIN` when the
//! group has no event time), a null bitmap (one bit per column, set = NULL),
//! then each non-null column — fixed-width numbers little-endian, BOOLEAN as
//! one byte, TEXT/BYTEA as a little-endian u32 length and the bytes,
//! DECIMAL as a little-endian i128.

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Float32Builder, Float64Builder, Int8Builder, Int16Builder, Int32Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder, TimestampMillisecondBuilder,
    TimestampNanosecondBuilder, TimestampSecondBuilder, UInt8Builder, UInt16Builder, UInt32Builder,
    UInt64Builder,
};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, SchemaRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::scalar::ScalarValue;

pub use super::row::FORMAT_V1;
use super::row::RowLayout;
use crate::error::{Error, Result};

/// Event time stored for groups without one: every write replaces.
pub const NO_EVENT_TIME: i64 = i64::MIN;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Whether a column of this type can be part of a primary key.
pub fn key_type_supported(data_type: &DataType) -> bool {
    key_kind(data_type).is_some()
}

/// What kind of value a primary-key column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Int,
    Bool,
    Text,
    Bytes,
    Date,
    Timestamp,
}

/// The kind of a key column's type; `None` for types keys cannot have.
pub fn key_kind(data_type: &DataType) -> Option<KeyKind> {
    Some(match data_type {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => KeyKind::Int,
        DataType::Boolean => KeyKind::Bool,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => KeyKind::Text,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => KeyKind::Bytes,
        DataType::Date32 => KeyKind::Date,
        DataType::Timestamp(_, _) => KeyKind::Timestamp,
        _ => return None,
    })
}

/// Whether a column of this type can be stored in the online store.
pub fn value_type_supported(data_type: &DataType) -> bool {
    key_type_supported(data_type)
        || matches!(
            data_type,
            DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _) | DataType::Null
        )
}

fn flip_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

fn escape_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

/// Appends the order-preserving encoding of `array[row]` to `out`.
fn encode_key_value(out: &mut Vec<u8>, array: &dyn Array, row: usize) -> Result<()> {
    match array.data_type() {
        DataType::Int8 => out.push((array.as_primitive::<Int8Type>().value(row) as u8) ^ 0x80),
        DataType::Int16 => out.extend_from_slice(
            &((array.as_primitive::<Int16Type>().value(row) as u16) ^ 0x8000).to_be_bytes(),
        ),
        DataType::Int32 => out.extend_from_slice(
            &((array.as_primitive::<Int32Type>().value(row) as u32) ^ 0x8000_0000).to_be_bytes(),
        ),
        DataType::Date32 => out.extend_from_slice(
            &((array.as_primitive::<Date32Type>().value(row) as u32) ^ 0x8000_0000).to_be_bytes(),
        ),
        DataType::Int64 => {
            out.extend_from_slice(&flip_i64(array.as_primitive::<Int64Type>().value(row)))
        }
        DataType::UInt8 => out.push(array.as_primitive::<UInt8Type>().value(row)),
        DataType::UInt16 => {
            out.extend_from_slice(&array.as_primitive::<UInt16Type>().value(row).to_be_bytes())
        }
        DataType::UInt32 => {
            out.extend_from_slice(&array.as_primitive::<UInt32Type>().value(row).to_be_bytes())
        }
        DataType::UInt64 => {
            out.extend_from_slice(&array.as_primitive::<UInt64Type>().value(row).to_be_bytes())
        }
        DataType::Boolean => out.push(array.as_boolean().value(row) as u8),
        DataType::Timestamp(_, _) => out.extend_from_slice(&flip_i64(timestamp_micros(array, row))),
        DataType::Utf8 => escape_bytes(out, array.as_string::<i32>().value(row).as_bytes()),
        DataType::LargeUtf8 => escape_bytes(out, array.as_string::<i64>().value(row).as_bytes()),
        DataType::Utf8View => escape_bytes(out, array.as_string_view().value(row).as_bytes()),
        DataType::Binary => escape_bytes(out, array.as_binary::<i32>().value(row)),
        DataType::LargeBinary => escape_bytes(out, array.as_binary::<i64>().value(row)),
        DataType::BinaryView => escape_bytes(out, array.as_binary_view().value(row)),
        other => {
            return Err(Error::FeatureNotSupported(format!(
                "a primary key column cannot have type {other}"
            )));
        }
    }
    Ok(())
}

/// The key of `row`: the primary key columns `key_columns` of `batch`.
pub fn encode_key(batch: &RecordBatch, key_columns: &[usize], row: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1 + 8 * key_columns.len());
    encode_key_into(&mut out, batch, key_columns, row)?;
    Ok(out)
}

/// [`encode_key`] into a reused buffer (cleared first).
pub fn encode_key_into(
    out: &mut Vec<u8>,
    batch: &RecordBatch,
    key_columns: &[usize],
    row: usize,
) -> Result<()> {
    out.clear();
    out.push(FORMAT_V1);
    for &column in key_columns {
        let array = batch.column(column);
        if array.is_null(row) {
            return Err(Error::Internal(
                "NULL reached the online key encoder".into(),
            ));
        }
        encode_key_value(out, array.as_ref(), row)?;
    }
    Ok(())
}

/// Encodes one key from scalar values (for lookups), each cast to its key
/// column's type first. `None` when a value cannot be of that type — such a
/// key cannot exist.
pub fn encode_key_scalars(values: &[ScalarValue], types: &[DataType]) -> Option<Vec<u8>> {
    let mut out = vec![FORMAT_V1];
    for (value, data_type) in values.iter().zip(types) {
        let cast = value.cast_to(data_type).ok()?;
        if cast.is_null() {
            return None;
        }
        let array = cast.to_array().ok()?;
        encode_key_value(&mut out, array.as_ref(), 0).ok()?;
    }
    Some(out)
}

/// One primary-key value as a client or another row supplies it, before it
/// is encoded for a key column of a particular type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPart<'a> {
    Int(i128),
    Bool(bool),
    Text(&'a str),
    Bytes(&'a [u8]),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01 00:00:00.
    Timestamp(i64),
}

/// Appends the key encoding of `part` for a key column of `data_type`.
/// Returns false when no key of that type can equal `part` (an integer out
/// of the column's range, a timestamp finer than its unit): such a key
/// cannot exist, so the lookup finds nothing. Mismatched kinds (text for an
/// integer column) are refused before this is called.
pub fn encode_key_part(out: &mut Vec<u8>, data_type: &DataType, part: &KeyPart<'_>) -> bool {
    macro_rules! int {
        ($t:ty, $flip:expr) => {{
            let KeyPart::Int(v) = part else { return false };
            let Ok(v) = <$t>::try_from(*v) else {
                return false;
            };
            out.extend_from_slice(&$flip(v).to_be_bytes());
            true
        }};
    }
    match (data_type, part) {
        (DataType::Int8, _) => int!(i8, |v: i8| (v as u8) ^ 0x80),
        (DataType::Int16, _) => int!(i16, |v: i16| (v as u16) ^ 0x8000),
        (DataType::Int32, _) => int!(i32, |v: i32| (v as u32) ^ 0x8000_0000),
        (DataType::Int64, _) => int!(i64, |v: i64| (v as u64) ^ (1 << 63)),
        (DataType::UInt8, _) => int!(u8, |v: u8| v),
        (DataType::UInt16, _) => int!(u16, |v: u16| v),
        (DataType::UInt32, _) => int!(u32, |v: u32| v),
        (DataType::UInt64, _) => int!(u64, |v: u64| v),
        (DataType::Boolean, KeyPart::Bool(b)) => {
            out.push(*b as u8);
            true
        }
        (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View, KeyPart::Text(t)) => {
            escape_bytes(out, t.as_bytes());
            true
        }
        (DataType::Binary | DataType::LargeBinary | DataType::BinaryView, KeyPart::Bytes(b)) => {
            escape_bytes(out, b);
            true
        }
        (DataType::Date32, KeyPart::Date(days)) => {
            out.extend_from_slice(&((*days as u32) ^ 0x8000_0000).to_be_bytes());
            true
        }
        (DataType::Timestamp(unit, _), KeyPart::Timestamp(micros)) => {
            let representable = match unit {
                TimeUnit::Second => micros % 1_000_000 == 0,
                TimeUnit::Millisecond => micros % 1_000 == 0,
                TimeUnit::Microsecond | TimeUnit::Nanosecond => true,
            };
            out.extend_from_slice(&flip_i64(*micros));
            representable
        }
        _ => false,
    }
}

/// The key part a stored (row-encoded) value of `data_type` stands for.
pub fn key_part_from_value<'a>(data_type: &DataType, bytes: &'a [u8]) -> Option<KeyPart<'a>> {
    Some(match data_type {
        DataType::Int8 => KeyPart::Int(i8::from_le_bytes(le_bytes(bytes).ok()?) as i128),
        DataType::Int16 => KeyPart::Int(i16::from_le_bytes(le_bytes(bytes).ok()?) as i128),
        DataType::Int32 => KeyPart::Int(i32::from_le_bytes(le_bytes(bytes).ok()?) as i128),
        DataType::Int64 => KeyPart::Int(i64::from_le_bytes(le_bytes(bytes).ok()?) as i128),
        DataType::UInt8 => KeyPart::Int(u8::from_le_bytes(le_bytes(bytes).ok()?) as i128),
        DataType::UInt16 => KeyPart::Int(u16::from_le_bytes(le_bytes(bytes).ok()?) as i128),
        DataType::UInt32 => KeyPart::Int(u32::from_le_bytes(le_bytes(bytes).ok()?) as i128),
        DataType::UInt64 => KeyPart::Int(u64::from_le_bytes(le_bytes(bytes).ok()?) as i128),
        DataType::Boolean => KeyPart::Bool(*bytes.first()? != 0),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            KeyPart::Text(std::str::from_utf8(bytes).ok()?)
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => KeyPart::Bytes(bytes),
        DataType::Date32 => KeyPart::Date(i32::from_le_bytes(le_bytes(bytes).ok()?)),
        DataType::Timestamp(_, _) => KeyPart::Timestamp(i64::from_le_bytes(le_bytes(bytes).ok()?)),
        _ => return None,
    })
}

fn timestamp_micros(array: &dyn Array, row: usize) -> i64 {
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => array
            .as_primitive::<TimestampSecondType>()
            .value(row)
            .saturating_mul(1_000_000),
        DataType::Timestamp(TimeUnit::Millisecond, _) => array
            .as_primitive::<TimestampMillisecondType>()
            .value(row)
            .saturating_mul(1_000),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            array.as_primitive::<TimestampMicrosecondType>().value(row)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            array.as_primitive::<TimestampNanosecondType>().value(row) / 1_000
        }
        _ => 0,
    }
}

/// The event time of `row` in microseconds, for TIMESTAMP and DATE columns.
pub fn event_time_micros(array: &dyn Array, row: usize) -> i64 {
    match array.data_type() {
        DataType::Date32 => array.as_primitive::<Date32Type>().value(row) as i64 * MICROS_PER_DAY,
        _ => timestamp_micros(array, row),
    }
}

/// The event time stored at the front of an encoded row.
pub fn decode_event_time(value: &[u8]) -> i64 {
    value
        .get(1..9)
        .and_then(|b| b.try_into().ok())
        .map(i64::from_le_bytes)
        .unwrap_or(NO_EVENT_TIME)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Encodes every column of `batch[row]`.
pub fn encode_row(batch: &RecordBatch, row: usize, event_time: i64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_row_into(&mut out, batch, row, event_time)?;
    Ok(out)
}

/// [`encode_row`] into a reused buffer (cleared first).
pub fn encode_row_into(
    out: &mut Vec<u8>,
    batch: &RecordBatch,
    row: usize,
    event_time: i64,
) -> Result<()> {
    let columns = batch.columns();
    let bitmap_len = columns.len().div_ceil(8);
    out.clear();
    out.push(FORMAT_V1);
    out.extend_from_slice(&event_time.to_le_bytes());
    let bitmap_at = out.len();
    out.resize(bitmap_at + bitmap_len, 0);
    for (index, array) in columns.iter().enumerate() {
        if array.is_null(row) {
            out[bitmap_at + index / 8] |= 1 << (index % 8);
            continue;
        }
        let array = array.as_ref();
        match array.data_type() {
            DataType::Int8 => out.push(array.as_primitive::<Int8Type>().value(row) as u8),
            DataType::Int16 => {
                out.extend_from_slice(&array.as_primitive::<Int16Type>().value(row).to_le_bytes())
            }
            DataType::Int32 => {
                out.extend_from_slice(&array.as_primitive::<Int32Type>().value(row).to_le_bytes())
            }
            DataType::Date32 => {
                out.extend_from_slice(&array.as_primitive::<Date32Type>().value(row).to_le_bytes())
            }
            DataType::Int64 => {
                out.extend_from_slice(&array.as_primitive::<Int64Type>().value(row).to_le_bytes())
            }
            DataType::UInt8 => out.push(array.as_primitive::<UInt8Type>().value(row)),
            DataType::UInt16 => {
                out.extend_from_slice(&array.as_primitive::<UInt16Type>().value(row).to_le_bytes())
            }
            DataType::UInt32 => {
                out.extend_from_slice(&array.as_primitive::<UInt32Type>().value(row).to_le_bytes())
            }
            DataType::UInt64 => {
                out.extend_from_slice(&array.as_primitive::<UInt64Type>().value(row).to_le_bytes())
            }
            DataType::Float32 => {
                out.extend_from_slice(&array.as_primitive::<Float32Type>().value(row).to_le_bytes())
            }
            DataType::Float64 => {
                out.extend_from_slice(&array.as_primitive::<Float64Type>().value(row).to_le_bytes())
            }
            DataType::Decimal128(_, _) => out.extend_from_slice(
                &array
                    .as_primitive::<Decimal128Type>()
                    .value(row)
                    .to_le_bytes(),
            ),
            DataType::Boolean => out.push(array.as_boolean().value(row) as u8),
            DataType::Timestamp(_, _) => {
                out.extend_from_slice(&timestamp_micros(array, row).to_le_bytes())
            }
            DataType::Utf8 => put_bytes(out, array.as_string::<i32>().value(row).as_bytes()),
            DataType::LargeUtf8 => put_bytes(out, array.as_string::<i64>().value(row).as_bytes()),
            DataType::Utf8View => put_bytes(out, array.as_string_view().value(row).as_bytes()),
            DataType::Binary => put_bytes(out, array.as_binary::<i32>().value(row)),
            DataType::LargeBinary => put_bytes(out, array.as_binary::<i64>().value(row)),
            DataType::BinaryView => put_bytes(out, array.as_binary_view().value(row)),
            other => {
                return Err(Error::FeatureNotSupported(format!(
                    "the online store cannot hold type {other}"
                )));
            }
        }
    }
    Ok(())
}

/// Builds record batches from encoded rows of one schema.
pub struct RowDecoder {
    schema: SchemaRef,
    layout: RowLayout,
    builders: Vec<ColumnBuilder>,
    rows: usize,
}

enum ColumnBuilder {
    Int8(Int8Builder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    UInt8(UInt8Builder),
    UInt16(UInt16Builder),
    UInt32(UInt32Builder),
    UInt64(UInt64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Boolean(BooleanBuilder),
    Date32(Date32Builder),
    TimestampSecond(TimestampSecondBuilder),
    TimestampMillisecond(TimestampMillisecondBuilder),
    TimestampMicrosecond(TimestampMicrosecondBuilder),
    TimestampNanosecond(TimestampNanosecondBuilder),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
}

/// A stored fixed-width value as an array (checked, never panics).
pub fn le_bytes<const N: usize>(bytes: &[u8]) -> Result<[u8; N]> {
    bytes
        .try_into()
        .map_err(|_| Error::Internal("online value has the wrong width".into()))
}

impl RowDecoder {
    pub fn new(schema: SchemaRef) -> Result<Self> {
        let builders = schema
            .fields()
            .iter()
            .map(|field| {
                Ok(match field.data_type() {
                    DataType::Int8 => ColumnBuilder::Int8(Int8Builder::new()),
                    DataType::Int16 => ColumnBuilder::Int16(Int16Builder::new()),
                    DataType::Int32 => ColumnBuilder::Int32(Int32Builder::new()),
                    DataType::Int64 => ColumnBuilder::Int64(Int64Builder::new()),
                    DataType::UInt8 => ColumnBuilder::UInt8(UInt8Builder::new()),
                    DataType::UInt16 => ColumnBuilder::UInt16(UInt16Builder::new()),
                    DataType::UInt32 => ColumnBuilder::UInt32(UInt32Builder::new()),
                    DataType::UInt64 => ColumnBuilder::UInt64(UInt64Builder::new()),
                    DataType::Float32 => ColumnBuilder::Float32(Float32Builder::new()),
                    DataType::Float64 => ColumnBuilder::Float64(Float64Builder::new()),
                    DataType::Decimal128(p, s) => {
                        ColumnBuilder::Decimal(Decimal128Builder::new(), *p, *s)
                    }
                    DataType::Boolean => ColumnBuilder::Boolean(BooleanBuilder::new()),
                    DataType::Date32 => ColumnBuilder::Date32(Date32Builder::new()),
                    DataType::Timestamp(TimeUnit::Second, _) => {
                        ColumnBuilder::TimestampSecond(TimestampSecondBuilder::new())
                    }
                    DataType::Timestamp(TimeUnit::Millisecond, _) => {
                        ColumnBuilder::TimestampMillisecond(TimestampMillisecondBuilder::new())
                    }
                    DataType::Timestamp(TimeUnit::Microsecond, _) => {
                        ColumnBuilder::TimestampMicrosecond(TimestampMicrosecondBuilder::new())
                    }
                    DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                        ColumnBuilder::TimestampNanosecond(TimestampNanosecondBuilder::new())
                    }
                    DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
                        ColumnBuilder::Utf8(StringBuilder::new())
                    }
                    DataType::Binary | DataType::BinaryView | DataType::LargeBinary => {
                        ColumnBuilder::Binary(BinaryBuilder::new())
                    }
                    other => {
                        return Err(Error::FeatureNotSupported(format!(
                            "the online store cannot hold type {other}"
                        )));
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RowDecoder {
            layout: RowLayout::new(&schema),
            schema,
            builders,
            rows: 0,
        })
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one stored row.
    pub fn push(&mut self, value: &[u8]) -> Result<()> {
        let view = self.layout.split(value)?;
        self.push_values(view.values())
    }

    /// Appends one row given as column values in the stored encoding
    /// (`None` is NULL), one per column of the decoder's schema.
    pub fn push_values(&mut self, values: &[Option<&[u8]>]) -> Result<()> {
        if values.len() != self.builders.len() {
            return Err(Error::Internal(format!(
                "online row has {} columns, expected {}",
                values.len(),
                self.builders.len()
            )));
        }
        for (builder, value) in self.builders.iter_mut().zip(values) {
            macro_rules! fixed {
                ($b:expr, $t:ty, $n:literal) => {
                    match value {
                        None => $b.append_null(),
                        Some(bytes) => $b.append_value(<$t>::from_le_bytes(le_bytes::<$n>(bytes)?)),
                    }
                };
            }
            macro_rules! micros {
                ($b:expr, $convert:expr) => {
                    match value {
                        None => $b.append_null(),
                        Some(bytes) => {
                            $b.append_value($convert(i64::from_le_bytes(le_bytes::<8>(bytes)?)))
                        }
                    }
                };
            }
            match builder {
                ColumnBuilder::Int8(b) => fixed!(b, i8, 1),
                ColumnBuilder::Int16(b) => fixed!(b, i16, 2),
                ColumnBuilder::Int32(b) => fixed!(b, i32, 4),
                ColumnBuilder::Int64(b) => fixed!(b, i64, 8),
                ColumnBuilder::UInt8(b) => fixed!(b, u8, 1),
                ColumnBuilder::UInt16(b) => fixed!(b, u16, 2),
                ColumnBuilder::UInt32(b) => fixed!(b, u32, 4),
                ColumnBuilder::UInt64(b) => fixed!(b, u64, 8),
                ColumnBuilder::Float32(b) => fixed!(b, f32, 4),
                ColumnBuilder::Float64(b) => fixed!(b, f64, 8),
                ColumnBuilder::Decimal(b, _, _) => fixed!(b, i128, 16),
                ColumnBuilder::Date32(b) => fixed!(b, i32, 4),
                ColumnBuilder::Boolean(b) => match value {
                    None => b.append_null(),
                    Some(bytes) => b.append_value(bytes.first().is_some_and(|v| *v != 0)),
                },
                ColumnBuilder::TimestampSecond(b) => micros!(b, |v: i64| v / 1_000_000),
                ColumnBuilder::TimestampMillisecond(b) => micros!(b, |v: i64| v / 1_000),
                ColumnBuilder::TimestampMicrosecond(b) => micros!(b, |v: i64| v),
                ColumnBuilder::TimestampNanosecond(b) => {
                    micros!(b, |v: i64| v.saturating_mul(1_000))
                }
                ColumnBuilder::Utf8(b) => {
                    match value {
                        None => b.append_null(),
                        Some(bytes) => b.append_value(std::str::from_utf8(bytes).map_err(|e| {
                            Error::Internal(format!("online text is not UTF-8: {e}"))
                        })?),
                    }
                }
                ColumnBuilder::Binary(b) => match value {
                    None => b.append_null(),
                    Some(bytes) => b.append_value(bytes),
                },
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows pushed so far, in the decoder's schema; resets the decoder.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .zip(self.schema.fields())
            .map(|(builder, field)| {
                let array: ArrayRef = match builder {
                    ColumnBuilder::Int8(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::Int16(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::Int32(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::Int64(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::UInt8(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::UInt16(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::UInt32(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::UInt64(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::Float32(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::Float64(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::Decimal(b, p, s) => {
                        std::sync::Arc::new(b.finish().with_precision_and_scale(*p, *s).map_err(
                            |e| Error::Internal(format!("bad decimal in online store: {e}")),
                        )?)
                    }
                    ColumnBuilder::Boolean(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::Date32(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::TimestampSecond(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::TimestampMillisecond(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::TimestampMicrosecond(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::TimestampNanosecond(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::Utf8(b) => std::sync::Arc::new(b.finish()),
                    ColumnBuilder::Binary(b) => std::sync::Arc::new(b.finish()),
                };
                // Timezones, view types: match the declared field exactly.
                if array.data_type() == field.data_type() {
                    Ok(array)
                } else {
                    datafusion::arrow::compute::cast(&array, field.data_type())
                        .map_err(|e| Error::Internal(format!("online decode cast: {e}")))
                }
            })
            .collect::<Result<_>>()?;
        self.rows = 0;
        let options =
            datafusion::arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(0));
        if columns.is_empty() {
            return RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)
                .map_err(|e| Error::Internal(e.to_string()));
        }
        RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| Error::Internal(format!("online decode: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch(keys: Vec<i64>, names: Vec<Option<&str>>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("score", DataType::Float64, true),
        ]));
        let n = keys.len();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(keys)),
                Arc::new(StringArray::from(names)),
                Arc::new(Float64Array::from(vec![Some(1.5); n])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn integer_keys_sort_like_the_integers() {
        let values = vec![i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        let b = batch(values.clone(), vec![None; values.len()]);
        let keys: Vec<Vec<u8>> = (0..values.len())
            .map(|row| encode_key(&b, &[0], row).unwrap())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn string_keys_sort_like_the_strings_even_with_nul_bytes() {
        let words = ["", "a", "a\0", "a\0b", "ab", "b"];
        let array = StringArray::from(words.to_vec());
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
        let b = RecordBatch::try_new(schema, vec![Arc::new(array)]).unwrap();
        let keys: Vec<Vec<u8>> = (0..words.len())
            .map(|row| encode_key(&b, &[0], row).unwrap())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn scalar_keys_match_batch_keys() {
        let b = batch(vec![42], vec![Some("x")]);
        let from_batch = encode_key(&b, &[0], 0).unwrap();
        let from_scalar =
            encode_key_scalars(&[ScalarValue::Int32(Some(42))], &[DataType::Int64]).unwrap();
        assert_eq!(from_batch, from_scalar);
        assert!(encode_key_scalars(&[ScalarValue::Int64(None)], &[DataType::Int64]).is_none());
    }

    #[test]
    fn key_parts_encode_like_batch_keys() {
        let b = batch(vec![-42], vec![Some("x")]);
        let from_batch = encode_key(&b, &[0], 0).unwrap();
        let mut from_part = vec![FORMAT_V1];
        assert!(encode_key_part(
            &mut from_part,
            &DataType::Int64,
            &KeyPart::Int(-42)
        ));
        assert_eq!(from_batch, from_part);
        let stored = encode_row(&b, 0, 0).unwrap();
        let view = RowLayout::new(&b.schema()).split(&stored).unwrap();
        let part = key_part_from_value(&DataType::Int64, view.value(0).unwrap()).unwrap();
        assert_eq!(part, KeyPart::Int(-42));
        let mut narrow = vec![FORMAT_V1];
        assert!(!encode_key_part(
            &mut narrow,
            &DataType::Int8,
            &KeyPart::Int(300)
        ));
        assert!(!encode_key_part(
            &mut narrow,
            &DataType::Int64,
            &KeyPart::Text("1")
        ));
    }

    #[test]
    fn rows_round_trip_with_nulls() {
        let b = batch(vec![1, 2], vec![Some("héllo"), None]);
        let mut decoder = RowDecoder::new(b.schema()).unwrap();
        for row in 0..2 {
            let encoded = encode_row(&b, row, 1234).unwrap();
            assert_eq!(decode_event_time(&encoded), 1234);
            decoder.push(&encoded).unwrap();
        }
        assert_eq!(decoder.finish().unwrap(), b);
    }

    #[test]
    fn row_layout_splits_fixed_variable_and_null_columns() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("score", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![7, 8])),
                Arc::new(StringArray::from(vec![Some("héllo"), None])),
                Arc::new(Float64Array::from(vec![None, Some(2.5)])),
            ],
        )
        .unwrap();
        let layout = RowLayout::new(&schema);
        let first = encode_row(&batch, 0, 42).unwrap();
        let view = layout.split(&first).unwrap();
        assert_eq!(view.event_time, 42);
        assert_eq!(view.value(0), Some(&7i64.to_le_bytes()[..]));
        assert_eq!(view.value(1), Some("héllo".as_bytes()));
        assert_eq!(view.value(2), None);
        let second = encode_row(&batch, 1, 0).unwrap();
        let view = layout.split(&second).unwrap();
        assert_eq!(view.value(1), None);
        assert_eq!(view.value(2), Some(&2.5f64.to_le_bytes()[..]));
        assert!(layout.split(&second[..second.len() - 1]).is_err());
    }
}
