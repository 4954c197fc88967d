//! The server over the wire with tokio-postgres: both query protocols,
//! parameters in text and binary, error codes, persistence across restarts,
//! the connection limit, the memory limit and the file-access guard.

mod common;

use common::{TestServer, simple_rows, sqlstate};
use tokio_postgres::error::ErrorPosition;

#[tokio::test]
async fn extended_protocol_binds_parameters_and_returns_typed_binary_values() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE readings (
                id BIGINT NOT NULL,
                sensor TEXT,
                value DOUBLE PRECISION,
                ok BOOLEAN,
                small INT,
                taken_at TIMESTAMP,
                day DATE
            )",
        )
        .await
        .unwrap();

    let insert = client
        .prepare("INSERT INTO readings VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .await
        .unwrap();
    let taken_at = chrono_like("2026-03-01 12:30:00");
    for id in 1..=3i64 {
        let inserted = client
            .execute(
                &insert,
                &[
                    &id,
                    &format!("s{id}"),
                    &(id as f64 * 1.5),
                    &(id % 2 == 1),
                    &(id as i32 * 10),
                    &taken_at,
                    &None::<String>,
                ],
            )
            .await;
        assert!(inserted.is_err(), "a text parameter is not a DATE");
        let inserted = client
            .execute(
                "INSERT INTO readings (id, sensor, value, ok, small, taken_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&id, &format!("s{id}"), &(id as f64 * 1.5), &(id % 2 == 1), &(id as i32 * 10), &taken_at],
            )
            .await
            .unwrap();
        assert_eq!(inserted, 1);
    }
    client
        .batch_execute("INSERT INTO readings (id, day) VALUES (4, '2026-03-02')")
        .await
        .unwrap();
    let day = simple_rows(
        client
            .simple_query("SELECT day FROM readings WHERE id = 4")
            .await
            .unwrap(),
    );
    assert_eq!(day[0][0].as_deref(), Some("2026-03-02"));

    let rows = client
        .query(
            "SELECT id, sensor, value, ok, small FROM readings WHERE id >= $1 ORDER BY id",
            &[&2i64],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].get::<_, i64>(0), 2);
    assert_eq!(rows[0].get::<_, String>(1), "s2");
    assert_eq!(rows[0].get::<_, f64>(2), 3.0);
    assert!(!rows[0].get::<_, bool>(3));
    assert_eq!(rows[1].get::<_, i32>(4), 30);

    // `= ANY($1)`: the parameter is described as an array of the column's
    // type (DataFusion leaves it untyped), so a driver binds a list.
    let any = client
        .prepare("SELECT id FROM readings WHERE id = ANY($1) ORDER BY id")
        .await
        .unwrap();
    assert_eq!(any.params(), &[tokio_postgres::types::Type::INT8_ARRAY]);
    let ids: Vec<i64> = client
        .query(&any, &[&vec![1i64, 3, 99]])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(ids, [1, 3]);

    let when: std::time::SystemTime = client
        .query_one("SELECT taken_at FROM readings WHERE id = $1", &[&1i64])
        .await
        .unwrap()
        .get(0);
    assert_eq!(when, taken_at);

    // The same data through the simple protocol, as text.
    let text = simple_rows(
        client
            .simple_query("SELECT id, sensor, value, taken_at FROM readings ORDER BY id LIMIT 1")
            .await
            .unwrap(),
    );
    assert_eq!(text[0][0].as_deref(), Some("1"));
    assert_eq!(text[0][1].as_deref(), Some("s1"));
    assert_eq!(text[0][2].as_deref(), Some("1.5"));
    assert!(
        text[0][3]
            .as_deref()
            .unwrap()
            .starts_with("2026-03-01 12:30:00"),
        "{:?}",
        text[0][3]
    );
}

