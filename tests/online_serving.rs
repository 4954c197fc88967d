//! Online serving over the wire with tokio-postgres: prepared lookups
//! (untyped and typed parameters, binary and text results, arrays,
//! composite keys, NULLs, type errors), prepared statements across DDL,
//! feature-view vectors, lookups while a COPY writes the same group,
//! hundreds of connections, and a client that stops reading.

mod common;

use std::time::{Duration, SystemTime};

use common::{TestServer, simple_rows, sqlstate};
use futures::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::types::Type;

async fn lookups_calls(client: &tokio_postgres::Client, kind: &str) -> i64 {
    client
        .query_one(
            "SELECT calls FROM fs.metrics WHERE query_kind = $1",
            &[&kind],
        )
        .await
        .expect("fs.metrics")
        .get(0)
}

async fn setup_customers(client: &tokio_postgres::Client) {
    client
        .batch_execute(
            "CREATE FEATURE GROUP customers (
                 id BIGINT NOT NULL,
                 updated_at TIMESTAMP NOT NULL,
                 name TEXT,
                 score DOUBLE PRECISION,
                 vip BOOLEAN,
                 visits INT,
                 PRIMARY KEY (id),
                 EVENT TIME (updated_at)
             );
             INSERT INTO customers VALUES
                 (1, '2026-01-01 00:00:00', 'ann', 0.5, true, 3),
                 (1, '2026-01-02 00:00:00', 'ann', 0.75, true, 4),
                 (2, '2026-01-01 00:00:00', 'bob', NULL, false, NULL),
                 (3, '2026-01-03 00:00:00', NULL, 3.0, NULL, 1);",
        )
        .await
        .expect("setup");
}

type CustomerRow = (
    i64,
    SystemTime,
    Option<String>,
    Option<f64>,
    Option<bool>,
    Option<i32>,
);

fn customer(row: &tokio_postgres::Row) -> CustomerRow {
    (
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
    )
}

#[tokio::test]
async fn prepared_lookups_decode_parameters_and_encode_both_formats() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    setup_customers(&client).await;

    // An untyped parameter takes the key's type.
    let by_id = client
        .prepare("SELECT * FROM online.customers WHERE id = $1")
        .await
        .unwrap();
    assert_eq!(by_id.params(), &[Type::INT8]);
    let names: Vec<&str> = by_id.columns().iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        ["id", "updated_at", "name", "score", "vip", "visits"]
    );
    let before = lookups_calls(&client, "online_lookup").await;

    // Binary results, equal to what DataFusion returns for the same row.
    let through_datafusion = client
        .prepare("SELECT * FROM (SELECT * FROM online.customers) s WHERE id = $1")
        .await
        .unwrap();
    for id in [1i64, 2, 3] {
        let fast = client.query(&by_id, &[&id]).await.unwrap();
        let slow = client.query(&through_datafusion, &[&id]).await.unwrap();
        assert_eq!(fast.len(), 1);
        assert_eq!(customer(&fast[0]), customer(&slow[0]), "id {id}");
    }
    let ann = customer(&client.query_one(&by_id, &[&1i64]).await.unwrap());
    assert_eq!(ann.2.as_deref(), Some("ann"));
    assert_eq!(ann.3, Some(0.75));
    assert_eq!(ann.5, Some(4));
    assert_eq!(
        ann.1,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_312_000)
    );
    assert!(client.query(&by_id, &[&99i64]).await.unwrap().is_empty());
    assert!(
        client
            .query(&by_id, &[&None::<i64>])
            .await
            .unwrap()
            .is_empty()
    );

    // Text results, equal to the DataFusion path's text.
    let fast_text = simple_rows(
        client
            .simple_query("SELECT * FROM online.customers WHERE id IN (2, 1)")
            .await
            .unwrap(),
    );
    let slow_text = simple_rows(
        client
            .simple_query(
                "SELECT * FROM (SELECT * FROM online.customers) s WHERE id IN (2, 1) ORDER BY id DESC",
            )
            .await
            .unwrap(),
    );
    assert_eq!(fast_text, slow_text);
    assert_eq!(fast_text[0][2].as_deref(), Some("bob"));

    // Declared parameter types: a narrower integer works, text does not.
    let typed = client
        .prepare_typed(
            "SELECT name FROM online.customers WHERE id = $1",
            &[Type::INT4],
        )
        .await
        .unwrap();
    let row = client.query_one(&typed, &[&2i32]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "bob");
    let mismatch = client
        .prepare_typed(
            "SELECT name FROM online.customers WHERE id = $1",
            &[Type::TEXT],
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&mismatch), "42804", "{mismatch}");
    assert!(
        mismatch
            .as_db_error()
            .unwrap()
            .message()
            .contains("key column \"id\"")
    );

    // Arrays: = ANY($1) keeps the order asked, each key once.
    let many = client
        .prepare("SELECT id, name FROM online.customers WHERE id = ANY($1)")
        .await
        .unwrap();
    assert_eq!(many.params(), &[Type::INT8_ARRAY]);
    let rows = client.query(&many, &[&vec![3i64, 99, 1, 3]]).await.unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, [3, 1]);
    let in_list = client
        .prepare("SELECT id FROM online.customers WHERE id IN ($1, $2, $3)")
        .await
        .unwrap();
    let rows = client
        .query(&in_list, &[&2i64, &None::<i64>, &1i64])
        .await
        .unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, [2, 1]);

    // Ten lookups above ran on the fast path.
    assert_eq!(lookups_calls(&client, "online_lookup").await - before, 10);
}

