//! Transaction blocks: `BEGIN`/`START TRANSACTION`, `COMMIT`/`END`,
//! `ROLLBACK`/`ABORT`, `SAVEPOINT`, `RELEASE [SAVEPOINT]` and
//! `ROLLBACK TO [SAVEPOINT]`, with Postgres's states, command tags,
//! warnings and SQLSTATEs (25P01, 25P02, 3B001).
//!
//! Drivers and tools wrap their work in transaction blocks and savepoints
//! (psycopg's `conn.transaction()`, SQLAlchemy, dbt), so the block protocol
//! has to behave exactly as in Postgres: the `ReadyForQuery` status, a failed
//! statement aborting the block until `ROLLBACK` or `ROLLBACK TO SAVEPOINT`,
//! savepoints that nest and can be released.
//!
//! What a block does not do (yet) is defer writes: fstore commits every
//! statement when it completes (SPEC §3, all or nothing, holds per
//! statement). `ROLLBACK` therefore says, as a WARNING, how many statements
//! of the block had already written data and stay written.

use std::sync::{Arc, Mutex};

use datafusion::sql::sqlparser::tokenizer::Token;
use pgwire::api::ClientInfo;
use pgwire::api::results::{Response, Tag};
use pgwire::messages::response::TransactionStatus;

use crate::error::Error;
use crate::sql::split::starts_with_words;
use crate::sql::split_statements;

/// A transaction-control statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Begin,
    Commit,
    Rollback,
    Savepoint(String),
    Release(String),
    RollbackTo(String),
}

/// Recognises a transaction-control statement from its tokens.
pub fn recognize(tokens: &[Token]) -> Option<Control> {
    let words = |w: &[&str]| starts_with_words(tokens, w);
    let first = match tokens.first()? {
        Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
        _ => return None,
    };
    // The savepoint name is the last token: `RELEASE SAVEPOINT s`,
    // `ROLLBACK WORK TO SAVEPOINT s`.
    let last_name = || match tokens.last() {
        Some(Token::Word(w)) if w.quote_style.is_some() => Some(w.value.clone()),
        Some(Token::Word(w)) => Some(w.value.to_ascii_lowercase()),
        _ => None,
    };
    let has_to = tokens
        .iter()
        .any(|t| matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("TO")));
    match first.as_str() {
        "BEGIN" => Some(Control::Begin),
        "START" if words(&["START", "TRANSACTION"]) => Some(Control::Begin),
        "COMMIT" | "END" => Some(Control::Commit),
        "ABORT" => Some(Control::Rollback),
        "ROLLBACK" if has_to => last_name().map(Control::RollbackTo),
        "ROLLBACK" => Some(Control::Rollback),
        "SAVEPOINT" if tokens.len() == 2 => last_name().map(Control::Savepoint),
        "RELEASE" if tokens.len() <= 3 => last_name().map(Control::Release),
        _ => None,
    }
}

/// The open block's savepoints and how many statements in it wrote data.
#[derive(Debug, Default)]
struct Block {
    savepoints: Vec<String>,
    writes: u64,
}

fn block<C: ClientInfo + ?Sized>(client: &C) -> Arc<Mutex<Block>> {
    client
        .session_extensions()
        .get_or_insert_with(|| Mutex::new(Block::default()))
}

/// What a control statement answers, and any warning to send first.
pub struct Applied {
    pub response: Response,
    pub warning: Option<String>,
}

/// Executes `control` against the connection's block.
pub fn apply<C: ClientInfo + ?Sized>(client: &C, control: &Control) -> Result<Applied, Error> {
    let status = client.transaction_status();
    let block = block(client);
    let mut block = block.lock().unwrap_or_else(|e| e.into_inner());
    let applied = |response, warning: Option<String>| Ok(Applied { response, warning });
    let outside = |statement: &str| {
        Err(Error::NoActiveTransaction(format!(
            "{statement} can only be used in transaction blocks"
        )))
    };
    match (control, status) {
        (Control::Begin, TransactionStatus::Idle) => {
            *block = Block::default();
            applied(Response::TransactionStart(Tag::new("BEGIN")), None)
        }
        (Control::Begin, TransactionStatus::Transaction) => applied(
            Response::Execution(Tag::new("BEGIN")),
            Some("there is already a transaction in progress".into()),
        ),
        (Control::Commit | Control::Rollback, TransactionStatus::Idle) => {
            let tag = if *control == Control::Commit {
                "COMMIT"
            } else {
                "ROLLBACK"
            };
            applied(
                Response::TransactionEnd(Tag::new(tag)),
                Some("there is no transaction in progress".into()),
            )
        }
        (Control::Commit, TransactionStatus::Transaction) => {
            *block = Block::default();
            applied(Response::TransactionEnd(Tag::new("COMMIT")), None)
        }
        (Control::Commit | Control::Rollback, _) => {
            let writes = std::mem::take(&mut *block).writes;
            applied(
                Response::TransactionEnd(Tag::new("ROLLBACK")),
                kept_writes_warning(writes),
            )
        }
        (Control::Savepoint(_), TransactionStatus::Idle) => outside("SAVEPOINT"),
        (Control::Release(_), TransactionStatus::Idle) => outside("RELEASE SAVEPOINT"),
        (Control::RollbackTo(_), TransactionStatus::Idle) => outside("ROLLBACK TO SAVEPOINT"),
        (
            Control::Begin | Control::Savepoint(_) | Control::Release(_),
            TransactionStatus::Error,
        ) => Err(Error::InFailedTransaction),
        (Control::Savepoint(name), _) => {
            block.savepoints.push(name.clone());
            applied(Response::Execution(Tag::new("SAVEPOINT")), None)
        }
        (Control::Release(name), _) => {
            let at = savepoint_position(&block, name)?;
            block.savepoints.truncate(at);
            applied(Response::Execution(Tag::new("RELEASE")), None)
        }
        (Control::RollbackTo(name), _) => {
            let at = savepoint_position(&block, name)?;
            // The savepoint itself stays, as in Postgres.
            block.savepoints.truncate(at + 1);
            applied(Response::Execution(Tag::new("ROLLBACK")), None)
        }
    }
}

