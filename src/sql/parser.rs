//! fstore's SQL front door: peek at the first words of each statement; parse
//! fstore's own statements here (reusing sqlparser for the parts) and hand
//! everything else to DataFusion's parser.

use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Location, Token};

use super::ast::{CreateFeatureGroup, FsStatement, Serving};
use super::split::{LocationIndex, StatementText, starts_with_words};
use super::words::{expect_end, expect_word, parse_optional_version_of, parse_word};
use crate::error::{Error, Result};

/// One statement, classified.
#[derive(Debug)]
pub enum Parsed {
    Fstore(Box<FsStatement>),
    Sql(Box<DfStatement>),
    /// Text DataFusion's parser does not accept. It is handed on unchanged:
    /// the Postgres-compatibility layer accepts some client catalog queries
    /// that plain DataFusion SQL does not, and reports the error otherwise.
    /// DataFusion's own syntax error (with its position) is kept in case the
    /// other parser's error has none.
    HandOn(Option<Error>),
}

/// Parses one statement of a query string.
pub fn parse_statement(statement: &StatementText<'_>) -> Result<Parsed> {
    if starts_with_words(&statement.tokens, &["CREATE", "FEATURE", "GROUP"]) {
        let parsed =
            parse_create_feature_group(statement.text).map_err(|e| syntax_error(e, statement))?;
        return Ok(Parsed::Fstore(Box::new(FsStatement::CreateFeatureGroup(
            Box::new(parsed),
        ))));
    }
    use super::ast::ObjectKind;
    use super::feature_views as views;
    let words = |w: &[&str]| starts_with_words(&statement.tokens, w);
    let view_statement = if words(&["CREATE", "FEATURE", "VIEW"]) {
        Some(
            views::parse_create_feature_view(statement.text)
                .map(|s| FsStatement::CreateFeatureView(Box::new(s))),
        )
    } else if words(&["CREATE", "TRAINING", "DATASET"]) {
        Some(
            views::parse_create_training_dataset(statement.text)
                .map(|s| FsStatement::CreateTrainingDataset(Box::new(s))),
        )
    } else {
        [ObjectKind::FeatureView, ObjectKind::TrainingDataset]
            .into_iter()
            .find_map(|kind| {
                let keywords: Vec<&str> = kind.keywords().split(' ').collect();
                let plural: Vec<&str> = kind.plural_keywords().split(' ').collect();
                let prefixed = |first: &str, rest: &[&str]| {
                    let mut all = vec![first];
                    all.extend_from_slice(rest);
                    words(&all)
                };
                if prefixed("SHOW", &plural) {
                    Some(views::parse_show(statement.text, kind).map(|()| FsStatement::Show(kind)))
                } else if prefixed("DESCRIBE", &keywords) {
                    Some(
                        views::parse_describe(statement.text, kind).map(|(name, version)| {
                            FsStatement::Describe {
                                kind,
                                name,
                                version,
                            }
                        }),
                    )
                } else if prefixed("DROP", &keywords) {
                    Some(views::parse_drop(statement.text, kind).map(
                        |(if_exists, name, version)| FsStatement::Drop {
                            kind,
                            if_exists,
                            name,
                            version,
                        },
                    ))
                } else {
                    None
                }
            })
    };
    if let Some(parsed) = view_statement {
        let parsed = parsed.map_err(|e| syntax_error(e, statement))?;
        return Ok(Parsed::Fstore(Box::new(parsed)));
    }
    let ours = if starts_with_words(&statement.tokens, &["COPY"])
        && copies_from_stdin(&statement.tokens)
    {
        Some(parse_copy_from_stdin(statement.text))
    } else if starts_with_words(&statement.tokens, &["COPY"]) && copies_to_stdout(&statement.tokens)
    {
        Some(parse_copy_to_stdout(statement.text))
    } else if starts_with_words(&statement.tokens, &["SHOW", "FEATURE", "GROUPS"]) {
        Some(parse_show_feature_groups(statement.text))
    } else if starts_with_words(&statement.tokens, &["DESCRIBE", "FEATURE", "GROUP"]) {
        Some(parse_describe_feature_group(statement.text))
    } else if starts_with_words(&statement.tokens, &["DROP", "FEATURE", "GROUP"]) {
        Some(parse_drop_feature_group(statement.text))
    } else if starts_with_words(&statement.tokens, &["ALTER", "FEATURE", "GROUP"]) {
        Some(parse_alter_feature_group(statement.text))
    } else if starts_with_words(&statement.tokens, &["COMMENT", "ON", "FEATURE", "GROUP"]) {
        Some(parse_comment_on_feature_group(statement.text))
    } else {
        None
    };
    if let Some(parsed) = ours {
        let parsed = parsed.map_err(|e| syntax_error(e, statement))?;
        return Ok(Parsed::Fstore(Box::new(parsed)));
    }
    match DFParser::parse_sql_with_dialect(statement.text, &PostgreSqlDialect {}) {
        Ok(mut statements) if statements.len() == 1 => {
            Ok(Parsed::Sql(Box::new(statements.pop_front().ok_or_else(
                || Error::Internal("parser returned no statement".into()),
            )?)))
        }
        Ok(_) => Ok(Parsed::HandOn(None)),
        Err(_) if let Some(copy) = server_file_copy(statement) => Ok(Parsed::Sql(Box::new(
            datafusion::sql::parser::Statement::Statement(Box::new(copy)),
        ))),
        Err(e) => match e.find_root() {
            datafusion::error::DataFusionError::SQL(parser_error, _) => Ok(Parsed::HandOn(Some(
                syntax_error(parser_error.as_ref().clone(), statement),
            ))),
            _ => Ok(Parsed::HandOn(None)),
        },
    }
}