#[tokio::test]
async fn composite_keys_and_prepared_statements_across_ddl() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE FEATURE GROUP regional (
                 region TEXT NOT NULL,
                 bucket INT NOT NULL,
                 total BIGINT,
                 PRIMARY KEY (region, bucket)
             );
             INSERT INTO regional VALUES ('eu', 1, 10), ('eu', 2, 20), ('us', 1, 30), ('eu', 1, 11);",
        )
        .await
        .unwrap();
    let lookup = client
        .prepare("SELECT total FROM online.regional WHERE bucket = $2 AND region = $1")
        .await
        .unwrap();
    assert_eq!(lookup.params(), &[Type::TEXT, Type::INT4]);
    let total: i64 = client
        .query_one(&lookup, &[&"eu", &1i32])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, 11);
    assert!(
        client
            .query(&lookup, &[&"eu", &3i32])
            .await
            .unwrap()
            .is_empty()
    );
    let region_any = client
        .prepare("SELECT region, total FROM online.regional WHERE region = ANY($1) AND bucket = 1")
        .await
        .unwrap();
    let rows = client
        .query(&region_any, &[&vec!["us", "eu"]])
        .await
        .unwrap();
    let got: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, [("us".to_string(), 30), ("eu".to_string(), 11)]);

    // A new version with the same columns: the prepared lookup follows it.
    client
        .batch_execute(
            "CREATE FEATURE GROUP regional VERSION 2 (
                 region TEXT NOT NULL, bucket INT NOT NULL, total BIGINT,
                 PRIMARY KEY (region, bucket)
             );
             INSERT INTO regional VALUES ('eu', 1, 500);",
        )
        .await
        .unwrap();
    let total: i64 = client
        .query_one(&lookup, &[&"eu", &1i32])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, 500);
    // A version whose result columns differ: the statement must be prepared
    // again, as in Postgres.
    client
        .batch_execute(
            "CREATE FEATURE GROUP regional VERSION 3 (
                 region TEXT NOT NULL, bucket INT NOT NULL, total DOUBLE PRECISION,
                 PRIMARY KEY (region, bucket)
             );",
        )
        .await
        .unwrap();
    let changed = client.query(&lookup, &[&"eu", &1i32]).await.unwrap_err();
    assert_eq!(sqlstate(&changed), "0A000", "{changed}");
    let fresh = client
        .prepare("SELECT total FROM online.regional WHERE region = $1 AND bucket = $2")
        .await
        .unwrap();
    assert!(
        client
            .query(&fresh, &[&"eu", &1i32])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn feature_view_vectors_join_latest_rows_from_several_groups() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE FEATURE GROUP cards (
                 cc_num BIGINT NOT NULL, merchant_id BIGINT, issued_at TIMESTAMP NOT NULL,
                 card_limit DOUBLE PRECISION, is_fraud BOOLEAN,
                 PRIMARY KEY (cc_num), EVENT TIME (issued_at)
             );
             CREATE FEATURE GROUP profiles (
                 cc_num BIGINT NOT NULL, updated_at TIMESTAMP NOT NULL, age INT,
                 PRIMARY KEY (cc_num), EVENT TIME (updated_at)
             ) TTL INTERVAL '3650 days';
             CREATE FEATURE GROUP merchants (
                 merchant_id BIGINT NOT NULL, seen_at TIMESTAMP NOT NULL, risk DOUBLE PRECISION,
                 PRIMARY KEY (merchant_id), EVENT TIME (seen_at)
             );
             INSERT INTO cards VALUES
                 (1, 10, '2026-01-01 00:00:00', 1000.0, false),
                 (2, 20, '2026-01-01 00:00:00', 500.0, true),
                 (3, NULL, '2026-01-01 00:00:00', 50.0, false);
             INSERT INTO profiles VALUES
                 (1, '2026-01-01 00:00:00', 30), (1, '2026-03-01 00:00:00', 31),
                 (3, '2000-01-01 00:00:00', 70);
             INSERT INTO merchants VALUES (10, '2026-01-01 00:00:00', 0.1), (20, '2026-01-01 00:00:00', 0.9);
             CREATE FEATURE VIEW card_risk AS
             SELECT c.cc_num, c.issued_at, c.card_limit, p.age, m.risk, c.is_fraud
             FROM cards c
             ASOF LEFT JOIN profiles p ON c.cc_num = p.cc_num AND c.issued_at >= p.updated_at
             ASOF LEFT JOIN merchants m ON c.merchant_id = m.merchant_id AND c.issued_at >= m.seen_at
             LABELS (is_fraud);",
        )
        .await
        .unwrap();
    let vectors = client
        .prepare("SELECT * FROM online.card_risk WHERE cc_num = ANY($1)")
        .await
        .unwrap();
    let names: Vec<&str> = vectors.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["cc_num", "issued_at", "card_limit", "age", "risk"]);
    let rows = client
        .query(&vectors, &[&vec![3i64, 4, 2, 1]])
        .await
        .unwrap();
    type Vector = (i64, Option<f64>, Option<i32>, Option<f64>);
    let got: Vec<Vector> = rows
        .iter()
        .map(|r| (r.get(0), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(
        got,
        [
            // Key 3: profile expired by the TTL, no merchant.
            (3, Some(50.0), None, None),
            (2, Some(500.0), None, Some(0.9)),
            // Key 1: the latest profile, though later than the card row.
            (1, Some(1000.0), Some(31), Some(0.1)),
        ]
    );
    assert_eq!(lookups_calls(&client, "online_vector").await, 1);
}

/// Every row a reader sees while COPY rewrites the group must be one that
/// was written whole, and one lookup sees one statement's rows or the
/// previous statement's, never a mix.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookups_during_copy_see_whole_rows() {
    const KEYS: i64 = 200;
    const ROUNDS: i64 = 6;
    let server = TestServer::start().await;
    let writer = server.connect().await;
    writer
        .batch_execute(
            "CREATE FEATURE GROUP counters (
                 id BIGINT NOT NULL, version BIGINT, twice BIGINT, tag TEXT,
                 PRIMARY KEY (id)
             )",
        )
        .await
        .unwrap();
    let copy_round = |version: i64| {
        let mut data = String::new();
        for id in 0..KEYS {
            data.push_str(&format!("{id}\t{version}\t{}\tv{version}\n", version * 2));
        }
        data
    };
    let sink = writer.copy_in("COPY counters FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from(copy_round(0))).await.unwrap();
    sink.finish().await.unwrap();

    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let client = server.connect().await;
        let done = done.clone();
        readers.push(tokio::spawn(async move {
            let lookup = client
                .prepare("SELECT id, version, twice, tag FROM online.counters WHERE id = ANY($1)")
                .await
                .unwrap();
            let keys: Vec<i64> = (0..KEYS).collect();
            let mut last_seen = 0i64;
            let mut reads = 0u64;
            let mut versions_seen = std::collections::BTreeSet::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::Acquire);
                let rows = client.query(&lookup, &[&keys]).await.unwrap();
                assert_eq!(rows.len(), KEYS as usize);
                let version: i64 = rows[0].get(1);
                for (row, id) in rows.iter().zip(0..) {
                    assert_eq!(row.get::<_, i64>(0), id);
                    assert_eq!(row.get::<_, i64>(1), version, "one lookup mixed two writes");
                    assert_eq!(row.get::<_, i64>(2), version * 2);
                    assert_eq!(row.get::<_, String>(3), format!("v{version}"));
                }
                assert!(version >= last_seen, "a reader went back in time");
                last_seen = version;
                versions_seen.insert(version);
                reads += 1;
                if finished {
                    return (reads, versions_seen, last_seen);
                }
            }
        }));
    }
    for version in 1..=ROUNDS {
        let sink = writer.copy_in("COPY counters FROM STDIN").await.unwrap();
        futures::pin_mut!(sink);
        sink.send(bytes::Bytes::from(copy_round(version)))
            .await
            .unwrap();
        sink.finish().await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    for reader in readers {
        let (reads, versions, last) = reader.await.unwrap();
        assert!(reads > 0);
        assert_eq!(last, ROUNDS, "the last read after the last COPY sees it");
        assert!(versions.iter().all(|v| (0..=ROUNDS).contains(v)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundreds_of_connections_are_served() {
    const CONNECTIONS: usize = 300;
    let server = TestServer::start().await;
    let setup = server.connect().await;
    setup_customers(&setup).await;
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        clients.push(server.connect().await);
    }
    let mut tasks = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let id = (i % 3) as i64 + 1;
            let row = client
                .query_one("SELECT id FROM online.customers WHERE id = $1", &[&id])
                .await
                .unwrap();
            assert_eq!(row.get::<_, i64>(0), id);
            client
        }));
    }
    let mut served = Vec::new();
    for task in tasks {
        served.push(task.await.unwrap());
    }
    assert_eq!(served.len(), CONNECTIONS);
    let lookups = lookups_calls(&setup, "online_lookup").await;
    assert_eq!(lookups, CONNECTIONS as i64);
}

