//! End to end over the wire: feature groups written in several batches
//! (late data included), a feature view, a training dataset, then more
//! writes. Checks that
//! - every training row's features are exactly the point-in-time values a
//!   naive reference computes from the rows written (ties to the later
//!   write), so no row sees a value from its future;
//! - the training dataset does not change after later writes;
//! - re-running its recorded query gives identical rows;
//! - COPY … TO STDOUT (binary and CSV) returns the same data as a query.

mod common;

use common::TestServer;
use futures::StreamExt;

/// A deterministic pseudo-random sequence (no clock, no global state).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

#[derive(Clone, Debug)]
struct Profile {
    key: i64,
    day: i64,
    age: i64,
    /// Write order: ties go to the greatest.
    seq: usize,
}

#[derive(Clone, Debug)]
struct Transaction {
    key: i64,
    day: i64,
    amount: i64,
}

fn ts(day: i64) -> String {
    format!("2026-01-01 00:00:00'::timestamp + INTERVAL '{day} days")
}

async fn rows(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut out = Vec::new();
    for message in client.simple_query(sql).await.expect(sql) {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
            out.push(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            );
        }
    }
    out
}

fn expected_age(profiles: &[Profile], key: i64, day: i64) -> Option<i64> {
    profiles
        .iter()
        .filter(|p| p.key == key && p.day <= day)
        .max_by_key(|p| (p.day, p.seq))
        .map(|p| p.age)
}

