//! A Bind's parameters as SQL literals, for the statements fstore runs
//! itself (DELETE, UPDATE, TRUNCATE, fstore's DDL): psycopg 3 and other
//! drivers that bind server-side send `DELETE FROM t WHERE k = $1` with its
//! values apart, and these statements are not planned by DataFusion.
//!
//! Text-format values are quoted as they came (a typed parameter keeps its
//! type through a cast); binary values are decoded by their declared type.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use pgwire::api::Type;
use pgwire::api::portal::Portal;

use crate::error::{Error, Result};
use crate::sql::placeholders::{quote_literal, substitute_placeholders};

/// `sql` with the portal's parameters in place of `$n`; `sql` itself when
/// it has none.
pub(super) fn with_bound_parameters<S: Clone>(sql: &str, portal: &Portal<S>) -> Result<String> {
    if portal.parameter_len() == 0 {
        return Ok(sql.to_string());
    }
    let literals = (0..portal.parameter_len())
        .map(|index| literal(portal, index))
        .collect::<Result<Vec<_>>>()?;
    substitute_placeholders(sql, |number| literals.get(number.checked_sub(1)?).cloned())
}

fn literal<S: Clone>(portal: &Portal<S>, index: usize) -> Result<String> {
    let Some(Some(bytes)) = portal.parameters.get(index) else {
        return Ok("NULL".into());
    };
    let declared = portal
        .statement
        .parameter_types
        .get(index)
        .cloned()
        .flatten()
        .filter(|t| *t != Type::UNKNOWN && t.oid() != 0);
    if !portal.parameter_format.is_binary(index) {
        let text = std::str::from_utf8(bytes).map_err(|_| {
            Error::InvalidTextRepresentation(format!("parameter ${} is not valid UTF-8", index + 1))
        })?;
        return Ok(match declared.as_ref().and_then(cast_name) {
            Some(cast) => format!("CAST({} AS {cast})", quote_literal(text)),
            None => quote_literal(text),
        });
    }
    let Some(pg_type) = declared else {
        return Err(Error::InvalidBinaryFormat(format!(
            "parameter ${} is binary without a declared type",
            index + 1
        )));
    };
    let decoded = |e: pgwire::error::PgWireError| {
        Error::InvalidBinaryFormat(format!("parameter ${}: {e}", index + 1))
    };
    Ok(match pg_type {
        Type::BOOL => match portal.parameter::<bool>(index, &pg_type).map_err(decoded)? {
            Some(true) => "TRUE".into(),
            _ => "FALSE".into(),
        },
        Type::INT2 => number(portal.parameter::<i16>(index, &pg_type).map_err(decoded)?),
        Type::INT4 => number(portal.parameter::<i32>(index, &pg_type).map_err(decoded)?),
        Type::INT8 => number(portal.parameter::<i64>(index, &pg_type).map_err(decoded)?),
        Type::FLOAT4 => typed(
            portal.parameter::<f32>(index, &pg_type).map_err(decoded)?,
            "real",
        ),
        Type::FLOAT8 => typed(
            portal.parameter::<f64>(index, &pg_type).map_err(decoded)?,
            "double precision",
        ),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => quote_literal(
            &portal
                .parameter::<String>(index, &pg_type)
                .map_err(decoded)?
                .unwrap_or_default(),
        ),
        Type::DATE => typed(
            portal
                .parameter::<NaiveDate>(index, &pg_type)
                .map_err(decoded)?,
            "date",
        ),
        Type::TIMESTAMP => typed(
            portal
                .parameter::<NaiveDateTime>(index, &pg_type)
                .map_err(decoded)?,
            "timestamp",
        ),
        Type::TIMESTAMPTZ => typed(
            portal
                .parameter::<DateTime<FixedOffset>>(index, &pg_type)
                .map_err(decoded)?
                .map(|t| t.naive_utc()),
            "timestamp",
        ),
        other => {
            return Err(Error::FeatureNotSupported(format!(
                "a binary parameter of type {} in a statement fstore runs itself; send it in text format",
                other.name()
            )));
        }
    })
}

fn number(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "NULL".into(), |v| v.to_string())
}

fn typed(value: Option<impl ToString>, type_name: &str) -> String {
    value.map_or_else(
        || "NULL".into(),
        |v| format!("CAST({} AS {type_name})", quote_literal(&v.to_string())),
    )
}

/// The cast that keeps a text parameter's declared type, for the types
/// DataFusion names the same way; others stay untyped literals, which
/// DataFusion coerces to the column they meet.
fn cast_name(pg_type: &Type) -> Option<&'static str> {
    Some(match *pg_type {
        Type::BOOL => "BOOLEAN",
        Type::INT2 => "SMALLINT",
        Type::INT4 => "INTEGER",
        Type::INT8 => "BIGINT",
        Type::FLOAT4 => "REAL",
        Type::FLOAT8 => "DOUBLE PRECISION",
        Type::NUMERIC => "NUMERIC",
        Type::DATE => "DATE",
        Type::TIMESTAMP => "TIMESTAMP",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_casts_keep_the_declared_type() {
        assert_eq!(cast_name(&Type::INT8), Some("BIGINT"));
        assert_eq!(cast_name(&Type::TEXT), None);
        assert_eq!(
            typed(Some(1.5f64), "double precision"),
            "CAST('1.5' AS double precision)"
        );
        assert_eq!(number(None::<i64>), "NULL");
    }
}
