//! A real `fstore` process (the binary Cargo built for the tests), for tests
//! that crash it: started on a data directory, with crash points and other
//! environment, killed, waited for, restarted.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The exit status `crash_point!` dies with.
pub const CRASHED: i32 = 86;

/// The group the crash tests write: a key, a value, an event time.
pub const CREATE_GROUP: &str = "CREATE FEATURE GROUP g (k BIGINT NOT NULL, v INT, \
     t TIMESTAMP NOT NULL, PRIMARY KEY (k), EVENT TIME (t)) ONLINE";

/// Rows `from..=to` of [`CREATE_GROUP`] as `(k, v, t)` VALUES.
pub fn rows(from: i64, to: i64) -> String {
    (from..=to)
        .map(|k| format!("({k}, {}, '2026-01-01 00:00:{:02}')", k * 10, k % 60))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Creates [`CREATE_GROUP`] with rows 1..=5, acknowledged.
pub async fn create_group_with_rows(client: &tokio_postgres::Client) {
    client.batch_execute(CREATE_GROUP).await.unwrap();
    client
        .batch_execute(&format!("INSERT INTO g VALUES {}", rows(1, 5)))
        .await
        .unwrap();
}

pub struct ServerProcess {
    pub dir: tempfile::TempDir,
    /// The data directory the next start uses (`<dir>/data` at first).
    pub data_dir: PathBuf,
    /// Environment of every start.
    pub env: Vec<(String, OsString)>,
    pub port: u16,
    /// Also listen on IPv6 loopback, on the same port.
    pub ipv6: bool,
    child: Option<Child>,
}

impl ServerProcess {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        ServerProcess {
            dir,
            data_dir,
            env: Vec::new(),
            port: 0,
            ipv6: false,
            child: None,
        }
    }

    /// Starts the server, with `crash_point` armed if given.
    pub fn start(&mut self, crash_point: Option<&str>) {
        self.port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_fstore"));
        command
            .args(["serve", "--data-dir"])
            .arg(&self.data_dir)
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--unix-socket-dir")
            .arg(self.socket_dir())
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log);
        if self.ipv6 {
            command.args(["--listen", &format!("[::1]:{}", self.port)]);
        }
        if let Some(point) = crash_point {
            command.env("FAILPOINTS", format!("{point}=return"));
        }
        self.child = Some(command.spawn().expect("start fstore"));
    }

    /// Where the server's Unix-domain socket is (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Stops the process as a service manager does (SIGTERM) and waits.
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// The server's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub async fn connect(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match tokio_postgres::connect(
                &format!("host=127.0.0.1 port={} user=crash dbname=fstore", self.port),
                tokio_postgres::NoTls,
            )
            .await
            {
                Ok((client, connection)) => {
                    tokio::spawn(connection);
                    return Ok(client);
                }
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
            }
        }
    }

    /// Waits for the process to die at its crash point.
    pub fn expect_crash(&mut self, point: &str) {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!("the server did not die at {point}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(CRASHED), "{point}: {status:?}");
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