fn chrono_like(timestamp: &str) -> std::time::SystemTime {
    // "YYYY-MM-DD HH:MM:SS" → SystemTime, without a date crate.
    let (date, time) = timestamp.split_once(' ').unwrap();
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let t: Vec<u64> = time.split(':').map(|p| p.parse().unwrap()).collect();
    let days = days_from_civil(d[0], d[1], d[2]);
    std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(days as u64 * 86_400 + t[0] * 3600 + t[1] * 60 + t[2])
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[tokio::test]
async fn errors_have_postgres_sqlstates_and_the_session_goes_on() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (id BIGINT NOT NULL, name TEXT)")
        .await
        .unwrap();

    let cases: &[(&str, &str)] = &[
        ("SELEC 1", "42601"),
        ("SELECT * FROM missing_table", "42P01"),
        ("SELECT missing_column FROM t", "42703"),
        ("CREATE TABLE t (x INT)", "42P07"),
        ("INSERT INTO t VALUES ('not a number', 'x')", "22P02"),
        ("INSERT INTO t (name) VALUES ('no id')", "23502"),
        ("INSERT INTO t VALUES (NULL, 'no id')", "23502"),
        ("SELECT 1 / 0", "22012"),
        ("DROP TABLE missing_table", "42P01"),
        ("CREATE TABLE nowhere.t (x INT)", "3F000"),
        ("CREATE SCHEMA public", "42P06"),
        ("ALTER TABLE t ADD COLUMN y INT", "0A000"),
        (
            "CREATE FEATURE GROUP g (k DOUBLE PRECISION NOT NULL, PRIMARY KEY (k))",
            "0A000",
        ),
        ("CREATE FEATURE GROUP g (k INT, v INT)", "42P16"),
        ("DROP FEATURE GROUP no_such_group", "42P01"),
    ];
    for (sql, expected) in cases {
        // Both protocols must report the same SQLSTATE.
        let simple = client.batch_execute(sql).await.unwrap_err();
        assert_eq!(&sqlstate(&simple), expected, "simple protocol: {sql}");
        let extended = client.execute(*sql, &[]).await.unwrap_err();
        assert_eq!(&sqlstate(&extended), expected, "extended protocol: {sql}");
        // The connection is still usable after every error.
        let one: i64 = client
            .query_one("SELECT 1::BIGINT", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(one, 1);
    }

    // A failed INSERT leaves no row behind.
    let count: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
}

#[tokio::test]
async fn syntax_errors_point_at_the_offending_token() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let error = client
        .batch_execute("SELECT 1; SELECT * FRM t")
        .await
        .unwrap_err();
    let db_error = error.as_db_error().expect("a database error");
    assert_eq!(db_error.code().code(), "42601");
    // sqlparser reads FRM as a column alias and stumbles on the "t" after
    // it, at character 24 of the whole query string.
    assert!(
        db_error.message().contains("at or near \"t\""),
        "{}",
        db_error.message()
    );
    assert_eq!(db_error.position(), Some(&ErrorPosition::Original(24)));
}

