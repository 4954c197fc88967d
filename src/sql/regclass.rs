//! `'pg_class'::regclass` resolves to the system catalog, as in Postgres,
//! where `pg_catalog` is searched before any schema on the search path.
//!
//! datafusion-pg-catalog resolves a one-part regclass literal in the
//! current schema only, so JDBC's `d.classoid = 'pg_class'::regclass`
//! (table remarks) matched nothing. Unqualified literals naming a
//! `pg_catalog` relation are qualified before the statement is parsed.

use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};
use datafusion_pg_catalog::pg_catalog::PG_CATALOG_TABLES;

use super::split::{Edit, LocationIndex, apply_edits, significant_tokens};

/// The rewritten statement, or `None` when it has nothing to qualify.
pub fn qualify_catalog_regclass(sql: &str) -> Option<String> {
    if !mentions_regclass(sql) {
        return None;
    }
    apply_edits(sql, regclass_edits(&significant_tokens(sql)?, sql))
}

/// A cheap test before looking at the tokens.
pub fn mentions_regclass(sql: &str) -> bool {
    sql.as_bytes()
        .windows(8)
        .any(|w| w.eq_ignore_ascii_case(b"regclass"))
}

/// The edits that qualify `sql`'s catalog regclass literals, given its
/// tokens with locations in `sql`.
pub fn regclass_edits(tokens: &[TokenWithSpan], sql: &str) -> Vec<Edit> {
    let index = LocationIndex::new(sql);
    let mut replacements = Vec::new();
    for window in tokens.windows(3) {
        let [literal, cast, type_name] = window else {
            continue;
        };
        let (Token::SingleQuotedString(name), Token::DoubleColon, Token::Word(word)) =
            (&literal.token, &cast.token, &type_name.token)
        else {
            continue;
        };
        let names_regclass = word.value.eq_ignore_ascii_case("regclass")
            || word.value.eq_ignore_ascii_case("pg_catalog");
        if names_regclass && PG_CATALOG_TABLES.contains(&name.as_str()) {
            replacements.push((
                index.byte_offset(literal.span.start),
                index.byte_offset(literal.span.end),
                format!("'pg_catalog.{name}'"),
            ));
        }
    }
    replacements
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifies_catalog_names_only() {
        assert_eq!(
            qualify_catalog_regclass("SELECT 1 WHERE d.classoid = 'pg_class'::regclass").as_deref(),
            Some("SELECT 1 WHERE d.classoid = 'pg_catalog.pg_class'::regclass")
        );
        assert_eq!(
            qualify_catalog_regclass("SELECT 'pg_class'::pg_catalog.regclass").as_deref(),
            Some("SELECT 'pg_catalog.pg_class'::pg_catalog.regclass")
        );
        assert_eq!(qualify_catalog_regclass("SELECT 'devices'::regclass"), None);
        assert_eq!(qualify_catalog_regclass("SELECT 'pg_class'"), None);
    }
}
