//! Real Python clients against the server (`tests/python/`): psycopg 3,
//! asyncpg, SQLAlchemy + pandas, and dbt building the feature pipeline in
//! `sql/fraud`. The tests build one virtualenv from
//! `tests/python/requirements.txt` on first use (under Cargo's test temp
//! dir) and reuse it afterwards.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestServer;

/// Builds the virtualenv once even when several tests ask at the same time.
static PYTHON_ENV: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn python_env() -> PathBuf {
    PYTHON_ENV.get_or_init(build_python_env).clone()
}

fn build_python_env() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let requirements = root.join("tests/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).expect("requirements.txt");
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-clients");
    let marker = venv.join("installed-requirements.txt");
    let python = venv.join("bin/python");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) && python.exists()
    {
        return python;
    }
    let interpreter = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let status = Command::new(&interpreter)
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .expect("python3 must be installed");
    assert!(status.success(), "could not create a virtualenv");
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements)
        .status()
        .expect("pip");
    assert!(
        status.success(),
        "pip install -r {} failed",
        requirements.display()
    );
    std::fs::write(&marker, wanted).unwrap();
    python
}

#[tokio::test(flavor = "multi_thread")]
async fn psycopg_copies_inserts_and_reads_both_stores() {
    let python = tokio::task::spawn_blocking(python_env).await.unwrap();
    let server = TestServer::start().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/copy_and_query.py");
    let port = server.port().to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python).arg(script).arg(port).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("psycopg: ok"), "{stdout}");
}

/// Runs a script from `tests/python/` with the server's port; it prints
/// `<name>: ok` when every check passed.
async fn run_script(script: &str, server: &TestServer) -> String {
    let python = tokio::task::spawn_blocking(python_env).await.unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let port = server.port().to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python).arg(script).arg(port).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn asyncpg_sqlalchemy_pandas_and_transaction_blocks() {
    let server = TestServer::start().await;
    let stdout = run_script("drivers.py", &server).await;
    assert!(stdout.contains("drivers: ok"), "{stdout}");
}

/// Runs `dbt <args>` in `project` against `server`.
fn dbt(project: &Path, server_port: u16, args: &[&str]) -> String {
    let (succeeded, stdout, stderr) = dbt_outcome(project, server_port, args);
    assert!(succeeded, "dbt {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

/// Runs `dbt <args>`: whether it succeeded, its stdout and stderr.
fn dbt_outcome(project: &Path, server_port: u16, args: &[&str]) -> (bool, String, String) {
    let python = python_env();
    let dbt = python.with_file_name("dbt");
    let output = Command::new(dbt)
        .args(args)
        .args(["--profiles-dir", "."])
        .current_dir(project)
        .env("PGPORT", server_port.to_string())
        .env("PGHOST", "127.0.0.1")
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env("DO_NOT_TRACK", "1")
        .output()
        .expect("dbt");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

/// Copies `sql/fraud` (without dbt's own output) so that runs do not write
/// into the source tree.
fn copy_dbt_project(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/fraud");
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if ["target", "logs", "dbt_packages"].contains(&name.to_str().unwrap_or("")) {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &to.join(&name));
            } else {
                std::fs::copy(entry.path(), to.join(&name)).unwrap();
            }
        }
    }
    copy(&from, to);
}

