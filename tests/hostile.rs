//! Issue 13's reproducers, as a hostile or careless client would send them:
//! each crashed, bricked or half-wrote before; now each gets its SQLSTATE
//! and the server goes on serving, with nothing of the refused write in
//! either store.

mod common;

use std::time::Duration;

use common::{TestServer, count, create_online_group, simple_rows, sqlstate};
use futures::SinkExt;

/// A key longer than LMDB takes is refused before the offline commit:
/// nothing is committed, and a restart (which replays the offline log into
/// the online store) still works.
#[tokio::test]
async fn an_overlong_online_key_is_refused_before_anything_is_committed() {
    let mut server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE FEATURE GROUP pk (k TEXT NOT NULL, v INT, PRIMARY KEY (k)) ONLINE;
             CREATE FEATURE GROUP pair (a TEXT NOT NULL, b TEXT NOT NULL, v INT,
                 PRIMARY KEY (a, b)) ONLINE;
             INSERT INTO pk VALUES ('short', 1);",
        )
        .await
        .unwrap();
    let error = client
        .batch_execute("INSERT INTO pk VALUES (repeat('x', 600), 2)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "54000", "{error}");
    assert!(
        error.to_string().contains("511 bytes") || format!("{error:?}").contains("511 bytes"),
        "the message names the limit: {error:?}"
    );
    let error = client
        .batch_execute("INSERT INTO pair VALUES (repeat('a', 260), repeat('b', 260), 1)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "54000", "{error}");
    // A key just under the limit is taken (1 format byte + 2 terminators).
    client
        .batch_execute("INSERT INTO pk VALUES (repeat('y', 508), 3)")
        .await
        .unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM pk").await, 2);
    assert_eq!(count(&client, "SELECT count(*) FROM online.pk").await, 2);
    assert_eq!(count(&client, "SELECT count(*) FROM pair").await, 0);
    drop(client);
    server.restart().await;
    let client = server.connect().await;
    assert_eq!(count(&client, "SELECT count(*) FROM pk").await, 2);
    assert_eq!(count(&client, "SELECT count(*) FROM online.pk").await, 2);
}

/// Generated expressions thousands of terms long are refused with 54001
/// (they overflowed the stack); shorter ones are answered. The server runs
/// on the runtime `fstore serve` runs on.
#[test]
fn deeply_nested_statements_are_refused_not_a_stack_overflow() {
    fstore::server::runtime()
        .unwrap()
        .block_on(deeply_nested_statements());
}

async fn deeply_nested_statements() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE FEATURE GROUP g (k BIGINT NOT NULL, v INT, PRIMARY KEY (k)) ONLINE;
             INSERT INTO g VALUES (1, 10);",
        )
        .await
        .unwrap();
    let ones = |n: usize, op: &str| vec!["1"; n].join(op);
    let sum = format!("SELECT {}", ones(3000, "+"));
    for sql in [
        sum.clone(),
        format!("SELECT 1 WHERE {}", vec!["1 = 1"; 3000].join(" OR ")),
        format!("SELECT 1 WHERE {}", vec!["true"; 3000].join(" AND ")),
        format!("SELECT {}", vec!["'a'"; 3000].join(" || ")),
        vec!["SELECT 1"; 3000].join(" UNION ALL "),
        format!("EXPLAIN {sum}"),
        format!("SELECT * FROM online.g WHERE k = {}", ones(3000, "+")),
        format!("SELECT {}1{}", "(".repeat(3000), ")".repeat(3000)),
    ] {
        let error = client.simple_query(&sql).await.unwrap_err();
        assert_eq!(sqlstate(&error), "54001", "{}…: {error}", &sql[..40]);
        let error = client.prepare(&sql).await.unwrap_err();
        assert_eq!(
            sqlstate(&error),
            "54001",
            "Parse of {}…: {error}",
            &sql[..40]
        );
    }
    // Just under the limit, in both protocols.
    let deepest = format!("SELECT {}", ones(1000, "+"));
    let rows = simple_rows(client.simple_query(&deepest).await.unwrap());
    assert_eq!(rows, vec![vec![Some("1000".to_string())]]);
    let row = client.query_one(&deepest, &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 1000);
    let nested = format!("SELECT {}1{}", "(".repeat(40), ")".repeat(40));
    let rows = simple_rows(client.simple_query(&nested).await.unwrap());
    assert_eq!(rows, vec![vec![Some("1".to_string())]]);
    // sqlparser's own limit on recursive descent is a limit too.
    let nested = format!("SELECT {}1{}", "(".repeat(200), ")".repeat(200));
    let error = client.simple_query(&nested).await.unwrap_err();
    assert_eq!(sqlstate(&error), "54001", "{error}");
}

