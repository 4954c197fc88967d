//! Real Python clients against the server: psycopg 3 (`tests/python/`).
//! The test builds its own virtualenv from `tests/python/requirements.txt`
//! on first use (under Cargo's test temp dir) and reuses it afterwards.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestServer;

fn python_env() -> PathBuf {
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
