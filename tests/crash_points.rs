//! Deterministic crashes at every write boundary (issue 13): a real
//! `fstore` process, built with the `failpoints` feature, is started with
//! one crash point armed (`FAILPOINTS=name=return`), runs the statement
//! that reaches it and dies there (exit status 86, so the point was hit).
//! It is then restarted without the point, and must start and keep SPEC §3:
//! a write is there entirely or not at all (1), acknowledged rows survive
//! (2), and online equals the latest offline row per key (3).

mod common;

use common::count;
use common::process::{CREATE_GROUP, ServerProcess as Server, create_group_with_rows, rows};

/// SPEC §3 invariant 3: online equals the latest offline row per key
/// (keys are written once here).
async fn assert_online_matches_offline(client: &tokio_postgres::Client, context: &str) {
    let read = |sql: &'static str| async move {
        client
            .query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, i64>(0), r.get::<_, Option<i32>>(1)))
            .collect::<Vec<_>>()
    };
    let offline = read("SELECT k, v FROM g ORDER BY k").await;
    let online = read("SELECT k, v FROM online.g ORDER BY k").await;
    assert_eq!(online, offline, "{context}: online != offline");
}

/// A group with rows 1..=5 acknowledged, then a restart with `point` armed.
async fn group_with_rows(server: &mut Server, point: &str) -> tokio_postgres::Client {
    server.start(None);
    let client = server.connect().await.unwrap();
    create_group_with_rows(&client).await;
    server.stop();
    server.start(Some(point));
    server.connect().await.unwrap()
}

/// A write that dies at `point` leaves the acknowledged rows, and its own
/// rows entirely (`committed`) or not at all.
async fn write_crashes_at(point: &str, committed: bool) {
    let mut server = Server::new();
    let client = group_with_rows(&mut server, point).await;
    let write = client
        .batch_execute(&format!("INSERT INTO g VALUES {}", rows(6, 8)))
        .await;
    assert!(write.is_err(), "{point}: the write was acknowledged");
    server.expect_crash(point);
    server.start(None);
    let client = server.connect().await.unwrap();
    let expected = if committed { 8 } else { 5 };
    assert_eq!(
        count(&client, "SELECT count(*) FROM g").await,
        expected,
        "{point}"
    );
    assert_online_matches_offline(&client, point).await;
    // And the group takes writes again.
    client
        .batch_execute(&format!("INSERT INTO g VALUES {}", rows(9, 9)))
        .await
        .unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM g").await, expected + 1);
    assert_online_matches_offline(&client, point).await;
}

#[tokio::test]
async fn a_crash_after_the_parquet_files_are_written_commits_nothing() {
    write_crashes_at("offline.files_written", false).await;
}

#[tokio::test]
async fn a_crash_between_the_delta_and_the_lmdb_commit_is_caught_up() {
    write_crashes_at("offline.committed", true).await;
}

#[tokio::test]
async fn a_crash_inside_the_lmdb_commit_is_caught_up() {
    write_crashes_at("online.commit", true).await;
}

/// A crash during start-up's catch-up (after a crash between the commits)
/// is itself caught up at the next start.
#[tokio::test]
async fn a_crash_during_catch_up_is_caught_up_at_the_next_start() {
    let mut server = Server::new();
    let client = group_with_rows(&mut server, "offline.committed").await;
    let write = client
        .batch_execute(&format!("INSERT INTO g VALUES {}", rows(6, 8)))
        .await;
    assert!(write.is_err());
    server.expect_crash("offline.committed");
    server.start(Some("online.catch_up"));
    server.expect_crash("online.catch_up");
    server.start(None);
    let client = server.connect().await.unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM g").await, 8);
    assert_online_matches_offline(&client, "online.catch_up").await;
}

/// `CREATE FEATURE GROUP … AS SELECT` dying after its rows are committed
/// but before the catalog names the group: the server starts, the group
/// does not exist, and it can be created again.
#[tokio::test]
async fn a_crash_mid_create_as_select_leaves_no_group() {
    let mut server = Server::new();
    let client = group_with_rows(&mut server, "create_as_select.data_committed").await;
    let created = client
        .batch_execute(
            "CREATE FEATURE GROUP c (PRIMARY KEY (k), EVENT TIME (t)) ONLINE AS \
             SELECT k, v, t FROM g",
        )
        .await;
    assert!(created.is_err());
    server.expect_crash("create_as_select.data_committed");
    server.start(None);
    let client = server.connect().await.unwrap();
    let error = client.query("SELECT * FROM c", &[]).await.unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some("42P01"), "{error:?}");
    client
        .batch_execute(
            "CREATE FEATURE GROUP c (PRIMARY KEY (k), EVENT TIME (t)) ONLINE AS \
             SELECT k, v, t FROM g",
        )
        .await
        .unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM c").await, 5);
    assert_eq!(count(&client, "SELECT count(*) FROM online.c").await, 5);
    assert_online_matches_offline(&client, "create_as_select").await;
}

