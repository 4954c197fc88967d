//! `pg_catalog` as clients read it: datafusion-pg-catalog's emulation with
//! fstore's own facts layered on top, so that psql, JDBC metadata,
//! SQLAlchemy's inspector and BI tools see what a feature store holds:
//!
//! - `pg_description`, `obj_description()`: the descriptions (COMMENT) of
//!   feature groups, feature views and training datasets;
//! - `pg_constraint`: a primary key (`<name>_pkey`) for every feature group
//!   and `online.*` relation;
//! - `pg_table_is_visible()`: true only for relations that an unqualified
//!   name reaches (`public`, `pg_catalog`), as name resolution does;
//! - `to_regtype()`, `to_regclass()`, `pg_function_is_visible()`,
//!   `pg_type_is_visible()`, `col_description()`.
//!
//! Relation OIDs are assigned by datafusion-pg-catalog when `pg_class` is
//! read. The overlay records them from every `pg_class` scan (a query that
//! asks about a relation's OID has read `pg_class` first), which is how
//! descriptions and keys are joined to the same OIDs the client sees.

mod arrays;
mod columns;
mod facts;
mod functions;
mod information_schema;
mod reflection;
mod routines;
mod settings;
mod tables;

pub use facts::CatalogFacts;
pub use functions::load_static_rows;
pub use settings::rewrite_show;
pub use tables::install;
