//! Channels: WhatsApp Cloud API (Meta's documented webhook payloads in, Graph API calls out to a
//! recording server on loopback) and email (a real aiosmtpd on loopback). Deliveries go out
//! through the server's own outbox worker; tests wait for them with bounded polls.

mod common;

use baton_channels::testing::{RecordedRequest, RecordingServer, Reply, SmtpServer};
use baton_channels::whatsapp::signature_header;
use baton_core::conversation::Actor;
use baton_core::{ConversationId, MessageRole, TenantId, Timestamp};
use baton_engine::service::{self, CustomerInput, NewMessage};
use baton_server::AppState;
use baton_store::PageRequest;
use baton_store::outbox::{Delivery, DeliveryState};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PHONE_NUMBER_ID: &str = "106540352242922";
const ACCESS_TOKEN: &str = "EAAGtest-access-token";
const APP_SECRET: &str = "meta-app-secret-123";
const VERIFY_TOKEN: &str = "baton-verify-me";
const WA_ID: &str = "16505551234";
const VERSION: &str = "v23.0";

/// A test app with the server's state.
struct ChannelApp {
    app: TestApp,
    state: AppState,
}

impl std::ops::Deref for ChannelApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl ChannelApp {
    /// One instance; with `smtp`, email goes to that server.
    async fn spawn(backend: Backend, name: &str, smtp: Option<&SmtpServer>) -> Option<ChannelApp> {
        let db = database(backend, name).await?;
        let mailer = smtp.map(|s| {
            baton_channels::email::Mailer::new(s.config("Acme Support <support@acme.test>"))
                .unwrap()
        });
        let (instance, state) = start_instance_configured(db.url(), |state| {
            state.mailer = mailer;
            state.public_url = "https://baton.acme.test".into();
        })
        .await;
        let app = TestApp::with_instance(db, instance).await;
        Some(ChannelApp { app, state })
    }

    fn tenant_id(&self) -> TenantId {
        TenantId::parse(self.tenant.as_str()).unwrap()
    }

    fn webhook_url(&self) -> String {
        self.url(&format!("/v1/channels/whatsapp/{}/webhook", self.tenant))
    }

    /// Sets up the WhatsApp channel against `graph`.
    async fn whatsapp(&self, graph: &RecordingServer, template: Option<Value>) {
        let mut body = json!({
            "phone_number_id": PHONE_NUMBER_ID,
            "access_token": ACCESS_TOKEN,
            "app_secret": APP_SECRET,
            "verify_token": VERIFY_TOKEN,
            "api_base_url": graph.base_url(),
            "api_version": VERSION,
        });
        if let Some(t) = template {
            body["fallback_template"] = t;
        }
        let res = self
            .put("/v1/channels/whatsapp", &self.admin_token, body)
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
    }

    /// Posts a webhook body signed with `secret` (no signature when `None`).
    async fn post_webhook(&self, body: &Value, secret: Option<&str>) -> Res {
        let raw = body.to_string();
        let mut req = self
            .client
            .post(self.webhook_url())
            .header("content-type", "application/json");
        if let Some(secret) = secret {
            req = req.header(
                "x-hub-signature-256",
                signature_header(secret, raw.as_bytes()),
            );
        }
        let resp = req.body(raw).send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        Res {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        }
    }

    /// The tenant's conversations as the API lists them.
    async fn conversations(&self) -> Vec<Value> {
        let res = self.get("/v1/conversations", &self.admin_token).await;
        assert_eq!(res.status, 200, "{}", res.body);
        res.body["items"].as_array().unwrap().clone()
    }

