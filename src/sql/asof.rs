//! AS OF join syntax, brought into one shape DataFusion can hand to
//! fstore's relation planner (`planner::asof`).
//!
//! Accepted spellings:
//!
//! ```sql
//! l ASOF JOIN r MATCH_CONDITION (l.t >= r.t) ON l.k = r.k     -- Snowflake: keeps left rows
//! l ASOF JOIN r ON l.k = r.k AND l.t >= r.t                   -- DuckDB: inner
//! l ASOF LEFT JOIN r ON l.k = r.k AND l.t >= r.t              -- DuckDB: keeps left rows
//! l ASOF LEFT JOIN r USING (k, t)                             -- DuckDB: last column is the time
//! ```
//!
//! Two steps, because sqlparser knows only the Snowflake form:
//! 1. tokens: every `ASOF [LEFT [OUTER] | INNER] JOIN` becomes `ASOF JOIN`
//!    with a marker conjunct in `MATCH_CONDITION (…)` (added when missing)
//!    naming the join type, so the DuckDB forms parse and keep their meaning;
//! 2. syntax tree: each AS OF join and everything before it in its FROM item
//!    is wrapped in parentheses (a nested join), because DataFusion's
//!    extension point for relations sees table factors, not joins.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, JoinOperator, Query, Select, Statement, TableFactor, TableWithJoins, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use super::split::{Edit, LocationIndex, apply_edits, significant_tokens};

/// Marker conjuncts in `MATCH_CONDITION` that carry the join type.
pub const INNER_MARKER: &str = "__fstore_asof_inner";
pub const LEFT_MARKER: &str = "__fstore_asof_left";

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// Step 1 over a whole statement's text; `None` when it has no AS OF join.
pub fn rewrite_asof_spellings(sql: &str) -> Option<String> {
    let edits = asof_edits(&significant_tokens(sql)?, sql)?;
    apply_edits(sql, edits).or_else(|| Some(sql.to_string()))
}

