//! Outbound deliveries end to end: signed webhooks to a real receiver on loopback, retries,
//! dead letters and redelivery, per-conversation order, Slack digests and Teams cards, and the
//! configuration API's validation and roles. The servers run without their background delivery
//! worker: each test drives `deliveries::round` itself, with retries due at once, so nothing
//! waits on a clock.

#[macro_use]
mod common;

use base64::Engine;
use baton_channels::testing::{RecordedRequest, RecordingServer, Reply};
use baton_server::AppState;
use common::*;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    signed_handoff_webhook_carries_the_brief,
    failures_are_retried_in_conversation_order,
    gone_is_dead_lettered_and_redelivered,
    slack_digest_and_teams_card,
    private_targets_are_refused_when_configured,
    private_targets_are_refused_when_connecting,
    signed_deliveries_follow_no_redirect,
);

const PUBLIC_URL: &str = "https://baton.example.test";

/// A test app whose server runs no delivery worker (the test drives rounds).
struct App {
    app: TestApp,
    state: AppState,
}

impl std::ops::Deref for App {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// Settings of a server that runs no delivery worker; `allow_private` lets it reach loopback.
fn without_worker(allow_private: bool) -> impl FnOnce(&mut AppState) {
    move |state: &mut AppState| {
        state.deliveries = baton_server::deliveries::Settings {
            run_worker: false,
            base_backoff_ms: 1,
            min_backoff_ms: 1,
        };
        state.public_url = PUBLIC_URL.into();
        state.allow_private_targets(allow_private);
    }
}

impl App {
    async fn spawn(backend: Backend, name: &str) -> Option<App> {
        Self::spawn_with(backend, name, true).await
    }

    /// Like [`App::spawn`]; `allow_private: false` is the production default.
    async fn spawn_with(backend: Backend, name: &str, allow_private: bool) -> Option<App> {
        let db = database(backend, name).await?;
        let (instance, state) =
            start_instance_configured(db.url(), without_worker(allow_private)).await;
        let app = TestApp::with_instance(db, instance).await;
        Some(App { app, state })
    }

    /// One worker round; returns how many deliveries it claimed.
    async fn round(&self) -> usize {
        baton_server::deliveries::round(&self.state)
            .await
            .expect("a delivery round")
    }

