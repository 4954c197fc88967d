//! Sessions that must not hurt each other (issue 13): a CancelRequest
//! stops what its session runs, a client that went away stops its query,
//! a session's `SET datafusion.…` stays in it, and sockets that never start
//! do not keep their connection slots.

mod common;

use std::time::Duration;

use common::{
    TestServer, count, create_online_group, sqlstate, startup_packet, wire_message as message,
};
use futures::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::NoTls;

/// How long a test waits for what must happen at once before it calls it a
/// hang (not a timing assertion: minutes would pass otherwise).
const HANG: Duration = Duration::from_secs(60);

/// A query that runs for minutes unless it is stopped.
const SLOW: &str = "SELECT count(*) FROM generate_series(1, 20000000000) a";

/// A connection whose socket the test can cut (by aborting the task that
/// drives it), as a client that crashes or loses its network does.
async fn connect_cuttable(
    server: &TestServer,
) -> (tokio_postgres::Client, tokio::task::JoinHandle<()>) {
    let (client, connection) = tokio_postgres::connect(&server.connection_string(), NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client, driver)
}

/// A CancelRequest stops a running query with 57014 in both protocols
/// (pgwire's cancel reached only the call that creates the row stream, and
/// the rows are computed while they are sent), and the session goes on.
#[tokio::test]
async fn a_cancel_request_stops_a_running_query() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    for protocol in ["simple", "extended"] {
        let cancel = client.cancel_token();
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            cancel.cancel_query(NoTls).await.unwrap();
        });
        let running = async {
            if protocol == "simple" {
                client.simple_query(SLOW).await.map(|_| ())
            } else {
                client.query(SLOW, &[]).await.map(|_| ())
            }
        };
        let error = tokio::time::timeout(HANG, running)
            .await
            .expect("the cancelled query kept running")
            .unwrap_err();
        assert_eq!(sqlstate(&error), "57014", "{protocol}: {error:?}");
        assert!(
            format!("{error:?}").contains("user request"),
            "{protocol}: {error:?}"
        );
        canceller.await.unwrap();
    }
    assert_eq!(count(&client, "SELECT 41::bigint + 1").await, 42);
}

/// A cancelled `INSERT … SELECT` leaves no row, and frees its group's
/// writer for the next write.
#[tokio::test]
async fn a_cancelled_write_leaves_no_trace() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    create_online_group(&client, "g").await;
    let cancel = client.cancel_token();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cancel.cancel_query(NoTls).await.unwrap();
    });
    let insert = "INSERT INTO g SELECT value, 1 FROM generate_series(1, 20000000000)";
    let error = tokio::time::timeout(HANG, client.simple_query(insert))
        .await
        .expect("the cancelled INSERT kept running")
        .unwrap_err();
    assert_eq!(sqlstate(&error), "57014", "{error:?}");
    let other = server.connect().await;
    tokio::time::timeout(HANG, other.batch_execute("INSERT INTO g VALUES (1, 7)"))
        .await
        .expect("the next write waited for the cancelled one")
        .unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM g").await, 1);
    assert_eq!(count(&client, "SELECT count(*) FROM online.g").await, 1);
}

