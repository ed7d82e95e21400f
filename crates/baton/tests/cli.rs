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
    // --json prints one JSON object and nothing else, on stdout or stderr.
    assert_eq!(again.ok().trim().lines().count(), 1, "{}", again.stdout);
    assert!(again.stderr.trim().is_empty(), "stderr: {}", again.stderr);
    let second: serde_json::Value = serde_json::from_str(again.ok()).unwrap();
    assert_ne!(second["tenant_id"], created.tenant_id.as_str(), "{second}");
    assert_eq!(second["admin"]["email"], "owner@acme.example");
    assert_eq!(second["queue"], "support", "{second}");
    let widget_key = second["widget_key"].as_str().unwrap();
    assert!(widget_key.starts_with("pk_"), "{second}");

    // The new tenant is ready for a first conversation: a queue to wait in and a widget key
    // the widget starts from.
    let server = Server::serve(&db).await;
    let token = login(
        &client,
        &server,
        "owner@acme.example",
        second["admin"]["password"].as_str().unwrap(),
    )
    .await;
    let queues = send(
        &client,
        Method::GET,
        &server.url("/v1/queues"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(queues.body["items"][0]["id"], "support", "{}", queues.body);
    let started = send(
        &client,
        Method::POST,
        &server.url("/v1/widget/conversations"),
        None,
        Some(json!({"public_key": widget_key, "customer": {"name": "Jo"}})),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.body);
    assert_eq!(started.body["conversation"]["state"], "bot");
    drop(server);

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
    // What to do next: the console, the team, a bot, the widget snippet with the new key.
    assert!(stdout.contains("widget key:   pk_"), "{stdout}");
    assert!(stdout.contains("queue:        support"), "{stdout}");
    for step in [
        "Next steps:",
        "/console",
        "POST /v1/agents",
        "PUT /v1/bot",
        "/widget.js\" data-key=\"pk_",
    ] {
        assert!(stdout.contains(step), "lacks {step}:\n{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_names_every_command() {
    let out = run(&["--help"], &[]).await;
    let help = out.ok();
    for command in [
        "serve",
        "migrate",
        "tenant",
        "kb",
        "eval",
        "rules",
        "simulate",
        "audit",
        "analytics",
        "bench",
        "demo",
    ] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{command} "))),
            "--help does not list {command}:\n{help}"
        );
    }
    // The summary line names no partial list of commands.
    let about = help.lines().next().unwrap();
    assert!(!about.contains("serve,"), "{about}");
}

/// Logs written to a pipe or a file carry no colour codes; on PostgreSQL, start-up does not
/// log the database's notices ("relation ... already exists, skipping") at INFO.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_plain_when_not_a_terminal() {
    let dir = TempDir::new("plain-logs");
    let db = dir.sqlite_url("baton.db");
    let server = Server::start(
        &["serve", "--database", &db, "--listen", "127.0.0.1:0"],
        &[("BATON_LOG", "debug")],
    )
    .await;
    reqwest::get(server.url("/healthz")).await.unwrap();
    let stderr = server.stderr();
    assert!(
        stderr.contains("DEBUG") || stderr.contains("INFO"),
        "no log lines to check:\n{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a pipe:\n{stderr:?}"
    );
    server.kill().await;

    let Some(pg) = baton_store::testing::TestDatabase::postgres("cli_notices").await else {
        return;
    };
    for _ in 0..2 {
        // The second start finds every table there: PostgreSQL sends notices.
        let server = Server::start(
            &["serve", "--database", pg.url(), "--listen", "127.0.0.1:0"],
            &[("BATON_LOG", "info")],
        )
        .await;
        let stderr = server.stderr();
        assert!(!stderr.contains("skipping"), "a notice at INFO:\n{stderr}");
        assert!(!stderr.contains("sqlx::postgres::notice"), "{stderr}");
        server.kill().await;
    }
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
    // Today's conversations, one in every state (the month of history is older than today).
    let listed = all_pages(&client, &first, "/v1/conversations", &sam).await;
    let today = &listed[0]["created_at"].as_str().unwrap()[..10];
    let today: Vec<_> = listed
        .iter()
        .filter(|c| c["created_at"].as_str().unwrap().starts_with(today))
        .cloned()
        .collect();
    assert_eq!(today.len(), 5, "{today:?}");
    let mut seen = states(&today);
    assert!(seen.remove("deferred"), "{today:?}");
    // The seeded VIP handoff waits, or is already deferred by routing (nobody is staffed).
    seen.remove("queued");
    assert_eq!(
        seen,
        BTreeSet::from(["assigned", "bot", "closed"].map(String::from))
    );
    // A month of history behind them: every day has traffic, with handoffs, waits, customers
    // who gave up, after-hours deferrals followed up, and ratings.
    let total = listed.len();
    assert!(total > 250, "{total} conversations");
    let get = |path: &str| {
        let (client, url, sam) = (client.clone(), first.url(path), sam.clone());
        async move { send(&client, Method::GET, &url, Some(&sam), None).await }
    };
    let summary = get("/v1/analytics/summary").await;
    assert_eq!(summary.status, 200, "{}", summary.body);
    let s = &summary.body;
    assert!(s["conversations"].as_u64().unwrap() > 250, "{s}");
    assert!(s["handed_off"].as_u64().unwrap() > 80, "{s}");
    assert!(s["abandoned"].as_u64().unwrap() > 3, "{s}");
    assert!(s["deferred"]["conversations"].as_u64().unwrap() > 10, "{s}");
    assert!(s["deferred"]["followed_up"].as_u64().unwrap() > 10, "{s}");
    assert!(
        s["csat_after_handoff_responses"].as_u64().unwrap() > 30,
        "{s}"
    );
    assert!(s["csat_bot_only_responses"].as_u64().unwrap() > 20, "{s}");
    assert!(s["queue_wait"].to_string().contains("median"), "{s}");
    let series = get("/v1/analytics/timeseries").await;
    let points = series.body["points"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", series.body));
    let busy = points
        .iter()
        .filter(|p| p["conversations"].as_u64().unwrap() > 0)
        .count();
    assert!(busy >= 28, "days with traffic: {busy} of {}", points.len());
    let max = points
        .iter()
        .map(|p| p["conversations"].as_u64().unwrap())
        .max()
        .unwrap();
    let min = points
        .iter()
        .map(|p| p["conversations"].as_u64().unwrap())
        .filter(|n| *n > 0)
        .min()
        .unwrap();
    assert!(max >= 2 * min, "weekdays and weekends differ: {min}..{max}");
    let agents = get("/v1/analytics/agents").await;
    assert!(
        agents.body.to_string().contains("handle_time"),
        "{}",
        agents.body
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
    assert_eq!(canned.len(), 7, "{canned:?}");
    assert!(
        canned.iter().any(|c| c["text"]
            .as_str()
            .unwrap()
            .contains("{{customer.first_name}}")),
        "{canned:?}"
    );
    first.kill().await;

    // A second run on the same folder reuses the tenant and prints the same key.
    let second = Server::start(&args, &[]).await;
    let stdout = second.wait_stdout("Tenant:").await;
    let key2 = demo_key(&stdout);
    assert_eq!(key1, key2, "the demo keeps its key across restarts");
    let sam = login(&client, &second, "sam@demo.baton.dev", "baton-demo").await;
    let listed = all_pages(&client, &second, "/v1/conversations", &sam).await;
    assert_eq!(listed.len(), total, "nothing seeded twice");
    let started = send(
        &client,
        Method::POST,
        &second.url("/v1/conversations"),
        Some(&key2),
        Some(json!({"customer": {"name": "Jo"}, "channel": "web"})),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.body);
    // Keys are for admins to list.
    let admin = login(&client, &second, "admin@demo.baton.dev", "baton-demo").await;
    let keys = send(
        &client,
        Method::GET,
        &second.url("/v1/api-keys"),
        Some(&admin),
        None,
    )
    .await;
    let live = keys.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["revoked_at"].is_null())
        .count();
    assert_eq!(
        live, 2,
        "the tenant's first key and the demo's, no more: {}",
        keys.body
    );
    second.kill().await;

    // --reset starts over: a new tenant and key; the old key is gone with its database.
    let mut reset_args = args.to_vec();
    reset_args.push("--reset");
    let third = Server::start(&reset_args, &[]).await;
    let stdout = third.wait_stdout("Tenant:").await;
    let key3 = demo_key(&stdout);
    assert_ne!(key3, key1);
    for (key, status) in [(&key1, 401), (&key3, 201)] {
        let started = send(
            &client,
            Method::POST,
            &third.url("/v1/conversations"),
            Some(key),
            Some(json!({"customer": {"name": "Jo"}, "channel": "web"})),
        )
        .await;
        assert_eq!(started.status, status, "{}", started.body);
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

/// Runs a Python sqlite3 statement against a database file (to look under Baton, or to play a
/// database from another build); returns what it printed.
fn sqlite_py(path: &std::path::Path, code: &str) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            &format!("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); {code}; c.commit()"),
        ])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `baton backup` while a server runs and writes are in flight: the copy is complete and
/// consistent, a second server starts on it with the data there, and `baton audit verify`
/// passes on it. It never overwrites a file, and points PostgreSQL users at pg_dump.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_writing_then_restore_on_the_copy() {
    let dir = TempDir::new("backup");
    let db = dir.sqlite_url("baton.db");
    let created = create_tenant(&db, "Backup Co", "owner@backup.example").await;
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
    // Writes in flight: a writer posts messages until told to stop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (client, url, key, stop) = (
            client.clone(),
            server.url(&format!("/v1/conversations/{id}/messages")),
            created.api_key.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let res = send(
                    &client,
                    Method::POST,
                    &url,
                    Some(&key),
                    Some(json!({"role": "customer", "text": format!("message {n}")})),
                )
                .await;
                assert!(res.status.is_success(), "{}", res.body);
                n += 1;
            }
            n
        })
    };
    // Let some writes land first, then copy while they continue.
    let messages_url = server.url(&format!("/v1/conversations/{id}/messages?limit=500"));
    loop {
        let listed = send(
            &client,
            Method::GET,
            &messages_url,
            Some(&created.api_key),
            None,
        )
        .await;
        if listed.body["items"]
            .as_array()
            .is_some_and(|a| a.len() >= 5)
        {
            break;
        }
        tokio::task::yield_now().await;
    }
    let copy = dir.path().join("backups/copy.db");
    let copy_str = copy.display().to_string();
    let out = run(&["backup", &copy_str, "--database", &db], &[]).await;
    let printed = out.ok();
    assert!(
        printed.contains("integrity check ok")
            && printed.contains("baton serve --database sqlite://"),
        "{printed}"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(written >= 5, "{written}");
    assert!(
        !dir.path().join("backups/copy.db.partial").exists(),
        "no partial file is left"
    );

    // Restore: a second server on the copy has the data as of the backup.
    let copy_url = format!("sqlite://{copy_str}");
    let restored = Server::serve(&copy_url).await;
    let listed = send(
        &client,
        Method::GET,
        &restored.url(&format!("/v1/conversations/{id}/messages?limit=500")),
        Some(&created.api_key),
        None,
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let copied = listed.body["items"].as_array().unwrap().len();
    assert!(
        (5..=written as usize).contains(&copied),
        "{copied} of {written}"
    );
    // The copy's messages are a prefix of what was written: no gap, nothing half-written.
    for (i, m) in listed.body["items"].as_array().unwrap().iter().enumerate() {
        assert_eq!(m["text"], format!("message {i}"), "{}", listed.body);
    }
    drop(restored);
    drop(server);
    let out = run(&["audit", "verify", "--database", &copy_url], &[]).await;
    assert!(out.ok().contains("every hash follows"), "{}", out.stdout);

    // Never overwrites; PostgreSQL is pg_dump's job.
    let again = run(&["backup", &copy_str, "--database", &db], &[]).await;
    assert!(
        again.failed().contains("already exists"),
        "{}",
        again.stderr
    );
    let pg = run(
        &[
            "backup",
            "x.db",
            "--database",
            "postgres://u:secret@127.0.0.1:1/baton",
        ],
        &[],
    )
    .await;
    let err = pg.failed();
    assert!(err.contains("pg_dump") && !err.contains("secret"), "{err}");
}

fn doctor_checks(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

/// `baton doctor` passes on a healthy set-up (database migrated, a real SMTP server, a public
/// URL that answers) and fails, saying what to fix, on a missing database, a database from a
/// newer build, an SMTP port nobody listens on and a broken config file; pending migrations
/// are a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_and_fails_with_what_to_fix() {
    let Some(smtp) = baton_channels::testing::SmtpServer::start_or_skip("doctor") else {
        return;
    };
    let dir = TempDir::new("doctor");
    let db = dir.sqlite_url("baton.db");
    run(&["migrate", "--database", &db], &[]).await.ok();
    let server = Server::serve(&db).await;
    let smtp_port = smtp.port().to_string();
    let healthy = [
        ("BATON_SMTP_HOST", smtp.host()),
        ("BATON_SMTP_PORT", smtp_port.as_str()),
        ("BATON_SMTP_SECURITY", "none"),
        ("BATON_SMTP_FROM", "Support <support@doctor.example>"),
        ("BATON_PUBLIC_URL", server.base.as_str()),
    ];
    let out = run(&["doctor", "--json", "--database", &db], &healthy).await;
    let report = doctor_checks(out.ok());
    assert_eq!(report["ok"], true, "{report}");
    for name in [
        "config",
        "database",
        "migrations",
        "clock",
        "smtp",
        "public_url",
    ] {
        assert_eq!(check(&report, name)["status"], "ok", "{report}");
    }
    assert!(
        check(&report, "smtp")["detail"]
            .as_str()
            .unwrap()
            .contains("220"),
        "{report}"
    );
    let human = run(&["doctor", "--database", &db], &healthy).await;
    assert!(human.ok().contains("ok    migrations"), "{}", human.stdout);
    drop(server);

    // SMTP nobody answers on, and no public URL: a failure and a warning, each with a fix.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let out = run(
        &["doctor", "--database", &db],
        &[
            ("BATON_SMTP_HOST", "127.0.0.1"),
            ("BATON_SMTP_PORT", closed.as_str()),
            ("BATON_SMTP_SECURITY", "none"),
            ("BATON_SMTP_FROM", "support@doctor.example"),
        ],
    )
    .await;
    out.failed();
    assert!(
        out.stdout.contains("FAIL  smtp") && out.stdout.contains("fix: check [smtp] host"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("warn  public_url") && out.stdout.contains("fix: set public_url"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("1 check(s) failed"), "{}", out.stderr);

    // Pending migrations (this build is newer than the database): a warning only.
    let path = dir.path().join("baton.db");
    sqlite_py(
        &path,
        "c.execute('DELETE FROM _sqlx_migrations WHERE version = 15')",
    );
    let out = run(&["doctor", "--json", "--database", &db], &[]).await;
    let report = doctor_checks(out.ok());
    let migrations = check(&report, "migrations");
    assert_eq!(migrations["status"], "warn", "{report}");
    assert!(
        migrations["detail"].as_str().unwrap().contains("0015"),
        "{report}"
    );
    run(&["migrate", "--database", &db], &[]).await.ok();

    // A migration this build does not know: the database was upgraded by a newer Baton.
    sqlite_py(
        &path,
        "c.execute(\"INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) VALUES (9999, 'future', '2030-01-01', 1, x'00', 0)\")",
    );
    let out = run(&["doctor", "--json", "--database", &db], &[]).await;
    out.failed();
    let report = doctor_checks(&out.stdout);
    assert_eq!(report["ok"], false);
    let migrations = check(&report, "migrations");
    assert_eq!(migrations["status"], "fail", "{report}");
    assert!(
        migrations["detail"].as_str().unwrap().contains("9999"),
        "{report}"
    );
    assert!(
        migrations["fix"]
            .as_str()
            .unwrap()
            .contains("restore the backup"),
        "{report}"
    );
    // And this older build refuses to run on it, as docs/operations.md says.
    let refused = run(&["migrate", "--database", &db], &[]).await;
    assert!(
        refused
            .failed()
            .contains("previously applied but is missing in the resolved migrations"),
        "{}",
        refused.stderr
    );

    // No database where the config points: nothing is created.
    let missing = dir.sqlite_url("nowhere/baton.db");
    let out = run(&["doctor", "--database", &missing], &[]).await;
    out.failed();
    assert!(
        out.stdout.contains("FAIL  database") && out.stdout.contains("baton migrate"),
        "{}",
        out.stdout
    );
    assert!(
        !dir.path().join("nowhere").exists(),
        "doctor created something"
    );

    // A broken config file.
    let file = dir.path().join("baton.toml");
    std::fs::write(&file, "listen = 8080\n").unwrap();
    let out = run(&["doctor", "--config", &file.display().to_string()], &[]).await;
    out.failed();
    assert!(
        out.stdout.contains("FAIL  config") && out.stdout.contains("baton.toml"),
        "{}",
        out.stdout
    );
}

/// `baton customer erase` erases on behalf of a named admin; `baton audit verify` passes after
/// it, and the text is gone from the database file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_erase_keeps_the_audit_chain_verifiable() {
    let dir = TempDir::new("erase");
    let db = dir.sqlite_url("baton.db");
    let created = create_tenant(&db, "Erase Co", "owner@erase.example").await;
    let server = Server::serve(&db).await;
    let client = reqwest::Client::new();
    let secret = "Pelican-3390";
    let started = send(
        &client,
        Method::POST,
        &server.url("/v1/conversations"),
        Some(&created.api_key),
        Some(json!({"customer": {"external_id": "c-9", "name": format!("Ann {secret}")}, "channel": "web"})),
    )
    .await;
    let id = started.body["id"].as_str().unwrap().to_string();
    let customer = started.body["customer_id"].as_str().unwrap().to_string();
    for text in [format!("my address is {secret}"), "bye".to_string()] {
        let res = send(
            &client,
            Method::POST,
            &server.url(&format!("/v1/conversations/{id}/messages")),
            Some(&created.api_key),
            Some(json!({"role": "customer", "text": text})),
        )
        .await;
        assert!(res.status.is_success(), "{}", res.body);
    }
    let token = login(&client, &server, &created.email, &created.password).await;
    let closed = send(
        &client,
        Method::POST,
        &server.url(&format!("/v1/conversations/{id}/close")),
        Some(&token),
        Some(json!({"resolution": "resolved"})),
    )
    .await;
    assert!(closed.status.is_success(), "{}", closed.body);
    drop(server);

    let args = |by: &'static str| {
        vec![
            "customer".to_string(),
            "erase".into(),
            customer.clone(),
            "--tenant".into(),
            created.tenant_id.clone(),
            "--by".into(),
            by.into(),
            "--database".into(),
            db.clone(),
        ]
    };
    let refused = args("someone@erase.example");
    let refused: Vec<&str> = refused.iter().map(String::as_str).collect();
    let out = run(&refused, &[]).await;
    assert!(out.failed().contains("is not an admin"), "{}", out.stderr);
    let ok = args("owner@erase.example");
    let ok: Vec<&str> = ok.iter().map(String::as_str).collect();
    let out = run(&ok, &[]).await;
    assert!(
        out.ok().contains(&format!("erased customer {customer}")),
        "{}",
        out.stdout
    );
    let out = run(&["audit", "verify", "--database", &db], &[]).await;
    assert!(out.ok().contains("every hash follows"), "{}", out.stdout);
    let path = dir.path().join("baton.db");
    let found = sqlite_py(
        &path,
        &format!(
            "print(sum(c.execute(q).fetchone()[0] for q in [\"SELECT COUNT(*) FROM messages WHERE text LIKE '%{secret}%'\", \"SELECT COUNT(*) FROM events WHERE data LIKE '%{secret}%'\", \"SELECT COUNT(*) FROM customers WHERE name LIKE '%{secret}%'\"]))"
        ),
    );
    assert_eq!(found, "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_escalation_reports_per_source_and_the_worst_source() {
    let dir = TempDir::new("eval");
    let input = dir.path().join("dev.tsv");
    let sources = dir.path().join("dev.sources.tsv");
    // Two made-up sources: "chat" is all clear requests and plain questions, "mail" has a
    // request no detector finds ("zzz") so it is the worse one.
    std::fs::write(
        &input,
        "text\tlabel\nlet me talk to a human agent please\t1\nwhat are your opening hours\t0\n\
         I want to speak to a real person\t1\nzzz\t1\nhow do I change my address\t0\n",
    )
    .unwrap();
    std::fs::write(&sources, "source\nchat\nchat\nmail\nmail\nmail\n").unwrap();
    let (input, sources) = (input.to_str().unwrap(), sources.to_str().unwrap());
    let args = [
        "eval",
        "escalation",
        "--task",
        "human_request",
        "--input",
        input,
        "--sources",
        sources,
    ];
    let out = run(&[&args[..], &["--json"][..]].concat(), &[]).await;
    let v: serde_json::Value = serde_json::from_str(out.ok()).unwrap();
    assert_eq!(v["tp"], 2, "{v}");
    assert_eq!(v["fn"], 1, "{v}");
    assert_eq!(v["per_source"]["chat"]["f1"], 1.0, "{v}");
    assert_eq!(v["per_source"]["mail"]["tp"], 1, "{v}");
    assert_eq!(v["worst_source"], "mail", "{v}");
    let out = run(&args, &[]).await;
    assert!(
        out.ok()
            .contains("worst source (lowest F1 among sources with positives): mail"),
        "{}",
        out.stdout
    );
    // A sidecar that does not line up with the input is refused.
    std::fs::write(dir.path().join("short.tsv"), "source\nchat\n").unwrap();
    let short = dir.path().join("short.tsv");
    let mut bad = args.to_vec();
    bad[7] = short.to_str().unwrap();
    let out = run(&bad, &[]).await;
    let err = out.failed();
    assert!(err.contains("short.tsv"), "{err}");
}