    /// Runs rounds until no delivery is pending (bounded).
    async fn drain(&self) {
        let work = async {
            loop {
                if self.round().await == 0 {
                    match self.state.store().next_delivery_due().await.unwrap() {
                        None => return,
                        // A retry due in a millisecond or two.
                        Some(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), work)
            .await
            .expect("deliveries did not settle within 20 s");
    }

    async fn patch(&self, path: &str, token: &str, body: Value) -> Res {
        send(
            &self.client,
            Method::PATCH,
            &self.url(path),
            Some(token),
            Some(body),
        )
        .await
    }

    async fn delete(&self, path: &str, token: &str) -> Res {
        send(
            &self.client,
            Method::DELETE,
            &self.url(path),
            Some(token),
            None,
        )
        .await
    }

    /// Subscribes `url` to `events`; returns (id, secret).
    async fn webhook(&self, url: &str, events: &[&str]) -> (String, String) {
        let res = self
            .post(
                "/v1/webhooks",
                &self.admin_token,
                json!({"url": url, "events": events}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        (
            res.body["id"].as_str().unwrap().to_string(),
            res.body["secret"].as_str().unwrap().to_string(),
        )
    }

    async fn queue(&self, id: &str, settings: Value) {
        let res = self
            .post(
                "/v1/queues",
                &self.admin_token,
                json!({"id": id, "name": id.to_uppercase(), "settings": settings}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
    }

    /// Starts a conversation for `customer`, has them write `text` and hands it to `queue`
    /// (the default queue when `None`).
    async fn handoff(&self, customer: &str, text: &str, queue: Option<&str>) -> String {
        let res = self
            .post(
                "/v1/conversations",
                &self.api_key,
                json!({"customer": {"external_id": customer, "name": customer}, "channel": "web"}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        let id = res.body["id"].as_str().unwrap().to_string();
        self.say(&id, text).await;
        let res = self
            .post(
                &format!("/v1/conversations/{id}/handoff"),
                &self.api_key,
                json!({"reason": "customer_request", "queue": queue}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        id
    }

    async fn say(&self, conversation: &str, text: &str) {
        let res = self
            .post(
                &format!("/v1/conversations/{conversation}/messages"),
                &self.api_key,
                json!({"role": "customer", "text": text}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
    }

    async fn deliveries(&self, query: &str) -> Vec<Value> {
        let res = self
            .get(&format!("/v1/deliveries{query}"), &self.admin_token)
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        res.body["items"].as_array().unwrap().clone()
    }
}

/// Checks a Standard Webhooks signature the way a receiver would.
fn verify(secret: &str, request: &RecordedRequest) {
    let id = request.header("webhook-id").expect("webhook-id");
    let timestamp = request
        .header("webhook-timestamp")
        .expect("webhook-timestamp");
    let signature = request
        .header("webhook-signature")
        .expect("webhook-signature");
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert!(
        signature.split(' ').any(|s| s == format!("v1,{expected}")),
        "signature {signature} does not verify"
    );
    let sent: i64 = timestamp.parse().unwrap();
    let now = baton_server::now().millis() / 1000;
    assert!((now - sent).abs() < 300, "timestamp {sent} is not recent");
}

async fn signed_handoff_webhook_carries_the_brief(backend: Backend) {
    let Some(app) = App::spawn(backend, "dlv_signed").await else {
        return;
    };
    let receiver = RecordingServer::start(vec![Reply::new(204, "")]).await;
    let (_, secret) = app
        .webhook(&receiver.url("/baton"), &["conversation.handoff_requested"])
        .await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    app.queue(
        "support",
        json!({"transfer": {"sip_uri": "sip:support@pbx.example.com", "phone": "+15550100"}}),
    )
    .await;
    let id = app
        .handoff(
            "cus-ann",
            "Where is my order #1234? It is late.",
            Some("support"),
        )
        .await;
    app.drain().await;

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "one handoff, one request");
    let request = &requests[0];
    assert_eq!(request.path, "/baton");
    verify(&secret, request);
    let body = request.json();
    assert_eq!(body["type"], "conversation.handoff_requested");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["data"]["event"]["type"], "handoff_requested");
    assert_eq!(body["data"]["event"]["data"]["reason"], "customer_request");
    assert_eq!(body["data"]["conversation"]["id"], id.as_str());
    let brief = &body["data"]["brief"];
    assert!(
        brief["summary"].as_str().is_some_and(|s| !s.is_empty()),
        "{brief}"
    );
    assert!(
        brief.to_string().contains("1234"),
        "the order id is in the brief: {brief}"
    );
    assert_eq!(body["data"]["transfer"]["queue"], "support");
    assert_eq!(
        body["data"]["transfer"]["target"]["sip_uri"],
        "sip:support@pbx.example.com"
    );
    assert_eq!(body["data"]["transfer"]["target"]["phone"], "+15550100");

    let delivered = app.deliveries("?state=delivered").await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["id"], request.header("webhook-id").unwrap());
    assert_eq!(delivered[0]["event_type"], "handoff_requested");
    assert_eq!(delivered[0]["attempts"], 1);

    // A handoff to no queue in particular waits in the default queue: its target applies.
    app.handoff("cus-bo", "hello there", None).await;
    app.drain().await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    verify(&secret, &requests[1]);
    let body = requests[1].json();
    assert_eq!(body["data"]["transfer"]["queue"], "support", "{body}");
}

async fn failures_are_retried_in_conversation_order(backend: Backend) {
    let Some(app) = App::spawn(backend, "dlv_retry").await else {
        return;
    };
    // Fails once with a 500, then recovers.
    let receiver = RecordingServer::start(vec![Reply::new(500, "boom"), Reply::new(200, "")]).await;
    let (_, secret) = app
        .webhook(&receiver.url("/hook"), &["conversation.message"])
        .await;
    let id = app.handoff("cus-order", "first", None).await;
    app.say(&id, "second").await;
    app.say(&id, "third").await;
    // An internal note is never announced.
    let note = app
        .post(
            &format!("/v1/conversations/{id}/notes"),
            &app.admin_token,
            json!({"text": "internal: VIP, be nice"}),
        )
        .await;
    assert_eq!(note.status, 201, "{}", note.body);
    app.say(&id, "fourth").await;
    app.drain().await;

    let requests = receiver.requests();
    let texts: Vec<String> = requests
        .iter()
        .map(|r| {
            verify(&secret, r);
            r.json()["data"]["event"]["data"]["message"]["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        texts,
        ["first", "first", "second", "third", "fourth"],
        "the failed first message is retried before anything after it goes out"
    );
    assert_eq!(
        requests[0].header("webhook-id"),
        requests[1].header("webhook-id"),
        "a retry keeps its webhook-id"
    );
    assert!(
        requests.iter().all(|r| !r.text().contains("be nice")),
        "the note went out"
    );
    let first = app
        .get(
            &format!(
                "/v1/deliveries/{}",
                requests[0].header("webhook-id").unwrap()
            ),
            &app.admin_token,
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["state"], "delivered");
    assert_eq!(first.body["attempts"], 2);
    assert_eq!(first.body["conversation_id"], id.as_str());
    let skipped = app.deliveries("?state=skipped").await;
    assert_eq!(
        skipped.len(),
        1,
        "the note's delivery is skipped: {skipped:?}"
    );
}

/// Webhooks, Slack/Teams, the bots and the WhatsApp API base refuse internal addresses (422
/// `private_target`) unless `allow_private_targets` is set; public ones are accepted.
async fn private_targets_are_refused_when_configured(backend: Backend) {
    let Some(app) = App::spawn_with(backend, "dlv_private", false).await else {
        return;
    };
    let admin = app.admin_token.clone();
    let internal = [
        "http://127.0.0.1:9000/hook",
        "http://0x7f000001/hook",
        "http://2130706433/hook",
        "http://[::1]/hook",
        "http://[fd00::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.20.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://metadata.google.internal/computeMetadata/v1",
        "http://localhost:8080/hook",
    ];
    for url in internal {
        app.post(
            "/v1/webhooks",
            &admin,
            json!({"url": url, "events": ["conversation.closed"]}),
        )
        .await
        .assert_error(422, "private_target");
    }
    // A public address is accepted (positive control), and cannot be changed to an internal one.
    let (id, _) = app
        .webhook("https://93.184.215.14/hook", &["conversation.closed"])
        .await;
    app.patch(
        &format!("/v1/webhooks/{id}"),
        &admin,
        json!({"url": "http://[fe80::1]/hook"}),
    )
    .await
    .assert_error(422, "private_target");
    app.post(
        "/v1/notifications",
        &admin,
        json!({"kind": "slack", "url": "http://[fd00::1]/services/x"}),
    )
    .await
    .assert_error(422, "private_target");
    let res = app
        .put(
            "/v1/bot",
            &admin,
            json!({"type": "webhook", "webhook": {"url": "http://0x7f000001:8000/bot", "secret": "s3cret"}}),
        )
        .await;
    res.assert_error(422, "private_target");
    assert!(
        res.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("webhook.url"),
        "{}",
        res.body
    );
    app.put(
        "/v1/bot",
        &admin,
        json!({"type": "llm", "llm": {"base_url": "http://metadata.google.internal/v1", "model": "m"}}),
    )
    .await
    .assert_error(422, "private_target");
    app.put(
        "/v1/channels/whatsapp",
        &admin,
        json!({"phone_number_id": "1", "access_token": "t", "app_secret": "s",
               "verify_token": "v", "api_base_url": "http://169.254.169.254"}),
    )
    .await
    .assert_error(422, "private_target");
    app.put(
        "/v1/bot",
        &admin,
        json!({"type": "webhook", "webhook": {"url": "https://93.184.215.14/bot", "secret": "s3cret"}}),
    )
    .await;
}

/// A URL accepted earlier (by an instance allowing private targets, or a name that resolved
/// to a public address then) is checked again at connection: an instance that refuses private
/// targets does not reach it, one that allows them does (positive control).
async fn private_targets_are_refused_when_connecting(backend: Backend) {
    let Some(app) = App::spawn(backend, "dlv_rebind").await else {
        return;
    };
    // One by name (the resolver refuses it), one by address (the sender refuses it: no
    // resolver sees an IP written out).
    let receiver = RecordingServer::start(vec![Reply::new(200, "")]).await;
    let by_address = RecordingServer::start(vec![Reply::new(200, "")]).await;
    let url = receiver.url("/hook").replace("127.0.0.1", "localhost");
    app.webhook(&url, &["conversation.message"]).await;
    app.webhook(&by_address.url("/hook"), &["conversation.message"])
        .await;
    let (_strict, strict_state) =
        start_instance_configured(app.db.url(), without_worker(false)).await;
    let id = app.handoff("cus-rebind", "hello", None).await;
    let claimed = baton_server::deliveries::round(&strict_state)
        .await
        .unwrap();
    assert!(claimed > 0, "the strict instance claimed nothing");
    assert!(
        receiver.requests().is_empty() && by_address.requests().is_empty(),
        "a delivery reached a loopback address"
    );
    let pending = app.deliveries("?state=pending").await;
    assert!(
        pending.iter().any(|d| d["conversation_id"] == id.as_str()),
        "the refused delivery waits for a retry: {pending:?}"
    );
    app.drain().await;
    assert!(
        !receiver.requests().is_empty() && !by_address.requests().is_empty(),
        "the permissive instance delivers (the test can fail)"
    );
}

/// A signed delivery answered with a redirect is not re-sent to the redirect's target.
async fn signed_deliveries_follow_no_redirect(backend: Backend) {
    let Some(app) = App::spawn(backend, "dlv_redirect").await else {
        return;
    };
    let elsewhere = RecordingServer::start(vec![Reply::new(200, "")]).await;
    let receiver = RecordingServer::start(vec![
        Reply::new(307, "").header("location", &elsewhere.url("/stolen")),
    ])
    .await;
    app.webhook(&receiver.url("/hook"), &["conversation.message"])
        .await;
    app.handoff("cus-redirect", "hello", None).await;
    assert!(app.round().await > 0);
    assert_eq!(receiver.requests().len(), 1, "the delivery was sent once");
    assert!(
        elsewhere.requests().is_empty(),
        "the signed body followed the redirect"
    );
    let delivered = app.deliveries("?state=delivered").await;
    assert!(
        delivered.is_empty(),
        "a redirect counted as delivered: {delivered:?}"
    );
}

async fn gone_is_dead_lettered_and_redelivered(backend: Backend) {
    let Some(app) = App::spawn(backend, "dlv_dead").await else {
        return;
    };
    let receiver = RecordingServer::start(vec![Reply::new(410, "gone"), Reply::new(200, "")]).await;
    app.webhook(&receiver.url("/hook"), &["conversation.handoff_requested"])
        .await;
    app.queued_conversation().await;
    app.drain().await;
    assert_eq!(receiver.requests().len(), 1, "a 410 is not retried");

    let dead = app.deliveries("?state=dead").await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let id = dead[0]["id"].as_str().unwrap().to_string();
    assert!(
        dead[0]["last_error"].as_str().unwrap().contains("410"),
        "{}",
        dead[0]
    );
    assert!(app.deliveries("?state=pending").await.is_empty());

    // Supervisors can look but not redeliver; other tenants cannot see it at all.
    let (_, supervisor) = app.person("sup@dlv.example", "supervisor").await;
    let listed = app.get("/v1/deliveries?state=dead", &supervisor).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    app.post(
        &format!("/v1/deliveries/{id}/redeliver"),
        &supervisor,
        json!({}),
    )
    .await
    .assert_error(403, "forbidden");
    let other = other_tenant_admin(&app).await;
    app.post(&format!("/v1/deliveries/{id}/redeliver"), &other, json!({}))
        .await
        .assert_error(404, "not_found");
    app.get(&format!("/v1/deliveries/{id}"), &other)
        .await
        .assert_error(404, "not_found");
    app.post(
        "/v1/deliveries/dlv_0_nope/redeliver",
        &app.admin_token,
        json!({}),
    )
    .await
    .assert_error(404, "not_found");

    let again = app
        .post(
            &format!("/v1/deliveries/{id}/redeliver"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(again.status, 202, "{}", again.body);
    assert_eq!(again.body["state"], "pending");
    app.post(
        &format!("/v1/deliveries/{id}/redeliver"),
        &app.admin_token,
        json!({}),
    )
    .await
    .assert_error(409, "delivery_pending");
    app.drain().await;

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].header("webhook-id"), Some(id.as_str()));
    let done = app
        .get(&format!("/v1/deliveries/{id}"), &app.admin_token)
        .await;
    assert_eq!(done.body["state"], "delivered", "{}", done.body);
    assert!(app.deliveries("?state=dead").await.is_empty());
}

/// An admin token of a second tenant on the same server.
async fn other_tenant_admin(app: &App) -> String {
    let (_, _, email) = create_tenant(app.instance.store.as_ref(), "Other Co").await;
    let login = send(
        &app.client,
        Method::POST,
        &app.url("/v1/auth/login"),
        None,
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.body);
    login.body["token"].as_str().unwrap().to_string()
}

async fn slack_digest_and_teams_card(backend: Backend) {
    let Some(app) = App::spawn(backend, "dlv_slack").await else {
        return;
    };
    app.queue("support", json!({})).await;
    app.queue("vip", json!({})).await;
    let slack = RecordingServer::start(vec![Reply::new(200, "ok")]).await;
    let teams = RecordingServer::start(vec![Reply::new(202, "")]).await;
    let created = app
        .post(
            "/v1/notifications",
            &app.admin_token,
            json!({"kind": "slack", "url": slack.url("/services/T000/B000/XXXX")}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["url_host"], "127.0.0.1");
    assert_eq!(created.body["min_interval_secs"], 30);
    assert!(
        !created.body.to_string().contains("XXXX"),
        "the URL is a secret: {}",
        created.body
    );
    let created = app
        .post(
            "/v1/notifications",
            &app.admin_token,
            json!({"kind": "teams", "url": teams.url("/workflows/abc?sig=secret"), "queue": "vip",
                   "notify": ["handoff"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);

    // A burst of three handoffs: one Slack post counting three; Teams hears about the VIP one.
    app.handoff("Ann", "hi, I have a question", Some("support"))
        .await;
    app.handoff("Bob", "my parcel is late", Some("support"))
        .await;
    let vip = app
        .handoff("Cleo", "a question about my plan", Some("vip"))
        .await;
    app.round().await;

    let posts = slack.requests();
    assert_eq!(posts.len(), 1, "a burst is one digest");
    let digest = posts[0].json();
    let text = digest["text"].as_str().unwrap();
    assert!(text.contains("3 handoffs"), "{text}");
    let shown = digest["blocks"].to_string();
    for name in ["Ann", "Bob", "Cleo"] {
        assert!(shown.contains(name), "{name} missing from {shown}");
    }
    assert!(
        shown.contains(&format!("{PUBLIC_URL}/console#c/{vip}")),
        "{shown}"
    );

    let cards = teams.requests();
    assert_eq!(cards.len(), 1, "only the VIP queue's handoff goes to Teams");
    let card = cards[0].json();
    assert_eq!(card["type"], "message");
    let attachment = &card["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    let content = attachment["content"].to_string();
    assert!(
        content.contains("Cleo") && content.contains("customer request"),
        "{content}"
    );
    assert!(content.contains("VIP"), "the queue's name: {content}");
    assert!(
        content.contains("Summary"),
        "the brief's summary: {content}"
    );
    assert_eq!(
        attachment["content"]["actions"][0]["url"],
        format!("{PUBLIC_URL}/console#c/{vip}")
    );

    // Within the digest window a new handoff is held, not posted.
    app.handoff("Dan", "hello there", Some("support")).await;
    app.round().await;
    assert_eq!(slack.requests().len(), 1, "held for the next digest");
    let pending = app.deliveries("?state=pending").await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(
        pending[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("digest"),
        "{}",
        pending[0]
    );
    assert_eq!(teams.requests().len(), 1, "Dan is not a VIP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_is_validated_and_secrets_stay_secret() {
    let Some(app) = App::spawn(Backend::Sqlite, "dlv_config").await else {
        return;
    };
    let admin = app.admin_token.clone();
    for (body, code) in [
        (
            json!({"url": "ftp://example.com/x", "events": ["conversation.closed"]}),
            "invalid_url",
        ),
        (
            json!({"url": "example.com/hook", "events": ["conversation.closed"]}),
            "invalid_url",
        ),
        (
            json!({"url": "https://example.com/hook", "events": []}),
            "invalid_events",
        ),
        (
            json!({"url": "https://example.com/hook", "events": ["conversation.exploded"]}),
            "unknown_event",
        ),
    ] {
        let res = app.post("/v1/webhooks", &admin, body).await;
        res.assert_error(422, code);
    }
    let res = app
        .post(
            "/v1/webhooks",
            &admin,
            json!({"url": "https://example.com/hook", "events": ["handoff"]}),
        )
        .await;
    res.assert_error(422, "unknown_event");
    let message = res.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("conversation.handoff_requested") && message.contains("\"*\""),
        "the message lists the known events: {message}"
    );

    // Supervisors read, only admins write.
    let (_, supervisor) = app.person("sup@config.example", "supervisor").await;
    let (_, agent) = app.person("agent@config.example", "agent").await;
    app.post(
        "/v1/webhooks",
        &supervisor,
        json!({"url": "https://example.com/hook", "events": ["*"]}),
    )
    .await
    .assert_error(403, "forbidden");
    app.get("/v1/webhooks", &agent)
        .await
        .assert_error(403, "forbidden");

    let (id, secret) = app.webhook("https://example.com/hook", &["*"]).await;
    let listed = app.get("/v1/webhooks", &supervisor).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["items"][0]["id"], id.as_str());
    assert_eq!(listed.body["items"][0]["events"], json!(["*"]));
    assert!(listed.body["next_cursor"].is_null());
    let one = app.get(&format!("/v1/webhooks/{id}"), &supervisor).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert!(one.body.get("secret").is_none(), "{}", one.body);

    let patched = app
        .patch(
            &format!("/v1/webhooks/{id}"),
            &admin,
            json!({"events": ["conversation.closed", "conversation.handoff_requested"],
                   "enabled": false, "description": "ticketing"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(
        patched.body["events"],
        json!(["conversation.handoff_requested", "conversation.closed"])
    );
    assert_eq!(patched.body["enabled"], false);
    assert_eq!(patched.body["description"], "ticketing");
    app.patch(
        &format!("/v1/webhooks/{id}"),
        &admin,
        json!({"url": "nope"}),
    )
    .await
    .assert_error(422, "invalid_url");

    let rotated = app
        .post(
            &format!("/v1/webhooks/{id}/rotate-secret"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_secret = rotated.body["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);

    // Slack and Teams: the URL is validated and never shown again.
    for (body, code) in [
        (
            json!({"kind": "email", "url": "https://hooks.slack.com/services/x"}),
            "invalid_kind",
        ),
        (json!({"kind": "slack", "url": "not a url"}), "invalid_url"),
        (
            json!({"kind": "slack", "url": "https://hooks.slack.com/services/x", "queue": "nope"}),
            "unknown_queue",
        ),
        (
            json!({"kind": "teams", "url": "https://x.logic.azure.com/w", "notify": ["birthdays"]}),
            "invalid_notify",
        ),
    ] {
        app.post("/v1/notifications", &admin, body)
            .await
            .assert_error(422, code);
    }
    let slack = app
        .post(
            "/v1/notifications",
            &admin,
            json!({"kind": "slack", "url": "https://hooks.slack.com/services/T1/B2/sekrit"}),
        )
        .await;
    assert_eq!(slack.status, 201, "{}", slack.body);
    let slack_id = slack.body["id"].as_str().unwrap().to_string();
    let listed = app.get("/v1/notifications", &supervisor).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["items"][0]["url_host"], "hooks.slack.com");
    assert_eq!(
        listed.body["items"][0]["notify"],
        json!(["handoff", "offer_unanswered", "wait_over_target"])
    );
    assert!(!listed.body.to_string().contains("sekrit"));
    // A notification is not a webhook, and the other way round.
    app.get(&format!("/v1/webhooks/{slack_id}"), &admin)
        .await
        .assert_error(404, "not_found");
    app.delete(&format!("/v1/notifications/{id}"), &admin)
        .await
        .assert_error(404, "not_found");

    let deleted = app.delete(&format!("/v1/webhooks/{id}"), &admin).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    app.get(&format!("/v1/webhooks/{id}"), &admin)
        .await
        .assert_error(404, "not_found");
    let deleted = app
        .delete(&format!("/v1/notifications/{slack_id}"), &admin)
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);

    // The audit trail has before and after of every change, and no secret.
    let audit = app.get("/v1/audit?kind=webhook", &admin).await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    let kinds: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for kind in ["webhook_created", "webhook_updated", "webhook_deleted"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let notifications = app.get("/v1/audit?kind=notification", &admin).await;
    assert_eq!(notifications.status, 200, "{}", notifications.body);
    assert_eq!(notifications.body["items"].as_array().unwrap().len(), 2);
    let trail = format!("{}{}", audit.body, notifications.body);
    assert!(
        !trail.contains(&secret) && !trail.contains(new_secret),
        "a secret in the audit trail"
    );
    assert!(!trail.contains("sekrit"), "a Slack URL in the audit trail");
    assert!(trail.contains("hooks.slack.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_listed_by_state_with_pagination() {
    let Some(app) = App::spawn(Backend::Sqlite, "dlv_list").await else {
        return;
    };
    let receiver = RecordingServer::start(vec![]).await;
    app.webhook(&receiver.url("/h"), &["conversation.started"])
        .await;
    for _ in 0..3 {
        app.conversation().await;
    }
    app.drain().await;
    // Walk the pages: every delivery once, never more than the limit per page.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let query = match &cursor {
            Some(c) => format!("/v1/deliveries?state=delivered&limit=2&cursor={c}"),
            None => "/v1/deliveries?state=delivered&limit=2".to_string(),
        };
        let page = app.get(&query, &app.admin_token).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2, "{}", page.body);
        seen.extend(items.iter().map(|d| d["id"].as_str().unwrap().to_string()));
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (3, 3), "{seen:?}");
    app.get("/v1/deliveries?state=lost", &app.admin_token)
        .await
        .assert_error(422, "invalid_state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_beyond_the_queue_target_is_posted() {
    let Some(app) = App::spawn(Backend::Sqlite, "dlv_wait").await else {
        return;
    };
    app.queue(
        "support",
        json!({"overflow": [{"after_secs": 120, "action": {"type": "raise_priority", "by": 10}}]}),
    )
    .await;
    let slack = RecordingServer::start(vec![]).await;
    let created = app
        .post(
            "/v1/notifications",
            &app.admin_token,
            json!({"kind": "slack", "url": slack.url("/services/T/B/C"), "queue": "support",
                   "notify": ["wait_over_target"], "min_interval_secs": 0}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    // Nobody is staffed, so the queue's overflow plan runs at once: the target is missed.
    let id = app.handoff("Eve", "hello there", Some("support")).await;
    app.drain().await;

    let posts = slack.requests();
    assert_eq!(posts.len(), 1, "only the wait is posted, not the handoff");
    let message = posts[0].json();
    let text = message["text"].as_str().unwrap();
    assert!(text.contains("Wait over target: Eve"), "{text}");
    assert!(text.contains("overflow step 1"), "{text}");
    assert!(
        message["blocks"]
            .to_string()
            .contains(&format!("{PUBLIC_URL}/console#c/{id}")),
        "{message}"
    );
}