/// fstore's own long statements stop too, by a cancel or by
/// `statement_timeout`, before they commit: `CREATE FEATURE GROUP … AS
/// SELECT` and `CREATE TABLE … AS SELECT` leave no object and no rows, and
/// the same statement runs to its end afterwards.
#[tokio::test]
async fn long_fstore_statements_stop_on_cancel_and_timeout() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let endless = "SELECT value AS k FROM generate_series(1, 20000000000)";
    let statements = [
        format!("CREATE FEATURE GROUP c (PRIMARY KEY (k)) ONLINE AS {endless}"),
        format!("CREATE TABLE c AS {endless}"),
    ];
    for statement in &statements {
        for stop in ["cancel", "timeout"] {
            let canceller = if stop == "cancel" {
                client
                    .batch_execute("SET statement_timeout = 0")
                    .await
                    .unwrap();
                let cancel = client.cancel_token();
                Some(tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    cancel.cancel_query(NoTls).await.unwrap();
                }))
            } else {
                client
                    .batch_execute("SET statement_timeout = '500ms'")
                    .await
                    .unwrap();
                None
            };
            let error = tokio::time::timeout(HANG, client.simple_query(statement))
                .await
                .unwrap_or_else(|_| panic!("{stop} did not stop {statement}"))
                .unwrap_err();
            assert_eq!(sqlstate(&error), "57014", "{stop}: {statement}: {error:?}");
            let reason = if stop == "cancel" {
                "user request"
            } else {
                "statement timeout"
            };
            assert!(format!("{error:?}").contains(reason), "{error:?}");
            if let Some(canceller) = canceller {
                canceller.await.unwrap();
            }
            let missing = client.query("SELECT * FROM c", &[]).await.unwrap_err();
            assert_eq!(sqlstate(&missing), "42P01", "{stop}: {statement}");
        }
    }
    client
        .batch_execute("SET statement_timeout = 0")
        .await
        .unwrap();
    let finite = "SELECT value AS k FROM generate_series(1, 1000)";
    client
        .batch_execute(&format!(
            "CREATE FEATURE GROUP c (PRIMARY KEY (k)) ONLINE AS {finite}"
        ))
        .await
        .unwrap();
    client
        .batch_execute(&format!("CREATE TABLE d AS {finite}"))
        .await
        .unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM c").await, 1000);
    assert_eq!(count(&client, "SELECT count(*) FROM online.c").await, 1000);
    assert_eq!(count(&client, "SELECT count(*) FROM d").await, 1000);
}

/// A COPY into `g` that has sent rows 1 and 2 and then goes quiet.
async fn quiet_copy_into_g(
    client: &tokio_postgres::Client,
) -> std::pin::Pin<Box<tokio_postgres::CopyInSink<bytes::Bytes>>> {
    let sink = client
        .copy_in::<_, bytes::Bytes>("COPY g FROM STDIN")
        .await
        .unwrap();
    let mut sink = Box::pin(sink);
    sink.send(bytes::Bytes::from("1\t1\n2\t2\n")).await.unwrap();
    sink.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    sink
}

/// A cancel stops a COPY, idle or not: its rows are dropped, what it held
/// is released at once (a write to the same group goes ahead while the
/// COPY's client is still silent), and its client hears 57014.
#[tokio::test]
async fn a_cancelled_copy_commits_nothing_and_holds_nothing() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    create_online_group(&client, "g").await;
    let mut sink = quiet_copy_into_g(&client).await;
    client.cancel_token().cancel_query(NoTls).await.unwrap();
    let other = server.connect().await;
    tokio::time::timeout(HANG, other.batch_execute("INSERT INTO g VALUES (3, 3)"))
        .await
        .expect("a write waited behind the cancelled COPY")
        .unwrap();
    let error = sink.as_mut().finish().await.unwrap_err();
    assert_eq!(sqlstate(&error), "57014", "{error:?}");
    assert_eq!(count(&other, "SELECT count(*) FROM g").await, 1);
    assert_eq!(count(&other, "SELECT count(*) FROM online.g").await, 1);
    assert_eq!(count(&client, "SELECT count(*) FROM g").await, 1);
}

