//! Splits a query string into statements at top-level semicolons, keeping
//! each statement's original text and where it starts (for error positions).
//!
//! Splitting on tokens, not characters, keeps semicolons inside string
//! literals, quoted identifiers and comments where they belong.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::error::{Error, Limit, Result};

/// One statement of a query string.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementText<'a> {
    pub text: &'a str,
    /// Characters before `text` in the whole query string.
    pub char_offset: usize,
    /// The statement's tokens, without whitespace and comments.
    pub tokens: Vec<Token>,
    /// The same tokens with their locations in `text` (not in the whole
    /// query string), so rewrites can edit `text` without tokenizing again.
    pub located: Vec<TokenWithSpan>,
}

/// A replacement of the byte range `from..to` of a text.
pub type Edit = (usize, usize, String);

/// Maps sqlparser's (line, column) locations onto byte and character offsets.
pub struct LocationIndex<'a> {
    sql: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LocationIndex<'a> {
    pub fn new(sql: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        LocationIndex { sql, line_starts }
    }

    /// Byte offset of a 1-based line/column location (clamped to the text).
    pub fn byte_offset(&self, location: Location) -> usize {
        let line = (location.line.max(1) as usize - 1).min(self.line_starts.len() - 1);
        let start = self.line_starts[line];
        let column = location.column.max(1) as usize - 1;
        self.sql[start..]
            .char_indices()
            .nth(column)
            .map(|(i, _)| start + i)
            .unwrap_or(self.sql.len())
    }

    /// 1-based character position, as Postgres reports in ErrorResponse.
    pub fn position(&self, location: Location) -> usize {
        self.sql[..self.byte_offset(location)].chars().count() + 1
    }
}

/// How deeply a statement may nest: operators in a chain and parentheses
/// (each is a level of the syntax tree, and of every recursion over it).
/// Past it a statement is refused before it is parsed (54001), so a long
/// generated expression cannot overflow the stack.
pub const MAX_NESTING: usize = 1000;

/// An upper bound on how deeply a statement's syntax tree nests: each binary
/// operator adds a level to sqlparser's left-deep trees, and each bracket
/// another.
pub fn nesting_estimate<'t>(tokens: impl IntoIterator<Item = &'t Token>) -> usize {
    use datafusion::sql::sqlparser::keywords::Keyword;
    let (mut depth, mut deepest, mut operators) = (0usize, 0usize, 0usize);
    for token in tokens {
        match token {
            Token::LParen | Token::LBracket => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            Token::RParen | Token::RBracket => depth = depth.saturating_sub(1),
            Token::Plus
            | Token::Minus
            | Token::Mul
            | Token::Div
            | Token::Mod
            | Token::Caret
            | Token::StringConcat
            | Token::Eq
            | Token::Neq
            | Token::Lt
            | Token::Gt
            | Token::LtEq
            | Token::GtEq
            | Token::Ampersand
            | Token::Pipe
            | Token::DoubleColon
            | Token::Arrow
            | Token::LongArrow => operators += 1,
            Token::Word(word)
                if matches!(
                    word.keyword,
                    Keyword::AND
                        | Keyword::OR
                        | Keyword::NOT
                        | Keyword::UNION
                        | Keyword::EXCEPT
                        | Keyword::INTERSECT
                        | Keyword::CASE
                        | Keyword::LIKE
                        | Keyword::ILIKE
                        | Keyword::IS
                ) =>
            {
                operators += 1
            }
            _ => {}
        }
    }
    operators + deepest
}

/// The deepest function calls and parenthesised lists (`(a, b)`) may nest.
/// sqlparser (0.62) parses them with backtracking that multiplies its work
/// at each level: `SELECT f(f(…f(1)…))` 16 deep took a second, `… FROM
/// f(a AND f(a AND …))` 16 deep eleven, and a syntax error inside `NOT (x,
/// NOT (x, …))` 12 deep eleven (debug build) — a 200-byte statement could
/// hold a core for hours. At 10 the worst shape found takes about a second
/// in a debug build and a tenth of that in a release build.
pub const MAX_CALL_NESTING: usize = 10;

