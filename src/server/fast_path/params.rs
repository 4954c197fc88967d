//! Bind parameters and literals of fast-path lookups, decoded straight into
//! primary-key values (text and binary formats, scalars and arrays).
//!
//! A parameter the client left untyped takes its key column's type, as
//! Postgres infers it; a declared type must be of the same kind (integer,
//! text, …) or the statement is refused at Parse with 42804. Text that does
//! not parse is 22P02, binary data of the wrong shape 22P03.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use pgwire::api::Type;
use pgwire::api::results::FieldFormat;

use crate::error::{Error, Result};
use crate::online::codec::KeyPart;
pub use crate::online::codec::{KeyKind, key_kind};

/// The kind of a Postgres scalar type, if a key can be compared with it.
pub fn pg_kind(pg_type: &Type) -> Option<KeyKind> {
    Some(match *pg_type {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID | Type::NUMERIC => KeyKind::Int,
        Type::BOOL => KeyKind::Bool,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::CHAR => KeyKind::Text,
        Type::BYTEA => KeyKind::Bytes,
        Type::DATE => KeyKind::Date,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => KeyKind::Timestamp,
        _ => return None,
    })
}

/// A declared parameter type that says nothing (Parse with OID 0 or
/// `unknown`).
pub fn is_unspecified(pg_type: Option<&Type>) -> bool {
    pg_type.is_none_or(|t| *t == Type::UNKNOWN || t.oid() == 0)
}

/// The element type of a Postgres array type.
pub fn element_type(pg_type: &Type) -> Option<Type> {
    match pg_type.kind() {
        postgres_types::Kind::Array(element) => Some(element.clone()),
        _ => None,
    }
}

/// A decoded primary-key value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyValue {
    Int(i128),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
    Date(i32),
    Timestamp(i64),
}

impl KeyValue {
    pub fn as_part(&self) -> KeyPart<'_> {
        match self {
            KeyValue::Int(v) => KeyPart::Int(*v),
            KeyValue::Bool(b) => KeyPart::Bool(*b),
            KeyValue::Text(t) => KeyPart::Text(t),
            KeyValue::Bytes(b) => KeyPart::Bytes(b),
            KeyValue::Date(d) => KeyPart::Date(*d),
            KeyValue::Timestamp(t) => KeyPart::Timestamp(*t),
        }
    }

    pub fn kind(&self) -> KeyKind {
        match self {
            KeyValue::Int(_) => KeyKind::Int,
            KeyValue::Bool(_) => KeyKind::Bool,
            KeyValue::Text(_) => KeyKind::Text,
            KeyValue::Bytes(_) => KeyKind::Bytes,
            KeyValue::Date(_) => KeyKind::Date,
            KeyValue::Timestamp(_) => KeyKind::Timestamp,
        }
    }
}

/// Seconds and days between 1970-01-01 and Postgres's epoch, 2000-01-01.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
const PG_EPOCH_DAYS: i32 = 10_957;

fn invalid_text(type_name: &str, text: &str) -> Error {
    Error::InvalidTextRepresentation(format!(
        "invalid input syntax for type {type_name}: \"{text}\""
    ))
}

/// Parses `text` as a value of `kind` (named `type_name` in errors).
pub fn parse_text(text: &str, kind: KeyKind, type_name: &str) -> Result<KeyValue> {
    let trimmed = text.trim();
    let fail = || invalid_text(type_name, text);
    Ok(match kind {
        KeyKind::Int => KeyValue::Int(trimmed.parse::<i128>().map_err(|_| fail())?),
        KeyKind::Bool => KeyValue::Bool(match trimmed.to_ascii_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => true,
            "f" | "false" | "n" | "no" | "off" | "0" => false,
            _ => return Err(fail()),
        }),
        KeyKind::Text => KeyValue::Text(text.to_string()),
        KeyKind::Bytes => KeyValue::Bytes(match text.strip_prefix("\\x") {
            Some(hex) => decode_hex(hex).ok_or_else(fail)?,
            None => text.as_bytes().to_vec(),
        }),
        KeyKind::Date => {
            let date = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d").map_err(|_| fail())?;
            KeyValue::Date(date.signed_duration_since(NaiveDate::default()).num_days() as i32)
        }
        KeyKind::Timestamp => KeyValue::Timestamp(parse_timestamp(trimmed).ok_or_else(fail)?),
    })
}

fn parse_timestamp(text: &str) -> Option<i64> {
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.timestamp_micros());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

fn bad_binary(parameter: usize, pg_type: &Type) -> Error {
    Error::InvalidBinaryFormat(format!(
        "incorrect binary data format in bind parameter {parameter} (type {})",
        pg_type.name()
    ))
}

