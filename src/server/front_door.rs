//! The front door's work without a connection, so that its cost can be
//! measured (`benches/front_door.rs`): what a simple-protocol query goes
//! through before anything is planned or read, and the two ways a lookup is
//! answered.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use pgwire::api::portal::Format;
use pgwire::types::format::FormatOptions;

use super::fast_path::{self, Bound, Lookup, LookupCache};
use super::handlers::{Route, route};
use crate::database::Database;
use crate::error::{Error, Result};
use crate::sql::split_statements;

/// Splits and routes `sql`, and parses what is handed on the way
/// datafusion-postgres does (sqlparser, PostgreSQL dialect); returns the
/// number of statements.
pub fn route_query(database: &Database, sql: &str) -> Result<usize> {
    let statements = split_statements(sql)?;
    for statement in &statements {
        if let Route::HandOn(hand_on) = route(database, statement)? {
            let text = hand_on.rewritten.as_deref().unwrap_or(statement.text);
            DFParser::parse_sql_with_dialect(text, &PostgreSqlDialect {})
                .map_err(|e| Error::syntax(e.to_string(), None))?;
        }
    }
    Ok(statements.len())
}

/// A simple-protocol lookup, recognised through `cache`, answered in text;
/// returns the rows.
pub fn simple_lookup(database: &Database, cache: &LookupCache, sql: &str) -> Result<usize> {
    let lookup = cache
        .recognize(database, sql)?
        .ok_or_else(|| Error::Internal(format!("not a lookup: {sql}")))?;
    execute(database, &lookup, &Bound::NONE)
}

/// A simple-protocol lookup recognised afresh, as every call was before
/// the cache of lookups by text; returns the rows.
pub fn simple_lookup_uncached(database: &Database, sql: &str) -> Result<usize> {
    let lookup = prepare_lookup(database, sql)?;
    execute(database, &lookup, &Bound::NONE)
}

/// The statement a client prepares once (Parse).
pub fn prepare_lookup(database: &Database, sql: &str) -> Result<Arc<Lookup>> {
    fast_path::recognize_on(database, sql, &[])?
        .map(Arc::new)
        .ok_or_else(|| Error::Internal(format!("not a lookup: {sql}")))
}

/// One execution of a prepared lookup with text parameters (Bind and
/// Execute); returns the rows.
pub fn prepared_lookup(
    database: &Database,
    lookup: &Arc<Lookup>,
    parameters: &[Option<Bytes>],
) -> Result<usize> {
    let bound = Bound {
        values: parameters,
        format: &Format::UnifiedText,
        declared: &[],
    };
    execute(database, lookup, &bound)
}

fn execute(database: &Database, lookup: &Arc<Lookup>, bound: &Bound<'_>) -> Result<usize> {
    let lookup = fast_path::current(database, lookup, bound.declared)?;
    let (_, rows) = lookup.execute(bound, &Format::UnifiedText, &FormatOptions::default())?;
    Ok(rows.len())
}