/// How deeply function calls (a word, then an opening parenthesis, `NOT (`
/// and `IN (` included: an error inside `NOT (a OR NOT (a OR …` or `IN (
/// IN ( …` backtracks the same way) and parenthesised lists (a comma
/// directly inside) nest.
pub fn call_nesting<'t>(tokens: impl IntoIterator<Item = &'t Token>) -> usize {
    use datafusion::sql::sqlparser::keywords::Keyword;
    let not_a_call = |word: &datafusion::sql::sqlparser::tokenizer::Word| {
        word.quote_style.is_none()
            && matches!(
                word.keyword,
                Keyword::AND
                    | Keyword::OR
                    | Keyword::VALUES
                    | Keyword::AS
                    | Keyword::ON
                    | Keyword::USING
                    | Keyword::FROM
                    | Keyword::WHERE
                    | Keyword::SELECT
                    | Keyword::JOIN
                    | Keyword::BY
                    | Keyword::WHEN
                    | Keyword::THEN
                    | Keyword::ELSE
                    | Keyword::IS
                    | Keyword::LIKE
                    | Keyword::ILIKE
                    | Keyword::BETWEEN
                    | Keyword::OVER
                    | Keyword::UNION
                    | Keyword::INTERSECT
                    | Keyword::EXCEPT
            )
    };
    let tokens: Vec<&Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    // Which parentheses are costly: calls, and those with a comma directly
    // inside.
    let mut costly = vec![false; tokens.len()];
    let mut open: Vec<usize> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::LParen => {
                costly[i] = matches!(i.checked_sub(1).map(|p| tokens[p]), Some(Token::Word(w)) if !not_a_call(w));
                open.push(i);
            }
            Token::RParen => {
                open.pop();
            }
            Token::Comma => {
                if let Some(&innermost) = open.last() {
                    costly[innermost] = true;
                }
            }
            _ => {}
        }
    }
    let (mut opened, mut depth, mut deepest) = (Vec::new(), 0usize, 0usize);
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::LParen => {
                opened.push(costly[i]);
                if costly[i] {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
            }
            Token::RParen if opened.pop() == Some(true) => depth -= 1,
            _ => {}
        }
    }
    deepest
}

/// Refuses a statement that nests deeper than [`MAX_NESTING`], or whose
/// function calls nest deeper than [`MAX_CALL_NESTING`].
pub fn check_nesting<'t>(tokens: impl IntoIterator<Item = &'t Token> + Clone) -> Result<()> {
    let calls = call_nesting(tokens.clone());
    if calls > MAX_CALL_NESTING {
        return Err(Error::LimitExceeded {
            limit: Limit::StatementTooComplex,
            message: format!(
                "statement too complex: function calls and parenthesised lists nested {calls} deep exceed the limit of {MAX_CALL_NESTING}"
            ),
        });
    }
    let estimate = nesting_estimate(tokens);
    if estimate > MAX_NESTING {
        return Err(Error::LimitExceeded {
            limit: Limit::StatementTooComplex,
            message: format!(
                "statement too complex: {estimate} nested operators and parentheses exceed the limit of {MAX_NESTING}"
            ),
        });
    }
    Ok(())
}

fn is_trivia(token: &Token) -> bool {
    matches!(token, Token::Whitespace(_))
}

/// Splits `sql` into its statements; empty statements (`;;`) are dropped.
pub fn split_statements(sql: &str) -> Result<Vec<StatementText<'_>>> {
    let index = LocationIndex::new(sql);
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| Error::syntax(e.message, Some(index.position(e.location))))?;

    let mut statements = Vec::new();
    let mut current: Vec<&TokenWithSpan> = Vec::new();
    let mut flush = |current: &mut Vec<&TokenWithSpan>| -> Result<()> {
        if let (Some(first), Some(last)) = (current.first(), current.last()) {
            check_nesting(current.iter().map(|t| &t.token))?;
            let start = index.byte_offset(first.span.start);
            let end = index.byte_offset(last.span.end).max(start);
            let origin = first.span.start;
            statements.push(StatementText {
                text: &sql[start..end],
                char_offset: sql[..start].chars().count(),
                tokens: current.iter().map(|t| t.token.clone()).collect(),
                located: current
                    .iter()
                    .map(|t| {
                        let mut located = (*t).clone();
                        located.span.start = relative_to(origin, t.span.start);
                        located.span.end = relative_to(origin, t.span.end);
                        located
                    })
                    .collect(),
            });
        }
        current.clear();
        Ok(())
    };
    for token in &tokens {
        match &token.token {
            Token::SemiColon => flush(&mut current)?,
            Token::EOF => {}
            t if is_trivia(t) => {}
            _ => current.push(token),
        }
    }
    flush(&mut current)?;
    Ok(statements)
}

