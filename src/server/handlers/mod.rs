//! pgwire handlers: fstore's front door in front of datafusion-postgres.
//!
//! Every statement is split off and routed (`routing`): fstore's own
//! statements and persistent DDL run here against the [`Database`];
//! everything else is handed on to datafusion-postgres's
//! `DfSessionService` (its pg_catalog, `SET`/`SHOW`, transactions, cursors
//! and type encoding), except queries (other than catalog queries), which
//! are planned from the tree of our one parse (`planned`). Both protocols share the statement type of
//! `DfSessionService`: a statement we execute ourselves is stored as
//! `(sql, None)` and re-parsed at Execute.
//!
//! [`Database`]: crate::database::Database

mod bound_text;
mod copy;
mod explain;
mod extended;
mod notices;
mod output;
mod parse;
mod planned;
mod routing;
mod service;
mod session_options;
mod session_reset;
mod simple;
mod time_zone;
mod timeout;
mod wiring;

pub(crate) use output::{postgres_text_of, text_differs_from_postgres};
pub use parse::{FstoreParser, PreparedStatement};
pub(crate) use routing::{HandOn, Route, route};
pub use service::FstoreService;
pub use wiring::FstoreHandlers;
