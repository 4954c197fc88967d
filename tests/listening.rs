//! Where the server listens: a Unix-domain socket as libpq looks for it
//! (`psql` with no host), IPv6 loopback, and what happens to a socket file
//! a killed server left behind.

mod common;

use std::path::Path;
use std::process::Command;

use common::process::ServerProcess;

/// Runs `psql -c sql` with libpq's environment only (no `-h`): the socket
/// directory comes from `PGHOST`, as the default one would.
fn psql_over_socket(socket_dir: &Path, port: u16, sql: &str) -> (String, String) {
    let output = Command::new("psql")
        .args(["-X", "-A", "-t", "-d", "fstore", "-c", sql])
        .env("PGHOST", socket_dir)
        .env("PGPORT", port.to_string())
        .env("PGUSER", "analyst")
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql must be installed (apt-get install postgresql-client)");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_without_a_host_connects_over_the_unix_socket() {
    let mut server = ServerProcess::new();
    server.start(None);
    let client = server.connect().await.expect("server up");
    client
        .batch_execute("CREATE TABLE over_socket (x INT); INSERT INTO over_socket VALUES (7)")
        .await
        .unwrap();
    let socket = server
        .socket_dir()
        .join(format!(".s.PGSQL.{}", server.port));
    assert!(socket.exists(), "no socket file: {}", server.log());
    let (out, err) = tokio::task::block_in_place(|| {
        psql_over_socket(
            &server.socket_dir(),
            server.port,
            "SELECT x FROM over_socket",
        )
    });
    assert_eq!(out.trim(), "7", "{err}");

    // A killed server leaves its socket file; the next start replaces it.
    server.stop();
    assert!(socket.exists());
    server.start(None);
    server.connect().await.expect("restarted");
    let (out, err) = tokio::task::block_in_place(|| {
        psql_over_socket(&server.socket_dir(), server.port, "SELECT 1 + 1")
    });
    assert_eq!(out.trim(), "2", "{err}");

    // A server that stops as asked removes it.
    let socket = server
        .socket_dir()
        .join(format!(".s.PGSQL.{}", server.port));
    server.terminate();
    assert!(!socket.exists(), "socket file left after SIGTERM");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_servers_socket_is_not_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let bind = || async {
        fstore::server::listeners::Listeners::bind_tcp(&["127.0.0.1:0".parse().unwrap()], false)
            .await
            .unwrap()
    };
    let mut first = bind().await;
    first.add_unix_socket(dir.path(), 6543).unwrap();
    let accepting = tokio::spawn(async move {
        let _ = first.accept().await;
        first
    });
    let mut second = bind().await;
    let refused = second
        .add_unix_socket(dir.path(), 6543)
        .expect_err("a second server on the same socket");
    assert_eq!(refused.kind(), std::io::ErrorKind::AddrInUse, "{refused}");
    assert!(refused.to_string().contains(".s.PGSQL.6543"), "{refused}");
    drop(accepting);
}

#[tokio::test(flavor = "multi_thread")]
async fn ipv6_loopback_is_served_where_the_machine_has_it() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let mut server = ServerProcess::new();
    server.ipv6 = true;
    server.start(None);
    server.connect().await.expect("server up");
    let (client, connection) = tokio_postgres::connect(
        &format!("host=::1 port={} user=v6 dbname=fstore", server.port),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect over ::1");
    tokio::spawn(connection);
    let row = client
        .query_one("SELECT 40 + 2 AS answer", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>("answer"), 42);
}
