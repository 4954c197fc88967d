//! The one place that turns errors into Postgres ErrorResponses.
//!
//! fstore's own [`Error`]s map variant by variant; errors coming back from
//! DataFusion (directly or through datafusion-postgres as `ApiError`) map by
//! their kind, looking at the message only where DataFusion has no finer
//! kind. User errors log at debug, bugs (XX000) at error.

use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use pgwire::api::{ClientInfo, ErrorHandler};
use pgwire::error::{ErrorInfo, PgWireError};

use crate::error::{Error, Limit};
use crate::sql::parser::split_location;
use crate::sql::split::LocationIndex;

pub const SYNTAX_ERROR: &str = "42601";
pub const UNDEFINED_TABLE: &str = "42P01";
pub const DUPLICATE_TABLE: &str = "42P07";
pub const DUPLICATE_SCHEMA: &str = "42P06";
pub const INVALID_SCHEMA_NAME: &str = "3F000";
pub const UNDEFINED_COLUMN: &str = "42703";
pub const DUPLICATE_COLUMN: &str = "42701";
pub const INVALID_TABLE_DEFINITION: &str = "42P16";
pub const UNDEFINED_FUNCTION: &str = "42883";
pub const WRONG_OBJECT_TYPE: &str = "42809";
pub const DATATYPE_MISMATCH: &str = "42804";
pub const DEPENDENT_OBJECTS_STILL_EXIST: &str = "2BP01";
pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
pub const INVALID_BINARY_REPRESENTATION: &str = "22P03";
pub const DIVISION_BY_ZERO: &str = "22012";
pub const DATETIME_FIELD_OVERFLOW: &str = "22008";
pub const INVALID_DATETIME_FORMAT: &str = "22007";
pub const GROUPING_ERROR: &str = "42803";
pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
pub const NAME_TOO_LONG: &str = "42622";
pub const BAD_COPY_FILE_FORMAT: &str = "22P04";
pub const DATA_EXCEPTION: &str = "22000";
pub const NOT_NULL_VIOLATION: &str = "23502";
pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
pub const OUT_OF_MEMORY: &str = "53200";
pub const DISK_FULL: &str = "53100";
pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
pub const OBJECT_NOT_IN_PREREQUISITE_STATE: &str = "55000";
pub const STATEMENT_TOO_COMPLEX: &str = "54001";
pub const TOO_MANY_CONNECTIONS: &str = "53300";
pub const QUERY_CANCELED: &str = "57014";
pub const INVALID_PARAMETER_VALUE: &str = "22023";
pub const SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION: &str = "42000";
pub const IO_ERROR: &str = "58030";
pub const UNDEFINED_OBJECT: &str = "42704";
pub const NO_ACTIVE_SQL_TRANSACTION: &str = "25P01";
pub const ACTIVE_SQL_TRANSACTION: &str = "25001";
pub const INVALID_SQL_STATEMENT_NAME: &str = "26000";
pub const IN_FAILED_SQL_TRANSACTION: &str = "25P02";
pub const INVALID_SAVEPOINT_SPECIFICATION: &str = "3B001";
pub const INTERNAL_ERROR: &str = "XX000";
pub const PROTOCOL_VIOLATION: &str = "08P01";

fn info(code: &str, message: impl Into<String>) -> ErrorInfo {
    let mut info = ErrorInfo::new("ERROR".into(), code.into(), message.into());
    info.severity_nonlocalized = Some("ERROR".into());
    info
}

/// A message that breaks the protocol's rules (08P01).
pub fn protocol_violation(message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(info(PROTOCOL_VIOLATION, message)))
}

/// A COPY the client abandoned with CopyFail (57014, as Postgres).
pub fn copy_failed(message: &str) -> PgWireError {
    PgWireError::UserError(Box::new(info(
        QUERY_CANCELED,
        format!("COPY from stdin failed: {message}"),
    )))
}

/// `query` is the statement text the error's location refers to and
/// `char_offset` where that statement starts in what the client sent.
pub struct QueryContext<'a> {
    pub query: &'a str,
    pub char_offset: usize,
}

pub fn error_info(error: &Error, context: Option<&QueryContext<'_>>) -> ErrorInfo {
    let error_info = map_error(error, context);
    log_error(&error_info);
    error_info
}

