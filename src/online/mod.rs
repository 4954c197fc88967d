//! The online store: the latest row per primary key of every online feature
//! group version, in LMDB (`<data-dir>/online`), one named database per
//! version (`fg/<storage-id>`), plus `applied`: storage id → the offline
//! (Delta) version whose rows the online database reflects.
//!
//! Rows are written by an [`OnlineWriter`]: one LMDB write transaction per
//! statement, owned by a dedicated thread (LMDB write transactions belong to
//! the thread that opened them), fed batches while the offline files are
//! written, and committed — together with the new `applied` version — only
//! after the offline commit. LMDB has one write transaction at a time, so
//! the writer holds its first 64 MiB of rows and opens the transaction only
//! when the statement is about to commit or has sent more than that: a
//! small write or an idle COPY does not keep other groups' writers waiting.
//! Readers use LMDB read transactions and never wait for writers.
//!
//! Row kept per key: the greatest event time; equal event times go to the
//! later write (rows are applied in write order, and a tie replaces).

pub mod codec;
pub mod key_size;
mod provider;
pub mod row;
mod source;
pub mod vector;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use datafusion::arrow::record_batch::RecordBatch;
use heed::types::{Bytes, Str};
use heed::{CommitOrAbort, Database, Env, EnvOpenOptions, PutFlags};
use tokio::sync::{mpsc, oneshot};

pub use provider::OnlineTableProvider;
pub use source::{OnlineGroup, OnlineSource, VectorJoin, VectorPlan};

use crate::error::{Error, Result};

const ONLINE_MAP_SIZE: usize = 1 << 40;

/// Free space an online write leaves on the store's disk (see
/// [`OnlineStore::reserve`]).
const ONLINE_DISK_MARGIN: u64 = 8 << 20;
const WRITER_QUEUE: usize = 4;

pub(crate) type RowsDb = Database<'static, Bytes, Bytes>;

pub struct OnlineStore {
    env: Env,
    max_groups: u32,
    applied: Database<'static, Str, Bytes>,
    /// Groups whose catch-up failed: storage id → (group name, reason).
    /// Empty but for a broken group, so the lock is uncontended.
    unavailable: Mutex<HashMap<String, (String, String)>>,
    groups: Mutex<HashMap<String, RowsDb>>,
}

/// How one feature group version's rows are keyed and ordered.
#[derive(Debug, Clone)]
pub struct OnlineLayout {
    pub storage_id: String,
    pub key_columns: Vec<usize>,
    pub event_time_column: Option<usize>,
}

fn db_name(storage_id: &str) -> String {
    format!("fg/{storage_id}")
}