/// A parameter number a client merely claims sizes nothing.
#[tokio::test]
async fn a_huge_parameter_number_is_refused_in_both_protocols() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    create_online_group(&client, "g").await;
    let sql = "SELECT * FROM online.g WHERE k = $4000000000";
    let error = client.simple_query(sql).await.unwrap_err();
    assert_eq!(sqlstate(&error), "54000", "{error}");
    let error = client.prepare(sql).await.unwrap_err();
    assert_eq!(sqlstate(&error), "54000", "{error}");
    // Still serving.
    assert_eq!(count(&client, "SELECT count(*) FROM online.g").await, 0);
}

/// Execute's row limit is the client's claim: it must not size an
/// allocation, and a negative one means all rows, as in PostgreSQL.
#[tokio::test]
async fn execute_with_a_huge_row_limit_returns_the_rows() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE t (x BIGINT);
             INSERT INTO t VALUES (1), (2), (3);",
        )
        .await
        .unwrap();
    let transaction = client.transaction().await.unwrap();
    let statement = transaction
        .prepare("SELECT x FROM t ORDER BY x")
        .await
        .unwrap();
    for max_rows in [i32::MAX, -1] {
        let portal = transaction.bind(&statement, &[]).await.unwrap();
        let rows = transaction.query_portal(&portal, max_rows).await.unwrap();
        let values: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(values, vec![1, 2, 3], "max_rows {max_rows}");
    }
    let portal = transaction.bind(&statement, &[]).await.unwrap();
    let first = transaction.query_portal(&portal, 2).await.unwrap();
    let rest = transaction.query_portal(&portal, 2).await.unwrap();
    assert_eq!((first.len(), rest.len()), (2, 1));
    transaction.commit().await.unwrap();
}

/// IN lists on a composite key multiply: past the cap the lookup is refused
/// before a single key is built (1000³ grew to 10 GB before).
#[tokio::test]
async fn a_cartesian_key_list_is_refused_before_it_is_built() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE FEATURE GROUP g3 (a BIGINT NOT NULL, b BIGINT NOT NULL, c BIGINT NOT NULL,
                 v INT, PRIMARY KEY (a, b, c)) ONLINE;
             INSERT INTO g3 VALUES (1, 2, 3, 7);",
        )
        .await
        .unwrap();
    let list: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let list = list.join(", ");
    let sql =
        format!("SELECT v FROM online.g3 WHERE a IN ({list}) AND b IN ({list}) AND c IN ({list})");
    let error = client.simple_query(&sql).await.unwrap_err();
    assert_eq!(sqlstate(&error), "54000", "{error}");
    assert!(
        format!("{error:?}").contains("1000 × 1000 × 1000"),
        "{error:?}"
    );
    let array: Vec<i64> = (0..1000).collect();
    let error = client
        .query(
            "SELECT v FROM online.g3 WHERE a = ANY($1) AND b = ANY($2) AND c = ANY($3)",
            &[&array, &array, &array],
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "54000", "{error}");
    let rows = client
        .query(
            "SELECT v FROM online.g3 WHERE a = ANY($1) AND b = ANY($2) AND c = ANY($3)",
            &[&vec![1i64, 2, 3], &vec![1i64, 2, 3], &vec![1i64, 2, 3]],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i32>(0), 7);
}

