//! fstore: a feature store for machine learning that is a database server.
//!
//! It speaks the PostgreSQL wire protocol, plans SQL with Apache DataFusion
//! over Delta Lake tables, and keeps its catalog in LMDB.
//!
//! # Map
//! - [`config`]: server settings.
//! - [`server`]: the TCP accept loop, connection limit, graceful shutdown,
//!   the pgwire handlers, transaction blocks and savepoints
//!   (`server::transactions`), and the one place errors become SQLSTATEs.
//! - [`sql`]: fstore's dialect — statement splitting, our own statements'
//!   AST (printable back to SQL), and the parser that peeks at each
//!   statement and hands everything else to DataFusion.
//! - [`database`]: the shared DataFusion `SessionContext`, restored from the
//!   durable catalog at start-up, the DDL that must persist, and the
//!   pg_catalog overlay that tells clients about feature groups, views and
//!   datasets (descriptions, keys, sizes, settings).
//! - [`catalog`]: the durable catalog of schemas, tables and views (LMDB).
//! - [`offline`]: Delta Lake tables as DataFusion table providers, with
//!   streaming, atomic appends.
//! - [`online`]: the online store (LMDB), `online.*` tables and what they
//!   serve: a feature group's latest rows or a feature view's vectors.
//! - [`metrics`]: per-query-kind counters and latency histograms
//!   (`fs.metrics`).
//! - [`featuregroup`]: a feature-group version's write path over both stores.
//! - [`ingest`]: the one ingestion path and COPY parsing.
//! - [`exec`]: physical operators DataFusion lacks (the AS OF join).
//! - [`planner`]: AS OF joins from SQL to the operator; spine retrieval;
//!   `LIKE … ESCAPE` with any escape character.
//! - [`error`]: the error type all modules return.
//!
//! # One query, socket to storage
//! 1. `server::run` accepts a socket and hands it to pgwire's
//!    `process_socket` with [`server::FstoreHandlers`].
//! 2. A simple `Query` (or an extended `Parse`) reaches
//!    `server::handlers`, which splits the text into statements
//!    (`sql::split_statements`) and classifies each (`sql::parse_statement`,
//!    `database::classify`).
//! 3. `INSERT INTO t SELECT …` is not DDL, so it goes to datafusion-postgres,
//!    which plans it with DataFusion; the target's
//!    [`offline::OfflineTableProvider::insert_into`] makes a `DataSinkExec`
//!    whose sink streams the batches into Parquet files and commits them as
//!    one Delta version (`offline::OfflineTable::append`).
//! 4. `CREATE TABLE t (…)` is DDL: [`database::Database::execute_ddl`]
//!    creates the Delta table, records it in the LMDB catalog and registers
//!    the provider with DataFusion.
//! 5. A `SELECT` plans against the providers; scans read the latest Delta
//!    snapshot; arrow-pg encodes the batches as DataRows.
//! 6. A query with `ASOF JOIN` is first rewritten by `sql::asof` so that
//!    each AS OF join is a nested join; `planner::asof` turns it into an
//!    `AsofJoinNode` and then [`exec::asof_join::AsofJoinExec`].
//! 7. `SELECT … FROM online.<name> WHERE key = $1` never reaches
//!    DataFusion: `server::fast_path` recognises it at Parse, and Execute
//!    decodes the parameters, reads LMDB once and writes the DataRows.
//! 8. Any error travels back as [`error::Error`] or a DataFusion error and is
//!    mapped to a SQLSTATE in `server::errors`.

pub mod catalog;
pub mod config;
pub mod database;
pub mod error;
pub mod exec;
pub mod featuregroup;
pub mod ingest;
pub mod metrics;
pub mod offline;
pub mod online;
pub mod planner;
pub mod server;
pub mod sql;

pub use config::Config;
pub use database::Database;
pub use error::{Error, Result};