#[tokio::test]
async fn training_datasets_are_point_in_time_correct_immutable_and_reproducible() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE FEATURE GROUP tx (k BIGINT NOT NULL, at TIMESTAMP NOT NULL, amount BIGINT, PRIMARY KEY (k), EVENT TIME (at));
             CREATE FEATURE GROUP prof (k BIGINT NOT NULL, at TIMESTAMP NOT NULL, age BIGINT, PRIMARY KEY (k), EVENT TIME (at));",
        )
        .await
        .unwrap();
    let mut random = Lcg(42);
    let mut profiles: Vec<Profile> = Vec::new();
    let mut transactions: Vec<Transaction> = Vec::new();
    let mut write = |profiles: &mut Vec<Profile>,
                     transactions: &mut Vec<Transaction>,
                     days: std::ops::Range<i64>| {
        let mut profile_sql = Vec::new();
        let mut tx_sql = Vec::new();
        for _ in 0..40 {
            let key = random.next(8) as i64;
            let day = days.start + random.next((days.end - days.start) as u64) as i64;
            let age = random.next(90) as i64;
            profiles.push(Profile {
                key,
                day,
                age,
                seq: profiles.len(),
            });
            profile_sql.push(format!("({key}, '{}', {age})", ts(day)));
            let key = random.next(8) as i64;
            let day = days.start + random.next((days.end - days.start) as u64) as i64;
            let amount = random.next(1000) as i64;
            transactions.push(Transaction { key, day, amount });
            tx_sql.push(format!("({key}, '{}', {amount})", ts(day)));
        }
        (
            format!("INSERT INTO prof VALUES {}", profile_sql.join(", ")),
            format!("INSERT INTO tx VALUES {}", tx_sql.join(", ")),
        )
    };
    // Three batches; the third is late data (older days than the second).
    for days in [0..20, 20..40, 5..25] {
        let (profile_insert, tx_insert) = write(&mut profiles, &mut transactions, days);
        client.batch_execute(&profile_insert).await.unwrap();
        client.batch_execute(&tx_insert).await.unwrap();
    }
    client
        .batch_execute(
            "CREATE FEATURE VIEW risk AS
             SELECT t.k, t.at, t.amount, p.age, p.at AS profile_at
             FROM tx t ASOF LEFT JOIN prof p ON t.k = p.k AND t.at >= p.at;
             CREATE TRAINING DATASET risk_td FROM risk SPLIT RANDOM (train 0.7, test 0.3) SEED 7;",
        )
        .await
        .unwrap();
    let query = "SELECT k, CAST(at AS TEXT) AS at_text, amount, age, CAST(profile_at AS TEXT) AS p_text, \
                 CAST(at >= profile_at AS TEXT) AS not_future, split FROM risk_td ORDER BY k, at, amount, age";
    let before = rows(&client, query).await;
    assert_eq!(
        before.len(),
        transactions.len(),
        "one training row per transaction"
    );

    // Every row's age is the reference's; no profile is from the row's future.
    let mut expected: Vec<(i64, i64, i64, Option<i64>)> = transactions
        .iter()
        .map(|t| {
            (
                t.key,
                t.day,
                t.amount,
                expected_age(&profiles, t.key, t.day),
            )
        })
        .collect();
    expected.sort();
    let mut actual: Vec<(i64, String, i64, Option<i64>)> = before
        .iter()
        .map(|r| {
            (
                r[0].as_deref().unwrap().parse().unwrap(),
                r[1].clone().unwrap(),
                r[2].as_deref().unwrap().parse().unwrap(),
                r[3].as_deref().map(|a| a.parse().unwrap()),
            )
        })
        .collect();
    actual.sort();
    assert_eq!(
        {
            let mut a: Vec<_> = actual.iter().map(|(k, _, a, age)| (*k, *a, *age)).collect();
            a.sort();
            a
        },
        {
            let mut e: Vec<_> = expected
                .iter()
                .map(|(k, _, a, age)| (*k, *a, *age))
                .collect();
            e.sort();
            e
        },
        "features differ from the point-in-time reference"
    );
    for row in &before {
        if row[4].is_some() {
            assert_eq!(
                row[5].as_deref(),
                Some("true"),
                "row sees the future: {row:?}"
            );
        }
        assert!(matches!(row[6].as_deref(), Some("train") | Some("test")));
    }

    // More writes, late data included: the dataset does not move…
    for days in [0..40, 40..60] {
        let (profile_insert, tx_insert) = write(&mut profiles, &mut transactions, days);
        client.batch_execute(&profile_insert).await.unwrap();
        client.batch_execute(&tx_insert).await.unwrap();
    }
    assert_eq!(
        rows(&client, query).await,
        before,
        "the training dataset changed"
    );

    // …and its recorded query reproduces it exactly.
    let recorded = rows(
        &client,
        "SELECT query FROM fs.training_datasets WHERE name = 'risk_td'",
    )
    .await;
    let recorded_query = recorded[0][0].clone().unwrap();
    let recreated = rows(
        &client,
        &format!(
            "SELECT k, CAST(at AS TEXT) AS at_text, amount, age, CAST(profile_at AS TEXT) AS p_text, \
             CAST(at >= profile_at AS TEXT) AS not_future, split FROM ({recorded_query}) r ORDER BY k, at, amount, age"
        ),
    )
    .await;
    assert_eq!(recreated, before, "recreation from recorded inputs differs");
    let stored = rows(&client, "SELECT * FROM risk_td").await;
    let again = rows(&client, &recorded_query).await;
    assert_eq!(
        again, stored,
        "recorded query does not give the stored rows in order"
    );

    // A new version sees the new data.
    client
        .batch_execute(
            "CREATE TRAINING DATASET risk_td FROM risk SPLIT RANDOM (train 0.7, test 0.3) SEED 7",
        )
        .await
        .unwrap();
    let newer = rows(&client, "SELECT count(*) FROM risk_td").await;
    assert_eq!(
        newer[0][0].as_deref(),
        Some(transactions.len().to_string().as_str())
    );
    let first = rows(&client, "SELECT count(*) FROM risk_td_v1").await;
    assert_eq!(
        first[0][0].as_deref(),
        Some(before.len().to_string().as_str())
    );

    // COPY TO STDOUT: CSV and binary carry the same rows as a query.
    let csv = client
        .copy_out("COPY (SELECT k, amount FROM risk_td_v1 ORDER BY k, amount) TO STDOUT (FORMAT csv, HEADER)")
        .await
        .unwrap();
    let bytes: Vec<u8> = csv
        .map(|chunk| chunk.unwrap().to_vec())
        .collect::<Vec<_>>()
        .await
        .concat();
    let text = String::from_utf8(bytes).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("k,amount"));
    let from_query = rows(
        &client,
        "SELECT k, amount FROM risk_td_v1 ORDER BY k, amount",
    )
    .await;
    let from_copy: Vec<Vec<Option<String>>> = lines
        .map(|l| l.split(',').map(|v| Some(v.to_string())).collect())
        .collect();
    assert_eq!(from_copy, from_query);

    let binary = client
        .copy_out(
            "COPY (SELECT k, amount FROM risk_td_v1 ORDER BY k, amount) TO STDOUT (FORMAT binary)",
        )
        .await
        .unwrap();
    let reader = tokio_postgres::binary_copy::BinaryCopyOutStream::new(
        binary,
        &[
            tokio_postgres::types::Type::INT8,
            tokio_postgres::types::Type::INT8,
        ],
    );
    let decoded: Vec<Vec<Option<String>>> = reader
        .map(|row| {
            let row = row.unwrap();
            vec![
                Some(row.get::<i64>(0).to_string()),
                Some(row.get::<i64>(1).to_string()),
            ]
        })
        .collect()
        .await;
    assert_eq!(decoded, from_query);
}
