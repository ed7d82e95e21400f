//! End-to-end tests in a real headless Chromium (Debian's `chromium` + `chromium-driver`),
//! driven over WebDriver with fantoccini: the customer widget on `/demo` and the agent console
//! at `/console`, against a real server on port 0.
//!
//! Without a browser these tests print a skip line and pass, unless `CI` is set (then a missing
//! browser fails). Every wait is on a real condition with a bounded timeout. Screenshots of the
//! main screens go to `target/screenshots/`.

mod common;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// The browser and its driver, or `None` (skip) when they are missing outside CI.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = which("chromium").or_else(|| which("chromium-browser"));
    let driver = which("chromedriver");
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "CI is set but chromium/chromedriver are missing: apt-get install -y chromium chromium-driver"
            )
        }
        _ => {
            eprintln!(
                "skipping browser e2e test: chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)"
            );
            None
        }
    }
}

/// A chromedriver process on a free port, killed on drop.
struct Driver {
    child: Child,
    url: String,
    profiles: Vec<PathBuf>,
    chromium: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Killing chromedriver does not end the browsers it started (a test that failed
        // before closing its session leaves one running, with its renderers polling pages):
        // end every process started with one of this driver's profiles, then remove them.
        for p in &self.profiles {
            let _ = Command::new("pkill")
                .arg("-KILL")
                .arg("-f")
                .arg(p.as_os_str())
                .status();
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

impl Driver {
    async fn start(chromium: PathBuf, driver: PathBuf) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let driver = Driver {
            child,
            url,
            profiles: Vec::new(),
            chromium,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(r) = client.get(format!("{}/status", driver.url)).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    /// A new browser session with a fresh profile.
    async fn session(&mut self, name: &str) -> Client {
        self.session_with(name, &[]).await
    }

    /// A new browser session with a fresh profile and more Chromium flags.
    async fn session_with(&mut self, name: &str, extra: &[&str]) -> Client {
        let profile = std::env::temp_dir().join(format!(
            "baton-e2e-{name}-{}-{}",
            std::process::id(),
            baton_store::ids::new_suffix()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        self.profiles.push(profile.clone());
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,860",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend(extra.iter().map(|s| s.to_string()));
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.chromium.to_string_lossy(),
                "args": args,
            },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("browser session")
    }
}

/// Evaluates `js` (a function body returning a value) until it returns something truthy.
async fn until(client: &Client, what: &str, js: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = client.execute(js, vec![]).await.unwrap_or(Value::Null);
        let truthy = match &value {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return value;
        }
        if Instant::now() > deadline {
            let _ = shot(client, &format!("timeout-{}", what.replace(' ', "-"))).await;
            let body: Value = client
                .execute(
                    "return document.body ? document.body.innerText : ''",
                    vec![],
                )
                .await
                .unwrap_or(Value::Null);
            panic!(
                "timed out waiting for {what}; page text:\n{}",
                body.as_str().unwrap_or("")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn css(client: &Client, selector: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector} never appeared: {e}"))
}

/// Clicks `selector`; a node replaced by a live re-render between find and click is found again.
async fn click(client: &Client, selector: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        match css(client, selector).await.click().await {
            Ok(()) => return,
            Err(e) if Instant::now() < deadline => {
                eprintln!("retrying click on {selector}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("click {selector}: {e}"),
        }
    }
}

/// Replaces the text of `selector`; retried like [`click`].
async fn type_in(client: &Client, selector: &str, text: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let e = css(client, selector).await;
        let typed = async {
            e.clear().await?;
            e.send_keys(text).await
        }
        .await;
        match typed {
            Ok(()) => return,
            Err(err) if Instant::now() < deadline => {
                eprintln!("retrying typing into {selector}: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("type into {selector}: {err}"),
        }
    }
}

async fn shot(client: &Client, name: &str) -> std::io::Result<()> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir)?;
    let png = client.screenshot().await.map_err(std::io::Error::other)?;
    std::fs::write(dir.join(format!("{name}.png")), png)
}

/// Message ids rendered by the widget, in order.
async fn widget_ids(client: &Client) -> Vec<String> {
    let v = client
        .execute(
            "return [...document.querySelectorAll('#baton-w-log .baton-w-msg')].map(e => e.dataset.id)",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

struct Scene {
    app: TestApp,
    public_key: String,
}

async fn scene(name: &str) -> Scene {
    let app = TestApp::spawn(Backend::Sqlite, name).await.unwrap();
    let queue = app
        .post("/v1/queues", &app.admin_token, json!({"id": "general", "name": "General", "skills": [], "languages": [], "offer_timeout_secs": 120}))
        .await;
    assert_eq!(queue.status, 201, "{}", queue.body);
    let sara = app
        .post(
            "/v1/agents",
            &app.admin_token,
            json!({"email": "sara@e2e.example", "name": "Sara Lopez", "password": PASSWORD, "role": "agent",
                   "skills": [], "languages": ["en"], "queues": ["general"], "capacity": 3}),
        )
        .await;
    assert_eq!(sara.status, 201, "{}", sara.body);
    for (title, body) in [
        (
            "Shipping times",
            "Orders ship within 24 hours. Standard shipping takes 3 to 5 business days; express shipping takes 1 to 2 days.",
        ),
        (
            "Returns and refunds",
            "You can return any item within 30 days for a full refund. Start a return from your orders page.",
        ),
    ] {
        let res = app
            .post(
                "/v1/kb/articles",
                &app.admin_token,
                json!({"title": title, "body": body, "tags": ["help"], "language": "en"}),
            )
            .await;
        assert!(res.status.is_success(), "{}", res.body);
    }
    let bot = app
        .put("/v1/bot", &app.admin_token, json!({"type": "kb"}))
        .await;
    assert!(bot.status.is_success(), "{}", bot.body);
    let key = app
        .post("/v1/widget/key", &app.admin_token, json!({}))
        .await;
    assert_eq!(key.status, 201, "{}", key.body);
    Scene {
        public_key: key.body["public_key"].as_str().unwrap().to_string(),
        app,
    }
}

async fn console_login(client: &Client, app: &TestApp, email: &str) {
    client.goto(&app.url("/console")).await.unwrap();
    type_in(client, "#login-email", email).await;
    type_in(client, "#login-password", PASSWORD).await;
    click(client, "#login-submit").await;
    css(client, "#me-name").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_and_agent_story_in_the_browser() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let scene = scene("e2e_story").await;
    let app = &scene.app;
    let mut driver = Driver::start(chromium, chromedriver).await;
    let agent = driver.session("agent").await;
    let customer = driver.session("customer").await;

    // The agent logs in and makes themself available.
    console_login(&agent, app, "sara@e2e.example").await;
    agent
        .execute(
            "const s = document.getElementById('status'); s.value = 'available'; s.dispatchEvent(new Event('change')); return true",
            vec![],
        )
        .await
        .unwrap();
    until(&agent, "live connection", "return document.getElementById('live-dot').textContent.includes('live') && !document.getElementById('live-dot').textContent.includes('connecting')").await;
    until(
        &agent,
        "status available",
        "return document.getElementById('status').value === 'available'",
    )
    .await;
    shot(&agent, "console-inbox").await.unwrap();

    // The customer opens the demo page, talks to the bot.
    customer
        .goto(&app.url(&format!("/demo?key={}", scene.public_key)))
        .await
        .unwrap();
    click(&customer, "#baton-w-launch").await;
    type_in(&customer, "#baton-w-input", "How long does shipping take?").await;
    click(&customer, "#baton-w-send").await;
    until(
        &customer,
        "bot answer",
        "return document.querySelector('#baton-w-log .baton-w-bot')",
    )
    .await;
    until(
        &customer,
        "status bot",
        "return document.getElementById('baton-w-status').textContent.includes('assistant')",
    )
    .await;
    shot(&customer, "widget-bot").await.unwrap();

    // Reload mid-conversation: the same messages, none lost, none duplicated.
    let before = widget_ids(&customer).await;
    assert_eq!(before.len(), 2, "{before:?}");
    customer.refresh().await.unwrap();
    until(
        &customer,
        "transcript after reload",
        "return document.querySelectorAll('#baton-w-log .baton-w-msg').length >= 2",
    )
    .await;
    assert_eq!(widget_ids(&customer).await, before);

    // Talk to a person.
    click(&customer, "#baton-w-human").await;
    until(&customer, "connecting", "const t = document.getElementById('baton-w-status').textContent; return t.includes('Connecting') || t.includes('chatting with Sara')").await;

    // The agent gets the offer, accepts, reads the brief, replies.
    until(
        &agent,
        "offer in the inbox",
        "return document.querySelector('#group-offers .item')",
    )
    .await;
    until(&agent, "offer countdown", "const c = document.querySelector('#group-offers .countdown'); return c && /\\d+s/.test(c.textContent)").await;
    shot(&agent, "console-offer").await.unwrap();
    click(&agent, "#group-offers .item").await;
    click(&agent, "#accept").await;
    until(
        &agent,
        "assigned",
        "const s = document.getElementById('conv-state'); return s && s.textContent === 'assigned'",
    )
    .await;
    // The inbox follows at once: the conversation is under Mine, no offer is left.
    until(&agent, "accepted conversation under Mine", "const id = document.getElementById('conversation').dataset.id; return !!document.querySelector('#group-mine .item[data-id=\"' + id + '\"]') && document.querySelector('#group-mine .count').textContent === '1'").await;
    until(&agent, "no offers left", "return document.querySelector('#group-offers .count').textContent === '0' && !document.querySelector('#group-offers .item')").await;
    let summary = until(&agent, "brief summary", "const s = document.getElementById('brief-summary'); return s && s.textContent !== '—' && s.textContent").await;
    assert!(!summary.as_str().unwrap().is_empty());
    until(
        &agent,
        "reply box",
        "return document.getElementById('reply')",
    )
    .await;
    shot(&agent, "console-conversation").await.unwrap();
    type_in(
        &agent,
        "#reply",
        "Hi, I am Sara. Your order ships today with express shipping.",
    )
    .await;
    click(&agent, "#send").await;
    until(&agent, "reply in the transcript", "return [...document.querySelectorAll('#transcript .msg.agent')].some(m => m.textContent.includes('Your order ships today'))").await;

    // The customer sees the agent's name and reply.
    until(&customer, "agent joined", "return document.getElementById('baton-w-log').textContent.includes('Sara Lopez joined the chat')").await;
    let who = until(&customer, "agent reply", "const m = [...document.querySelectorAll('#baton-w-log .baton-w-agent')].find(m => m.textContent.includes('Your order ships today')); return m && m.querySelector('.who').textContent").await;
    assert_eq!(who, "Sara Lopez");
    shot(&customer, "widget-agent").await.unwrap();

    // Reload again with the agent on: nothing lost or duplicated.
    let before = widget_ids(&customer).await;
    customer.refresh().await.unwrap();
    until(
        &customer,
        "transcript after second reload",
        &format!(
            "return document.querySelectorAll('#baton-w-log .baton-w-msg').length >= {}",
            before.len()
        ),
    )
    .await;
    until(
        &customer,
        "status with agent after reload",
        "return document.getElementById('baton-w-status').textContent.includes('Sara Lopez')",
    )
    .await;
    assert_eq!(widget_ids(&customer).await, before);

    // The customer writes; the agent sees it live; the agent closes.
    type_in(&customer, "#baton-w-input", "Great, thank you!").await;
    click(&customer, "#baton-w-send").await;
    until(&agent, "customer message live", "return [...document.querySelectorAll('#transcript .msg.customer')].some(m => m.textContent.includes('Great, thank you'))").await;
    type_in(&agent, "#note", "Customer happy with express shipping").await;
    click(&agent, "#add-note").await;
    until(
        &agent,
        "note",
        "return document.querySelector('#transcript .msg.note')",
    )
    .await;
    type_in(&agent, "#resolution", "resolved").await;
    click(&agent, "#close").await;
    until(
        &agent,
        "closed",
        "const s = document.getElementById('conv-state'); return s && s.textContent === 'closed'",
    )
    .await;

    // The customer rates 5 with a comment.
    click(&customer, "#baton-w-csat button[data-score='5']").await;
    type_in(
        &customer,
        "#baton-w-csat-comment",
        "Sara was quick and kind",
    )
    .await;
    click(&customer, "#baton-w-csat-send").await;
    until(
        &customer,
        "thanks",
        "return document.getElementById('baton-w-thanks')",
    )
    .await;
    shot(&customer, "widget-csat").await.unwrap();
    let log_text: Value = customer
        .execute(
            "return document.getElementById('baton-w-log').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        !log_text.as_str().unwrap().contains("Customer happy"),
        "a note reached the customer"
    );

    // The event log shows it all, in the console and through the API.
    let conv_id: Value = agent
        .execute(
            "return document.getElementById('conversation').dataset.id",
            vec![],
        )
        .await
        .unwrap();
    let conv_id = conv_id.as_str().unwrap();
    until(
        &agent,
        "csat event in the activity",
        "return document.querySelector('#activity li[data-type=csat_recorded]')",
    )
    .await;
    let events = app
        .get(
            &format!("/v1/conversations/{conv_id}/events"),
            &app.admin_token,
        )
        .await;
    let csat = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "csat_recorded")
        .cloned()
        .unwrap_or_default();
    assert_eq!(csat["data"]["score"], 5, "{csat}");
    assert_eq!(csat["data"]["comment"], "Sara was quick and kind", "{csat}");
    agent
        .execute("document.getElementById('activity').open = true; document.getElementById('activity').scrollIntoView(); return true", vec![])
        .await
        .unwrap();
    shot(&agent, "console-activity").await.unwrap();
    let conv = app
        .get(&format!("/v1/conversations/{conv_id}"), &app.admin_token)
        .await;
    assert_eq!(conv.body["csat"], 5, "{}", conv.body);
    assert_eq!(conv.body["state"], "closed");
    let events = app
        .get(
            &format!("/v1/conversations/{conv_id}/events?limit=500"),
            &app.admin_token,
        )
        .await;
    let kinds: Vec<&str> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for kind in [
        "started",
        "message_added",
        "handoff_requested",
        "offered",
        "assigned",
        "closed",
        "csat_recorded",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let messages = app
        .get(
            &format!("/v1/conversations/{conv_id}/messages?limit=500"),
            &app.admin_token,
        )
        .await;
    let texts: Vec<&str> = messages.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    for t in [
        "How long does shipping take?",
        "Talk to a person",
        "Great, thank you!",
    ] {
        assert_eq!(
            texts.iter().filter(|x| **x == t).count(),
            1,
            "{t} stored once: {texts:?}"
        );
    }

    let _ = agent.close().await;
    let _ = customer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_forms_show_the_api_messages_and_supervisor_view() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let scene = scene("e2e_admin").await;
    let app = &scene.app;
    app.staff().await;
    app.queued_conversation().await;
    let with_bot = app.conversation().await;
    let mut driver = Driver::start(chromium, chromedriver).await;
    let admin = driver.session("admin").await;
    let admin_email = app.get("/v1/agents/me", &app.admin_token).await.body["email"]
        .as_str()
        .unwrap()
        .to_string();
    console_login(&admin, app, &admin_email).await;

    // The inbox names the customer (from the list itself, not "Customer xxxxxx").
    until(&admin, "customer name in the inbox", "return [...document.querySelectorAll('#group-queued .item .who')].some(w => w.textContent === 'John')").await;

    // Supervisor view: queues, agents, at-risk bot conversations.
    click(&admin, "#nav-supervisor").await;
    until(
        &admin,
        "queues table",
        "return document.querySelector('#queues-table tr[data-queue=general]')",
    )
    .await;
    until(
        &admin,
        "agents table",
        "return document.querySelectorAll('#agents-table tbody tr').length >= 2",
    )
    .await;
    until(&admin, "queue depth", "const r = document.querySelector('#queues-table tr[data-queue=general]'); return r && r.children[1].textContent === '1'").await;
    until(&admin, "at-risk bot conversation", &format!("return document.querySelector('#risk-table tr[data-id=\"{with_bot}\"] button.takeover')")).await;
    shot(&admin, "console-supervisor").await.unwrap();

    // A bad agent: the form shows the API's own message.
    click(&admin, "#nav-admin").await;
    click(&admin, "#tab-agents").await;
    type_in(&admin, "#agent-form-name", "Bad Email").await;
    type_in(&admin, "#agent-form-email", "not-an-email@").await;
    type_in(&admin, "#agent-form-password", "x").await;
    let expected = app
        .post(
            "/v1/agents",
            &app.admin_token,
            json!({"name": "Bad Email", "email": "not-an-email@", "password": "x", "role": "agent",
                   "languages": ["en"], "queues": [], "skills": [], "capacity": 3}),
        )
        .await;
    assert_eq!(expected.status, 422, "{}", expected.body);
    let message = expected.body["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    // The email input's own validation would block a submit; submit through the form's handler.
    admin
        .execute(
            "document.getElementById('agent-form-email').type = 'text'; return true",
            vec![],
        )
        .await
        .unwrap();
    click(&admin, "#agent-form button[type=submit]").await;
    let shown = until(&admin, "agent form error", "const e = document.getElementById('agent-form-error'); return e && !e.hidden && e.textContent").await;
    assert_eq!(shown.as_str().unwrap(), message);
    shot(&admin, "console-admin-error").await.unwrap();

    // Rules: a mistake is pointed at.
    click(&admin, "#tab-rules").await;
    css(&admin, "#rules-form-doc").await;
    until(
        &admin,
        "rules loaded",
        "return document.getElementById('rules-form-doc').value.length > 2",
    )
    .await;
    admin
        .execute(
            "document.getElementById('rules-form-doc').value = JSON.stringify({rules: [{id: 'x', name: 'x', reason: 'x', when: {signal: 'moon_phase'}, actions: [{type: 'escalate'}]}]}); return true",
            vec![],
        )
        .await
        .unwrap();
    click(&admin, "#rules-form button[type=submit]").await;
    let shown = until(&admin, "rules error", "const e = document.getElementById('rules-form-error'); return e && !e.hidden && e.textContent").await;
    assert!(shown.as_str().unwrap().contains("moon_phase"), "{shown}");

    // A good queue is created and listed.
    click(&admin, "#tab-queues").await;
    type_in(&admin, "#queue-form-id", "vip").await;
    type_in(&admin, "#queue-form-name", "VIP desk").await;
    click(&admin, "#queue-form button[type=submit]").await;
    until(
        &admin,
        "queue listed",
        "return document.getElementById('admin-panel').textContent.includes('VIP desk')",
    )
    .await;
    shot(&admin, "console-admin-queues").await.unwrap();
    let _ = admin.close().await;
}

/// Selector-safe JS: whether `group` of the console's inbox holds conversation `id`.
fn in_group(group: &str, id: &str) -> String {
    format!("return !!document.querySelector('#group-{group} .item[data-id=\"{id}\"]')")
}

async fn make_available(client: &Client) {
    client
        .execute(
            "const s = document.getElementById('status'); s.value = 'available'; s.dispatchEvent(new Event('change')); return true",
            vec![],
        )
        .await
        .unwrap();
    until(client, "live connection", "const d = document.getElementById('live-dot'); return d && d.textContent.includes('live') && !d.textContent.includes('connecting')").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_that_times_out_moves_to_the_next_agent_in_the_console() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite, "e2e_offer_timeout")
        .await
        .unwrap();
    let queue = app
        .post("/v1/queues", &app.admin_token, json!({"id": "fast", "name": "Fast", "skills": [], "languages": [], "offer_timeout_secs": 5}))
        .await;
    assert_eq!(queue.status, 201, "{}", queue.body);
    let mut ids = Vec::new();
    for (email, name) in [
        ("sara@e2e.example", "Sara Lopez"),
        ("ana@e2e.example", "Ana Ruiz"),
    ] {
        let res = app
            .post(
                "/v1/agents",
                &app.admin_token,
                json!({"email": email, "name": name, "password": PASSWORD, "role": "agent",
                       "skills": [], "languages": ["en"], "queues": ["fast"], "capacity": 3}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        ids.push(res.body["id"].as_str().unwrap().to_string());
    }
    let mut driver = Driver::start(chromium, chromedriver).await;
    let sara = driver.session("sara").await;
    let ana = driver.session("ana").await;
    console_login(&sara, &app, "sara@e2e.example").await;
    console_login(&ana, &app, "ana@e2e.example").await;
    make_available(&sara).await;
    make_available(&ana).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let agents = app.get("/v1/agents", &app.admin_token).await;
        let available = agents.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| {
                ids.contains(&a["id"].as_str().unwrap().to_string()) && a["status"] == "available"
            })
            .count();
        if available == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "agents never became available: {}",
            agents.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The customer asks for a person.
    let conv = app.conversation_for("c-timeout", "John").await;
    app.hand_off(&conv, Some("fast")).await;

    // Whoever the router picked first is A; the other is B.
    let deadline = Instant::now() + WAIT;
    let first = loop {
        let c = app
            .get(&format!("/v1/conversations/{conv}"), &app.admin_token)
            .await;
        if let Some(agent) = c.body["offer"]["agent"].as_str() {
            break agent.to_string();
        }
        assert!(Instant::now() < deadline, "never offered: {}", c.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (a, b) = if first == ids[0] {
        (&sara, &ana)
    } else {
        (&ana, &sara)
    };

    // A sees the offer with its countdown and the customer's name; B does not have it.
    until(a, "offer in A's console", &in_group("offers", &conv)).await;
    until(a, "countdown in A's console", &format!("const c = document.querySelector('#group-offers .item[data-id=\"{conv}\"] .countdown'); return c && /^[0-5]s$/.test(c.textContent)")).await;
    until(a, "customer name in the offer", &format!("const w = document.querySelector('#group-offers .item[data-id=\"{conv}\"] .who'); return w && w.textContent === 'John'")).await;
    let b_has: Value = b.execute(&in_group("offers", &conv), vec![]).await.unwrap();
    assert_eq!(b_has, Value::Bool(false), "B was offered it too early");

    // A does nothing: after the 5 s timeout the offer leaves A and reaches B.
    let offered_at = Instant::now();
    until(a, "offer gone from A's console", &format!("return !document.querySelector('#group-offers .item[data-id=\"{conv}\"]') && document.querySelector('#group-offers .count').textContent === '0'")).await;
    shot(a, "console-offer-expired-a").await.unwrap();
    until(b, "offer in B's console", &in_group("offers", &conv)).await;
    until(b, "countdown in B's console", &format!("const c = document.querySelector('#group-offers .item[data-id=\"{conv}\"] .countdown'); return c && /^\\d+s$/.test(c.textContent)")).await;
    shot(b, "console-offer-moved-b").await.unwrap();
    assert!(
        offered_at.elapsed() < Duration::from_secs(15),
        "the offer took {:?} to move",
        offered_at.elapsed()
    );

    // The API agrees: offered to A, expired, then offered to B.
    let events = app
        .get(
            &format!("/v1/conversations/{conv}/events?limit=500"),
            &app.admin_token,
        )
        .await;
    let items = events.body["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"offer_expired"), "{kinds:?}");
    let offered: Vec<&str> = items
        .iter()
        .filter(|e| e["type"] == "offered")
        .map(|e| e["data"]["agent"].as_str().unwrap_or(""))
        .collect();
    assert!(offered.len() >= 2, "{kinds:?}");
    assert_eq!(offered[0], first.as_str(), "{offered:?}");
    assert_ne!(offered[1], first.as_str(), "{offered:?}");

    let _ = sara.close().await;
    let _ = ana.close().await;
}

/// A transfer in the console: the owner keeps the conversation until the colleague accepts the
/// transfer from their offers; the colleague sees the note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_waits_in_the_colleagues_offers_until_accepted() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite, "e2e_transfer")
        .await
        .unwrap();
    let queue = app
        .post(
            "/v1/queues",
            &app.admin_token,
            json!({"id": "general", "name": "General", "offer_timeout_secs": 120}),
        )
        .await;
    assert_eq!(queue.status, 201, "{}", queue.body);
    let mut ids = Vec::new();
    for (email, name) in [
        ("sara@e2e.example", "Sara Lopez"),
        ("ana@e2e.example", "Ana Ruiz"),
    ] {
        let res = app
            .post(
                "/v1/agents",
                &app.admin_token,
                json!({"email": email, "name": name, "password": PASSWORD, "role": "agent",
                       "languages": ["en"], "queues": ["general"], "capacity": 3}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        ids.push(res.body["id"].as_str().unwrap().to_string());
    }
    let mut driver = Driver::start(chromium, chromedriver).await;
    let sara = driver.session("sara").await;
    let ana = driver.session("ana").await;
    console_login(&sara, &app, "sara@e2e.example").await;
    console_login(&ana, &app, "ana@e2e.example").await;
    make_available(&sara).await;
    // Only Sara is available when the customer asks: she gets the offer and accepts it.
    let conv = app.conversation_for("c-transfer", "John").await;
    app.hand_off(&conv, Some("general")).await;
    until(&sara, "offer to Sara", &in_group("offers", &conv)).await;
    click(&sara, &format!("#group-offers .item[data-id=\"{conv}\"]")).await;
    click(&sara, "#accept").await;
    until(&sara, "Sara owns it", &in_group("mine", &conv)).await;
    make_available(&ana).await;

    // Sara transfers it to Ana with a note: she keeps it while Ana decides.
    until(
        &sara,
        "transfer form",
        &format!(
            "return !!document.querySelector('#transfer-agent option[value=\"{}\"]')",
            ids[1]
        ),
    )
    .await;
    sara.execute(
        &format!("const s = document.getElementById('transfer-agent'); s.value = '{}'; s.dispatchEvent(new Event('change')); return true", ids[1]),
        vec![],
    )
    .await
    .unwrap();
    type_in(
        &sara,
        "#transfer-note",
        "Wants to change the delivery address",
    )
    .await;
    click(&sara, "#transfer").await;
    until(&sara, "pending transfer banner", "const b = document.getElementById('transfer-pending'); return b && b.textContent.includes('Ana Ruiz') && b.textContent.includes('pending')").await;
    shot(&sara, "console-transfer-pending").await.unwrap();
    let view = app
        .get(&format!("/v1/conversations/{conv}"), &app.admin_token)
        .await;
    assert_eq!(view.body["assignee"], ids[0].as_str(), "{}", view.body);

    // Ana sees it among her offers, reads the note, accepts.
    until(&ana, "transfer offered to Ana", &in_group("offers", &conv)).await;
    click(&ana, &format!("#group-offers .item[data-id=\"{conv}\"]")).await;
    until(&ana, "the note", "const b = document.getElementById('transfer-pending'); return b && b.textContent.includes('Wants to change the delivery address')").await;
    shot(&ana, "console-transfer-offered").await.unwrap();
    click(&ana, "#accept").await;
    until(&ana, "Ana owns it", &in_group("mine", &conv)).await;
    until(
        &sara,
        "gone from Sara's conversations",
        &format!("return !document.querySelector('#group-mine .item[data-id=\"{conv}\"]')"),
    )
    .await;
    let view = app
        .get(&format!("/v1/conversations/{conv}"), &app.admin_token)
        .await;
    assert_eq!(view.body["assignee"], ids[1].as_str(), "{}", view.body);
    assert!(view.body["transfer"].is_null(), "{}", view.body);

    let _ = sara.close().await;
    let _ = ana.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_page_draws_charts_and_drills_down() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let scene = scene("e2e_analytics").await;
    let app = &scene.app;
    app.staff().await;
    // One contained by the bot, one handed off and abandoned, one handed off and still waiting.
    let contained = app.conversation().await;
    let closed = app
        .post(
            &format!("/v1/conversations/{contained}/close"),
            &app.api_key,
            json!({}),
        )
        .await;
    assert!(closed.status.is_success(), "{}", closed.body);
    let left = app.queued_conversation().await;
    let closed = app
        .post(
            &format!("/v1/conversations/{left}/close"),
            &app.api_key,
            json!({}),
        )
        .await;
    assert!(closed.status.is_success(), "{}", closed.body);
    app.queued_conversation().await;

    let mut driver = Driver::start(chromium, chromedriver).await;
    let sup = driver.session("supervisor").await;
    let admin_email = app.get("/v1/agents/me", &app.admin_token).await.body["email"]
        .as_str()
        .unwrap()
        .to_string();
    console_login(&sup, app, &admin_email).await;
    click(&sup, "#nav-analytics").await;
    until(
        &sup,
        "the conversations tile",
        "const t = document.querySelector('#tile-conversations .tile-value'); return t && t.textContent === '3'",
    )
    .await;
    let handoff = until(
        &sup,
        "handoff rate",
        "return document.querySelector('#tile-handoff .tile-value').textContent",
    )
    .await;
    assert_eq!(handoff, "66.7 %");
    let abandonment = until(
        &sup,
        "abandonment",
        "return document.querySelector('#tile-abandonment .tile-value').textContent",
    )
    .await;
    assert_eq!(abandonment, "50.0 %");
    // The charts are SVG drawn by the page: today's bar, the reasons bar.
    until(
        &sup,
        "volume bars",
        "return document.querySelectorAll('#volume-chart rect').length >= 1",
    )
    .await;
    until(
        &sup,
        "reasons",
        "return document.querySelector('#reasons-chart g.reason[data-reason=customer_request]')",
    )
    .await;
    until(
        &sup,
        "handoff rate line",
        "return document.querySelector('#handoff-chart circle')",
    )
    .await;
    shot(&sup, "console-analytics").await.unwrap();

    // Drill-down: the abandonment tile lists exactly the conversation that was left.
    click(&sup, "#tile-abandonment").await;
    let rows = until(
        &sup,
        "drill-down rows",
        "const r = [...document.querySelectorAll('#drill tbody tr')].map(e => e.dataset.id); return r.length ? r : null",
    )
    .await;
    assert_eq!(rows, json!([left]));
    // And a row opens the conversation.
    click(&sup, &format!("#drill tr[data-id=\"{left}\"] a")).await;
    until(
        &sup,
        "the conversation opened",
        &format!("return location.hash === '#c/{left}'"),
    )
    .await;

    // Agents do not get the page.
    let (_, _) = app.person("plain@e2e.example", "agent").await;
    let agent = driver.session("agent").await;
    console_login(&agent, app, "plain@e2e.example").await;
    let has_nav: Value = agent
        .execute("return !!document.getElementById('nav-analytics')", vec![])
        .await
        .unwrap();
    assert_eq!(has_nav, json!(false));
}

/// The tenant's business hours: never open (so a request for a person is deferred).
async fn always_closed(app: &TestApp) {
    let res = app
        .put(
            "/v1/business-hours",
            &app.admin_token,
            json!({"tz": "UTC", "weekly": {}, "holidays": []}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_conversation_collects_the_customers_email() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let scene = scene("e2e_deferred_email").await;
    let app = &scene.app;
    always_closed(app).await;
    let mut driver = Driver::start(chromium, chromedriver).await;
    let customer = driver.session("customer").await;
    customer
        .goto(&app.url(&format!("/demo?key={}", scene.public_key)))
        .await
        .unwrap();
    click(&customer, "#baton-w-launch").await;
    type_in(&customer, "#baton-w-input", "Where is my parcel?").await;
    click(&customer, "#baton-w-send").await;
    until(
        &customer,
        "bot answer",
        "return document.querySelector('#baton-w-log .baton-w-bot')",
    )
    .await;

    // After hours: asking for a person defers the conversation, and the widget asks for an email.
    click(&customer, "#baton-w-human").await;
    until(
        &customer,
        "deferred status",
        "return document.getElementById('baton-w-status').textContent.includes('away right now')",
    )
    .await;
    css(&customer, "#baton-w-email-form").await;
    shot(&customer, "widget-deferred-email-form").await.unwrap();

    // An address the server refuses: its message is shown in the form, nothing is stored.
    type_in(&customer, "#baton-w-email", "ann@example").await;
    click(&customer, "#baton-w-email-send").await;
    let error = until(&customer, "email error", "const e = document.getElementById('baton-w-email-error'); return e && !e.hidden && e.textContent").await;
    assert!(
        error.as_str().unwrap().contains("not an email address"),
        "{error}"
    );
    let invalid: Value = customer
        .execute(
            "return document.getElementById('baton-w-email').getAttribute('aria-invalid')",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(invalid, json!("true"));
    shot(&customer, "widget-deferred-email-error")
        .await
        .unwrap();

    // A good one: a confirmation with the address, on the profile, recorded as an event.
    type_in(&customer, "#baton-w-email", "ann@example.com").await;
    click(&customer, "#baton-w-email-send").await;
    let confirmed = until(
        &customer,
        "email confirmation",
        "const c = document.getElementById('baton-w-email-ok'); return c && c.textContent",
    )
    .await;
    assert!(
        confirmed.as_str().unwrap().contains("ann@example.com"),
        "{confirmed}"
    );
    until(
        &customer,
        "form gone",
        "return !document.getElementById('baton-w-email-form')",
    )
    .await;
    until(&customer, "status after email", "return document.getElementById('baton-w-status').textContent.includes('follow up by email')").await;
    shot(&customer, "widget-deferred-email-confirmed")
        .await
        .unwrap();

    let list = app
        .get("/v1/conversations?state=deferred", &app.admin_token)
        .await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", list.body);
    let id = items[0]["id"].as_str().unwrap();
    let conv = app
        .get(&format!("/v1/conversations/{id}"), &app.admin_token)
        .await;
    assert_eq!(conv.body["customer"]["email"], "ann@example.com");
    let events = app
        .get(
            &format!("/v1/conversations/{id}/events?limit=500"),
            &app.admin_token,
        )
        .await;
    let set: Vec<&Value> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "customer_email_set")
        .collect();
    assert_eq!(set.len(), 1, "{}", events.body);
    assert_eq!(set[0]["data"]["email"], "ann@example.com");
    // The address is not a chat message.
    let messages = app
        .get(
            &format!("/v1/conversations/{id}/messages"),
            &app.admin_token,
        )
        .await;
    assert!(
        !messages.body.to_string().contains("ann@example.com"),
        "{}",
        messages.body
    );

    // A reload keeps the confirmation (it comes from the profile).
    customer.refresh().await.unwrap();
    until(&customer, "confirmation after reload", "const c = document.getElementById('baton-w-email-ok'); return c && c.textContent.includes('ann@example.com')").await;
    let _ = customer.close().await;
}

/// Replaces the page's `Notification` and `AudioContext` with recorders, and makes
/// `document.hidden` / `visibilityState` settable with `window.__setHidden(bool)`.
const ALERT_RECORDER: &str = r#"
window.__alerts = { notifications: [], sounds: 0 };
class RecordingNotification {
  constructor(title, options) { window.__alerts.notifications.push({ title, body: (options && options.body) || "" }); }
  static get permission() { return "granted"; }
  static requestPermission() { return Promise.resolve("granted"); }
}
window.Notification = RecordingNotification;
class RecordingAudio {
  constructor() { this.currentTime = 0; this.destination = {}; this.state = "running"; }
  createOscillator() { return { frequency: {}, connect() {}, start() { window.__alerts.sounds++; }, stop() {} }; }
  createGain() { return { gain: {}, connect() {} }; }
}
window.AudioContext = RecordingAudio;
window.webkitAudioContext = RecordingAudio;
let hidden = false;
Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (hidden ? "hidden" : "visible") });
window.__setHidden = (h) => { hidden = h; document.dispatchEvent(new Event("visibilitychange")); return true; };
return true;
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_and_customer_messages_alert_the_agent() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let scene = scene("e2e_alerts").await;
    let app = &scene.app;
    let mut driver = Driver::start(chromium, chromedriver).await;
    let agent = driver.session("agent").await;
    console_login(&agent, app, "sara@e2e.example").await;
    make_available(&agent).await;
    until(
        &agent,
        "status available",
        "return document.getElementById('status').value === 'available'",
    )
    .await;
    agent.execute(ALERT_RECORDER, vec![]).await.unwrap();
    // The tab goes to the background.
    agent
        .execute("return window.__setHidden(true)", vec![])
        .await
        .unwrap();

    // A customer is handed off: the offer alerts, with a system notification.
    let conv = app.conversation_for("c-alert", "John Smith").await;
    app.hand_off(&conv, Some("general")).await;
    let shown = until(&agent, "offer notification", "const n = window.__alerts.notifications.find(n => n.title === 'New conversation offered to you'); return n && n.body").await;
    let body = shown.as_str().unwrap();
    assert!(
        body.contains("John Smith") && body.contains("Asked for a person"),
        "{body}"
    );
    until(&agent, "offer sound", "return window.__alerts.sounds >= 1").await;
    until(&agent, "offer toast", "return [...document.querySelectorAll('#toasts .toast')].some(t => t.textContent.includes('New conversation offered to you') && t.textContent.includes('John Smith'))").await;
    shot(&agent, "console-alert-offer").await.unwrap();

    // Back in front: accept it, then look at the inbox.
    agent
        .execute("return window.__setHidden(false)", vec![])
        .await
        .unwrap();
    click(&agent, &format!("#group-offers .item[data-id=\"{conv}\"]")).await;
    click(&agent, "#accept").await;
    until(&agent, "accepted", &in_group("mine", &conv)).await;
    agent.execute("history.replaceState(null, '', '#'); document.getElementById('nav-inbox').click(); return true", vec![]).await.unwrap();
    until(
        &agent,
        "inbox",
        "return !document.getElementById('conversation')",
    )
    .await;
    let before: Value = agent
        .execute(
            "return [window.__alerts.notifications.length, window.__alerts.sounds]",
            vec![],
        )
        .await
        .unwrap();
    let (notes_before, sounds_before) = (before[0].as_u64().unwrap(), before[1].as_u64().unwrap());

    // The tab is in front: a customer message is a toast and a sound, no system notification.
    let say = |text: &'static str| {
        let conv = conv.clone();
        async move {
            let r = app
                .post(
                    &format!("/v1/conversations/{conv}/messages"),
                    &app.api_key,
                    json!({"role": "customer", "text": text}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
    };
    say("Is anyone there?").await;
    until(&agent, "message toast", "return [...document.querySelectorAll('#toasts .toast')].some(t => t.textContent.includes('New message from John Smith') && t.textContent.includes('Is anyone there?'))").await;
    until(
        &agent,
        "message sound",
        &format!("return window.__alerts.sounds > {sounds_before}"),
    )
    .await;
    let notes: Value = agent
        .execute("return window.__alerts.notifications.length", vec![])
        .await
        .unwrap();
    assert_eq!(
        notes.as_u64().unwrap(),
        notes_before,
        "no system notification while the tab is in front"
    );
    shot(&agent, "console-alert-message").await.unwrap();

    // In the background: a system notification with the customer's words.
    agent
        .execute("return window.__setHidden(true)", vec![])
        .await
        .unwrap();
    say("Hello? I need help with my order").await;
    let shown = until(&agent, "message notification", "const n = window.__alerts.notifications.find(n => n.title === 'New message from John Smith'); return n && n.body").await;
    assert_eq!(shown, "Hello? I need help with my order");
    let _ = agent.close().await;
}

/// Whether the page fits the window horizontally, and which of `selectors` are not fully
/// visible across (missing, hidden, cut off at the right edge, or squeezed below `min` px:
/// `"#reply@300"` must be at least 300 px wide).
async fn fits(client: &Client, selectors: &[&str]) -> (bool, Vec<String>) {
    let v = client
        .execute(
            "const [sels] = arguments;
             const fits = document.documentElement.scrollWidth <= window.innerWidth;
             const bad = sels.filter(spec => {
               const [s, min] = spec.split('@');
               const e = document.querySelector(s);
               if (!e) return true;
               const r = e.getBoundingClientRect();
               return r.width === 0 || r.height === 0 || r.left < 0 || r.right > window.innerWidth + 0.5
                 || (min && r.width < Number(min));
             });
             return [fits, bad, document.documentElement.scrollWidth, window.innerWidth];",
            vec![json!(selectors)],
        )
        .await
        .unwrap();
    let bad: Vec<String> = serde_json::from_value(v[1].clone()).unwrap();
    eprintln!("layout: scrollWidth {} innerWidth {}", v[2], v[3]);
    (v[0].as_bool().unwrap(), bad)
}

async fn assert_fits(client: &Client, screen: &str, selectors: &[&str]) {
    let (ok, bad) = fits(client, selectors).await;
    let _ = shot(client, screen).await;
    assert!(ok, "{screen}: the page is wider than the window");
    assert!(bad.is_empty(), "{screen}: not fully visible: {bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_and_widget_fit_a_tablet() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let scene = scene("e2e_tablet").await;
    let app = &scene.app;
    // Something in every group: an assigned conversation with a brief, waiting ones, a closed one.
    let sara_token = {
        let login = send(
            &app.client,
            reqwest::Method::POST,
            &app.url("/v1/auth/login"),
            None,
            Some(json!({"email": "sara@e2e.example", "password": PASSWORD})),
        )
        .await;
        assert_eq!(login.status, 200, "{}", login.body);
        login.body["token"].as_str().unwrap().to_string()
    };
    let mine = app.conversation().await;
    // Handed off first: the bot, which answers customers in the background, stays silent from
    // then on and cannot escalate it into another queue while the test writes.
    app.hand_off(&mine, Some("general")).await;
    for text in [
        "Hi, my order #4821 arrived with a broken zipper and I need a replacement before Friday",
        "I already tried the returns page twice",
    ] {
        app.post(
            &format!("/v1/conversations/{mine}/messages"),
            &app.api_key,
            json!({"role": "customer", "text": text}),
        )
        .await;
    }
    let claimed = app
        .post(
            &format!("/v1/conversations/{mine}/claim"),
            &sara_token,
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, 200, "{}", claimed.body);
    app.queued_conversation().await;
    app.queued_conversation().await;

    let mut driver = Driver::start(chromium, chromedriver).await;
    let agent = driver.session("tablet-agent").await;
    let admin = driver.session("tablet-admin").await;
    let customer = driver.session("tablet-customer").await;
    console_login(&agent, app, "sara@e2e.example").await;
    let admin_email = app.get("/v1/agents/me", &app.admin_token).await.body["email"]
        .as_str()
        .unwrap()
        .to_string();
    console_login(&admin, app, &admin_email).await;

    for (w, h, name) in [(820, 1180, "portrait"), (1180, 820, "landscape")] {
        for c in [&agent, &admin, &customer] {
            c.set_window_size(w, h).await.unwrap();
        }
        // The inbox.
        agent.goto(&app.url("/console#")).await.unwrap();
        until(&agent, "inbox", &in_group("mine", &mine)).await;
        assert_fits(
            &agent,
            &format!("tablet-{name}-inbox"),
            &[
                "#inbox@240",
                "#filter",
                "#status",
                "#signout",
                "#group-mine .item@200",
                "#main@400",
            ],
        )
        .await;
        // The conversation, with the brief and the reply box.
        click(&agent, &format!("#group-mine .item[data-id=\"{mine}\"]")).await;
        until(
            &agent,
            "brief",
            "const s = document.getElementById('brief-summary'); return s && s.textContent !== '—'",
        )
        .await;
        assert_fits(
            &agent,
            &format!("tablet-{name}-conversation"),
            &[
                "#conv-title",
                "#conv-state",
                "#transcript@380",
                "#reply@380",
                "#send",
                "#note@380",
                "#close",
                "#brief@300",
            ],
        )
        .await;
        // Supervisor, analytics and admin screens.
        admin.goto(&app.url("/console#supervisor")).await.unwrap();
        admin.refresh().await.unwrap();
        until(
            &admin,
            "queues table",
            "return document.querySelector('#queues-table tr[data-queue=general]')",
        )
        .await;
        assert_fits(
            &admin,
            &format!("tablet-{name}-supervisor"),
            &[
                "#queues-table@400",
                "#agents-table@400",
                "#nav-admin",
                "#signout",
            ],
        )
        .await;
        click(&admin, "#nav-analytics").await;
        until(
            &admin,
            "analytics tiles",
            "return document.querySelector('#tile-conversations .tile-value')",
        )
        .await;
        assert_fits(
            &admin,
            &format!("tablet-{name}-analytics"),
            &["#tile-conversations"],
        )
        .await;
        click(&admin, "#nav-admin").await;
        click(&admin, "#tab-agents").await;
        css(&admin, "#agent-form").await;
        assert_fits(
            &admin,
            &format!("tablet-{name}-admin"),
            &["#agent-form button[type=submit]", "#tab-widget"],
        )
        .await;
        // The widget on the demo page.
        customer
            .goto(&app.url(&format!("/demo?key={}&baton_open=1", scene.public_key)))
            .await
            .unwrap();
        css(&customer, "#baton-w-panel:not([hidden])").await;
        assert_fits(
            &customer,
            &format!("tablet-{name}-widget"),
            &[
                "#baton-w-panel@300",
                "#baton-w-input@200",
                "#baton-w-send",
                "#baton-w-human",
            ],
        )
        .await;
    }
    let _ = agent.close().await;
    let _ = admin.close().await;
    let _ = customer.close().await;
}

/// A customer's own site on another origin (a real HTTP server on port 0) that embeds Baton's
/// widget with `body` after the script tag's attributes; `/page?...` pages are the same HTML.
async fn customer_site(baton: &str, pages: Vec<(&'static str, String)>) -> String {
    let mut router = axum::Router::new();
    for (path, html) in pages {
        let html = html.replace("{{BATON}}", baton);
        router = router.route(
            path,
            axum::routing::get(move || {
                let html = html.clone();
                async move { axum::response::Html(html) }
            }),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

fn hmac_hex(secret: &str, message: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The widget knows who the customer is: a signed-in customer's site renders the tag with
/// their id and the HMAC its server computed; the JavaScript API identifies, opens and reports
/// events; the conversation follows the verified customer to another browser; a bad hash is
/// refused with words for people, the typed text kept and nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_knows_who_the_customer_is() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let scene = scene("e2e_identity").await;
    let app = &scene.app;
    let created = app
        .post("/v1/widget/identity-secret", &app.admin_token, json!({}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.body["secret"].as_str().unwrap().to_string();
    let hash = hmac_hex(&secret, "user-42");
    let key = &scene.public_key;
    let page = |head: &str, tag_attrs: &str| {
        format!(
            "<!doctype html><html><head><meta charset=utf-8><title>Shop</title>{head}</head><body><h1>Your orders</h1>\
             <script src=\"{{{{BATON}}}}/widget.js\" data-key=\"{key}\" {tag_attrs} async></script></body></html>"
        )
    };
    // Server-rendered: data-* attributes.
    let signed_in = page(
        "",
        &format!(
            "data-external-id=\"user-42\" data-identity-hash=\"{hash}\" data-name=\"Maya Chen\" data-email=\"maya@shop.example\""
        ),
    );
    // A single-page app: the queued stub, identify with attributes, open, events.
    let spa = page(
        &format!(
            "<script>window.Baton=window.Baton||function(){{(window.Baton.q=window.Baton.q||[]).push(arguments)}};\
             window.seen=[];\
             Baton('identify',{{external_id:'user-42',identity_hash:'{hash}',name:'Maya Chen',email:'maya@shop.example',plan:'pro'}});\
             Baton('on','conversation',function(c){{window.seen.push('conversation:'+(c.resumed?'resumed':'new'))}});\
             Baton('on','message',function(m){{window.seen.push('message:'+m.role)}});\
             Baton('open');</script>"
        ),
        "",
    );
    let forged = page(
        "",
        &format!(
            "data-external-id=\"user-43\" data-identity-hash=\"{hash}\" data-name=\"Not Maya\""
        ),
    );
    // Customised looks: colour, side, launcher text, greeting.
    let styled = page(
        "",
        "data-color=\"#0a7d45\" data-position=\"left\" data-launcher-text=\"Questions?\" data-greeting=\"Hi! Ask us anything about your order.\"",
    );
    let site = customer_site(
        &app.instance.base,
        vec![
            ("/account", signed_in),
            ("/app", spa),
            ("/forged", forged),
            ("/styled", styled),
        ],
    )
    .await;
    let mut driver = Driver::start(chromium, chromedriver).await;
    let laptop = driver.session("laptop").await;

    laptop.goto(&format!("{site}/account")).await.unwrap();
    click(&laptop, "#baton-w-launch").await;
    type_in(&laptop, "#baton-w-input", "Where is my order 1042?").await;
    click(&laptop, "#baton-w-send").await;
    until(
        &laptop,
        "bot answer",
        "return document.querySelector('#baton-w-log .baton-w-bot')",
    )
    .await;
    shot(&laptop, "widget-identified").await.unwrap();
    // The conversation is on Maya's verified profile.
    let list = app
        .get("/v1/conversations?limit=50", &app.admin_token)
        .await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", list.body);
    let id = items[0]["id"].as_str().unwrap().to_string();
    let conv = app
        .get(&format!("/v1/conversations/{id}"), &app.admin_token)
        .await;
    assert_eq!(
        conv.body["customer"]["external_id"], "user-42",
        "{}",
        conv.body
    );
    assert_eq!(conv.body["customer"]["name"], "Maya Chen");
    assert_eq!(conv.body["customer"]["email"], "maya@shop.example");
    assert_eq!(conv.body["attributes"]["identity"], "verified");
    assert!(
        conv.body["attributes"]["page_url"]
            .as_str()
            .unwrap()
            .ends_with("/account")
    );

    // Another browser (her phone), a single-page app identifying from script: the widget
    // opens by itself and continues the same conversation, her message already there.
    let phone = driver.session("phone").await;
    phone.goto(&format!("{site}/app")).await.unwrap();
    until(&phone, "resumed transcript", "return [...document.querySelectorAll('#baton-w-log .baton-w-customer')].some(m => m.textContent.includes('order 1042'))").await;
    until(
        &phone,
        "panel opened by Baton.open()",
        "return !document.getElementById('baton-w-panel').hidden",
    )
    .await;
    let seen = until(&phone, "events", "return window.seen.includes('conversation:resumed') && window.seen.includes('message:bot') && window.seen.join(',')").await;
    assert!(seen.as_str().unwrap().contains("conversation:resumed"));
    shot(&phone, "widget-resumed-on-another-device")
        .await
        .unwrap();
    type_in(&phone, "#baton-w-input", "Sent from my phone").await;
    click(&phone, "#baton-w-send").await;
    // Both browsers show it (one conversation), and there is still only one.
    until(&laptop, "phone message on the laptop", "return [...document.querySelectorAll('#baton-w-log .baton-w-customer')].some(m => m.textContent.includes('Sent from my phone'))").await;
    let list = app
        .get("/v1/conversations?limit=50", &app.admin_token)
        .await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    let conv = app
        .get(&format!("/v1/conversations/{id}"), &app.admin_token)
        .await;
    assert_eq!(conv.body["customer"]["attributes"]["plan"], "pro");

    // A forged identity (someone else's hash): refused in words for people, the typed text
    // stays in the box, nothing is stored.
    let stranger = driver.session("stranger").await;
    stranger.goto(&format!("{site}/forged")).await.unwrap();
    click(&stranger, "#baton-w-launch").await;
    type_in(&stranger, "#baton-w-input", "Show me Maya's orders").await;
    click(&stranger, "#baton-w-send").await;
    let error = until(
        &stranger,
        "error notice",
        "const e = document.querySelector('#baton-w-log .baton-w-err'); return e && e.textContent",
    )
    .await;
    assert!(
        error
            .as_str()
            .unwrap()
            .contains("couldn't confirm who you are"),
        "{error}"
    );
    assert!(!error.as_str().unwrap().contains("identity_"), "{error}");
    let kept = stranger
        .execute(
            "return document.getElementById('baton-w-input').value",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept, "Show me Maya's orders");
    shot(&stranger, "widget-identity-refused").await.unwrap();
    let list = app
        .get("/v1/conversations?limit=50", &app.admin_token)
        .await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "nothing stored"
    );

    // Another account signs in on the laptop: Maya's conversation is not shown to them.
    laptop
        .execute(
            &format!(
                "Baton.identify({{external_id: 'user-77', identity_hash: '{}', name: 'Lee'}}); return true",
                hmac_hex(&secret, "user-77")
            ),
            vec![],
        )
        .await
        .unwrap();
    until(
        &laptop,
        "previous account's conversation gone",
        "return !document.querySelector('#baton-w-log .baton-w-msg')",
    )
    .await;

    // The customised widget: colour, left side, launcher text, greeting; an unread badge for
    // answers that arrive while it is closed.
    let styled = driver.session("styled").await;
    styled.goto(&format!("{site}/styled")).await.unwrap();
    let look = until(&styled, "launcher", "const l = document.getElementById('baton-w-launch'); if (!l) return null; const s = getComputedStyle(l); return [l.firstChild.textContent, s.backgroundColor, l.getBoundingClientRect().right < innerWidth / 2].join('|')").await;
    assert_eq!(look, "Questions?|rgb(10, 125, 69)|true");
    click(&styled, "#baton-w-launch").await;
    until(&styled, "greeting", "const g = document.getElementById('baton-w-greeting'); return g && g.textContent.includes('Ask us anything')").await;
    type_in(&styled, "#baton-w-input", "Do you ship to Canada?").await;
    click(&styled, "#baton-w-send").await;
    until(&styled, "greeting gone once they wrote", "return !document.getElementById('baton-w-greeting') && document.querySelector('#baton-w-log .baton-w-customer')").await;
    until(
        &styled,
        "bot answer",
        "return document.querySelector('#baton-w-log .baton-w-bot')",
    )
    .await;
    click(&styled, "#baton-w-launch").await;
    until(
        &styled,
        "closed",
        "return document.getElementById('baton-w-panel').hidden",
    )
    .await;
    let list = app
        .get("/v1/conversations?limit=50&q=canada", &app.admin_token)
        .await;
    let styled_id = list.body["items"][0]["id"].as_str().unwrap().to_string();
    for text in ["We ship to Canada in 5 days.", "Anything else?"] {
        let res = app
            .post(
                &format!("/v1/conversations/{styled_id}/messages"),
                &app.api_key,
                json!({"role": "bot", "text": text}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
    }
    until(&styled, "unread badge", "const b = document.getElementById('baton-w-badge'); return b && !b.hidden && b.textContent === '2'").await;
    shot(&styled, "widget-unread-badge").await.unwrap();
    click(&styled, "#baton-w-launch").await;
    until(
        &styled,
        "badge cleared",
        "return document.getElementById('baton-w-badge').hidden",
    )
    .await;
}

/// Search in the console goes to the server (closed and older conversations included), and
/// the customer panel shows who the customer is, the page they are on and their past
/// conversations with the outcome, each readable in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_search_and_customer_panel() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let scene = scene("e2e_search").await;
    let app = &scene.app;
    app.person("sup@e2e.example", "supervisor").await;
    let start = |text: &'static str| async move {
        let res = app
            .post(
                "/v1/conversations",
                &app.api_key,
                json!({"customer": {"external_id": "acme-1", "name": "Maya Chen", "email": "maya@shop.example",
                        "attributes": {"plan": "pro", "company": "Acme"}},
                       "channel": "web", "attributes": {"page_url": "https://shop.example/orders/1042"}}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        let id = res.body["id"].as_str().unwrap().to_string();
        let res = app
            .post(
                &format!("/v1/conversations/{id}/messages"),
                &app.api_key,
                json!({"role": "customer", "text": text}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        id
    };
    let old = start("My parcel never arrived").await;
    let res = app
        .post(
            &format!("/v1/conversations/{old}/close"),
            &app.api_key,
            json!({"resolution": "parcel_resent"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let now = start("The zipper on my jacket broke").await;
    let other = app.conversation_for("zed-9", "Zed Noone").await;

    let mut driver = Driver::start(chromium, chromedriver).await;
    let sup = driver.session("supervisor").await;
    console_login(&sup, app, "sup@e2e.example").await;
    // "/" focuses the search; the server finds the closed conversation by a word of it.
    sup.execute("document.activeElement.blur(); return true", vec![])
        .await
        .unwrap();
    sup.active_element()
        .await
        .unwrap()
        .send_keys("/")
        .await
        .unwrap();
    until(
        &sup,
        "search focused",
        "return document.activeElement && document.activeElement.id === 'filter'",
    )
    .await;
    type_in(&sup, "#filter", "parcel").await;
    until(&sup, "search result", &format!("return document.querySelectorAll('#group-search .item').length === 1 && !!document.querySelector('#group-search .item[data-id=\"{old}\"]')")).await;
    shot(&sup, "console-search").await.unwrap();
    type_in(&sup, "#filter", "maya@shop").await;
    until(&sup, "both of Maya's", &format!("const ids = [...document.querySelectorAll('#group-search .item')].map(e => e.dataset.id); return ids.length === 2 && ids.includes('{old}') && ids.includes('{now}')")).await;
    type_in(&sup, "#filter", "nothing-like-this").await;
    until(
        &sup,
        "no results",
        "return document.getElementById('search-empty')",
    )
    .await;
    let tail = &other[other.len() - 6..];
    type_in(&sup, "#filter", tail).await;
    until(
        &sup,
        "by id",
        &format!("return !!document.querySelector('#group-search .item[data-id=\"{other}\"]')"),
    )
    .await;

    // The customer panel of the current conversation.
    type_in(&sup, "#filter", "zipper").await;
    click(&sup, &format!("#group-search .item[data-id=\"{now}\"]")).await;
    until(&sup, "customer panel", "const p = document.getElementById('customer-panel'); return p && p.textContent.includes('Maya Chen') && p.textContent.includes('maya@shop.example')").await;
    until(&sup, "attributes", "const a = document.getElementById('customer-attributes'); return a && a.textContent.includes('plan') && a.textContent.includes('pro')").await;
    let link = until(&sup, "page link", "const a = document.querySelector('#customer-page a'); return a && [a.href, a.rel].join(' ')").await;
    assert!(
        link.as_str()
            .unwrap()
            .starts_with("https://shop.example/orders/1042 ")
            && link.as_str().unwrap().contains("noopener"),
        "{link}"
    );
    until(&sup, "past conversation with outcome", &format!("const li = document.querySelector('#customer-history li[data-id=\"{old}\"]'); return li && li.textContent.includes('parcel resent')")).await;
    // Typed text in the note box survives opening a past conversation in place.
    type_in(&sup, "#note", "checking the old order").await;
    click(
        &sup,
        &format!("#customer-history li[data-id=\"{old}\"] .past-toggle"),
    )
    .await;
    until(&sup, "past transcript in place", "const t = document.querySelector('#customer-history .past-transcript'); return t && t.textContent.includes('My parcel never arrived')").await;
    let note = sup
        .execute("return document.getElementById('note').value", vec![])
        .await
        .unwrap();
    assert_eq!(note, "checking the old order");
    let current = sup
        .execute(
            "return document.getElementById('conversation').dataset.id",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(current, now.as_str(), "still on the current conversation");
    shot(&sup, "console-customer-panel").await.unwrap();
    click(&sup, "#customer-history .past-open").await;
    until(
        &sup,
        "past conversation opened",
        &format!("const c = document.getElementById('conversation'); return c && c.dataset.id === '{old}'"),
    )
    .await;
}

/// Canned responses: an admin manages them in the console (a misspelt variable gets the API's
/// message); an agent types "/" in the reply box, picks one, and its variables are filled in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canned_responses_picker_and_admin() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let scene = scene("e2e_canned").await;
    let app = &scene.app;
    app.person("ada@e2e.example", "admin").await;
    let mut driver = Driver::start(chromium, chromedriver).await;
    let admin = driver.session("admin").await;
    console_login(&admin, app, "ada@e2e.example").await;
    click(&admin, "#nav-admin").await;
    click(&admin, "#tab-canned").await;
    type_in(&admin, "#canned-form-title", "Greeting").await;
    type_in(&admin, "#canned-form-tags", "hello, hi").await;
    type_in(
        &admin,
        "#canned-form-text",
        "Hi {{customer.first_name}}, I'm {{agent.first_name}}. How can I help?",
    )
    .await;
    click(&admin, "#canned-form button[type=submit]").await;
    until(&admin, "canned response listed", "const t = document.getElementById('canned-table'); return t && t.textContent.includes('Greeting')").await;
    type_in(&admin, "#canned-form-title", "Typo").await;
    type_in(&admin, "#canned-form-text", "Hello {{custmer.name}}").await;
    click(&admin, "#canned-form button[type=submit]").await;
    let error = until(&admin, "variable error", "const e = document.getElementById('canned-form-error'); return e && !e.hidden && e.textContent").await;
    assert!(error.as_str().unwrap().contains("custmer.name"), "{error}");
    shot(&admin, "console-canned-admin").await.unwrap();
    let stored = app.get("/v1/canned-responses", &app.admin_token).await;
    assert_eq!(stored.body.as_array().unwrap().len(), 1, "{}", stored.body);

    // Sara owns a conversation with Maya.
    let res = app
        .post(
            "/v1/conversations",
            &app.api_key,
            json!({"customer": {"name": "Maya Chen"}, "channel": "web"}),
        )
        .await;
    let id = res.body["id"].as_str().unwrap().to_string();
    app.hand_off(&id, Some("general")).await;
    let login = send(
        &app.client,
        reqwest::Method::POST,
        &app.url("/v1/auth/login"),
        None,
        Some(json!({"email": "sara@e2e.example", "password": PASSWORD})),
    )
    .await;
    let sara_token = login.body["token"].as_str().unwrap().to_string();
    let claimed = app
        .post(
            &format!("/v1/conversations/{id}/claim"),
            &sara_token,
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, 200, "{}", claimed.body);

    let sara = driver.session("sara").await;
    console_login(&sara, app, "sara@e2e.example").await;
    click(&sara, &format!("#group-mine .item[data-id=\"{id}\"]")).await;
    css(&sara, "#reply").await;
    type_in(&sara, "#reply", "/gre").await;
    until(&sara, "picker", "const p = document.getElementById('canned-picker'); return p && !p.hidden && p.querySelector('.canned-option')").await;
    let preview = until(
        &sara,
        "filled preview",
        "return document.querySelector('#canned-picker .canned-option .muted').textContent",
    )
    .await;
    assert_eq!(preview, "Hi Maya, I'm Sara. How can I help?");
    shot(&sara, "console-canned-picker").await.unwrap();
    css(&sara, "#reply")
        .await
        .send_keys("\u{E007}")
        .await
        .unwrap();
    until(&sara, "inserted", "return document.getElementById('reply').value === \"Hi Maya, I'm Sara. How can I help?\" && document.getElementById('canned-picker').hidden").await;
    click(&sara, "#send").await;
    until(&sara, "sent", "return [...document.querySelectorAll('#transcript .msg.agent')].some(m => m.textContent.includes(\"Hi Maya, I'm Sara.\"))").await;
}

/// A Spanish-speaking customer's conversation in the console: the brief says to reply in
/// Spanish and suggests a Spanish greeting, and the copilot drafts from the Spanish article,
/// in Spanish and in whole sentences; no English or Portuguese draft.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copilot_speaks_the_customers_language() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let scene = scene("e2e_copilot_language").await;
    let app = &scene.app;
    for (id, language, title, body) in [
        (
            "es-envios",
            "es",
            "Plazos de envío",
            "Los pedidos salen del almacén en 24 horas. El envío estándar tarda de 3 a 5 días hábiles y el urgente de 1 a 2 días.",
        ),
        (
            "pt-envios",
            "pt",
            "Prazos de envio",
            "Os pedidos saem do armazém em 24 horas. O envio padrão leva de 3 a 5 dias úteis.",
        ),
    ] {
        let res = app
            .post(
                "/v1/kb/articles",
                &app.admin_token,
                json!({"id": id, "title": title, "body": body, "tags": ["envio"], "language": language}),
            )
            .await;
        assert!(res.status.is_success(), "{}", res.body);
    }
    let res = app
        .post(
            "/v1/conversations",
            &app.api_key,
            json!({"customer": {"name": "Lucía Gómez", "language": "es"}, "channel": "web"}),
        )
        .await;
    let id = res.body["id"].as_str().unwrap().to_string();
    let res = app
        .post(
            &format!("/v1/conversations/{id}/messages"),
            &app.api_key,
            json!({"role": "customer", "text": "¿Cuántos días tarda el envío estándar de mi pedido?"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    app.hand_off(&id, Some("general")).await;
    let login = send(
        &app.client,
        reqwest::Method::POST,
        &app.url("/v1/auth/login"),
        None,
        Some(json!({"email": "sara@e2e.example", "password": PASSWORD})),
    )
    .await;
    let sara_token = login.body["token"].as_str().unwrap().to_string();
    let claimed = app
        .post(
            &format!("/v1/conversations/{id}/claim"),
            &sara_token,
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, 200, "{}", claimed.body);
    app.settle().await;

    let mut driver = Driver::start(chromium, chromedriver).await;
    let sara = driver.session("sara").await;
    console_login(&sara, app, "sara@e2e.example").await;
    click(&sara, &format!("#group-mine .item[data-id=\"{id}\"]")).await;
    let language = until(&sara, "reply language", "const e = document.getElementById('brief-language'); return e && e.textContent !== '—' && e.textContent").await;
    assert_eq!(language, "Spanish (es)");
    let greeting = until(&sara, "greeting", "const e = document.getElementById('brief-greeting'); return e && e.textContent !== '—' && e.textContent").await;
    assert!(
        greeting
            .as_str()
            .unwrap()
            .starts_with("Hola, Lucía, soy Sara."),
        "{greeting}"
    );
    let drafts = until(&sara, "drafts", "const d = [...document.querySelectorAll('#drafts .draft')]; return d.length && d.map(x => x.textContent)").await;
    let drafts: Vec<&str> = drafts
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(
        drafts[0].contains("Hola, Lucía: Los pedidos salen del almacén en 24 horas.")
            && drafts[0].contains("“Plazos de envío”"),
        "{drafts:?}"
    );
    assert!(
        drafts
            .iter()
            .all(|d| !d.contains("Prazos") && !d.contains("Shipping") && !d.contains('…')),
        "{drafts:?}"
    );
    shot(&sara, "console-copilot-spanish").await.unwrap();
    click(&sara, "#drafts .draft button.use").await;
    until(
        &sara,
        "draft in the reply box",
        "return document.getElementById('reply').value.startsWith('Hola, Lucía:')",
    )
    .await;
}

/// A phone (390×844): the inbox and the conversation take the whole width one at a time (no
/// one-letter-per-line transcript), with a way back; the widget fits. The system's dark mode
/// darkens the console.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_and_widget_fit_a_phone_in_dark_mode() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let scene = scene("e2e_phone").await;
    let app = &scene.app;
    let login = send(
        &app.client,
        reqwest::Method::POST,
        &app.url("/v1/auth/login"),
        None,
        Some(json!({"email": "sara@e2e.example", "password": PASSWORD})),
    )
    .await;
    let sara_token = login.body["token"].as_str().unwrap().to_string();
    let mine = app.conversation().await;
    app.hand_off(&mine, Some("general")).await;
    app.post(
        &format!("/v1/conversations/{mine}/messages"),
        &app.api_key,
        json!({"role": "customer", "text": "Hi, my order #4821 arrived with a broken zipper and I need a replacement before Friday, see https://shop.example/orders/4821"}),
    )
    .await;
    let claimed = app
        .post(
            &format!("/v1/conversations/{mine}/claim"),
            &sara_token,
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, 200, "{}", claimed.body);

    let mut driver = Driver::start(chromium, chromedriver).await;
    let phone = driver
        .session_with(
            "phone-agent",
            &[
                "--force-dark-mode",
                "--blink-settings=preferredColorScheme=0",
            ],
        )
        .await;
    let customer = driver.session("phone-customer").await;
    for c in [&phone, &customer] {
        c.set_window_size(390, 844).await.unwrap();
    }
    console_login(&phone, app, "sara@e2e.example").await;
    let dark = phone
        .execute(
            "return matchMedia('(prefers-color-scheme: dark)').matches",
            vec![],
        )
        .await
        .unwrap();
    until(&phone, "inbox", &in_group("mine", &mine)).await;
    assert_fits(
        &phone,
        "phone-inbox",
        &["#inbox@300", "#filter@150", "#group-mine .item@300"],
    )
    .await;
    click(&phone, &format!("#group-mine .item[data-id=\"{mine}\"]")).await;
    css(&phone, "#transcript .msg").await;
    assert_fits(
        &phone,
        "phone-conversation",
        &[
            "#back-to-inbox",
            "#conv-title",
            "#transcript@300",
            "#transcript .msg@250",
            "#reply@300",
            "#send",
        ],
    )
    .await;
    // The customer's link is a safe link.
    let link = until(&phone, "link", "const a = document.querySelector('#transcript .msg.customer a'); return a && [a.href, a.rel, a.target].join(' ')").await;
    assert_eq!(
        link,
        "https://shop.example/orders/4821 noopener noreferrer nofollow _blank"
    );
    if dark == Value::Bool(true) {
        let bg = phone
            .execute(
                "return getComputedStyle(document.body).backgroundColor",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(bg, "rgb(18, 21, 28)", "dark background in dark mode");
        shot(&phone, "phone-conversation-dark").await.unwrap();
    } else {
        eprintln!("this Chromium does not emulate the dark colour scheme; dark mode not checked");
    }
    click(&phone, "#back-to-inbox").await;
    until(&phone, "inbox again", &in_group("mine", &mine)).await;

    customer
        .goto(&app.url(&format!("/demo?key={}&baton_open=1", scene.public_key)))
        .await
        .unwrap();
    css(&customer, "#baton-w-panel:not([hidden])").await;
    assert_fits(
        &customer,
        "phone-widget",
        &[
            "#baton-w-panel@300",
            "#baton-w-input@200",
            "#baton-w-send",
            "#baton-w-human",
        ],
    )
    .await;
}

/// Words for people and what is still to set up: a failed sign-in says what to do; an admin's
/// inbox lists what is missing (no bot, no widget, a queue nobody works) and each fix works
/// from there; an offer's toast goes once the offer is answered; the activity list, the
/// handoff reason and "Why it escalated" read as words; the customer's typing shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_for_people_and_what_is_missing() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite, "e2e_words").await.unwrap();
    let res = app
        .post("/v1/queues", &app.admin_token, json!({"id": "general", "name": "General", "skills": [], "languages": [], "offer_timeout_secs": 120}))
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    app.person("ada@e2e.example", "admin").await;
    let mut driver = Driver::start(chromium, chromedriver).await;
    let admin = driver.session("words-admin").await;

    // A wrong password, in words.
    admin.goto(&app.url("/console")).await.unwrap();
    type_in(&admin, "#login-email", "ada@e2e.example").await;
    type_in(&admin, "#login-password", "not-the-password").await;
    click(&admin, "#login-submit").await;
    let error = until(
        &admin,
        "login error",
        "const e = document.getElementById('login-error'); return e && !e.hidden && e.textContent",
    )
    .await;
    assert!(
        error.as_str().unwrap().contains("don't match an account"),
        "{error}"
    );
    assert!(!error.as_str().unwrap().contains("invalid_credentials"));

    console_login(&admin, &app, "ada@e2e.example").await;
    let missing = until(&admin, "setup list", "const s = document.getElementById('setup'); return s && [...s.querySelectorAll('li')].map(l => l.dataset.missing).join(',')").await;
    let missing = missing.as_str().unwrap().to_string();
    for want in ["queue-unstaffed-general", "no-bot", "no-widget"] {
        assert!(missing.contains(want), "{want} not in {missing}");
    }
    shot(&admin, "console-setup").await.unwrap();
    // One click turns on the knowledge-base bot.
    click(&admin, "button[data-fix=no-bot]").await;
    until(&admin, "bot fixed", "const s = document.getElementById('setup'); return s && !s.querySelector('[data-missing=no-bot]')").await;
    assert_eq!(
        app.get("/v1/bot", &app.admin_token).await.body["type"],
        "kb"
    );
    // The widget fix goes to the widget tab.
    click(&admin, "button[data-fix=no-widget]").await;
    until(&admin, "widget tab", "const t = document.getElementById('tab-widget'); return t && t.getAttribute('aria-selected') === 'true'").await;

    // Sara works the queue: the unstaffed-queue line goes.
    let sara = app
        .post(
            "/v1/agents",
            &app.admin_token,
            json!({"email": "sara@e2e.example", "name": "Sara Lopez", "password": PASSWORD, "role": "agent",
                   "skills": [], "languages": ["en"], "queues": ["general"], "capacity": 3}),
        )
        .await;
    assert_eq!(sara.status, 201, "{}", sara.body);
    click(&admin, "#nav-inbox").await;
    admin.refresh().await.unwrap();
    until(&admin, "queue staffed", "const s = document.getElementById('setup'); return s && !s.querySelector('[data-missing^=queue-unstaffed]')").await;

    // Sara gets an offer: its toast leaves once she accepts it.
    let agent = driver.session("words-agent").await;
    console_login(&agent, &app, "sara@e2e.example").await;
    make_available(&agent).await;
    let conv = app.conversation_for("c-words", "John Smith").await;
    app.hand_off(&conv, Some("general")).await;
    until(&agent, "offer toast", "return [...document.querySelectorAll('#toasts .toast')].some(t => t.textContent.includes('New conversation offered'))").await;
    let reason = until(&agent, "reason in words", &format!("const i = document.querySelector('#group-offers .item[data-id=\"{conv}\"]'); return i && i.textContent")).await;
    assert!(
        reason.as_str().unwrap().contains("Asked for a person"),
        "{reason}"
    );
    click(&agent, &format!("#group-offers .item[data-id=\"{conv}\"]")).await;
    click(&agent, "#accept").await;
    until(&agent, "toast gone", "return ![...document.querySelectorAll('#toasts .toast')].some(t => t.textContent.includes('New conversation offered'))").await;
    until(&agent, "why it escalated", "const w = document.getElementById('brief-why'); return w && w.textContent.includes('Asked for a person')").await;
    let why = agent
        .execute(
            "return document.getElementById('brief-why').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert!(!why.as_str().unwrap().contains("customer_request"), "{why}");
    agent
        .execute(
            "document.getElementById('activity').open = true; return true",
            vec![],
        )
        .await
        .unwrap();
    let activity = until(&agent, "activity in words", "const a = document.getElementById('activity'); return a && a.textContent.includes('Agent joined') && a.textContent").await;
    assert!(
        !activity.as_str().unwrap().contains("handoff_requested"),
        "{activity}"
    );

    shot(&agent, "console-words").await.unwrap();

    // A widget customer Sara talks to types: her console says so under the transcript.
    let key = app
        .post("/v1/widget/key", &app.admin_token, json!({}))
        .await;
    let key = key.body["public_key"].as_str().unwrap().to_string();
    let started = send(
        &app.client,
        reqwest::Method::POST,
        &app.url("/v1/widget/conversations"),
        None,
        Some(json!({"public_key": key, "customer": {"name": "Maya Chen"}})),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.body);
    let widget_conv = started.body["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let customer_token = started.body["token"].as_str().unwrap().to_string();
    let res = app
        .post(
            &format!("/v1/conversations/{widget_conv}/handoff"),
            &customer_token,
            json!({"reason": "customer_request"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    click(
        &agent,
        &format!("#group-offers .item[data-id=\"{widget_conv}\"]"),
    )
    .await;
    click(&agent, "#accept").await;
    until(
        &agent,
        "accepted",
        "const s = document.getElementById('conv-state'); return s && s.textContent === 'assigned'",
    )
    .await;
    let res = app
        .post(
            &format!("/v1/conversations/{widget_conv}/typing"),
            &customer_token,
            json!({"typing": true}),
        )
        .await;
    assert_eq!(res.status, 204, "{}", res.body);
    until(&agent, "customer typing", "const t = document.getElementById('customer-typing'); return t && !t.hidden && t.textContent.includes('Maya Chen is typing')").await;
    shot(&agent, "console-customer-typing").await.unwrap();
}

/// A 160x100 PNG of a parcel.
const PARCEL_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAKAAAABkCAIAAACO1KzYAAAA8ElEQVR42u3dMQ0AIAxFQaQhq7KQgQ0WFhwwoYGJ0FzyBDT/BLSMtZW4YgLAAizAAizAAizAgAVYgAVYgAVYgAELsAALsJIAt6gPmz2uenstYMCAAQMGDBgwYMCAAQMGDBgwYMCAAQMGDBgwYMCAAQMGDBgwYMCAAQMGDBgwYMCAAQMGDBgwYMCAAQMGDBgwYMCAAQMGDBgwYMCAAQMGDBgwYMCAAQMGDBgwYMCAAQMGDBgwYMCAAQMGDBgwYMCAAQMGDBgwYMCAAQMGDBgwYMCAAQMGDBiwvHgXYAEWYMBWACzAAizAAizAAgxYgPVBBw9KrGw/91umAAAAAElFTkSuQmCC";

/// Puts a file (its bytes in base64) into the file input `selector` as a person choosing it
/// would, and lets the page react to the choice.
async fn choose_file(client: &Client, selector: &str, name: &str, kind: &str, base64: &str) {
    css(client, selector).await;
    client
        .execute(
            "const [sel, name, kind, b64] = arguments;
             const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
             const dt = new DataTransfer();
             dt.items.add(new File([bytes], name, { type: kind }));
             const input = document.querySelector(sel);
             input.files = dt.files;
             input.dispatchEvent(new Event('change'));
             return true",
            vec![json!(selector), json!(name), json!(kind), json!(base64)],
        )
        .await
        .unwrap();
}

/// Attachments in the browser: the customer sends a photo from the widget, the agent sees it
/// inline in the transcript and sends a PDF back, which the customer sees with its name and
/// size; a page renamed `.png` is refused in words on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_from_the_widget_and_the_console() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let scene = scene("e2e_attachments").await;
    let app = &scene.app;
    let mut driver = Driver::start(chromium, chromedriver).await;
    let agent = driver.session("agent").await;
    let customer = driver.session("customer").await;
    console_login(&agent, app, "sara@e2e.example").await;
    make_available(&agent).await;

    // The customer asks for a person; Sara accepts.
    customer
        .goto(&app.url(&format!("/demo?key={}", scene.public_key)))
        .await
        .unwrap();
    click(&customer, "#baton-w-launch").await;
    click(&customer, "#baton-w-human").await;
    until(
        &agent,
        "offer in the inbox",
        "return document.querySelector('#group-offers .item')",
    )
    .await;
    click(&agent, "#group-offers .item").await;
    click(&agent, "#accept").await;
    css(&agent, "#attach").await;
    until(&customer, "agent joined", "return document.getElementById('baton-w-log').textContent.includes('Sara Lopez joined the chat')").await;

    // The customer sends a photo of the parcel: shown in the widget and, inline, in the console.
    choose_file(
        &customer,
        "#baton-w-file",
        "parcel.png",
        "image/png",
        PARCEL_PNG,
    )
    .await;
    until(&customer, "photo in the widget", "const i = document.querySelector('#baton-w-log .baton-w-customer .baton-w-file img'); return i && i.src.startsWith('blob:') && i.complete && i.naturalWidth === 160").await;
    until(&agent, "photo in the transcript", "const i = document.querySelector('#transcript .msg.customer img.attachment-thumb'); return i && i.src.startsWith('blob:') && i.complete && i.naturalWidth === 160").await;
    let label = until(
        &agent,
        "photo label",
        "return document.querySelector('#transcript .msg.customer .attachment-name').textContent",
    )
    .await;
    assert!(
        label.as_str().unwrap().starts_with("parcel.png · "),
        "{label}"
    );

    // Sara sends the return label as a PDF.
    let pdf = "JVBERi0xLjQKMSAwIG9iaiA8PCAvVHlwZSAvQ2F0YWxvZyA+PiBlbmRvYmoKdHJhaWxlciA8PCAvUm9vdCAxIDAgUiA+PgolJUVPRgo=";
    choose_file(
        &agent,
        "#attach-input",
        "return-label.pdf",
        "application/pdf",
        pdf,
    )
    .await;
    until(&agent, "PDF in the transcript", "const a = document.querySelector('#transcript .msg.agent .attachment.file'); return a && a.textContent.includes('return-label.pdf')").await;
    let shown = until(&customer, "PDF in the widget", "const a = document.querySelector('#baton-w-log .baton-w-agent .baton-w-pdf'); return a && a.textContent").await;
    assert!(
        shown.as_str().unwrap().contains("return-label.pdf"),
        "{shown}"
    );
    // The PDF downloads from memory (a blob: link), with the token in a header, never the URL.
    click(&customer, "#baton-w-log .baton-w-pdf").await;

    // A web page renamed .png is refused, in words, on both sides.
    let page = "PGh0bWw+PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0PjwvaHRtbD4=";
    choose_file(&customer, "#baton-w-file", "cute.png", "image/png", page).await;
    let refused = until(&customer, "refusal in the widget", "const n = [...document.querySelectorAll('#baton-w-log .baton-w-err')].pop(); return n && n.textContent").await;
    assert!(
        refused.as_str().unwrap().contains("only photos"),
        "{refused}"
    );
    choose_file(&agent, "#attach-input", "cute.png", "image/png", page).await;
    let refused = until(
        &agent,
        "refusal in the console",
        "const e = document.getElementById('conv-error'); return e && !e.hidden && e.textContent",
    )
    .await;
    assert!(
        refused.as_str().unwrap().contains("only images"),
        "{refused}"
    );
    until(&agent, "widget image still shown after a re-render", "const i = document.querySelector('#transcript .msg.customer img.attachment-thumb'); return i && i.naturalWidth === 160").await;
    shot(&customer, "widget-attachments").await.unwrap();
    shot(&agent, "console-attachments").await.unwrap();
    agent
        .execute(
            "document.getElementById('transcript').scrollTop = 1e6; document.getElementById('attach').scrollIntoView({block: 'end'}); return true",
            vec![],
        )
        .await
        .unwrap();
    shot(&agent, "console-attachments-reply").await.unwrap();
    // Nothing else reached the transcript: the photo and the PDF.
    let transcript = app
        .get(
            &format!(
                "/v1/conversations/{}/messages",
                until(
                    &agent,
                    "conversation id",
                    "return document.getElementById('conversation').dataset.id"
                )
                .await
                .as_str()
                .unwrap()
            ),
            &app.admin_token,
        )
        .await;
    let files: Vec<&str> = transcript.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["attachment"]["filename"].as_str())
        .collect();
    assert_eq!(
        files,
        ["parcel.png", "return-label.pdf"],
        "{}",
        transcript.body
    );
}

/// Logs `email` in through the API; returns the session token.
async fn login_token(app: &TestApp, email: &str, password: &str) -> common::Res {
    send(
        &app.client,
        reqwest::Method::POST,
        &app.url("/v1/auth/login"),
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
}

/// Sets a `<select>` (or any input the driver cannot type into, like a colour) and tells the
/// page it changed.
async fn set_value(client: &Client, selector: &str, value: &str) {
    css(client, selector).await;
    let js = format!(
        "const e = document.querySelector({}); e.value = {}; e.dispatchEvent(new Event('change')); return e.value",
        json!(selector),
        json!(value)
    );
    let set = client.execute(&js, vec![]).await.unwrap();
    assert_eq!(set, json!(value), "{selector}");
}

/// Clicks the submit button of form `id` and waits for its success line; panics with the
/// form's error when it shows one instead.
async fn submit_ok(client: &Client, id: &str) {
    click(client, &format!("#{id} button[type=submit]")).await;
    let js = format!(
        "const ok = document.getElementById('{id}-ok'), err = document.getElementById('{id}-error'); \
         if (err && !err.hidden) return 'error: ' + err.textContent; return ok && !ok.hidden && ('ok: ' + ok.textContent)"
    );
    let shown = until(client, &format!("{id} saved"), &js).await;
    assert!(shown.as_str().unwrap().starts_with("ok: "), "{id}: {shown}");
}

/// Clicks the submit button of form `id` and returns the error it shows.
async fn submit_error(client: &Client, id: &str) -> String {
    click(client, &format!("#{id} button[type=submit]")).await;
    let js = format!(
        "const e = document.getElementById('{id}-error'); return e && !e.hidden && e.textContent"
    );
    until(client, &format!("{id} error"), &js)
        .await
        .as_str()
        .unwrap()
        .to_string()
}

/// A webhook receiver that answers every POST `410 Gone` (dead-lettered at once) and counts them.
async fn gone_receiver() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { axum::http::StatusCode::GONE }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (format!("http://{addr}/hook"), hits)
}

/// The team lead's pages: everything the API configures, done in the console, each change
/// checked through the API and each mistake answered with the API's own message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_team_leads_pages_configure_everything() {
    let Some((chromium, chromedriver)) = browser() else {
        return;
    };
    let scene = scene("e2e_teamlead").await;
    let app = &scene.app;
    app.person("ada@e2e.example", "admin").await;
    let agents = app.get("/v1/agents", &app.admin_token).await;
    let sara = agents.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == "sara@e2e.example")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Ann and Bob work the general queue; Ann owns a conversation with Maya.
    let mut people = Vec::new();
    for (email, name) in [
        ("ann@e2e.example", "Ann Ito"),
        ("bob@e2e.example", "Bob Park"),
    ] {
        let res = app
            .post(
                "/v1/agents",
                &app.admin_token,
                json!({"email": email, "name": name, "password": PASSWORD, "role": "agent",
                       "skills": [], "languages": ["en"], "queues": ["general"], "capacity": 3}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        let login = login_token(app, email, PASSWORD).await;
        assert_eq!(login.status, 200, "{}", login.body);
        people.push((
            res.body["id"].as_str().unwrap().to_string(),
            login.body["token"].as_str().unwrap().to_string(),
        ));
    }
    let (ann, ann_token) = people[0].clone();
    let (bob, bob_token) = people[1].clone();
    app.set_status(&bob_token, "busy").await;
    app.set_status(&ann_token, "available").await;
    let maya = app.conversation_for("maya-1", "Maya Chen").await;
    app.hand_off(&maya, Some("general")).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let c = app
            .get(&format!("/v1/conversations/{maya}"), &app.admin_token)
            .await;
        if c.body["offer"]["agent"] == json!(ann) {
            break;
        }
        assert!(Instant::now() < deadline, "no offer to Ann: {}", c.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let res = app
        .post(
            &format!("/v1/conversations/{maya}/accept"),
            &ann_token,
            json!({}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    app.set_status(&bob_token, "available").await;

    let mut driver = Driver::start(chromium, chromedriver).await;
    let admin = driver.session("admin").await;
    console_login(&admin, app, "ada@e2e.example").await;
    admin
        .execute("window.confirm = () => true; return true", vec![])
        .await
        .unwrap();

    // The supervisor view names the customer and her agent, and reassigns her to Bob.
    click(&admin, "#nav-supervisor").await;
    let row = format!("#assigned-table tr[data-id=\"{maya}\"]");
    let named = until(
        &admin,
        "Maya's row",
        &format!("const r = document.querySelector('{row}'); return r && r.textContent"),
    )
    .await;
    let named = named.as_str().unwrap();
    assert!(
        named.contains("Maya Chen") && named.contains("Ann Ito"),
        "{named}"
    );
    set_value(&admin, &format!("{row} select.reassign-to"), &bob).await;
    shot(&admin, "console-supervisor-reassign").await.unwrap();
    click(&admin, &format!("{row} button.reassign")).await;
    until(&admin, "transfer pending", &format!("const r = document.querySelector('{row}'); return r && r.textContent.includes('transfer to Bob Park pending')")).await;
    let c = app
        .get(&format!("/v1/conversations/{maya}"), &app.admin_token)
        .await;
    assert_eq!(c.body["transfer"]["to_agent"], json!(bob), "{}", c.body);
    assert_eq!(c.body["assignee"], json!(ann), "{}", c.body);

    // Agents: edit Sara's skills and capacity; a bad capacity gets the API's message.
    click(&admin, "#nav-admin").await;
    click(&admin, "#tab-agents").await;
    click(&admin, &format!("tr[data-agent=\"{sara}\"] button.edit")).await;
    type_in(&admin, "#agent-edit-capacity", "500").await;
    let error = submit_error(&admin, "agent-edit").await;
    assert!(error.contains("capacity"), "{error}");
    type_in(&admin, "#agent-edit-capacity", "5").await;
    type_in(&admin, "#agent-edit-skills", "billing:2, refunds").await;
    submit_ok(&admin, "agent-edit").await;
    let got = app
        .get(&format!("/v1/agents/{sara}"), &app.admin_token)
        .await;
    assert_eq!(got.body["capacity"], 5, "{}", got.body);
    assert_eq!(
        got.body["skills"],
        json!([{"name": "billing", "level": 2}, {"name": "refunds", "level": 1}]),
        "{}",
        got.body
    );
    // Her password is reset; she is deactivated and reactivated.
    type_in(&admin, "#agent-password-password", "a-brand-new-passphrase").await;
    submit_ok(&admin, "agent-password").await;
    let login = login_token(app, "sara@e2e.example", "a-brand-new-passphrase").await;
    assert_eq!(login.status, 200, "{}", login.body);
    click(&admin, "#agent-deactivate").await;
    until(&admin, "Sara deactivated", &format!("const r = document.querySelector('tr[data-agent=\"{sara}\"]'); return r && r.classList.contains('inactive') && document.getElementById('agent-reactivate')")).await;
    let got = app
        .get(&format!("/v1/agents/{sara}"), &app.admin_token)
        .await;
    assert_eq!(got.body["active"], false, "{}", got.body);
    shot(&admin, "console-admin-agent-edit").await.unwrap();
    click(&admin, "#agent-reactivate").await;
    css(&admin, "#agent-deactivate").await;
    let got = app
        .get(&format!("/v1/agents/{sara}"), &app.admin_token)
        .await;
    assert_eq!(got.body["active"], true, "{}", got.body);

    // Queues: strategy, first-reply timer, an overflow step and the queue's own hours.
    click(&admin, "#tab-queues").await;
    click(&admin, "tr[data-queue=general] button.edit").await;
    set_value(&admin, "#queue-edit-strategy", "round_robin").await;
    type_in(&admin, "#queue-edit-first_reply_secs", "1").await;
    let error = submit_error(&admin, "queue-edit").await;
    assert!(error.contains("first_reply_secs"), "{error}");
    type_in(&admin, "#queue-edit-first_reply_secs", "120").await;
    click(&admin, "#overflow-add").await;
    type_in(&admin, ".overflow-step input.after", "90").await;
    type_in(&admin, ".overflow-step input.by", "15").await;
    click(&admin, "#queue-edit-own_hours").await;
    type_in(&admin, "#queue-edit-hours_tz", "Europe/Berlin").await;
    for day in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] {
        type_in(&admin, &format!("#queue-edit-hours_{day}"), "00:00-24:00").await;
    }
    shot(&admin, "console-admin-queue-edit").await.unwrap();
    submit_ok(&admin, "queue-edit").await;
    let q = app.get("/v1/queues/general", &app.admin_token).await;
    assert_eq!(q.body["strategy"], "round_robin", "{}", q.body);
    let st = &q.body["settings"];
    assert_eq!(st["first_reply_secs"], 120, "{st}");
    assert_eq!(
        st["overflow"],
        json!([{"after_secs": 90, "action": {"type": "raise_priority", "by": 15}}]),
        "{st}"
    );
    assert_eq!(st["hours"]["tz"], "Europe/Berlin", "{st}");
    assert_eq!(
        st["hours"]["weekly"]["sun"],
        json!([["00:00", "24:00"]]),
        "{st}"
    );

    // Business hours: a slip is pointed at before anything is sent; then saved.
    click(&admin, "#tab-hours").await;
    type_in(&admin, "#hours-form-mon", "9 to 5").await;
    let error = submit_error(&admin, "hours-form").await;
    assert!(error.contains("Monday"), "{error}");
    type_in(&admin, "#hours-form-tz", "Nowhere/Atlantis").await;
    type_in(&admin, "#hours-form-mon", "08:00-18:00").await;
    let error = submit_error(&admin, "hours-form").await;
    assert!(error.contains("Nowhere/Atlantis"), "{error}");
    type_in(&admin, "#hours-form-tz", "UTC").await;
    submit_ok(&admin, "hours-form").await;
    let hours = app.get("/v1/business-hours", &app.admin_token).await;
    assert_eq!(
        hours.body["weekly"]["mon"],
        json!([["08:00", "18:00"]]),
        "{}",
        hours.body
    );
    // ...and removed again: always open.
    click(&admin, "#hours-remove").await;
    until(&admin, "hours removed", "return !document.getElementById('hours-remove') && document.getElementById('admin-panel').textContent.includes('always open')").await;
    let hours = app.get("/v1/business-hours", &app.admin_token).await;
    assert_eq!(hours.body, Value::Null);

    // Rules: a common rule from the form, and it decides the next handoff.
    click(&admin, "#tab-rules").await;
    type_in(&admin, "#rule-form-name", "Code phrase").await;
    type_in(&admin, "#rule-form-value", "purple elephant, blue whale").await;
    set_value(&admin, "#rule-form-queue", "general").await;
    type_in(&admin, "#rule-form-priority", "70").await;
    submit_ok(&admin, "rule-form").await;
    css(&admin, "#rules-table tr[data-rule=code_phrase]").await;
    shot(&admin, "console-admin-rules").await.unwrap();
    let zoe = app.conversation_for("zoe-1", "Zoe").await;
    let res = app
        .post(
            &format!("/v1/conversations/{zoe}/messages"),
            &app.api_key,
            json!({"role": "customer", "text": "I saw a Purple Elephant today"}),
        )
        .await;
    assert!(res.status.is_success(), "{}", res.body);
    let c = app
        .get(&format!("/v1/conversations/{zoe}"), &app.admin_token)
        .await;
    assert_eq!(c.body["handoff"]["reason"], "code_phrase", "{}", c.body);
    assert_eq!(c.body["priority"], 70, "{}", c.body);

    // The bot: a bad webhook URL is refused with the API's message; the KB bot is tuned.
    click(&admin, "#tab-bot").await;
    set_value(&admin, "#bot-form-type", "webhook").await;
    type_in(&admin, "#bot-form-wh_url", "ftp://bot.example.com").await;
    type_in(&admin, "#bot-form-wh_secret", "a-signing-secret").await;
    let error = submit_error(&admin, "bot-form").await;
    assert!(error.contains("webhook.url"), "{error}");
    set_value(&admin, "#bot-form-type", "kb").await;
    type_in(&admin, "#bot-form-kb_threshold", "0.4").await;
    submit_ok(&admin, "bot-form").await;
    let bot = app.get("/v1/bot", &app.admin_token).await;
    assert_eq!(bot.body["type"], "kb", "{}", bot.body);
    assert_eq!(bot.body["kb"]["threshold"], 0.4, "{}", bot.body);
    click(&admin, "#review-form-enabled").await;
    submit_ok(&admin, "review-form").await;
    let review = app.get("/v1/review", &app.admin_token).await;
    assert_eq!(review.body["enabled"], true, "{}", review.body);
    type_in(&admin, "#extractor-form-name", "order_number").await;
    type_in(&admin, "#extractor-form-pattern", "(").await;
    let error = submit_error(&admin, "extractor-form").await;
    assert!(
        error.contains("order_number") || error.contains("regex") || error.contains("pattern"),
        "{error}"
    );
    type_in(&admin, "#extractor-form-pattern", r"#(\d{6})").await;
    submit_ok(&admin, "extractor-form").await;
    css(&admin, "#extractors-table tr[data-extractor=order_number]").await;
    let ex = app.get("/v1/extractors", &app.admin_token).await;
    assert_eq!(
        ex.body,
        json!([{"name": "order_number", "pattern": r"#(\d{6})"}])
    );

    // Webhooks: one that answers 410 is dead-lettered; it is redelivered from the console.
    let (hook, hits) = gone_receiver().await;
    click(&admin, "#tab-integrations").await;
    type_in(&admin, "#webhook-form-url", &hook).await;
    type_in(
        &admin,
        "#webhook-form-events",
        "conversation.handoff_requested",
    )
    .await;
    type_in(&admin, "#webhook-form-description", "CRM").await;
    submit_ok(&admin, "webhook-form").await;
    let shown = until(
        &admin,
        "webhook secret",
        "const o = document.getElementById('webhook-form-ok'); return o && o.textContent",
    )
    .await;
    assert!(shown.as_str().unwrap().contains("whsec_"), "{shown}");
    let leo = app.conversation_for("leo-1", "Leo").await;
    app.hand_off(&leo, Some("general")).await;
    set_value(&admin, "#delivery-state", "dead").await;
    let dead = until(&admin, "dead letter", "const b = document.querySelector('#deliveries-table tr.delivery-dead button.redeliver'); if (!b) { document.getElementById('delivery-state').dispatchEvent(new Event('change')); return null; } return b.closest('tr').dataset.delivery").await;
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    shot(&admin, "console-admin-deliveries").await.unwrap();
    click(
        &admin,
        "#deliveries-table tr.delivery-dead button.redeliver",
    )
    .await;
    let deadline = Instant::now() + WAIT;
    while hits.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "the redelivery never came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let d = app
        .get(
            &format!("/v1/deliveries/{}", dead.as_str().unwrap()),
            &app.admin_token,
        )
        .await;
    assert!(d.body["attempts"].as_u64().unwrap() >= 1, "{}", d.body);
    // Slack: a notification for the general queue's handoffs only.
    type_in(
        &admin,
        "#notification-form-url",
        "https://hooks.slack.com/services/T000/B000/XXXX",
    )
    .await;
    set_value(&admin, "#notification-form-queue", "general").await;
    admin
        .execute("document.querySelectorAll('#notification-form-notify input').forEach(i => i.checked = i.value === 'handoff'); return true", vec![])
        .await
        .unwrap();
    submit_ok(&admin, "notification-form").await;
    let notes = app.get("/v1/notifications", &app.admin_token).await;
    let note = &notes.body["items"][0];
    assert_eq!(note["kind"], "slack", "{}", notes.body);
    assert_eq!(note["queue"], "general", "{}", notes.body);
    assert_eq!(note["notify"], json!(["handoff"]), "{}", notes.body);

    // Channels: email on, with Bob told of every handoff; WhatsApp connected.
    click(&admin, "#tab-channels").await;
    click(&admin, "#email-form-enabled").await;
    admin
        .execute(&format!("document.querySelector('#email-form-notify_agents input[value=\"{bob}\"]').checked = true; return true"), vec![])
        .await
        .unwrap();
    submit_ok(&admin, "email-form").await;
    let email = app.get("/v1/channels/email", &app.admin_token).await;
    assert_eq!(email.body["enabled"], true, "{}", email.body);
    assert_eq!(email.body["notify_agents"], json!([bob]), "{}", email.body);
    css(&admin, "#smtp-missing").await;
    type_in(&admin, "#whatsapp-form-phone_number_id", "1234567890").await;
    type_in(&admin, "#whatsapp-form-access_token", "EAAG-token").await;
    type_in(&admin, "#whatsapp-form-app_secret", "app-secret").await;
    type_in(&admin, "#whatsapp-form-verify_token", "verify-me").await;
    submit_ok(&admin, "whatsapp-form").await;
    let callback = until(
        &admin,
        "callback URL",
        "const p = document.getElementById('whatsapp-callback'); return p && p.textContent",
    )
    .await;
    assert!(
        callback.as_str().unwrap().contains("/webhook"),
        "{callback}"
    );
    let wa = app.get("/v1/channels/whatsapp", &app.admin_token).await;
    assert_eq!(wa.body["phone_number_id"], "1234567890", "{}", wa.body);
    shot(&admin, "console-admin-channels").await.unwrap();

    // The widget: its looks go into the snippet; identity verification is turned on.
    click(&admin, "#tab-widget").await;
    set_value(&admin, "#widget-looks-color", "#aa3300").await;
    set_value(&admin, "#widget-looks-position", "left").await;
    type_in(&admin, "#widget-looks-greeting", "Hi! Ask us anything.").await;
    submit_ok(&admin, "widget-looks").await;
    let snippet = until(&admin, "snippet", "const s = document.getElementById('widget-snippet'); return s && s.textContent.includes('data-color') && s.textContent").await;
    let snippet = snippet.as_str().unwrap();
    assert!(
        snippet.contains(r##"data-color="#aa3300""##)
            && snippet.contains(r#"data-position="left""#)
            && snippet.contains(r#"data-greeting="Hi! Ask us anything.""#),
        "{snippet}"
    );
    click(&admin, "#identity-secret-create").await;
    let secret = until(&admin, "identity secret", "const s = document.getElementById('identity-secret-shown'); return s && s.querySelector('code').textContent").await;
    assert!(secret.as_str().unwrap().starts_with("wis_"), "{secret}");
    let status = app
        .get("/v1/widget/identity-secret", &app.admin_token)
        .await;
    assert_eq!(status.body["configured"], true, "{}", status.body);
    shot(&admin, "console-admin-widget").await.unwrap();

    // The audit log: every change above, filtered by family like the API.
    click(&admin, "#tab-audit").await;
    until(
        &admin,
        "audit rows",
        "return document.querySelectorAll('#audit-table tbody tr').length >= 8",
    )
    .await;
    set_value(&admin, "#audit-filter-kind", "queue").await;
    click(&admin, "#audit-filter button[type=submit]").await;
    let expected = app
        .get("/v1/audit?kind=queue&limit=50", &app.admin_token)
        .await;
    let n = expected.body["items"].as_array().unwrap().len();
    assert!(n >= 2, "{}", expected.body);
    until(
        &admin,
        "filtered audit",
        &format!("return document.querySelectorAll('#audit-table tbody tr').length === {n}"),
    )
    .await;
    shot(&admin, "console-admin-audit").await.unwrap();
    let _ = admin.close().await;
}
