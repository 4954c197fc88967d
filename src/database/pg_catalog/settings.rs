//! Server settings as `SHOW`, `current_setting()` and `pg_settings` see
//! them.

use std::collections::HashMap;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::Result;
use datafusion::scalar::ScalarValue;

use super::columns::batch_of;

/// The server's settings as `SHOW`, `current_setting()` and `pg_settings`
/// report them.
pub const SERVER_SETTINGS: &[(&str, &str)] = &[
    ("application_name", ""),
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("default_transaction_isolation", "read committed"),
    ("default_transaction_read_only", "off"),
    ("extra_float_digits", "1"),
    ("integer_datetimes", "on"),
    ("IntervalStyle", "postgres"),
    ("jit", "off"),
    ("lc_collate", "en_US.UTF-8"),
    ("lc_ctype", "en_US.UTF-8"),
    ("max_identifier_length", "63"),
    ("max_index_keys", "32"),
    ("search_path", "\"$user\", public"),
    ("server_encoding", "UTF8"),
    ("server_version", crate::database::POSTGRES_VERSION),
    ("server_version_num", "150000"),
    ("standard_conforming_strings", "on"),
    ("statement_timeout", "0"),
    ("TimeZone", "UTC"),
    ("transaction_isolation", "read committed"),
    ("transaction_read_only", "off"),
];

/// Parameters each session sets for itself: `SHOW` answers them from the
/// session (datafusion-postgres keeps them with the connection).
const SESSION_PARAMETERS: &[&str] = &[
    "application_name",
    "bytea_output",
    "datestyle",
    "extra_float_digits",
    "intervalstyle",
    "search_path",
    "statement_timeout",
];

/// `SHOW ALL` and `SHOW <server setting>` as queries over the settings;
/// `None` for session parameters and other statements.
pub fn rewrite_show(
    tokens: &[datafusion::sql::sqlparser::tokenizer::Token],
) -> crate::error::Result<Option<String>> {
    use datafusion::sql::sqlparser::tokenizer::Token;
    let [Token::Word(show), Token::Word(name)] = tokens else {
        return Ok(None);
    };
    if !show.value.eq_ignore_ascii_case("SHOW") {
        return Ok(None);
    }
    let lowered = name.value.to_ascii_lowercase();
    if lowered == "all" {
        return Ok(Some(
            "SELECT name, setting, short_desc AS description FROM pg_catalog.pg_settings \
             ORDER BY name"
                .into(),
        ));
    }
    if SESSION_PARAMETERS.contains(&lowered.as_str()) {
        return Ok(None);
    }
    match SERVER_SETTINGS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&lowered))
    {
        Some((canonical, value)) => Ok(Some(format!(
            "SELECT '{}' AS \"{}\"",
            value.replace('\'', "''"),
            canonical.to_ascii_lowercase()
        ))),
        None => Err(crate::error::Error::UnrecognizedParameter(
            name.value.clone(),
        )),
    }
}

pub(super) fn setting(name: &str) -> Option<&'static str> {
    SERVER_SETTINGS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

pub(super) fn settings_batch(schema: &SchemaRef) -> Result<RecordBatch> {
    let rows: Vec<HashMap<&'static str, ScalarValue>> = SERVER_SETTINGS
        .iter()
        .map(|(name, value)| {
            HashMap::from([
                ("name", ScalarValue::from(*name)),
                ("setting", ScalarValue::from(*value)),
                ("reset_val", ScalarValue::from(*value)),
                ("source", ScalarValue::from("default")),
                ("context", ScalarValue::from("user")),
                ("vartype", ScalarValue::from("string")),
            ])
        })
        .collect();
    batch_of(schema, &rows)
}
