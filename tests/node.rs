//! node-postgres (`pg`) against the server (`tests/node/`). The packages
//! come from `tests/node/package-lock.json` through `npm ci`, run once per
//! lock-file content.

mod common;

use std::path::Path;
use std::process::Command;

use common::TestServer;

/// `npm ci` unless `node_modules` already matches the lock file.
fn install_packages(project: &Path) {
    let lock =
        std::fs::read_to_string(project.join("package-lock.json")).expect("package-lock.json");
    let marker = project.join("node_modules/.fstore-installed-lock");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(lock.as_str()) {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(project)
        .status()
        .expect("npm must be installed (apt-get install nodejs npm)");
    assert!(status.success(), "npm ci failed");
    std::fs::write(marker, lock).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn node_postgres_writes_copies_and_reads() {
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    tokio::task::spawn_blocking({
        let project = project.clone();
        move || install_packages(&project)
    })
    .await
    .unwrap();
    let server = TestServer::start().await;
    let port = server.port().to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("client.js")
            .arg(port)
            .current_dir(project)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("node: ok"), "{stdout}");
}
