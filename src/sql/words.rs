//! Small parsing steps our statements share: fstore's own keywords are
//! plain words to sqlparser, so they are matched here, case-insensitively
//! and never when quoted.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

pub fn parse_word(parser: &mut Parser<'_>, word: &str) -> bool {
    match &parser.peek_token().token {
        Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word) => {
            parser.next_token();
            true
        }
        _ => false,
    }
}

pub fn expect_word(parser: &mut Parser<'_>, word: &str) -> Result<(), ParserError> {
    if parse_word(parser, word) {
        Ok(())
    } else {
        parser.expected(word, parser.peek_token())
    }
}

pub fn expect_end(parser: &mut Parser<'_>) -> Result<(), ParserError> {
    if parser.peek_token().token != Token::EOF {
        return parser.expected("end of statement", parser.peek_token());
    }
    Ok(())
}

/// `[VERSION n]` after the name of a versioned `object` ("feature group", …).
pub fn parse_optional_version_of(
    parser: &mut Parser<'_>,
    object: &str,
) -> Result<Option<u64>, ParserError> {
    if parser.parse_keyword(Keyword::VERSION) {
        let version = parser.parse_literal_uint()?;
        if version == 0 {
            return Err(ParserError::ParserError(format!(
                "{object} versions start at 1"
            )));
        }
        Ok(Some(version))
    } else {
        Ok(None)
    }
}

pub fn expect_words(parser: &mut Parser<'_>, words: &str) -> Result<(), ParserError> {
    for word in words.split(' ') {
        if !parse_word(parser, word) {
            return parser.expected(word, parser.peek_token());
        }
    }
    Ok(())
}

pub fn parser_for(sql: &str) -> Result<Parser<'static>, ParserError> {
    Parser::new(&PostgreSqlDialect {}).try_with_sql(sql)
}
