//! The PostgreSQL JDBC driver against the server (`tests/jdbc/`): the
//! driver DBeaver, Metabase and every JVM tool use, from Debian's
//! `libpostgresql-jdbc-java` (`.ci/run` installs it and a JDK).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestServer;

fn driver_jar() -> PathBuf {
    let jar = std::env::var("FSTORE_JDBC_JAR")
        .unwrap_or_else(|_| "/usr/share/java/postgresql.jar".into());
    let jar = PathBuf::from(jar);
    assert!(
        jar.exists(),
        "{} is missing: apt-get install libpostgresql-jdbc-java (or set FSTORE_JDBC_JAR)",
        jar.display()
    );
    jar
}

/// Compiles `tests/jdbc/FstoreJdbc.java` into the test temp dir.
fn compile(jar: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jdbc/FstoreJdbc.java");
    let classes = Path::new(env!("CARGO_TARGET_TMPDIR")).join("jdbc-classes");
    std::fs::create_dir_all(&classes).unwrap();
    let status = Command::new("javac")
        .arg("-cp")
        .arg(jar)
        .arg("-d")
        .arg(&classes)
        .arg(&source)
        .status()
        .expect("javac must be installed (apt-get install default-jdk-headless)");
    assert!(status.success(), "javac failed");
    classes
}

#[tokio::test(flavor = "multi_thread")]
async fn jdbc_driver_writes_reads_and_browses_metadata() {
    let jar = driver_jar();
    let classes = tokio::task::spawn_blocking({
        let jar = jar.clone();
        move || compile(&jar)
    })
    .await
    .unwrap();
    let server = TestServer::start().await;
    let port = server.port().to_string();
    let classpath = format!("{}:{}", jar.display(), classes.display());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("java")
            .args(["-cp", &classpath, "FstoreJdbc", &port])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("jdbc: ok"), "{stdout}");
}
