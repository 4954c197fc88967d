//! The network server: accepts Postgres connections and serves each with
//! fstore's pgwire handlers until shutdown.
//!
//! `run` is what `main` calls and what tests call on `127.0.0.1:0`.

pub mod copy_out;
mod errors;
pub mod fast_path;
pub mod front_door;
pub mod handlers;
pub mod listeners;
mod sessions;
mod shutdown;
mod transactions;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use pgwire::tokio::{process_socket, process_socket_unix};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::database::Database;
use crate::error::Result;
pub use handlers::FstoreHandlers;
use listeners::{Connection, Listeners};
pub use shutdown::InFlight;

/// The stack of every thread the server's runtime runs statements on.
/// Parsing, planning and optimizing recurse over the syntax tree, so a
/// statement as deep as `sql::split::MAX_NESTING` allows needs more than
/// the 2 MiB tokio gives a thread (a debug build more than a release one);
/// the memory is reserved, and only what a statement touches is used.
pub const THREAD_STACK_BYTES: usize = 64 << 20;

/// The runtime [`run`] expects: multi-threaded, with
/// [`THREAD_STACK_BYTES`] stacks.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK_BYTES)
        .build()
}

/// Serves `database` on `listener` until `shutdown` resolves (see
/// [`serve`]).
pub async fn run(
    listener: TcpListener,
    database: Arc<Database>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    serve(Listeners::tcp(listener), database, shutdown).await
}

/// Serves `database` on every socket of `listeners` until `shutdown`
/// resolves, then lets statements in flight finish (up to the configured
/// grace period) and closes every connection.
pub async fn serve(
    listeners: Listeners,
    database: Arc<Database>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    report_panics();
    let in_flight = InFlight::default();
    let handlers = Arc::new(FstoreHandlers::new(database.clone(), in_flight.clone()));
    let max_connections = database.config().max_connections;
    let limiter = Arc::new(Semaphore::new(max_connections));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listeners.accept() => {
                let (socket, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                match limiter.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let handlers = handlers.clone();
                        let startup_limit = database.config().authentication_timeout;
                        connections.spawn(async move {
                            let _permit = permit;
                            tracing::debug!(%peer, "connection opened");
                            serve_connection(socket, &handlers, startup_limit).await;
                            tracing::debug!(%peer, "connection closed");
                        });
                    }
                    Err(_) => {
                        tracing::warn!(%peer, max_connections, "connection refused: too many clients");
                        connections.spawn(refuse_connection(socket));
                    }
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }

    let grace = database.config().shutdown_grace;
    tracing::info!(
        running = in_flight.running(),
        "shutting down: no new connections; waiting for statements in flight"
    );
    if !in_flight.wait_idle(grace).await {
        tracing::warn!(
            ?grace,
            "statements still running after the grace period are abandoned"
        );
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    tracing::info!("shut down");
    Ok(())
}

/// Serves one connection: closes it if its start-up takes longer than
/// `startup_limit`, and stops the statement it runs when its client goes.
async fn serve_connection(socket: Connection, handlers: &FstoreHandlers, startup_limit: Duration) {
    let control = Arc::new(sessions::SessionControl::default());
    let (socket, watch) = match socket.with_watch() {
        Ok(sockets) => sockets,
        Err(e) => {
            tracing::warn!(error = %e, "connection could not be set up");
            return;
        }
    };
    let session_handlers = handlers.for_connection(control.clone());
    let serving = std::panic::AssertUnwindSafe(async move {
        match socket {
            Connection::Tcp(socket) => process_socket(socket, None, session_handlers).await,
            Connection::Unix(socket) => process_socket_unix(socket, session_handlers).await,
        }
    })
    .catch_unwind()
    .map(|outcome| match outcome {
        Ok(served) => served,
        Err(_) => Err(std::io::Error::other(PANICKED)),
    });
    tokio::pin!(serving);
    let served = tokio::select! {
        served = &mut serving => Some(served),
        _ = tokio::time::sleep(startup_limit) => None,
        _ = control.started() => None,
    };
    let served = match served {
        Some(served) => served,
        None if !control.is_started() => {
            tracing::info!(
                ?startup_limit,
                "connection closed: start-up not finished in time"
            );
            return;
        }
        None => {
            tokio::select! {
                served = &mut serving => served,
                _ = sessions::peer_gone(&watch, &control) => serving.await,
            }
        }
    };
    match served {
        // The panic was reported by the hook (`report_panics`); the client
        // hears a protocol error, as from PostgreSQL for a malformed message.
        Err(e) if e.to_string() == PANICKED => {
            let mut watch = watch;
            let message = fatal_message(errors::PROTOCOL_VIOLATION, "invalid message format");
            let _ =
                tokio::time::timeout(Duration::from_secs(1), watch.stream().write_all(&message))
                    .await;
        }
        Err(e) => tracing::debug!(error = %e, "connection ended with an error"),
        Ok(()) => {}
    }
    // Whatever the session still runs stops with it.
    control.client_gone();
    handlers.connection_ended(&control);
}

const PANICKED: &str = "the connection's handler panicked";

/// Panics while decoding a client's messages (pgwire and bytes index into
/// what the client sent) are the client's fault: one warning line, no
/// backtrace, and the connection closes with 08P01. Any other panic is a
/// bug of ours and keeps the default report.
fn report_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info.location();
            let in_decoder = location.is_some_and(|l| {
                let file = l.file();
                file.contains("/pgwire-") || file.contains("/bytes-")
            });
            if in_decoder {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::warn!(
                    %message,
                    location = %location.map(|l| l.to_string()).unwrap_or_default(),
                    "connection closed: a client message could not be decoded"
                );
            } else {
                default(info);
            }
        }));
    });
}

/// A FATAL ErrorResponse.
fn fatal_message(code: &str, text: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    for (tag, value) in [(b'S', "FATAL"), (b'V', "FATAL"), (b'C', code), (b'M', text)] {
        fields.push(tag);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut message = vec![b'E'];
    message.extend_from_slice(&((fields.len() + 4) as u32).to_be_bytes());
    message.extend_from_slice(&fields);
    message
}

const SSL_REQUEST_CODE: u32 = 80877103;
const GSSENC_REQUEST_CODE: u32 = 80877104;

/// Answers a connection over the limit the way Postgres does: read its
/// start-up packet, send FATAL 53300, close.
async fn refuse_connection(mut connection: Connection) {
    let socket = connection.stream();
    let exchange = async {
        loop {
            let length = socket.read_u32().await? as usize;
            if !(8..=10_000).contains(&length) {
                break;
            }
            let mut body = vec![0u8; length - 4];
            socket.read_exact(&mut body).await?;
            let code = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
            if code == SSL_REQUEST_CODE || code == GSSENC_REQUEST_CODE {
                socket.write_all(b"N").await?;
                continue;
            }
            break;
        }
        let message = fatal_message(
            errors::TOO_MANY_CONNECTIONS,
            "sorry, too many clients already",
        );
        socket.write_all(&message).await?;
        socket.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), exchange).await;
}