/// An open COPY that has sent a few rows and gone quiet holds nothing that
/// writers to other groups or DDL need (LMDB's one write transaction was
/// opened when the COPY started): they finish while it waits, and the COPY
/// commits its rows when it ends.
#[tokio::test]
async fn an_idle_copy_holds_nothing_other_writers_need() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    create_online_group(&client, "g").await;
    create_online_group(&client, "h").await;
    let mut sink = quiet_copy_into_g(&client).await;
    let other = server.connect().await;
    for statement in [
        "INSERT INTO h VALUES (1, 10)",
        "CREATE FEATURE GROUP x (k BIGINT NOT NULL, PRIMARY KEY (k)) ONLINE",
        "INSERT INTO x VALUES (7)",
        "CREATE TABLE plain AS SELECT 1 AS one",
        "DROP FEATURE GROUP x",
    ] {
        tokio::time::timeout(HANG, other.batch_execute(statement))
            .await
            .unwrap_or_else(|_| panic!("{statement} waited behind an idle COPY on another group"))
            .unwrap();
    }
    assert_eq!(count(&other, "SELECT count(*) FROM online.h").await, 1);
    sink.send(bytes::Bytes::from("3\t3\n")).await.unwrap();
    assert_eq!(sink.as_mut().finish().await.unwrap(), 3);
    assert_eq!(count(&other, "SELECT count(*) FROM g").await, 3);
    assert_eq!(count(&other, "SELECT count(*) FROM online.g").await, 3);
}

/// `statement_timeout` times each Execute, as in PostgreSQL: a portal
/// fetched in parts, with pauses between the fetches longer than the
/// timeout, returns all its rows (its first fetch's clock cut it off).
#[tokio::test]
async fn statement_timeout_times_each_execute_of_a_portal() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    client
        .batch_execute("SET statement_timeout = '1s'")
        .await
        .unwrap();
    let transaction = client.transaction().await.unwrap();
    let portal = transaction
        .bind("SELECT * FROM generate_series(1, 30)", &[])
        .await
        .unwrap();
    let mut fetched = Vec::new();
    for _ in 0..3 {
        let rows = transaction.query_portal(&portal, 10).await.unwrap();
        fetched.extend(rows.iter().map(|row| row.get::<_, i64>(0)));
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    assert_eq!(fetched, (1..=30).collect::<Vec<i64>>());
    // And one Execute that runs past the timeout is stopped.
    let slow = transaction.bind(SLOW, &[]).await.unwrap();
    let error = tokio::time::timeout(HANG, transaction.query_portal(&slow, 10))
        .await
        .expect("the timeout did not stop the Execute")
        .unwrap_err();
    assert_eq!(sqlstate(&error), "57014", "{error:?}");
}

/// The query of a client whose connection went away is stopped: an
/// `INSERT … SELECT` that would run for minutes commits nothing and frees
/// its group's writer as soon as the socket closes.
#[tokio::test]
async fn the_statement_of_a_client_that_went_away_is_stopped() {
    let server = TestServer::start().await;
    let setup = server.connect().await;
    create_online_group(&setup, "g").await;
    let (client, driver) = connect_cuttable(&server).await;
    let running = tokio::spawn(async move {
        let _ = client
            .simple_query("INSERT INTO g SELECT value, 1 FROM generate_series(1, 20000000000)")
            .await;
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    driver.abort();
    let _ = driver.await;
    tokio::time::timeout(HANG, setup.batch_execute("INSERT INTO g VALUES (1, 1)"))
        .await
        .expect("the departed client's INSERT kept the group's writer")
        .unwrap();
    assert_eq!(count(&setup, "SELECT count(*) FROM g").await, 1);
    running.abort();
}

async fn show(client: &tokio_postgres::Client) -> String {
    let messages = client
        .simple_query("SHOW datafusion.execution.batch_size")
        .await
        .unwrap();
    common::simple_rows(messages)[0][0].clone().unwrap()
}

/// `SET datafusion.…` stays in the session that set it (it changed the
/// server's one session context, for every session, until restart).
#[tokio::test]
async fn datafusion_settings_stay_in_their_session() {
    let server = TestServer::start().await;
    let a = server.connect().await;
    let b = server.connect().await;
    let default = show(&b).await;
    assert_eq!(default, "8192");
    a.batch_execute("SET datafusion.execution.batch_size = 1")
        .await
        .unwrap();
    assert_eq!(show(&a).await, "1");
    assert_eq!(show(&b).await, "8192");
    let global: String = b
        .query_one(
            "SELECT value FROM information_schema.df_settings \
             WHERE name = 'datafusion.execution.batch_size'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(global, "8192");
    // The session's queries run with it, and answer as before.
    assert_eq!(
        count(&a, "SELECT count(*) FROM generate_series(1, 100)").await,
        100
    );
    a.batch_execute("SET datafusion.execution.batch_size TO DEFAULT")
        .await
        .unwrap();
    assert_eq!(show(&a).await, "8192");
    let error = a
        .batch_execute("SET datafusion.execution.no_such_option = 1")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "42704", "{error:?}");
    let error = a
        .batch_execute("SET datafusion.execution.batch_size = 'many'")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error), "22023", "{error:?}");
    assert_eq!(show(&a).await, "8192");
}