fn savepoint_position(block: &Block, name: &str) -> Result<usize, Error> {
    block
        .savepoints
        .iter()
        .rposition(|s| s == name)
        .ok_or_else(|| Error::UndefinedSavepoint(name.to_string()))
}

fn kept_writes_warning(writes: u64) -> Option<String> {
    (writes > 0).then(|| {
        format!(
            "{writes} statement(s) in this transaction block wrote data, and fstore commits each \
             statement when it completes: their writes were kept"
        )
    })
}

/// Records that a statement run inside the connection's block wrote data.
pub fn note_write<C: ClientInfo + ?Sized>(client: &C) {
    if client.transaction_status() != TransactionStatus::Idle {
        let block = block(client);
        block.lock().unwrap_or_else(|e| e.into_inner()).writes += 1;
    }
}

/// Whether a statement changes data or the catalog (and so stays done
/// after a `ROLLBACK`).
pub fn writes_data(tokens: &[Token]) -> bool {
    matches!(tokens.first(), Some(Token::Word(w)) if w.quote_style.is_none() && [
        "INSERT", "UPDATE", "DELETE", "TRUNCATE", "MERGE", "COPY", "CREATE", "DROP", "ALTER",
        "COMMENT",
    ]
    .iter()
    .any(|k| w.value.eq_ignore_ascii_case(k)))
}

/// [`note_write`] for a prepared statement's text.
pub fn note_write_of<C: ClientInfo + ?Sized>(client: &C, sql: &str) {
    if client.transaction_status() != TransactionStatus::Idle
        && let Ok(statements) = split_statements(sql)
        && statements.iter().any(|s| writes_data(&s.tokens))
    {
        note_write(client);
    }
}

/// Whether `sql` is one transaction-control statement.
pub fn is_control(sql: &str) -> bool {
    matches!(split_statements(sql).as_deref(), Ok([one]) if recognize(&one.tokens).is_some())
}

/// Statements other than transaction control are refused in a failed block.
pub fn check_not_failed<C: ClientInfo + ?Sized>(client: &C) -> Result<(), Error> {
    if client.transaction_status() == TransactionStatus::Error {
        return Err(Error::InFailedTransaction);
    }
    Ok(())
}

/// pgwire records a block's status from the responses of a message, starting
/// from the status before it, and a failed block only ever goes back to idle.
/// `ROLLBACK TO SAVEPOINT` is the one statement that returns a failed block
/// to a working one, so when a message starts with one that will succeed,
/// the block is marked working before pgwire reads its status.
pub fn prepare_rollback_to_sql<C: ClientInfo + ?Sized>(client: &mut C, sql: &str) {
    if client.transaction_status() != TransactionStatus::Error {
        return;
    }
    let Ok(statements) = split_statements(sql) else {
        return;
    };
    if let Some(first) = statements.first()
        && let Some(Control::RollbackTo(name)) = recognize(&first.tokens)
    {
        let known = {
            let block = block(client);
            let block = block.lock().unwrap_or_else(|e| e.into_inner());
            savepoint_position(&block, &name).is_ok()
        };
        if known {
            client.set_transaction_status(TransactionStatus::Transaction);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(sql: &str) -> Option<Control> {
        let statements = split_statements(sql).unwrap();
        recognize(&statements[0].tokens)
    }

    #[test]
    fn recognises_every_spelling() {
        assert_eq!(control("BEGIN"), Some(Control::Begin));
        assert_eq!(
            control("begin transaction isolation level serializable"),
            Some(Control::Begin)
        );
        assert_eq!(control("START TRANSACTION READ ONLY"), Some(Control::Begin));
        assert_eq!(control("commit work"), Some(Control::Commit));
        assert_eq!(control("END"), Some(Control::Commit));
        assert_eq!(control("abort"), Some(Control::Rollback));
        assert_eq!(control("ROLLBACK"), Some(Control::Rollback));
        assert_eq!(
            control("SAVEPOINT \"_pg3_1\""),
            Some(Control::Savepoint("_pg3_1".into()))
        );
        assert_eq!(
            control("savepoint Sp"),
            Some(Control::Savepoint("sp".into()))
        );
        assert_eq!(
            control("RELEASE SAVEPOINT sp"),
            Some(Control::Release("sp".into()))
        );
        assert_eq!(control("release sp"), Some(Control::Release("sp".into())));
        assert_eq!(
            control("ROLLBACK TO SAVEPOINT sp"),
            Some(Control::RollbackTo("sp".into()))
        );
        assert_eq!(
            control("rollback work to sp"),
            Some(Control::RollbackTo("sp".into()))
        );
        assert_eq!(control("SELECT 1"), None);
        assert_eq!(control("START something"), None);
    }
}
