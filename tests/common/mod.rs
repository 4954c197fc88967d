//! An fstore server started in-process on `127.0.0.1:0` with a temporary
//! data directory, as every integration test uses it.

#![allow(dead_code)]

pub mod postgres;
pub mod process;

use std::net::SocketAddr;

use fstore::{Config, Database};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestServer {
    pub dir: TempDir,
    pub config: Config,
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::new(dir.path().join("data"));
        config.shutdown_grace = std::time::Duration::from_secs(5);
        configure(&mut config);
        let mut server = TestServer {
            dir,
            config,
            addr: "127.0.0.1:0".parse().unwrap(),
            shutdown: None,
            task: None,
        };
        server.launch().await;
        server
    }

    async fn launch(&mut self) {
        let database = Database::open(self.config.clone())
            .await
            .expect("open database");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        self.addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        self.shutdown = Some(tx);
        self.task = Some(tokio::spawn(async move {
            fstore::server::run(listener, database, async {
                let _ = rx.await;
            })
            .await
            .expect("server run");
        }));
    }

    /// Graceful shutdown, as on SIGTERM.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }

    /// Stops the server and starts a new one on the same data directory.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn connection_string(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=tester dbname=fstore",
            self.port()
        )
    }

    pub async fn connect(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.connection_string(), tokio_postgres::NoTls)
                .await
                .expect("connect");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The SQLSTATE of a failed statement, for assertions.
pub fn sqlstate(error: &tokio_postgres::Error) -> String {
    error
        .code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {error}"))
}

/// The rows of a simple-protocol response, as text.
pub fn simple_rows(messages: Vec<tokio_postgres::SimpleQueryMessage>) -> Vec<Vec<Option<String>>> {
    messages
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// One runtime and one server shared by every case of a property test.
pub struct Harness {
    pub runtime: tokio::runtime::Runtime,
    pub server: TestServer,
}

impl Harness {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(TestServer::start());
        Harness { runtime, server }
    }
}

/// The first column of the one row `sql` returns, as a count.
pub async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

/// `CREATE FEATURE GROUP name (k BIGINT key, v INT) ONLINE`.
pub async fn create_online_group(client: &tokio_postgres::Client, name: &str) {
    client
        .batch_execute(&format!(
            "CREATE FEATURE GROUP {name} (k BIGINT NOT NULL, v INT, PRIMARY KEY (k)) ONLINE"
        ))
        .await
        .unwrap();
}

/// xorshift64*: enough randomness for kill timing, rows and mutations,
/// reproducible from a printed seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// An index into something `len` long.
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }
}

/// A whole-number setting from the environment, or `default`.
pub fn env_setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seed a randomized test runs with: `FSTORE_FUZZ_SEED`, or one from
/// the clock.
pub fn seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    env_setting("FSTORE_FUZZ_SEED", now | 1)
}

/// One frontend message: tag, length, body.
pub fn wire_message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(((body.len() + 4) as u32).to_be_bytes());
    out.extend(body);
    out
}

/// A protocol 3.0 start-up packet for user `user` on database `fstore`.
pub fn startup_packet(user: &str) -> Vec<u8> {
    let mut body = 196608u32.to_be_bytes().to_vec();
    for part in ["user", user, "database", "fstore"] {
        body.extend(part.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    packet.extend(body);
    packet
}
