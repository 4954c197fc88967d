//! A bounded TCP fuzz test (issue 13): recorded client sessions — start-up,
//! simple queries, Parse/Bind/Execute of lookups and queries, text and
//! binary COPY — are mutated (bytes flipped, lengths changed, pieces cut,
//! repeated or spliced from other sessions) and sent to a running server.
//! Whatever a session gets back, the server must stay up and keep serving
//! well-formed clients correctly (the group the sessions read is never
//! changed; their COPYs go to another).
//!
//! Bounded by `SESSIONS` and `TIME_BUDGET`; `FSTORE_FUZZ_SESSIONS` raises
//! the count for a long run (figures in docs/reliability.md). The seed is
//! printed; `FSTORE_FUZZ_SEED` replays a run.

mod common;

use std::time::{Duration, Instant};

use common::{Rng, TestServer, env_setting, seed, startup_packet, wire_message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SESSIONS: usize = 400;
const TIME_BUDGET: Duration = Duration::from_secs(90);

fn cstring(s: &str) -> Vec<u8> {
    let mut out = s.as_bytes().to_vec();
    out.push(0);
    out
}

fn query(sql: &str) -> Vec<u8> {
    wire_message(b'Q', &cstring(sql))
}

fn extended(sql: &str, parameters: &[&[u8]], binary: bool) -> Vec<u8> {
    let mut parse = cstring("");
    parse.extend(cstring(sql));
    parse.extend(0i16.to_be_bytes());
    let mut bind = cstring("");
    bind.extend(cstring(""));
    bind.extend(1i16.to_be_bytes());
    bind.extend((binary as i16).to_be_bytes());
    bind.extend((parameters.len() as i16).to_be_bytes());
    for parameter in parameters {
        bind.extend((parameter.len() as i32).to_be_bytes());
        bind.extend(*parameter);
    }
    bind.extend(0i16.to_be_bytes());
    let mut out = wire_message(b'P', &parse);
    out.extend(wire_message(b'B', &bind));
    out.extend(wire_message(b'D', b"P\0"));
    out.extend(wire_message(b'E', &[0, 0, 0, 0, 0]));
    out.extend(wire_message(b'S', &[]));
    out
}

fn copy_text() -> Vec<u8> {
    let mut out = query("COPY copies FROM STDIN");
    out.extend(wire_message(b'd', b"100\t1\n101\t2\n102\t3\n"));
    out.extend(wire_message(b'c', &[]));
    out
}

fn copy_binary() -> Vec<u8> {
    let mut data = b"PGCOPY\n\xff\r\n\0".to_vec();
    data.extend([0u8; 8]);
    for (k, v) in [(200i64, 1i32), (201, 2)] {
        data.extend(2i16.to_be_bytes());
        data.extend(8i32.to_be_bytes());
        data.extend(k.to_be_bytes());
        data.extend(4i32.to_be_bytes());
        data.extend(v.to_be_bytes());
    }
    data.extend((-1i16).to_be_bytes());
    let mut out = query("COPY copies FROM STDIN (FORMAT binary)");
    out.extend(wire_message(b'd', &data));
    out.extend(wire_message(b'c', &[]));
    out
}

/// The recorded sessions, each after the start-up packet.
fn recorded() -> Vec<Vec<u8>> {
    vec![
        query("SELECT 1; SELECT v FROM g WHERE k = 1"),
        query("SELECT * FROM online.g WHERE k = 1"),
        extended("SELECT * FROM online.g WHERE k = $1", &[b"1"], false),
        extended(
            "SELECT * FROM online.g WHERE k = $1",
            &[&1i64.to_be_bytes()],
            true,
        ),
        extended("SELECT k, v FROM g WHERE k > $1 ORDER BY k", &[b"0"], false),
        extended("SELECT $1::text || 'x'", &[b"abc"], false),
        copy_text(),
        copy_binary(),
        query("BEGIN; SELECT count(*) FROM g; COMMIT"),
    ]
}

fn mutate(session: &[u8], others: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = session.to_vec();
    for _ in 0..1 + rng.index(4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.index(bytes.len());
        match rng.index(7) {
            0 => bytes[at] = rng.next() as u8,
            1 => bytes[at] ^= 1 << rng.index(8),
            // A length (or any 4 bytes) set to an extreme.
            2 if at + 4 <= bytes.len() => {
                let extreme: [u32; 5] = [0, 3, 0x7fff_ffff, 0xffff_ffff, 0x8000_0000];
                bytes[at..at + 4].copy_from_slice(&extreme[rng.index(5)].to_be_bytes());
            }
            3 => bytes.truncate(at),
            4 => {
                let end = (at + 1 + rng.index(64)).min(bytes.len());
                let piece = bytes[at..end].to_vec();
                for _ in 0..1 + rng.index(8) {
                    bytes.splice(at..at, piece.iter().copied());
                }
            }
            5 => {
                let other = &others[rng.index(others.len())];
                let from = rng.index(other.len());
                let end = (from + 1 + rng.index(128)).min(other.len());
                bytes.splice(at..at, other[from..end].iter().copied());
            }
            _ => {
                let end = (at + 1 + rng.index(16)).min(bytes.len());
                bytes.drain(at..end);
            }
        }
    }
    bytes
}

/// Sends `bytes` and reads whatever comes back until the server closes,
/// goes quiet, or a cap is reached.
async fn play(addr: std::net::SocketAddr, bytes: &[u8]) {
    let Ok(mut socket) = tokio::net::TcpStream::connect(addr).await else {
        panic!("the server stopped accepting connections");
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), socket.write_all(bytes)).await;
    let mut buffer = vec![0u8; 64 << 10];
    let mut received = 0usize;
    while received < 16 << 20 {
        match tokio::time::timeout(Duration::from_millis(150), socket.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => received += n,
        }
    }
}