/// `location` counted from `origin` instead of the start of the text.
fn relative_to(origin: Location, location: Location) -> Location {
    if location.line == origin.line {
        Location::new(1, location.column.saturating_sub(origin.column) + 1)
    } else {
        Location::new(location.line - origin.line + 1, location.column)
    }
}

/// A statement's tokens with their locations, whitespace and comments
/// dropped; `None` when the text does not tokenize.
pub fn significant_tokens(sql: &str) -> Option<Vec<TokenWithSpan>> {
    Some(
        Tokenizer::new(&PostgreSqlDialect {}, sql)
            .tokenize_with_location()
            .ok()?
            .into_iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_)))
            .collect(),
    )
}

/// `sql` with byte ranges replaced (`(from, to, text)`, in any order,
/// not overlapping); `None` when there are none.
pub fn apply_edits(sql: &str, mut edits: Vec<Edit>) -> Option<String> {
    if edits.is_empty() {
        return None;
    }
    edits.sort_by_key(|e| e.0);
    let mut out = sql.to_string();
    for (from, to, text) in edits.into_iter().rev() {
        out.replace_range(from..to, &text);
    }
    Some(out)
}

/// True when the statement starts with these words (case-insensitive,
/// unquoted).
pub fn starts_with_words(tokens: &[Token], words: &[&str]) -> bool {
    tokens.len() >= words.len()
        && tokens.iter().zip(words).all(|(token, word)| match token {
            Token::Word(w) => w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_top_level_semicolons_only() {
        let sql = "SELECT 'a;b'; -- c;\n SELECT \"x;y\" ;;  /* ; */ SELECT 3";
        let parts: Vec<_> = split_statements(sql)
            .unwrap()
            .into_iter()
            .map(|s| s.text)
            .collect();
        assert_eq!(parts, vec!["SELECT 'a;b'", "SELECT \"x;y\"", "SELECT 3"]);
    }

    #[test]
    fn offsets_count_characters_not_bytes() {
        let sql = "SELECT 'é'; SELECT 2";
        let parts = split_statements(sql).unwrap();
        assert_eq!(parts[1].char_offset, 12);
        assert_eq!(parts[1].text, "SELECT 2");
    }

    #[test]
    fn located_tokens_point_into_their_statement() {
        let sql = "SELECT 1; SELECT 'é',\n  x FROM t";
        let parts = split_statements(sql).unwrap();
        let second = &parts[1];
        let index = LocationIndex::new(second.text);
        let texts: Vec<&str> = second
            .located
            .iter()
            .map(|t| &second.text[index.byte_offset(t.span.start)..index.byte_offset(t.span.end)])
            .collect();
        assert_eq!(texts, vec!["SELECT", "'é'", ",", "x", "FROM", "t"]);
    }

    #[test]
    fn unterminated_string_is_a_syntax_error_with_position() {
        match split_statements("SELECT 1;\nSELECT 'abc") {
            Err(Error::Syntax { position, .. }) => assert_eq!(position, Some(18)),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn word_prefixes_ignore_case_and_reject_quoted_words() {
        let parts = split_statements("create Feature GROUP g").unwrap();
        assert!(starts_with_words(&parts[0].tokens, &["CREATE", "FEATURE"]));
        let parts = split_statements("CREATE \"FEATURE\" x").unwrap();
        assert!(!starts_with_words(&parts[0].tokens, &["CREATE", "FEATURE"]));
    }
}
