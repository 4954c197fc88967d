//! A bounded fuzz test of the server's own parsing (issue 13): statements
//! of every kind fstore extends (AS OF joins, time travel, feature-view
//! calls, lookups with IN lists, `= ANY` arrays, casts and parameters,
//! COPY, fstore DDL), mutated at the byte and token level, go through the
//! front door (split, route, rewrite, the compatibility parser and
//! DataFusion's parser) and the fast-path recogniser with text parameters.
//! Errors are expected; a panic or an abort (stack overflow, a huge
//! allocation) fails the test. Runs on `fstore serve`'s thread stacks.
//!
//! Bounded by `INPUTS` and `TIME_BUDGET`; `FSTORE_FUZZ_INPUTS` raises the
//! count for a long run (figures in docs/reliability.md); the seed is
//! printed and `FSTORE_FUZZ_SEED` replays a run.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use fstore::server::front_door;
use fstore::{Config, Database};

const INPUTS: usize = 10_000;
const TIME_BUDGET: Duration = Duration::from_secs(40);
/// Inputs are cut at this length: longer ones test the splitter's limits
/// (tests/hostile.rs), not the parsers, and take long to route.
const MAX_INPUT_BYTES: usize = 4096;

const SETUP: &str = "
CREATE FEATURE GROUP profiles (cc_num BIGINT NOT NULL, updated_at TIMESTAMP NOT NULL,
    age INT, city TEXT, PRIMARY KEY (cc_num), EVENT TIME (updated_at)) ONLINE;
CREATE FEATURE GROUP pairs (a TEXT NOT NULL, b INT NOT NULL, d DATE NOT NULL, v DOUBLE PRECISION,
    PRIMARY KEY (a, b, d)) ONLINE;
CREATE FEATURE GROUP transactions (cc_num BIGINT NOT NULL, trans_ts TIMESTAMP NOT NULL,
    amount DOUBLE PRECISION, PRIMARY KEY (cc_num), EVENT TIME (trans_ts));
INSERT INTO profiles VALUES (42, '2026-01-01 00:00:00', 31, 'Utrecht');
CREATE TABLE labels (cc_num BIGINT NOT NULL, trans_ts TIMESTAMP NOT NULL, label BOOLEAN);
CREATE FEATURE VIEW fraud_model AS
SELECT t.cc_num, t.trans_ts, t.amount, p.age FROM transactions t
ASOF LEFT JOIN profiles p ON t.cc_num = p.cc_num AND t.trans_ts >= p.updated_at;
";

const CORPUS: &[&str] = &[
    "SELECT t.cc_num, p.age FROM transactions t ASOF LEFT JOIN profiles p \
     ON t.cc_num = p.cc_num AND t.trans_ts >= p.updated_at WHERE t.amount > 10",
    "SELECT * FROM profiles FOR SYSTEM_TIME AS OF VERSION 1",
    "SELECT * FROM profiles VERSION AS OF 1",
    "SELECT * FROM fraud_model(labels)",
    "SELECT age, city FROM online.profiles WHERE cc_num = 42",
    "SELECT * FROM online.profiles WHERE cc_num IN (1, 2, 3, 42)",
    "SELECT * FROM online.profiles WHERE cc_num = ANY('{1,2,42}')",
    "SELECT * FROM online.profiles WHERE cc_num = ANY(ARRAY[1, 2]::bigint[])",
    "SELECT * FROM online.profiles WHERE cc_num = $1",
    "SELECT * FROM online.profiles WHERE cc_num = $1::int8",
    "SELECT v FROM online.pairs WHERE a = 'x' AND b = 1 AND d = DATE '2026-01-01'",
    "SELECT v FROM online.pairs WHERE a IN ('x', 'y') AND b IN (1, 2) AND d = '2026-01-01'",
    "SELECT * FROM online.fraud_model WHERE cc_num = 42",
    "SELECT 1 + 2 * (3 - 4) / 5, 'a' || 'b', NOT (true OR false) AND 1 = 1",
    "SELECT count(*) FROM transactions WHERE trans_ts >= '2026-01-01' GROUP BY cc_num",
    "COPY profiles FROM STDIN (FORMAT csv, HEADER true)",
    "COPY (SELECT 1) TO STDOUT",
    "CREATE FEATURE GROUP g (k BIGINT NOT NULL, v INT, PRIMARY KEY (k)) ONLINE",
    "CREATE TRAINING DATASET td FROM fraud_model",
    "DROP FEATURE GROUP IF EXISTS nothing",
    "ALTER FEATURE GROUP profiles REBUILD ONLINE",
    "SHOW FEATURE GROUPS",
    "DESCRIBE FEATURE VIEW fraud_model",
    "BEGIN; SELECT 1; COMMIT",
    "SET datafusion.execution.batch_size = 10",
    "EXPLAIN SELECT * FROM transactions",
    "SELECT 'it''s', E'\\n', $$dollar$$, U&'\\0041', 1e10, -0.5, x'ff'",
];