/// Sockets that never send a start-up packet are closed after the
/// authentication timeout, and so give their connection slots back.
#[tokio::test]
async fn silent_sockets_are_closed_after_the_authentication_timeout() {
    let server = TestServer::start_with(|config| {
        config.max_connections = 3;
        config.authentication_timeout = Duration::from_secs(1);
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(tokio::net::TcpStream::connect(server.addr).await.unwrap());
    }
    for socket in &mut silent {
        let mut buffer = [0u8; 16];
        let read = tokio::time::timeout(HANG, socket.read(&mut buffer))
            .await
            .expect("a silent socket was kept open");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    // The slots are free again.
    let client = server.connect().await;
    assert_eq!(count(&client, "SELECT 1::bigint").await, 1);
    // A socket that started in time is not closed at the timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(count(&client, "SELECT 2::bigint").await, 2);
}

/// A statement, a Bind's parameter formats and values, and the SQLSTATE
/// PostgreSQL answers it with.
type BindCase<'a> = (&'a str, Vec<i16>, Vec<Option<&'a [u8]>>, &'a str);

/// A Bind whose format codes are not text or binary, or whose parameter
/// formats do not match its parameters, or that supplies more parameters
/// than the statement has, is refused as PostgreSQL refuses it.
#[tokio::test]
async fn bind_messages_are_checked() {
    let server = TestServer::start().await;
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    startup(&mut socket).await;
    let cases: [BindCase; 3] = [
        ("SELECT $1::bigint + 1", vec![7], vec![Some(b"1")], "22023"),
        (
            "SELECT $1::bigint + 1",
            vec![0, 0],
            vec![Some(b"1")],
            "08P01",
        ),
        (
            "SELECT $1::bigint + 1",
            vec![],
            vec![Some(b"1"), Some(b"2")],
            "08P01",
        ),
    ];
    for (sql, formats, parameters, expected) in cases {
        let mut messages = parse_message(sql);
        messages.extend(bind_message(&formats, &parameters));
        messages.extend(execute_message());
        messages.extend(b"S\0\0\0\x04");
        socket.write_all(&messages).await.unwrap();
        let codes = read_until_ready(&mut socket).await;
        assert_eq!(codes, vec![expected.to_string()], "{sql} {formats:?}");
    }
    // The connection still answers a good Bind.
    let mut messages = parse_message("SELECT $1::bigint + 1");
    messages.extend(bind_message(&[0], &[Some(b"41")]));
    messages.extend(execute_message());
    messages.extend(b"S\0\0\0\x04");
    socket.write_all(&messages).await.unwrap();
    assert_eq!(read_until_ready(&mut socket).await, Vec::<String>::new());
}

/// An integer literal cast out of its type's range in an online lookup is
/// 22003, as in PostgreSQL (it matched no key before).
#[tokio::test]
async fn an_out_of_range_cast_in_a_lookup_is_22003() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    create_online_group(&client, "g").await;
    for sql in [
        "SELECT * FROM online.g WHERE k = 100000::int2",
        "SELECT * FROM online.g WHERE k = 3000000000::int4",
    ] {
        let error = client.simple_query(sql).await.unwrap_err();
        assert_eq!(sqlstate(&error), "22003", "{sql}: {error:?}");
        let error = client.query(sql, &[]).await.unwrap_err();
        assert_eq!(sqlstate(&error), "22003", "{sql}: {error:?}");
    }
    let rows = client
        .query("SELECT * FROM online.g WHERE k = 30000::int2", &[])
        .await
        .unwrap();
    assert!(rows.is_empty());
}