fn map_error(error: &Error, context: Option<&QueryContext<'_>>) -> ErrorInfo {
    match error {
        Error::Syntax { message, position } => {
            let mut i = info(SYNTAX_ERROR, message);
            i.position = position.map(|p| p.to_string());
            i
        }
        Error::UndefinedTable(_) => info(UNDEFINED_TABLE, error.to_string()),
        Error::DuplicateTable(_) => info(DUPLICATE_TABLE, error.to_string()),
        Error::UndefinedSchema(_) => info(INVALID_SCHEMA_NAME, error.to_string()),
        Error::DuplicateSchema(_) => info(DUPLICATE_SCHEMA, error.to_string()),
        Error::WrongObjectType { hint, .. } => {
            let mut i = info(WRONG_OBJECT_TYPE, error.to_string());
            i.hint = hint.clone();
            i
        }
        Error::DependentObjects { detail, hint, .. } => {
            let mut i = info(DEPENDENT_OBJECTS_STILL_EXIST, error.to_string());
            i.detail = Some(detail.clone());
            i.hint = Some(hint.clone());
            i
        }
        Error::NotNullViolation { table, column } => {
            let mut i = info(NOT_NULL_VIOLATION, error.to_string());
            i.table = Some(table.clone());
            i.column = Some(column.clone());
            i
        }
        Error::FeatureNotSupported(_) => info(FEATURE_NOT_SUPPORTED, error.to_string()),
        Error::DiskFull(_) => {
            let mut i = info(DISK_FULL, error.to_string());
            i.hint = Some(
                "Free disk space; reads go on, and writes work again once there is room.".into(),
            );
            i
        }
        Error::OnlineUnavailable { group, .. } => {
            let mut i = info(OBJECT_NOT_IN_PREREQUISITE_STATE, error.to_string());
            i.hint = Some(format!(
                "Offline reads of the group work; ALTER FEATURE GROUP {group} REBUILD ONLINE rebuilds its online rows from the offline log."
            ));
            i
        }
        Error::LimitExceeded { limit, message } => info(
            match limit {
                Limit::ProgramLimit => PROGRAM_LIMIT_EXCEEDED,
                Limit::StatementTooComplex => STATEMENT_TOO_COMPLEX,
                Limit::OutOfMemory => OUT_OF_MEMORY,
            },
            message,
        ),
        Error::UndefinedObject { .. } => info(UNDEFINED_TABLE, error.to_string()),
        Error::DuplicateObject { kind, .. } => {
            let mut i = info(DUPLICATE_TABLE, error.to_string());
            if *kind == "feature group" {
                i.hint = Some("Use CREATE FEATURE GROUP … VERSION n to add a version.".into());
            }
            i
        }
        Error::DuplicateColumn(_) => info(DUPLICATE_COLUMN, error.to_string()),
        Error::UndefinedColumn(_) => info(UNDEFINED_COLUMN, error.to_string()),
        Error::InvalidDefinition(_) => info(INVALID_TABLE_DEFINITION, error.to_string()),
        Error::DatatypeMismatch(_) => info(DATATYPE_MISMATCH, error.to_string()),
        Error::ParameterType { message, hint } => {
            let mut i = info(DATATYPE_MISMATCH, message);
            i.hint = Some(hint.clone());
            i
        }
        Error::InvalidTextRepresentation(_) => info(INVALID_TEXT_REPRESENTATION, error.to_string()),
        Error::InvalidBinaryFormat(_) => info(INVALID_BINARY_REPRESENTATION, error.to_string()),
        Error::BadCopyData {
            message,
            line,
            column,
        }
        | Error::BadCopyFileFormat {
            message,
            line,
            column,
        } => {
            let code = match error {
                Error::BadCopyFileFormat { .. } => BAD_COPY_FILE_FORMAT,
                _ => INVALID_TEXT_REPRESENTATION,
            };
            let mut i = info(code, message);
            i.where_context = Some(match column {
                Some(column) => format!("COPY, line {line}, column {column}"),
                None => format!("COPY, line {line}"),
            });
            i
        }
        Error::InsufficientPrivilege { message, hint } => {
            let mut i = info(INSUFFICIENT_PRIVILEGE, message);
            i.hint = Some(hint.clone());
            i
        }
        Error::InvalidParameter(_) => info(INVALID_PARAMETER_VALUE, error.to_string()),
        Error::QueryCanceled { .. } => info(QUERY_CANCELED, error.to_string()),
        Error::NoActiveTransaction(_) => info(NO_ACTIVE_SQL_TRANSACTION, error.to_string()),
        Error::ActiveTransaction(_) => info(ACTIVE_SQL_TRANSACTION, error.to_string()),
        Error::UndefinedPreparedStatement(_) => info(INVALID_SQL_STATEMENT_NAME, error.to_string()),
        Error::InFailedTransaction => {
            let mut i = info(IN_FAILED_SQL_TRANSACTION, error.to_string());
            i.hint = Some("ROLLBACK, or ROLLBACK TO SAVEPOINT, ends the failed part.".into());
            i
        }
        Error::NumericOutOfRange(_) => info(NUMERIC_VALUE_OUT_OF_RANGE, error.to_string()),
        Error::UnrecognizedParameter(_) => info(UNDEFINED_OBJECT, error.to_string()),
        Error::UndefinedSavepoint(_) => info(INVALID_SAVEPOINT_SPECIFICATION, error.to_string()),
        Error::DataFusion(e) => datafusion_error_info(e, context),
        Error::Delta(e) => match delta_inner_datafusion(e) {
            Some(inner) => datafusion_error_info(inner, context),
            None => info(IO_ERROR, error.to_string()),
        },
        Error::Io(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
            info(DISK_FULL, error.to_string())
        }
        Error::Catalog(heed::Error::Io(e)) if e.raw_os_error() == Some(libc::ENOSPC) => {
            info(DISK_FULL, error.to_string())
        }
        Error::Catalog(heed::Error::Mdb(heed::MdbError::Other(code))) if *code == libc::ENOSPC => {
            info(DISK_FULL, error.to_string())
        }
        Error::Io(_) => info(IO_ERROR, error.to_string()),
        Error::Catalog(_) | Error::CatalogFormat(_) | Error::Internal(_) => {
            info(INTERNAL_ERROR, error.to_string())
        }
    }
}

