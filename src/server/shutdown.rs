//! Graceful shutdown: count statements in flight so the server can stop
//! accepting work and let running statements finish (or, past the grace
//! period, be abandoned — a write not yet committed leaves no trace).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct InFlight {
    inner: Arc<InFlightInner>,
}

#[derive(Default)]
struct InFlightInner {
    running: AtomicUsize,
    idle: Notify,
}

pub struct Busy {
    inner: Arc<InFlightInner>,
}

impl InFlight {
    pub fn enter(&self) -> Busy {
        self.inner.running.fetch_add(1, Ordering::SeqCst);
        Busy {
            inner: self.inner.clone(),
        }
    }

    pub fn running(&self) -> usize {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// Waits until no statement runs, or `grace` passes; true if idle.
    pub async fn wait_idle(&self, grace: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.inner.idle.notified();
                if self.running() == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(grace, wait).await.is_ok()
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.inner.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}
