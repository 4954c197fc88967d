//! What the front door costs per statement, up to DataFusion's planner:
//! splitting, routing, our rewrites, and bringing what is handed on to the
//! planner — a rewritten query as its tree, or (the "as text" column, how
//! every statement went before) printed and put through datafusion-postgres's
//! compatibility parse, a print and DataFusion's parse; and a simple-protocol
//! online lookup against the same lookup prepared once.
//!
//! `cargo bench --bench front_door` (release build); the figures are in
//! docs/benchmarks.md. Each case runs for a fixed number of iterations after
//! a warm-up and prints the median of five rounds in microseconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fstore::server::fast_path::LookupCache;
use fstore::server::front_door;
use fstore::{Config, Database};

const ROUNDS: usize = 5;

/// `cargo test --all-targets` runs this file too (without `--bench`): then
/// each case runs a few times, to prove it works, not to measure.
fn scaled(iterations: usize) -> usize {
    if std::env::args().any(|a| a == "--bench") {
        iterations
    } else {
        (iterations / 1000).max(2)
    }
}

fn median_micros(iterations: usize, mut run: impl FnMut()) -> f64 {
    let iterations = scaled(iterations);
    for _ in 0..iterations / 10 + 1 {
        run();
    }
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..iterations {
                run();
            }
            started.elapsed().as_secs_f64() * 1e6 / iterations as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

const SETUP: &str = "
CREATE FEATURE GROUP transactions (
    cc_num BIGINT NOT NULL, trans_ts TIMESTAMP NOT NULL, amount DOUBLE PRECISION,
    category TEXT, is_fraud BOOLEAN, PRIMARY KEY (cc_num), EVENT TIME (trans_ts)) ONLINE;
CREATE FEATURE GROUP profiles (
    cc_num BIGINT NOT NULL, updated_at TIMESTAMP NOT NULL, age INT, city TEXT,
    PRIMARY KEY (cc_num), EVENT TIME (updated_at)) ONLINE;
CREATE FEATURE GROUP aggregates (
    cc_num BIGINT NOT NULL, window_end TIMESTAMP NOT NULL, avg_amount_7d DOUBLE PRECISION,
    PRIMARY KEY (cc_num), EVENT TIME (window_end)) ONLINE;
INSERT INTO profiles VALUES (42, '2026-01-01 00:00:00', 31, 'Utrecht');
CREATE TABLE labels (cc_num BIGINT NOT NULL, trans_ts TIMESTAMP NOT NULL, label BOOLEAN);
CREATE FEATURE VIEW fraud_model AS
SELECT t.cc_num, t.trans_ts, t.amount, t.category, p.age, a.avg_amount_7d, t.is_fraud
FROM transactions t
ASOF LEFT JOIN profiles p ON t.cc_num = p.cc_num AND t.trans_ts >= p.updated_at
ASOF LEFT JOIN aggregates a ON t.cc_num = a.cc_num AND t.trans_ts >= a.window_end
LABELS (is_fraud);
";

const PLAIN: &str =
    "SELECT cc_num, amount FROM transactions WHERE amount > 100 AND category = 'travel'";
const ASOF: &str = "SELECT t.cc_num, t.trans_ts, t.amount, p.age, a.avg_amount_7d \
    FROM transactions t \
    ASOF LEFT JOIN profiles p ON t.cc_num = p.cc_num AND t.trans_ts >= p.updated_at \
    ASOF LEFT JOIN aggregates a ON t.cc_num = a.cc_num AND t.trans_ts >= a.window_end \
    WHERE t.trans_ts >= '2026-01-01'";
const SPINE: &str = "SELECT * FROM fraud_model(labels)";
const LOOKUP: &str = "SELECT age, city FROM online.profiles WHERE cc_num = 42";
const PREPARED: &str = "SELECT age, city FROM online.profiles WHERE cc_num = $1";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = Database::open(Config::new(dir.path()))
        .await
        .expect("open database");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fstore::server::run(listener, database.clone(), async {
        let _ = stopped.await;
    }));
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=bench dbname=fstore"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect");
    tokio::spawn(connection);
    client.batch_execute(SETUP).await.expect("set up");

    let db: &Arc<Database> = &database;
    println!("front door, µs per statement (median of {ROUNDS} rounds)");
    println!(
        "{:<44} {:>10} {:>12} {:>7}",
        "statement", "µs", "µs as text", "ratio"
    );
    for (name, sql, iterations) in [
        ("plain SELECT … WHERE …", PLAIN, 20_000),
        ("AS OF SELECT with two joins", ASOF, 5_000),
        ("feature-view spine call", SPINE, 5_000),
    ] {
        front_door::route_query(db, sql).expect(name);
        let micros = median_micros(iterations, || {
            front_door::route_query(db, sql).expect(name);
        });
        let as_text = median_micros(iterations, || {
            front_door::route_query_as_text(db, sql).expect(name);
        });
        println!(
            "{name:<44} {micros:>10.1} {as_text:>12.1} {:>6.1}×",
            as_text / micros
        );
    }

    let uncached = median_micros(20_000, || {
        front_door::simple_lookup_uncached(db, LOOKUP).expect("simple lookup");
    });
    let cache = LookupCache::default();
    let simple = median_micros(50_000, || {
        front_door::simple_lookup(db, &cache, LOOKUP).expect("simple lookup");
    });
    let prepared_lookup = front_door::prepare_lookup(db, PREPARED).expect("prepare");
    let key = [Some(Bytes::from_static(b"42"))];
    let prepared = median_micros(50_000, || {
        front_door::prepared_lookup(db, &prepared_lookup, &key).expect("prepared lookup");
    });
    println!(
        "{:<44} {uncached:>10.2}",
        "online lookup, simple, recognised each call"
    );
    println!(
        "{:<44} {simple:>10.2}",
        "online lookup, simple, cached by text"
    );
    println!(
        "{:<44} {prepared:>10.2}",
        "online lookup, prepared (Bind + Execute)"
    );
    println!(
        "simple / prepared: {:.2} recognised each call, {:.2} cached (LMDB read + encode, no network)",
        uncached / prepared,
        simple / prepared
    );

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}