/// Turns a sqlparser error into a syntax error whose position counts from
/// the start of the whole query string.
pub fn syntax_error(error: ParserError, statement: &StatementText<'_>) -> Error {
    let message = match error {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => m,
        ParserError::RecursionLimitExceeded => return nested_too_deeply(),
    };
    let (message, location) = split_location(&message);
    let position = location
        .map(|l| LocationIndex::new(statement.text).position(l))
        .map(|p| p + statement.char_offset);
    Error::syntax(postgres_style(&message), position)
}

/// sqlparser's limit on its recursive descent (DataFusion's default).
pub const PARSER_NESTING_LIMIT: usize = 50;

/// 54001 for a statement past the parser's nesting limit.
pub fn nested_too_deeply() -> Error {
    Error::LimitExceeded {
        limit: crate::error::Limit::StatementTooComplex,
        message: format!(
            "statement too complex: nested deeper than the parser's limit of {PARSER_NESTING_LIMIT} levels"
        ),
    }
}

/// sqlparser appends " at Line: L, Column: C" to its messages.
pub fn split_location(message: &str) -> (String, Option<Location>) {
    let Some(at) = message.rfind(" at Line: ") else {
        return (message.to_string(), None);
    };
    let tail = &message[at + " at Line: ".len()..];
    let mut parts = tail.split(", Column: ");
    let line = parts.next().and_then(|l| l.trim().parse::<u64>().ok());
    let column = parts.next().and_then(|c| {
        c.trim_end_matches(|ch: char| !ch.is_ascii_digit())
            .parse::<u64>()
            .ok()
    });
    match (line, column) {
        (Some(line), Some(column)) => {
            (message[..at].to_string(), Some(Location::new(line, column)))
        }
        _ => (message.to_string(), None),
    }
}

/// "Expected: X, found: Y" reads better as Postgres words it.
fn postgres_style(message: &str) -> String {
    match message.split_once(", found: ") {
        Some((expected, found)) if expected.starts_with("Expected: ") => {
            let found = found.trim();
            if found == "EOF" {
                format!(
                    "syntax error at end of input (expected {})",
                    &expected["Expected: ".len()..]
                )
            } else {
                format!(
                    "syntax error at or near \"{found}\" (expected {})",
                    &expected["Expected: ".len()..]
                )
            }
        }
        _ => message.to_string(),
    }
}

