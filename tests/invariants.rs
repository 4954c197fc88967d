//! Property tests for SPEC §3 on feature groups, over the wire:
//! - no skew: after every statement, `online.<group>` equals the latest row
//!   per key of the offline history (greatest event time, ties to the later
//!   write);
//! - nothing lost: the offline history holds exactly the acknowledged rows;
//! - all or nothing: a statement that fails (a NULL key somewhere in its
//!   rows) leaves no trace in either store.
//!
//! Rows arrive through INSERT … VALUES and COPY … FROM STDIN (CSV), in
//! random interleavings, with duplicate keys and equal and out-of-order event
//! times, across several statements; `DELETE FROM <group> WHERE …` takes
//! rows out (the right to be forgotten), and the invariants hold after it.

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Harness;
use futures::SinkExt;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Row {
    key: i64,
    day: i64,
    value: i64,
}

#[derive(Debug, Clone)]
enum Step {
    Insert(Vec<Row>),
    Copy(Vec<Row>),
    /// A batch with a NULL key at `null_at`: must fail and change nothing.
    FailingInsert(Vec<Row>, usize),
    Delete(Forget),
}

/// What a DELETE takes out.
#[derive(Debug, Clone)]
enum Forget {
    Key(i64),
    ValueBelow(i64),
    FromDay(i64),
    KeyOnDay(i64, i64),
}

impl Forget {
    fn condition(&self) -> String {
        match self {
            Forget::Key(k) => format!("k = {k}"),
            Forget::ValueBelow(v) => format!("v < {v}"),
            Forget::FromDay(day) => format!("t >= '{}'", timestamp(*day)),
            Forget::KeyOnDay(k, day) => format!("k = {k} AND t = '{}'", timestamp(*day)),
        }
    }

    fn takes(&self, row: &Row) -> bool {
        match self {
            Forget::Key(k) => row.key == *k,
            Forget::ValueBelow(v) => row.value < *v,
            Forget::FromDay(day) => row.day >= *day,
            Forget::KeyOnDay(k, day) => row.key == *k && row.day == *day,
        }
    }
}

fn forget() -> impl Strategy<Value = Forget> {
    prop_oneof![
        (0i64..6).prop_map(Forget::Key),
        (-1000i64..1000).prop_map(Forget::ValueBelow),
        (0i64..4).prop_map(Forget::FromDay),
        (0i64..6, 0i64..4).prop_map(|(k, day)| Forget::KeyOnDay(k, day)),
    ]
}

fn row() -> impl Strategy<Value = Row> {
    (0i64..6, 0i64..4, -1000i64..1000).prop_map(|(key, day, value)| Row { key, day, value })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => prop::collection::vec(row(), 1..12).prop_map(Step::Insert),
        3 => prop::collection::vec(row(), 1..12).prop_map(Step::Copy),
        1 => (prop::collection::vec(row(), 1..6), 0usize..6)
            .prop_map(|(rows, at)| { let at = at % rows.len(); Step::FailingInsert(rows, at) }),
        2 => forget().prop_map(Step::Delete),
    ]
}

fn timestamp(day: i64) -> String {
    format!("2026-01-{:02} 00:00:00", day + 1)
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(Harness::start)
}

async fn online_rows(client: &tokio_postgres::Client, group: &str) -> Vec<(i64, String, i64)> {
    client
        .query(
            &format!("SELECT k, CAST(t AS TEXT), v FROM online.{group} ORDER BY k"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

async fn offline_rows(client: &tokio_postgres::Client, group: &str) -> Vec<(i64, String, i64)> {
    let mut rows: Vec<(i64, String, i64)> = client
        .query(&format!("SELECT k, CAST(t AS TEXT), v FROM {group}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    rows.sort();
    rows
}

/// How `CAST(t AS TEXT)` prints the row's event time.
fn as_tuple(row: &Row) -> (i64, String, i64) {
    (row.key, timestamp(row.day).replace(' ', "T"), row.value)
}

async fn run_case(steps: Vec<Step>) -> Result<(), TestCaseError> {
    static CASE: AtomicUsize = AtomicUsize::new(0);
    let group = format!("g{}", CASE.fetch_add(1, Ordering::SeqCst));
    let client = harness().server.connect().await;
    client
        .batch_execute(&format!(
            "CREATE FEATURE GROUP {group} (k BIGINT NOT NULL, t TIMESTAMP NOT NULL, v BIGINT, \
             PRIMARY KEY (k), EVENT TIME (t)) ONLINE"
        ))
        .await
        .unwrap();

    let mut written: Vec<Row> = Vec::new();
    for step in steps {
        match step {
            Step::Insert(rows) => {
                let values = rows
                    .iter()
                    .map(|r| format!("({}, '{}', {})", r.key, timestamp(r.day), r.value))
                    .collect::<Vec<_>>()
                    .join(", ");
                let n = client
                    .execute(&format!("INSERT INTO {group} VALUES {values}"), &[])
                    .await
                    .unwrap();
                prop_assert_eq!(n as usize, rows.len());
                written.extend(rows);
            }
            Step::Copy(rows) => {
                let sink = client
                    .copy_in::<_, bytes::Bytes>(&format!("COPY {group} FROM STDIN (FORMAT csv)"))
                    .await
                    .unwrap();
                let mut sink = Box::pin(sink);
                let body: String = rows
                    .iter()
                    .map(|r| format!("{},{},{}\n", r.key, timestamp(r.day), r.value))
                    .collect();
                sink.send(bytes::Bytes::from(body)).await.unwrap();
                let n = sink.as_mut().finish().await.unwrap();
                prop_assert_eq!(n as usize, rows.len());
                written.extend(rows);
            }
            Step::FailingInsert(rows, null_at) => {
                let values = rows
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let key = if i == null_at {
                            "NULL".to_string()
                        } else {
                            r.key.to_string()
                        };
                        format!("({key}, '{}', {})", timestamp(r.day), r.value)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let error = client
                    .execute(&format!("INSERT INTO {group} VALUES {values}"), &[])
                    .await
                    .unwrap_err();
                prop_assert_eq!(error.code().map(|c| c.code()), Some("23502"));
            }
            Step::Delete(forget) => {
                let n = client
                    .execute(
                        &format!("DELETE FROM {group} WHERE {}", forget.condition()),
                        &[],
                    )
                    .await
                    .unwrap();
                let before = written.len();
                written.retain(|row| !forget.takes(row));
                prop_assert_eq!(n as usize, before - written.len());
            }
        }

        // Nothing lost, nothing extra: the offline history is every
        // acknowledged row.
        let mut expected_offline: Vec<_> = written.iter().map(as_tuple).collect();
        expected_offline.sort();
        prop_assert_eq!(offline_rows(&client, &group).await, expected_offline);

        // No skew: online is the latest row per key, ties to the later write.
        let mut latest: BTreeMap<i64, &Row> = BTreeMap::new();
        for row in &written {
            match latest.get(&row.key) {
                Some(existing) if existing.day > row.day => {}
                _ => {
                    latest.insert(row.key, row);
                }
            }
        }
        let expected_online: Vec<_> = latest.values().map(|r| as_tuple(r)).collect();
        prop_assert_eq!(online_rows(&client, &group).await, expected_online);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn online_equals_latest_offline_row_per_key(steps in prop::collection::vec(step(), 1..6)) {
        harness().runtime.block_on(run_case(steps))?;
    }
}
