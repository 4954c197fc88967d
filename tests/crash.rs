//! Crash safety (SPEC §3 invariants 2 and 3): a real `fstore` process is
//! killed with SIGKILL at random moments while clients stream INSERT and
//! COPY batches into an online feature group, then restarted. After every
//! restart:
//! - every acknowledged row is in the offline store;
//! - the batch in flight at the kill is there entirely or not at all;
//! - the online store equals the latest row per key of the offline store.
//!
//! The number of kill points is bounded (and printed), and so is the time.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Rng, env_setting};
use futures::SinkExt;

const KILLS: usize = 25;
const TIME_BUDGET: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    key: i64,
    day: i64,
    /// Unique and increasing in write order: identifies the row and breaks
    /// event-time ties the way the store must (later write wins).
    seq: i64,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(data_dir: &std::path::Path, port: u16, log: &std::path::Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_fstore"))
        .args(["serve", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        // Killed over and over: no socket file left in a shared directory.
        .args(["--unix-socket-dir", ""])
        .env("RUST_LOG", "error,fstore::store=info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start fstore")
}

async fn connect(port: u16) -> tokio_postgres::Client {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match tokio_postgres::connect(
            &format!("host=127.0.0.1 port={port} user=crash dbname=fstore"),
            tokio_postgres::NoTls,
        )
        .await
        {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                return client;
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("server did not come up: {e}"),
        }
    }
}

fn timestamp(day: i64) -> String {
    format!("2026-03-{:02} 00:00:00", day + 1)
}

async fn write_batch(
    client: &tokio_postgres::Client,
    rows: &[Row],
    use_copy: bool,
) -> Result<(), tokio_postgres::Error> {
    if use_copy {
        let sink = client
            .copy_in::<_, bytes::Bytes>("COPY events FROM STDIN (FORMAT csv)")
            .await?;
        let mut sink = Box::pin(sink);
        let body: String = rows
            .iter()
            .map(|r| format!("{},{},{}\n", r.key, timestamp(r.day), r.seq))
            .collect();
        sink.send(bytes::Bytes::from(body)).await?;
        sink.as_mut().finish().await?;
    } else {
        let values = rows
            .iter()
            .map(|r| format!("({}, '{}', {})", r.key, timestamp(r.day), r.seq))
            .collect::<Vec<_>>()
            .join(", ");
        client
            .execute(&format!("INSERT INTO events VALUES {values}"), &[])
            .await?;
    }
    Ok(())
}

async fn read_rows(client: &tokio_postgres::Client, table: &str) -> Vec<Row> {
    let mut rows: Vec<Row> = client
        .query(
            &format!("SELECT k, CAST(date_part('day', t) AS BIGINT) - 1, seq FROM {table}"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| Row {
            key: r.get(0),
            day: r.get(1),
            seq: r.get(2),
        })
        .collect();
    rows.sort();
    rows
}

fn latest_per_key(rows: &[Row]) -> Vec<Row> {
    let mut latest: BTreeMap<i64, Row> = BTreeMap::new();
    for row in rows {
        let replace = match latest.get(&row.key) {
            Some(existing) => (row.day, row.seq) > (existing.day, existing.seq),
            None => true,
        };
        if replace {
            latest.insert(row.key, row.clone());
        }
    }
    latest.into_values().collect()
}

/// One client writing batches into its own keys: its batches commit in
/// the order it sends them, so its `seq` order is the store's write order.
struct Writer {
    rng: Rng,
    keys: std::ops::Range<i64>,
    next_seq: i64,
    acknowledged: Vec<Row>,
    in_flight: Option<Vec<Row>>,
    batches: usize,
}

impl Writer {
    /// Writes until the server dies under it.
    async fn write_until_killed(mut self, client: tokio_postgres::Client) -> Self {
        loop {
            let rows: Vec<Row> = (0..1 + self.rng.below(20))
                .map(|_| {
                    self.next_seq += 1;
                    Row {
                        key: self.keys.start
                            + self.rng.below((self.keys.end - self.keys.start) as u64) as i64,
                        day: self.rng.below(5) as i64,
                        seq: self.next_seq,
                    }
                })
                .collect();
            self.in_flight = Some(rows.clone());
            let use_copy = self.rng.below(2) == 0;
            match write_batch(&client, &rows, use_copy).await {
                Ok(()) => {
                    self.batches += 1;
                    let done = self.in_flight.take().unwrap_or_default();
                    self.acknowledged.extend(done);
                }
                Err(_) => return self,
            }
        }
    }
}

/// `FSTORE_CRASH_KILLS` (default 25), `FSTORE_CRASH_WRITERS` (default 2)
/// and `FSTORE_CRASH_BUDGET_SECS` (default 120) set the long mode's size
/// (docs/reliability.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_servers_lose_no_acknowledged_write_and_keep_stores_consistent() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let kills_wanted = env_setting("FSTORE_CRASH_KILLS", KILLS as u64) as usize;
    let writer_count = env_setting("FSTORE_CRASH_WRITERS", 2).max(1) as i64;
    let budget = Duration::from_secs(env_setting(
        "FSTORE_CRASH_BUDGET_SECS",
        TIME_BUDGET.as_secs(),
    ));
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let log = dir.path().join("server.log");
    let port = free_port();
    let started = Instant::now();

    let mut writers: Vec<Writer> = (0..writer_count)
        .map(|w| Writer {
            rng: Rng(seed.wrapping_add((w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1),
            keys: w * 8..w * 8 + 8,
            next_seq: w << 40,
            acknowledged: Vec::new(),
            in_flight: None,
            batches: 0,
        })
        .collect();
    let (mut kills, mut in_flight_kept, mut in_flight_dropped) = (0, 0, 0);

    for round in 0..=kills_wanted {
        let mut child = start_server(&data_dir, port, &log);
        let client = connect(port).await;
        if round == 0 {
            client
                .batch_execute(
                    "CREATE FEATURE GROUP events (k BIGINT NOT NULL, t TIMESTAMP NOT NULL, \
                     seq BIGINT, PRIMARY KEY (k), EVENT TIME (t)) ONLINE",
                )
                .await
                .unwrap();
        }

        // Verify what survived the previous kill.
        let offline = read_rows(&client, "events").await;
        for writer in &mut writers {
            if let Some(batch) = writer.in_flight.take() {
                let present = batch
                    .iter()
                    .filter(|r| offline.binary_search(r).is_ok())
                    .count();
                assert!(
                    present == 0 || present == batch.len(),
                    "seed {seed}: a batch was half-written ({present} of {} rows)",
                    batch.len()
                );
                if present == batch.len() {
                    in_flight_kept += 1;
                    writer.acknowledged.extend(batch);
                } else {
                    in_flight_dropped += 1;
                }
            }
        }
        let mut expected: Vec<Row> = writers
            .iter()
            .flat_map(|w| w.acknowledged.iter().cloned())
            .collect();
        expected.sort();
        assert_eq!(
            offline, expected,
            "seed {seed}: offline store after restart {round}"
        );
        let online = read_rows(&client, "online.events").await;
        assert_eq!(
            online,
            latest_per_key(&offline),
            "seed {seed}: online store is not the latest offline row per key after restart {round}"
        );

        if round == kills_wanted || started.elapsed() > budget {
            child.kill().unwrap();
            child.wait().unwrap();
            break;
        }

        // Write until the server is killed under the writers.
        let mut clients = Vec::new();
        for _ in 0..writers.len() {
            clients.push(connect(port).await);
        }
        let kill_after = Duration::from_millis(20 + rng.below(400));
        let pid = child.id();
        let killer = tokio::spawn(async move {
            tokio::time::sleep(kill_after).await;
            // SIGKILL: no shutdown, no flush.
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        });
        let running: Vec<_> = writers
            .drain(..)
            .zip(clients)
            .map(|(writer, client)| tokio::spawn(writer.write_until_killed(client)))
            .collect();
        for handle in running {
            writers.push(handle.await.unwrap());
        }
        killer.await.unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    let catch_ups = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .matches("caught up from the offline log")
        .count();
    let batches: usize = writers.iter().map(|w| w.batches).sum();
    let rows: usize = writers.iter().map(|w| w.acknowledged.len()).sum();
    println!(
        "crash test (seed {seed}): {kills} SIGKILL points, {writer_count} concurrent writers, \
         {batches} acknowledged batches ({rows} rows), in-flight batches at a kill: \
         {in_flight_kept} committed whole, {in_flight_dropped} left no trace; online store \
         caught up from the offline log {catch_ups} times; 0 acknowledged rows lost"
    );
    assert!(kills > 0);
}
