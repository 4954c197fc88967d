//! `fstore serve`: parse the command line, set up logging, open the data
//! directory and serve until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};
use fstore::server::listeners::{DEFAULT_UNIX_SOCKET_DIR, Listeners};
use fstore::{Config, Database};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "fstore",
    version,
    about = "A feature store that speaks the PostgreSQL protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the database in DATA_DIR over the PostgreSQL wire protocol.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Where fstore keeps its catalog and tables; created if missing.
    #[arg(long, env = "FSTORE_DATA_DIR", default_value = "./fstore-data")]
    data_dir: PathBuf,
    /// Address to listen on; repeat it (or separate addresses with commas)
    /// for several. The default stays on loopback, IPv4 and IPv6 (where
    /// the machine has IPv6): there is no authentication yet.
    #[arg(
        long,
        env = "FSTORE_LISTEN",
        value_delimiter = ',',
        default_value = "127.0.0.1:5433,[::1]:5433"
    )]
    listen: Vec<SocketAddr>,
    /// Directory for the Unix-domain socket `.s.PGSQL.<port>`, so that
    /// `psql` with no host connects; empty for none. The default is
    /// PostgreSQL's (as Debian builds libpq) when it exists and is writable.
    #[arg(
        long,
        env = "FSTORE_UNIX_SOCKET_DIR",
        value_parser = clap::builder::TypedValueParser::map(clap::builder::OsStringValueParser::new(), PathBuf::from)
    )]
    unix_socket_dir: Option<PathBuf>,
    /// Connections past this many are refused with SQLSTATE 53300. A
    /// connection is a task with two buffers, not a process, so hundreds
    /// are cheap.
    #[arg(long, default_value_t = 1000)]
    max_connections: usize,
    /// How many online feature-group versions the online store can hold.
    /// Each lookup's read transaction pays for every possible one, so keep
    /// it near what you use; raising it takes a restart.
    #[arg(long, default_value_t = 256)]
    max_online_groups: u32,
    /// Memory (MiB) that query operators may hold in total; a query that
    /// needs more fails with SQLSTATE 53200.
    #[arg(long, default_value_t = 2048)]
    memory_limit_mb: usize,
    /// Let SQL read and write server files (CREATE EXTERNAL TABLE, COPY TO a
    /// file). Off by default.
    #[arg(long)]
    allow_file_access: bool,
    /// Seconds statements in flight may take to finish on shutdown.
    #[arg(long, default_value_t = 10)]
    shutdown_grace_secs: u64,
    /// Seconds a connection may take to finish its start-up (PostgreSQL's
    /// authentication_timeout); slower ones are closed.
    #[arg(long, default_value_t = 60)]
    authentication_timeout_secs: u64,
}

fn main() -> anyhow_free::Result {
    fstore::crash_point::arm_from_environment();
    fstore::server::runtime()?.block_on(serve())
}

async fn serve() -> anyhow_free::Result {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,buoyant_kernel=warn,deltalake_core=warn")),
        )
        .init();
    let Command::Serve(args) = Cli::parse().command;
    let mut config = Config::new(args.data_dir.clone());
    config.max_connections = args.max_connections;
    config.memory_limit_bytes = args.memory_limit_mb << 20;
    config.max_online_groups = args.max_online_groups;
    config.allow_file_access = args.allow_file_access;
    config.shutdown_grace = Duration::from_secs(args.shutdown_grace_secs);
    config.authentication_timeout = Duration::from_secs(args.authentication_timeout_secs.max(1));

    let database = Database::open(config.clone()).await?;
    let listeners = listeners(&args).await?;
    tracing::info!(
        listen = %listeners.describe(),
        data_dir = %config.data_dir.display(),
        "fstore is ready for connections"
    );
    fstore::server::serve(listeners, database, shutdown_signal()).await?;
    Ok(())
}

/// The TCP addresses asked for, and the Unix-domain socket: in the
/// directory asked for, or in PostgreSQL's default one if it is there to
/// write in (a server started by a user without it still starts).
async fn listeners(args: &ServeArgs) -> std::io::Result<Listeners> {
    let defaults = std::env::var_os("FSTORE_LISTEN").is_none()
        && !std::env::args().any(|a| a.starts_with("--listen"));
    let mut listeners = Listeners::bind_tcp(&args.listen, defaults).await?;
    let port = args.listen.first().map_or(5433, SocketAddr::port);
    match &args.unix_socket_dir {
        Some(dir) if dir.as_os_str().is_empty() => {}
        Some(dir) => listeners.add_unix_socket(dir, port)?,
        None => {
            let dir = Path::new(DEFAULT_UNIX_SOCKET_DIR);
            if !dir.is_dir() {
                tracing::info!(dir = %dir.display(), "no Unix-domain socket: the directory does not exist (--unix-socket-dir)");
            } else if let Err(e) = listeners.add_unix_socket(dir, port) {
                // Best effort: another server's socket, or a directory this
                // user may not write in, leaves TCP only.
                tracing::warn!(error = %e, "no Unix-domain socket (--unix-socket-dir)");
            }
        }
    }
    Ok(listeners)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the server with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => tracing::info!("SIGINT received"),
        _ = terminate.recv() => tracing::info!("SIGTERM received"),
    }
}

/// `main`'s error: printed as the error's message, exit status 1.
mod anyhow_free {
    pub type Result = std::result::Result<(), Failure>;

    pub struct Failure(String);

    impl std::fmt::Debug for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl<E: std::fmt::Display> From<E> for Failure {
        fn from(error: E) -> Self {
            Failure(format!("fstore: {error}"))
        }
    }
}