impl OnlineStore {
    /// Opens the store for at most `max_groups` online feature-group
    /// versions (one named database each, plus `applied`).
    pub fn open(dir: &Path, max_groups: u32) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        // SAFETY: this process owns the data directory; the environment is
        // opened once per `Database` and LMDB's lock file guards other
        // processes.
        let env = unsafe {
            EnvOpenOptions::new()
                .map_size(ONLINE_MAP_SIZE)
                // LMDB allocates and zeroes a slot per possible database
                // in every transaction: this bound is paid on each lookup.
                .max_dbs(max_groups.saturating_add(1))
                .max_readers(1_024)
                .open(dir)?
        };
        let applied = env
            .create_databases_and_commit(env.write_txn()?, |opener, wtxn| {
                opener
                    .create_database(wtxn, Some("applied"))
                    .map(CommitOrAbort::<_, ()>::Commit)
            })?
            .unwrap_commit();
        Ok(OnlineStore {
            env,
            max_groups,
            applied,
            groups: Mutex::new(HashMap::new()),
            unavailable: Mutex::new(HashMap::new()),
        })
    }

    /// Marks a group's online rows as not to be served or written (its
    /// catch-up failed), with the error to report.
    pub fn mark_unavailable(&self, storage_id: &str, group: &str, reason: String) {
        let mut unavailable = self.unavailable.lock().unwrap_or_else(|p| p.into_inner());
        unavailable.insert(storage_id.to_string(), (group.to_string(), reason));
    }

    pub fn mark_available(&self, storage_id: &str) {
        let mut unavailable = self.unavailable.lock().unwrap_or_else(|p| p.into_inner());
        unavailable.remove(storage_id);
    }

    /// Why a group's online rows cannot be used, if they cannot.
    pub fn unavailable_reason(&self, storage_id: &str) -> Option<String> {
        let unavailable = self.unavailable.lock().unwrap_or_else(|p| p.into_inner());
        unavailable
            .get(storage_id)
            .map(|(_, reason)| reason.clone())
    }

    /// Refuses to use a group whose online rows are unavailable.
    pub fn check_available(&self, storage_id: &str) -> Result<()> {
        let unavailable = self.unavailable.lock().unwrap_or_else(|p| p.into_inner());
        match unavailable.get(storage_id) {
            None => Ok(()),
            Some((group, reason)) => Err(Error::OnlineUnavailable {
                group: group.clone(),
                reason: reason.clone(),
            }),
        }
    }

    pub(crate) fn rows_db(&self, storage_id: &str) -> Result<RowsDb> {
        let mut groups = self
            .groups
            .lock()
            .map_err(|_| Error::Internal("online store lock poisoned".into()))?;
        if let Some(db) = groups.get(storage_id) {
            return Ok(*db);
        }
        let name = db_name(storage_id);
        let db: RowsDb = self
            .env
            .create_databases_and_commit(waiting_for_the_writer(|| self.env.write_txn())?, |opener, wtxn| {
                opener
                    .create_database(wtxn, Some(&name))
                    .map(CommitOrAbort::<_, ()>::Commit)
            })
            .map_err(|e| match e {
                heed::Error::Mdb(heed::MdbError::DbsFull) => Error::FeatureNotSupported(format!(
                    "the online store holds at most {} online feature-group versions; restart the server with a larger --max-online-groups",
                    self.max_groups
                )),
                other => Error::from(other),
            })?
            .unwrap_commit();
        groups.insert(storage_id.to_string(), db);
        Ok(db)
    }

    /// Creates the group's database (idempotent).
    pub fn create_group(&self, storage_id: &str) -> Result<()> {
        self.rows_db(storage_id).map(|_| ())
    }

    /// Removes every row of the group and its applied marker.
    pub fn drop_group(&self, storage_id: &str) -> Result<()> {
        let db = self.rows_db(storage_id)?;
        let mut wtxn = waiting_for_the_writer(|| self.env.write_txn())?;
        db.clear(&mut wtxn)?;
        self.applied.delete(&mut wtxn, storage_id)?;
        wtxn.commit()?;
        Ok(())
    }

    /// Free bytes on the disk that holds the store, for unprivileged
    /// writers (`statvfs`'s `f_bavail`).
    pub fn available_bytes(&self) -> Result<u64> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(self.env.path().as_os_str().as_bytes())
            .map_err(|_| Error::Internal("online store path has a NUL byte".into()))?;
        let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `path` is a NUL-terminated string and `stats` a buffer of
        // the type statvfs fills; it is read only after statvfs succeeded.
        let stats = unsafe {
            if libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) != 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            stats.assume_init()
        };
        Ok((stats.f_bavail as u64).saturating_mul(stats.f_frsize as u64))
    }

    /// Refuses a write whose rows (`row_bytes` in memory) might not fit
    /// on the store's disk: checked before the offline commit, because the
    /// online commit after it must not run out of space.
    pub fn reserve(&self, row_bytes: u64) -> Result<()> {
        // LMDB copies each touched page and keeps the old ones until the
        // commit: about twice the rows, plus room for the B-tree's growth.
        let needed = row_bytes
            .saturating_mul(2)
            .saturating_add(ONLINE_DISK_MARGIN);
        let available = self.available_bytes()?;
        if available < needed {
            return Err(Error::DiskFull(format!(
                "could not write to the online store: {} MiB free on its disk, the statement needs about {} MiB",
                available >> 20,
                needed.div_ceil(1 << 20)
            )));
        }
        Ok(())
    }

    /// The offline version the group's online rows reflect (0: none yet).
    pub fn applied_version(&self, storage_id: &str) -> Result<u64> {
        let rtxn = self.env.read_txn()?;
        Ok(self
            .applied
            .get(&rtxn, storage_id)?
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .unwrap_or(0))
    }

    /// Starts a write to `layout`'s group. Rows sent with
    /// [`OnlineWriter::apply`] become visible only at
    /// [`OnlineWriter::commit`]; dropping the writer aborts.
    pub fn begin_write(self: &Arc<Self>, layout: OnlineLayout) -> Result<OnlineWriter> {
        let db = self.rows_db(&layout.storage_id)?;
        let (tx, mut rx) = mpsc::channel::<WriterOp>(WRITER_QUEUE);
        let store = self.clone();
        let thread = std::thread::Builder::new()
            .name(format!("online-writer-{}", layout.storage_id))
            .spawn(move || {
                let mut writing = DeferredTxn::default();
                while let Some(op) = rx.blocking_recv() {
                    match op {
                        WriterOp::Batch(batch) => {
                            writing.add(&store, db, &layout, Change::Upsert(batch))
                        }
                        WriterOp::Remove(batch) => {
                            writing.add(&store, db, &layout, Change::Remove(batch))
                        }
                        WriterOp::Clear => writing.add(&store, db, &layout, Change::Clear),
                        WriterOp::Check(reply) => {
                            let _ = reply.send(writing.check(&store, db, &layout));
                        }
                        WriterOp::Commit(version, reply) => {
                            let result = writing.check(&store, db, &layout).and_then(|()| {
                                let wtxn = writing.wtxn.as_mut().expect("open after a check");
                                store.applied.put(
                                    wtxn,
                                    &layout.storage_id,
                                    &version.to_le_bytes(),
                                )?;
                                crate::crash_point!("online.commit");
                                Ok(writing.wtxn.take().expect("open").commit()?)
                            });
                            let _ = reply.send(result);
                            return;
                        }
                    }
                }
                // Channel closed without a commit: the transaction, if one
                // was opened, aborts.
            })?;
        Ok(OnlineWriter {
            tx: Some(tx),
            thread: Some(thread),
        })
    }
}