/// Words spliced into inputs: fstore's extensions and their neighbours.
const WORDS: &[&str] = &[
    " ASOF ",
    " JOIN ",
    " LEFT ",
    " ON ",
    " AND ",
    " OR ",
    " >= ",
    " = ",
    " IN ",
    " ANY",
    "(",
    ")",
    "((((",
    "))))",
    ",",
    ";",
    "'",
    "\"",
    "$1",
    "$65535",
    "$4000000000",
    "::int2",
    "::bigint[]",
    " NULL ",
    " VERSION ",
    " AS OF ",
    " FOR SYSTEM_TIME ",
    " online.",
    " fs.",
    " SELECT ",
    " FROM ",
    " WHERE ",
    "--",
    "/*",
    "*/",
    " E'\\",
    "\u{0}",
    "\u{feff}",
    "é",
    " 99999999999999999999999999 ",
    " ARRAY[",
    "]",
    "{",
    "}",
    " LABELS ",
    " FEATURE ",
];

fn mutate(input: &str, rng: &mut common::Rng) -> String {
    let mut bytes = input.as_bytes().to_vec();
    for _ in 0..1 + rng.index(5) {
        let at = rng.index(bytes.len() + 1);
        match rng.index(6) {
            0 if at < bytes.len() => bytes[at] = rng.next() as u8,
            1 => {
                let word = WORDS[rng.index(WORDS.len())].as_bytes();
                bytes.splice(at..at, word.iter().copied());
            }
            2 => bytes.truncate(at),
            3 if at < bytes.len() => {
                let end = (at + 1 + rng.index(24)).min(bytes.len());
                bytes.drain(at..end);
            }
            4 => {
                let other = CORPUS[rng.index(CORPUS.len())].as_bytes();
                let from = rng.index(other.len());
                let end = (from + 1 + rng.index(64)).min(other.len());
                bytes.splice(at..at, other[from..end].iter().copied());
            }
            _ if at < bytes.len() => {
                let end = (at + 1 + rng.index(32)).min(bytes.len());
                let piece = bytes[at..end].to_vec();
                for _ in 0..1 + rng.index(20) {
                    bytes.splice(at..at, piece.iter().copied());
                }
            }
            _ => {}
        }
    }
    bytes.truncate(MAX_INPUT_BYTES);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn parameters(rng: &mut common::Rng) -> Vec<Option<Bytes>> {
    let values: [&[u8]; 8] = [
        b"42",
        b"-1",
        b"99999999999999999999",
        b"{1,2,3}",
        b"{",
        b"2026-01-01",
        b"\xff\xfe",
        b"",
    ];
    (0..rng.index(4))
        .map(|_| match rng.index(9) {
            8 => None,
            i => Some(Bytes::from_static(values[i])),
        })
        .collect()
}

/// How long one input may take before the test calls it a hang: far past
/// the slowest input the nesting limits allow (about a second in a debug
/// build), so only an unbounded parse trips it.
const HANG: Duration = Duration::from_secs(120);

/// Fails the test, naming the input, when one input runs longer than
/// [`HANG`].
fn watch_for_hangs(current: std::sync::Arc<std::sync::Mutex<(usize, Instant, String)>>) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let (number, since, input) = current.lock().unwrap().clone();
            if number > 0 && since.elapsed() > HANG {
                eprintln!(
                    "input {number} has run for {:?}: {input:?}",
                    since.elapsed()
                );
                std::process::exit(1);
            }
        }
    });
}

#[test]
fn mutated_statements_never_crash_the_front_door() {
    // The server's runtime: statements are routed on its 64 MiB stacks.
    let runtime = fstore::server::runtime().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = runtime
        .block_on(Database::open(Config::new(dir.path())))
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(fstore::server::run(
            listener,
            database.clone(),
            std::future::pending(),
        ));
        let (client, connection) = tokio_postgres::connect(
            &format!("host=127.0.0.1 port={port} user=fuzz dbname=fstore"),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(connection);
        client.batch_execute(SETUP).await.unwrap();
    });
    let seed = common::seed();
    let inputs = common::env_setting("FSTORE_FUZZ_INPUTS", INPUTS as u64) as usize;
    let budget = if inputs > INPUTS {
        Duration::from_secs(24 * 3600)
    } else {
        TIME_BUDGET
    };
    println!("fuzz seed {seed}, up to {inputs} inputs");
    let database_for_thread = database.clone();
    let tried = runtime.block_on(async move {
        tokio::spawn(async move {
            let database = database_for_thread;
            let mut rng = common::Rng(seed);
            let started = Instant::now();
            let mut tried = 0usize;
            let mut accepted = 0usize;
            let current = std::sync::Arc::new(std::sync::Mutex::new((
                0usize,
                Instant::now(),
                String::new(),
            )));
            watch_for_hangs(current.clone());
            while tried < inputs && started.elapsed() < budget {
                let input = mutate(CORPUS[rng.index(CORPUS.len())], &mut rng);
                tried += 1;
                *current.lock().unwrap() = (tried, Instant::now(), input.clone());
                if front_door::route_query(&database, &input).is_ok() {
                    accepted += 1;
                }
                let _ = front_door::simple_lookup_uncached(&database, &input);
                if let Ok(lookup) = front_door::prepare_lookup(&database, &input) {
                    let _ = front_door::prepared_lookup(&database, &lookup, &parameters(&mut rng));
                }
            }
            (tried, accepted, started.elapsed())
        })
        .await
        .unwrap()
    });
    let (tried, accepted, elapsed) = tried;
    println!(
        "fuzz seed {seed}: {tried} mutated statements ({accepted} routed without error) in {:.1} s, no crash",
        elapsed.as_secs_f64()
    );
    assert!(tried > 0);
}
