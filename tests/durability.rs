//! Durable means synced: by the time a write is acknowledged, every file
//! and directory of the offline store it touched was fsynced (LMDB syncs
//! its own commits). The check reads fstore's record of what it synced, so
//! it fails when any sync is taken out.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use common::TestServer;
use fstore::offline::durable::audit;

fn everything_under(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            everything_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[tokio::test]
async fn every_offline_file_and_directory_is_synced_before_the_write_is_acknowledged() {
    audit::start();
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE FEATURE GROUP g (k BIGINT NOT NULL, ts TIMESTAMP NOT NULL, v INT,
                 PRIMARY KEY (k), EVENT TIME (ts)) ONLINE;
             INSERT INTO g VALUES (1, '2026-01-01', 10), (2, '2026-01-02', 20);
             INSERT INTO g VALUES (3, '2026-01-03', 30);
             CREATE TABLE plain AS SELECT 1 AS x;",
        )
        .await
        .unwrap();
    let sink = client
        .copy_in::<_, bytes::Bytes>("COPY g FROM STDIN (FORMAT csv)")
        .await
        .unwrap();
    let mut sink = Box::pin(sink);
    use futures::SinkExt;
    sink.send(bytes::Bytes::from_static(
        b"4,2026-01-04,40\n5,2026-01-05,50\n",
    ))
    .await
    .unwrap();
    assert_eq!(sink.as_mut().finish().await.unwrap(), 2);

    let tables = server.config.data_dir.join("tables");
    let mut written = Vec::new();
    everything_under(&tables, &mut written);
    let synced: HashSet<PathBuf> = audit::synced().into_iter().collect();
    let unsynced: Vec<&PathBuf> = written
        .iter()
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            // Delta's own bookkeeping that no reader depends on.
            !name.starts_with('_') || name == "_delta_log"
        })
        .filter(|path| !synced.contains(*path))
        .collect();
    assert!(
        unsynced.is_empty(),
        "written but never synced: {unsynced:#?}"
    );
    let parquet = written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count();
    let logs = written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .count();
    assert!(parquet >= 4, "{parquet} Parquet files");
    assert!(logs >= 5, "{logs} log entries");
}
