//! Where the server listens: TCP addresses (IPv4 and IPv6 loopback by
//! default) and a Unix-domain socket, `<dir>/.s.PGSQL.<port>` as libpq
//! looks for it, so `psql` with no host connects as to PostgreSQL.

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// Where libpq (as Debian builds it) looks for a server's socket when no
/// host is given.
pub const DEFAULT_UNIX_SOCKET_DIR: &str = "/var/run/postgresql";

/// The sockets a server accepts connections on.
#[derive(Debug)]
pub struct Listeners {
    tcp: Vec<TcpListener>,
    unix: Option<UnixSocket>,
}

/// A bound Unix-domain socket; its file is removed when the server stops.
#[derive(Debug)]
struct UnixSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// An accepted connection.
pub enum Connection {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Listeners {
    pub fn tcp(listener: TcpListener) -> Self {
        Listeners {
            tcp: vec![listener],
            unix: None,
        }
    }

    /// Binds every address of `addresses`. An IPv6 address on a machine
    /// without IPv6 is skipped with a warning when `optional_ipv6`; any
    /// other failure is an error.
    pub async fn bind_tcp(
        addresses: &[std::net::SocketAddr],
        optional_ipv6: bool,
    ) -> io::Result<Self> {
        let mut tcp = Vec::new();
        for address in addresses {
            match TcpListener::bind(address).await {
                Ok(listener) => tcp.push(listener),
                Err(e) if optional_ipv6 && address.is_ipv6() => {
                    tracing::warn!(%address, error = %e, "not listening on IPv6");
                }
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("could not listen on {address}: {e}"),
                    ));
                }
            }
        }
        if tcp.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "no address to listen on",
            ));
        }
        Ok(Listeners { tcp, unix: None })
    }

    /// Also listens on `<dir>/.s.PGSQL.<port>`. A socket file left by a
    /// server that is gone is replaced; one a live server answers on is an
    /// error, as in PostgreSQL.
    pub fn add_unix_socket(&mut self, dir: &Path, port: u16) -> io::Result<()> {
        let path = dir.join(format!(".s.PGSQL.{port}"));
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "another server is listening on {}; is another fstore or PostgreSQL \
                         running on port {port}?",
                        path.display()
                    ),
                ));
            }
            std::fs::remove_file(&path)?;
        }
        let listener = UnixListener::bind(&path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("could not listen on {}: {e}", path.display()),
            )
        })?;
        self.unix = Some(UnixSocket { listener, path });
        Ok(())
    }

    /// The addresses and socket path, for the start-up log line.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .tcp
            .iter()
            .filter_map(|l| l.local_addr().ok().map(|a| a.to_string()))
            .collect();
        if let Some(unix) = &self.unix {
            parts.push(unix.path.display().to_string());
        }
        parts.join(", ")
    }

    /// The next connection on any socket, with a name for logs.
    pub async fn accept(&self) -> io::Result<(Connection, String)> {
        let tcp = futures::future::select_all(self.tcp.iter().map(|l| Box::pin(l.accept())));
        match &self.unix {
            Some(unix) => tokio::select! {
                (accepted, _, _) = tcp => accepted.map(|(s, peer)| (Connection::Tcp(s), peer.to_string())),
                accepted = unix.listener.accept() => accepted.map(|(s, _)| {
                    (Connection::Unix(s), unix.path.display().to_string())
                }),
            },
            None => {
                let (accepted, _, _) = tcp.await;
                accepted.map(|(s, peer)| (Connection::Tcp(s), peer.to_string()))
            }
        }
    }
}

impl Connection {
    /// The connection and a second handle of its socket, which is watched
    /// for the client going away (see `sessions::peer_gone`).
    pub fn with_watch(self) -> io::Result<(Connection, Connection)> {
        match self {
            Connection::Tcp(socket) => {
                let _ = socket.set_nodelay(true);
                let socket = socket.into_std()?;
                let watch = socket.try_clone()?;
                Ok((
                    Connection::Tcp(TcpStream::from_std(socket)?),
                    Connection::Tcp(TcpStream::from_std(watch)?),
                ))
            }
            Connection::Unix(socket) => {
                let socket = socket.into_std()?;
                let watch = socket.try_clone()?;
                Ok((
                    Connection::Unix(UnixStream::from_std(socket)?),
                    Connection::Unix(UnixStream::from_std(watch)?),
                ))
            }
        }
    }

    /// The socket as a byte stream, for what the server writes itself.
    pub fn stream(&mut self) -> &mut (dyn Stream + Unpin) {
        match self {
            Connection::Tcp(socket) => socket,
            Connection::Unix(socket) => socket,
        }
    }

    pub async fn ready(&self, interest: tokio::io::Interest) -> io::Result<tokio::io::Ready> {
        match self {
            Connection::Tcp(socket) => socket.ready(interest).await,
            Connection::Unix(socket) => socket.ready(interest).await,
        }
    }

    /// Clears readiness the way `try_io` does (see `sessions::peer_gone`).
    pub fn clear_readable(&self) {
        let would_block = || Err::<(), _>(io::ErrorKind::WouldBlock.into());
        let _ = match self {
            Connection::Tcp(socket) => socket.try_io(tokio::io::Interest::READABLE, would_block),
            Connection::Unix(socket) => socket.try_io(tokio::io::Interest::READABLE, would_block),
        };
    }
}

/// A socket the server reads and writes bytes on itself.
pub trait Stream: AsyncRead + AsyncWrite + Send {}
impl<T: AsyncRead + AsyncWrite + Send> Stream for T {}
