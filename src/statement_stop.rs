//! What stops a long fstore statement — `CREATE … AS SELECT`, `CREATE
//! TRAINING DATASET`, `INSERT` into a feature group — between two batches:
//! its session's cancel or its `statement_timeout`. The server sets them
//! for the task running the statement; the write paths check them before
//! each batch, so a stopped statement fails before its commit and leaves
//! nothing behind. Queries are stopped on their row streams instead (see
//! `server::handlers::timeout`).

use futures::{Stream, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct StatementStop {
    pub cancel: CancellationToken,
    pub deadline: Option<Instant>,
}

tokio::task_local! {
    static STOP: StatementStop;
}

/// Runs `work` with `stop` as what stops it.
pub async fn scope<F: std::future::Future>(stop: StatementStop, work: F) -> F::Output {
    STOP.scope(stop, work).await
}

/// The next item of `stream`, or 57014 as soon as the statement running
/// on this task is cancelled or runs past its deadline — also while the
/// stream is still computing its next batch. Outside a [`scope`], just the
/// next item.
pub async fn next<S: Stream + Unpin>(stream: &mut S) -> Result<Option<S::Item>> {
    let Ok(stop) = STOP.try_with(StatementStop::clone) else {
        return Ok(stream.next().await);
    };
    let deadline = async {
        match stop.deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        _ = stop.cancel.cancelled() => Err(Error::QueryCanceled { timed_out: false }),
        _ = deadline => Err(Error::QueryCanceled { timed_out: true }),
        item = stream.next() => Ok(item),
    }
}