/// A Postgres `COPY` with a server file or program — `COPY t FROM 'f'`,
/// `COPY t TO 'f' (FORMAT csv)`, `… PROGRAM 'cmd'`, also under `EXPLAIN
/// [ANALYZE]` — that DataFusion's parser does not know, so that it is
/// refused as a server-file access (42501) rather than as a syntax error.
/// Its `COPY` alone is returned: it is never run, only classified.
fn server_file_copy(
    statement: &StatementText<'_>,
) -> Option<datafusion::sql::sqlparser::ast::Statement> {
    use datafusion::sql::sqlparser::ast::{CopyTarget, Statement};
    let mentions_copy = statement
        .tokens
        .iter()
        .any(|t| matches!(t, Token::Word(w) if w.value.eq_ignore_ascii_case("COPY")));
    if !mentions_copy {
        return None;
    }
    let mut parsed = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(statement.text)
        .ok()?
        .parse_statement()
        .ok()?;
    while let Statement::Explain { statement, .. } = parsed {
        parsed = *statement;
    }
    match &parsed {
        Statement::Copy {
            target: CopyTarget::File { .. } | CopyTarget::Program { .. },
            ..
        } => Some(parsed),
        _ => None,
    }
}

fn copies_from_stdin(tokens: &[Token]) -> bool {
    tokens.windows(2).any(|pair| {
        matches!((&pair[0], &pair[1]), (Token::Word(a), Token::Word(b))
            if a.value.eq_ignore_ascii_case("FROM") && b.value.eq_ignore_ascii_case("STDIN"))
    })
}

fn copies_to_stdout(tokens: &[Token]) -> bool {
    tokens.windows(2).any(|pair| {
        matches!((&pair[0], &pair[1]), (Token::Word(a), Token::Word(b))
            if a.value.eq_ignore_ascii_case("TO") && b.value.eq_ignore_ascii_case("STDOUT"))
    })
}

fn parse_copy_to_stdout(sql: &str) -> Result<FsStatement, ParserError> {
    use datafusion::sql::sqlparser::ast::{CopyTarget, Statement};
    let mut parser = Parser::new(&PostgreSqlDialect {}).try_with_sql(sql)?;
    let statement = parser.parse_statement()?;
    let _ = parser.consume_token(&Token::SemiColon);
    expect_end(&mut parser)?;
    match &statement {
        Statement::Copy {
            to: true,
            target: CopyTarget::Stdout,
            ..
        } => Ok(FsStatement::CopyToStdout(Box::new(statement))),
        _ => Err(ParserError::ParserError(
            "COPY … TO STDOUT needs a table name or a query".into(),
        )),
    }
}

fn parse_copy_from_stdin(sql: &str) -> Result<FsStatement, ParserError> {
    use datafusion::sql::sqlparser::ast::{CopySource, CopyTarget, Statement};
    let mut parser = Parser::new(&PostgreSqlDialect {}).try_with_sql(sql)?;
    let statement = parser.parse_statement()?;
    let _ = parser.consume_token(&Token::SemiColon);
    expect_end(&mut parser)?;
    match &statement {
        Statement::Copy {
            source: CopySource::Table { .. },
            to: false,
            target: CopyTarget::Stdin,
            ..
        } => Ok(FsStatement::CopyFromStdin(Box::new(statement))),
        _ => Err(ParserError::ParserError(
            "COPY … FROM STDIN needs a table name".into(),
        )),
    }
}

fn parse_optional_version(parser: &mut Parser<'_>) -> Result<Option<u64>, ParserError> {
    parse_optional_version_of(parser, "feature group")
}

fn feature_group_prefix(sql: &str, first: &str) -> Result<Parser<'static>, ParserError> {
    let mut parser = Parser::new(&PostgreSqlDialect {}).try_with_sql(sql)?;
    expect_word(&mut parser, first)?;
    Ok(parser)
}

fn parse_show_feature_groups(sql: &str) -> Result<FsStatement, ParserError> {
    let mut parser = feature_group_prefix(sql, "SHOW")?;
    expect_word(&mut parser, "FEATURE")?;
    expect_word(&mut parser, "GROUPS")?;
    expect_end(&mut parser)?;
    Ok(FsStatement::ShowFeatureGroups)
}

fn parse_describe_feature_group(sql: &str) -> Result<FsStatement, ParserError> {
    let mut parser = feature_group_prefix(sql, "DESCRIBE")?;
    expect_word(&mut parser, "FEATURE")?;
    expect_word(&mut parser, "GROUP")?;
    let name = parser.parse_object_name(false)?;
    let version = parse_optional_version(&mut parser)?;
    expect_end(&mut parser)?;
    Ok(FsStatement::DescribeFeatureGroup { name, version })
}

