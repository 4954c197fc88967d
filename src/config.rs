//! Server settings, filled from the command line (see `main.rs`).

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// Everything fstore stores lives here (created if missing).
    pub data_dir: PathBuf,
    /// Connections past this many are refused with SQLSTATE 53300.
    pub max_connections: usize,
    /// Memory a query's operators may hold; past it the query fails with
    /// 53200 and the server carries on.
    pub memory_limit_bytes: usize,
    /// Lets SQL name server files (`CREATE EXTERNAL TABLE`, `COPY … TO
    /// 'file'`). Off by default: a client must not read or write arbitrary
    /// files on the server.
    pub allow_file_access: bool,
    /// On SIGINT/SIGTERM, how long statements in flight may take to finish.
    pub shutdown_grace: Duration,
    /// How long a connection may take to finish its start-up (PostgreSQL's
    /// `authentication_timeout`): sockets that never send a start-up packet
    /// must not hold connection slots.
    pub authentication_timeout: Duration,
    /// How many online feature-group versions the online store can hold
    /// (LMDB named databases). Every read transaction allocates and clears
    /// a slot per possible database, so a lower limit makes lookups faster;
    /// it can be raised at any restart.
    pub max_online_groups: u32,
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            max_connections: 1000,
            memory_limit_bytes: 2 << 30,
            allow_file_access: false,
            shutdown_grace: Duration::from_secs(10),
            authentication_timeout: Duration::from_secs(60),
            max_online_groups: 256,
        }
    }
}
