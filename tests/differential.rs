//! fstore against a real PostgreSQL 15, query by query: the corpus in
//! `tests/differential/corpus.sql` runs on both over the wire, and each
//! answer's column names, type OIDs (from the extended protocol's
//! Describe), text values (simple protocol) and SQLSTATE must be the same.
//! `tests/differential/allowed.txt` lists the intended differences, each
//! with its reason; an entry that no longer differs fails too, so the list
//! only shrinks honestly.

mod common;

use std::collections::BTreeMap;
use std::fmt;

use common::TestServer;
use common::postgres::Postgres;
use tokio_postgres::{Client, SimpleQueryMessage};

const CORPUS: &str = include_str!("differential/corpus.sql");
const ALLOWED: &str = include_str!("differential/allowed.txt");

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Aspect {
    Error,
    Names,
    Types,
    Values,
}

impl Aspect {
    fn parse(word: &str) -> Aspect {
        match word {
            "error" => Aspect::Error,
            "names" => Aspect::Names,
            "types" => Aspect::Types,
            "values" => Aspect::Values,
            other => panic!("allowed.txt: unknown aspect {other:?}"),
        }
    }
}

impl fmt::Display for Aspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Aspect::Error => "error",
            Aspect::Names => "names",
            Aspect::Types => "types",
            Aspect::Values => "values",
        })
    }
}

#[derive(Debug, PartialEq)]
enum Answer {
    Rows {
        names: Vec<String>,
        described_names: Vec<String>,
        oids: Vec<u32>,
        rows: Vec<Vec<Option<String>>>,
    },
    Failed(String),
}

fn state_of(error: &tokio_postgres::Error) -> String {
    error
        .code()
        .map(|code| code.code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE ({error})"))
}

async fn answer(client: &Client, query: &str) -> Answer {
    let described = match client.prepare(query).await {
        Ok(statement) => statement,
        Err(e) => return Answer::Failed(state_of(&e)),
    };
    let messages = match client.simple_query(query).await {
        Ok(messages) => messages,
        Err(e) => return Answer::Failed(state_of(&e)),
    };
    let mut names = Vec::new();
    let mut rows = Vec::new();
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(columns) => {
                names = columns.iter().map(|c| c.name().to_string()).collect();
            }
            SimpleQueryMessage::Row(row) => rows.push(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => {}
        }
    }
    Answer::Rows {
        names,
        described_names: described
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect(),
        oids: described
            .columns()
            .iter()
            .map(|c| c.type_().oid())
            .collect(),
        rows,
    }
}

/// What differs between two answers, aspect by aspect. Without an ORDER BY
/// neither server promises an order (DataFusion's UNION ALL branches run in
/// parallel), so rows are then compared as a multiset.
fn differences(query: &str, expected: &Answer, actual: &Answer) -> Vec<(Aspect, String)> {
    match (expected, actual) {
        (Answer::Failed(a), Answer::Failed(b)) if a == b => vec![],
        (Answer::Failed(_), _) | (_, Answer::Failed(_)) => {
            vec![(
                Aspect::Error,
                format!("PostgreSQL {expected:?}, fstore {actual:?}"),
            )]
        }
        (
            Answer::Rows {
                names: pg_names,
                described_names: pg_described,
                oids: pg_oids,
                rows: pg_rows,
            },
            Answer::Rows {
                names,
                described_names,
                oids,
                rows,
            },
        ) => {
            let mut found = Vec::new();
            if pg_names != names || pg_described != described_names {
                found.push((
                    Aspect::Names,
                    format!(
                        "PostgreSQL {pg_names:?}, fstore {names:?} (described {described_names:?})"
                    ),
                ));
            }
            if pg_oids != oids {
                found.push((
                    Aspect::Types,
                    format!("PostgreSQL {pg_oids:?}, fstore {oids:?}"),
                ));
            }
            let ordered = query.to_ascii_uppercase().contains("ORDER BY");
            let sorted = |rows: &Vec<Vec<Option<String>>>| {
                let mut rows = rows.clone();
                rows.sort();
                rows
            };
            if pg_rows != rows && (ordered || sorted(pg_rows) != sorted(rows)) {
                found.push((
                    Aspect::Values,
                    format!("PostgreSQL {pg_rows:?}, fstore {rows:?}"),
                ));
            }
            found
        }
    }
}

