//! Property test of SPEC invariant 1 extended to feature views: for every
//! serving key, `online.<view>` (the wire fast path, reading the online
//! store) equals the view's AS OF result at +infinity (spine retrieval,
//! reading the offline store), on random rows written in several
//! statements so that ties between equal event times occur.

mod common;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Harness;
use proptest::prelude::*;

fn shared() -> &'static Harness {
    static SHARED: OnceLock<Harness> = OnceLock::new();
    SHARED.get_or_init(Harness::start)
}

static CASE: AtomicUsize = AtomicUsize::new(0);

/// (key, second, value, foreign key)
type RootRow = (i64, i64, i64, Option<i64>);
/// (key, second, value)
type FeatureRow = (i64, i64, Option<i64>);

#[derive(Debug, Clone)]
struct Case {
    root: Vec<Vec<RootRow>>,
    merchants: Vec<Vec<FeatureRow>>,
    profiles: Vec<Vec<FeatureRow>>,
}

fn batches<T: std::fmt::Debug + Clone>(
    row: impl Strategy<Value = T>,
) -> impl Strategy<Value = Vec<Vec<T>>> {
    prop::collection::vec(prop::collection::vec(row, 0..8), 1..4)
}

fn case() -> impl Strategy<Value = Case> {
    (
        batches((0i64..6, 0i64..12, -50i64..50, prop::option::of(0i64..4))),
        batches((0i64..4, 0i64..12, prop::option::of(-9i64..9))),
        batches((0i64..6, 0i64..12, prop::option::of(0i64..99))),
    )
        .prop_map(|(root, merchants, profiles)| Case {
            root,
            merchants,
            profiles,
        })
}

fn ts(second: i64) -> String {
    format!("TIMESTAMP '2026-01-01 00:00:{second:02}'")
}

fn sql_int(value: Option<i64>) -> String {
    value.map_or("NULL".into(), |v| v.to_string())
}

async fn insert(client: &tokio_postgres::Client, table: &str, rows: Vec<String>) {
    if rows.is_empty() {
        return;
    }
    client
        .batch_execute(&format!("INSERT INTO {table} VALUES {}", rows.join(", ")))
        .await
        .unwrap();
}

type Vector = (Option<i64>, Option<i64>, Option<String>);

async fn run(case: &Case) -> (BTreeMap<i64, Vector>, BTreeMap<i64, Vector>) {
    let n = CASE.fetch_add(1, Ordering::Relaxed);
    let client = shared().server.connect().await;
    let (root, merchants, profiles, view) = (
        format!("root_{n}"),
        format!("merchants_{n}"),
        format!("profiles_{n}"),
        format!("vectors_{n}"),
    );
    client
        .batch_execute(&format!(
            "CREATE FEATURE GROUP {root} (k BIGINT NOT NULL, ts TIMESTAMP NOT NULL, a BIGINT, fk BIGINT, label BOOLEAN, PRIMARY KEY (k), EVENT TIME (ts));
             CREATE FEATURE GROUP {merchants} (fk BIGINT NOT NULL, ts TIMESTAMP NOT NULL, b BIGINT, PRIMARY KEY (fk), EVENT TIME (ts));
             CREATE FEATURE GROUP {profiles} (k BIGINT NOT NULL, ts TIMESTAMP NOT NULL, c TEXT, PRIMARY KEY (k), EVENT TIME (ts));"
        ))
        .await
        .unwrap();
    for batch in &case.root {
        let rows = batch
            .iter()
            .map(|(k, s, a, fk)| {
                format!("({k}, {}, {a}, {}, {})", ts(*s), sql_int(*fk), a % 2 == 0)
            })
            .collect();
        insert(&client, &root, rows).await;
    }
    for batch in &case.merchants {
        let rows = batch
            .iter()
            .map(|(fk, s, b)| format!("({fk}, {}, {})", ts(*s), sql_int(*b)))
            .collect();
        insert(&client, &merchants, rows).await;
    }
    for batch in &case.profiles {
        let rows = batch
            .iter()
            .map(|(k, s, c)| {
                let c = c.map_or("NULL".to_string(), |c| format!("'c{c}'"));
                format!("({k}, {}, {c})", ts(*s))
            })
            .collect();
        insert(&client, &profiles, rows).await;
    }
    client
        .batch_execute(&format!(
            "CREATE FEATURE VIEW {view} AS
             SELECT r.k, r.ts, r.a, m.b, p.c, r.label
             FROM {root} r
             ASOF LEFT JOIN {merchants} m ON r.fk = m.fk AND r.ts >= m.ts
             ASOF LEFT JOIN {profiles} p ON r.k = p.k AND r.ts >= p.ts
             LABELS (label)"
        ))
        .await
        .unwrap();

    // Online: every key that might exist, and some that cannot.
    let keys: Vec<i64> = (-2..8).collect();
    let online_rows = client
        .query(
            &format!("SELECT k, a, b, c FROM online.{view} WHERE k = ANY($1)"),
            &[&keys],
        )
        .await
        .unwrap();
    let online: BTreeMap<i64, Vector> = online_rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    assert_eq!(online.len(), online_rows.len(), "a key came back twice");

    // AS OF at +infinity: spine retrieval at the latest time DataFusion's
    // nanosecond timestamps can write.
    let asof_rows = client
        .query(
            &format!(
                "SELECT k, a, b, c FROM {view}((SELECT DISTINCT k, TIMESTAMP '2262-01-01 00:00:00' AS ts FROM {root}))"
            ),
            &[],
        )
        .await
        .unwrap();
    let asof: BTreeMap<i64, Vector> = asof_rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    // The vector's event time is the root's latest.
    let times = |sql: String| {
        let client = &client;
        async move {
            client
                .query(&sql, &[])
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get::<_, i64>(0), r.get::<_, std::time::SystemTime>(1)))
                .collect::<BTreeMap<_, _>>()
        }
    };
    let online_times = times(format!(
        "SELECT k, ts FROM online.{view} WHERE k IN (-1, 0, 1, 2, 3, 4, 5)"
    ))
    .await;
    let latest_times = times(format!("SELECT k, max(ts) FROM {root} GROUP BY k")).await;
    assert_eq!(online_times, latest_times);
    (online, asof)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn online_view_vectors_equal_asof_at_infinity(case in case()) {
        let (online, asof) = shared().runtime.block_on(run(&case));
        prop_assert_eq!(online, asof);
    }
}