/// `DROP FEATURE GROUP` dying after the catalog forgot the group but before
/// its files went: the server starts, the group is gone, and a new one of
/// the same name starts empty.
#[tokio::test]
async fn a_crash_mid_drop_leaves_the_group_dropped() {
    let mut server = Server::new();
    let client = group_with_rows(&mut server, "drop.catalog_dropped").await;
    assert!(client.batch_execute("DROP FEATURE GROUP g").await.is_err());
    server.expect_crash("drop.catalog_dropped");
    server.start(None);
    let client = server.connect().await.unwrap();
    let error = client.query("SELECT * FROM g", &[]).await.unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some("42P01"), "{error:?}");
    client.batch_execute(CREATE_GROUP).await.unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM g").await, 0);
    assert_eq!(count(&client, "SELECT count(*) FROM online.g").await, 0);
}

/// `CREATE TRAINING DATASET` dying after its files are written but before
/// the catalog names it: the server starts, the dataset does not exist,
/// and it can be created again with every row.
#[tokio::test]
async fn a_crash_mid_create_training_dataset_leaves_no_dataset() {
    let mut server = Server::new();
    server.start(None);
    let client = server.connect().await.unwrap();
    client.batch_execute(CREATE_GROUP).await.unwrap();
    client
        .batch_execute(&format!(
            "INSERT INTO g VALUES {}; CREATE FEATURE VIEW fv AS SELECT k, v, t FROM g",
            rows(1, 5)
        ))
        .await
        .unwrap();
    server.stop();
    server.start(Some("training_dataset.data_written"));
    let client = server.connect().await.unwrap();
    let created = client
        .batch_execute("CREATE TRAINING DATASET td FROM fv")
        .await;
    assert!(created.is_err());
    server.expect_crash("training_dataset.data_written");
    server.start(None);
    let client = server.connect().await.unwrap();
    let datasets = count(
        &client,
        "SELECT count(*) FROM fs.training_datasets WHERE name = 'td'",
    )
    .await;
    assert_eq!(datasets, 0);
    client
        .batch_execute("CREATE TRAINING DATASET td FROM fv")
        .await
        .unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM td").await, 5);
}

/// `ALTER FEATURE GROUP … REBUILD ONLINE` dying after it cleared the online
/// rows: the next start replays the whole offline log.
#[tokio::test]
async fn a_crash_mid_rebuild_online_is_caught_up() {
    let mut server = Server::new();
    let client = group_with_rows(&mut server, "rebuild_online.cleared").await;
    let rebuilt = client
        .batch_execute("ALTER FEATURE GROUP g REBUILD ONLINE")
        .await;
    assert!(rebuilt.is_err());
    server.expect_crash("rebuild_online.cleared");
    server.start(None);
    let client = server.connect().await.unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM online.g").await, 5);
    assert_online_matches_offline(&client, "rebuild_online").await;
}

/// `DELETE FROM` a group dying at `point`: after the restart the rows are
/// gone entirely (`committed`) or all there, and online matches offline —
/// the catch-up of a log that took rows out rebuilds the online rows from
/// the rows left.
async fn delete_crashes_at(point: &str, committed: bool) {
    let mut server = Server::new();
    let client = group_with_rows(&mut server, point).await;
    let deleted = client
        .batch_execute("DELETE FROM g WHERE k IN (2, 4)")
        .await;
    assert!(deleted.is_err(), "{point}: the delete was acknowledged");
    server.expect_crash(point);
    server.start(None);
    let client = server.connect().await.unwrap();
    let expected = if committed { 3 } else { 5 };
    assert_eq!(
        count(&client, "SELECT count(*) FROM g").await,
        expected,
        "{point}"
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM online.g WHERE k = 2").await,
        if committed { 0 } else { 1 },
        "{point}: online row of a deleted key"
    );
    assert_online_matches_offline(&client, point).await;
}

#[tokio::test]
async fn a_crash_after_a_deletes_files_are_written_deletes_nothing() {
    delete_crashes_at("offline.rewrite_files_written", false).await;
}

#[tokio::test]
async fn a_crash_between_a_deletes_delta_and_lmdb_commits_is_caught_up() {
    delete_crashes_at("offline.rewrite_committed", true).await;
}
