//! `COPY name [(columns)] FROM STDIN` in text and CSV formats.
//!
//! The client's CopyData chunks flow through a bounded channel into a parser
//! on a blocking thread, which turns rows into record batches of the target's
//! schema (8192 rows at a time) and hands them, through another bounded
//! channel, to the target's [`Ingest::ingest`]. Memory stays bounded whatever
//! the input size; a malformed line fails the whole COPY (with its line
//! number) and nothing is committed.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use tokio::sync::mpsc;

use super::batch::BatchBuilder;
use super::format::CopyFormat;
use super::{binary, text};
use crate::error::{Error, Result};
use crate::offline::IngestTarget;

/// A COPY in progress on one connection.
pub struct CopyIn {
    data: Option<mpsc::Sender<Bytes>>,
    aborted: Arc<AtomicBool>,
    result: tokio::task::JoinHandle<Result<u64>>,
}

/// Starts parsing and ingesting; feed it with [`CopyIn::data`].
/// `columns` are the target's column indices in input order.
pub fn start(target: IngestTarget, columns: Vec<usize>, format: CopyFormat) -> CopyIn {
    let (data_tx, data_rx) = mpsc::channel::<Bytes>(16);
    let (batch_tx, batch_rx) =
        mpsc::channel::<std::result::Result<RecordBatch, DataFusionError>>(2);
    let aborted = Arc::new(AtomicBool::new(false));
    let schema = target.schema();
    let reader = ChannelReader {
        rx: data_rx,
        current: Bytes::new(),
        aborted: aborted.clone(),
    };
    let parse_schema = schema.clone();
    let schema_for_binary = schema.clone();
    let columns_for_binary = columns.clone();
    tokio::task::spawn_blocking(move || {
        let sink = |batch: Result<RecordBatch>| -> bool {
            let batch = batch.map_err(|e| DataFusionError::External(Box::new(e)));
            batch_tx.blocking_send(batch).is_ok()
        };
        let mut builder = BatchBuilder::new(parse_schema, columns);
        let outcome = if format.binary {
            binary::parse_binary(
                reader,
                &schema_for_binary,
                &columns_for_binary,
                &mut builder,
                &sink,
            )
        } else if format.csv {
            text::parse_csv(reader, &format, &mut builder, &sink)
        } else {
            text::parse_text(reader, &format, &mut builder, &sink)
        };
        match outcome.and_then(|()| builder.flush()) {
            Ok(Some(batch)) => {
                sink(Ok(batch));
            }
            Ok(None) => {}
            Err(e) => {
                sink(Err(e));
            }
        }
    });
    let stream = futures::stream::unfold(batch_rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let stream = Box::pin(RecordBatchStreamAdapter::new(schema, stream));
    let result = tokio::spawn(async move { target.ingest(stream).await });
    CopyIn {
        data: Some(data_tx),
        aborted,
        result,
    }
}

impl CopyIn {
    pub async fn data(&self, chunk: Bytes) {
        if let Some(tx) = &self.data {
            // A closed channel means the parser already stopped on an
            // error; the error is reported at the end.
            let _ = tx.send(chunk).await;
        }
    }

    /// The client sent CopyDone: finish and return the rows written.
    pub async fn finish(mut self) -> Result<u64> {
        self.data.take();
        (&mut self.result)
            .await
            .map_err(|e| Error::Internal(format!("COPY task failed: {e}")))?
    }

    /// The client sent CopyFail (or went away): nothing is committed.
    pub async fn abort(mut self) {
        self.aborted.store(true, Ordering::SeqCst);
        self.data.take();
        let _ = (&mut self.result).await;
    }
}

impl Drop for CopyIn {
    /// A COPY dropped without CopyDone — its connection closed, reset or
    /// terminated mid-stream — is abandoned: the parser must not take the
    /// closed channel for the end of the input and commit what came so far
    /// (a truncated last line included).
    fn drop(&mut self) {
        if self.data.is_some() {
            self.aborted.store(true, Ordering::SeqCst);
        }
    }
}

struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
    aborted: Arc<AtomicBool>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None if self.aborted.load(Ordering::SeqCst) => {
                    return Err(std::io::Error::other("COPY was aborted by the client"));
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}