    async fn messages(&self, id: &str) -> Vec<Value> {
        let res = self
            .get(
                &format!("/v1/conversations/{id}/messages"),
                &self.admin_token,
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        res.body["items"].as_array().unwrap().clone()
    }

    async fn conversation(&self, id: &str) -> Value {
        let res = self
            .get(&format!("/v1/conversations/{id}"), &self.admin_token)
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        res.body
    }

    /// Waits (bounded) until bot turns are done and the outbox has nothing left to send now;
    /// returns every delivery.
    async fn settle(&self) -> Vec<Delivery> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            tokio::time::timeout(Duration::from_secs(20), self.state.engine.bots.settled())
                .await
                .expect("bot turns did not finish within 20 s");
            let page = PageRequest {
                limit: 500,
                cursor: None,
            };
            let all = self
                .instance
                .store
                .deliveries(&self.tenant_id(), None, &page)
                .await
                .unwrap()
                .items;
            if all.iter().all(|d| d.state != DeliveryState::Pending)
                && self.state.engine.bots.running() == 0
            {
                return all;
            }
            assert!(
                Instant::now() < deadline,
                "deliveries still pending after 20 s: {all:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Hands a conversation to a person and has the admin claim it.
    async fn claim_as_admin(&self, id: &str) {
        let conv = self.conversation(id).await;
        if conv["state"] == "bot" {
            let res = self
                .post(
                    &format!("/v1/conversations/{id}/handoff"),
                    &self.api_key,
                    json!({"reason": "test"}),
                )
                .await;
            assert_eq!(res.status, 200, "{}", res.body);
        }
        let res = self
            .post(
                &format!("/v1/conversations/{id}/claim"),
                &self.admin_token,
                json!({}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
    }

    async fn agent_says(&self, id: &str, text: &str) {
        let res = self
            .post(
                &format!("/v1/conversations/{id}/messages"),
                &self.admin_token,
                json!({"text": text}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
    }
}

/// Runs a test body on SQLite and, when configured, on PostgreSQL.
macro_rules! both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                $body(Backend::Sqlite, concat!(stringify!($name), "_sqlite")).await;
            }
            #[tokio::test]
            async fn postgres() {
                $body(Backend::Postgres, concat!(stringify!($name), "_pg")).await;
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Meta's documented webhook payloads.

fn envelope(value: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{"field": "messages", "value": value}],
        }],
    })
}

fn message_payload(wamid: &str, message: Value) -> Value {
    let mut message = message;
    message["from"] = json!(WA_ID);
    message["id"] = json!(wamid);
    message["timestamp"] = json!((baton_server::now().millis() / 1000).to_string());
    envelope(json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": WA_ID}],
        "messages": [message],
    }))
}

fn text_payload(wamid: &str, text: &str) -> Value {
    message_payload(wamid, json!({"type": "text", "text": {"body": text}}))
}

fn button_payload(wamid: &str, id: &str, title: &str) -> Value {
    message_payload(
        wamid,
        json!({
            "context": {"from": "15550783881", "id": "wamid.OUT"},
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": id, "title": title}},
        }),
    )
}

fn graph_ok() -> Reply {
    Reply::json(
        200,
        &json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": WA_ID, "wa_id": WA_ID}],
            "messages": [{"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI4QzA1"}],
        }),
    )
}

/// Asserts a request is a Graph API messages call to the customer; returns its JSON.
fn graph_call(request: &RecordedRequest) -> Value {
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        format!("/{VERSION}/{PHONE_NUMBER_ID}/messages")
    );
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );
    assert!(
        request
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    );
    let body = request.json();
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["to"], WA_ID);
    body
}

// ---------------------------------------------------------------------------------------------
// WhatsApp