fn parse_drop_feature_group(sql: &str) -> Result<FsStatement, ParserError> {
    let mut parser = feature_group_prefix(sql, "DROP")?;
    expect_word(&mut parser, "FEATURE")?;
    expect_word(&mut parser, "GROUP")?;
    let if_exists = parser.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    let version = parse_optional_version(&mut parser)?;
    expect_end(&mut parser)?;
    Ok(FsStatement::DropFeatureGroup {
        if_exists,
        name,
        version,
    })
}

fn parse_alter_feature_group(sql: &str) -> Result<FsStatement, ParserError> {
    let mut parser = feature_group_prefix(sql, "ALTER")?;
    expect_word(&mut parser, "FEATURE")?;
    expect_word(&mut parser, "GROUP")?;
    let name = parser.parse_object_name(false)?;
    let version = parse_optional_version(&mut parser)?;
    expect_word(&mut parser, "REBUILD")?;
    expect_word(&mut parser, "ONLINE")?;
    expect_end(&mut parser)?;
    Ok(FsStatement::RebuildOnline { name, version })
}

fn parse_comment_on_feature_group(sql: &str) -> Result<FsStatement, ParserError> {
    let mut parser = feature_group_prefix(sql, "COMMENT")?;
    expect_word(&mut parser, "ON")?;
    expect_word(&mut parser, "FEATURE")?;
    expect_word(&mut parser, "GROUP")?;
    let name = parser.parse_object_name(false)?;
    let version = parse_optional_version(&mut parser)?;
    parser.expect_keyword(Keyword::IS)?;
    let comment = if parser.parse_keyword(Keyword::NULL) {
        None
    } else {
        Some(parser.parse_literal_string()?)
    };
    expect_end(&mut parser)?;
    Ok(FsStatement::CommentOnFeatureGroup {
        name,
        version,
        comment,
    })
}

