//! fstore's SQL dialect: statement splitting, our own statements' AST, and
//! the parser that recognises them and delegates the rest to DataFusion.

pub mod asof;
pub mod ast;
pub mod feature_views;
pub mod parser;
pub mod projection_subqueries;
pub mod qualified_name;
pub mod regclass;
pub mod split;
pub mod time_travel;
pub mod words;

pub use ast::FsStatement;
pub use parser::{Parsed, parse_statement};
pub use qualified_name::QualifiedName;
pub use split::{StatementText, split_statements};

/// fstore's SQL extensions inside otherwise ordinary statements (time
/// travel, AS OF joins) rewritten into SQL DataFusion parses; `None` when
/// the statement has none.
pub fn rewrite_extensions(sql: &str) -> Option<String> {
    let regclass = regclass::qualify_catalog_regclass(sql);
    let sql = regclass.as_deref().unwrap_or(sql);
    let time_travel = time_travel::rewrite_time_travel(sql);
    let text = time_travel.as_deref().unwrap_or(sql);
    asof::rewrite_asof_statement(text)
        .or(time_travel)
        .or_else(|| regclass.clone())
}
