//! The `baton` binary, black box: operator commands, startup failures, configuration precedence
//! and the demo, over real processes and real HTTP.

mod support;

use reqwest::Method;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_create_prints_working_credentials() {
    let dir = TempDir::new("tenant");
    let db = dir.sqlite_url("baton.db");
    let created = create_tenant(&db, "Acme Support", "Owner@Acme.example").await;
    assert_eq!(
        created.email, "owner@acme.example",
        "the login email is normalized"
    );
    assert!(
        created.password.len() >= 16,
        "weak generated password: {}",
        created.password
    );

    let server = Server::serve(&db).await;
    let client = reqwest::Client::new();
    let token = login(&client, &server, &created.email, &created.password).await;
    let me = send(
        &client,
        Method::GET,
        &server.url("/v1/agents/me"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["role"], "admin", "{}", me.body);

    let started = send(
        &client,
        Method::POST,
        &server.url("/v1/conversations"),
        Some(&created.api_key),
        Some(json!({"customer": {"external_id": "c-1", "name": "Jo"}, "channel": "web"})),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.body);
    assert_eq!(started.body["state"], "bot");
    drop(server);

    // The same email for another tenant (emails are unique per tenant): a second tenant, whose
    // admin logs into it with their own password.
    let again = run(
        &[
            "tenant",
            "create",
            "Other",
            "--admin-email",
            "OWNER@acme.example",
            "--json",
            "--database",
            &db,
        ],
        &[],
    )
    .await;
    let second: serde_json::Value = serde_json::from_str(again.ok()).unwrap();
    assert_ne!(second["tenant_id"], created.tenant_id.as_str(), "{second}");
    assert_eq!(second["admin"]["email"], "owner@acme.example");

    for bad in ["not-an-email", "two words@x.example"] {
        let out = run(
            &[
                "tenant",
                "create",
                "Bad",
                "--admin-email",
                bad,
                "--json",
                "--database",
                &db,
            ],
            &[],
        )
        .await;
        let err = out.failed();
        assert!(
            err.contains(bad) && err.contains("not an email address"),
            "{err}"
        );
    }
    let out = run(
        &[
            "tenant",
            "create",
            "  ",
            "--admin-email",
            "x@y.example",
            "--database",
            &db,
        ],
        &[],
    )
    .await;
    assert!(out.failed().contains("tenant name"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_create_human_output_shows_secrets_once() {
    let dir = TempDir::new("tenant-human");
    let out = run(
        &[
            "tenant",
            "create",
            "Human Co",
            "--admin-email",
            "h@h.example",
            "--database",
            &dir.sqlite_url("b.db"),
        ],
        &[],
    )
    .await;
    let stdout = out.ok();
    assert!(stdout.contains("Created tenant 'Human Co'"), "{stdout}");
    assert!(stdout.contains("admin login:  h@h.example / "), "{stdout}");
    assert!(stdout.contains("API key:"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_reports_success_and_rejects_unknown_schemes() {
    let dir = TempDir::new("migrate");
    let db = dir.sqlite_url("nested/baton.db");
    let out = run(&["migrate", "--database", &db], &[]).await;
    assert!(out.ok().contains("migrations applied to"), "{}", out.stdout);
    assert!(
        dir.path().join("nested/baton.db").exists(),
        "the SQLite file is created"
    );
    // Idempotent.
    run(&["migrate", "--database", &db], &[]).await.ok();

    let out = run(&["migrate", "--database", "mysql://x"], &[]).await;
    let err = out.failed();
    assert!(
        err.contains("'mysql'") && err.contains("sqlite://") && err.contains("postgres://"),
        "{err}"
    );

    // The database URL can come from the environment too.
    let out = run(&["migrate"], &[("BATON_DATABASE_URL", &db)]).await;
    assert!(out.ok().contains(&db), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_in_database_urls_are_never_printed() {
    let out = run(
        &[
            "migrate",
            "--database",
            "postgres://baton:hunter2@127.0.0.1:1/baton",
        ],
        &[],
    )
    .await;
    let err = out.failed();
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("baton:***@127.0.0.1:1"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_postgres_fails_fast_naming_the_address() {
    let out = run(
        &[
            "serve",
            "--database",
            "postgres://postgres@127.0.0.1:1/x",
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    )
    .await;
    let err = out.failed();
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(err.contains("PostgreSQL"), "{err}");
    assert!(!err.contains("listening on"), "{err}");
    assert!(
        out.elapsed < Duration::from_secs(12),
        "took {:?}",
        out.elapsed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_files_name_the_file_and_the_key() {
    let dir = TempDir::new("config");
    let out = run(&["serve", "--config", "/nonexistent.toml"], &[]).await;
    let err = out.failed();
    assert!(err.contains("/nonexistent.toml"), "{err}");

    let file = dir.path().join("bad-value.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\nsession_ttl_hours = \"soon\"\n",
    )
    .unwrap();
    let out = run(&["serve", "--config", file.to_str().unwrap()], &[]).await;
    let err = out.failed();
    assert!(
        err.contains("bad-value.toml") && err.contains("session_ttl_hours"),
        "{err}"
    );

    let file = dir.path().join("typo.toml");
    std::fs::write(&file, "lisen = \"127.0.0.1:0\"\n").unwrap();
    let out = run(&["serve", "--config", file.to_str().unwrap()], &[]).await;
    let err = out.failed();
    assert!(err.contains("typo.toml") && err.contains("lisen"), "{err}");

    let out = run(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("BATON_SESSION_TTL_HOURS", "soon")],
    )
    .await;
    assert!(
        out.failed().contains("BATON_SESSION_TTL_HOURS"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_in_use_is_explained() {
    let dir = TempDir::new("port");
    let first = Server::serve(&dir.sqlite_url("a.db")).await;
    let out = run(
        &[
            "serve",
            "--database",
            &dir.sqlite_url("b.db"),
            "--listen",
            &first.addr,
        ],
        &[],
    )
    .await;
    let err = out.failed();
    assert!(err.contains(&first.addr) && err.contains("in use"), "{err}");
    // The first server is unaffected.
    let health = reqwest::get(first.url("/healthz")).await.unwrap();
    assert!(health.status().is_success());
}

/// `listen` from a file, then `BATON_LISTEN`, then `--listen`: each later source wins. Distinct
/// loopback addresses with port 0 tell the sources apart without racing for free ports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_address_precedence_flag_over_env_over_file() {
    if std::net::TcpListener::bind("127.0.0.2:0").is_err()
        || std::net::TcpListener::bind("127.0.0.3:0").is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "127.0.0.2 and 127.0.0.3 must be loopback addresses under CI"
        );
        eprintln!("skipping: 127.0.0.2 and 127.0.0.3 are not loopback addresses here");
        return;
    }
    let dir = TempDir::new("precedence");
    let file = dir.path().join("baton.toml");
    let db = dir.sqlite_url("baton.db");
    std::fs::write(
        &file,
        format!("listen = \"127.0.0.2:0\"\ndatabase_url = \"{db}\"\n"),
    )
    .unwrap();
    let file = file.to_str().unwrap();

    let host = |s: &Server| s.addr.rsplit_once(':').unwrap().0.to_string();
    let from_file = Server::start(&["serve", "--config", file], &[]).await;
    assert_eq!(host(&from_file), "127.0.0.2", "{}", from_file.stderr());
    drop(from_file);

    // The config file named by BATON_CONFIG, the address by BATON_LISTEN.
    let from_env = Server::start(
        &["serve"],
        &[("BATON_CONFIG", file), ("BATON_LISTEN", "127.0.0.3:0")],
    )
    .await;
    assert_eq!(host(&from_env), "127.0.0.3", "{}", from_env.stderr());
    drop(from_env);

    let from_flag = Server::start(
        &["serve", "--config", file, "--listen", "127.0.0.1:0"],
        &[("BATON_LISTEN", "127.0.0.3:0")],
    )
    .await;
    assert_eq!(host(&from_flag), "127.0.0.1", "{}", from_flag.stderr());
    // And --database beats the file's database_url: a fresh, empty database.
    drop(from_flag);
    let other = dir.sqlite_url("other.db");
    let flagged = Server::start(&["serve", "--config", file, "--database", &other], &[]).await;
    assert!(flagged.stderr().contains(&other), "{}", flagged.stderr());
}

fn demo_key(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.contains("Integration API key"))
        .unwrap_or_else(|| panic!("no key line:\n{stdout}"));
    line.rsplit(' ').next().unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_seeds_a_tenant_once_and_prints_a_working_key() {
    let dir = TempDir::new("demo");
    let data = dir.path().join("demo");
    let args = [
        "demo",
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ];
    let client = reqwest::Client::new();

    let first = Server::start(&args, &[]).await;
    let stdout = first.wait_stdout("refuses them.").await;
    assert!(
        stdout.contains("the demo allows private targets (allow_private_targets)"),
        "the banner says the demo reaches internal addresses:\n{stdout}"
    );
    for who in [
        "sara@demo.baton.dev",
        "tom@demo.baton.dev",
        "ana@demo.baton.dev",
        "sam@demo.baton.dev",
        "admin@demo.baton.dev",
        "baton-demo",
        "Everyone starts offline",
    ] {
        assert!(stdout.contains(who), "banner lacks {who}:\n{stdout}");
    }
    assert!(
        stdout.contains(&first.base),
        "banner shows the bound address {}:\n{stdout}",
        first.base
    );
    assert!(!stdout.contains("{base}"), "{stdout}");
    let key1 = demo_key(&stdout);
    assert!(data.join("baton.db").exists());

    login(&client, &first, "sara@demo.baton.dev", "baton-demo").await;
    let sam = login(&client, &first, "sam@demo.baton.dev", "baton-demo").await;
    let states = |items: &[serde_json::Value]| -> BTreeSet<String> {
        items
            .iter()
            .map(|c| c["state"].as_str().unwrap().to_string())
            .collect()
    };
    // Nobody is at a console yet: everyone is offline (no ghost agent taking offers).
    let agents = all_pages(&client, &first, "/v1/agents", &sam).await;
    assert!(
        agents.iter().all(|a| a["status"] == "offline"),
        "{agents:?}"
    );
    let listed = all_pages(&client, &first, "/v1/conversations", &sam).await;
    assert_eq!(listed.len(), 4, "{listed:?}");
    // The seeded handoff waits, or is already deferred by routing (nobody is staffed).
    let mut seen = states(&listed);
    assert!(
        seen.remove("queued") || seen.remove("deferred"),
        "{listed:?}"
    );
    assert_eq!(
        seen,
        BTreeSet::from(["assigned", "bot", "closed"].map(String::from))
    );
    // Canned responses for the reply box's "/" picker, with variables.
    let canned = send(
        &client,
        Method::GET,
        &first.url("/v1/canned-responses"),
        Some(&sam),
        None,
    )
    .await;
    assert_eq!(canned.status, 200, "{}", canned.body);
    let canned = canned.body.as_array().unwrap();
    assert_eq!(canned.len(), 5, "{canned:?}");
    assert!(
        canned.iter().any(|c| c["text"]
            .as_str()
            .unwrap()
            .contains("{{customer.first_name}}")),
        "{canned:?}"
    );
    first.kill().await;

    // A second run on the same folder reuses the tenant and prints a new key that works.
    let second = Server::start(&args, &[]).await;
    let stdout = second.wait_stdout("Tenant:").await;
    let key2 = demo_key(&stdout);
    assert_ne!(key1, key2);
    let sam = login(&client, &second, "sam@demo.baton.dev", "baton-demo").await;
    let listed = all_pages(&client, &second, "/v1/conversations", &sam).await;
    assert_eq!(listed.len(), 4, "still the seeded four: {listed:?}");
    for key in [&key2, &key1] {
        let started = send(
            &client,
            Method::POST,
            &second.url("/v1/conversations"),
            Some(key),
            Some(json!({"customer": {"name": "Jo"}, "channel": "web"})),
        )
        .await;
        assert_eq!(started.status, 201, "{}", started.body);
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_cleanly() {
    let dir = TempDir::new("sigterm");
    let mut server = Server::serve(&dir.sqlite_url("baton.db")).await;
    let status = server.terminate().await;
    assert!(
        status.success(),
        "exit after SIGTERM: {status}\n{}",
        server.stderr()
    );
    server.wait_stderr("baton: stopped").await;
}

/// Several commands opening a new SQLite file at once (a server and an operator's `tenant
/// create`, say) all migrate it; concurrent tenant creates with one admin email (emails are
/// unique per tenant) each make their own tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_runs_on_a_new_sqlite_file() {
    let dir = TempDir::new("concurrent");
    let db = dir.sqlite_url("baton.db");
    let args = ["migrate", "--database", db.as_str()];
    let migrations = (0..8).map(|_| run(&args, &[]));
    for out in futures::future::join_all(migrations).await {
        out.ok();
    }

    let creates = (0..3).map(|i| {
        let name = format!("Race {i}");
        let db = db.clone();
        async move {
            run(
                &[
                    "tenant",
                    "create",
                    &name,
                    "--admin-email",
                    "same@race.example",
                    "--json",
                    "--database",
                    &db,
                ],
                &[],
            )
            .await
        }
    });
    let outs = futures::future::join_all(creates).await;
    let mut tenants: Vec<String> = outs
        .iter()
        .map(|o| {
            let created: serde_json::Value = serde_json::from_str(o.ok()).unwrap();
            created["tenant_id"].as_str().unwrap().to_string()
        })
        .collect();
    tenants.sort();
    tenants.dedup();
    assert_eq!(tenants.len(), 3, "{outs:#?}");
}

/// `baton rules check|import`: the shipped TOML example is valid, a broken file names the problem,
/// and an import replaces the tenant's rules as `GET /v1/rules` shows.
#[tokio::test]
async fn rules_from_toml_seed_a_tenant() {
    let dir = TempDir::new("rules");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/rules.toml");
    let out = run(&["rules", "check", example], &[]).await;
    assert!(out.ok().contains("6 rules, valid"), "{}", out.ok());
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[rules]]\nid = \"x\"\nname = \"x\"\nwhen = { signal = \"moon\" }\nactions = [{ type = \"escalate\" }]\n").unwrap();
    let out = run(&["rules", "check", bad.to_str().unwrap()], &[]).await;
    let message = out.failed();
    assert!(
        message.contains("bad.toml") && message.contains("/rules/0/when/signal"),
        "{message}"
    );

    let database = dir.sqlite_url("baton.db");
    let created = create_tenant(&database, "Rules Co", "rules@test.example").await;
    let out = run(
        &[
            "rules",
            "import",
            example,
            "--tenant",
            &created.tenant_id,
            "--database",
            &database,
        ],
        &[],
    )
    .await;
    assert!(out.ok().contains("imported 6 rules"), "{}", out.ok());
    let out = run(
        &[
            "rules",
            "import",
            example,
            "--tenant",
            "ten_nope",
            "--database",
            &database,
        ],
        &[],
    )
    .await;
    assert!(out.failed().contains("no tenant"), "{}", out.failed());

    let server = Server::serve(&database).await;
    let client = reqwest::Client::new();
    let token = login(&client, &server, &created.email, &created.password).await;
    let rules = send(
        &client,
        reqwest::Method::GET,
        &server.url("/v1/rules"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(rules.body["defaults"], false, "{}", rules.body);
    let ids: Vec<&str> = rules.body["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"chargeback"), "{ids:?}");
}

/// A demo database whose seeding never finished (here: the demo admin exists without the rest)
/// is refused with what to do, instead of serving a half-built tenant.
#[tokio::test]
async fn demo_refuses_a_half_seeded_database() {
    let dir = TempDir::new("demo-half");
    let data = dir.path().join("demo");
    let database = format!("sqlite://{}", data.join("baton.db").display());
    create_tenant(&database, "Interrupted", "admin@demo.baton.dev").await;
    let out = run(
        &[
            "demo",
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    )
    .await;
    let message = out.failed();
    assert!(
        message.contains("half-seeded") && message.contains("delete the demo data directory"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_names_the_first_altered_event() {
    let dir = TempDir::new("audit");
    let db = dir.sqlite_url("baton.db");
    // Some history: a tenant (its creation events) and a conversation with a message.
    let created = create_tenant(&db, "Audit Co", "owner@audit.example").await;
    let server = Server::serve(&db).await;
    let client = reqwest::Client::new();
    let started = send(
        &client,
        Method::POST,
        &server.url("/v1/conversations"),
        Some(&created.api_key),
        Some(json!({"customer": {"external_id": "c-1"}, "channel": "web"})),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.body);
    let id = started.body["id"].as_str().unwrap().to_string();
    let said = send(
        &client,
        Method::POST,
        &server.url(&format!("/v1/conversations/{id}/messages")),
        Some(&created.api_key),
        Some(json!({"role": "customer", "text": "my order 12345 is late"})),
    )
    .await;
    assert!(said.status.is_success(), "{}", said.body);
    drop(server);

    let out = run(&["audit", "verify", "--database", &db], &[]).await;
    assert!(out.ok().contains("every hash follows"), "{}", out.stdout);

    // Rewrite the customer's words behind Baton's back.
    let path = dir.path().join("baton.db");
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
             n=c.execute(\"UPDATE events SET data=REPLACE(data,'12345','99999') WHERE kind='message_added'\").rowcount; \
             c.commit(); print(n)",
        ])
        .arg(&path)
        .status()
        .expect("python3 runs");
    assert!(status.success());
    let out = run(&["audit", "verify", "--database", &db], &[]).await;
    let err = out.failed();
    assert!(
        err.contains("first broken link at event seq")
            && err.contains(&format!("conversation {id}"))
            && err.contains("message_added"),
        "{err}"
    );
}
