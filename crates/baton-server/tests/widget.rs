//! The web widget's backend: public keys, customer tokens scoped to one conversation, the
//! customer's live stream, CORS, and the embedded web assets.

mod common;

use common::*;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

async fn widget_key(app: &TestApp) -> String {
    let res = app
        .post("/v1/widget/key", &app.admin_token, json!({}))
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    res.body["public_key"].as_str().unwrap().to_string()
}

async fn start(app: &TestApp, key: &str) -> (String, String) {
    let res = send(
        &app.client,
        Method::POST,
        &app.url("/v1/widget/conversations"),
        None,
        Some(json!({"public_key": key, "customer": {"name": "Jo", "language": "en"}})),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.body);
    assert!(res.body["conversation"]["brief"].is_null());
    (
        res.body["conversation"]["id"].as_str().unwrap().to_string(),
        res.body["token"].as_str().unwrap().to_string(),
    )
}

async fn widget_keys_and_customer_tokens(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "widget_tokens").await else {
        return;
    };
    // Someone is online, so a handoff waits in line (nobody online: deferred).
    app.staff().await;
    // Only admins see or rotate the key; agents get 403.
    let (_, agent) = app.person("ann@test.example", "agent").await;
    app.post("/v1/widget/key", &agent, json!({}))
        .await
        .assert_error(403, "forbidden");
    assert!(app.get("/v1/widget/key", &app.admin_token).await.body["public_key"].is_null());
    let old = widget_key(&app).await;
    let key = widget_key(&app).await;
    assert!(key.starts_with("pk_") && key != old);
    assert_eq!(
        app.get("/v1/widget/key", &app.admin_token).await.body["public_key"],
        key
    );
    // A rotated key no longer works.
    let res = send(
        &app.client,
        Method::POST,
        &app.url("/v1/widget/conversations"),
        None,
        Some(json!({"public_key": old})),
    )
    .await;
    res.assert_error(401, "invalid_public_key");
    let res = send(
        &app.client,
        Method::POST,
        &app.url("/v1/widget/conversations"),
        None,
        Some(json!({"public_key": key, "customer": {"email": "nope"}})),
    )
    .await;
    res.assert_error(422, "invalid_email");

    let (id, token) = start(&app, &key).await;
    let (other, _) = start(&app, &key).await;
    assert!(token.starts_with("bc_"));
    // Its own conversation: read, write as the customer, ask for a person.
    let res = app
        .post(
            &format!("/v1/conversations/{id}/messages"),
            &token,
            json!({"text": "hello", "external_id": "w-1"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    assert_eq!(res.body["message"]["role"], "customer");
    assert!(res.body["escalation"].is_null());
    let res = app
        .post(
            &format!("/v1/conversations/{id}/messages"),
            &token,
            json!({"role": "bot", "text": "I am the bot now"}),
        )
        .await;
    assert_eq!(
        res.body["message"]["role"], "customer",
        "role is forced: {}",
        res.body
    );
    let res = app
        .post(
            &format!("/v1/conversations/{id}/messages"),
            &token,
            json!({"text": "Talk to a person", "payload": "talk_to_human"}),
        )
        .await;
    assert_eq!(res.body["state"], "queued", "{}", res.body);
    let res = app.get(&format!("/v1/conversations/{id}"), &token).await;
    assert_eq!(res.status, 200);
    for hidden in ["brief", "escalation", "offer", "routing"] {
        assert!(
            res.body[hidden].is_null(),
            "{hidden} shown to the customer: {}",
            res.body
        );
    }
    // Notes never reach the customer (the note exists: the team sees it).
    let note = app
        .post(
            &format!("/v1/conversations/{id}/notes"),
            &app.admin_token,
            json!({"text": "secret note"}),
        )
        .await;
    assert_eq!(note.status, 201, "{}", note.body);
    let team = app
        .get(
            &format!("/v1/conversations/{id}/messages"),
            &app.admin_token,
        )
        .await;
    assert!(
        team.body.to_string().contains("secret note"),
        "{}",
        team.body
    );
    let msgs = app
        .get(&format!("/v1/conversations/{id}/messages"), &token)
        .await;
    assert!(
        msgs.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["role"] != "note"),
        "{}",
        msgs.body
    );
    // Everything else is 403: another conversation, agent routes, lists, config.
    for (method, path) in [
        (Method::GET, format!("/v1/conversations/{other}")),
        (Method::GET, format!("/v1/conversations/{other}/messages")),
        (Method::GET, "/v1/conversations".to_string()),
        (Method::GET, format!("/v1/conversations/{id}/events")),
        (Method::POST, format!("/v1/conversations/{id}/claim")),
        (Method::POST, format!("/v1/conversations/{id}/close")),
        (Method::POST, format!("/v1/conversations/{id}/notes")),
        (Method::GET, format!("/v1/conversations/{id}/drafts")),
        (Method::GET, "/v1/agents/me".to_string()),
        (Method::GET, "/v1/kb/search?q=x".to_string()),
        (Method::GET, "/v1/live".to_string()),
        (Method::POST, "/v1/widget/key".to_string()),
    ] {
        let res = send(
            &app.client,
            method.clone(),
            &app.url(&path),
            Some(&token),
            Some(json!({})),
        )
        .await;
        assert_eq!(res.status, 403, "{method} {path}: {}", res.body);
    }
    // CSAT after close.
    app.post(
        &format!("/v1/conversations/{id}/close"),
        &app.api_key,
        json!({}),
    )
    .await;
    let res = app
        .post(
            &format!("/v1/conversations/{id}/csat"),
            &token,
            json!({"score": 5}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["csat"], 5);
    // A made-up customer token is 401.
    app.get(&format!("/v1/conversations/{id}"), "bc_nope")
        .await
        .assert_error(401, "invalid_token");
}

#[tokio::test]
async fn widget_keys_and_customer_tokens_sqlite() {
    widget_keys_and_customer_tokens(Backend::Sqlite).await;
}

#[tokio::test]
async fn widget_keys_and_customer_tokens_postgres() {
    widget_keys_and_customer_tokens(Backend::Postgres).await;
}

#[tokio::test]
async fn customer_live_stream_shows_only_customer_events() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, "widget_live").await else {
        return;
    };
    let key = widget_key(&app).await;
    let (id, token) = start(&app, &key).await;
    let (other, _) = start(&app, &key).await;
    let url = format!("ws://{}/v1/widget/live?token={token}", app.instance.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
    let mut next = async || -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
                .await
                .expect("a frame in time")
                .unwrap()
                .unwrap();
            if let Message::Text(t) = frame {
                return serde_json::from_str(&t).unwrap();
            }
        }
    };
    let hello = next().await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["conversation"]["id"], id.as_str());
    let (sara, sara_token) = app.person("sara@test.example", "agent").await;
    app.post(
        &format!("/v1/conversations/{other}/messages"),
        &app.api_key,
        json!({"role": "customer", "text": "elsewhere"}),
    )
    .await;
    app.post(
        &format!("/v1/conversations/{id}/handoff"),
        &token,
        json!({"reason": "customer_request"}),
    )
    .await;
    app.post(
        &format!("/v1/conversations/{id}/notes"),
        &sara_token,
        json!({"text": "internal"}),
    )
    .await;
    let res = app
        .post(
            &format!("/v1/conversations/{id}/claim"),
            &sara_token,
            json!({}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    app.post(
        &format!("/v1/conversations/{id}/messages"),
        &sara_token,
        json!({"text": "Hi, Sara here"}),
    )
    .await;
    let mut seen = Vec::new();
    loop {
        let e = next().await;
        assert_eq!(e["conversation_id"], id.as_str(), "{e}");
        assert_ne!(e["data"]["message"]["role"], "note", "{e}");
        let done = e["type"] == "message_added" && e["data"]["message"]["role"] == "agent";
        if e["type"] == "assigned" {
            assert_eq!(e["data"]["agent_name"], "sara", "{e}");
        }
        if done {
            assert_eq!(e["data"]["message"]["agent_name"], "sara");
        }
        seen.push(e["type"].as_str().unwrap().to_string());
        if done {
            break;
        }
    }
    assert!(seen.contains(&"handoff_requested".to_string()), "{seen:?}");
    assert!(seen.contains(&"assigned".to_string()), "{seen:?}");
    let _ = sara;
}

#[tokio::test]
async fn cors_and_web_assets() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, "widget_cors").await else {
        return;
    };
    let pre = app
        .client
        .request(Method::OPTIONS, app.url("/v1/widget/conversations"))
        .header("Origin", "https://shop.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");
    let res = send(
        &app.client,
        Method::POST,
        &app.url("/v1/widget/conversations"),
        None,
        Some(json!({"public_key": "pk_x"})),
    )
    .await;
    assert_eq!(res.headers["access-control-allow-origin"], "*");
    // Agent-only routes get no CORS headers.
    let res = app.get("/v1/agents/me", &app.admin_token).await;
    assert!(res.headers.get("access-control-allow-origin").is_none());
    for (path, kind, needle) in [
        ("/console", "text/html", "/console/app.js"),
        ("/console/app.js", "text/javascript", "/v1/auth/login"),
        ("/console/app.css", "text/css", "body"),
        ("/widget.js", "text/javascript", "/v1/widget/conversations"),
        (
            "/demo?key=pk_abc<script>",
            "text/html",
            "data-key=\"pk_abcscript\"",
        ),
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{path}"
        );
        let body = r.text().await.unwrap();
        assert!(body.contains(needle), "{path} lacks {needle}");
    }
}