/// `query:` / `differs:` / `reason:` blocks, blank-line separated.
fn allowed() -> BTreeMap<(String, Aspect), String> {
    let mut allowed = BTreeMap::new();
    for block in ALLOWED.split("\n\n") {
        let mut query = None;
        let mut aspects = Vec::new();
        let mut reason = None;
        for line in block.lines().filter(|l| !l.starts_with('#')) {
            if let Some(q) = line.strip_prefix("query: ") {
                query = Some(q.trim().to_string());
            } else if let Some(a) = line.strip_prefix("differs: ") {
                aspects = a.split(',').map(|w| Aspect::parse(w.trim())).collect();
            } else if let Some(r) = line.strip_prefix("reason: ") {
                reason = Some(r.trim().to_string());
            } else if !line.trim().is_empty() {
                panic!("allowed.txt: unexpected line {line:?}");
            }
        }
        let Some(query) = query else { continue };
        let reason = reason.unwrap_or_else(|| panic!("allowed.txt: {query:?} has no reason"));
        assert!(
            !aspects.is_empty(),
            "allowed.txt: {query:?} names no aspect"
        );
        for aspect in aspects {
            allowed.insert((query.clone(), aspect), reason.clone());
        }
    }
    allowed
}

/// Corpus lines: `@setup <statement>` runs on both first and must succeed;
/// every other non-comment line is one query to compare.
fn corpus() -> (Vec<&'static str>, Vec<&'static str>) {
    let mut setup = Vec::new();
    let mut queries = Vec::new();
    for line in CORPUS.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("--") {
            continue;
        }
        match line.strip_prefix("@setup ") {
            Some(statement) => setup.push(statement),
            None => queries.push(line),
        }
    }
    (setup, queries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fstore_answers_as_postgresql_15_does() {
    let postgres = Postgres::start();
    let server = TestServer::start().await;
    let reference = postgres.connect().await;
    let fstore = server.connect().await;
    let (setup, queries) = corpus();
    for statement in &setup {
        reference
            .batch_execute(statement)
            .await
            .unwrap_or_else(|e| panic!("setup on PostgreSQL: {statement}: {e}"));
        fstore
            .batch_execute(statement)
            .await
            .unwrap_or_else(|e| panic!("setup on fstore: {statement}: {e}"));
    }
    let allowed = allowed();
    let mut unexpected = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    let mut matched = 0;
    for query in &queries {
        let expected = answer(&reference, query).await;
        let actual = answer(&fstore, query).await;
        let found = differences(query, &expected, &actual);
        if found.is_empty() {
            matched += 1;
        }
        for (aspect, detail) in found {
            let key = (query.to_string(), aspect);
            if allowed.contains_key(&key) {
                used.insert(key);
            } else {
                unexpected.push(format!("{query}\n    {aspect}: {detail}"));
            }
        }
    }
    let stale: Vec<_> = allowed
        .keys()
        .filter(|key| !used.contains(*key))
        .map(|(query, aspect)| format!("{query} ({aspect})"))
        .collect();
    eprintln!(
        "differential: {} queries, {matched} identical, {} allowed differences",
        queries.len(),
        used.len()
    );
    assert!(
        unexpected.is_empty() && stale.is_empty(),
        "{} unexpected differences from PostgreSQL 15:\n{}\n\n{} allow-list entries no longer differ:\n{}",
        unexpected.len(),
        unexpected.join("\n"),
        stale.len(),
        stale.join("\n")
    );
}