fn delta_inner_datafusion(error: &deltalake::DeltaTableError) -> Option<&DataFusionError> {
    std::error::Error::source(error).and_then(|s| s.downcast_ref::<DataFusionError>())
}

fn log_error(error_info: &ErrorInfo) {
    if error_info.code == INTERNAL_ERROR || error_info.code == IO_ERROR {
        tracing::error!(code = %error_info.code, message = %error_info.message, "statement failed");
    } else {
        tracing::debug!(code = %error_info.code, message = %error_info.message, "statement failed");
    }
}

pub fn to_pgwire(error: Error, context: Option<&QueryContext<'_>>) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(&error, context)))
}

fn parser_error_info(error: &ParserError, context: Option<&QueryContext<'_>>) -> ErrorInfo {
    let message = match error {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => {
            return map_error(&crate::sql::parser::nested_too_deeply(), context);
        }
    };
    let (message, location) = split_location(&message);
    let mut i = info(SYNTAX_ERROR, message);
    if let (Some(location), Some(context)) = (location, context) {
        let position = LocationIndex::new(context.query).position(location) + context.char_offset;
        i.position = Some(position.to_string());
    }
    i
}

/// DataFusion prefixes messages with its own category ("Error during
/// planning: ", "Execution error: "); Postgres users expect just the message.
fn strip_category(message: &str) -> &str {
    for prefix in [
        "Error during planning: ",
        "Execution error: ",
        "This feature is not implemented: ",
        "Schema error: ",
        "Arrow error: ",
        "Invalid argument error: ",
        "Resources exhausted: ",
        "Optimizer rule ",
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return rest;
        }
    }
    message
}

pub fn datafusion_error_info(
    error: &DataFusionError,
    context: Option<&QueryContext<'_>>,
) -> ErrorInfo {
    use datafusion::arrow::error::ArrowError;
    use datafusion::common::SchemaError;

    let root = error.find_root();
    match root {
        DataFusionError::SQL(parser_error, _) => parser_error_info(parser_error, context),
        DataFusionError::ResourcesExhausted(message) => {
            let mut i = info(OUT_OF_MEMORY, format!("out of memory: {message}"));
            i.hint = Some(
                "The query needs more memory than the server's --memory-limit allows; \
                 filter or aggregate earlier, or raise the limit."
                    .into(),
            );
            i
        }
        DataFusionError::NotImplemented(message) => info(FEATURE_NOT_SUPPORTED, message.clone()),
        DataFusionError::SchemaError(schema_error, _) => match schema_error.as_ref() {
            SchemaError::FieldNotFound { field, .. } => info(
                UNDEFINED_COLUMN,
                format!("column \"{}\" does not exist", field.name),
            ),
            other => info(
                SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION,
                strip_category(&other.to_string()).to_string(),
            ),
        },
        DataFusionError::ArrowError(arrow_error, _) => match arrow_error.as_ref() {
            ArrowError::DivideByZero => info(DIVISION_BY_ZERO, "division by zero"),
            ArrowError::CastError(m) | ArrowError::ParseError(m) => cast_error_info(m),
            ArrowError::InvalidArgumentError(m)
                if m.contains("is declared as non-nullable but contains null values") =>
            {
                not_null_in_values(m)
            }
            ArrowError::ComputeError(m) if m.contains("overflow") => {
                info(NUMERIC_VALUE_OUT_OF_RANGE, m.clone())
            }
            other => info(DATA_EXCEPTION, other.to_string()),
        },
        DataFusionError::External(inner) => {
            if let Some(fs_error) = inner.downcast_ref::<Error>() {
                map_error(fs_error, context)
            } else if let Some(delta) = inner.downcast_ref::<deltalake::DeltaTableError>() {
                match delta_inner_datafusion(delta) {
                    Some(df) => datafusion_error_info(df, context),
                    None => info(IO_ERROR, format!("offline store: {delta}")),
                }
            } else if inner.to_string().contains("CastError(") {
                info(INVALID_TEXT_REPRESENTATION, inner.to_string())
            } else {
                info(INTERNAL_ERROR, inner.to_string())
            }
        }
        DataFusionError::Plan(message) => plan_error_info(message),
        DataFusionError::Execution(message) => execution_error_info(message),
        DataFusionError::Internal(message) => info(INTERNAL_ERROR, message.clone()),
        DataFusionError::IoError(e) => info(IO_ERROR, e.to_string()),
        // A cast that fails inside a scan (a filter pushed into the
        // Parquet reader) arrives wrapped in the reader's error.
        other if other.to_string().contains("CastError(") => info(
            INVALID_TEXT_REPRESENTATION,
            strip_category(&other.to_string()).to_string(),
        ),
        other => info(
            INTERNAL_ERROR,
            strip_category(&other.to_string()).to_string(),
        ),
    }
}