/// The widget's "leave your email" form: the address lands on the customer's profile (where
/// email follow-ups find it), an event records it, and a bad address is a 422.
async fn customer_leaves_an_email(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "widget_contact").await else {
        return;
    };
    let key = widget_key(&app).await;
    let (id, token) = start(&app, &key).await;
    let (other, _) = start(&app, &key).await;
    let contact = format!("/v1/conversations/{id}/contact");
    for bad in [
        "not-an-email",
        "ann@",
        "ann@example",
        "two words@example.com",
        "",
    ] {
        app.post(&contact, &token, json!({"email": bad}))
            .await
            .assert_error(422, "invalid_email");
    }
    app.post(&contact, &token, json!({"address": "ann@example.com"}))
        .await
        .assert_error(422, "invalid_body");
    let res = app
        .post(&contact, &token, json!({"email": " ann@example.com "}))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["customer"]["email"], "ann@example.com");
    assert!(
        res.body["brief"].is_null(),
        "the customer's view: {}",
        res.body
    );
    // On the profile, for everyone who looks.
    let seen = app
        .get(&format!("/v1/conversations/{id}"), &app.admin_token)
        .await;
    assert_eq!(seen.body["customer"]["email"], "ann@example.com");
    assert_eq!(seen.body["customer"]["name"], "Jo", "the rest is kept");
    let events = app
        .get(&format!("/v1/conversations/{id}/events"), &app.admin_token)
        .await;
    let set = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "customer_email_set")
        .unwrap_or_else(|| panic!("no event: {}", events.body))
        .clone();
    assert_eq!(set["data"]["email"], "ann@example.com");
    assert_eq!(set["actor"]["type"], "customer");
    // Only for its own conversation; people do not set customers' emails this way.
    app.post(
        &format!("/v1/conversations/{other}/contact"),
        &token,
        json!({"email": "x@example.com"}),
    )
    .await
    .assert_error(403, "forbidden");
    app.post(
        &contact,
        &app.admin_token,
        json!({"email": "x@example.com"}),
    )
    .await
    .assert_error(403, "forbidden");
    // Integrations may, on behalf of the customer.
    let res = app
        .post(
            &format!("/v1/conversations/{other}/contact"),
            &app.api_key,
            json!({"email": "jo@example.org"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["customer"]["email"], "jo@example.org");
    // The preflight allows it from the customer's site.
    let pre = app
        .client
        .request(Method::OPTIONS, app.url(&contact))
        .header("Origin", "https://shop.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
}

#[tokio::test]
async fn customer_leaves_an_email_sqlite() {
    customer_leaves_an_email(Backend::Sqlite).await;
}

#[tokio::test]
async fn customer_leaves_an_email_postgres() {
    customer_leaves_an_email(Backend::Postgres).await;
}

async fn start_from(app: &TestApp, key: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/v1/widget/conversations"))
        .json(&json!({"public_key": key}));
    if let Some(ip) = forwarded_for {
        req = req.header("X-Forwarded-For", ip);
    }
    req.send().await.unwrap()
}

/// Public starts are limited per public key and client address: 429 in the API's error shape,
/// with Retry-After; the proxy header counts only when configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widget_starts_are_rate_limited() {
    let db = database(Backend::Sqlite, "widget_rate").await.unwrap();
    let (instance, _) = start_instance_configured(db.url(), |state| {
        state.widget_limit =
            std::sync::Arc::new(baton_server::rate_limit::WidgetLimit::new(2, 2, None));
    })
    .await;
    let app = TestApp::with_instance(db, instance).await;
    let key = widget_key(&app).await;
    for _ in 0..2 {
        assert_eq!(start_from(&app, &key, None).await.status(), 201);
    }
    // A forged header does not make a new client when no proxy is trusted.
    let refused = start_from(&app, &key, Some("198.51.100.7")).await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "Retry-After {retry}");
    assert_eq!(refused.headers()["access-control-allow-origin"], "*");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 a minute"),
        "{body}"
    );
    // Nothing was stored for the refused start.
    let listed = app.get("/v1/conversations", &app.admin_token).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
    // A bad key is still a 401, not a 429.
    assert_eq!(start_from(&app, "pk_unknown", None).await.status(), 401);

    // Behind a trusted proxy each forwarded address is its own client.
    let db = database(Backend::Sqlite, "widget_rate_proxy")
        .await
        .unwrap();
    let (instance, _) = start_instance_configured(db.url(), |state| {
        state.widget_limit = std::sync::Arc::new(baton_server::rate_limit::WidgetLimit::new(
            1,
            1,
            Some(axum_header("x-forwarded-for")),
        ));
    })
    .await;
    let app = TestApp::with_instance(db, instance).await;
    let key = widget_key(&app).await;
    let first = start_from(&app, &key, Some("10.0.0.1, 203.0.113.1")).await;
    assert_eq!(first.status(), 201);
    let again = start_from(&app, &key, Some("10.0.0.2, 203.0.113.1")).await;
    assert_eq!(again.status(), 429, "the proxy-appended address counts");
    let other = start_from(&app, &key, Some("203.0.113.2")).await;
    assert_eq!(other.status(), 201);
}

