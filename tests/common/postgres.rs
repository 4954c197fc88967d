//! A real PostgreSQL 15 started for one test: a fresh cluster in a
//! temporary directory, listening on a free port of 127.0.0.1 and on a Unix
//! socket in that directory, stopped when dropped. `.ci/run` installs the
//! server from Debian's `postgresql` package.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const BIN_DIRS: &[&str] = &["/usr/lib/postgresql/15/bin"];

pub struct Postgres {
    _dir: TempDir,
    server: Child,
    pub port: u16,
}

fn bin_dir() -> PathBuf {
    BIN_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|dir| dir.join("postgres").exists())
        .expect(
            "PostgreSQL 15 server binaries are missing: apt-get install -y postgresql \
             (bash .ci/run installs them)",
        )
}

/// initdb and postgres refuse to run as root: run them as `postgres` then.
fn as_server_user(program: &Path) -> Command {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false);
    if is_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Postgres {
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("fstore-pg")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let data = dir.path().join("data");
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status();
        let initdb = as_server_user(&bin.join("initdb"))
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .args(["--locale=C.UTF-8", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let port = free_port();
        let server = as_server_user(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            .args(["-c", "fsync=off", "-c", "TimeZone=UTC"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        let postgres = Postgres {
            _dir: dir,
            server,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        postgres
    }

    pub fn connection_string(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    pub async fn connect(&self) -> tokio_postgres::Client {
        // The postmaster accepts TCP before it accepts logins.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match tokio_postgres::connect(&self.connection_string(), tokio_postgres::NoTls).await {
                Ok((client, connection)) => {
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                    return client;
                }
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("connect to PostgreSQL: {e}"),
            }
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGTERM through the runuser wrapper would leave the postmaster:
        // signal the postmaster itself (its pid is in the data directory's
        // postmaster.pid), then reap the wrapper.
        let pid_file = self._dir.path().join("data/postmaster.pid");
        if let Ok(text) = std::fs::read_to_string(pid_file)
            && let Some(pid) = text.lines().next()
        {
            let _ = Command::new("kill").args(["-INT", pid.trim()]).status();
        }
        let _ = self.server.wait();
    }
}