async fn whatsapp_setup_and_handshake(backend: Backend, name: &str) {
    let graph = RecordingServer::start(vec![graph_ok()]).await;
    let Some(app) = ChannelApp::spawn(backend, name, None).await else {
        return;
    };
    // Admins only; secrets are checked.
    let (_, agent) = app.person(&format!("a-{name}@test.example"), "agent").await;
    let res = app
        .put(
            "/v1/channels/whatsapp",
            &agent,
            json!({"phone_number_id": "1"}),
        )
        .await;
    res.assert_error(403, "forbidden");
    let res = app
        .put(
            "/v1/channels/whatsapp",
            &app.admin_token,
            json!({"phone_number_id": PHONE_NUMBER_ID, "access_token": "***", "app_secret": "s", "verify_token": "v"}),
        )
        .await;
    res.assert_error(422, "invalid_whatsapp");
    app.get("/v1/channels/whatsapp", &app.admin_token)
        .await
        .assert_error(404, "not_found");
    app.whatsapp(&graph, None).await;

    // Shown redacted; "***" keeps the stored secrets.
    let shown = app.get("/v1/channels/whatsapp", &app.admin_token).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(shown.body["access_token"], "***");
    assert_eq!(shown.body["app_secret"], "***");
    assert_eq!(shown.body["phone_number_id"], PHONE_NUMBER_ID);
    assert_eq!(
        shown.body["webhook_path"],
        format!("/v1/channels/whatsapp/{}/webhook", app.tenant)
    );
    let mut again = shown.body.clone();
    again.as_object_mut().unwrap().remove("webhook_path");
    let res = app
        .put("/v1/channels/whatsapp", &app.admin_token, again)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);

    // The handshake.
    let ok = app
        .client
        .get(format!(
            "{}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444",
            app.webhook_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    for query in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=baton-verify-me&hub.challenge=1",
        "hub.challenge=1",
    ] {
        let bad = send(
            &app.client,
            Method::GET,
            &format!("{}?{query}", app.webhook_url()),
            None,
            None,
        )
        .await;
        bad.assert_error(403, "forbidden");
    }
    // Another tenant's path, or none configured.
    send(
        &app.client,
        Method::GET,
        &app.url("/v1/channels/whatsapp/ten_nope/webhook?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1"),
        None,
        None,
    )
    .await
    .assert_error(404, "not_found");

    // The audit trail records the change without a single secret.
    let events = app
        .instance
        .store
        .events_by_seq(&(1..5000).collect::<Vec<_>>())
        .await
        .unwrap();
    let audit: Vec<_> = events
        .iter()
        .filter(|e| e.kind() == "whatsapp_updated")
        .collect();
    assert_eq!(audit.len(), 2, "{audit:?}");
    for e in &events {
        let data = e.body.to_json().to_string();
        for secret in [ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN] {
            assert!(
                !data.contains(secret),
                "{} leaks a secret: {data}",
                e.kind()
            );
        }
    }

    // Off: webhooks are refused and the subscription is gone.
    let res = send(
        &app.client,
        Method::DELETE,
        &app.url("/v1/channels/whatsapp"),
        Some(&app.admin_token),
        None,
    )
    .await;
    assert_eq!(res.status, 204, "{}", res.body);
    let res = app
        .post_webhook(&text_payload("wamid.X", "hi"), Some(APP_SECRET))
        .await;
    res.assert_error(404, "not_found");
    let subs = app
        .instance
        .store
        .subscriptions(&app.tenant_id(), None)
        .await
        .unwrap();
    assert!(subs.is_empty(), "{subs:?}");
}
both_backends!(whatsapp_setup, whatsapp_setup_and_handshake);

async fn whatsapp_inbound_text_dedup_and_bot_reply(backend: Backend, name: &str) {
    let graph = RecordingServer::start(vec![graph_ok()]).await;
    let Some(app) = ChannelApp::spawn(backend, name, None).await else {
        return;
    };
    app.whatsapp(&graph, None).await;
    let res = app
        .put("/v1/bot", &app.admin_token, json!({"type": "kb"}))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);

    // A bad or missing signature: 401 and nothing stored.
    let payload = text_payload(
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRB",
        "Does it come in blue?",
    );
    app.post_webhook(&payload, Some("not-the-secret"))
        .await
        .assert_error(401, "invalid_signature");
    app.post_webhook(&payload, None)
        .await
        .assert_error(401, "invalid_signature");
    assert!(app.conversations().await.is_empty());

    // Signed: a conversation on the whatsapp channel with the customer's message.
    let res = app.post_webhook(&payload, Some(APP_SECRET)).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["stored"], 1, "{}", res.body);
    let deliveries = app.settle().await;
    let convs = app.conversations().await;
    assert_eq!(convs.len(), 1, "{convs:?}");
    let id = convs[0]["id"].as_str().unwrap().to_string();
    let conv = app.conversation(&id).await;
    assert_eq!(conv["channel"], "whatsapp");
    assert_eq!(conv["customer"]["external_id"], WA_ID);
    assert_eq!(conv["customer"]["name"], "Sheena Nelson");
    assert_eq!(conv["customer"]["phone"], format!("+{WA_ID}"));
    let messages = app.messages(&id).await;
    let customer: Vec<_> = messages
        .iter()
        .filter(|m| m["role"] == "customer")
        .collect();
    let bot: Vec<_> = messages.iter().filter(|m| m["role"] == "bot").collect();
    assert_eq!(customer.len(), 1, "{messages:?}");
    assert_eq!(customer[0]["text"], "Does it come in blue?");
    assert_eq!(
        customer[0]["external_id"],
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRB"
    );
    assert_eq!(bot.len(), 1, "{messages:?}");
    // The customer's own message is not sent back; the bot's reply is, with the button.
    assert!(
        deliveries.iter().any(|d| d.state == DeliveryState::Skipped),
        "{deliveries:#?}"
    );
    let calls = graph.requests();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let body = graph_call(&calls[0]);
    assert_eq!(body["type"], "interactive");
    assert_eq!(body["interactive"]["body"]["text"], bot[0]["text"]);
    assert_eq!(
        body["interactive"]["action"]["buttons"][0]["reply"],
        json!({"id": "baton_handoff", "title": "Talk to a person"})
    );

    // Meta retries the same delivery: no second message, no second bot reply, no second send.
    let res = app.post_webhook(&payload, Some(APP_SECRET)).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["duplicates"], 1, "{}", res.body);
    app.settle().await;
    let messages = app.messages(&id).await;
    assert_eq!(
        messages.iter().filter(|m| m["role"] == "customer").count(),
        1
    );
    assert_eq!(messages.iter().filter(|m| m["role"] == "bot").count(), 1);
    assert_eq!(graph.requests().len(), 1);

    // A second message continues the same open conversation.
    let res = app
        .post_webhook(
            &text_payload("wamid.SECOND", "And in red?"),
            Some(APP_SECRET),
        )
        .await;
    assert_eq!(res.body["stored"], 1, "{}", res.body);
    app.settle().await;
    assert_eq!(app.conversations().await.len(), 1);

    // A delivery receipt (and an unknown payload) are acknowledged; failures are counted.
    let status = envelope(json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": [{
            "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI4QzA1", "status": "failed",
            "timestamp": "1750263773", "recipient_id": WA_ID,
            "errors": [{"code": 131047, "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}],
        }],
    }));
    let res = app.post_webhook(&status, Some(APP_SECRET)).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["statuses"], 1, "{}", res.body);
    let res = app
        .post_webhook(&json!({"object": "page", "entry": []}), Some(APP_SECRET))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("baton_whatsapp_statuses_total{status=\"failed_outside_window\"} 1"),
        "{metrics}"
    );
}
both_backends!(whatsapp_inbound, whatsapp_inbound_text_dedup_and_bot_reply);

