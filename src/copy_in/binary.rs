//! `COPY … FROM STDIN (FORMAT binary)`: Postgres's `PGCOPY` stream.
//!
//! The stream is an 11-byte signature, a flags word and a header extension,
//! then one tuple per row (a 16-bit field count, then per field a 32-bit
//! length, -1 for NULL, and the value in the type's binary send format),
//! ended by a field count of -1. Values are decoded by the target column's
//! type and fed to the same batch builder as text COPY, so every format
//! shares one conversion, one NOT NULL check and one commit.

use std::io::Read;

use chrono::{DateTime, NaiveDate};
use datafusion::arrow::datatypes::{DataType, SchemaRef};

use super::batch::BatchBuilder;
use crate::error::{Error, Result};

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// 2000-01-01, Postgres's epoch, in days and microseconds since 1970.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// PostgreSQL's largest field value (1 GiB).
const MAX_FIELD_BYTES: i32 = (1 << 30) - 1;

/// The stream is not binary COPY data (22P04, as in PostgreSQL).
fn bad(message: impl Into<String>, row: u64, column: Option<String>) -> Error {
    Error::BadCopyFileFormat {
        message: message.into(),
        line: row,
        column,
    }
}

/// A field that is not a value of its column's type.
fn bad_value(message: impl Into<String>, row: u64, column: Option<String>) -> Error {
    Error::BadCopyData {
        message: message.into(),
        line: row,
        column,
    }
}

fn read_exact_or_eof(reader: &mut impl Read, buf: &mut [u8], row: u64) -> Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 if filled == 0 => return Ok(false),
            0 => return Err(bad("unexpected end of binary COPY data", row, None)),
            n => filled += n,
        }
    }
    Ok(true)
}

fn read_exact(reader: &mut impl Read, buf: &mut [u8], row: u64) -> Result<()> {
    if read_exact_or_eof(reader, buf, row)? {
        Ok(())
    } else {
        Err(bad("unexpected end of binary COPY data", row, None))
    }
}

/// Parses a binary COPY stream into `builder`, handing full batches to
/// `sink`.
pub(super) fn parse_binary(
    mut reader: impl Read,
    schema: &SchemaRef,
    columns: &[usize],
    builder: &mut BatchBuilder,
    sink: &dyn Fn(Result<datafusion::arrow::record_batch::RecordBatch>) -> bool,
) -> Result<()> {
    let mut header = [0u8; 19];
    read_exact(&mut reader, &mut header, 0)?;
    if &header[..11] != SIGNATURE {
        return Err(bad("COPY file signature not recognized", 0, None));
    }
    let extension = u32::from_be_bytes([header[15], header[16], header[17], header[18]]);
    std::io::copy(
        &mut (&mut reader).take(u64::from(extension)),
        &mut std::io::sink(),
    )?;

    let types: Vec<(String, DataType)> = columns
        .iter()
        .map(|&i| {
            let field = schema.field(i);
            (field.name().clone(), field.data_type().clone())
        })
        .collect();
    let mut row = 0u64;
    loop {
        row += 1;
        let mut count = [0u8; 2];
        if !read_exact_or_eof(&mut reader, &mut count, row)? {
            return Err(bad("binary COPY data ended without its trailer", row, None));
        }
        let count = i16::from_be_bytes(count);
        if count == -1 {
            return Ok(());
        }
        if count as usize != types.len() {
            return Err(bad(
                format!("row field count is {count}, expected {}", types.len()),
                row,
                None,
            ));
        }
        let mut values: Vec<Option<String>> = Vec::with_capacity(types.len());
        for (name, data_type) in &types {
            let mut length = [0u8; 4];
            read_exact(&mut reader, &mut length, row)?;
            let length = i32::from_be_bytes(length);
            if length == -1 {
                values.push(None);
                continue;
            }
            if !(0..=MAX_FIELD_BYTES).contains(&length) {
                return Err(bad(
                    format!(
                        "invalid field size {length} (at most {MAX_FIELD_BYTES} bytes, or -1 for NULL)"
                    ),
                    row,
                    Some(name.clone()),
                ));
            }
            // The length is the client's claim: the buffer grows with the
            // bytes that actually arrive.
            let mut bytes = Vec::new();
            (&mut reader).take(length as u64).read_to_end(&mut bytes)?;
            if bytes.len() != length as usize {
                return Err(bad("unexpected end of binary COPY data", row, None));
            }
            values.push(Some(
                to_text(&bytes, data_type).map_err(|m| bad_value(m, row, Some(name.clone())))?,
            ));
        }
        if let Some(batch) = builder.push_row(row, &values)?
            && !sink(Ok(batch))
        {
            return Ok(());
        }
    }
}

