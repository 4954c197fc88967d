//! What a result looks like to a client, made PostgreSQL's: column names
//! as PostgreSQL derives them (`sql::column_names`) and the text output of
//! floats and times as PostgreSQL 15 prints them. arrow-pg encodes values
//! with pgwire's text encoders (`3.0`, `1e20`, `inf`,
//! `2024-01-05 00:00:00.000000`); PostgreSQL prints `3`, `1e+20`,
//! `Infinity` and `2024-01-05 00:00:00`. Only text-format columns of those
//! types are rewritten; binary output is already PostgreSQL's.

use std::sync::Arc;

use bytes::{Buf, BufMut, BytesMut};
use datafusion::arrow::array::timezone::Tz;
use futures::StreamExt;
use pgwire::api::Type;
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse, Response};
use pgwire::messages::data::DataRow;

use crate::sql::column_names::{ColumnName, apply_column_names, postgres_column_names};

/// Fields renamed as PostgreSQL names them, everything else kept.
pub(crate) fn renamed_fields(fields: &[FieldInfo], names: &[ColumnName]) -> Vec<FieldInfo> {
    let current: Vec<String> = fields.iter().map(|f| f.name().to_string()).collect();
    let renamed = apply_column_names(names, &current);
    fields
        .iter()
        .zip(renamed)
        .map(|(field, name)| {
            if name == field.name() {
                return field.clone();
            }
            FieldInfo::new(
                name,
                field.table_id(),
                field.column_id(),
                field.datatype().clone(),
                field.format(),
            )
            .with_format_options(field.format_options().clone())
            .with_type_size(field.type_size())
            .with_type_modifier(field.type_modifier())
        })
        .collect()
}

/// PostgreSQL's column names for a query handed on as text (catalog
/// queries, which datafusion-postgres parses itself): one more parse, of
/// these queries only.
pub(crate) fn column_names_of_text(sql: &str) -> Option<Vec<ColumnName>> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    match Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .ok()?
        .as_slice()
    {
        [statement] => postgres_column_names(statement),
        _ => None,
    }
}

/// A query's response with its columns named as PostgreSQL names them.
pub(crate) fn with_postgres_names(response: Response, names: &[ColumnName]) -> Response {
    match response {
        Response::Query(mut query) => {
            query.row_schema = Arc::new(renamed_fields(&query.row_schema, names));
            Response::Query(query)
        }
        other => other,
    }
}

/// A response with PostgreSQL's text for floats and times; applied once,
/// where responses leave fstore's handlers. `zone` is the session's
/// `TimeZone` when it is not UTC: the zone timestamptz values are printed
/// in.
pub(crate) fn with_postgres_text(response: Response, zone: Option<&str>) -> Response {
    match response {
        Response::Query(query) => Response::Query(postgres_text(query, zone)),
        other => other,
    }
}

/// How a text-format column's pgwire text becomes PostgreSQL's.
#[derive(Clone, Copy)]
enum Rewrite {
    Keep,
    Float8,
    Float4,
    FractionalSeconds,
    /// A timestamptz printed in a session zone: pgwire prints the offset's
    /// hours only (`+05` for India's `+05:30`), PostgreSQL its minutes too.
    ZonedTimestamp(Tz),
}

impl Rewrite {
    /// PostgreSQL's text for pgwire's, `None` when they are the same.
    fn apply(self, text: &str) -> Option<String> {
        match self {
            Rewrite::Keep => None,
            Rewrite::Float8 => text.parse::<f64>().ok().map(postgres_float8),
            Rewrite::Float4 => text.parse::<f32>().ok().map(postgres_float4),
            Rewrite::FractionalSeconds => trimmed_fraction(text),
            Rewrite::ZonedTimestamp(zone) => {
                let trimmed = trimmed_fraction(text);
                full_offset(trimmed.as_deref().unwrap_or(text), &zone).or(trimmed)
            }
        }
    }
}

/// Whether a text-format column's pgwire text differs from PostgreSQL's
/// (so a caller encoding values one by one knows which to pass through
/// [`postgres_text_of`]).
pub(crate) fn text_differs_from_postgres(field: &FieldInfo) -> bool {
    !matches!(rewrite_of(field, None), Rewrite::Keep)
}

/// PostgreSQL's text of one value that pgwire printed as `text`.
pub(crate) fn postgres_text_of(field: &FieldInfo, text: &str) -> Option<String> {
    rewrite_of(field, None).apply(text)
}