async fn whatsapp_button_asks_for_a_person(backend: Backend, name: &str) {
    let graph = RecordingServer::start(vec![graph_ok()]).await;
    let Some(app) = ChannelApp::spawn(backend, name, None).await else {
        return;
    };
    app.staff().await;
    app.whatsapp(&graph, None).await;
    let res = app
        .post_webhook(&text_payload("wamid.A", "hello"), Some(APP_SECRET))
        .await;
    assert_eq!(res.body["stored"], 1, "{}", res.body);
    let tap = button_payload("wamid.B", "baton_handoff", "Talk to a person");
    let res = app.post_webhook(&tap, Some(APP_SECRET)).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["stored"], 1, "{}", res.body);
    // Meta's retry of the tap changes nothing.
    let res = app.post_webhook(&tap, Some(APP_SECRET)).await;
    assert_eq!(res.body["duplicates"], 1, "{}", res.body);
    app.settle().await;

    let convs = app.conversations().await;
    assert_eq!(convs.len(), 1, "{convs:?}");
    let id = convs[0]["id"].as_str().unwrap();
    let conv = app.conversation(id).await;
    assert_eq!(conv["state"], "queued", "{conv}");
    assert_eq!(conv["handoff"]["reason"], "customer_request", "{conv}");
    assert_eq!(conv["handoff"]["source"], "customer", "{conv}");
    let messages = app.messages(id).await;
    let texts: Vec<&str> = messages
        .iter()
        .filter(|m| m["role"] == "customer")
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hello", "Talk to a person"]);
    let res = app
        .get(&format!("/v1/conversations/{id}/events"), &app.admin_token)
        .await;
    let handoffs = res.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "handoff_requested")
        .count();
    assert_eq!(handoffs, 1, "{}", res.body);
}
both_backends!(whatsapp_button, whatsapp_button_asks_for_a_person);

