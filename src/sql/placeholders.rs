//! Bound parameters written into the text of statements that fstore runs
//! itself (DELETE, UPDATE, fstore's own statements): these are not planned
//! by DataFusion, so a Bind's values reach them as literals in place of
//! `$n`, quoted as SQL literals so that no value can change the statement.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::split::{LocationIndex, apply_edits, significant_tokens};
use crate::error::{Error, Result};

/// `sql` with every `$n` replaced by `literal(n)` (1-based); an `$n` that
/// `literal` has no value for is refused, naming it.
pub fn substitute_placeholders(
    sql: &str,
    literal: impl Fn(usize) -> Option<String>,
) -> Result<String> {
    let Some(tokens) = significant_tokens(sql) else {
        return Ok(sql.to_string());
    };
    let index = LocationIndex::new(sql);
    let mut edits = Vec::new();
    for token in &tokens {
        if let Some(number) = placeholder_number(&token.token) {
            let text = literal(number).ok_or_else(|| {
                Error::InvalidParameter(format!("there is no parameter ${number}"))
            })?;
            edits.push((
                index.byte_offset(token.span.start),
                index.byte_offset(token.span.end),
                text,
            ));
        }
    }
    Ok(apply_edits(sql, edits).unwrap_or_else(|| sql.to_string()))
}

/// A string as a SQL literal: single quotes doubled, and an `E''` literal
/// never produced, so that backslashes stay what they are
/// (standard_conforming_strings is on).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The parameters `sql` casts to `oid` or `oid[]` (`$1::oid[]`,
/// `CAST($1 AS oid)`), with whether the cast is to the array: PostgreSQL
/// describes such a parameter as the type it is cast to, which DataFusion
/// plans as a plain integer (asyncpg binds its type introspection's list
/// only as an `oid[]`).
pub fn parameters_cast_to_oid(sql: &str) -> Vec<(usize, bool)> {
    if !sql.contains('$') {
        return Vec::new();
    }
    let Some(tokens) = significant_tokens(sql) else {
        return Vec::new();
    };
    let tokens: Vec<&Token> = tokens.iter().map(|t| &t.token).collect();
    let is_word = |token: Option<&&Token>, word: &str| matches!(token, Some(Token::Word(w)) if w.value.eq_ignore_ascii_case(word));
    let mut cast = Vec::new();
    for (at, token) in tokens.iter().enumerate() {
        let Some(number) = placeholder_number(token) else {
            continue;
        };
        // `$n::type` or `CAST($n AS type)`: the type two tokens on.
        let cast_by_colons = matches!(tokens.get(at + 1), Some(Token::DoubleColon));
        let cast_by_call = is_word(tokens.get(at + 1), "as")
            && at >= 2
            && matches!(tokens.get(at - 1), Some(Token::LParen))
            && is_word(tokens.get(at - 2), "cast");
        if !cast_by_colons && !cast_by_call {
            continue;
        }
        let type_at = at + 2;
        if !is_word(tokens.get(type_at), "oid") {
            continue;
        }
        let array = matches!(tokens.get(type_at + 1), Some(Token::LBracket))
            && matches!(tokens.get(type_at + 2), Some(Token::RBracket));
        cast.push((number, array));
    }
    cast
}

fn placeholder_number(token: &Token) -> Option<usize> {
    match token {
        Token::Placeholder(p) => p.strip_prefix('$')?.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_the_literals_given_and_strings_stay_strings() {
        let sql = "DELETE FROM t WHERE a = $1 AND b = $2 AND c = '$1'";
        let out = substitute_placeholders(sql, |n| {
            Some(match n {
                1 => "5".to_string(),
                _ => quote_literal("it's"),
            })
        })
        .unwrap();
        assert_eq!(
            out,
            "DELETE FROM t WHERE a = 5 AND b = 'it''s' AND c = '$1'"
        );
        assert!(substitute_placeholders("SELECT $3", |_| None).is_err());
    }

    #[test]
    fn parameters_cast_to_oid_are_found_in_both_spellings() {
        assert_eq!(
            parameters_cast_to_oid(
                "SELECT 1 WHERE a = any($1::oid[]) AND b = CAST($2 AS oid) AND c = $3::int4 \
                 AND d = '$4::oid'"
            ),
            vec![(1, true), (2, false)]
        );
        assert!(parameters_cast_to_oid("SELECT $1::oidvector").is_empty());
    }
}
