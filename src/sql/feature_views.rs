//! Parsers of the statements for feature views and the training datasets
//! made from them (their AST, with `Display`, is in `sql::ast`).
//!
//! ```sql
//! CREATE FEATURE VIEW [IF NOT EXISTS] name [VERSION n] [COMMENT '…'] AS query [LABELS (col, …)]
//! CREATE TRAINING DATASET [IF NOT EXISTS] name [VERSION n] FROM view [VERSION m]
//!     [WHERE condition]
//!     [SPLIT RANDOM (train 0.8, test 0.2) [SEED n] | SPLIT BY TIME (train < '…', test >= '…')]
//!     [COMMENT '…']
//! SHOW FEATURE VIEWS | SHOW TRAINING DATASETS
//! DESCRIBE FEATURE VIEW name [VERSION n] | DESCRIBE TRAINING DATASET name [VERSION n]
//! DROP FEATURE VIEW [IF EXISTS] name [VERSION n] | DROP TRAINING DATASET [IF EXISTS] name [VERSION n]
//! ```

use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Ident, ObjectName};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use super::ast::{CreateFeatureView, CreateTrainingDataset, ObjectKind, Split};
use super::words::{expect_end, expect_words, parse_optional_version_of, parse_word, parser_for};

/// `[VERSION n]` after a feature view's or training dataset's name.
fn parse_optional_version(parser: &mut Parser<'_>) -> Result<Option<u64>, ParserError> {
    parse_optional_version_of(parser, "feature view and training dataset")
}

/// Splits a trailing `LABELS (a, b)` off a statement's text: inside the
/// query it would be taken for a table alias.
fn split_labels(sql: &str) -> Result<(&str, Vec<Ident>), ParserError> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| ParserError::TokenizerError(e.to_string()))?;
    let significant: Vec<_> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_) | Token::SemiColon))
        .collect();
    let Some(open) = significant.iter().rposition(|t| {
        matches!(&t.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("LABELS"))
    }) else {
        return Ok((sql, Vec::new()));
    };
    let rest = &significant[open + 1..];
    let mut labels = Vec::new();
    let well_formed = rest.first().is_some_and(|t| t.token == Token::LParen)
        && rest.last().is_some_and(|t| t.token == Token::RParen)
        && rest[1..rest.len() - 1]
            .iter()
            .enumerate()
            .all(|(i, t)| match &t.token {
                Token::Word(w) if i % 2 == 0 => {
                    labels.push(if w.quote_style.is_some() {
                        Ident::with_quote('"', w.value.clone())
                    } else {
                        Ident::new(w.value.clone())
                    });
                    true
                }
                Token::Comma => i % 2 == 1,
                _ => false,
            });
    if !well_formed || labels.is_empty() {
        return Ok((sql, Vec::new()));
    }
    let index = super::split::LocationIndex::new(sql);
    let cut = index.byte_offset(significant[open].span.start);
    Ok((&sql[..cut], labels))
}

pub fn parse_create_feature_view(sql: &str) -> Result<CreateFeatureView, ParserError> {
    let (body, labels) = split_labels(sql)?;
    let mut parser = parser_for(body)?;
    expect_words(&mut parser, "CREATE FEATURE VIEW")?;
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    let version = parse_optional_version(&mut parser)?;
    let comment = if parser.parse_keyword(Keyword::COMMENT) {
        Some(parser.parse_literal_string()?)
    } else {
        None
    };
    parser.expect_keyword(Keyword::AS)?;
    let query = parser.parse_query()?;
    expect_end(&mut parser)?;
    Ok(CreateFeatureView {
        if_not_exists,
        name,
        version,
        comment,
        query,
        labels,
    })
}

pub fn parse_create_training_dataset(sql: &str) -> Result<CreateTrainingDataset, ParserError> {
    let mut parser = parser_for(sql)?;
    expect_words(&mut parser, "CREATE TRAINING DATASET")?;
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    let version = parse_optional_version(&mut parser)?;
    parser.expect_keyword(Keyword::FROM)?;
    let view = parser.parse_object_name(false)?;
    let view_version = parse_optional_version(&mut parser)?;
    let filter = if parser.parse_keyword(Keyword::WHERE) {
        Some(parser.parse_expr()?)
    } else {
        None
    };
    let split = if parse_word(&mut parser, "SPLIT") {
        Some(parse_split(&mut parser)?)
    } else {
        None
    };
    let comment = if parser.parse_keyword(Keyword::COMMENT) {
        Some(parser.parse_literal_string()?)
    } else {
        None
    };
    expect_end(&mut parser)?;
    Ok(CreateTrainingDataset {
        if_not_exists,
        name,
        version,
        view,
        view_version,
        filter,
        split,
        comment,
    })
}

