//! Server settings as `SHOW`, `current_setting()` and `pg_settings` see
//! them.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
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
    "timezone",
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

/// `current_setting(name [, missing_ok])`: the server's settings, and the
/// session's `TimeZone` (from the `execution.time_zone` its queries run
/// with; an offset zone reads as Arrow's `+05:30`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct CurrentSetting {
    signature: Signature,
}

impl CurrentSetting {
    pub(super) fn new() -> Self {
        CurrentSetting {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8]),
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
                ],
                Volatility::Stable,
            ),
        }
    }
}

impl ScalarUDFImpl for CurrentSetting {
    fn name(&self) -> &str {
        "current_setting"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let missing_ok = matches!(
            args.args.get(1),
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        );
        let zone = args
            .config_options
            .execution
            .time_zone
            .clone()
            .filter(|zone| zone != crate::database::ENGINE_TIME_ZONE);
        let arrays = ColumnarValue::values_to_arrays(&args.args[..1])?;
        let names = cast(&arrays[0], &DataType::Utf8)?;
        let names = names.as_string::<i32>();
        let mut values = Vec::with_capacity(names.len());
        for row in 0..names.len() {
            let name = names.value(row);
            let value = match (&zone, setting(name)) {
                (Some(zone), Some(_)) if name.eq_ignore_ascii_case("timezone") => {
                    Some(zone.as_str())
                }
                (_, value) => value,
            };
            match value {
                Some(value) => values.push(Some(value.to_string())),
                None if missing_ok => values.push(None),
                None => {
                    return Err(DataFusionError::Plan(format!(
                        "unrecognized configuration parameter \"{name}\""
                    )));
                }
            }
        }
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(values))))
    }
}