fn rewrite_of(field: &FieldInfo, zone: Option<Tz>) -> Rewrite {
    if field.format() != FieldFormat::Text {
        return Rewrite::Keep;
    }
    match (field.datatype().clone(), zone) {
        (Type::FLOAT8, _) => Rewrite::Float8,
        (Type::FLOAT4, _) => Rewrite::Float4,
        (Type::TIMESTAMPTZ, Some(zone)) => Rewrite::ZonedTimestamp(zone),
        (Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::TIME | Type::TIMETZ, _) => {
            Rewrite::FractionalSeconds
        }
        _ => Rewrite::Keep,
    }
}

/// `2024-01-05 15:30:00+05` → `2024-01-05 15:30:00+05:30`: the offset
/// `zone` had at that local time, in full, when it has minutes. The local
/// time pgwire printed is right; of the offsets the zone has there (two
/// in a DST overlap), the one whose hours were printed.
fn full_offset(text: &str, zone: &Tz) -> Option<String> {
    use chrono::{NaiveDateTime, Offset, TimeZone};
    let sign_at = text.len().checked_sub(3)?;
    let (local_text, hours) = text.split_at(sign_at);
    if !hours.starts_with(['+', '-']) || !hours[1..].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = hours.parse().ok()?;
    let local = NaiveDateTime::parse_from_str(local_text, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    let candidates = match zone.offset_from_local_datetime(&local) {
        chrono::LocalResult::Single(offset) => vec![offset],
        chrono::LocalResult::Ambiguous(earlier, later) => vec![earlier, later],
        chrono::LocalResult::None => vec![],
    };
    let offset = candidates
        .into_iter()
        .map(|offset| offset.fix().local_minus_utc())
        .find(|seconds| seconds / 3600 == hours)?;
    if offset % 3600 == 0 {
        return None;
    }
    let sign = if offset < 0 { '-' } else { '+' };
    let magnitude = offset.abs();
    let (h, m, s) = (magnitude / 3600, magnitude % 3600 / 60, magnitude % 60);
    let offset = if s == 0 {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}:{m:02}:{s:02}")
    };
    Some(format!("{local_text}{offset}"))
}

/// Rows already encoded (the online fast path's) with PostgreSQL's text.
pub(crate) fn with_postgres_text_rows(fields: &[FieldInfo], rows: Vec<DataRow>) -> Vec<DataRow> {
    let rewrites: Vec<Rewrite> = fields.iter().map(|f| rewrite_of(f, None)).collect();
    if rewrites.iter().all(|r| matches!(r, Rewrite::Keep)) {
        return rows;
    }
    rows.into_iter()
        .map(|row| rewrite_row(row, &rewrites))
        .collect()
}

fn postgres_text(mut query: QueryResponse, zone: Option<&str>) -> QueryResponse {
    use std::str::FromStr;
    let zone = zone.and_then(|zone| Tz::from_str(zone).ok());
    let rewrites: Vec<Rewrite> = query
        .row_schema
        .iter()
        .map(|f| rewrite_of(f, zone))
        .collect();
    if rewrites.iter().all(|r| matches!(r, Rewrite::Keep)) {
        return query;
    }
    let rows = std::mem::replace(&mut query.data_rows, Box::pin(futures::stream::empty()));
    query.data_rows = Box::pin(rows.map(move |row| row.map(|row| rewrite_row(row, &rewrites))));
    query
}

fn rewrite_row(row: DataRow, rewrites: &[Rewrite]) -> DataRow {
    let mut input = row.data.freeze();
    let mut output = BytesMut::with_capacity(input.len() + 8);
    for rewrite in rewrites.iter().take(row.field_count.max(0) as usize) {
        if input.remaining() < 4 {
            break;
        }
        let length = input.get_i32();
        if length < 0 {
            output.put_i32(length);
            continue;
        }
        let value = input.split_to((length as usize).min(input.remaining()));
        let rewritten = std::str::from_utf8(&value)
            .ok()
            .and_then(|text| rewrite.apply(text));
        match rewritten {
            Some(text) => {
                output.put_i32(text.len() as i32);
                output.put_slice(text.as_bytes());
            }
            None => {
                output.put_i32(length);
                output.put_slice(&value);
            }
        }
    }
    output.put_slice(&input);
    DataRow::new(output, row.field_count)
}

/// A float8 as PostgreSQL 15 prints it with `extra_float_digits` ≥ 1: the
/// shortest digits that read back exactly, in `%g` style — fixed notation
/// for decimal exponents from -4 to 14, otherwise `1e+20`.
pub(crate) fn postgres_float8(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    shortest_in_postgres_style(&format!("{value:e}"), 15)
}

