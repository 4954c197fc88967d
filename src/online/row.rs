//! Reading stored online rows in place: [`RowLayout`] knows where each
//! column of a row encoded by `codec::encode_row_into` starts, so a lookup
//! can hand column bytes straight from LMDB's memory map to the wire encoder
//! or an Arrow builder without decoding the whole row first.

use datafusion::arrow::datatypes::{DataType, SchemaRef};

use crate::error::{Error, Result};

/// The leading byte of every stored key and row: the format version.
pub const FORMAT_V1: u8 = 1;

/// How many bytes a non-null value of `data_type` takes in a stored row;
/// `None` for length-prefixed (text and binary) values.
pub fn fixed_width(data_type: &DataType) -> Option<usize> {
    Some(match data_type {
        DataType::Int8 | DataType::UInt8 | DataType::Boolean => 1,
        DataType::Int16 | DataType::UInt16 => 2,
        DataType::Int32 | DataType::UInt32 | DataType::Float32 | DataType::Date32 => 4,
        DataType::Int64 | DataType::UInt64 | DataType::Float64 | DataType::Timestamp(_, _) => 8,
        DataType::Decimal128(_, _) => 16,
        DataType::Null => 0,
        _ => return None,
    })
}

/// The column widths of one stored schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
pub struct RowLayout {
    widths: Vec<Option<usize>>,
}

/// One stored row split into its columns; `None` is NULL.
#[derive(Debug, Default)]
pub struct RowView<'a> {
    pub event_time: i64,
    values: Vec<Option<&'a [u8]>>,
}

impl<'a> RowView<'a> {
    pub fn value(&self, column: usize) -> Option<&'a [u8]> {
        self.values.get(column).copied().flatten()
    }

    pub fn values(&self) -> &[Option<&'a [u8]>] {
        &self.values
    }
}

fn truncated() -> Error {
    Error::Internal("online row is truncated".into())
}

impl RowLayout {
    pub fn new(schema: &SchemaRef) -> Self {
        RowLayout {
            widths: schema
                .fields()
                .iter()
                .map(|f| fixed_width(f.data_type()))
                .collect(),
        }
    }

    pub fn columns(&self) -> usize {
        self.widths.len()
    }

    /// Splits `bytes` into `view` (reused to avoid an allocation per row).
    pub fn split_into<'a>(&self, bytes: &'a [u8], view: &mut RowView<'a>) -> Result<()> {
        if bytes.first() != Some(&FORMAT_V1) {
            return Err(Error::Internal(format!(
                "online row has unknown format {:?}",
                bytes.first()
            )));
        }
        let event_time = bytes
            .get(1..9)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_le_bytes)
            .ok_or_else(truncated)?;
        let bitmap_len = self.widths.len().div_ceil(8);
        let bitmap = bytes.get(9..9 + bitmap_len).ok_or_else(truncated)?;
        let mut at = 9 + bitmap_len;
        view.event_time = event_time;
        view.values.clear();
        for (index, width) in self.widths.iter().enumerate() {
            if bitmap[index / 8] & (1 << (index % 8)) != 0 {
                view.values.push(None);
                continue;
            }
            let (start, len) = match width {
                Some(width) => (at, *width),
                None => {
                    let prefix: [u8; 4] = bytes
                        .get(at..at + 4)
                        .and_then(|b| b.try_into().ok())
                        .ok_or_else(truncated)?;
                    (at + 4, u32::from_le_bytes(prefix) as usize)
                }
            };
            let value = bytes.get(start..start + len).ok_or_else(truncated)?;
            view.values.push(Some(value));
            at = start + len;
        }
        Ok(())
    }

    pub fn split<'a>(&self, bytes: &'a [u8]) -> Result<RowView<'a>> {
        let mut view = RowView {
            event_time: 0,
            values: Vec::with_capacity(self.widths.len()),
        };
        self.split_into(bytes, &mut view)?;
        Ok(view)
    }
}