fn fixed<const N: usize>(bytes: &[u8], parameter: usize, pg_type: &Type) -> Result<[u8; N]> {
    bytes.try_into().map_err(|_| bad_binary(parameter, pg_type))
}

/// Decodes a binary-format value of `pg_type`.
pub fn decode_binary(bytes: &[u8], pg_type: &Type, parameter: usize) -> Result<KeyValue> {
    let value = match *pg_type {
        Type::INT2 => KeyValue::Int(i16::from_be_bytes(fixed(bytes, parameter, pg_type)?) as i128),
        Type::INT4 => KeyValue::Int(i32::from_be_bytes(fixed(bytes, parameter, pg_type)?) as i128),
        Type::INT8 => KeyValue::Int(i64::from_be_bytes(fixed(bytes, parameter, pg_type)?) as i128),
        Type::OID => KeyValue::Int(u32::from_be_bytes(fixed(bytes, parameter, pg_type)?) as i128),
        Type::BOOL => KeyValue::Bool(fixed::<1>(bytes, parameter, pg_type)?[0] != 0),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => KeyValue::Text(
            String::from_utf8(bytes.to_vec()).map_err(|_| bad_binary(parameter, pg_type))?,
        ),
        Type::CHAR => KeyValue::Text(
            String::from_utf8(bytes.to_vec()).map_err(|_| bad_binary(parameter, pg_type))?,
        ),
        Type::BYTEA => KeyValue::Bytes(bytes.to_vec()),
        Type::DATE => KeyValue::Date(
            i32::from_be_bytes(fixed(bytes, parameter, pg_type)?).saturating_add(PG_EPOCH_DAYS),
        ),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => KeyValue::Timestamp(
            i64::from_be_bytes(fixed(bytes, parameter, pg_type)?).saturating_add(PG_EPOCH_MICROS),
        ),
        _ => {
            return Err(Error::FeatureNotSupported(format!(
                "bind parameter {parameter} of type {} in binary format cannot be a key",
                pg_type.name()
            )));
        }
    };
    Ok(value)
}

fn utf8(bytes: &[u8], parameter: usize) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|_| {
        Error::InvalidTextRepresentation(format!("bind parameter {parameter} is not valid UTF-8"))
    })
}

/// Decodes one parameter (or array element) for a key column of `kind`.
pub fn decode_value(
    bytes: &[u8],
    format: FieldFormat,
    pg_type: &Type,
    kind: KeyKind,
    parameter: usize,
) -> Result<KeyValue> {
    match format {
        FieldFormat::Text => {
            let text = utf8(bytes, parameter)?;
            parse_text(text, kind, &crate::pg_types::sql_type_name(pg_type))
        }
        FieldFormat::Binary => {
            let value = decode_binary(bytes, pg_type, parameter)?;
            if value.kind() != kind {
                return Err(Error::InvalidBinaryFormat(format!(
                    "bind parameter {parameter} has type {} in binary format, which cannot compare with the key",
                    pg_type.name()
                )));
            }
            Ok(value)
        }
    }
}

/// Decodes an array parameter's elements (`None` for NULL elements);
/// multi-dimensional arrays are flattened, as `= ANY` does.
pub fn decode_array(
    bytes: &[u8],
    format: FieldFormat,
    element: &Type,
    kind: KeyKind,
    parameter: usize,
) -> Result<Vec<Option<KeyValue>>> {
    match format {
        FieldFormat::Text => {
            let text = utf8(bytes, parameter)?;
            parse_text_array(text)?
                .into_iter()
                .map(|e| {
                    e.map(|text| parse_text(&text, kind, &crate::pg_types::sql_type_name(element)))
                        .transpose()
                })
                .collect()
        }
        FieldFormat::Binary => decode_binary_array(bytes, kind, parameter),
    }
}

fn decode_binary_array(
    bytes: &[u8],
    kind: KeyKind,
    parameter: usize,
) -> Result<Vec<Option<KeyValue>>> {
    let bad = || {
        Error::InvalidBinaryFormat(format!(
            "incorrect binary array format in bind parameter {parameter}"
        ))
    };
    let mut at = 0usize;
    let next_i32 = |at: &mut usize| -> Result<i32> {
        let v = bytes
            .get(*at..*at + 4)
            .and_then(|b| b.try_into().ok())
            .map(i32::from_be_bytes)
            .ok_or_else(bad)?;
        *at += 4;
        Ok(v)
    };
    let dimensions = next_i32(&mut at)?;
    let _has_nulls = next_i32(&mut at)?;
    let element_oid = next_i32(&mut at)? as u32;
    let mut count: usize = if dimensions == 0 { 0 } else { 1 };
    for _ in 0..dimensions.max(0) {
        let length = next_i32(&mut at)?;
        let _lower_bound = next_i32(&mut at)?;
        count = count.saturating_mul(usize::try_from(length).map_err(|_| bad())?);
    }
    let element = Type::from_oid(element_oid).ok_or_else(bad)?;
    let mut values = Vec::with_capacity(count.min(65_536));
    for _ in 0..count {
        let length = next_i32(&mut at)?;
        if length < 0 {
            values.push(None);
            continue;
        }
        let end = at + length as usize;
        let element_bytes = bytes.get(at..end).ok_or_else(bad)?;
        at = end;
        values.push(Some(decode_value(
            element_bytes,
            FieldFormat::Binary,
            &element,
            kind,
            parameter,
        )?));
    }
    Ok(values)
}