/// A COPY whose client goes away before CopyDone commits nothing — not the
/// rows sent so far, not the truncated last line.
#[tokio::test]
async fn a_copy_cut_off_by_a_disconnect_commits_nothing() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    create_online_group(&client, "c").await;
    for format in ["", " WITH (FORMAT csv)"] {
        let (copier, connection) =
            tokio_postgres::connect(&server.connection_string(), tokio_postgres::NoTls)
                .await
                .unwrap();
        let connection = tokio::spawn(connection);
        let sink = copier
            .copy_in(&format!("COPY c FROM STDIN{format}"))
            .await
            .unwrap();
        let separator = if format.is_empty() { '\t' } else { ',' };
        let mut data = String::new();
        for k in 0..20_000 {
            data.push_str(&format!("{k}{separator}{k}\n"));
        }
        data.push_str(&format!("900001{separator}1"));
        let mut sink = Box::pin(sink);
        sink.send(bytes::Bytes::from(data)).await.unwrap();
        sink.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The connection goes away without CopyDone.
        connection.abort();
        drop(sink);
        drop(copier);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            count(&client, "SELECT count(*) FROM c").await,
            0,
            "{format}"
        );
        assert_eq!(
            count(&client, "SELECT count(*) FROM online.c").await,
            0,
            "{format}"
        );
    }
    // The group takes writes again.
    client
        .batch_execute("INSERT INTO c VALUES (1, 1)")
        .await
        .unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM c").await, 1);
}

/// A query string stops at its first error, as in PostgreSQL: the
/// statements after it do not run.
#[tokio::test]
async fn a_multi_statement_query_stops_at_its_first_error() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    create_online_group(&client, "g").await;
    let error = client
        .simple_query("SELECT 1/0; DROP FEATURE GROUP g")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "22012", "{error}");
    let error = client
        .simple_query("SELECT * FROM nonexist; INSERT INTO g VALUES (1, 1)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "42P01", "{error}");
    assert_eq!(count(&client, "SELECT count(*) FROM g").await, 0);
    // A write before the error stays committed (fstore commits each
    // statement), and the error says so instead of keeping it silently.
    let error = client
        .simple_query("INSERT INTO g VALUES (1, 1); SELECT * FROM nonexist")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "42P01", "{error}");
    let detail = error
        .as_db_error()
        .and_then(|e| e.detail())
        .unwrap_or_default()
        .to_string();
    assert!(
        detail.contains("1 statement(s) before it") && detail.contains("stay committed"),
        "{detail:?}"
    );
    assert_eq!(count(&client, "SELECT count(*) FROM g").await, 1);
    let error = client
        .simple_query("SELECT 1; SELECT 1/0")
        .await
        .unwrap_err();
    assert_eq!(
        error.as_db_error().and_then(|e| e.detail()),
        None,
        "no write, nothing to report: {error:?}"
    );
    let rows = simple_rows(client.simple_query("SELECT 1; SELECT 2").await.unwrap());
    assert_eq!(
        rows,
        vec![vec![Some("1".to_string())], vec![Some("2".to_string())]]
    );
}

/// EXPLAIN [ANALYZE] runs the checks of the statement it explains: no
/// server file is written or read through it.
#[tokio::test]
async fn explain_is_no_back_door_to_server_files() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let target = server.dir.path().join("written-by-explain.json");
    let target = target.display();
    for sql in [
        format!("EXPLAIN ANALYZE COPY (SELECT 'x' AS a) TO '{target}'"),
        format!("EXPLAIN COPY (SELECT 'x' AS a) TO '{target}'"),
        format!("EXPLAIN ANALYZE CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '{target}'"),
    ] {
        let error = client.simple_query(&sql).await.unwrap_err();
        assert_eq!(sqlstate(&error), "42501", "{sql}: {error}");
    }
    assert!(
        !server.dir.path().join("written-by-explain.json").exists(),
        "EXPLAIN ANALYZE wrote a server file"
    );
    // Plans name the files they scan, not where the server keeps them.
    create_online_group(&client, "g").await;
    client
        .batch_execute("INSERT INTO g VALUES (1, 1)")
        .await
        .unwrap();
    let data_dir = std::fs::canonicalize(&server.config.data_dir).unwrap();
    let data_dir = data_dir.to_string_lossy();
    let data_dir = data_dir.trim_start_matches('/');
    for sql in [
        "EXPLAIN SELECT * FROM g WHERE v > 0",
        "EXPLAIN ANALYZE SELECT * FROM g",
        "EXPLAIN VERBOSE SELECT * FROM g",
    ] {
        let simple = simple_rows(client.simple_query(sql).await.unwrap());
        let extended: Vec<Vec<Option<String>>> = client
            .query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.get::<_, Option<String>>(i))
                    .collect()
            })
            .collect();
        for (protocol, rows) in [("simple", simple), ("extended", extended)] {
            let text = format!("{rows:?}");
            assert!(text.contains(".parquet"), "{protocol} {sql}: {text}");
            assert!(
                !text.contains(data_dir) && !text.contains("tables/"),
                "{protocol} {sql} shows storage paths: {text}"
            );
        }
    }
}