fn parse_create_feature_group(sql: &str) -> Result<CreateFeatureGroup, ParserError> {
    let mut parser = Parser::new(&PostgreSqlDialect {}).try_with_sql(sql)?;
    parser.expect_keyword(Keyword::CREATE)?;
    expect_word(&mut parser, "FEATURE")?;
    parser.expect_keyword(Keyword::GROUP)?;
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    let version = parse_optional_version(&mut parser)?;

    let mut group = CreateFeatureGroup {
        if_not_exists,
        name,
        version,
        columns: Vec::new(),
        primary_key: Vec::new(),
        event_time: None,
        serving: None,
        ttl: None,
        comment: None,
        options: Vec::new(),
        query: None,
    };

    if parser.consume_token(&Token::LParen) {
        loop {
            if parser.parse_keywords(&[Keyword::PRIMARY, Keyword::KEY]) {
                if !group.primary_key.is_empty() {
                    return Err(ParserError::ParserError(
                        "multiple PRIMARY KEY clauses are not allowed".into(),
                    ));
                }
                group.primary_key = parser.parse_parenthesized_column_list(
                    datafusion::sql::sqlparser::parser::IsOptional::Mandatory,
                    false,
                )?;
            } else if parse_word(&mut parser, "EVENT") {
                expect_word(&mut parser, "TIME")?;
                parser.expect_token(&Token::LParen)?;
                group.event_time = Some(parser.parse_identifier()?);
                parser.expect_token(&Token::RParen)?;
            } else {
                group.columns.push(parser.parse_column_def()?);
            }
            if parser.consume_token(&Token::Comma) {
                continue;
            }
            parser.expect_token(&Token::RParen)?;
            break;
        }
    }

    loop {
        if parse_word(&mut parser, "ONLINE") {
            group.serving = Some(Serving::Online);
        } else if parse_word(&mut parser, "OFFLINE") {
            group.serving = Some(Serving::Offline);
        } else if parse_word(&mut parser, "TTL") {
            group.ttl = Some(parser.parse_expr()?);
        } else if parser.parse_keyword(Keyword::COMMENT) {
            group.comment = Some(parser.parse_literal_string()?);
        } else if parser.peek_keyword(Keyword::WITH) {
            group.options = parser.parse_options(Keyword::WITH)?;
        } else {
            break;
        }
    }
    if parser.parse_keyword(Keyword::AS) {
        group.query = Some(parser.parse_query()?);
    }
    expect_end(&mut parser)?;
    if group.query.is_none() && group.columns.is_empty() {
        return Err(ParserError::ParserError(
            "a feature group needs a column list or AS query".into(),
        ));
    }
    Ok(group)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::split::split_statements;

    fn parse_one(sql: &str) -> Result<Parsed> {
        let statements = split_statements(sql)?;
        parse_statement(&statements[0])
    }

    #[test]
    fn create_feature_group_round_trips_through_display() {
        let sql = "CREATE FEATURE GROUP IF NOT EXISTS transactions VERSION 2 (\
                   cc_num BIGINT NOT NULL, trans_ts TIMESTAMP NOT NULL, amount DOUBLE PRECISION, \
                   PRIMARY KEY (cc_num), EVENT TIME (trans_ts)) ONLINE TTL INTERVAL '30 days' \
                   COMMENT 'card''s transactions' WITH (owner = 'risk')";
        let Parsed::Fstore(first) = parse_one(sql).unwrap() else {
            panic!("not recognised as an fstore statement");
        };
        let printed = first.to_string();
        let Parsed::Fstore(second) = parse_one(&printed).unwrap() else {
            panic!("printed form is not an fstore statement: {printed}");
        };
        assert_eq!(first, second);
        let FsStatement::CreateFeatureGroup(group) = *first else {
            panic!("not a CREATE FEATURE GROUP");
        };
        assert_eq!(group.version, Some(2));
        assert_eq!(group.columns.len(), 3);
        assert_eq!(group.primary_key[0].value, "cc_num");
        assert_eq!(group.event_time.unwrap().value, "trans_ts");
        assert_eq!(group.serving, Some(Serving::Online));
        assert_eq!(group.comment.as_deref(), Some("card's transactions"));
    }

    #[test]
    fn create_feature_group_as_select_parses() {
        let Parsed::Fstore(statement) =
            parse_one("create feature group g as select 1 as k").unwrap()
        else {
            panic!("not parsed");
        };
        let FsStatement::CreateFeatureGroup(group) = *statement else {
            panic!("not a CREATE FEATURE GROUP");
        };
        assert!(group.query.is_some());
    }

    #[test]
    fn errors_carry_the_position_in_the_whole_query() {
        let sql = "SELECT 1; CREATE FEATURE GROUP g (k INT,, PRIMARY KEY (k))";
        let statements = split_statements(sql).unwrap();
        match parse_statement(&statements[1]) {
            Err(Error::Syntax { message, position }) => {
                assert_eq!(position, Some(41), "{message}");
                assert!(
                    message.contains("syntax error at or near \",\""),
                    "{message}"
                );
            }
            other => panic!("expected syntax error, got {other:?}"),
        }
    }

    #[test]
    fn feature_group_statements_round_trip() {
        for sql in [
            "SHOW FEATURE GROUPS",
            "DESCRIBE FEATURE GROUP fs1.g VERSION 2",
            "DROP FEATURE GROUP IF EXISTS g",
            "DROP FEATURE GROUP g VERSION 3",
            "COMMENT ON FEATURE GROUP g IS 'it''s here'",
            "COMMENT ON FEATURE GROUP g VERSION 1 IS NULL",
        ] {
            let Parsed::Fstore(parsed) = parse_one(sql).unwrap() else {
                panic!("{sql} is not an fstore statement");
            };
            assert_eq!(parsed.to_string(), sql);
        }
    }

    #[test]
    fn other_statements_go_to_datafusion() {
        assert!(matches!(parse_one("SELECT 1").unwrap(), Parsed::Sql(_)));
        assert!(matches!(
            parse_one("SELECT 1 OPERATOR(pg_catalog.~) 2 @@@").unwrap(),
            Parsed::HandOn(_) | Parsed::Sql(_)
        ));
    }
}

#[cfg(test)]
mod passthrough_tests {
    use super::*;
    use crate::sql::split::split_statements;

    #[test]
    fn datafusion_syntax_errors_are_kept_with_their_position() {
        let statements = split_statements("SELECT * FRM t").unwrap();
        match parse_statement(&statements[0]).unwrap() {
            Parsed::HandOn(Some(Error::Syntax { position, message })) => {
                assert_eq!(position, Some(14), "{message}");
            }
            other => panic!("expected a kept syntax error, got {other:?}"),
        }
    }
}