async fn whatsapp_agent_reply_goes_out(backend: Backend, name: &str) {
    let graph = RecordingServer::start(vec![graph_ok()]).await;
    let Some(app) = ChannelApp::spawn(backend, name, None).await else {
        return;
    };
    app.whatsapp(&graph, None).await;
    app.post_webhook(
        &text_payload("wamid.A", "my parcel is lost"),
        Some(APP_SECRET),
    )
    .await;
    app.settle().await;
    let id = app.conversations().await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.claim_as_admin(&id).await;
    app.agent_says(&id, "Hi Sheena, I am looking into it now.")
        .await;
    let notes = app
        .post(
            &format!("/v1/conversations/{id}/notes"),
            &app.admin_token,
            json!({"text": "internal: check the carrier"}),
        )
        .await;
    assert_eq!(notes.status, 201, "{}", notes.body);
    app.settle().await;
    let calls = graph.requests();
    assert_eq!(calls.len(), 1, "only the agent's reply goes out: {calls:?}");
    let body = graph_call(&calls[0]);
    assert_eq!(body["type"], "text");
    assert_eq!(body["text"]["body"], "Hi Sheena, I am looking into it now.");
}
both_backends!(whatsapp_agent_reply, whatsapp_agent_reply_goes_out);

/// A whatsapp conversation whose customer last wrote 25 hours ago, claimed by the admin.
async fn stale_conversation(app: &ChannelApp) -> String {
    let store = app.instance.store.as_ref();
    let tenant = app.tenant_id();
    let then = Timestamp::from_millis(baton_server::now().millis() - 25 * 3600 * 1000);
    let (outcome, _) = service::start_conversation(
        store,
        &tenant,
        CustomerInput {
            external_id: Some(WA_ID.into()),
            name: Some("Sheena".into()),
            ..CustomerInput::default()
        },
        "whatsapp".into(),
        serde_json::Map::new(),
        &Actor::Customer,
        then,
    )
    .await
    .unwrap();
    let id: ConversationId = outcome.conversation.id;
    service::post_message(
        store,
        &tenant,
        &id,
        NewMessage {
            role: MessageRole::Customer,
            text: "is anyone there?".into(),
            external_id: Some("wamid.OLD".into()),
            bot: None,
        },
        &Actor::Customer,
        then,
        None,
    )
    .await
    .unwrap();
    app.claim_as_admin(id.as_str()).await;
    id.to_string()
}

