//! fstore's SQL dialect: statement splitting, our own statements' AST, and
//! the parser that recognises them and delegates the rest to DataFusion.

pub mod asof;
pub mod ast;
pub mod catalog_functions;
pub mod column_names;
pub mod feature_views;
pub mod identifiers;
pub mod parser;
pub mod placeholders;
pub mod projection_subqueries;
pub mod qualified_name;
pub mod regclass;
pub mod split;
pub mod time_travel;
pub mod words;

pub use ast::FsStatement;
pub use parser::{Parsed, parse_statement};
pub use projection_subqueries::{catalog_text_variants, faithful_catalog_text, mentions_catalog};
pub use qualified_name::QualifiedName;
pub use split::{StatementText, split_statements};

/// fstore's extensions inside an otherwise ordinary statement, found in
/// one pass over the tokens the split already made.
pub struct Extensions {
    /// The statement's text with time travel, DuckDB's AS OF spellings and
    /// catalog regclass literals rewritten; `None` when nothing changed.
    pub text: Option<String>,
    /// Whether it has an AS OF join, whose tree must be nested after
    /// parsing ([`rewrite_tree`]).
    pub has_asof: bool,
}

/// The text edits of our extensions, applied at once.
pub fn rewrite_extensions(statement: &StatementText<'_>) -> Extensions {
    let (tokens, sql) = (&statement.located, statement.text);
    let mut edits = time_travel::time_travel_edits(tokens, sql);
    if regclass::mentions_regclass(sql) {
        edits.extend(regclass::regclass_edits(tokens, sql));
    }
    let asof = asof::asof_edits(tokens, sql);
    let has_asof = asof.is_some();
    edits.extend(asof.unwrap_or_default());
    Extensions {
        text: split::apply_edits(sql, edits),
        has_asof,
    }
}

/// The tree rewrites of a parsed ordinary statement (also under
/// `EXPLAIN`, and the query of `COPY (…) TO`): AS OF joins nested for the
/// relation planner, select-list subqueries protected from the
/// compatibility parser. `text` is what was parsed; whether anything
/// changed.
pub fn rewrite_tree(
    statement: &mut datafusion::sql::parser::Statement,
    text: &str,
    has_asof: bool,
) -> bool {
    use datafusion::sql::parser::{CopyToSource, Statement as DfStatement};
    match statement {
        DfStatement::Statement(tree) => {
            if has_asof {
                asof::nest_asof_joins_in_statement(tree);
            }
            let protected = projection_subqueries::may_need_protection(text)
                && projection_subqueries::protect_in(tree);
            has_asof || protected
        }
        DfStatement::Explain(explain) => rewrite_tree(&mut explain.statement, text, has_asof),
        DfStatement::CopyTo(copy) => match &mut copy.source {
            CopyToSource::Query(query) if has_asof => {
                asof::nest_asof_joins(query);
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// The sqlparser statement inside a DataFusion one, also under `EXPLAIN`.
pub fn statement_tree(
    statement: &mut datafusion::sql::parser::Statement,
) -> Option<&mut datafusion::sql::sqlparser::ast::Statement> {
    use datafusion::sql::parser::Statement as DfStatement;
    match statement {
        DfStatement::Statement(tree) => Some(tree),
        DfStatement::Explain(explain) => statement_tree(&mut explain.statement),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one pass gives what the rewrites gave one after another, each
    /// tokenizing the previous one's output.
    #[test]
    fn one_pass_of_edits_equals_the_rewrites_in_turn() {
        let sql = "SELECT t.k, r.v FROM tx VERSION AS OF 3 t \
                   ASOF LEFT JOIN r ON t.k = r.k AND t.ts >= r.ts \
                   WHERE 'pg_class'::regclass IS NOT NULL";
        let statement = &split_statements(sql).unwrap()[0];
        let extensions = rewrite_extensions(statement);
        let chained = asof::rewrite_asof_spellings(
            &time_travel::rewrite_time_travel(&regclass::qualify_catalog_regclass(sql).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert!(extensions.has_asof);
        assert_eq!(extensions.text.as_deref(), Some(chained.as_str()));
        let plain = &split_statements("SELECT 1").unwrap().remove(0);
        let nothing = rewrite_extensions(plain);
        assert!(nothing.text.is_none() && !nothing.has_asof);
    }
}