fn parse_message(sql: &str) -> Vec<u8> {
    let mut body = vec![0u8];
    body.extend(sql.as_bytes());
    body.extend([0, 0, 0]);
    message(b'P', &body)
}

fn bind_message(formats: &[i16], parameters: &[Option<&[u8]>]) -> Vec<u8> {
    let mut body = vec![0u8, 0u8];
    body.extend((formats.len() as i16).to_be_bytes());
    for format in formats {
        body.extend(format.to_be_bytes());
    }
    body.extend((parameters.len() as i16).to_be_bytes());
    for parameter in parameters {
        match parameter {
            Some(value) => {
                body.extend((value.len() as i32).to_be_bytes());
                body.extend(*value);
            }
            None => body.extend((-1i32).to_be_bytes()),
        }
    }
    body.extend(0i16.to_be_bytes());
    message(b'B', &body)
}

fn execute_message() -> Vec<u8> {
    message(b'E', &[0, 0, 0, 0, 0])
}

async fn startup(socket: &mut tokio::net::TcpStream) {
    socket.write_all(&startup_packet("tester")).await.unwrap();
    read_until_ready(socket).await;
}

/// The SQLSTATEs of the ErrorResponses before the next ReadyForQuery.
async fn read_until_ready(socket: &mut tokio::net::TcpStream) -> Vec<String> {
    let mut codes = Vec::new();
    loop {
        let tag = tokio::time::timeout(HANG, socket.read_u8())
            .await
            .expect("no answer")
            .unwrap();
        let length = socket.read_u32().await.unwrap() as usize;
        let mut body = vec![0u8; length - 4];
        socket.read_exact(&mut body).await.unwrap();
        match tag {
            b'E' => {
                let code = body
                    .split(|b| *b == 0)
                    .find_map(|field| field.strip_prefix(b"C"))
                    .map(|code| String::from_utf8_lossy(code).into_owned())
                    .unwrap_or_default();
                codes.push(code);
            }
            b'Z' => return codes,
            _ => {}
        }
    }
}

/// A message whose contents lie about their lengths (a Bind parameter of
/// 100 bytes with 2 behind it) made pgwire's decoder panic, which printed a
/// backtrace and dropped the connection without a word: the client now
/// hears a FATAL 08P01, and the server serves the next connection.
#[tokio::test]
async fn a_malformed_message_is_a_protocol_error() {
    let server = TestServer::start().await;
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    startup(&mut socket).await;
    let mut body = vec![0u8, 0u8];
    body.extend(0i16.to_be_bytes());
    body.extend(1i16.to_be_bytes());
    body.extend(100i32.to_be_bytes());
    body.extend(b"12");
    body.extend(0i16.to_be_bytes());
    let mut messages = parse_message("SELECT $1::bigint");
    messages.extend(message(b'B', &body));
    messages.extend(b"S\0\0\0\x04");
    socket.write_all(&messages).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(HANG, socket.read_to_end(&mut answer))
        .await
        .expect("the connection was kept open")
        .unwrap();
    let fatal = answer.windows(6).any(|w| w == b"C08P01");
    assert!(fatal, "no 08P01 in {:?}", String::from_utf8_lossy(&answer));
    let client = server.connect().await;
    assert_eq!(count(&client, "SELECT 1::bigint").await, 1);
}
