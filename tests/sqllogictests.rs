//! Runs every `sqllogictest/**/*.slt` file against a fresh fstore server,
//! over the Postgres wire protocol (tokio-postgres, simple query protocol).
//!
//! ```text
//! cargo test --test sqllogictests                 # run all files
//! cargo test --test sqllogictests -- errors       # files whose path contains "errors"
//! cargo test --test sqllogictests -- --complete   # rewrite expected output
//! ```
//!
//! Errors are reported as `<SQLSTATE>: <message>`, so `statement error` and
//! `query error` regexes can match the code, the message, or both. The
//! harness understands one directive of its own: a statement that is exactly
//! `RESTART` stops the server gracefully and starts it again on the same
//! data directory, then reconnects.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use common::TestServer;
use sqllogictest::{DBOutput, DefaultColumnType};
use tokio::sync::Mutex;
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::types::Type;

#[derive(Debug)]
struct WireError(String);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

impl From<tokio_postgres::Error> for WireError {
    fn from(error: tokio_postgres::Error) -> Self {
        match error.as_db_error() {
            Some(db) => WireError(format!("{}: {}", db.code().code(), db.message())),
            None => WireError(error.to_string()),
        }
    }
}

struct FstoreConnection {
    server: Arc<Mutex<TestServer>>,
    client: tokio_postgres::Client,
}

fn column_type(ty: &Type) -> DefaultColumnType {
    match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 => DefaultColumnType::Integer,
        Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => DefaultColumnType::FloatingPoint,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DefaultColumnType::Text,
        _ => DefaultColumnType::Any,
    }
}

#[async_trait]
impl sqllogictest::AsyncDB for FstoreConnection {
    type Error = WireError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<Self::ColumnType>, Self::Error> {
        if sql.trim() == "RESTART" {
            let mut server = self.server.lock().await;
            server.restart().await;
            self.client = server.connect().await;
            return Ok(DBOutput::StatementComplete(0));
        }
        let messages = self.client.simple_query(sql).await?;
        let mut rows = Vec::new();
        let mut described = false;
        let mut affected = 0;
        for message in messages {
            match message {
                SimpleQueryMessage::RowDescription(_) => described = true,
                SimpleQueryMessage::Row(row) => {
                    rows.push(
                        (0..row.len())
                            .map(|i| match row.get(i) {
                                None => "NULL".to_string(),
                                Some("") => "(empty)".to_string(),
                                Some(value) => value.to_string(),
                            })
                            .collect(),
                    );
                }
                SimpleQueryMessage::CommandComplete(n) => affected = n,
                _ => {}
            }
        }
        if !described {
            return Ok(DBOutput::StatementComplete(affected));
        }
        // Column types only label `query` records in --complete mode.
        let types = match self.client.prepare(sql).await {
            Ok(statement) => statement
                .columns()
                .iter()
                .map(|c| column_type(c.type_()))
                .collect(),
            Err(_) => vec![DefaultColumnType::Any; rows.first().map_or(0, Vec::len)],
        };
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "fstore"
    }

    async fn sleep(duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

fn slt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            slt_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "slt") {
            out.push(path);
        }
    }
}

async fn run_file(path: &Path, complete: bool) -> Result<(), String> {
    let server = Arc::new(Mutex::new(TestServer::start().await));
    let make = {
        let server = server.clone();
        move || {
            let server = server.clone();
            async move {
                let client = server.lock().await.connect().await;
                Ok::<_, WireError>(FstoreConnection { server, client })
            }
        }
    };
    let mut runner = sqllogictest::Runner::new(make);
    runner.with_column_validator(sqllogictest::default_column_validator);
    let result = if complete {
        runner
            .update_test_file(
                path,
                " ",
                sqllogictest::default_validator,
                sqllogictest::default_normalizer,
                sqllogictest::default_column_validator,
            )
            .await
            .map_err(|e| e.to_string())
    } else {
        runner
            .run_file_async(path)
            .await
            .map_err(|e| e.display(true).to_string())
    };
    server.lock().await.stop().await;
    result
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let complete = args.iter().any(|a| a == "--complete");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sqllogictest");
    let mut files = Vec::new();
    slt_files(&root, &mut files);
    files.sort();
    files.retain(|f| {
        filters.is_empty()
            || filters
                .iter()
                .any(|filter| f.to_string_lossy().contains(filter.as_str()))
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut passed = 0;
    let mut failed = 0;
    for file in &files {
        let name = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        match runtime.block_on(run_file(file, complete)) {
            Ok(()) => {
                passed += 1;
                println!("sqllogictest {name} ... ok");
            }
            Err(e) => {
                failed += 1;
                println!("sqllogictest {name} ... FAILED\n{e}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 || files.is_empty() {
        std::process::exit(1);
    }
}