/// A text that is no value of the target type is 22P02, but PostgreSQL
/// tells a date or time with a field out of range (`2024-13-01`, 22008)
/// from one that is no date at all (`abc`, 22007).
fn cast_error_info(message: &str) -> ErrorInfo {
    let to_time = ["Date32", "Date64", "Timestamp", "Time32", "Time64"]
        .iter()
        .any(|t| message.contains(&format!("to value of {t}")));
    let value = message.split('\'').nth(1).unwrap_or_default();
    if !to_time {
        return info(INVALID_TEXT_REPRESENTATION, message.to_string());
    }
    let looks_like_a_date = !value.is_empty()
        && value.starts_with(|c: char| c.is_ascii_digit())
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || "-:. T+".contains(c));
    if looks_like_a_date {
        info(
            DATETIME_FIELD_OVERFLOW,
            format!("date/time field value out of range: \"{value}\""),
        )
    } else {
        info(
            INVALID_DATETIME_FORMAT,
            format!("invalid input syntax for type date or time: \"{value}\""),
        )
    }
}

/// DataFusion checks NOT NULL while building the VALUES of an INSERT, where
/// columns are still named `column1`, `column2`, … in the target's order.
fn not_null_in_values(message: &str) -> ErrorInfo {
    let column = message.split('\'').nth(1).unwrap_or_default().to_string();
    let text = match column
        .strip_prefix("column")
        .and_then(|n| n.parse::<usize>().ok())
    {
        Some(n) => format!(
            "null value in column {n} of the VALUES list violates a not-null constraint of the target table"
        ),
        None => format!("null value in column \"{column}\" violates not-null constraint"),
    };
    info(NOT_NULL_VIOLATION, text)
}

/// DataFusion reports most semantic errors as `Plan` with a message; pick out
/// the ones Postgres gives their own SQLSTATE.
fn plan_error_info(message: &str) -> ErrorInfo {
    let lower = message.to_lowercase();
    if let Some(rest) = message.strip_prefix("table '")
        && let Some(name) = rest.strip_suffix("' not found")
    {
        let name = name
            .strip_prefix("fstore.public.")
            .or_else(|| name.strip_prefix("fstore."))
            .unwrap_or(name);
        return info(
            UNDEFINED_TABLE,
            format!("relation \"{name}\" does not exist"),
        );
    }
    if lower.contains("invalid function") || lower.contains("no function matches") {
        let mut i = info(UNDEFINED_FUNCTION, message.to_string());
        i.hint = Some("No function matches the given name and argument types.".into());
        return i;
    }
    if lower.contains("must appear in the group by clause")
        || lower.contains("must be in group by or an aggregate")
    {
        return info(GROUPING_ERROR, message.to_string());
    }
    if lower.contains("cannot be cast")
        || lower.contains("cannot coerce")
        || lower.contains("cannot infer common")
        || lower.contains("does not support")
            && (lower.contains("type") || lower.contains("operator"))
    {
        return info(DATATYPE_MISMATCH, message.to_string());
    }
    if lower.contains("inconsistent data length across values list")
        || lower.contains("column count doesn't match insert query")
    {
        return info(SYNTAX_ERROR, message.to_string());
    }
    if lower.contains("already exists") {
        return info(DUPLICATE_TABLE, message.to_string());
    }
    info(SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION, message.to_string())
}