/// One group whose online store cannot catch up must not keep the server
/// from starting: the group is served offline, says why, refuses online
/// reads and writes with 55000, and `ALTER FEATURE GROUP … REBUILD ONLINE`
/// brings it back once its data is readable again.
#[tokio::test]
async fn a_group_that_cannot_catch_up_does_not_keep_the_server_down() {
    let mut server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE FEATURE GROUP broken (k BIGINT NOT NULL, v INT, PRIMARY KEY (k)) ONLINE;
             CREATE FEATURE GROUP fine (k BIGINT NOT NULL, v INT, PRIMARY KEY (k)) ONLINE;
             INSERT INTO broken VALUES (1, 10), (2, 20);
             INSERT INTO fine VALUES (1, 100);",
        )
        .await
        .unwrap();
    drop(client);
    server.stop().await;
    // The online store is lost (every group replays its whole log), and one
    // of `broken`'s Parquet files cannot be read.
    let data = server.config.data_dir.clone();
    std::fs::remove_dir_all(data.join("online")).unwrap();
    let mut parquet_files = Vec::new();
    for table in std::fs::read_dir(data.join("tables")).unwrap() {
        for file in std::fs::read_dir(table.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "parquet") {
                parquet_files.push(path);
            }
        }
    }
    assert_eq!(parquet_files.len(), 2, "{parquet_files:?}");
    // Find `broken`'s file: the one with two rows is larger.
    parquet_files.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let victim = parquet_files.pop().unwrap();
    let saved = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, b"not parquet").unwrap();

    server.restart().await;
    let client = server.connect().await;
    let rows = simple_rows(
        client
            .simple_query("SELECT name, online_status FROM fs.feature_groups ORDER BY name")
            .await
            .unwrap(),
    );
    assert_eq!(rows[0][0].as_deref(), Some("broken"));
    let status = rows[0][1].clone().unwrap();
    assert!(status.starts_with("unavailable: catch-up"), "{status}");
    assert_eq!(rows[1], vec![Some("fine".into()), Some("ready".into())]);
    assert_eq!(count(&client, "SELECT count(*) FROM online.fine").await, 1);
    let error = client
        .query("SELECT v FROM online.broken WHERE k = $1", &[&1i64])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "55000", "{error}");
    let error = client
        .simple_query("SELECT v FROM online.broken WHERE k = 1")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "55000", "{error}");
    let error = client
        .batch_execute("INSERT INTO broken VALUES (3, 30)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "55000", "{error}");

    std::fs::write(&victim, saved).unwrap();
    client
        .batch_execute("ALTER FEATURE GROUP broken REBUILD ONLINE")
        .await
        .unwrap();
    let rows = simple_rows(
        client
            .simple_query("SELECT online_status FROM fs.feature_groups WHERE name = 'broken'")
            .await
            .unwrap(),
    );
    assert_eq!(rows, vec![vec![Some("ready".to_string())]]);
    let row = client
        .query_one("SELECT v FROM online.broken WHERE k = $1", &[&2i64])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 20);
    client
        .batch_execute("INSERT INTO broken VALUES (3, 30)")
        .await
        .unwrap();
    assert_eq!(
        count(&client, "SELECT count(*) FROM online.broken").await,
        3
    );
}

/// `statement_timeout` stops a running query with 57014 in both protocols
/// (it covered only planning before: a 22 s query ran to its end), and the
/// session carries on.
#[tokio::test]
async fn statement_timeout_stops_a_running_query() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("SET statement_timeout = '300ms'")
        .await
        .unwrap();
    let slow = "SELECT count(*) FROM generate_series(1, 20000000000) a";
    for protocol in ["simple", "extended"] {
        let error = if protocol == "simple" {
            client.simple_query(slow).await.unwrap_err()
        } else {
            client.query(slow, &[]).await.unwrap_err()
        };
        // Only a stopped query ends in 57014 (counting 2·10¹⁰ rows to the
        // end takes minutes).
        assert_eq!(sqlstate(&error), "57014", "{protocol}: {error}");
    }
    assert_eq!(count(&client, "SELECT 1::bigint").await, 1);
    client
        .batch_execute("SET statement_timeout = 0")
        .await
        .unwrap();
    assert_eq!(
        count(&client, "SELECT count(*) FROM generate_series(1, 1000)").await,
        1000
    );
}

