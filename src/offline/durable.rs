//! Durable means synced: a Delta commit is acknowledged only after its
//! Parquet files, its log entry and the directories holding them are
//! fsynced. object_store's local store writes files without syncing them,
//! so after a power loss LMDB (which syncs) could record an offline version
//! whose files are gone. The order matters too: the data files are synced
//! before the log entry that references them is written.
//!
//! A failed fsync is fatal: after one, what the page cache holds of the
//! file is unknown (the kernel may have dropped the dirty pages), so the
//! process stops and start-up recovers from what is on disk.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use deltalake::DeltaTable;
use deltalake::kernel::Action;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};

use crate::error::{Error, Result};

/// Flushes `writer`'s Parquet files, syncs them, commits them as one Delta
/// version and syncs its log entry; returns the new version.
pub(super) async fn commit_synced(
    writer: &mut RecordBatchWriter,
    table: &mut DeltaTable,
    table_dir: &Path,
) -> Result<u64> {
    let snapshot = table.snapshot()?;
    let partition_columns: Vec<String> = snapshot.metadata().partition_columns().into();
    let operation = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: (!partition_columns.is_empty()).then_some(partition_columns),
        predicate: None,
    };
    commit_rewrite_synced(writer, Vec::new(), operation, table, table_dir).await
}

/// [`commit_synced`] for a statement that also takes files out of the
/// table (`removes`: DELETE, UPDATE, TRUNCATE rewrite what they touch).
pub(super) async fn commit_rewrite_synced(
    writer: &mut RecordBatchWriter,
    removes: Vec<Action>,
    operation: DeltaOperation,
    table: &mut DeltaTable,
    table_dir: &Path,
) -> Result<u64> {
    let adds = writer.flush().await?;
    let files: Vec<PathBuf> = adds
        .iter()
        .map(|add| table_dir.join(percent_decode(&add.path)))
        .collect();
    let dir = table_dir.to_path_buf();
    blocking(move || {
        for file in &files {
            sync_path(file);
            if let Some(parent) = file.parent() {
                sync_path(parent);
            }
        }
        sync_path(&dir);
    })
    .await?;
    let snapshot = table.snapshot()?;
    let mut actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
    actions.extend(removes);
    let finalized = CommitBuilder::default()
        .with_actions(actions)
        .build(Some(snapshot), table.log_store(), operation)
        .await?;
    table.state = Some(finalized.snapshot());
    let version = finalized.version();
    let log_dir = table_dir.join("_delta_log");
    blocking(move || {
        // A test proves the power-loss check fails without these syncs.
        if crate::crash_point::armed("sync.delta_log.skip") {
            return;
        }
        sync_path(&log_dir.join(format!("{version:020}.json")));
        sync_path(&log_dir);
    })
    .await?;
    Ok(version as u64)
}

/// Syncs every file and directory under `dir`, `dir` itself and its parent
/// (which gained `dir`'s entry): for a table or dataset just created.
pub fn sync_tree(dir: &Path) -> Result<()> {
    fn walk(dir: &Path) -> Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path)?;
            } else {
                sync_path(&path);
            }
        }
        sync_path(dir);
        Ok(())
    }
    walk(dir)?;
    if let Some(parent) = dir.parent() {
        sync_path(parent);
    }
    Ok(())
}

/// Syncs `dir` and the directory holding it, so that a directory just
/// created (with whatever files its creator synced) survives a power loss.
pub fn sync_created_dir(dir: &Path) -> Result<()> {
    let dir = dir.canonicalize()?;
    sync_path(&dir);
    if let Some(parent) = dir.parent() {
        sync_path(parent);
    }
    Ok(())
}

async fn blocking(work: impl FnOnce() + Send + 'static) -> Result<()> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("sync task failed: {e}")))
}

/// fsyncs one file or directory; a failure stops the process (see the
/// module's doc).
pub fn sync_path(path: &Path) {
    let synced = std::fs::File::open(path).and_then(|file| file.sync_all());
    if let Err(error) = synced {
        tracing::error!(path = %path.display(), %error, "fsync failed; stopping so that start-up recovers from what is on disk");
        std::process::abort();
    }
    audit::record(path);
    #[cfg(feature = "failpoints")]
    power_loss::record(path);
}

/// Delta stores paths as URL path segments (`%20` for a space, …).
pub fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = u8::from_str_radix(&path[i + 1..i + 3], 16)
        {
            out.push(hex);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Which paths were synced, for tests that prove every write is: off
/// unless a test turns it on.
pub mod audit {
    use super::*;

    static SYNCED: Mutex<Option<Vec<PathBuf>>> = Mutex::new(None);

    /// Starts recording (and forgets what was recorded).
    pub fn start() {
        *SYNCED.lock().unwrap_or_else(|p| p.into_inner()) = Some(Vec::new());
    }

    /// The paths synced since [`start`].
    pub fn synced() -> Vec<PathBuf> {
        SYNCED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_default()
    }

    pub(super) fn record(path: &Path) {
        if let Some(paths) = SYNCED.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            paths.push(path.to_path_buf());
        }
    }
}

/// With the `failpoints` feature and `FSTORE_POWER_LOSS_JOURNAL=<dir>`,
/// every sync is journaled with what it made durable — a file's bytes, a
/// directory's entries — so that a test can rebuild the disk a power loss
/// would leave behind: only what was synced (tests/power_loss.rs).
#[cfg(feature = "failpoints")]
mod power_loss {
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::sync::{Mutex, OnceLock};

    struct Journal {
        dir: PathBuf,
        log: std::fs::File,
        next_content: u64,
    }

    fn journal() -> Option<&'static Mutex<Journal>> {
        static JOURNAL: OnceLock<Option<Mutex<Journal>>> = OnceLock::new();
        JOURNAL
            .get_or_init(|| {
                let dir = PathBuf::from(std::env::var_os("FSTORE_POWER_LOSS_JOURNAL")?);
                std::fs::create_dir_all(dir.join("content")).expect("power-loss journal");
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("journal.jsonl"))
                    .expect("power-loss journal");
                // Content ids stay unique across restarts on one journal.
                let next_content = std::fs::read_dir(dir.join("content"))
                    .expect("power-loss journal")
                    .count() as u64;
                Some(Mutex::new(Journal {
                    dir,
                    log,
                    next_content,
                }))
            })
            .as_ref()
    }

    pub(super) fn record(path: &Path) {
        let Some(journal) = journal() else {
            return;
        };
        let mut journal = journal.lock().unwrap_or_else(|p| p.into_inner());
        let path = path.canonicalize().expect("a synced path exists");
        let entry = if path.is_dir() {
            let entries: Vec<(String, bool)> = std::fs::read_dir(&path)
                .expect("a synced directory is readable")
                .filter_map(|entry| entry.ok())
                .map(|entry| {
                    let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                    (entry.file_name().to_string_lossy().into_owned(), is_dir)
                })
                .collect();
            serde_json::json!({ "dir": path, "entries": entries })
        } else {
            let content = journal.next_content;
            journal.next_content += 1;
            std::fs::copy(&path, journal.dir.join("content").join(content.to_string()))
                .expect("power-loss journal");
            serde_json::json!({ "file": path, "content": content })
        };
        writeln!(journal.log, "{entry}").expect("power-loss journal");
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn delta_paths_are_percent_decoded() {
        assert_eq!(percent_decode("part-0001.parquet"), "part-0001.parquet");
        assert_eq!(percent_decode("a%20b%3D1/x.parquet"), "a b=1/x.parquet");
        assert_eq!(percent_decode("bad%2"), "bad%2");
    }
}
