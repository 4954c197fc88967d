//! Drives the real `psql` binary against the server, the way a person uses
//! it: meta-commands, a query, an error, and data that survives a restart.

mod common;

use std::process::Command;

use common::TestServer;

fn psql(server: &TestServer, args: &[&str]) -> (String, String, bool) {
    let output = Command::new("psql")
        .args([
            "-X",
            "-h",
            "127.0.0.1",
            "-p",
            &server.port().to_string(),
            "-U",
            "analyst",
            "-d",
            "fstore",
        ])
        .args(args)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql must be installed (apt-get install postgresql-client)");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.success(),
    )
}

fn psql_commands(server: &TestServer, commands: &[&str]) -> (String, String, bool) {
    let mut args = Vec::new();
    for command in commands {
        args.push("-c");
        args.push(*command);
    }
    psql(server, &args)
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_session_creates_queries_describes_and_survives_restart() {
    let mut server = TestServer::start().await;

    let (out, err, ok) = tokio::task::block_in_place(|| {
        psql_commands(
            &server,
            &[
                "CREATE TABLE trips (id BIGINT NOT NULL, city TEXT, km DOUBLE PRECISION)",
                "INSERT INTO trips VALUES (1, 'Utrecht', 12.5), (2, 'Lyon', 3)",
                "CREATE SCHEMA ops",
                "CREATE VIEW long_trips AS SELECT id FROM trips WHERE km > 10",
            ],
        )
    });
    assert!(ok, "{out}{err}");
    assert!(out.contains("CREATE TABLE"), "{out}");
    assert!(out.contains("INSERT 0 2"), "{out}");

    let (out, err, ok) = tokio::task::block_in_place(|| {
        psql_commands(&server, &["\\dt", "\\dn", "\\d trips", "\\l", "\\dv"])
    });
    assert!(ok, "{out}{err}");
    assert!(err.is_empty(), "meta-commands must not error: {err}");
    // \dt lists the table in schema public.
    assert!(
        out.lines()
            .any(|l| l.contains("public") && l.contains("trips") && l.contains("table")),
        "{out}"
    );
    // \dn lists both schemas.
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("ops")),
        "{out}"
    );
    // \d shows the columns with Postgres type names and NOT NULL.
    assert!(out.contains("Table \"public.trips\""), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("id") && l.contains("bigint") && l.contains("not null")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("km") && l.contains("double precision")),
        "{out}"
    );
    // \l lists the fstore database.
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("fstore")),
        "{out}"
    );
    assert!(out.contains("long_trips"), "{out}");

    // An error is reported with its SQLSTATE and psql carries on.
    let (out, err, _) = tokio::task::block_in_place(|| {
        psql(
            &server,
            &[
                "-v",
                "VERBOSITY=verbose",
                "-c",
                "\\set VERBOSITY verbose",
                "-c",
                "SELECT * FROM no_such_table",
                "-c",
                "SELECT city FROM trips ORDER BY id",
            ],
        )
    });
    assert!(
        err.contains("42P01") && err.contains("relation \"no_such_table\" does not exist"),
        "{err}"
    );
    assert!(out.contains("Utrecht") && out.contains("Lyon"), "{out}");

    server.restart().await;
    let (out, err, ok) = tokio::task::block_in_place(|| {
        psql(
            &server,
            &[
                "-At",
                "-c",
                "SELECT id, city FROM trips ORDER BY id",
                "-c",
                "SELECT * FROM long_trips",
            ],
        )
    });
    assert!(ok, "{err}");
    assert_eq!(out, "1|Utrecht\n2|Lyon\n1\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_copy_loads_a_feature_group_from_csv_and_text() {
    let server = TestServer::start().await;
    let csv = server.dir.path().join("ratings.csv");
    std::fs::write(
        &csv,
        "user_id,rated_at,stars\n1,2026-01-01 00:00:00,3\n1,2026-01-02 00:00:00,5\n2,2026-01-01 00:00:00,\n",
    )
    .unwrap();
    let text = server.dir.path().join("ratings.txt");
    std::fs::write(
        &text,
        "3\t2026-01-03 00:00:00\t4\n4\t2026-01-03 00:00:00\t\\N\n",
    )
    .unwrap();
    let csv_command = format!("\\copy ratings from '{}' csv header", csv.display());
    let text_command = format!("\\copy ratings from '{}'", text.display());
    let (out, err, ok) = tokio::task::block_in_place(|| {
        psql_commands(
            &server,
            &[
                "CREATE FEATURE GROUP ratings (user_id BIGINT NOT NULL, rated_at TIMESTAMP NOT NULL, stars INT, PRIMARY KEY (user_id), EVENT TIME (rated_at))",
                &csv_command,
                &text_command,
            ],
        )
    });
    assert!(ok, "{out}{err}");
    assert!(out.contains("COPY 3") && out.contains("COPY 2"), "{out}");
    let (out, err, ok) = tokio::task::block_in_place(|| {
        psql(
            &server,
            &[
                "-At",
                "-c",
                "SELECT count(*) FROM ratings",
                "-c",
                "SELECT user_id, stars FROM online.ratings ORDER BY user_id",
            ],
        )
    });
    assert!(ok, "{err}");
    assert_eq!(out, "5\n1|5\n2|\n3|4\n4|\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_meta_commands_browse_feature_groups_views_and_datasets() {
    let server = TestServer::start().await;
    let setup = [
        "CREATE FEATURE GROUP cards (card BIGINT NOT NULL, at TIMESTAMP NOT NULL, spend DOUBLE PRECISION, PRIMARY KEY (card), EVENT TIME (at)) ONLINE COMMENT 'card spend'",
        "INSERT INTO cards VALUES (1, '2026-01-01', 5.0), (2, '2026-01-02', 7.5)",
        "CREATE FEATURE VIEW spend_model COMMENT 'spend per card' AS SELECT c.card, c.at, c.spend FROM cards c",
        "CREATE TRAINING DATASET spend_td FROM spend_model COMMENT 'first cut'",
    ];
    let (out, err, ok) = tokio::task::block_in_place(|| psql_commands(&server, &setup));
    assert!(ok, "{out}{err}");

    let (out, err, ok) = tokio::task::block_in_place(|| {
        psql_commands(
            &server,
            &["\\dn", "\\dt", "\\dv", "\\dt+ cards", "\\d cards"],
        )
    });
    assert!(ok, "{err}");
    for schema in ["fs", "online", "public"] {
        assert!(
            out.contains(&format!(" {schema} ")),
            "\\dn lacks {schema}:\n{out}"
        );
    }
    // \dt lists what an unqualified name reaches: public, not online.*.
    assert!(out.contains(" public | cards "), "{out}");
    assert!(out.contains(" public | spend_td "), "{out}");
    assert!(!out.contains(" online | cards "), "{out}");
    assert!(
        out.contains(" public | spend_model ") && out.contains("| view "),
        "{out}"
    );
    // \dt+ shows the description and the size of the offline files.
    let described = out
        .lines()
        .find(|l| l.contains(" cards ") && l.contains("card spend"))
        .unwrap_or_else(|| panic!("no description in \\dt+:\n{out}"));
    assert!(
        described.contains("bytes") || described.contains("kB"),
        "{described}"
    );
    assert!(out.contains("Table \"public.cards\""), "{out}");
    assert!(
        out.contains(" card   | bigint ") && out.contains(" not null "),
        "{out}"
    );

    // The meta-commands whose queries use ARRAY(SELECT …), sizes and
    // function signatures.
    for command in [
        "\\l+",
        "\\du",
        "\\df",
        "\\df lower",
        "\\d+ cards",
        "\\d online.cards",
        "\\di",
        "\\sf now",
        "\\dT",
    ] {
        let (out, err, ok) = tokio::task::block_in_place(|| psql_commands(&server, &[command]));
        assert!(ok && err.is_empty(), "{command}: {out}{err}");
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        match command {
            "\\l+" => assert!(out.contains(" fstore ") && out.contains("Size"), "{out}"),
            "\\du" => assert!(out.contains("Role name"), "{out}"),
            "\\df" => assert!(out.contains("List of functions"), "{out}"),
            // Signatures from pg_proc, as PostgreSQL 15 lists them.
            "\\df lower" => assert!(
                lines.contains(
                    &"pg_catalog | lower | text             | text                | func"
                ),
                "{out}"
            ),
            // The primary key's index, in the footer PostgreSQL prints.
            "\\d+ cards" | "\\d online.cards" => {
                assert!(out.contains("Indexes:"), "{out}");
                assert!(
                    lines.contains(&"\"cards_pkey\" PRIMARY KEY, btree (card)"),
                    "{out}"
                );
                if command == "\\d+ cards" {
                    assert!(
                        out.contains("Storage") && out.contains(" spend  | double precision "),
                        "{out}"
                    );
                }
            }
            // Each key's index once, under its table (no cards_v1_pkey):
            // the group's, its online relation's, and the feature view's
            // serving key.
            "\\di" => {
                let indexes: Vec<String> = lines
                    .iter()
                    .filter(|l| l.contains("| index |"))
                    .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>().join(" "))
                    .collect();
                assert_eq!(
                    indexes,
                    [
                        "online cards_pkey index postgres cards",
                        "online spend_model_pkey index postgres spend_model",
                        "public cards_pkey index postgres cards",
                    ],
                    "{out}"
                );
            }
            "\\sf now" => assert_eq!(
                out,
                "CREATE OR REPLACE FUNCTION pg_catalog.now()\n RETURNS timestamp with time zone\n LANGUAGE internal\n STABLE PARALLEL SAFE STRICT\nAS $function$now$function$\n"
            ),
            // No user-defined types, as in a new PostgreSQL database.
            _ => assert!(
                out.contains("List of data types") && out.contains("(0 rows)"),
                "{out}"
            ),
        }
    }

    // \copy out and back in.
    let file = server.dir.path().join("cards.csv");
    let copy_out = format!(
        "\\copy (SELECT * FROM cards ORDER BY card) TO '{}' CSV HEADER",
        file.display()
    );
    let copy_in = format!("\\copy cards FROM '{}' CSV HEADER", file.display());
    let (out, err, ok) = tokio::task::block_in_place(|| {
        psql_commands(
            &server,
            &[&copy_out, &copy_in, "SELECT count(*) FROM cards"],
        )
    });
    assert!(ok, "{out}{err}");
    assert!(out.contains("COPY 2"), "{out}");
    // COPY writes values as PostgreSQL prints them (no trailing ".0", no
    // zero microseconds), and they read back unchanged.
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "card,at,spend\n1,2026-01-01 00:00:00,5\n2,2026-01-02 00:00:00,7.5\n"
    );
    assert!(out.lines().any(|l| l.trim() == "4"), "{out}");

    // A numeric column's precision and scale reach \d through atttypmod.
    let (out, err, ok) = tokio::task::block_in_place(|| {
        psql_commands(
            &server,
            &[
                "CREATE TABLE prices (id INT, price NUMERIC(10,2))",
                "\\d prices",
            ],
        )
    });
    assert!(ok && err.is_empty(), "{out}{err}");
    assert!(
        out.lines().any(|l| l
            .split('|')
            .map(str::trim)
            .take(2)
            .eq(["price", "numeric(10,2)"])),
        "{out}"
    );
}

/// One server version everywhere a client reads one (issue 14): the
/// start-up parameter psql and drivers pick protocol features by, `SHOW
/// server_version` and `version()` agree, and psql sees no major-version
/// mismatch (pgwire's default said 16.6-pgwire-…).
#[tokio::test(flavor = "multi_thread")]
async fn the_server_version_is_the_same_everywhere() {
    let server = TestServer::start().await;
    let (out, err, ok) = psql_commands(
        &server,
        &[
            r"\echo :SERVER_VERSION_NAME :SERVER_VERSION_NUM",
            "SHOW server_version",
            "SELECT version()",
        ],
    );
    assert!(ok, "{err}");
    assert!(!err.contains("major version"), "psql warned: {err}");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines[0], "15.0 150000", "{out}");
    assert!(lines.contains(&"15.0"), "SHOW server_version: {out}");
    assert!(
        lines.iter().any(|l| l.starts_with("PostgreSQL 15.0 ")),
        "version(): {out}"
    );
}
