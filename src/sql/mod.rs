//! fstore's SQL dialect: statement splitting, our own statements' AST, and
//! the parser that recognises them and delegates the rest to DataFusion.

pub mod ast;
pub mod parser;
pub mod split;
pub mod time_travel;

pub use ast::FsStatement;
pub use parser::{Parsed, parse_statement};
pub use split::{StatementText, split_statements};