fn axum_header(name: &'static str) -> reqwest::header::HeaderName {
    reqwest::header::HeaderName::from_static(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_scope_sqlite() {
    customer_scope(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_scope_postgres() {
    customer_scope(Backend::Postgres).await;
}

/// A customer token reads no internal transfer note, and its handoff carries no queue or
/// priority of its choosing; the team's own view shows the note (positive control).
async fn customer_scope(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "widget_scope").await else {
        return;
    };
    app.staff().await;
    // Two queues: the customer's handoff must land in the default one ("general"), not the
    // one it asks for.
    for (id, name) in [("general", "General"), ("vip", "VIP")] {
        let q = app
            .post(
                "/v1/queues",
                &app.admin_token,
                json!({"id": id, "name": name}),
            )
            .await;
        assert_eq!(q.status, 201, "{}", q.body);
    }
    let (ann, ann_token) = app.person("ann@test.example", "agent").await;
    let key = widget_key(&app).await;
    let (id, token) = start(&app, &key).await;
    let handoff = format!("/v1/conversations/{id}/handoff");
    for body in [
        json!({"reason": "customer_request", "priority": 100}),
        json!({"reason": "customer_request", "queue": "vip"}),
    ] {
        app.post(&handoff, &token, body)
            .await
            .assert_error(403, "forbidden");
    }
    let res = app
        .post(&handoff, &token, json!({"reason": "customer_request"}))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let team = app
        .get(&format!("/v1/conversations/{id}"), &app.admin_token)
        .await;
    assert_eq!(team.body["state"], "queued", "{}", team.body);
    assert_ne!(team.body["queue"], "vip", "{}", team.body);
    assert!(
        team.body["priority"].as_u64().unwrap() < 100,
        "{}",
        team.body
    );

    let claimed = app
        .post(
            &format!("/v1/conversations/{id}/claim"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, 200, "{}", claimed.body);
    // Ann comes online to take the transfer.
    let res = app
        .put(
            "/v1/agents/me/status",
            &ann_token,
            json!({"status": "available"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let transfer = app
        .post(
            &format!("/v1/conversations/{id}/transfer"),
            &app.admin_token,
            json!({"to_agent": ann, "note": "internal: refund already denied twice"}),
        )
        .await;
    assert_eq!(transfer.status, 200, "{}", transfer.body);
    let team = app
        .get(&format!("/v1/conversations/{id}"), &app.admin_token)
        .await;
    assert!(
        team.body.to_string().contains("refund already denied"),
        "the team sees the transfer note: {}",
        team.body
    );
    for path in [
        format!("/v1/conversations/{id}"),
        format!("/v1/conversations/{id}/messages"),
    ] {
        let seen = app.get(&path, &token).await;
        assert_eq!(seen.status, 200, "{}", seen.body);
        assert!(
            !seen.body.to_string().contains("refund already denied"),
            "{path} shows the customer the transfer note: {}",
            seen.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_characters_are_refused_sqlite() {
    nul_characters_are_refused(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_characters_are_refused_postgres() {
    nul_characters_are_refused(Backend::Postgres).await;
}

/// `\u0000` in a message, a note, a customer's name or external id (also through the anonymous
/// widget start) is a 422 on both backends; the same requests without it succeed.
async fn nul_characters_are_refused(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "widget_nul").await else {
        return;
    };
    let key = widget_key(&app).await;
    async fn widget_start(app: &TestApp, key: &str, customer: Value) -> Res {
        send(
            &app.client,
            Method::POST,
            &app.url("/v1/widget/conversations"),
            None,
            Some(json!({"public_key": key, "customer": customer})),
        )
        .await
    }
    widget_start(&app, &key, json!({"name": "Jo\u{0}"}))
        .await
        .assert_error(422, "nul_character");
    let ok = widget_start(&app, &key, json!({"name": "Jo"})).await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    for customer in [
        json!({"name": "J\u{0}hn"}),
        json!({"external_id": "c-\u{0}1"}),
    ] {
        app.post(
            "/v1/conversations",
            &app.api_key,
            json!({"customer": customer, "channel": "web"}),
        )
        .await
        .assert_error(422, "nul_character");
    }
    let id = app.conversation().await;
    let messages = format!("/v1/conversations/{id}/messages");
    app.post(
        &messages,
        &app.api_key,
        json!({"role": "customer", "text": "hi\u{0}there"}),
    )
    .await
    .assert_error(422, "nul_character");
    let ok = app
        .post(
            &messages,
            &app.api_key,
            json!({"role": "customer", "text": "hi"}),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    let notes = format!("/v1/conversations/{id}/notes");
    app.post(&notes, &app.admin_token, json!({"text": "note\u{0}"}))
        .await
        .assert_error(422, "nul_character");
    let ok = app
        .post(&notes, &app.admin_token, json!({"text": "note"}))
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    // In the URL too (a path segment or a query value).
    app.get(&format!("/v1/conversations/{id}%00"), &app.admin_token)
        .await
        .assert_error(422, "nul_character");
    app.get("/v1/conversations?state=open%00", &app.admin_token)
        .await
        .assert_error(422, "nul_character");
    // Nothing with a NUL was stored: the one message is the clean one.
    let listed = app.get(&messages, &app.admin_token).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(
        !listed.body.to_string().contains("\\u0000"),
        "{}",
        listed.body
    );
}

/// The console and the demo host page send a Content-Security-Policy with scripts from this
/// origin only (and carry no inline script for it to break); the console cannot be framed;
/// every answer says nosniff and a referrer policy; a session token in `?token=` is refused
/// except on a WebSocket upgrade.
#[tokio::test]
async fn browser_security_headers() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, "widget_headers").await else {
        return;
    };
    let inline_script = regex::Regex::new(r"(?i)<script(\s[^>]*)?>\s*[^<\s]").unwrap();
    let inline_handler = regex::Regex::new(r#"(?i)\son[a-z]+\s*="#).unwrap();
    for (path, frames) in [("/console", "'none'"), ("/demo?key=pk_x", "'self'")] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let headers = res.headers().clone();
        let csp = headers["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        let script_src = csp
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src"))
            .unwrap_or_else(|| panic!("{path}: no script-src in {csp}"));
        assert_eq!(script_src, "script-src 'self'", "{path}: {csp}");
        assert!(
            csp.contains(&format!("frame-ancestors {frames}")),
            "{path}: {csp}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert!(headers.contains_key("referrer-policy"), "{path}");
        let html = res.text().await.unwrap();
        assert!(
            !inline_script.is_match(&html),
            "{path} has an inline script:\n{html}"
        );
        assert!(
            !inline_handler.is_match(&html),
            "{path} has an inline handler:\n{html}"
        );
    }
    let console = app.client.get(app.url("/console")).send().await.unwrap();
    assert_eq!(console.headers()["x-frame-options"], "DENY");
    // Without a key the demo page shows how to get one; with one it does not.
    let no_key = app.client.get(app.url("/demo")).send().await.unwrap();
    let html = no_key.text().await.unwrap();
    assert!(html.contains("<p id=\"no-key\" class=\"warn\" >"), "{html}");
    let with_key = app
        .client
        .get(app.url("/demo?key=pk_x"))
        .send()
        .await
        .unwrap();
    assert!(
        with_key
            .text()
            .await
            .unwrap()
            .contains("class=\"warn\" hidden>")
    );
    // API answers too.
    let res = app.get("/v1/agents/me", &app.admin_token).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.headers["x-content-type-options"], "nosniff");
    // A session token in the URL is refused on plain requests...
    let res = send(
        &app.client,
        Method::GET,
        &app.url(&format!("/v1/agents/me?token={}", app.admin_token)),
        None,
        None,
    )
    .await;
    res.assert_error(401, "token_in_url");
    // ...and still opens the live WebSocket, where browsers cannot send a header.
    let url = format!(
        "ws://{}/v1/live?token={}",
        app.instance.addr, app.admin_token
    );
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the WebSocket upgrade accepts ?token=");
    drop(ws);
}

/// `/docs` is the API reference: Swagger UI's page and every file it loads come from the
/// binary, it reads this server's `/openapi.json`, and it names no other origin to load from.
#[tokio::test]
async fn api_reference_is_served_from_the_binary() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, "widget_docs").await else {
        return;
    };
    // `/docs` leads to the page (reqwest follows the redirect).
    let res = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.url().path(), "/docs/");
    let headers = res.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{headers:?}"
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    let html = res.text().await.unwrap();
    let reference = regex::Regex::new(r#"(?:src|href)="([^"]+)""#).unwrap();
    let files: Vec<String> = reference
        .captures_iter(&html)
        .map(|c| c[1].to_string())
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("swagger-ui-bundle.js")),
        "{html}"
    );
    assert!(
        files.iter().any(|f| f.ends_with("swagger-initializer.js")),
        "{html}"
    );
    for file in &files {
        assert!(
            !file.contains("//") && !file.starts_with("data:"),
            "the page loads {file} from elsewhere"
        );
        let path = format!("/docs/{}", file.trim_start_matches("./"));
        let res = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let body = res.bytes().await.unwrap();
        assert!(body.len() > 100, "{path} is {} bytes", body.len());
    }
    // The initializer points Swagger UI at this server's description, with no validator badge
    // (Swagger UI's default sends the document to validator.swagger.io).
    let init = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("\"/openapi.json\""), "{init}");
    assert!(init.contains("\"validatorUrl\": \"none\""), "{init}");
    assert!(
        !init.contains("http://") && !init.contains("https://"),
        "{init}"
    );
    let missing = app
        .client
        .get(app.url("/docs/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

/// The site's server side of identity verification: hex HMAC-SHA256 of the external id.
fn site_hash(secret: &str, external_id: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(external_id.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn widget_post(app: &TestApp, path: &str, body: Value) -> Res {
    send(&app.client, Method::POST, &app.url(path), None, Some(body)).await
}

async fn conversation_count(app: &TestApp) -> usize {
    let res = app
        .get("/v1/conversations?limit=200", &app.admin_token)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body["items"].as_array().unwrap().len()
}

async fn customer_of(app: &TestApp, id: &str) -> Value {
    let res = app
        .get(&format!("/v1/conversations/{id}"), &app.admin_token)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    res.body["customer"].clone()
}

async fn identity_verification(backend: Backend) {
    let Some(db) = database(backend, "widget_identity").await else {
        return;
    };
    // More starts from one address than the default burst.
    let (instance, _) = start_instance_configured(db.url(), |state| {
        state.widget_limit =
            std::sync::Arc::new(baton_server::rate_limit::WidgetLimit::new(600, 100, None));
    })
    .await;
    let app = TestApp::with_instance(db, instance).await;
    let key = widget_key(&app).await;
    let identity = |ext: &str, hash: Option<&str>| {
        let mut c = json!({"external_id": ext, "name": "Maya Chen", "email": "maya@shop.example",
            "attributes": {"plan": "pro", "seats": 12, "beta": true}});
        if let Some(h) = hash {
            c["identity_hash"] = json!(h);
        }
        json!({"public_key": key, "customer": c, "page_url": "https://shop.example/orders/1042"})
    };

    // No secret: the identity is taken on trust (like Intercom and Chatwoot without
    // verification): it links to the profile, says so, and never resumes a conversation.
    let res = widget_post(&app, "/v1/widget/conversations", identity("user-42", None)).await;
    assert_eq!(res.status, 201, "{}", res.body);
    assert_eq!(res.body["identity"], "unverified");
    assert_eq!(res.body["resumed"], false);
    let first = res.body["conversation"]["id"].as_str().unwrap().to_string();
    let customer = customer_of(&app, &first).await;
    assert_eq!(customer["external_id"], "user-42");
    assert_eq!(customer["name"], "Maya Chen");
    assert_eq!(customer["attributes"]["plan"], "pro");
    assert_eq!(customer["attributes"]["seats"], 12);
    let conv = app
        .get(&format!("/v1/conversations/{first}"), &app.admin_token)
        .await;
    assert_eq!(
        conv.body["attributes"]["identity"], "unverified",
        "{}",
        conv.body
    );
    assert_eq!(
        conv.body["attributes"]["page_url"],
        "https://shop.example/orders/1042"
    );
    widget_post(&app, "/v1/widget/resume", identity("user-42", None))
        .await
        .assert_error(409, "identity_verification_off");
    let res = widget_post(&app, "/v1/widget/conversations", identity("user-42", None)).await;
    assert_eq!(
        res.status, 201,
        "an unverified claim never resumes: {}",
        res.body
    );
    assert_ne!(res.body["conversation"]["id"], first.as_str());

    // Only admins manage the secret; it is shown once.
    let (_, agent) = app.person("ann@test.example", "agent").await;
    app.get("/v1/widget/identity-secret", &agent)
        .await
        .assert_error(403, "forbidden");
    app.post("/v1/widget/identity-secret", &agent, json!({}))
        .await
        .assert_error(403, "forbidden");
    let status = app
        .get("/v1/widget/identity-secret", &app.admin_token)
        .await;
    assert_eq!(status.body["configured"], false, "{}", status.body);
    let created = app
        .post("/v1/widget/identity-secret", &app.admin_token, json!({}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("wis_") && secret.len() > 40);
    let status = app
        .get("/v1/widget/identity-secret", &app.admin_token)
        .await;
    assert_eq!(status.body["configured"], true);
    assert!(status.body["created_at"].is_string());
    assert!(
        !status.body.to_string().contains(&secret),
        "the secret is shown once"
    );
    let audit = app
        .get(
            "/v1/audit?kind=widget_identity_secret_rotated",
            &app.admin_token,
        )
        .await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        audit.body
    );
    assert!(
        !audit.body.to_string().contains(&secret),
        "no secret in the audit trail"
    );

    // With a secret: an identity without a valid hash is refused and nothing is stored.
    let before = conversation_count(&app).await;
    widget_post(&app, "/v1/widget/conversations", identity("user-7", None))
        .await
        .assert_error(401, "identity_not_verified");
    let wrong = site_hash(&secret, "user-8");
    widget_post(
        &app,
        "/v1/widget/conversations",
        identity("user-7", Some(&wrong)),
    )
    .await
    .assert_error(401, "identity_not_verified");
    widget_post(
        &app,
        "/v1/widget/conversations",
        identity("user-7", Some("not hex")),
    )
    .await
    .assert_error(401, "identity_not_verified");
    widget_post(&app, "/v1/widget/resume", identity("user-7", Some(&wrong)))
        .await
        .assert_error(401, "identity_not_verified");
    let res = widget_post(
        &app,
        "/v1/widget/conversations",
        json!({"public_key": key, "customer": {"identity_hash": wrong}}),
    )
    .await;
    res.assert_error(422, "invalid_identity");
    let res = widget_post(
        &app,
        "/v1/widget/conversations",
        json!({"public_key": key, "customer": {"external_id": "user-7",
            "identity_hash": site_hash(&secret, "user-7"), "attributes": {"nested": {"a": 1}}}}),
    )
    .await;
    res.assert_error(422, "invalid_attributes");
    assert_eq!(conversation_count(&app).await, before, "nothing stored");
    // Anonymous visitors still chat.
    let res = widget_post(&app, "/v1/widget/conversations", json!({"public_key": key})).await;
    assert_eq!(res.status, 201, "{}", res.body);
    assert_eq!(res.body["identity"], "anonymous");

    // A verified customer: no open conversation yet, so resume finds nothing and writes
    // nothing; start makes one.
    let hash = site_hash(&secret, "user-7");
    let before = conversation_count(&app).await;
    widget_post(&app, "/v1/widget/resume", identity("user-7", Some(&hash)))
        .await
        .assert_error(404, "not_found");
    assert_eq!(conversation_count(&app).await, before);
    let res = widget_post(
        &app,
        "/v1/widget/conversations",
        identity("user-7", Some(&hash)),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.body);
    assert_eq!(res.body["identity"], "verified");
    let id = res.body["conversation"]["id"].as_str().unwrap().to_string();
    let laptop = res.body["token"].as_str().unwrap().to_string();
    let sent = app
        .post(
            &format!("/v1/conversations/{id}/messages"),
            &laptop,
            json!({"text": "Where is order 1042?", "external_id": "w-laptop-1"}),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.body);

    // On another device the same verified customer continues that conversation, with a token
    // of its own; the profile takes what the site says now.
    let mut phone = identity("user-7", Some(&hash));
    phone["customer"]["name"] = json!("Maya C. Chen");
    let res = widget_post(&app, "/v1/widget/resume", phone.clone()).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["resumed"], true);
    assert_eq!(res.body["conversation"]["id"], id.as_str());
    assert!(res.body["conversation"]["brief"].is_null());
    let phone_token = res.body["token"].as_str().unwrap().to_string();
    assert_ne!(phone_token, laptop);
    let transcript = app
        .get(&format!("/v1/conversations/{id}/messages"), &phone_token)
        .await;
    assert_eq!(transcript.status, 200, "{}", transcript.body);
    assert!(
        transcript.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"] == "Where is order 1042?"),
        "{}",
        transcript.body
    );
    assert_eq!(customer_of(&app, &id).await["name"], "Maya C. Chen");
    // Starting again (a third tab) also lands in the open conversation: 200, no duplicate.
    let before = conversation_count(&app).await;
    let res = widget_post(&app, "/v1/widget/conversations", phone).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["conversation"]["id"], id.as_str());
    assert_eq!(conversation_count(&app).await, before);
    // The laptop's token still works.
    let res = app.get(&format!("/v1/conversations/{id}"), &laptop).await;
    assert_eq!(res.status, 200);

    // Closed: the next start is a new conversation of the same customer.
    let closed = app
        .post(
            &format!("/v1/conversations/{id}/close"),
            &app.api_key,
            json!({}),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    widget_post(&app, "/v1/widget/resume", identity("user-7", Some(&hash)))
        .await
        .assert_error(404, "not_found");
    let res = widget_post(
        &app,
        "/v1/widget/conversations",
        identity("user-7", Some(&hash)),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.body);
    let next = res.body["conversation"]["id"].as_str().unwrap().to_string();
    assert_ne!(next, id);
    assert_eq!(
        customer_of(&app, &next).await["id"],
        customer_of(&app, &id).await["id"],
        "one customer across their conversations"
    );

    // A rotated secret invalidates the old hashes; removing it turns verification off.
    let rotated = app
        .post("/v1/widget/identity-secret", &app.admin_token, json!({}))
        .await;
    assert_eq!(rotated.status, 201);
    widget_post(&app, "/v1/widget/resume", identity("user-7", Some(&hash)))
        .await
        .assert_error(401, "identity_not_verified");
    let res = send(
        &app.client,
        Method::DELETE,
        &app.url("/v1/widget/identity-secret"),
        Some(&app.admin_token),
        None,
    )
    .await;
    assert_eq!(res.status, 204, "{}", res.body);
    let res = send(
        &app.client,
        Method::DELETE,
        &app.url("/v1/widget/identity-secret"),
        Some(&app.admin_token),
        None,
    )
    .await;
    res.assert_error(404, "not_found");
    let res = widget_post(&app, "/v1/widget/conversations", identity("user-9", None)).await;
    assert_eq!(res.status, 201, "{}", res.body);
    assert_eq!(res.body["identity"], "unverified");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_verification_sqlite() {
    identity_verification(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_verification_postgres() {
    identity_verification(Backend::Postgres).await;
}

async fn next_frame<S>(socket: &mut S, want: impl Fn(&Value) -> bool) -> Value
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame in time")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = frame {
            let v: Value = serde_json::from_str(&t).unwrap();
            if want(&v) {
                return v;
            }
        }
    }
}

/// Typing indicators: the customer's reach the owning agent's live stream (not another
/// agent's, not another conversation's), the owner's reach the customer's widget stream; only
/// the owner may type as the agent; API keys may not; nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_indicators_both_ways() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, "widget_typing").await else {
        return;
    };
    let key = widget_key(&app).await;
    let (id, token) = start(&app, &key).await;
    let (sara, sara_token) = app.person("sara@test.example", "agent").await;
    let (_, tom_token) = app.person("tom@test.example", "supervisor").await;
    let res = app
        .put(
            "/v1/agents/me/status",
            &sara_token,
            json!({"status": "busy"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    app.post(
        &format!("/v1/conversations/{id}/handoff"),
        &token,
        json!({"reason": "customer_request"}),
    )
    .await;
    let path = format!("/v1/conversations/{id}/typing");
    // Before anyone owns it, an agent cannot type to the customer.
    app.post(&path, &sara_token, json!({"typing": true}))
        .await
        .assert_error(409, "not_owner");
    let res = app
        .post(
            &format!("/v1/conversations/{id}/claim"),
            &sara_token,
            json!({}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);

    let (mut widget, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/v1/widget/live?token={token}",
        app.instance.addr
    ))
    .await
    .unwrap();
    next_frame(&mut widget, |v| v["type"] == "hello").await;
    let connect = |t: &str| {
        let url = format!("ws://{}/v1/live?token={t}", app.instance.addr);
        async move { tokio_tungstenite::connect_async(url).await.unwrap().0 }
    };
    let mut sara_live = connect(&sara_token).await;
    let mut tom_live = connect(&tom_token).await;
    // The sockets are subscribed once a committed event reaches them.
    app.post(
        &format!("/v1/conversations/{id}/notes"),
        &sara_token,
        json!({"text": "sync"}),
    )
    .await;
    next_frame(&mut sara_live, |v| v["type"] == "message_added").await;
    next_frame(&mut tom_live, |v| v["type"] == "message_added").await;
    let events_before = app.event_count(&id).await;

    let res = app.post(&path, &token, json!({"typing": true})).await;
    assert_eq!(res.status, 204, "{}", res.body);
    let seen = next_frame(&mut sara_live, |v| v["type"] == "typing").await;
    assert_eq!(seen["conversation_id"], id.as_str());
    assert_eq!(seen["data"]["role"], "customer");
    assert_eq!(seen["data"]["typing"], true);

    let res = app.post(&path, &sara_token, json!({"typing": true})).await;
    assert_eq!(res.status, 204, "{}", res.body);
    let seen = next_frame(&mut widget, |v| v["type"] == "typing").await;
    assert_eq!(seen["data"]["role"], "agent");
    assert_eq!(seen["data"]["agent_name"], "sara");
    let res = app.post(&path, &sara_token, json!({"typing": false})).await;
    assert_eq!(res.status, 204);
    let seen = next_frame(&mut widget, |v| v["type"] == "typing").await;
    assert_eq!(seen["data"]["typing"], false);
    assert_eq!(
        app.event_count(&id).await,
        events_before,
        "typing stores nothing"
    );

    // Tom (not the owner) sees no customer typing: the next frame he gets is the message.
    app.post(
        &format!("/v1/conversations/{id}/messages"),
        &token,
        json!({"text": "done typing"}),
    )
    .await;
    let first = next_frame(&mut tom_live, |v| {
        v["type"] == "typing" || v["type"] == "message_added"
    })
    .await;
    assert_eq!(first["type"], "message_added", "{first}");

    app.post(&path, &tom_token, json!({"typing": true}))
        .await
        .assert_error(409, "not_owner");
    app.post(&path, &app.api_key, json!({"typing": true}))
        .await
        .assert_error(403, "forbidden");
    let bad = app.post(&path, &token, json!({"typing": "yes"})).await;
    assert!(bad.status.is_client_error(), "{}", bad.body);
    assert!(bad.body["error"]["message"].is_string(), "{}", bad.body);
    let _ = sara;
}