/// Runs `open`, which may wait for LMDB's one write transaction (a
/// statement's writer may hold it for as long as the statement streams),
/// without holding up the other tasks of an async worker: on the
/// multi-threaded runtime they move to another thread while this one
/// waits.
fn waiting_for_the_writer<T>(open: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(open)
        }
        _ => open(),
    }
}

/// Rows a writer holds before it opens its LMDB write transaction. LMDB
/// has one write transaction at a time for the whole store, so a statement
/// that writes little — or a COPY whose client is slow or idle — should not
/// hold it while it waits for input: its rows wait here, and the
/// transaction opens when the statement is about to commit (or when this
/// much has arrived, after which the statement streams into it).
const ROWS_HELD_BEFORE_THE_TRANSACTION: usize = 64 << 20;

/// A writer's transaction, opened late (see
/// [`ROWS_HELD_BEFORE_THE_TRANSACTION`]), and the first failure of its
/// rows, reported at the next check.
#[derive(Default)]
struct DeferredTxn<'env> {
    wtxn: Option<heed::RwTxn<'env>>,
    held: Vec<Change>,
    held_bytes: usize,
    failure: Option<Error>,
}

impl<'env> DeferredTxn<'env> {
    fn add(&mut self, store: &'env OnlineStore, db: RowsDb, layout: &OnlineLayout, change: Change) {
        if self.failure.is_some() {
            return;
        }
        if self.wtxn.is_none() {
            self.held_bytes += change.held_bytes();
            self.held.push(change);
            if self.held_bytes >= ROWS_HELD_BEFORE_THE_TRANSACTION {
                self.open(store, db, layout);
            }
            return;
        }
        let wtxn = self.wtxn.as_mut().expect("open");
        if let Err(e) = change.apply(wtxn, db, layout) {
            self.failure = Some(e);
        }
    }

    /// Opens the transaction (waiting for other writers' to end) and
    /// applies the rows held so far.
    fn open(&mut self, store: &'env OnlineStore, db: RowsDb, layout: &OnlineLayout) {
        if self.wtxn.is_some() || self.failure.is_some() {
            return;
        }
        let mut wtxn = match store.env.write_txn() {
            Ok(wtxn) => wtxn,
            Err(e) => {
                self.failure = Some(e.into());
                return;
            }
        };
        for change in std::mem::take(&mut self.held) {
            if let Err(e) = change.apply(&mut wtxn, db, layout) {
                self.failure = Some(e);
                return;
            }
        }
        self.held_bytes = 0;
        self.wtxn = Some(wtxn);
    }

