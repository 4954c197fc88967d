//! Where one statement goes: a transaction-control statement, one of
//! fstore's own, persistent DDL, a query whose tree fstore rewrote (planned
//! from that tree), or a statement handed on to datafusion-postgres.

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;

use super::session_options::{self, OptionStatement};
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
    /// `SET`/`RESET`/`SHOW` of a DataFusion option, for the session.
    SessionOption(OptionStatement),
    /// Handed on to datafusion-postgres.
    HandOn(HandOn),
}

/// A statement for DataFusion.
pub(crate) enum HandOn {
    /// The client's text, to datafusion-postgres (its compatibility parser
    /// knows the catalog queries of drivers and tools). `syntax` is
    /// DataFusion's own syntax error, with its position, for when the
    /// compatibility parser rejects the text without saying where.
    AsWritten { syntax: Option<Error> },
    /// Text of ours, to datafusion-postgres: an fstore statement that reads
    /// the catalog as SQL, or an edited statement DataFusion's parser
    /// rejected (so that the compatibility parser reports it).
    Text(String),
    /// A query (not a catalog query), with our rewrites applied — AS OF,
    /// time travel, feature-view calls: planned from this tree, never
    /// printed and parsed again.
    Tree(Box<SqlStatement>),
}

impl Route {
    fn hand_on_text(sql: String) -> Route {
        Route::HandOn(HandOn::Text(sql))
    }
}

pub(crate) fn route(database: &Database, statement: &StatementText<'_>) -> Result<Route, Error> {
    if let Some(control) = transactions::recognize(&statement.tokens) {
        return Ok(Route::Transaction(control));
    }
    if let Some(show) = crate::database::rewrite_show(&statement.tokens)? {
        return Ok(Route::hand_on_text(show));
    }
    // Tokenized once by the split: our extensions are text edits computed
    // from those tokens, then the statement is parsed once and its tree
    // rewritten; a rewritten query goes on as that tree.
    let extensions = crate::sql::rewrite_extensions(statement);
    let Some(text) = extensions.text.as_deref() else {
        return route_parsed(database, statement, false, false);
    };
    let edited = StatementText {
        text,
        char_offset: statement.char_offset,
        tokens: statement.tokens.clone(),
        located: Vec::new(),
    };
    route_parsed(database, &edited, true, extensions.has_asof).map(|route| match route {
        // What DataFusion's parser rejects is handed on as edited, and the
        // compatibility parser reports it.
        Route::HandOn(HandOn::AsWritten { .. }) => Route::hand_on_text(text.to_string()),
        other => other,
    })
}

fn route_parsed(
    database: &Database,
    statement: &StatementText<'_>,
    edited: bool,
    has_asof: bool,
) -> Result<Route, Error> {
    match parse_statement(statement)? {
        Parsed::Fstore(s) => match database.rewrite_read_statement(&s)? {
            Some(sql) => Ok(Route::hand_on_text(sql)),
            None => Ok(Route::Fstore(s)),
        },
        Parsed::HandOn(syntax) => Ok(Route::HandOn(HandOn::AsWritten { syntax })),
        Parsed::Sql(mut s) => {
            let mut changed = crate::sql::rewrite_tree(&mut s, statement.text, has_asof) || edited;
            if let Some(tree) = crate::sql::statement_tree(&mut s) {
                changed |= database.expand_feature_view_calls(&statement.tokens, tree)?;
            }
            // Catalog queries keep to text: the compatibility parser
            // replaces known driver queries by their tokens.
            let as_tree = !crate::sql::mentions_catalog(statement.text);
            route_sql(database, s, changed, as_tree)
        }
    }
}

/// A statement DataFusion's parser understood (and our rewrites changed,
/// if `changed`); a query is planned from its tree if `as_tree`.
fn route_sql(
    database: &Database,
    s: Box<DfStatement>,
    changed: bool,
    as_tree: bool,
) -> Result<Route, Error> {
    let option = match s.as_ref() {
        DfStatement::Statement(tree) => session_options::recognize(tree),
        DfStatement::Reset(datafusion::sql::parser::ResetStatement::Variable(name)) => {
            session_options::recognize_reset(&name.to_string())
        }
        _ => None,
    };
    if let Some(option) = option {
        return Ok(Route::SessionOption(option));
    }
    match classify(&s, database.config().allow_file_access) {
        StatementClass::Ddl => Ok(Route::Ddl(s)),
        StatementClass::HandOn => Ok(Route::HandOn(match *s {
            DfStatement::Statement(tree) if as_tree && matches!(*tree, SqlStatement::Query(_)) => {
                HandOn::Tree(tree)
            }
            // Other statements (EXPLAIN, INSERT … SELECT, COPY … TO, SET)
            // may need datafusion-postgres's hooks and tags: they go on as
            // text, the client's when we changed nothing.
            _ if !changed => HandOn::AsWritten { syntax: None },
            other => HandOn::Text(other.to_string()),
        })),
        StatementClass::Forbidden { message, hint } => {
            Err(Error::InsufficientPrivilege { message, hint })
        }
    }
}