/// Splits a Postgres array literal (`{1,2,"a b",NULL}`) into its elements;
/// nested braces are flattened.
pub fn parse_text_array(text: &str) -> Result<Vec<Option<String>>> {
    let malformed =
        || Error::InvalidTextRepresentation(format!("malformed array literal: \"{text}\""));
    let trimmed = text.trim();
    if !(trimmed.starts_with('{') && trimmed.ends_with('}')) {
        return Err(malformed());
    }
    let mut elements = Vec::new();
    let mut chars = trimmed.chars().peekable();
    let mut current = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut has_element = false;
    let mut depth = 0i32;
    let finish = |current: &mut String, quoted: &mut bool, elements: &mut Vec<Option<String>>| {
        let value = std::mem::take(current);
        if !*quoted && value.trim().eq_ignore_ascii_case("NULL") {
            elements.push(None);
        } else if *quoted {
            elements.push(Some(value));
        } else {
            elements.push(Some(value.trim().to_string()));
        }
        *quoted = false;
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.push(chars.next().ok_or_else(malformed)?),
            '"' => {
                in_quotes = !in_quotes;
                quoted = true;
                has_element = true;
            }
            _ if in_quotes => current.push(c),
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if has_element || !current.trim().is_empty() {
                    finish(&mut current, &mut quoted, &mut elements);
                    has_element = false;
                }
            }
            ',' => {
                if has_element || !current.trim().is_empty() {
                    finish(&mut current, &mut quoted, &mut elements);
                    has_element = false;
                }
            }
            _ => {
                current.push(c);
                if !c.is_whitespace() {
                    has_element = true;
                }
            }
        }
    }
    if depth != 0 || in_quotes {
        return Err(malformed());
    }
    Ok(elements)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_arrays_split_like_postgres() {
        assert_eq!(
            parse_text_array(r#"{1, 2,"a b",NULL,"NULL",{3}}"#).unwrap(),
            vec![
                Some("1".into()),
                Some("2".into()),
                Some("a b".into()),
                None,
                Some("NULL".into()),
                Some("3".into())
            ]
        );
        assert_eq!(parse_text_array("{}").unwrap(), vec![]);
        assert!(parse_text_array("1,2").is_err());
        assert!(parse_text_array("{\"open}").is_err());
    }

    #[test]
    fn binary_int8_array_decodes() {
        let mut bytes = Vec::new();
        for v in [1i32, 1, Type::INT8.oid() as i32, 3, 1] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        for v in [Some(7i64), None, Some(-1)] {
            match v {
                Some(v) => {
                    bytes.extend_from_slice(&8i32.to_be_bytes());
                    bytes.extend_from_slice(&v.to_be_bytes());
                }
                None => bytes.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        let decoded =
            decode_array(&bytes, FieldFormat::Binary, &Type::INT8, KeyKind::Int, 1).unwrap();
        assert_eq!(
            decoded,
            vec![Some(KeyValue::Int(7)), None, Some(KeyValue::Int(-1))]
        );
        assert!(
            decode_array(
                &bytes[..bytes.len() - 1],
                FieldFormat::Binary,
                &Type::INT8,
                KeyKind::Int,
                1
            )
            .is_err()
        );
    }

    #[test]
    fn text_values_parse_or_fail_with_22p02() {
        assert_eq!(
            parse_text(" 42 ", KeyKind::Int, "bigint").unwrap(),
            KeyValue::Int(42)
        );
        let error = parse_text("4x", KeyKind::Int, "bigint").unwrap_err();
        assert!(matches!(error, Error::InvalidTextRepresentation(_)));
        assert_eq!(
            parse_text("1970-01-02", KeyKind::Date, "date").unwrap(),
            KeyValue::Date(1)
        );
        assert_eq!(
            parse_text("1970-01-01 00:00:01.5", KeyKind::Timestamp, "timestamp").unwrap(),
            KeyValue::Timestamp(1_500_000)
        );
    }
}
