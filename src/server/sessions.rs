//! What the server knows of each connection besides what pgwire keeps: how
//! to stop the statement it is running — on a CancelRequest, or when its
//! client has gone — and whether it finished its start-up in time.
//!
//! pgwire's own cancellation drops the future of the call that answers a
//! message, which stops a write wherever it happens to be and does not
//! reach a query's rows, computed while they are sent. Here a cancel
//! fires the session's token instead; queries stop at their next batch,
//! COPY at its next message, and writes run their commit to the end
//! (`offline::finish_detached`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::listeners::Connection;
use async_trait::async_trait;
use pgwire::api::ClientInfo;
use pgwire::api::cancel::CancelHandler;
use pgwire::messages::cancel::CancelRequest;
use tokio::io::Interest;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

type SessionKey = (i32, Vec<u8>);

/// One connection's controls.
#[derive(Debug, Default)]
pub struct SessionControl {
    current: Mutex<CancellationToken>,
    gone: AtomicBool,
    started: AtomicBool,
    started_signal: Notify,
    key: Mutex<Option<SessionKey>>,
    /// Names of the session's protocol-level prepared statements, for
    /// `DEALLOCATE ALL` (pgwire's store cannot list them).
    prepared: Mutex<std::collections::BTreeSet<String>>,
    /// When the Execute running now must end (`statement_timeout`).
    execute_deadline: Mutex<Option<tokio::time::Instant>>,
}

impl SessionControl {
    /// The token of a statement that starts now: a cancel from now on, or
    /// the client's departure, fires it.
    pub fn start_statement(&self) -> CancellationToken {
        let token = CancellationToken::new();
        if self.gone.load(Ordering::Acquire) {
            token.cancel();
        }
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = token.clone();
        token
    }

    /// Stops the statement running now, if any (a cancel between
    /// statements does nothing, as in PostgreSQL).
    fn cancel_current(&self) {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .cancel();
    }

    pub fn set_execute_deadline(&self, deadline: Option<tokio::time::Instant>) {
        *self
            .execute_deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = deadline;
    }

    pub fn execute_deadline(&self) -> Option<tokio::time::Instant> {
        *self
            .execute_deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub fn remember_prepared(&self, name: &str) {
        self.prepared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned());
    }

    /// The names remembered so far, forgotten.
    pub fn take_prepared(&self) -> Vec<String> {
        std::mem::take(&mut *self.prepared.lock().unwrap_or_else(|e| e.into_inner()))
            .into_iter()
            .collect()
    }

    pub fn client_gone(&self) {
        self.gone.store(true, Ordering::Release);
        self.cancel_current();
    }

    fn mark_started(&self) {
        self.started.store(true, Ordering::Release);
        self.started_signal.notify_waiters();
    }

    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// Waits until the connection has finished its start-up.
    pub async fn started(&self) {
        loop {
            let signalled = self.started_signal.notified();
            if self.started.load(Ordering::Acquire) {
                return;
            }
            signalled.await;
        }
    }
}

/// The token of the statement `client`'s session starts now (a fresh,
/// never-fired one for a connection without controls).
pub fn start_statement<C: ClientInfo + ?Sized>(client: &C) -> CancellationToken {
    client
        .session_extensions()
        .get::<Arc<SessionControl>>()
        .map(|control| control.start_statement())
        .unwrap_or_default()
}

/// Every started connection, by the key its CancelRequests carry.
#[derive(Debug, Default)]
pub struct Sessions {
    by_key: Mutex<HashMap<SessionKey, Arc<SessionControl>>>,
}

impl Sessions {
    /// Registers `control` as `client`'s once its start-up is done.
    pub fn started<C: ClientInfo + ?Sized>(&self, client: &C, control: &Arc<SessionControl>) {
        let (pid, secret) = client.pid_and_secret_key();
        let key = (pid, secret.to_bytes().to_vec());
        *control.key.lock().unwrap_or_else(|e| e.into_inner()) = Some(key.clone());
        client.session_extensions().insert(control.clone());
        self.lock().insert(key, control.clone());
        control.mark_started();
    }

    /// Forgets a connection that ended.
    pub fn ended(&self, control: &SessionControl) {
        if let Some(key) = control.key.lock().unwrap_or_else(|e| e.into_inner()).take() {
            self.lock().remove(&key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionKey, Arc<SessionControl>>> {
        self.by_key.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Answers CancelRequests: a request with a wrong key is ignored, as in
/// PostgreSQL.
#[derive(Debug)]
pub struct FstoreCancel {
    pub sessions: Arc<Sessions>,
}

#[async_trait]
impl CancelHandler for FstoreCancel {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let key = (request.pid, request.secret_key.to_bytes().to_vec());
        let control = self.sessions.lock().get(&key).cloned();
        match control {
            Some(control) => control.cancel_current(),
            None => tracing::debug!(pid = request.pid, "cancel request for no session"),
        }
    }
}

/// Resolves when the client has closed its side of the connection or reset
/// it. `watch` is a second handle of the connection's socket: it is only
/// watched for read-closed (EPOLLRDHUP), never read (pgwire reads the
/// data); readiness for data is cleared and waited for again.
pub async fn peer_gone(watch: &Connection, control: &SessionControl) {
    loop {
        match watch.ready(Interest::READABLE).await {
            Ok(ready) if ready.is_read_closed() => {
                control.client_gone();
                return;
            }
            Ok(_) => watch.clear_readable(),
            Err(_) => return std::future::pending().await,
        }
    }
}