/// A disk too full for an online write fails the statement with 53100
/// before anything is committed (it aborted the server after the offline
/// commit, which then would not start); reads go on, and writes work again
/// once there is room. The data directory is a small tmpfs the test mounts
/// (root only: skipped, loudly, where mounting is not permitted).
#[tokio::test]
async fn a_full_disk_fails_the_write_and_the_server_goes_on() {
    let mount_point = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=48m", "tmpfs"])
        .arg(mount_point.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED: cannot mount a tmpfs here (not root?)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(mount_point.path().to_path_buf());
    let data_dir = mount_point.path().join("data");
    let server = TestServer::start_with(|config| config.data_dir = data_dir.clone()).await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE FEATURE GROUP big (k BIGINT NOT NULL, payload TEXT, PRIMARY KEY (k)) ONLINE;
             INSERT INTO big VALUES (1, 'small');",
        )
        .await
        .unwrap();
    // ~40 MB of rows for the online store: more than the disk has room for.
    let error = client
        .batch_execute(
            "INSERT INTO big SELECT value + 10, repeat(md5(value::text), 40)
             FROM generate_series(1, 30000)",
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "53100", "{error:?}");
    assert!(
        format!("{error:?}").contains("could not write to the online store"),
        "refused by the check before the offline commit: {error:?}"
    );
    assert_eq!(count(&client, "SELECT count(*) FROM big").await, 1);
    assert_eq!(count(&client, "SELECT count(*) FROM online.big").await, 1);
    client
        .batch_execute("INSERT INTO big VALUES (2, 'still fits')")
        .await
        .unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM online.big").await, 2);
}

fn binary_copy(rows: &[&[u8]]) -> bytes::Bytes {
    let mut data = b"PGCOPY\n\xff\r\n\0".to_vec();
    data.extend_from_slice(&0i32.to_be_bytes());
    data.extend_from_slice(&0i32.to_be_bytes());
    for row in rows {
        data.extend_from_slice(row);
    }
    data.extend_from_slice(&(-1i16).to_be_bytes());
    bytes::Bytes::from(data)
}

/// `COPY b FROM STDIN (FORMAT binary)` of `data`: the rows copied.
async fn copy_binary(
    client: &tokio_postgres::Client,
    data: bytes::Bytes,
) -> Result<u64, tokio_postgres::Error> {
    let sink = client
        .copy_in::<_, bytes::Bytes>("COPY b FROM STDIN (FORMAT binary)")
        .await?;
    let mut sink = Box::pin(sink);
    sink.send(data).await?;
    sink.as_mut().finish().await
}

/// Binary COPY field lengths are the client's claim: a negative one other
/// than -1 (NULL) is refused, not read as NULL, and a huge one allocates
/// nothing before its bytes arrive.
#[tokio::test]
async fn binary_copy_field_lengths_are_checked_not_trusted() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    create_online_group(&client, "b").await;
    let mut good = Vec::new();
    good.extend_from_slice(&2i16.to_be_bytes());
    good.extend_from_slice(&8i32.to_be_bytes());
    good.extend_from_slice(&1i64.to_be_bytes());
    let mut negative = good.clone();
    negative.extend_from_slice(&(-7i32).to_be_bytes());
    let mut huge = good.clone();
    huge.extend_from_slice(&i32::MAX.to_be_bytes());
    huge.extend_from_slice(&5i32.to_be_bytes());
    let mut null = good.clone();
    null.extend_from_slice(&(-1i32).to_be_bytes());
    for (name, row) in [("negative", &negative), ("huge", &huge)] {
        let error = copy_binary(&client, binary_copy(&[row.as_slice()]))
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&error), "22P04", "{name}: {error:?}");
    }
    assert_eq!(count(&client, "SELECT count(*) FROM b").await, 0);
    let copied = copy_binary(&client, binary_copy(&[null.as_slice()])).await;
    assert_eq!(copied.unwrap(), 1);
    assert_eq!(
        count(&client, "SELECT count(*) FROM b WHERE v IS NULL").await,
        1
    );
}