/// A float4 likewise, fixed notation for exponents from -4 to 5.
pub(crate) fn postgres_float4(value: f32) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    shortest_in_postgres_style(&format!("{value:e}"), 6)
}

/// Rust's `{:e}` (shortest round-trip digits, `1.5e-7`) in PostgreSQL's
/// spelling; `digits` is `DBL_DIG` or `FLT_DIG`.
fn shortest_in_postgres_style(scientific: &str, digits: i32) -> String {
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let significant: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if significant.chars().all(|c| c == '0') {
        return format!("{sign}0");
    }
    if exponent < -4 || exponent >= digits {
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{exponent_sign}{:02}", exponent.abs());
    }
    let point = exponent + 1;
    let text = if point <= 0 {
        format!("0.{}{significant}", "0".repeat((-point) as usize))
    } else if significant.len() as i32 <= point {
        format!(
            "{significant}{}",
            "0".repeat(point as usize - significant.len())
        )
    } else {
        let (whole, fraction) = significant.split_at(point as usize);
        format!("{whole}.{fraction}")
    };
    format!("{sign}{text}")
}

/// `12:30:45.500000` → `12:30:45.5`, `00:00:00.000000` → `00:00:00`: the
/// seconds' fraction without trailing zeros, as PostgreSQL prints it.
fn trimmed_fraction(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let dot = (2..bytes.len()).find(|&i| {
        bytes[i] == b'.'
            && i >= 3
            && bytes[i - 3] == b':'
            && bytes[i - 1].is_ascii_digit()
            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
    })?;
    let digits_end = (dot + 1..bytes.len())
        .find(|&i| !bytes[i].is_ascii_digit())
        .unwrap_or(bytes.len());
    let fraction = text[dot + 1..digits_end].trim_end_matches('0');
    let kept = if fraction.is_empty() {
        String::new()
    } else {
        format!(".{fraction}")
    };
    Some(format!("{}{kept}{}", &text[..dot], &text[digits_end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_postgresql_prints_them() {
        let cases: &[(f64, &str)] = &[
            (3.0, "3"),
            (1e20, "1e+20"),
            (1e15, "1e+15"),
            (1e14, "100000000000000"),
            (123456789.125, "123456789.125"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-0.5, "-0.5"),
            (1.5e-7, "1.5e-07"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (-0.0, "-0"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (f64::INFINITY, "Infinity"),
        ];
        for (value, expected) in cases {
            assert_eq!(postgres_float8(*value), *expected, "{value:e}");
        }
        assert_eq!(postgres_float4(1e6), "1e+06");
        assert_eq!(postgres_float4(123456.0), "123456");
        assert_eq!(postgres_float4(3.5), "3.5");
    }

    #[test]
    fn seconds_lose_their_trailing_zeros() {
        assert_eq!(
            trimmed_fraction("2024-01-05 00:00:00.000000").as_deref(),
            Some("2024-01-05 00:00:00")
        );
        assert_eq!(
            trimmed_fraction("2024-01-05 12:30:45.120000+00").as_deref(),
            Some("2024-01-05 12:30:45.12+00")
        );
        assert_eq!(
            trimmed_fraction("12:30:00.000000").as_deref(),
            Some("12:30:00")
        );
        assert_eq!(trimmed_fraction("2024-01-05"), None);
    }

    #[test]
    fn zoned_timestamps_keep_their_offset_minutes() {
        use std::str::FromStr;
        let at = |zone: &str, text: &str| {
            Rewrite::ZonedTimestamp(Tz::from_str(zone).unwrap()).apply(text)
        };
        // PostgreSQL 15 prints these (SET TIME ZONE, then the timestamptz).
        assert_eq!(
            at("Asia/Kolkata", "2024-01-05 15:30:00.000000+05").as_deref(),
            Some("2024-01-05 15:30:00+05:30")
        );
        assert_eq!(
            at("America/St_Johns", "2024-01-05 06:30:00.250000-03").as_deref(),
            Some("2024-01-05 06:30:00.25-03:30")
        );
        assert_eq!(
            at("-05:15", "2024-01-05 04:45:00.000000-05").as_deref(),
            Some("2024-01-05 04:45:00-05:15")
        );
        assert_eq!(
            at("Europe/Paris", "2024-01-05 11:00:00.000000+01").as_deref(),
            Some("2024-01-05 11:00:00+01")
        );
    }
}