async fn check_serving(server: &TestServer, context: &str) {
    let client = tokio::time::timeout(Duration::from_secs(30), server.connect())
        .await
        .unwrap_or_else(|_| panic!("{context}: no connection"));
    let row = client
        .query_one("SELECT v FROM online.g WHERE k = $1", &[&1i64])
        .await
        .unwrap_or_else(|e| panic!("{context}: lookup failed: {e}"));
    assert_eq!(row.get::<_, Option<i32>>(0), Some(10), "{context}");
    let count: i64 = client
        .query_one("SELECT count(*) FROM g", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 3, "{context}");
}

#[tokio::test]
async fn mutated_client_sessions_do_not_bring_the_server_down() {
    let server = TestServer::start().await;
    let setup = server.connect().await;
    setup
        .batch_execute(
            "CREATE FEATURE GROUP g (k BIGINT NOT NULL, v INT, PRIMARY KEY (k)) ONLINE;
             INSERT INTO g VALUES (1, 10), (2, 20), (3, 30);
             CREATE FEATURE GROUP copies (k BIGINT NOT NULL, v INT, PRIMARY KEY (k)) ONLINE;",
        )
        .await
        .unwrap();
    let seed = seed();
    let sessions = env_setting("FSTORE_FUZZ_SESSIONS", SESSIONS as u64) as usize;
    let budget = if sessions > SESSIONS {
        Duration::from_secs(24 * 3600)
    } else {
        TIME_BUDGET
    };
    println!("fuzz seed {seed}, up to {sessions} sessions");
    let mut rng = Rng(seed);
    let recorded = recorded();
    let started = Instant::now();
    let mut played = 0;
    while played < sessions && started.elapsed() < budget {
        let session = &recorded[rng.index(recorded.len())];
        let mut bytes = startup_packet("fuzz");
        // Most sessions keep a valid start-up to reach the handlers.
        if rng.index(8) == 0 {
            bytes = mutate(&bytes, &recorded, &mut rng);
        }
        bytes.extend(mutate(session, &recorded, &mut rng));
        play(server.addr, &bytes).await;
        played += 1;
        if played % 50 == 0 {
            check_serving(&server, &format!("seed {seed}, session {played}")).await;
        }
    }
    check_serving(&server, &format!("seed {seed}, after {played} sessions")).await;
    println!(
        "fuzz seed {seed}: {played} mutated sessions in {:.1} s, server up",
        started.elapsed().as_secs_f64()
    );
}