/// Speaks just enough of the protocol to start a session and send a query.
async fn raw_session(port: u16) -> tokio::net::TcpStream {
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut body = Vec::new();
    body.extend_from_slice(&196_608i32.to_be_bytes());
    for part in ["user", "slow", "database", "fstore"] {
        body.extend_from_slice(part.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    message.extend_from_slice(&body);
    socket.write_all(&message).await.unwrap();
    // Read messages until ReadyForQuery.
    loop {
        let tag = socket.read_u8().await.unwrap();
        let length = socket.read_i32().await.unwrap() as usize;
        let mut rest = vec![0u8; length - 4];
        socket.read_exact(&mut rest).await.unwrap();
        if tag == b'Z' {
            return socket;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_does_not_stall_others() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    setup_customers(&client).await;
    // A query with far more output than socket buffers hold, never read.
    let mut slow = raw_session(server.port()).await;
    let sql = b"SELECT * FROM online.customers, generate_series(1, 3000000) g\0";
    let mut query = vec![b'Q'];
    query.extend_from_slice(&((sql.len() + 4) as i32).to_be_bytes());
    query.extend_from_slice(sql);
    slow.write_all(&query).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Deadlock guard only, not a timing assertion: generous on any machine.
    let others = async {
        let lookup = client
            .prepare("SELECT name FROM online.customers WHERE id = $1")
            .await
            .unwrap();
        for _ in 0..200 {
            let row = client.query_one(&lookup, &[&2i64]).await.unwrap();
            assert_eq!(row.get::<_, String>(0), "bob");
        }
        let other = server.connect().await;
        let count: i64 = other
            .query_one("SELECT count(*) FROM online.customers", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(count, 3);
    };
    tokio::time::timeout(Duration::from_secs(120), others)
        .await
        .expect("other clients were stalled by one that stopped reading");
    drop(slow);
}

#[tokio::test]
async fn the_online_group_limit_is_a_clear_error_and_leaves_nothing_behind() {
    let server = TestServer::start_with(|c| c.max_online_groups = 2).await;
    let client = server.connect().await;
    for name in ["first", "second"] {
        client
            .batch_execute(&format!(
                "CREATE FEATURE GROUP {name} (k BIGINT NOT NULL, PRIMARY KEY (k))"
            ))
            .await
            .unwrap();
    }
    let error = client
        .batch_execute("CREATE FEATURE GROUP third (k BIGINT NOT NULL, PRIMARY KEY (k))")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "0A000", "{error}");
    assert!(
        error
            .as_db_error()
            .unwrap()
            .message()
            .contains("--max-online-groups")
    );
    client
        .batch_execute("CREATE FEATURE GROUP third (k BIGINT NOT NULL, PRIMARY KEY (k)) OFFLINE")
        .await
        .unwrap();
}

/// Simple-protocol lookups are remembered by their text; a remembered
/// lookup (or a text remembered as no lookup) follows DDL that changes what
/// `online.<name>` means, as prepared lookups do.
#[tokio::test]
async fn simple_protocol_lookups_follow_ddl_through_their_cache() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let lookup = "SELECT score FROM online.players WHERE id = 7";
    let error = client.simple_query(lookup).await.unwrap_err();
    assert_eq!(sqlstate(&error), "42P01");
    client
        .batch_execute(
            "CREATE FEATURE GROUP players (id BIGINT NOT NULL, score INT, PRIMARY KEY (id));
             INSERT INTO players VALUES (7, 1);",
        )
        .await
        .unwrap();
    for _ in 0..3 {
        let rows = simple_rows(client.simple_query(lookup).await.unwrap());
        assert_eq!(rows, vec![vec![Some("1".to_string())]]);
    }
    client
        .batch_execute(
            "DROP FEATURE GROUP players;
             CREATE FEATURE GROUP players (id BIGINT NOT NULL, score INT, PRIMARY KEY (id));
             INSERT INTO players VALUES (7, 2);",
        )
        .await
        .unwrap();
    let rows = simple_rows(client.simple_query(lookup).await.unwrap());
    assert_eq!(rows, vec![vec![Some("2".to_string())]]);
    client
        .batch_execute("INSERT INTO players VALUES (7, 3)")
        .await
        .unwrap();
    let rows = simple_rows(client.simple_query(lookup).await.unwrap());
    assert_eq!(
        rows,
        vec![vec![Some("3".to_string())]],
        "a cached lookup reads the latest row"
    );
    client
        .batch_execute("DROP FEATURE GROUP players")
        .await
        .unwrap();
    let error = client.simple_query(lookup).await.unwrap_err();
    assert_eq!(sqlstate(&error), "42P01");
}
