//! Identifiers longer than PostgreSQL's 63 bytes (NAMEDATALEN − 1) are
//! truncated, as PostgreSQL's lexer truncates them, with the same NOTICE:
//! every occurrence of a long name becomes the same shorter one, so a
//! statement that creates `a_very_long_…` and one that reads it agree.

use datafusion::sql::sqlparser::tokenizer::{Token, Word};

use super::split::{Edit, LocationIndex, StatementText, apply_edits};

/// The most bytes an identifier keeps.
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// A query string with its long identifiers truncated.
pub struct Truncated {
    /// The statements again, `;`-separated, identifiers truncated.
    pub sql: String,
    /// PostgreSQL's NOTICE for each truncated identifier.
    pub notices: Vec<String>,
}

/// `statements` with every identifier longer than
/// [`MAX_IDENTIFIER_BYTES`] truncated; `None` when none is.
pub fn truncate_long_identifiers(statements: &[StatementText<'_>]) -> Option<Truncated> {
    let long =
        |token: &Token| matches!(token, Token::Word(w) if w.value.len() > MAX_IDENTIFIER_BYTES);
    if !statements.iter().any(|s| s.tokens.iter().any(long)) {
        return None;
    }
    let mut notices = Vec::new();
    let texts: Vec<String> = statements
        .iter()
        .map(|statement| {
            let index = LocationIndex::new(statement.text);
            let edits: Vec<Edit> = statement
                .located
                .iter()
                .filter_map(|located| match &located.token {
                    Token::Word(word) if word.value.len() > MAX_IDENTIFIER_BYTES => {
                        let short = truncate(&word.value);
                        notices.push(format!(
                            "identifier \"{}\" will be truncated to \"{short}\"",
                            word.value
                        ));
                        let shortened = Word {
                            value: short.to_string(),
                            quote_style: word.quote_style,
                            keyword: word.keyword,
                        };
                        Some((
                            index.byte_offset(located.span.start),
                            index.byte_offset(located.span.end),
                            Token::Word(shortened).to_string(),
                        ))
                    }
                    _ => None,
                })
                .collect();
            apply_edits(statement.text, edits).unwrap_or_else(|| statement.text.to_string())
        })
        .collect();
    Some(Truncated {
        sql: texts.join(";\n"),
        notices,
    })
}

/// `name`'s first 63 bytes, cut at a character boundary.
fn truncate(name: &str) -> &str {
    let mut end = MAX_IDENTIFIER_BYTES.min(name.len());
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::split_statements;

    #[test]
    fn long_identifiers_are_cut_to_63_bytes_everywhere() {
        let long = "x".repeat(70);
        let sql = format!("SELECT {long}, \"{long}\" FROM t; SELECT 'keep {long}' FROM {long}");
        let statements = split_statements(&sql).unwrap();
        let truncated = truncate_long_identifiers(&statements).unwrap();
        let short = "x".repeat(63);
        assert_eq!(
            truncated.sql,
            format!("SELECT {short}, \"{short}\" FROM t;\nSELECT 'keep {long}' FROM {short}")
        );
        assert_eq!(truncated.notices.len(), 3);
        assert_eq!(
            truncated.notices[0],
            format!("identifier \"{long}\" will be truncated to \"{short}\"")
        );
        let short_only = split_statements("SELECT a FROM b").unwrap();
        assert!(truncate_long_identifiers(&short_only).is_none());
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        let name = format!("{}é", "a".repeat(62));
        assert_eq!(truncate(&name), "a".repeat(62));
    }
}
