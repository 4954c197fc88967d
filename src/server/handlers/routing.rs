//! Where one statement goes: a transaction-control statement, one of
//! fstore's own, persistent DDL, or a statement handed on to
//! datafusion-postgres (possibly rewritten first).

use datafusion::sql::parser::Statement as DfStatement;

use crate::database::{Database, StatementClass, classify};
use crate::error::Error;
use crate::server::transactions;
use crate::sql::{FsStatement, Parsed, StatementText, parse_statement, split_statements};

/// Where one statement goes.
pub(super) enum Route {
    Transaction(transactions::Control),
    /// One of fstore's own statements, run by the database.
    Fstore(Box<FsStatement>),
    /// Persistent DDL, run by the database.
    Ddl(Box<DfStatement>),
    /// Handed on to datafusion-postgres.
    HandOn(HandOn),
}

/// A statement handed on to datafusion-postgres.
pub(super) struct HandOn {
    /// The text to hand on when it is not the client's (a rewrite of our
    /// extensions, or an fstore statement that reads the catalog as SQL).
    pub(super) rewritten: Option<String>,
    /// DataFusion's own syntax error, with its position, for when the
    /// compatibility parser rejects the text without saying where.
    pub(super) syntax: Option<Error>,
}

impl Route {
    fn hand_on_rewritten(sql: String) -> Route {
        Route::HandOn(HandOn {
            rewritten: Some(sql),
            syntax: None,
        })
    }
}

pub(super) fn route(database: &Database, statement: &StatementText<'_>) -> Result<Route, Error> {
    if let Some(control) = transactions::recognize(&statement.tokens) {
        return Ok(Route::Transaction(control));
    }
    if let Some(show) = crate::database::rewrite_show(&statement.tokens)? {
        return Ok(Route::hand_on_rewritten(show));
    }
    let mut rewritten = crate::sql::rewrite_extensions(statement.text);
    let text = rewritten.as_deref().unwrap_or(statement.text);
    if let Some(expanded) = database.expand_feature_view_calls(text)? {
        rewritten = Some(expanded);
    }
    if let Some(protected) = crate::sql::projection_subqueries::protect_projection_subqueries(
        rewritten.as_deref().unwrap_or(statement.text),
    ) {
        rewritten = Some(protected);
    }
    if let Some(rewritten) = rewritten {
        let parts = split_statements(&rewritten)?;
        if let [one] = parts.as_slice() {
            return match route_parsed(database, one)? {
                Route::HandOn(_) => Ok(Route::hand_on_rewritten(rewritten.clone())),
                other => Ok(other),
            };
        }
    }
    route_parsed(database, statement)
}

fn route_parsed(database: &Database, statement: &StatementText<'_>) -> Result<Route, Error> {
    match parse_statement(statement)? {
        Parsed::Fstore(s) => match database.rewrite_read_statement(&s)? {
            Some(sql) => Ok(Route::hand_on_rewritten(sql)),
            None => Ok(Route::Fstore(s)),
        },
        Parsed::HandOn(syntax) => Ok(Route::HandOn(HandOn {
            rewritten: None,
            syntax,
        })),
        Parsed::Sql(s) => match classify(&s, database.config().allow_file_access) {
            StatementClass::Ddl => Ok(Route::Ddl(s)),
            StatementClass::HandOn => Ok(Route::HandOn(HandOn {
                rewritten: None,
                syntax: None,
            })),
            StatementClass::Forbidden { message, hint } => {
                Err(Error::InsufficientPrivilege { message, hint })
            }
        },
    }
}