#[tokio::test(flavor = "multi_thread")]
async fn dbt_builds_feature_groups_incrementally_and_they_serve_online() {
    tokio::task::spawn_blocking(python_env).await.unwrap();
    let server = TestServer::start().await;
    let client = server.connect().await;
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("fraud");
    copy_dbt_project(&project);
    let port = server.port();
    let run = |args: &'static [&'static str]| {
        let project = project.clone();
        tokio::task::spawn_blocking(move || dbt(&project, port, args))
    };

    let seeded = run(&["seed"]).await.unwrap();
    assert!(seeded.contains("PASS=2"), "{seeded}");
    let first = run(&["run"]).await.unwrap();
    assert!(first.contains("PASS=4"), "{first}");

    let count = |sql: &'static str| {
        let client = &client;
        async move { client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(count("SELECT count(*) FROM transaction_features").await, 6);
    assert_eq!(count("SELECT count(*) FROM cardholder_features").await, 3);
    let group = client
        .query_one(
            "SELECT online, primary_key, event_time, description FROM fs.feature_groups \
             WHERE name = 'transaction_features'",
            &[],
        )
        .await
        .unwrap();
    assert!(group.get::<_, bool>(0));
    assert_eq!(group.get::<_, String>(1), "cc_num");
    assert_eq!(group.get::<_, String>(2), "trans_ts");
    assert_eq!(
        group.get::<_, Option<String>>(3).as_deref(),
        Some("Per-card transaction features, keyed by card number.")
    );
    let latest = client
        .query_one(
            "SELECT amount, category FROM online.transaction_features WHERE cc_num = $1",
            &[&4001i64],
        )
        .await
        .unwrap();
    assert_eq!(latest.get::<_, f64>(0), 1500.0);
    assert_eq!(latest.get::<_, String>(1), "electronics");

    // New raw rows (one newer, one older than what is stored): the second
    // run inserts only the newer one; a third run inserts nothing.
    client
        .batch_execute(
            "INSERT INTO raw_transactions VALUES \
             (7, 4002, '2026-01-06 10:00:00', 77.0, 'Travel', false), \
             (8, 4003, '2025-12-01 10:00:00', 5.0, 'grocery', false)",
        )
        .await
        .unwrap();
    let second = run(&["run"]).await.unwrap();
    assert!(second.contains("INSERT 0 1"), "{second}");
    assert_eq!(count("SELECT count(*) FROM transaction_features").await, 7);
    let third = run(&["run", "--select", "transaction_features"])
        .await
        .unwrap();
    assert!(third.contains("INSERT 0 0"), "{third}");
    assert_eq!(count("SELECT count(*) FROM transaction_features").await, 7);
    let latest = client
        .query_one(
            "SELECT amount, category FROM online.transaction_features WHERE cc_num = $1",
            &[&4002i64],
        )
        .await
        .unwrap();
    assert_eq!(latest.get::<_, f64>(0), 77.0);
    assert_eq!(latest.get::<_, String>(1), "travel");

    let tested = run(&["test"]).await.unwrap();
    assert!(
        tested.contains("PASS=11") && tested.contains("ERROR=0"),
        "{tested}"
    );

    // Day 2: seeding again truncates and reloads the seed tables (the rows
    // inserted above go), and a build runs seeds, models and tests.
    assert_eq!(count("SELECT count(*) FROM raw_transactions").await, 8);
    let reseeded = run(&["seed"]).await.unwrap();
    assert!(reseeded.contains("PASS=2"), "{reseeded}");
    assert_eq!(count("SELECT count(*) FROM raw_transactions").await, 6);
    assert_eq!(count("SELECT count(*) FROM raw_cardholders").await, 3);
    let built = run(&["build"]).await.unwrap();
    assert!(built.contains("ERROR=0"), "{built}");
    assert_eq!(count("SELECT count(*) FROM transaction_features").await, 7);

    // The docs' catalog: every relation with its columns typed as
    // PostgreSQL names them.
    let documented = run(&["docs", "generate"]).await.unwrap();
    assert!(documented.contains("Catalog written"), "{documented}");
    let catalog: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.join("target/catalog.json")).unwrap(),
    )
    .unwrap();
    let features = &catalog["nodes"]["model.fraud.transaction_features"];
    assert_eq!(features["metadata"]["type"], "BASE TABLE", "{catalog}");
    assert_eq!(features["columns"]["cc_num"]["type"], "bigint", "{catalog}");
    assert_eq!(
        features["columns"]["trans_ts"]["type"],
        "timestamp without time zone"
    );
    assert_eq!(
        catalog["nodes"]["model.fraud.stg_transactions"]["metadata"]["type"],
        "VIEW"
    );

    // --full-refresh drops and rebuilds a feature_group model; a feature
    // view reading it stops that with 2BP01 and says what to do, and the
    // documented way out (drop the view, refresh, create it again) works.
    let view = "CREATE FEATURE VIEW card_model AS \
                SELECT cc_num, trans_ts, amount FROM transaction_features";
    client.batch_execute(view).await.unwrap();
    let refresh: &'static [&'static str] =
        &["run", "--full-refresh", "--select", "transaction_features"];
    let (refreshed, stdout, _) = {
        let project = project.clone();
        tokio::task::spawn_blocking(move || dbt_outcome(&project, port, refresh))
            .await
            .unwrap()
    };
    assert!(!refreshed, "{stdout}");
    assert!(
        stdout.contains("feature view public.card_model (version 1) depends on it")
            && stdout.contains("DROP FEATURE VIEW"),
        "{stdout}"
    );
    assert_eq!(count("SELECT count(*) FROM transaction_features").await, 7);
    client
        .batch_execute("DROP FEATURE VIEW card_model")
        .await
        .unwrap();
    let refreshed = run(refresh).await.unwrap();
    assert!(refreshed.contains("PASS=1"), "{refreshed}");
    // Rebuilt from the reseeded raw rows.
    assert_eq!(count("SELECT count(*) FROM transaction_features").await, 6);
    client.batch_execute(view).await.unwrap();
    assert_eq!(count("SELECT count(*) FROM card_model").await, 6);
}

/// The fenced `sh` and `python` blocks of a Markdown file, in order.
fn runnable_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in markdown.lines() {
        match &mut current {
            None => {
                if let Some(lang) = line.strip_prefix("```")
                    && (lang == "sh" || lang == "python")
                {
                    current = Some((lang.to_string(), String::new()));
                }
            }
            Some(_) if line == "```" => blocks.push(current.take().unwrap()),
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    blocks
}

#[tokio::test(flavor = "multi_thread")]
async fn tutorial_runs_as_written() {
    let python = tokio::task::spawn_blocking(python_env).await.unwrap();
    let server = TestServer::start().await;
    let tutorial =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/tutorial.md"))
            .unwrap();
    let blocks = runnable_blocks(&tutorial);
    assert!(blocks.len() >= 8, "the tutorial lost its steps: {blocks:?}");
    let root = tempfile::tempdir().unwrap();
    copy_dbt_project(&root.path().join("sql/fraud"));
    let port = server.port().to_string();
    let path = format!(
        "{}:{}",
        python.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let root_path = root.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        for (lang, body) in blocks {
            let mut command = if lang == "sh" {
                let mut c = Command::new("bash");
                // The tutorial's server address is the default one.
                c.args(["-e", "-o", "pipefail", "-c", &body.replace("5433", &port)]);
                c
            } else {
                let mut c = Command::new(&python);
                c.args(["-c", &body]);
                c
            };
            let output = command
                .current_dir(&root_path)
                .env("PATH", &path)
                .env("PGHOST", "127.0.0.1")
                .env("PGPORT", &port)
                .env("PGUSER", "fstore")
                .env("PGDATABASE", "fstore")
                .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
                .env("DO_NOT_TRACK", "1")
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "tutorial block failed:\n{body}\n--- stdout\n{}\n--- stderr\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    })
    .await
    .unwrap();
}