fn parse_split(parser: &mut Parser<'_>) -> Result<Split, ParserError> {
    if parse_word(parser, "RANDOM") {
        parser.expect_token(&Token::LParen)?;
        let mut fractions = Vec::new();
        loop {
            let name = parser.parse_identifier()?;
            let fraction = match parser.parse_number_value()?.value {
                datafusion::sql::sqlparser::ast::Value::Number(n, _) => {
                    n.parse::<f64>().map_err(|e| {
                        ParserError::ParserError(format!("bad split fraction {n}: {e}"))
                    })?
                }
                other => {
                    return Err(ParserError::ParserError(format!(
                        "a split fraction must be a number, not {other}"
                    )));
                }
            };
            fractions.push((name, fraction));
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
        parser.expect_token(&Token::RParen)?;
        let seed = if parse_word(parser, "SEED") {
            parser.parse_literal_uint()?
        } else {
            0
        };
        return Ok(Split::Random { fractions, seed });
    }
    expect_words(parser, "BY TIME")?;
    parser.expect_token(&Token::LParen)?;
    let mut parts = Vec::new();
    loop {
        match parser.parse_expr()? {
            Expr::BinaryOp { left, op, right } if matches!(*left, Expr::Identifier(_)) => {
                let Expr::Identifier(name) = *left else {
                    unreachable!("checked by the guard")
                };
                if !matches!(
                    op,
                    BinaryOperator::Lt
                        | BinaryOperator::LtEq
                        | BinaryOperator::Gt
                        | BinaryOperator::GtEq
                ) {
                    return Err(ParserError::ParserError(format!(
                        "SPLIT BY TIME compares with <, <=, > or >=, not {op}"
                    )));
                }
                parts.push((name, op, *right));
            }
            other => {
                return Err(ParserError::ParserError(format!(
                    "SPLIT BY TIME takes `split_name < 'time'` items, not {other}"
                )));
            }
        }
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    Ok(Split::ByTime { parts })
}

pub fn parse_show(sql: &str, kind: ObjectKind) -> Result<(), ParserError> {
    let mut parser = parser_for(sql)?;
    expect_words(&mut parser, "SHOW")?;
    expect_words(&mut parser, kind.plural_keywords())?;
    expect_end(&mut parser)
}

pub fn parse_describe(
    sql: &str,
    kind: ObjectKind,
) -> Result<(ObjectName, Option<u64>), ParserError> {
    let mut parser = parser_for(sql)?;
    expect_words(&mut parser, "DESCRIBE")?;
    expect_words(&mut parser, kind.keywords())?;
    let name = parser.parse_object_name(false)?;
    let version = parse_optional_version(&mut parser)?;
    expect_end(&mut parser)?;
    Ok((name, version))
}

pub fn parse_drop(
    sql: &str,
    kind: ObjectKind,
) -> Result<(bool, ObjectName, Option<u64>), ParserError> {
    let mut parser = parser_for(sql)?;
    expect_words(&mut parser, "DROP")?;
    expect_words(&mut parser, kind.keywords())?;
    let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    let version = parse_optional_version(&mut parser)?;
    expect_end(&mut parser)?;
    Ok((if_exists, name, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_feature_view_round_trips() {
        let sql = "CREATE FEATURE VIEW IF NOT EXISTS fraud VERSION 2 COMMENT 'x' AS \
                   SELECT t.k, t.ts, p.age, t.label FROM tx AS t ASOF JOIN p MATCH_CONDITION (t.ts >= p.ts) ON t.k = p.k \
                   LABELS (label)";
        let parsed = parse_create_feature_view(sql).unwrap();
        assert_eq!(parsed.labels, vec![Ident::new("label")]);
        assert_eq!(parsed.version, Some(2));
        let again = parse_create_feature_view(&parsed.to_string()).unwrap();
        assert_eq!(parsed, again);
        let plain = parse_create_feature_view("CREATE FEATURE VIEW v AS SELECT * FROM g").unwrap();
        assert!(plain.labels.is_empty());
    }

    #[test]
    fn create_training_dataset_round_trips() {
        for sql in [
            "CREATE TRAINING DATASET td FROM fraud",
            "CREATE TRAINING DATASET IF NOT EXISTS td VERSION 3 FROM fraud VERSION 1 WHERE ts < '2026-06-01' \
             SPLIT RANDOM (train 0.8, test 0.2) SEED 42 COMMENT 'first'",
            "CREATE TRAINING DATASET td FROM fraud SPLIT BY TIME (train < '2026-03-01', test >= '2026-03-01')",
        ] {
            let parsed = parse_create_training_dataset(sql).unwrap();
            let again = parse_create_training_dataset(&parsed.to_string()).unwrap();
            assert_eq!(parsed, again, "{sql}");
        }
        assert!(
            parse_create_training_dataset(
                "CREATE TRAINING DATASET td FROM v SPLIT BY TIME (train = 1)"
            )
            .is_err()
        );
    }
}
