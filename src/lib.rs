//! fstore: a feature store for machine learning that is a database server.
//!
//! It speaks the PostgreSQL wire protocol, plans SQL with Apache DataFusion
//! over Delta Lake tables, and keeps its catalog in LMDB.
//!
//! # Floors
//! Every module stands on one floor and imports only from the floors below
//! it (`tests/architecture.rs` reads this table and fails on an upward
//! import, a ring of files importing each other, or a file past 800 lines).
//!
//! | floor | modules | what lives there |
//! | --- | --- | --- |
//! | 0 | `config`, `crash_point`, `error`, `metrics`, `names`, `pg_types` | shared vocabulary: settings, test-only crash points, the error type, counters, names and reserved schemas, Arrow ↔ Postgres type names |
//! | 1 | `sql`, `catalog`, `exec`, `statement_stop` | fstore's dialect (text → AST, AST rewrites; no I/O); the durable LMDB catalog and object definitions; physical operators; what stops a long statement between batches |
//! | 2 | `offline`, `online` | Delta tables, their providers and the ingest sink; LMDB rows (key and row formats, store, sources, providers) |
//! | 3 | `store`, `planner`, `copy_in` | a feature group's dual write and catch-up; AS OF planning and optimizer rules; COPY formats into batches |
//! | 4 | `database` | the composition root: session context, dispatch of our statements, one room per object kind, system tables `fs.*`, the pg_catalog overlay |
//! | 5 | `server` | pgwire handlers by protocol part, the online fast path, transaction blocks, the one place errors become SQLSTATEs |
//!
//! # Map
//! - [`config`]: server settings.
//! - [`error`]: the error type all modules return.
//! - [`metrics`]: per-query-kind counters and latency histograms
//!   (`fs.metrics`).
//! - [`names`]: the database name, reserved schemas, identifier folding,
//!   `QualifiedName`.
//! - [`pg_types`]: Arrow types as Postgres spells them.
//! - [`sql`]: fstore's dialect — statement splitting, our own statements'
//!   AST (printable back to SQL), the parser that peeks at each statement
//!   and hands everything else to DataFusion, and the rewrites of our
//!   extensions inside ordinary statements.
//! - [`catalog`]: the durable catalog of schemas, tables, views, feature
//!   groups, feature views and training datasets (LMDB).
//! - [`exec`]: physical operators DataFusion lacks (the AS OF join).
//! - [`offline`]: Delta Lake tables as DataFusion table providers, with
//!   streaming, atomic appends (the `Ingest` sink) and time travel.
//! - [`online`]: the online store (LMDB): key and row formats, the writer,
//!   `online.*` tables and what they serve — a group's latest rows or a
//!   feature view's vectors.
//! - [`store`]: a feature-group version's write path over both stores and
//!   its catch-up at start-up.
//! - [`planner`]: AS OF joins from SQL to the operator; `LIKE … ESCAPE`
//!   with any escape character.
//! - [`copy_in`]: `COPY … FROM STDIN` in text, CSV and binary into batches.
//! - [`database`]: the shared DataFusion `SessionContext`, restored from the
//!   durable catalog at start-up; the dispatch of fstore's statements; one
//!   room per object kind (tables, feature groups, feature views, training
//!   datasets, online serving); the `fs.*` system tables; the pg_catalog
//!   overlay that tells clients about our objects.
//! - [`server`]: the TCP accept loop, connection limit, graceful shutdown,
//!   the pgwire handlers, transaction blocks and savepoints
//!   (`server::transactions`), the online fast path, and the one place
//!   errors become SQLSTATEs.
//!
//! # One query, socket to storage
//! 1. `server::run` accepts a socket and hands it to pgwire's
//!    `process_socket` with [`server::FstoreHandlers`].
//! 2. A simple `Query` (or an extended `Parse`) reaches
//!    `server::handlers`, which splits the text into statements
//!    (`sql::split_statements`) and routes each (`sql::parse_statement`,
//!    `database::classify`): ours (fstore statements, persistent DDL) or
//!    handed on to datafusion-postgres.
//! 3. `INSERT INTO t SELECT …` is handed on to datafusion-postgres,
//!    which plans it with DataFusion; the target's
//!    [`offline::OfflineTableProvider::insert_into`] makes a `DataSinkExec`
//!    whose sink streams the batches into Parquet files and commits them as
//!    one Delta version (`offline::OfflineTable::append`).
//! 4. `CREATE TABLE t (…)` is ours: [`database::Database::execute_ddl`]
//!    creates the Delta table, records it in the LMDB catalog and registers
//!    the provider with DataFusion.
//! 5. A `SELECT` plans against the providers; scans read the latest Delta
//!    snapshot; arrow-pg encodes the batches as DataRows.
//! 6. A query with `ASOF JOIN` is parsed once: its text edits come from the
//!    split's tokens (`sql::rewrite_extensions`), its tree is rewritten by
//!    `sql::asof` (`sql::rewrite_tree`) so that
//!    each AS OF join is a nested join; `planner::asof` turns it into an
//!    `AsofJoinNode` and then [`exec::asof_join::AsofJoinExec`].
//! 7. `COPY g FROM STDIN` streams through `copy_in` into the group's
//!    dual write (`store::FeatureGroup`): Delta commit, then LMDB.
//! 8. `SELECT … FROM online.<name> WHERE key = $1` never reaches
//!    DataFusion: `server::fast_path` recognises it at Parse, and Execute
//!    decodes the parameters, reads LMDB once and writes the DataRows.
//! 9. Any error travels back as [`error::Error`] or a DataFusion error and is
//!    mapped to a SQLSTATE in `server::errors`.

// Floor 0
pub mod config;
pub mod crash_point;
pub mod error;
pub mod metrics;
pub mod names;
pub mod pg_types;
// Floor 1
pub mod catalog;
pub mod exec;
pub mod sql;
pub mod statement_stop;
// Floor 2
pub mod offline;
pub mod online;
// Floor 3
pub mod copy_in;
pub mod planner;
pub mod store;
// Floor 4
pub mod database;
// Floor 5
pub mod server;

pub use config::Config;
pub use database::Database;
pub use error::{Error, Result};