fn execution_error_info(message: &str) -> ErrorInfo {
    let lower = message.to_lowercase();
    if lower.contains("cannot cast")
        || lower.contains("cast error")
        || lower.contains("parse")
        || lower.starts_with("invalid input syntax for type")
    {
        info(INVALID_TEXT_REPRESENTATION, message.to_string())
    } else if lower.contains("divide by zero") || lower.contains("division by zero") {
        info(DIVISION_BY_ZERO, "division by zero")
    } else if lower.contains("overflow") {
        info(NUMERIC_VALUE_OUT_OF_RANGE, message.to_string())
    } else {
        info(DATA_EXCEPTION, message.to_string())
    }
}

/// Converts any `PgWireError` carrying a Rust error into a Postgres error
/// response with a proper SQLSTATE. Installed as pgwire's error handler, it
/// sees every error of every protocol path (including ones datafusion-postgres
/// returns), so nothing reaches the client as a bare XX000 "API error".
#[derive(Debug, Default)]
pub struct FstoreErrorHandler;

impl ErrorHandler for FstoreErrorHandler {
    fn on_error<C>(&self, _client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        let converted = match error {
            PgWireError::ApiError(inner) => Some(api_error_info(inner.as_ref())),
            PgWireError::UserError(info) => {
                log_error(info);
                None
            }
            _ => None,
        };
        if let Some(converted) = converted {
            log_error(&converted);
            *error = PgWireError::UserError(Box::new(converted));
        }
    }
}

pub fn api_error_info(error: &(dyn std::error::Error + Send + Sync + 'static)) -> ErrorInfo {
    if let Some(df) = error.downcast_ref::<DataFusionError>() {
        datafusion_error_info(df, None)
    } else if let Some(fs) = error.downcast_ref::<Error>() {
        map_error(fs, None)
    } else if let Some(parser) = error.downcast_ref::<ParserError>() {
        parser_error_info(parser, None)
    } else {
        info(INTERNAL_ERROR, error.to_string())
    }
}

/// Re-maps an error that came back from datafusion-postgres with the
/// statement's position in the whole query string.
pub fn in_context(error: PgWireError, context: &QueryContext<'_>) -> PgWireError {
    use datafusion::error::DataFusionError;
    match error {
        PgWireError::ApiError(inner) => {
            let info = if let Some(df) = inner.downcast_ref::<DataFusionError>() {
                datafusion_error_info(df, Some(context))
            } else if let Some(parser) = inner.downcast_ref::<ParserError>() {
                let wrapped = DataFusionError::SQL(Box::new(parser.clone()), None);
                datafusion_error_info(&wrapped, Some(context))
            } else {
                api_error_info(inner.as_ref())
            };
            PgWireError::UserError(Box::new(info))
        }
        other => other,
    }
}

/// When the compatibility parser rejects a statement without saying where,
/// report DataFusion's parser error, which has a position.
pub fn prefer_positioned(error: PgWireError, syntax: Option<Error>) -> PgWireError {
    match (&error, syntax) {
        (PgWireError::UserError(info), Some(syntax))
            if info.code == SYNTAX_ERROR && info.position.is_none() =>
        {
            to_pgwire(syntax, None)
        }
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tables_are_42p01_with_the_users_name() {
        let e = DataFusionError::Plan("table 'fstore.public.nope' not found".into());
        let i = datafusion_error_info(&e, None);
        assert_eq!(i.code, UNDEFINED_TABLE);
        assert_eq!(i.message, "relation \"nope\" does not exist");
    }

    #[test]
    fn resources_exhausted_is_53200_even_when_wrapped() {
        let e = DataFusionError::Context(
            "while sorting".into(),
            Box::new(DataFusionError::ResourcesExhausted("sort".into())),
        );
        assert_eq!(datafusion_error_info(&e, None).code, OUT_OF_MEMORY);
    }

    #[test]
    fn parser_errors_get_positions_relative_to_the_whole_query() {
        let e = ParserError::ParserError(
            "Expected: an expression, found: FROM at Line: 1, Column: 8".into(),
        );
        let context = QueryContext {
            query: "SELECT FROM t",
            char_offset: 10,
        };
        let i = parser_error_info(&e, Some(&context));
        assert_eq!(i.code, SYNTAX_ERROR);
        assert_eq!(i.position.as_deref(), Some("18"));
        assert!(!i.message.contains("Line:"));
    }
}
