//! `name VERSION AS OF n` and `name TIMESTAMP AS OF '…'` (Delta Lake / Databricks
//! spelling). sqlparser's PostgreSQL dialect has no table versioning, so the
//! clause is rewritten into a call of the `fstore_time_travel` table
//! function before the statement is parsed:
//!
//! ```sql
//! SELECT * FROM tx VERSION AS OF 3 t   -- becomes
//! SELECT * FROM fstore_time_travel('tx', 'version', '3') t
//! ```

use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use super::split::{Edit, LocationIndex, apply_edits, significant_tokens};

pub const TIME_TRAVEL_FUNCTION: &str = "fstore_time_travel";

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The rewritten statement, or `None` when it has no time-travel clause.
pub fn rewrite_time_travel(sql: &str) -> Option<String> {
    apply_edits(sql, time_travel_edits(&significant_tokens(sql)?, sql))
}

/// The edits that rewrite every time-travel clause of `sql`, whose tokens
/// (with locations in `sql`) are `tokens`.
pub fn time_travel_edits(tokens: &[TokenWithSpan], sql: &str) -> Vec<Edit> {
    let index = LocationIndex::new(sql);
    let mut replacements: Vec<(usize, usize, String)> = Vec::new();
    let mut i = 0;
    while i + 3 < tokens.len() {
        let kind = if is_word(&tokens[i].token, "VERSION") {
            "version"
        } else if is_word(&tokens[i].token, "TIMESTAMP") {
            "timestamp"
        } else {
            i += 1;
            continue;
        };
        if !(is_word(&tokens[i + 1].token, "AS") && is_word(&tokens[i + 2].token, "OF")) {
            i += 1;
            continue;
        }
        let value = match (&tokens[i + 3].token, kind) {
            (Token::Number(n, _), "version") => n.clone(),
            (Token::SingleQuotedString(s), "timestamp") => s.clone(),
            _ => {
                i += 1;
                continue;
            }
        };
        // The table name before the clause: word (. word)*.
        let mut start = i;
        while start > 0 && matches!(tokens[start - 1].token, Token::Word(_)) {
            start -= 1;
            if start > 0 && tokens[start - 1].token == Token::Period {
                start -= 1;
            } else {
                break;
            }
        }
        if start == i {
            i += 1;
            continue;
        }
        let name_from = index.byte_offset(tokens[start].span.start);
        let name_to = index.byte_offset(tokens[i - 1].span.end);
        let name = &sql[name_from..name_to];
        let end = index.byte_offset(tokens[i + 3].span.end);
        replacements.push((
            name_from,
            end,
            format!(
                "{TIME_TRAVEL_FUNCTION}({}, '{kind}', {})",
                quote(name),
                quote(&value)
            ),
        ));
        i += 4;
    }
    replacements
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_timestamp_clauses_become_function_calls() {
        assert_eq!(
            rewrite_time_travel("SELECT * FROM tx VERSION AS OF 3 t WHERE k = 1").unwrap(),
            "SELECT * FROM fstore_time_travel('tx', 'version', '3') t WHERE k = 1"
        );
        assert_eq!(
            rewrite_time_travel("select * from public.tx timestamp as of '2026-01-01 00:00:00'")
                .unwrap(),
            "select * from fstore_time_travel('public.tx', 'timestamp', '2026-01-01 00:00:00')"
        );
        assert!(rewrite_time_travel("SELECT version FROM t").is_none());
        assert!(rewrite_time_travel("SELECT CAST(x AS TIMESTAMP) FROM t").is_none());
    }
}