#[tokio::test]
async fn tables_views_and_schemas_survive_a_restart() {
    let mut server = TestServer::start().await;
    {
        let client = server.connect().await;
        client
            .batch_execute(
                "CREATE SCHEMA features;
                 CREATE TABLE features.users (id BIGINT NOT NULL, country TEXT);
                 INSERT INTO features.users VALUES (1, 'NL'), (2, 'FR'), (3, 'NL');
                 CREATE TABLE totals AS SELECT country, count(*) AS n FROM features.users GROUP BY country;
                 CREATE VIEW dutch AS SELECT id FROM features.users WHERE country = 'NL';
                 CREATE TABLE old_name (x INT);
                 INSERT INTO old_name VALUES (7);
                 ALTER TABLE old_name RENAME TO new_name;
                 CREATE TABLE dropped (x INT);
                 DROP TABLE dropped;",
            )
            .await
            .unwrap();
    }
    server.restart().await;
    let client = server.connect().await;

    let ids: Vec<i64> = client
        .query("SELECT id FROM dutch ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, vec![1, 3]);
    let n: i64 = client
        .query_one("SELECT n FROM totals WHERE country = 'NL'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    let x: i32 = client
        .query_one("SELECT x FROM new_name", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(x, 7);
    for gone in ["SELECT * FROM old_name", "SELECT * FROM dropped"] {
        let error = client.query(gone, &[]).await.unwrap_err();
        assert_eq!(sqlstate(&error), "42P01", "{gone}");
    }
    // Writes after a restart append to the same tables.
    client
        .execute("INSERT INTO features.users VALUES (4, 'NL')", &[])
        .await
        .unwrap();
    let count: i64 = client
        .query_one("SELECT count(*) FROM dutch", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 3);
}

#[tokio::test]
async fn transaction_statements_are_accepted_as_clients_send_them() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    client
        .batch_execute("CREATE TABLE tx (x INT)")
        .await
        .unwrap();
    let transaction = client.transaction().await.unwrap();
    transaction
        .execute("INSERT INTO tx VALUES ($1)", &[&1i32])
        .await
        .unwrap();
    transaction.commit().await.unwrap();
    client
        .batch_execute("BEGIN; INSERT INTO tx VALUES (2); COMMIT;")
        .await
        .unwrap();
    let count: i64 = client
        .query_one("SELECT count(*) FROM tx", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2);
}

#[tokio::test]
async fn connections_past_the_limit_are_refused_with_53300() {
    let server = TestServer::start_with(|c| c.max_connections = 2).await;
    let first = server.connect().await;
    let _second = server.connect().await;
    let refused = tokio_postgres::connect(&server.connection_string(), tokio_postgres::NoTls)
        .await
        .err()
        .expect("a third connection must be refused");
    assert_eq!(sqlstate(&refused), "53300");
    // The connections that got in still work, and a freed slot is reusable.
    first.simple_query("SELECT 1").await.unwrap();
    drop(first);
    let mut reconnected = None;
    for _ in 0..50 {
        if let Ok((client, connection)) =
            tokio_postgres::connect(&server.connection_string(), tokio_postgres::NoTls).await
        {
            tokio::spawn(connection);
            reconnected = Some(client);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    reconnected
        .expect("a slot frees up when a client disconnects")
        .simple_query("SELECT 1")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_query_over_the_memory_limit_fails_with_53200_and_the_server_lives() {
    let server = TestServer::start_with(|c| c.memory_limit_bytes = 8 << 20).await;
    let client = server.connect().await;
    // The build side of a hash join cannot spill.
    let error = client
        .simple_query(
            "SELECT count(*) FROM generate_series(1, 3000000) AS a(x)
             JOIN generate_series(1, 3000000) AS b(y) ON a.x = b.y",
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "53200", "{error:?}");
    let rows = simple_rows(client.simple_query("SELECT 42").await.unwrap());
    assert_eq!(rows[0][0].as_deref(), Some("42"));
}

#[tokio::test]
async fn sql_cannot_touch_server_files_unless_allowed() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE t (x INT); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    let target = server.dir.path().join("leak.csv");
    let attempts = [
        "CREATE EXTERNAL TABLE passwd STORED AS CSV LOCATION '/etc/passwd'".to_string(),
        format!("COPY t TO '{}'", target.display()),
        format!(
            "COPY (SELECT * FROM t) TO '{}' STORED AS CSV",
            target.display()
        ),
    ];
    for sql in &attempts {
        let error = client.batch_execute(sql).await.unwrap_err();
        assert_eq!(sqlstate(&error), "42501", "{sql}");
    }
    assert!(!target.exists(), "no file may be written");
    let error = client
        .simple_query("SELECT * FROM '/etc/passwd'")
        .await
        .unwrap_err();
    assert_ne!(sqlstate(&error), "00000");
}

#[tokio::test]
async fn graceful_shutdown_closes_connections_and_keeps_committed_data() {
    let mut server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE kept (x INT); INSERT INTO kept VALUES (1), (2)")
        .await
        .unwrap();
    server.stop().await;
    assert!(client.simple_query("SELECT 1").await.is_err());
    server.restart().await;
    let client = server.connect().await;
    let count: i64 = client
        .query_one("SELECT count(*) FROM kept", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2);
}

/// `DEALLOCATE [PREPARE] name | ALL` and `DISCARD ALL | PLANS | SEQUENCES |
/// TEMP`, as drivers and pools send them to reset a connection (issue 14:
/// psycopg 3's `DEALLOCATE ALL` failed with "Prepared statement 'all' does
/// not exist"): PostgreSQL's tags in both protocols, and the prepared
/// statements are gone afterwards.
#[tokio::test]
async fn deallocate_and_discard_reset_a_connection() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let prepared = client.prepare("SELECT 1::bigint").await.unwrap();
    let other = client.prepare("SELECT 2::bigint").await.unwrap();
    assert_eq!(
        client
            .query_one(&prepared, &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        1
    );
    let tag = |messages: Vec<tokio_postgres::SimpleQueryMessage>| {
        messages.into_iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::CommandComplete(rows) => Some(rows),
            _ => None,
        })
    };
    // tokio-postgres names its statements s0, s1, …: this one by name.
    assert!(tag(client.simple_query("DEALLOCATE PREPARE s0").await.unwrap()).is_some());
    let gone = client.query(&prepared, &[]).await.unwrap_err();
    assert_eq!(sqlstate(&gone), "26000", "{gone:?}");
    assert_eq!(
        client
            .query_one(&other, &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        2
    );
    client.simple_query("DEALLOCATE ALL").await.unwrap();
    let gone = client.query(&other, &[]).await.unwrap_err();
    assert_eq!(sqlstate(&gone), "26000", "{gone:?}");
    // The extended protocol, and DISCARD: the connection goes on.
    for statement in [
        "DEALLOCATE ALL",
        "DISCARD ALL",
        "DISCARD PLANS",
        "DISCARD TEMP",
    ] {
        client.execute(statement, &[]).await.unwrap();
        client.simple_query(statement).await.unwrap();
    }
    // DISCARD ALL forgets the session's DataFusion options too.
    client
        .batch_execute("SET datafusion.execution.batch_size = 7")
        .await
        .unwrap();
    client.batch_execute("DISCARD ALL").await.unwrap();
    let batch_size = simple_rows(
        client
            .simple_query("SHOW datafusion.execution.batch_size")
            .await
            .unwrap(),
    );
    assert_eq!(batch_size[0].last().unwrap().as_deref(), Some("8192"));
    client.batch_execute("BEGIN").await.unwrap();
    let refused = client.simple_query("DISCARD ALL").await.unwrap_err();
    assert_eq!(sqlstate(&refused), "25001", "{refused:?}");
    client.batch_execute("ROLLBACK").await.unwrap();
    let fresh = client.prepare("SELECT 3::bigint").await.unwrap();
    assert_eq!(
        client
            .query_one(&fresh, &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        3
    );
}
