//! No file access by any back door (issue 13): without `--allow-file-access`
//! every statement kind that could read or write a server path is refused,
//! in both protocols, with its SQLSTATE; nothing is written, and no answer
//! carries a byte of the file it named.

mod common;

use common::{TestServer, sqlstate};

/// What the attempts read: a file the server process could open.
const CANARY: &str = "canary-3f7a-server-secret";

#[tokio::test]
async fn every_way_to_a_server_file_is_refused() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (a TEXT, b TEXT)")
        .await
        .unwrap();
    let dir = server.dir.path();
    let secret = dir.join("secret.csv");
    std::fs::write(&secret, format!("{CANARY},x\n")).unwrap();
    let secret = secret.display().to_string();
    let target = dir.join("written.csv").display().to_string();
    let target_dir = dir.join("written").display().to_string();

    let reads = [
        // URL and path table names.
        (format!("SELECT * FROM '{secret}'"), "42P01"),
        (format!("SELECT * FROM 'file://{secret}'"), "42P01"),
        (format!("SELECT * FROM \"{secret}\""), "42P01"),
        (format!("SELECT * FROM t, '{secret}' AS s"), "42P01"),
        (
            format!("WITH c AS (SELECT * FROM '{secret}') SELECT * FROM c"),
            "42P01",
        ),
        (format!("DESCRIBE '{secret}'"), "42P01"),
        (format!("EXPLAIN SELECT * FROM '{secret}'"), "42P01"),
        (format!("EXPLAIN ANALYZE SELECT * FROM '{secret}'"), "42P01"),
        // Writes that read a path.
        (
            format!("CREATE VIEW v AS SELECT * FROM '{secret}'"),
            "42P01",
        ),
        (format!("INSERT INTO t SELECT * FROM '{secret}'"), "42P01"),
        (
            format!("CREATE TABLE c AS SELECT * FROM '{secret}'"),
            "42P01",
        ),
        (
            format!("CREATE FEATURE GROUP x (PRIMARY KEY (a)) AS SELECT * FROM '{secret}'"),
            "42P01",
        ),
        // Table functions that read files elsewhere (DuckDB's, DataFusion
        // CLI's) do not exist here: DataFusion says 42000.
        (format!("SELECT * FROM read_csv('{secret}')"), "42000"),
        (format!("SELECT * FROM read_parquet('{secret}')"), "42000"),
        (format!("SELECT * FROM read_json('{secret}')"), "42000"),
        (
            format!("SELECT * FROM parquet_metadata('{secret}')"),
            "42000",
        ),
        // PostgreSQL's file functions do not exist.
        (format!("SELECT pg_read_file('{secret}')"), "42883"),
        (format!("SELECT pg_read_binary_file('{secret}')"), "42883"),
        (format!("SELECT lo_import('{secret}')"), "42883"),
        ("SELECT pg_ls_dir('/')".to_string(), "42883"),
        // COPY from a file or a program, plain and under EXPLAIN.
        (format!("COPY t FROM '{secret}'"), "42501"),
        (format!("COPY t FROM '{secret}' (FORMAT csv)"), "42501"),
        (format!("COPY t FROM PROGRAM 'cat {secret}'"), "42501"),
        (format!("EXPLAIN COPY t FROM '{secret}'"), "42501"),
        (format!("EXPLAIN ANALYZE COPY t FROM '{secret}'"), "42501"),
        // External tables.
        (
            format!("CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '{secret}'"),
            "42501",
        ),
        (
            format!("CREATE EXTERNAL TABLE e STORED AS CSV LOCATION 'file://{secret}'"),
            "42501",
        ),
        (
            format!("EXPLAIN ANALYZE CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '{secret}'"),
            "42501",
        ),
        (
            format!("CREATE TABLE e (a TEXT) LOCATION '{secret}'"),
            "0A000",
        ),
    ];
    let writes = [
        (format!("COPY t TO '{target}'"), "42501"),
        (format!("COPY t TO 'file://{target}'"), "42501"),
        (format!("COPY t TO '{target}' (FORMAT csv)"), "42501"),
        (format!("COPY t TO PROGRAM 'touch {target}'"), "42501"),
        (
            format!("COPY (SELECT 1) TO '{target}' STORED AS CSV"),
            "42501",
        ),
        (format!("EXPLAIN COPY t TO '{target}'"), "42501"),
        (format!("EXPLAIN ANALYZE COPY t TO '{target}'"), "42501"),
        (
            format!("EXPLAIN ANALYZE COPY (SELECT 1) TO '{target}' STORED AS CSV"),
            "42501",
        ),
        (
            format!("CREATE EXTERNAL TABLE w (a INT) STORED AS CSV LOCATION '{target_dir}/'"),
            "42501",
        ),
        (format!("INSERT INTO '{target}' VALUES (1)"), "42P01"),
        (format!("INSERT INTO 'file://{target}' VALUES (1)"), "42P01"),
    ];
    for (sql, expected) in reads.iter().chain(&writes) {
        let simple = client.simple_query(sql).await.unwrap_err();
        let extended = client.query(sql.as_str(), &[]).await.unwrap_err();
        for (protocol, error) in [("simple", simple), ("extended", extended)] {
            assert_eq!(sqlstate(&error), *expected, "{protocol}: {sql}: {error:?}");
            assert!(
                !format!("{error:?}").contains(CANARY),
                "{protocol}: {sql} revealed the file: {error:?}"
            );
        }
    }
    assert!(
        !dir.join("written.csv").exists(),
        "a server file was written"
    );
    assert!(!dir.join("written").exists(), "a server directory was made");
    // Nothing was created on the way.
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables \
             WHERE table_name IN ('v', 'c', 'e', 'w', 'x')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
}
