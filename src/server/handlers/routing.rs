//! Where one statement goes: a transaction-control statement, one of
//! fstore's own, persistent DDL, or a statement handed on to
//! datafusion-postgres (possibly rewritten first).

use datafusion::sql::parser::Statement as DfStatement;

use crate::database::{Database, StatementClass, classify};
use crate::error::Error;
use crate::server::transactions;
use crate::sql::{FsStatement, Parsed, StatementText, parse_statement};

/// Where one statement goes.
pub(crate) enum Route {
    Transaction(transactions::Control),
    /// One of fstore's own statements, run by the database.
    Fstore(Box<FsStatement>),
    /// Persistent DDL, run by the database.
    Ddl(Box<DfStatement>),
    /// Handed on to datafusion-postgres.
    HandOn(HandOn),
}

/// A statement handed on to datafusion-postgres.
pub(crate) struct HandOn {
    /// The text to hand on when it is not the client's (a rewrite of our
    /// extensions, or an fstore statement that reads the catalog as SQL).
    pub(crate) rewritten: Option<String>,
    /// DataFusion's own syntax error, with its position, for when the
    /// compatibility parser rejects the text without saying where.
    pub(crate) syntax: Option<Error>,
}

impl Route {
    fn hand_on_rewritten(sql: String) -> Route {
        Route::HandOn(HandOn {
            rewritten: Some(sql),
            syntax: None,
        })
    }
}

pub(crate) fn route(database: &Database, statement: &StatementText<'_>) -> Result<Route, Error> {
    if let Some(control) = transactions::recognize(&statement.tokens) {
        return Ok(Route::Transaction(control));
    }
    if let Some(show) = crate::database::rewrite_show(&statement.tokens)? {
        return Ok(Route::hand_on_rewritten(show));
    }
    // Tokenized once by the split: our extensions are text edits computed
    // from those tokens, then the statement is parsed once and its tree
    // rewritten; only what is handed on is printed again.
    let extensions = crate::sql::rewrite_extensions(statement);
    let Some(text) = extensions.text.as_deref() else {
        return route_parsed(database, statement, false);
    };
    let edited = StatementText {
        text,
        char_offset: statement.char_offset,
        tokens: statement.tokens.clone(),
        located: Vec::new(),
    };
    route_parsed(database, &edited, extensions.has_asof).map(|route| match route {
        // What DataFusion's parser rejects is handed on as edited, and the
        // compatibility parser reports it.
        Route::HandOn(HandOn {
            rewritten: None, ..
        }) => Route::hand_on_rewritten(text.to_string()),
        other => other,
    })
}

fn route_parsed(
    database: &Database,
    statement: &StatementText<'_>,
    has_asof: bool,
) -> Result<Route, Error> {
    match parse_statement(statement)? {
        Parsed::Fstore(s) => match database.rewrite_read_statement(&s)? {
            Some(sql) => Ok(Route::hand_on_rewritten(sql)),
            None => Ok(Route::Fstore(s)),
        },
        Parsed::HandOn(syntax) => Ok(Route::HandOn(HandOn {
            rewritten: None,
            syntax,
        })),
        Parsed::Sql(mut s) => {
            let mut changed = crate::sql::rewrite_tree(&mut s, statement.text, has_asof);
            if let Some(tree) = crate::sql::statement_tree(&mut s) {
                changed |= database.expand_feature_view_calls(&statement.tokens, tree)?;
            }
            route_sql(database, s, changed)
        }
    }
}

/// A statement DataFusion's parser understood (and our tree rewrites
/// changed, if `changed`).
fn route_sql(database: &Database, s: Box<DfStatement>, changed: bool) -> Result<Route, Error> {
    match classify(&s, database.config().allow_file_access) {
        StatementClass::Ddl => Ok(Route::Ddl(s)),
        StatementClass::HandOn => Ok(Route::HandOn(HandOn {
            rewritten: changed.then(|| s.to_string()),
            syntax: None,
        })),
        StatementClass::Forbidden { message, hint } => {
            Err(Error::InsufficientPrivilege { message, hint })
        }
    }
}