/// Step 1 as edits of `sql`, given its tokens with locations in `sql`;
/// `None` when it has no AS OF join (an empty list when it has one already
/// in sqlparser's spelling).
pub fn asof_edits(tokens: &[TokenWithSpan], sql: &str) -> Option<Vec<Edit>> {
    if !tokens.iter().any(|t| is_word(&t.token, "ASOF")) {
        return None;
    }
    let index = LocationIndex::new(sql);
    let offset = |position| index.byte_offset(position);
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if !is_word(&tokens[i].token, "ASOF") {
            i += 1;
            continue;
        }
        let (written_type, join_at) = match tokens.get(i + 1).map(|t| &t.token) {
            Some(t) if is_word(t, "JOIN") => (None, i + 1),
            Some(t) if is_word(t, "INNER") => (Some(INNER_MARKER), i + 2),
            Some(t) if is_word(t, "LEFT") => {
                let outer = tokens
                    .get(i + 2)
                    .is_some_and(|t| is_word(&t.token, "OUTER"));
                (Some(LEFT_MARKER), if outer { i + 3 } else { i + 2 })
            }
            _ => {
                i += 1;
                continue;
            }
        };
        if !tokens
            .get(join_at)
            .is_some_and(|t| is_word(&t.token, "JOIN"))
        {
            i += 1;
            continue;
        }
        edits.push((
            offset(tokens[i].span.start),
            offset(tokens[join_at].span.end),
            "ASOF JOIN".into(),
        ));
        // Find what follows the right relation: MATCH_CONDITION, ON or USING.
        let mut depth = 0i32;
        let mut j = join_at + 1;
        while j < tokens.len() {
            let token = &tokens[j].token;
            match token {
                Token::LParen => depth += 1,
                Token::RParen if depth == 0 => break,
                Token::RParen => depth -= 1,
                Token::SemiColon if depth == 0 => break,
                _ if depth == 0
                    && (is_word(token, "MATCH_CONDITION")
                        || is_word(token, "ON")
                        || is_word(token, "USING")) =>
                {
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        match tokens.get(j) {
            Some(t) if is_word(&t.token, "MATCH_CONDITION") => {
                // Snowflake's form keeps left rows unless INNER was written.
                let marker = written_type.unwrap_or(LEFT_MARKER);
                if let Some(open) = tokens.get(j + 1).filter(|t| t.token == Token::LParen) {
                    let at = offset(open.span.end);
                    edits.push((at, at, format!("{marker} AND ")));
                }
            }
            Some(t) => {
                // DuckDB's form: a bare ASOF JOIN is an inner join.
                let marker = written_type.unwrap_or(INNER_MARKER);
                let at = offset(t.span.start);
                edits.push((at, at, format!("MATCH_CONDITION ({marker}) ")));
            }
            None => {}
        }
        i = join_at + 1;
    }
    Some(edits)
}

/// Both steps over a statement sqlparser can parse on its own: the text to
/// hand to DataFusion, or `None` when there is no AS OF join in it.
pub fn rewrite_asof_statement(sql: &str) -> Option<String> {
    let spelled = rewrite_asof_spellings(sql)?;
    // fstore's own statements (CREATE FEATURE VIEW …) do not parse here;
    // their parser nests the joins of the queries inside them.
    let Ok(mut statements) = Parser::parse_sql(&PostgreSqlDialect {}, &spelled) else {
        return Some(spelled);
    };
    let [statement] = statements.as_mut_slice() else {
        return Some(spelled);
    };
    nest_asof_joins_in_statement(statement);
    Some(statement.to_string())
}

pub fn nest_asof_joins_in_statement(statement: &mut Statement) {
    let _ = statement.visit(&mut AsofNester);
}

pub fn nest_asof_joins(query: &mut Query) {
    let _ = query.visit(&mut AsofNester);
}

struct AsofNester;

impl VisitorMut for AsofNester {
    type Break = ();

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        for item in &mut select.from {
            nest(item, false);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::NestedJoin {
            table_with_joins, ..
        } = factor
        {
            nest(table_with_joins, true);
        }
        ControlFlow::Continue(())
    }
}

/// `a J1 b ASOF JOIN c J2 d` → `(a J1 b ASOF JOIN c) J2 d`, repeatedly, so
/// that an AS OF join is only ever the last join of a nested join (which
/// needs no further nesting).
fn nest(item: &mut TableWithJoins, nested: bool) {
    let settled = if nested { 1 } else { 0 };
    while let Some(position) = item
        .joins
        .iter()
        .position(|j| matches!(j.join_operator, JoinOperator::AsOf { .. }))
        .filter(|p| p + settled < item.joins.len())
    {
        let rest = item.joins.split_off(position + 1);
        let inner_joins = std::mem::replace(&mut item.joins, rest);
        let placeholder = TableFactor::Table {
            name: datafusion::sql::sqlparser::ast::ObjectName(vec![]),
            alias: None,
            args: None,
            with_hints: vec![],
            version: None,
            with_ordinality: false,
            partitions: vec![],
            json_path: None,
            sample: None,
            index_hints: vec![],
        };
        let relation = std::mem::replace(&mut item.relation, placeholder);
        item.relation = TableFactor::NestedJoin {
            table_with_joins: Box::new(TableWithJoins {
                relation,
                joins: inner_joins,
            }),
            alias: None,
        };
    }
}

/// The join type a marker names, if `expr` is one.
pub fn marker_join_type(expr: &Expr) -> Option<bool> {
    match expr {
        Expr::Identifier(ident) if ident.value == INNER_MARKER => Some(false),
        Expr::Identifier(ident) if ident.value == LEFT_MARKER => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duckdb_spellings_get_a_marked_match_condition() {
        assert_eq!(
            rewrite_asof_spellings("SELECT * FROM l ASOF LEFT JOIN r ON l.k = r.k AND l.t >= r.t")
                .unwrap(),
            "SELECT * FROM l ASOF JOIN r MATCH_CONDITION (__fstore_asof_left) ON l.k = r.k AND l.t >= r.t"
        );
        assert_eq!(
            rewrite_asof_spellings("select * from l asof join (select * from r) x using (k, t)")
                .unwrap(),
            "select * from l ASOF JOIN (select * from r) x MATCH_CONDITION (__fstore_asof_inner) using (k, t)"
        );
        assert_eq!(
            rewrite_asof_spellings(
                "SELECT * FROM l ASOF JOIN r MATCH_CONDITION (l.t >= r.t) ON l.k = r.k"
            )
            .unwrap(),
            "SELECT * FROM l ASOF JOIN r MATCH_CONDITION (__fstore_asof_left AND l.t >= r.t) ON l.k = r.k"
        );
        assert_eq!(
            rewrite_asof_spellings("SELECT asof FROM t").as_deref(),
            Some("SELECT asof FROM t")
        );
        assert!(rewrite_asof_spellings("SELECT * FROM t").is_none());
    }

    #[test]
    fn each_asof_join_is_nested_with_what_precedes_it() {
        let sql = rewrite_asof_statement(
            "SELECT * FROM t ASOF LEFT JOIN p ON t.k = p.k AND t.ts >= p.ts \
             ASOF LEFT JOIN a ON t.k = a.k AND t.ts >= a.ts WHERE t.x > 1",
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT * FROM ((t ASOF JOIN p MATCH_CONDITION (__fstore_asof_left) ON t.k = p.k AND t.ts >= p.ts) \
             ASOF JOIN a MATCH_CONDITION (__fstore_asof_left) ON t.k = a.k AND t.ts >= a.ts) WHERE t.x > 1"
        );
    }
}