async fn whatsapp_outside_the_window(backend: Backend, name: &str) {
    // With a fallback template: the template goes out instead.
    let graph = RecordingServer::start(vec![graph_ok()]).await;
    let Some(app) = ChannelApp::spawn(backend, name, None).await else {
        return;
    };
    app.whatsapp(
        &graph,
        Some(json!({"name": "follow_up", "language": "en_US"})),
    )
    .await;
    let id = stale_conversation(&app).await;
    app.agent_says(&id, "Sorry for the wait!").await;
    let deliveries = app.settle().await;
    assert!(
        deliveries.iter().all(|d| d.state != DeliveryState::Dead),
        "{deliveries:#?}"
    );
    let calls = graph.requests();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let body = graph_call(&calls[0]);
    assert_eq!(body["type"], "template");
    assert_eq!(
        body["template"],
        json!({"name": "follow_up", "language": {"code": "en_US"}})
    );

    // Without one: a dead delivery that says what to do, and nothing sent.
    let res = app
        .put(
            "/v1/channels/whatsapp",
            &app.admin_token,
            json!({"phone_number_id": PHONE_NUMBER_ID, "access_token": "***", "app_secret": "***",
                   "verify_token": "***", "api_base_url": graph.base_url(), "api_version": VERSION}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(res.body.get("fallback_template").is_none(), "{}", res.body);
    app.agent_says(&id, "Are you still there?").await;
    let deliveries = app.settle().await;
    let dead: Vec<_> = deliveries
        .iter()
        .filter(|d| d.state == DeliveryState::Dead)
        .collect();
    assert_eq!(dead.len(), 1, "{deliveries:#?}");
    let error = dead[0].last_error.as_deref().unwrap_or("");
    assert!(
        error.contains(
            "outside WhatsApp's 24-hour customer-service window; configure a fallback template"
        ),
        "{error}"
    );
    assert_eq!(graph.requests().len(), 1, "nothing more was sent");
}
both_backends!(whatsapp_window, whatsapp_outside_the_window);

async fn whatsapp_provider_window_error_and_retries(backend: Backend, name: &str) {
    // Meta says 131047 although our clock says the window is open: treated the same way, so
    // the fallback template goes out.
    let graph = RecordingServer::start(vec![
        Reply::json(
            400,
            &json!({"error": {"message": "(#131047) Re-engagement message", "type": "OAuthException",
                    "code": 131047, "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}}),
        ),
        graph_ok(),
    ])
    .await;
    let Some(app) = ChannelApp::spawn(backend, name, None).await else {
        return;
    };
    app.whatsapp(
        &graph,
        Some(json!({"name": "follow_up", "language": "en_US"})),
    )
    .await;
    app.post_webhook(&text_payload("wamid.A", "help"), Some(APP_SECRET))
        .await;
    app.settle().await;
    let id = app.conversations().await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.claim_as_admin(&id).await;
    app.agent_says(&id, "Here to help").await;
    app.settle().await;
    let calls = graph.requests();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(graph_call(&calls[0])["type"], "text");
    assert_eq!(graph_call(&calls[1])["type"], "template");
}
both_backends!(
    whatsapp_provider_window,
    whatsapp_provider_window_error_and_retries
);

// ---------------------------------------------------------------------------------------------
// Email

/// Waits (bounded) until the SMTP server holds `n` messages.
async fn mail(smtp: &SmtpServer, n: usize) -> Vec<baton_channels::testing::ReceivedEmail> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let messages = smtp.messages();
        if messages.len() >= n {
            return messages;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} emails, got {messages:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn email_handoff_notification(backend: Backend, name: &str) {
    let Some(smtp) = SmtpServer::start_or_skip(name) else {
        return;
    };
    let Some(app) = ChannelApp::spawn(backend, name, Some(&smtp)).await else {
        return;
    };
    let email = format!("sara-{name}@acme.test");
    let (sara, _) = app.person(&email, "agent").await;
    app.put(
        "/v1/channels/email",
        &app.admin_token,
        json!({"enabled": true, "notify_agents": ["agt_nobody"]}),
    )
    .await
    .assert_error(422, "unknown_agent");
    let res = app
        .put(
            "/v1/channels/email",
            &app.admin_token,
            json!({"enabled": true, "notify_agents": [sara]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["smtp_configured"], true);
    let id = app.queued_conversation().await;
    app.settle().await;
    let messages = mail(&smtp, 1).await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let m = &messages[0];
    assert_eq!(m.to, vec![email]);
    assert_eq!(m.from, "support@acme.test");
    assert_eq!(m.subject, "New handoff: John");
    assert!(m.body_text.contains("customer request"), "{}", m.body_text);
    assert!(
        m.body_text
            .contains(&format!("https://baton.acme.test/console#c/{id}")),
        "{}",
        m.body_text
    );
}
both_backends!(email_handoff, email_handoff_notification);

async fn email_deferred_reply_and_transcript(backend: Backend, name: &str) {
    let Some(smtp) = SmtpServer::start_or_skip(name) else {
        return;
    };
    let Some(app) = ChannelApp::spawn(backend, name, Some(&smtp)).await else {
        return;
    };
    let res = app
        .put(
            "/v1/channels/email",
            &app.admin_token,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    // Never open: a request for a person is deferred.
    let res = app
        .put(
            "/v1/business-hours",
            &app.admin_token,
            json!({"tz": "Europe/Berlin", "weekly": {}, "holidays": []}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app
        .post(
            "/v1/conversations",
            &app.api_key,
            json!({"customer": {"external_id": "c-ann", "name": "Ann", "email": "ann@example.net"}, "channel": "web"}),
        )
        .await;
    let id = res.body["id"].as_str().unwrap().to_string();
    let res = app
        .post(
            &format!("/v1/conversations/{id}/messages"),
            &app.api_key,
            json!({"role": "customer", "text": "I need to speak to an agent"}),
        )
        .await;
    assert_eq!(res.body["state"], "deferred", "{}", res.body);

    // A plain web conversation's agent reply is not emailed.
    let other = app.queued_conversation().await;
    app.claim_as_admin(&other).await;
    app.agent_says(&other, "Not for email").await;

    app.claim_as_admin(&id).await;
    app.agent_says(&id, "Hi Ann, your refund was sent today.")
        .await;
    app.agent_says(&id, "It takes 3 days to arrive.").await;
    let res = app
        .post(
            &format!("/v1/conversations/{id}/close"),
            &app.admin_token,
            json!({"resolution": "resolved"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    app.settle().await;

    let messages = mail(&smtp, 3).await;
    assert_eq!(messages.len(), 3, "{messages:#?}");
    let reference = id.trim_start_matches("conv_").to_ascii_uppercase();
    let tag = format!("[Case #{reference}]");
    let (first, second, transcript) = (&messages[0], &messages[1], &messages[2]);
    for m in &messages {
        assert_eq!(m.to, vec!["ann@example.net".to_string()]);
        assert!(m.subject.starts_with(&tag), "{}", m.subject);
    }
    assert!(
        first
            .body_text
            .contains("Hi Ann, your refund was sent today.")
    );
    assert!(second.body_text.contains("It takes 3 days to arrive."));
    let root = format!("<case-{}@acme.test>", reference.to_ascii_lowercase());
    assert_eq!(first.header("In-Reply-To"), Some(root.as_str()));
    let first_id = first.header("Message-ID").unwrap().to_string();
    assert_eq!(second.header("In-Reply-To"), Some(first_id.as_str()));
    assert!(
        second
            .header("References")
            .is_some_and(|r| r.contains(&root) && r.contains(&first_id)),
        "{:?}",
        second.headers
    );
    assert_eq!(
        transcript.subject,
        format!("{tag} Transcript of your conversation")
    );
    assert!(transcript.body_text.contains("I need to speak to an agent"));
    assert!(transcript.body_text.contains("It takes 3 days to arrive."));
    assert_eq!(transcript.header("In-Reply-To"), Some(root.as_str()));
}
both_backends!(email_deferred, email_deferred_reply_and_transcript);

/// The widget's "leave your email" form puts the address on the profile; the deferred
/// conversation's follow-up is emailed there (no address in the transcript needed).
async fn email_to_the_address_left_in_the_widget(backend: Backend, name: &str) {
    let Some(smtp) = SmtpServer::start_or_skip(name) else {
        return;
    };
    let Some(app) = ChannelApp::spawn(backend, name, Some(&smtp)).await else {
        return;
    };
    let res = app
        .put(
            "/v1/channels/email",
            &app.admin_token,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let res = app
        .put(
            "/v1/business-hours",
            &app.admin_token,
            json!({"tz": "UTC", "weekly": {}, "holidays": []}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let key = app
        .post("/v1/widget/key", &app.admin_token, json!({}))
        .await;
    let started = send(
        &app.client,
        Method::POST,
        &app.url("/v1/widget/conversations"),
        None,
        Some(json!({"public_key": key.body["public_key"], "customer": {"name": "Lena"}})),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.body);
    let id = started.body["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = started.body["token"].as_str().unwrap().to_string();
    let res = app
        .post(
            &format!("/v1/conversations/{id}/messages"),
            &token,
            json!({"text": "Talk to a person", "payload": "talk_to_human"}),
        )
        .await;
    assert_eq!(res.body["state"], "deferred", "{}", res.body);
    let res = app
        .post(
            &format!("/v1/conversations/{id}/contact"),
            &token,
            json!({"email": "lena@example.org"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    app.claim_as_admin(&id).await;
    app.agent_says(&id, "Hi Lena, here is your answer.").await;
    app.settle().await;
    let messages = mail(&smtp, 1).await;
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert_eq!(messages[0].to, vec!["lena@example.org".to_string()]);
    assert!(
        messages[0]
            .body_text
            .contains("Hi Lena, here is your answer.")
    );
}
both_backends!(
    email_left_in_widget,
    email_to_the_address_left_in_the_widget
);

async fn email_without_smtp_is_a_clear_dead_letter(backend: Backend, name: &str) {
    let Some(app) = ChannelApp::spawn(backend, name, None).await else {
        return;
    };
    let res = app
        .put(
            "/v1/channels/email",
            &app.admin_token,
            json!({"enabled": true, "notify_agents": [app.admin_id]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["smtp_configured"], false);
    app.queued_conversation().await;
    let deliveries = app.settle().await;
    let dead: Vec<_> = deliveries
        .iter()
        .filter(|d| d.state == DeliveryState::Dead)
        .collect();
    assert_eq!(dead.len(), 1, "{deliveries:#?}");
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("SMTP is not configured")),
        "{:?}",
        dead[0]
    );
    // Turning email off removes the subscription.
    let res = app
        .put(
            "/v1/channels/email",
            &app.admin_token,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let subs = app
        .instance
        .store
        .subscriptions(&app.tenant_id(), None)
        .await
        .unwrap();
    assert!(subs.is_empty(), "{subs:?}");
}
both_backends!(email_no_smtp, email_without_smtp_is_a_clear_dead_letter);
