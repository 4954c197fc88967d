//! Recovery of the online store from the offline commit log: rows that
//! reached the offline store (a Delta commit) but not the online store — as
//! after a crash between the two commits — are applied at start-up.

mod common;

use std::sync::Arc;

use common::TestServer;
use datafusion::arrow::array::{Int64Array, TimestampMicrosecondArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use fstore::offline::OfflineTable;

#[tokio::test(flavor = "multi_thread")]
async fn online_store_catches_up_with_commits_it_missed() {
    let mut server = TestServer::start().await;
    {
        let client = server.connect().await;
        client
            .batch_execute(
                "CREATE FEATURE GROUP scores (k BIGINT NOT NULL, t TIMESTAMP NOT NULL, v BIGINT, \
                 PRIMARY KEY (k), EVENT TIME (t));
                 INSERT INTO scores VALUES (1, '2026-01-01 00:00:00', 10), (2, '2026-01-01 00:00:00', 20);",
            )
            .await
            .unwrap();
    }
    server.stop().await;

    // Commit two more versions straight to the offline table, as a crash
    // after the Delta commit and before the LMDB commit would leave them.
    let tables = server.config.data_dir.join("tables");
    let table_dir = std::fs::read_dir(&tables)
        .unwrap()
        .next()
        .expect("the feature group's table")
        .unwrap()
        .path();
    let table = OfflineTable::open(&table_dir, "scores").await.unwrap();
    let day = |d: i64| 1_767_225_600_000_000 + d * 86_400_000_000; // 2026-01-01 + d days
    for (keys, days, values) in [
        (vec![1i64, 3], vec![day(2), day(0)], vec![11i64, 30]),
        // An older event time for key 2 must not replace the newer row.
        (vec![2i64, 3], vec![day(-5), day(1)], vec![19i64, 31]),
    ] {
        let batch = RecordBatch::try_new(
            table.write_schema(),
            vec![
                Arc::new(Int64Array::from(keys)),
                Arc::new(TimestampMicrosecondArray::from(days)),
                Arc::new(Int64Array::from(values)),
            ],
        )
        .unwrap();
        let stream = futures::stream::iter(vec![Ok(batch)]);
        table
            .append(Box::pin(RecordBatchStreamAdapter::new(
                table.write_schema(),
                stream,
            )))
            .await
            .unwrap();
    }
    drop(table);

    server.restart().await;
    let client = server.connect().await;
    let online: Vec<(i64, i64)> = client
        .query("SELECT k, v FROM online.scores ORDER BY k", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(online, vec![(1, 11), (2, 20), (3, 31)]);
    let offline: i64 = client
        .query_one("SELECT count(*) FROM scores", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(offline, 6);

    // Restarting again applies nothing twice.
    server.restart().await;
    let client = server.connect().await;
    let count: i64 = client
        .query_one("SELECT count(*) FROM online.scores", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 3);
}