    /// Whether every row so far is in the (now open) transaction.
    fn check(&mut self, store: &'env OnlineStore, db: RowsDb, layout: &OnlineLayout) -> Result<()> {
        self.open(store, db, layout);
        match self.failure.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// What a writer does to the group's rows, in the order it was sent.
enum Change {
    Upsert(RecordBatch),
    Remove(RecordBatch),
    Clear,
}

impl Change {
    fn held_bytes(&self) -> usize {
        match self {
            Change::Upsert(rows) | Change::Remove(rows) => rows.get_array_memory_size(),
            Change::Clear => 0,
        }
    }

    fn apply(&self, wtxn: &mut heed::RwTxn, db: RowsDb, layout: &OnlineLayout) -> Result<()> {
        match self {
            Change::Upsert(rows) => apply_batch(wtxn, db, layout, rows),
            Change::Remove(rows) => remove_keys(wtxn, db, layout, rows),
            Change::Clear => Ok(db.clear(wtxn)?),
        }
    }
}

/// Deletes the keys of `batch`'s rows (in the table's column order).
fn remove_keys(
    wtxn: &mut heed::RwTxn,
    db: RowsDb,
    layout: &OnlineLayout,
    batch: &RecordBatch,
) -> Result<()> {
    let mut key = Vec::with_capacity(64);
    for row in 0..batch.num_rows() {
        codec::encode_key_into(&mut key, batch, &layout.key_columns, row)?;
        db.delete(wtxn, &key)?;
    }
    Ok(())
}

/// Upserts the rows of `batch` (in the table's column order) into the open
/// transaction, keeping the greatest event time per key.
fn apply_batch(
    wtxn: &mut heed::RwTxn,
    db: RowsDb,
    layout: &OnlineLayout,
    batch: &RecordBatch,
) -> Result<()> {
    let event_times = layout.event_time_column.map(|c| batch.column(c));
    let mut key = Vec::with_capacity(64);
    let mut value = Vec::with_capacity(256);
    for row in 0..batch.num_rows() {
        codec::encode_key_into(&mut key, batch, &layout.key_columns, row)?;
        let event_time = match event_times {
            Some(column) => codec::event_time_micros(column.as_ref(), row),
            None => codec::NO_EVENT_TIME,
        };
        codec::encode_row_into(&mut value, batch, row, event_time)?;
        // Most keys of a load are new: try an insert first (one B-tree
        // search), and compare event times only when the key exists.
        match db.put_with_flags(wtxn, PutFlags::NO_OVERWRITE, &key, &value) {
            Ok(()) => {}
            Err(heed::Error::Mdb(heed::MdbError::KeyExist)) => {
                let keep_existing = event_times.is_some()
                    && db
                        .get(wtxn, &key)?
                        .is_some_and(|existing| codec::decode_event_time(existing) > event_time);
                if !keep_existing {
                    db.put(wtxn, &key, &value)?;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

enum WriterOp {
    Batch(RecordBatch),
    /// Removes the keys of these rows.
    Remove(RecordBatch),
    /// Removes every row of the group.
    Clear,
    /// Has every batch so far gone into the transaction?
    Check(oneshot::Sender<Result<()>>),
    Commit(u64, oneshot::Sender<Result<()>>),
}

pub struct OnlineWriter {
    tx: Option<mpsc::Sender<WriterOp>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OnlineWriter {
    /// Hands `op` to the writer's thread, in order.
    async fn send(&self, op: WriterOp) -> Result<()> {
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| Error::Internal("online writer already finished".into()))?;
        tx.send(op)
            .await
            .map_err(|_| Error::Internal("online writer stopped".into()))
    }

    pub async fn apply(&self, batch: RecordBatch) -> Result<()> {
        self.send(WriterOp::Batch(batch)).await
    }

    /// Removes the keys of `rows` (in the table's column order); rows sent
    /// after may put them back.
    pub async fn remove(&self, rows: RecordBatch) -> Result<()> {
        self.send(WriterOp::Remove(rows)).await
    }

    /// Removes every row of the group; rows sent after fill it again.
    pub async fn clear(&self) -> Result<()> {
        self.send(WriterOp::Clear).await
    }

    /// Whether every row sent so far went into the transaction: asked
    /// before the offline commit, so that a failure of the online side
    /// (a full disk while LMDB spills pages, say) fails the statement while
    /// nothing is committed yet.
    pub async fn check(&self) -> Result<()> {
        let (reply, done) = oneshot::channel();
        self.send(WriterOp::Check(reply)).await?;
        done.await
            .map_err(|_| Error::Internal("online writer stopped before checking".into()))?
    }

    /// Commits the rows and records `offline_version` as applied, durably.
    pub async fn commit(mut self, offline_version: u64) -> Result<()> {
        let tx = self
            .tx
            .take()
            .ok_or_else(|| Error::Internal("online writer already finished".into()))?;
        let (reply, done) = oneshot::channel();
        tx.send(WriterOp::Commit(offline_version, reply))
            .await
            .map_err(|_| Error::Internal("online writer stopped".into()))?;
        let result = done
            .await
            .map_err(|_| Error::Internal("online writer stopped before committing".into()))?;
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        result
    }
}

impl Drop for OnlineWriter {
    fn drop(&mut self) {
        // Closing the channel makes the thread drop (abort) its transaction.
        self.tx.take();
    }
}
