//! The front door's work without a connection, so that its cost can be
//! measured (`benches/front_door.rs`): what a simple-protocol query goes
//! through before anything is planned or read, and the two ways a lookup is
//! answered.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use pgwire::api::portal::Format;
use pgwire::types::format::FormatOptions;

use super::fast_path::{self, Bound, Lookup, LookupCache};
use super::handlers::{HandOn, Route, route};
use crate::database::Database;
use crate::error::{Error, Result};
use crate::sql::split_statements;

/// Splits and routes `sql`, and brings what is handed on to where
/// DataFusion plans it: a rewritten query's tree through the compatibility
/// parser's rewrite rules, any other text through what datafusion-postgres
/// does with it (its compatibility parse, a print, and DataFusion's parse of
/// that print). Returns the number of statements.
pub fn route_query(database: &Database, sql: &str) -> Result<usize> {
    route_query_with(database, sql, false)
}

/// As [`route_query`], but a rewritten query is printed and handed on as
/// text, as every statement was before queries were planned from their
/// tree.
pub fn route_query_as_text(database: &Database, sql: &str) -> Result<usize> {
    route_query_with(database, sql, true)
}

fn route_query_with(database: &Database, sql: &str, trees_as_text: bool) -> Result<usize> {
    static COMPATIBILITY: OnceLock<PostgresCompatibilityParser> = OnceLock::new();
    let compatibility = COMPATIBILITY.get_or_init(PostgresCompatibilityParser::new);
    let statements = split_statements(sql)?;
    for statement in &statements {
        let Route::HandOn(hand_on) = route(database, statement)? else {
            continue;
        };
        let text = match hand_on {
            HandOn::Tree(tree) if !trees_as_text => {
                std::hint::black_box(compatibility.rewrite(*tree));
                continue;
            }
            HandOn::Tree(tree) => tree.to_string(),
            HandOn::Text(text) => text,
            HandOn::AsWritten { .. } => statement.text.to_string(),
        };
        let syntax = |e: &dyn std::fmt::Display| Error::syntax(e.to_string(), None);
        for parsed in compatibility.parse(&text).map_err(|e| syntax(&e))? {
            DFParser::parse_sql_with_dialect(&parsed.to_string(), &PostgreSqlDialect {})
                .map_err(|e| syntax(&e))?;
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