/// One binary value as the text the batch builder converts.
fn to_text(bytes: &[u8], data_type: &DataType) -> std::result::Result<String, String> {
    let wrong_size = || {
        format!(
            "incorrect binary data format: {} bytes for {data_type}",
            bytes.len()
        )
    };
    let int = || -> std::result::Result<i64, String> {
        Ok(match bytes.len() {
            2 => i64::from(i16::from_be_bytes(bytes.try_into().unwrap())),
            4 => i64::from(i32::from_be_bytes(bytes.try_into().unwrap())),
            8 => i64::from_be_bytes(bytes.try_into().unwrap()),
            _ => return Err(wrong_size()),
        })
    };
    Ok(match data_type {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => int()?.to_string(),
        DataType::Float32 | DataType::Float64 => match bytes.len() {
            4 => f32::from_be_bytes(bytes.try_into().unwrap()).to_string(),
            8 => f64::from_be_bytes(bytes.try_into().unwrap()).to_string(),
            _ => return Err(wrong_size()),
        },
        DataType::Boolean => match bytes {
            [0] => "false".into(),
            [_] => "true".into(),
            _ => return Err(wrong_size()),
        },
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => std::str::from_utf8(bytes)
            .map_err(|_| "invalid byte sequence for encoding \"UTF8\"".to_string())?
            .to_string(),
        DataType::Date32 | DataType::Date64 => {
            let days = i32::from_be_bytes(bytes.try_into().map_err(|_| wrong_size())?);
            let date = NaiveDate::from_num_days_from_ce_opt(719_163 + PG_EPOCH_DAYS + days)
                .ok_or_else(|| format!("date out of range: {days} days"))?;
            date.format("%Y-%m-%d").to_string()
        }
        DataType::Timestamp(_, zone) => {
            let micros = i64::from_be_bytes(bytes.try_into().map_err(|_| wrong_size())?);
            let at = DateTime::from_timestamp_micros(micros.saturating_add(PG_EPOCH_MICROS))
                .ok_or_else(|| "timestamp out of range".to_string())?;
            let text = at.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string();
            if zone.is_some() {
                format!("{text}+00:00")
            } else {
                text
            }
        }
        other => {
            return Err(format!(
                "binary COPY into a column of type {} is not supported yet; use text or csv",
                crate::pg_types::postgres_type_name(other)
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;

    #[test]
    fn values_decode_to_the_text_copy_would_carry() {
        assert_eq!(to_text(&7i64.to_be_bytes(), &DataType::Int64).unwrap(), "7");
        assert_eq!(
            to_text(&(-3i32).to_be_bytes(), &DataType::Int64).unwrap(),
            "-3"
        );
        assert_eq!(
            to_text(&1.5f64.to_be_bytes(), &DataType::Float64).unwrap(),
            "1.5"
        );
        assert_eq!(to_text(&[1], &DataType::Boolean).unwrap(), "true");
        assert_eq!(to_text(b"caf\xc3\xa9", &DataType::Utf8).unwrap(), "café");
        assert_eq!(
            to_text(&0i32.to_be_bytes(), &DataType::Date32).unwrap(),
            "2000-01-01"
        );
        let micros: i64 = 86_400_000_000 + 1;
        assert_eq!(
            to_text(
                &micros.to_be_bytes(),
                &DataType::Timestamp(TimeUnit::Microsecond, None)
            )
            .unwrap(),
            "2000-01-02 00:00:00.000001"
        );
        assert!(to_text(&[0, 1, 2], &DataType::Int64).is_err());
    }
}
