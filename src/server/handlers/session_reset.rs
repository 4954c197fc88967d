//! `DEALLOCATE [PREPARE] name | ALL` and `DISCARD ALL | PLANS | SEQUENCES |
//! TEMP`, which drivers send to reset a long-lived connection (psycopg 3
//! sends `DEALLOCATE ALL` after a rollback or a schema change; pools send
//! `DISCARD ALL` when a connection is returned). As in PostgreSQL,
//! `DEALLOCATE` drops protocol-level prepared statements, the ones a
//! driver made with Parse. `DISCARD ALL` also forgets the session's
//! `SET datafusion.…` options (not yet its other `SET` parameters).

use datafusion::sql::sqlparser::tokenizer::Token;
use pgwire::api::results::{Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore};
use pgwire::messages::response::TransactionStatus;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::server::sessions::SessionControl;

enum Reset {
    Deallocate(String),
    DeallocateAll,
    DiscardAll,
    /// `DISCARD PLANS | SEQUENCES | TEMP`: nothing of the kind is kept.
    DiscardNothing(&'static str),
}

fn recognize(tokens: &[Token]) -> Option<Reset> {
    let mut words = tokens.iter().filter(|t| !matches!(t, Token::SemiColon));
    let keyword = |token: Option<&Token>| match token {
        Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    };
    match keyword(words.next())?.as_str() {
        "DEALLOCATE" => {
            let mut next = words.next()?;
            if keyword(Some(next)).as_deref() == Some("PREPARE") {
                next = words.next()?;
            }
            if words.next().is_some() {
                return None;
            }
            match next {
                Token::Word(w)
                    if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("ALL") =>
                {
                    Some(Reset::DeallocateAll)
                }
                Token::Word(w) if w.quote_style.is_some() => {
                    Some(Reset::Deallocate(w.value.clone()))
                }
                Token::Word(w) => Some(Reset::Deallocate(w.value.to_ascii_lowercase())),
                _ => None,
            }
        }
        "DISCARD" => {
            let what = keyword(words.next())?;
            if words.next().is_some() {
                return None;
            }
            match what.as_str() {
                "ALL" => Some(Reset::DiscardAll),
                "PLANS" => Some(Reset::DiscardNothing("DISCARD PLANS")),
                "SEQUENCES" => Some(Reset::DiscardNothing("DISCARD SEQUENCES")),
                "TEMP" | "TEMPORARY" => Some(Reset::DiscardNothing("DISCARD TEMP")),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether `sql` could be one of these statements, without tokenizing it.
pub(crate) fn may_be(sql: &str) -> bool {
    let start = sql.trim_start();
    ["DEALLOCATE", "DISCARD"].iter().any(|word| {
        start
            .get(..word.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(word))
    })
}

/// Whether `tokens` are one of these statements (the extended protocol
/// keeps them unplanned until their Execute).
pub(crate) fn recognizes(tokens: &[Token]) -> bool {
    recognize(tokens).is_some()
}

/// Runs `tokens` if they are a `DEALLOCATE` or `DISCARD`; `None` for any
/// other statement. A name no Parse made is 26000, as in PostgreSQL
/// (DataFusion's SQL-level `PREPARE`, which is server-wide, is not
/// reached).
pub(crate) fn apply<C>(client: &C, tokens: &[Token]) -> Result<Option<Response>>
where
    C: ClientInfo + ClientPortalStore,
    C::PortalStore: PortalStore,
{
    let Some(reset) = recognize(tokens) else {
        return Ok(None);
    };
    if client.transaction_status() == TransactionStatus::Error {
        return Err(Error::InFailedTransaction);
    }
    let store = client.portal_store();
    let deallocate_all = || {
        if let Some(control) = client.session_extensions().get::<Arc<SessionControl>>() {
            for name in control.take_prepared() {
                store.rm_statement(&name);
            }
        }
    };
    let tag = match reset {
        Reset::Deallocate(name) => {
            if store.get_statement(&name).is_none() {
                return Err(Error::UndefinedPreparedStatement(name));
            }
            store.rm_statement(&name);
            "DEALLOCATE"
        }
        Reset::DeallocateAll => {
            deallocate_all();
            "DEALLOCATE ALL"
        }
        Reset::DiscardAll => {
            if client.transaction_status() != TransactionStatus::Idle {
                return Err(Error::ActiveTransaction("DISCARD ALL"));
            }
            deallocate_all();
            store.clear_portals();
            super::session_options::reset_all(client);
            "DISCARD ALL"
        }
        Reset::DiscardNothing(tag) => tag,
    };
    Ok(Some(Response::Execution(Tag::new(tag))))
}