/// In a failed transaction block a prepared online lookup is refused with
/// 25P02, as every other statement is.
#[tokio::test]
async fn prepared_lookups_are_refused_in_a_failed_block() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE FEATURE GROUP g (k BIGINT NOT NULL, v INT, PRIMARY KEY (k)) ONLINE;
             INSERT INTO g VALUES (1, 10);",
        )
        .await
        .unwrap();
    let lookup = client
        .prepare("SELECT v FROM online.g WHERE k = $1")
        .await
        .unwrap();
    client.batch_execute("BEGIN").await.unwrap();
    assert!(client.batch_execute("SELECT 1/0").await.is_err());
    let error = client.query(&lookup, &[&1i64]).await.unwrap_err();
    assert_eq!(sqlstate(&error), "25P02", "{error}");
    client.batch_execute("ROLLBACK").await.unwrap();
    let row = client.query_one(&lookup, &[&1i64]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 10);
}

/// Identifiers longer than 63 bytes are truncated as PostgreSQL truncates
/// them, with its NOTICE (a 600-byte group name reached LMDB's key limit
/// before): every statement naming the long name means the truncated one.
#[tokio::test]
async fn long_identifiers_are_truncated_to_63_bytes_with_a_notice() {
    use futures::StreamExt;
    let server = TestServer::start().await;
    let (client, mut connection) =
        tokio_postgres::connect(&server.connection_string(), tokio_postgres::NoTls)
            .await
            .unwrap();
    let (notices, mut received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notice(notice) = message {
                let _ = notices.send((
                    notice.code().code().to_string(),
                    notice.message().to_string(),
                ));
            }
        }
    });
    let long = "g".repeat(600);
    let short = "g".repeat(63);
    client
        .batch_execute(&format!(
            "CREATE FEATURE GROUP {long} (k BIGINT NOT NULL, v INT, PRIMARY KEY (k)) ONLINE"
        ))
        .await
        .unwrap();
    let (code, message) = received.recv().await.unwrap();
    assert_eq!(code, "42622");
    assert_eq!(
        message,
        format!("identifier \"{long}\" will be truncated to \"{short}\"")
    );
    client
        .batch_execute(&format!("INSERT INTO {long} VALUES (1, 10)"))
        .await
        .unwrap();
    assert_eq!(
        count(&client, &format!("SELECT count(*) FROM {short}")).await,
        1
    );
    let rows = simple_rows(
        client
            .simple_query(&format!("SELECT v FROM online.{long} WHERE k = 1"))
            .await
            .unwrap(),
    );
    assert_eq!(rows, vec![vec![Some("10".to_string())]]);
    let name: String = client
        .query_one(
            &format!(
                "SELECT name FROM fs.feature_groups WHERE name LIKE '{}%'",
                "g".repeat(10)
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, short);
}

/// Function calls and parenthesised lists nested in each other cost
/// sqlparser several times as much per level (`SELECT f(f(…))` 16 deep took
/// a second, `FROM f(a AND f(a AND …))` eleven, an error inside `NOT (x,
/// NOT (x, …))` 12 deep eleven): past 10 levels a statement is refused with
/// 54001 before it is parsed, in both protocols; 10 levels are answered.
#[tokio::test]
async fn deeply_nested_function_calls_are_refused_before_parsing() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let nested = |depth: usize| format!("SELECT {}1{}", "abs(".repeat(depth), ")".repeat(depth));
    for sql in [
        nested(40),
        format!(
            "SELECT * FROM f({}x{})",
            "a AND g(".repeat(30),
            ")".repeat(30)
        ),
        format!("SELECT {}1 +{}", "NOT (x, ".repeat(30), ")".repeat(30)),
        format!("SELECT {}true", "NOT (true OR ".repeat(30)),
        // Found by the long front-door fuzz run (input 32,187): 120 s.
        format!("SELECT * FROM g WHERE k IN ({}1, 2)", "IN ( ".repeat(30)),
    ] {
        let error = client.simple_query(&sql).await.unwrap_err();
        assert_eq!(sqlstate(&error), "54001", "{error:?}");
        let error = client.query(&sql, &[]).await.unwrap_err();
        assert_eq!(sqlstate(&error), "54001", "{error:?}");
    }
    let rows = simple_rows(client.simple_query(&nested(10)).await.unwrap());
    assert_eq!(rows, vec![vec![Some("1".to_string())]]);
}
