//! The bots Baton runs on customer messages: the knowledge-base bot, a signed webhook bot and
//! an OpenAI-compatible LLM, each against local servers on port 0. Bot turns run in the
//! background; tests wait for them with `bots.settled()` (bounded), never with fixed sleeps.

mod common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use baton_server::AppState;
use common::*;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A test app plus the server's state (to await bot turns).
struct BotApp {
    app: TestApp,
    state: AppState,
}

impl std::ops::Deref for BotApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl BotApp {
    async fn spawn(backend: Backend, name: &str) -> Option<BotApp> {
        let db = database(backend, name).await?;
        let (instance, state) = start_instance_with_state(db.url()).await;
        let app = TestApp::with_instance(db, instance).await;
        Some(BotApp { app, state })
    }

    /// Waits (bounded) until no bot turn is running, then until routing has caught up with
    /// what they wrote.
    async fn settled(&self) {
        tokio::time::timeout(Duration::from_secs(20), self.state.engine.bots.settled())
            .await
            .expect("bot turns did not finish within 20 s");
        self.app.settle().await;
    }

    async fn set_bot(&self, config: Value) {
        let res = self.put("/v1/bot", &self.admin_token, config).await;
        assert_eq!(res.status, 200, "{}", res.body);
    }

    /// Imports the demo knowledge base into the tenant.
    async fn seed_demo_kb(&self) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../demo/kb");
        let tenant = baton_core::TenantId::parse(self.tenant.as_str()).unwrap();
        let now = baton_server::now();
        let articles: Vec<baton_store::KbArticle> = baton_kb::import_dir(dir)
            .unwrap()
            .into_iter()
            .map(|d| baton_store::KbArticle {
                id: d.slug,
                tenant: tenant.clone(),
                title: d.title,
                body: d.body,
                tags: d.tags,
                language: d.language,
                created_at: now,
                updated_at: now,
            })
            .collect();
        assert!(articles.len() > 10);
        baton_engine::service::save_kb_articles(
            self.instance.store.as_ref(),
            &tenant,
            &articles,
            &baton_core::conversation::Actor::System,
            now,
        )
        .await
        .unwrap();
    }

    async fn start(&self, language: Option<&str>) -> String {
        let res = self
            .post(
                "/v1/conversations",
                &self.api_key,
                json!({"customer": {"external_id": "c-1", "name": "Ann", "email": "ann@example.com", "language": language}, "channel": "web"}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        res.body["id"].as_str().unwrap().to_string()
    }

    /// Posts a customer message and waits for the bot's turn to finish.
    async fn customer_says(&self, id: &str, text: &str) -> Res {
        let res = self
            .post(
                &format!("/v1/conversations/{id}/messages"),
                &self.api_key,
                json!({"role": "customer", "text": text}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        self.settled().await;
        res
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

    async fn bot_messages(&self, id: &str) -> Vec<Value> {
        self.messages(id)
            .await
            .into_iter()
            .filter(|m| m["role"] == "bot")
            .collect()
    }

    async fn conversation_json(&self, id: &str) -> Value {
        let res = self
            .get(&format!("/v1/conversations/{id}"), &self.admin_token)
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        res.body
    }

    /// Asserts the bot failed over to a person.
    async fn assert_bot_unavailable(&self, id: &str) {
        let conv = self.conversation_json(id).await;
        assert_eq!(conv["state"], "queued", "{conv}");
        assert_eq!(conv["handoff"]["reason"], "bot_unavailable", "{conv}");
        assert_eq!(conv["handoff"]["source"], "bot", "{conv}");
        let messages = self.messages(id).await;
        let system: Vec<&Value> = messages.iter().filter(|m| m["role"] == "system").collect();
        assert_eq!(system.len(), 1, "{messages:?}");
        assert_eq!(
            system[0]["text"],
            "Let me connect you with a member of our team."
        );
        assert!(messages.iter().all(|m| m["role"] != "bot"), "{messages:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// A local bot server (webhook bot or OpenAI-compatible endpoint) with scripted behaviour.

#[derive(Clone)]
enum Mode {
    /// 200 with this JSON.
    Json(Value),
    /// This status with a small JSON error body.
    Status(u16),
    /// 204, no body.
    NoContent,
    /// 200 with a body that is not JSON.
    Garbage,
    /// Wait this long, then 200 with the JSON.
    Slow(Duration, Value),
    /// Wait until the gate opens, then 200 with the JSON.
    Gated(Arc<Notify>, Value),
}

/// One request the server received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("request body is JSON")
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

#[derive(Clone)]
struct ServerState {
    mode: Arc<Mutex<Mode>>,
    received: mpsc::UnboundedSender<Received>,
}

struct BotServer {
    url: String,
    mode: Arc<Mutex<Mode>>,
    received: mpsc::UnboundedReceiver<Received>,
}

impl BotServer {
    async fn start(mode: Mode) -> BotServer {
        let (tx, rx) = mpsc::unbounded_channel();
        let mode = Arc::new(Mutex::new(mode));
        let state = ServerState {
            mode: mode.clone(),
            received: tx,
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        BotServer {
            url,
            mode,
            received: rx,
        }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// The next request the server received (bounded wait).
    async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(10), self.received.recv())
            .await
            .expect("the bot server was not called")
            .expect("channel open")
    }

    fn assert_no_more(&mut self) {
        assert!(
            self.received.try_recv().is_err(),
            "the bot server was called again"
        );
    }
}

async fn handle(
    State(s): State<ServerState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let _ = s.received.send(Received {
        path: uri.path().to_string(),
        headers,
        body,
    });
    let mode = s.mode.lock().unwrap().clone();
    match mode {
        Mode::Json(v) => axum::Json(v).into_response(),
        Mode::Status(code) => (
            StatusCode::from_u16(code).unwrap(),
            axum::Json(json!({"error": {"message": "scripted failure"}})),
        )
            .into_response(),
        Mode::NoContent => StatusCode::NO_CONTENT.into_response(),
        Mode::Garbage => (StatusCode::OK, "<html>oops</html>").into_response(),
        Mode::Slow(d, v) => {
            tokio::time::sleep(d).await;
            axum::Json(v).into_response()
        }
        Mode::Gated(gate, v) => {
            gate.notified().await;
            axum::Json(v).into_response()
        }
    }
}

fn webhook_config(url: &str, timeout_ms: u64) -> Value {
    json!({"type": "webhook", "webhook": {"url": format!("{url}/bot"), "secret": SECRET, "timeout_ms": timeout_ms}})
}

fn llm_config(url: &str, timeout_ms: u64) -> Value {
    json!({"type": "llm", "llm": {"base_url": format!("{url}/v1"), "model": "test-model-1", "api_key": "sk-test", "timeout_ms": timeout_ms, "temperature": 0.1}})
}

fn completion(content: Option<&str>, tool_reason: Option<&str>) -> Value {
    let tool_calls: Vec<Value> = tool_reason
        .map(|r| {
            json!({"id": "call_1", "type": "function", "function": {"name": "handoff_to_human", "arguments": json!({"reason": r}).to_string()}})
        })
        .into_iter()
        .collect();
    let mut message = json!({"role": "assistant", "content": content});
    if !tool_calls.is_empty() {
        message["tool_calls"] = json!(tool_calls);
    }
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "test-model-1",
        "choices": [{"index": 0, "message": message, "finish_reason": if tool_reason.is_some() { "tool_calls" } else { "stop" }}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    })
}

// ---------------------------------------------------------------------------------------------
// Knowledge-base bot

#[tokio::test]
async fn kb_bot_answers_from_the_knowledge_base() {
    let Some(app) = BotApp::spawn(Backend::Sqlite, "bots_kb_answer").await else {
        return;
    };
    app.seed_demo_kb().await;
    // No bot by default: a customer message gets no reply.
    let id = app.start(None).await;
    app.customer_says(&id, "Where is my package? How can I track my order?")
        .await;
    assert!(app.bot_messages(&id).await.is_empty());

    app.set_bot(json!({"type": "kb"})).await;
    let id = app.start(None).await;
    app.customer_says(&id, "Where is my package? How can I track my order?")
        .await;
    let bot = app.bot_messages(&id).await;
    assert_eq!(bot.len(), 1, "{bot:?}");
    let text = bot[0]["text"].as_str().unwrap();
    assert!(text.starts_with("Here's what I found in “"), "{text}");
    assert_eq!(bot[0]["bot"]["intent"], "track-your-order", "{}", bot[0]);
    let confidence = bot[0]["bot"]["confidence"].as_f64().unwrap();
    assert!((0.5..=1.0).contains(&confidence), "confidence {confidence}");
    assert_eq!(bot[0]["bot"]["fallback"], false);
    assert_eq!(app.conversation_json(&id).await["state"], "bot");

    // A Spanish-speaking customer gets Spanish phrasing (and the Spanish article).
    let es = app.start(Some("es")).await;
    app.customer_says(
        &es,
        "¿Dónde está mi pedido? Quiero hacer el seguimiento del envío",
    )
    .await;
    let bot = app.bot_messages(&es).await;
    assert_eq!(bot.len(), 1, "{bot:?}");
    assert!(
        bot[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Esto es lo que encontré en “"),
        "{}",
        bot[0]
    );
}

#[tokio::test]
async fn kb_bot_unsure_twice_escalates_on_low_confidence() {
    let Some(app) = BotApp::spawn(Backend::Sqlite, "bots_kb_unsure").await else {
        return;
    };
    app.staff().await;
    app.seed_demo_kb().await;
    app.set_bot(json!({"type": "kb", "kb": {"threshold": 0.35, "max_articles": 3}}))
        .await;
    let id = app.start(None).await;
    app.customer_says(&id, "The purple giraffe hums quietly at dawn")
        .await;
    let bot = app.bot_messages(&id).await;
    assert_eq!(bot.len(), 1, "{bot:?}");
    assert!(
        bot[0]["text"].as_str().unwrap().starts_with("I'm not sure"),
        "{}",
        bot[0]
    );
    assert_eq!(bot[0]["bot"]["fallback"], true);
    assert!(
        bot[0]["bot"]["confidence"].as_f64().unwrap() < 0.35,
        "{}",
        bot[0]
    );
    assert_eq!(app.conversation_json(&id).await["state"], "bot");

    app.customer_says(&id, "Zebras whistle softly under the moonlight")
        .await;
    let bot = app.bot_messages(&id).await;
    assert_eq!(bot.len(), 2, "{bot:?}");
    assert_eq!(
        bot[1]["text"],
        "I'm still not sure I can help with this. Would you like me to connect you with a person?"
    );
    let conv = app.conversation_json(&id).await;
    assert_eq!(conv["state"], "queued", "{conv}");
    assert_eq!(
        conv["handoff"]["reason"], "low_confidence",
        "{}",
        conv["escalation"]
    );
}

#[tokio::test]
async fn kb_bot_helps_while_waiting_and_is_silent_once_assigned() {
    let Some(app) = BotApp::spawn(Backend::Sqlite, "bots_kb_waiting").await else {
        return;
    };
    app.staff().await;
    app.seed_demo_kb().await;
    app.set_bot(json!({"type": "kb"})).await;
    let id = app.start(None).await;
    let res = app
        .post(
            &format!("/v1/conversations/{id}/handoff"),
            &app.api_key,
            json!({"reason": "customer_request"}),
        )
        .await;
    assert_eq!(res.body["state"], "queued", "{}", res.body);

    // Unsure while waiting: ask once for details, marked as a while-waiting turn.
    app.customer_says(&id, "hello? anyone there?").await;
    let bot = app.bot_messages(&id).await;
    assert_eq!(bot.len(), 1, "{bot:?}");
    assert_eq!(
        bot[0]["text"],
        "While you wait, could you give me your order number or any other details that will help our team?"
    );
    assert_eq!(bot[0]["bot"]["intent"], "while_waiting");
    // Sure while waiting: answer, marked too.
    app.customer_says(&id, "How do I reset my password?").await;
    let bot = app.bot_messages(&id).await;
    assert_eq!(bot.len(), 2, "{bot:?}");
    assert!(
        bot[1]["text"]
            .as_str()
            .unwrap()
            .starts_with("While you wait, here's what I found in “"),
        "{}",
        bot[1]
    );
    assert_eq!(bot[1]["bot"]["intent"], "while_waiting");
    // Not asked twice.
    app.customer_says(&id, "still waiting").await;
    let bot = app.bot_messages(&id).await;
    assert_eq!(bot.len(), 2, "{bot:?}");

    // Once a person owns it, the bot never writes to the customer.
    let claim = app
        .post(
            &format!("/v1/conversations/{id}/claim"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(claim.status, 200, "{}", claim.body);
    app.customer_says(&id, "How do I reset my password?").await;
    assert_eq!(app.bot_messages(&id).await.len(), 2);
    assert_eq!(app.conversation_json(&id).await["state"], "assigned");
}

#[tokio::test]
async fn kb_bot_does_not_search_the_talk_to_a_person_button() {
    let Some(app) = BotApp::spawn(Backend::Sqlite, "bots_kb_button").await else {
        return;
    };
    app.staff().await;
    app.seed_demo_kb().await;
    // An article that the button's label would find if it were searched.
    let res = app
        .post(
            "/v1/kb/articles",
            &app.admin_token,
            json!({"id": "reach-a-person", "title": "Talk to a person on our team",
                   "body": "To talk to a person, open the chat and ask for a person.", "language": "en"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    app.set_bot(json!({"type": "kb"})).await;
    let id = app.start(None).await;
    let res = app
        .post(
            &format!("/v1/conversations/{id}/messages"),
            &app.api_key,
            json!({"role": "customer", "text": "Talk to a person", "payload": "talk_to_human"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    app.settled().await;
    let conv = app.conversation_json(&id).await;
    assert_eq!(conv["state"], "queued", "{conv}");
    // A plain request for a person, never frustration.
    assert_eq!(conv["handoff"]["reason"], "human_request", "{conv}");
    assert_eq!(
        res.body["escalation"]["signals"]["frustration"]["frustrated"], false,
        "{}",
        res.body["escalation"]
    );
    // The bot asks for details while the customer waits; it does not answer the label.
    let bot = app.bot_messages(&id).await;
    assert_eq!(bot.len(), 1, "{bot:?}");
    assert_eq!(
        bot[0]["text"],
        "While you wait, could you give me your order number or any other details that will help our team?"
    );
    // Words the customer types are searched as before.
    app.customer_says(&id, "How do I reset my password?").await;
    let bot = app.bot_messages(&id).await;
    assert_eq!(bot.len(), 2, "{bot:?}");
    assert!(
        bot[1]["text"]
            .as_str()
            .unwrap()
            .starts_with("While you wait, here's what I found in “"),
        "{}",
        bot[1]
    );
}

// ---------------------------------------------------------------------------------------------
// Webhook bot

#[tokio::test]
async fn webhook_bot_gets_signed_requests_and_its_replies_are_stored() {
    let Some(app) = BotApp::spawn(Backend::Sqlite, "bots_webhook_reply").await else {
        return;
    };
    let mut server = BotServer::start(Mode::Json(
        json!({"text": "Your order ships tomorrow.", "confidence": 0.92, "intent": "order_status"}),
    ))
    .await;
    app.set_bot(webhook_config(&server.url, 2000)).await;
    let id = app.start(Some("en")).await;
    let posted = app.customer_says(&id, "when does my order ship?").await;
    let message_id = posted.body["message"]["id"].as_str().unwrap().to_string();

    let req = server.next().await;
    assert_eq!(req.path, "/bot");
    // Verify the Standard Webhooks signature independently.
    let (wid, ts, sig) = (
        req.header("webhook-id"),
        req.header("webhook-timestamp"),
        req.header("webhook-signature"),
    );
    assert_eq!(wid, message_id);
    let ts_num: i64 = ts.parse().expect("timestamp is seconds");
    assert!((baton_server::now().millis() / 1000 - ts_num).abs() < 60);
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(format!("{wid}.{ts}.{}", req.body).as_bytes());
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(sig, expected);
    let body = req.json();
    assert_eq!(body["conversation_id"], id.as_str());
    assert_eq!(body["message"]["text"], "when does my order ship?");
    assert_eq!(body["message"]["role"], "customer");
    assert_eq!(body["state"], "bot");
    assert_eq!(body["customer"]["name"], "Ann");
    assert!(body["history"].as_array().unwrap().is_empty(), "{body}");

    let bot = app.bot_messages(&id).await;
    assert_eq!(bot.len(), 1, "{bot:?}");
    assert_eq!(bot[0]["text"], "Your order ships tomorrow.");
    assert_eq!(bot[0]["bot"]["confidence"], 0.92);
    assert_eq!(bot[0]["bot"]["intent"], "order_status");

    // The next turn carries the history.
    app.customer_says(&id, "thanks!").await;
    let history = server.next().await.json()["history"].clone();
    assert_eq!(history.as_array().unwrap().len(), 2, "{history}");
    assert_eq!(history[1]["role"], "bot");

    // In a long conversation the bot sees its end: the last 10 turns before the message,
    // without the agents' internal notes.
    for i in 0..25 {
        let res = app
            .post(
                &format!("/v1/conversations/{id}/messages"),
                &app.api_key,
                json!({"role": "bot", "text": format!("turn {i}")}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.body);
        if i % 5 == 0 {
            let res = app
                .post(
                    &format!("/v1/conversations/{id}/notes"),
                    &app.admin_token,
                    json!({"text": format!("note {i}")}),
                )
                .await;
            assert_eq!(res.status, 201, "{}", res.body);
        }
    }
    app.customer_says(&id, "one more question").await;
    let history = server.next().await.json()["history"].clone();
    let texts: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (15..25).map(|i| format!("turn {i}")).collect();
    assert_eq!(texts, expected, "{history}");
}

#[tokio::test]
async fn webhook_bot_handoff_and_answer_later() {
    let Some(app) = BotApp::spawn(Backend::Sqlite, "bots_webhook_handoff").await else {
        return;
    };
    app.staff().await;
    let q = app
        .post(
            "/v1/queues",
            &app.admin_token,
            json!({"id": "billing", "name": "Billing"}),
        )
        .await;
    assert_eq!(q.status, 201, "{}", q.body);
    let mut server = BotServer::start(Mode::NoContent).await;
    app.set_bot(webhook_config(&server.url, 2000)).await;

    // 204: the bot answers later through the API; nothing is posted meanwhile.
    let id = app.start(None).await;
    app.customer_says(&id, "what are your opening hours?").await;
    server.next().await;
    let messages = app.messages(&id).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(app.conversation_json(&id).await["state"], "bot");
    let later = app
        .post(
            &format!("/v1/conversations/{id}/messages"),
            &app.api_key,
            json!({"role": "bot", "text": "We are open 9-17.", "bot": {"confidence": 0.9}}),
        )
        .await;
    assert_eq!(later.status, 201, "{}", later.body);

    // A handoff request: the reply is posted, then the conversation goes to the chosen queue.
    server.set(Mode::Json(
        json!({"text": "Let me get someone from billing.", "confidence": 0.8,
        "handoff": {"reason": "needs_billing_agent", "queue": "billing"}}),
    ));
    app.customer_says(&id, "and can you look at my account?")
        .await;
    server.next().await;
    let conv = app.conversation_json(&id).await;
    assert_eq!(conv["state"], "queued", "{conv}");
    assert_eq!(conv["handoff"]["reason"], "needs_billing_agent");
    assert_eq!(conv["handoff"]["source"], "bot");
    assert_eq!(conv["queue"], "billing");
    let bot = app.bot_messages(&id).await;
    assert_eq!(
        bot.last().unwrap()["text"],
        "Let me get someone from billing."
    );
    server.assert_no_more();
}

#[tokio::test]
async fn a_bot_handoff_is_routed_to_an_available_agent() {
    let Some(app) = BotApp::spawn(Backend::Sqlite, "bots_handoff_routed").await else {
        return;
    };
    let (agent, token) = app.person("agent@test.example", "agent").await;
    let res = app
        .put(
            "/v1/agents/me/status",
            &token,
            json!({"status": "available"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let mut server =
        BotServer::start(Mode::Json(json!({"handoff": {"reason": "needs_a_person"}}))).await;
    app.set_bot(webhook_config(&server.url, 2000)).await;
    let id = app.start(None).await;
    app.customer_says(&id, "what are your opening hours?").await;
    server.next().await;
    let conv = app.conversation_json(&id).await;
    assert_eq!(conv["handoff"]["reason"], "needs_a_person", "{conv}");
    assert_eq!(
        conv["offer"]["agent"],
        agent.as_str(),
        "routed after the bot's handoff: {conv}"
    );
    // The agent gets the brief, as for any handoff.
    assert!(conv["brief"].is_object(), "{conv}");
}

#[tokio::test]
async fn webhook_bot_failures_hand_over_to_a_person() {
    let Some(app) = BotApp::spawn(Backend::Sqlite, "bots_webhook_failures").await else {
        return;
    };
    app.staff().await;
    let mut server = BotServer::start(Mode::Status(500)).await;
    app.set_bot(webhook_config(&server.url, 200)).await;
    for (name, mode) in [
        ("500", Mode::Status(500)),
        (
            "timeout",
            Mode::Slow(Duration::from_secs(3), json!({"text": "too late"})),
        ),
        ("garbage", Mode::Garbage),
        (
            "invalid",
            Mode::Json(json!({"text": "hm", "confidence": 3})),
        ),
    ] {
        server.set(mode);
        let id = app.start(None).await;
        app.customer_says(&id, "what are your opening hours?").await;
        server.next().await;
        eprintln!("case {name}");
        app.assert_bot_unavailable(&id).await;
    }
}

#[tokio::test]
async fn a_reply_that_arrives_after_an_agent_took_over_is_dropped() {
    let Some(app) = BotApp::spawn(Backend::Sqlite, "bots_webhook_silenced").await else {
        return;
    };
    app.staff().await;
    let gate = Arc::new(Notify::new());
    let mut server = BotServer::start(Mode::Gated(
        gate.clone(),
        json!({"text": "While you wait...", "confidence": 0.9}),
    ))
    .await;
    app.set_bot(webhook_config(&server.url, 5000)).await;
    let id = app.start(None).await;
    let res = app
        .post(
            &format!("/v1/conversations/{id}/handoff"),
            &app.api_key,
            json!({"reason": "customer_request"}),
        )
        .await;
    assert_eq!(res.body["state"], "queued");
    let res = app
        .post(
            &format!("/v1/conversations/{id}/messages"),
            &app.api_key,
            json!({"role": "customer", "text": "my order number is 1234"}),
        )
        .await;
    assert_eq!(res.status, 201);
    let req = server.next().await;
    assert_eq!(req.json()["state"], "queued");
    // The bot is still thinking when an agent claims the conversation.
    let claim = app
        .post(
            &format!("/v1/conversations/{id}/claim"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(claim.status, 200, "{}", claim.body);
    gate.notify_one();
    app.settled().await;
    assert!(app.bot_messages(&id).await.is_empty());
    assert_eq!(app.conversation_json(&id).await["state"], "assigned");
}

// ---------------------------------------------------------------------------------------------
// LLM bot

#[tokio::test]
async fn llm_bot_answers_with_knowledge_base_context() {
    let Some(app) = BotApp::spawn(Backend::Sqlite, "bots_llm_answer").await else {
        return;
    };
    app.seed_demo_kb().await;
    let mut server = BotServer::start(Mode::Json(completion(
        Some("You can track it under Orders → Track package."),
        None,
    )))
    .await;
    app.set_bot(llm_config(&server.url, 2000)).await;
    let id = app.start(None).await;
    app.customer_says(&id, "Where is my package? How can I track my order?")
        .await;
    let req = server.next().await;
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(req.header("authorization"), "Bearer sk-test");
    let body = req.json();
    assert_eq!(body["model"], "test-model-1");
    assert_eq!(body["temperature"], 0.1);
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["name"], "handoff_to_human");
    assert_eq!(
        body["tools"][0]["function"]["parameters"]["required"],
        json!(["reason"])
    );
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().unwrap();
    assert!(system.contains("Knowledge base articles:"), "{system}");
    assert!(
        system.contains("Tracking your order") && system.contains("tracking number"),
        "{system}"
    );
    assert_eq!(messages.last().unwrap()["role"], "user");
    assert_eq!(
        messages.last().unwrap()["content"],
        "Where is my package? How can I track my order?"
    );

    let bot = app.bot_messages(&id).await;
    assert_eq!(bot.len(), 1, "{bot:?}");
    assert_eq!(
        bot[0]["text"],
        "You can track it under Orders → Track package."
    );
    let confidence = bot[0]["bot"]["confidence"].as_f64().unwrap();
    assert!(
        confidence > 0.6 && confidence <= 1.0,
        "grounded answer: {confidence}"
    );
    assert_eq!(app.conversation_json(&id).await["state"], "bot");

    // The transcript goes along as user/assistant turns.
    app.customer_says(&id, "thanks").await;
    let messages = server.next().await.json()["messages"].clone();
    let roles: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
}

#[tokio::test]
async fn llm_tool_call_hands_over_with_the_models_reason() {
    let Some(app) = BotApp::spawn(Backend::Sqlite, "bots_llm_tool").await else {
        return;
    };
    app.staff().await;
    let mut server = BotServer::start(Mode::Json(completion(
        None,
        Some("Customer disputes a delivery"),
    )))
    .await;
    app.set_bot(llm_config(&server.url, 2000)).await;
    let id = app.start(None).await;
    app.customer_says(&id, "the driver says delivered but nothing is here")
        .await;
    server.next().await;
    let conv = app.conversation_json(&id).await;
    assert_eq!(conv["state"], "queued", "{conv}");
    assert_eq!(
        conv["handoff"]["reason"],
        "llm:customer_disputes_a_delivery"
    );
    assert_eq!(conv["handoff"]["source"], "llm");
    assert_eq!(
        conv["handoff"]["note"], "Customer disputes a delivery",
        "{conv}"
    );
    assert!(app.bot_messages(&id).await.is_empty());

    // Text and a tool call together: the text is posted first.
    server.set(Mode::Json(completion(
        Some("I'll get a colleague."),
        Some("wants a person"),
    )));
    let other = app.start(None).await;
    app.customer_says(&other, "the driver says delivered but nothing is here")
        .await;
    server.next().await;
    assert_eq!(
        app.bot_messages(&other).await[0]["text"],
        "I'll get a colleague."
    );
    assert_eq!(
        app.conversation_json(&other).await["handoff"]["reason"],
        "llm:wants_a_person"
    );
}

#[tokio::test]
async fn llm_errors_and_timeouts_hand_over_to_a_person() {
    let Some(app) = BotApp::spawn(Backend::Sqlite, "bots_llm_errors").await else {
        return;
    };
    app.staff().await;
    let mut server = BotServer::start(Mode::Status(429)).await;
    app.set_bot(llm_config(&server.url, 200)).await;
    for (name, mode) in [
        ("429", Mode::Status(429)),
        ("500", Mode::Status(500)),
        (
            "timeout",
            Mode::Slow(Duration::from_secs(3), completion(Some("too late"), None)),
        ),
        ("no choices", Mode::Json(json!({"choices": []}))),
    ] {
        server.set(mode);
        let id = app.start(None).await;
        app.customer_says(&id, "what are your opening hours?").await;
        server.next().await;
        eprintln!("case {name}");
        app.assert_bot_unavailable(&id).await;
    }
}

#[tokio::test]
async fn llm_bot_on_postgres() {
    let Some(app) = BotApp::spawn(Backend::Postgres, "bots_llm_pg").await else {
        return;
    };
    let mut server =
        BotServer::start(Mode::Json(completion(Some("Hello from the model."), None))).await;
    app.set_bot(llm_config(&server.url, 2000)).await;
    let id = app.start(None).await;
    app.customer_says(&id, "hi there").await;
    server.next().await;
    assert_eq!(
        app.bot_messages(&id).await[0]["text"],
        "Hello from the model."
    );
}

// ---------------------------------------------------------------------------------------------
// Configuration API

#[tokio::test]
async fn bot_configuration_is_validated_and_secrets_are_redacted() {
    let Some(app) = BotApp::spawn(Backend::Sqlite, "bots_config").await else {
        return;
    };
    let res = app.get("/v1/bot", &app.admin_token).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["type"], "none");
    assert_eq!(res.body["kb"]["threshold"], 0.35);

    for (body, field) in [
        (json!({"type": "webhook"}), "webhook"),
        (
            json!({"type": "webhook", "webhook": {"url": "ftp://bot.example", "secret": "s"}}),
            "webhook.url",
        ),
        (
            json!({"type": "webhook", "webhook": {"url": "https://bot.example", "secret": ""}}),
            "webhook.secret",
        ),
        (
            json!({"type": "webhook", "webhook": {"url": "https://bot.example", "secret": "s", "timeout_ms": 99}}),
            "webhook.timeout_ms",
        ),
        (
            json!({"type": "llm", "llm": {"base_url": "https://api.example/v1", "model": "m", "timeout_ms": 30001}}),
            "llm.timeout_ms",
        ),
        (
            json!({"type": "llm", "llm": {"base_url": "https://api.example/v1"}}),
            "llm.model",
        ),
        (
            json!({"type": "llm", "llm": {"base_url": "not a url", "model": "m"}}),
            "llm.base_url",
        ),
        (
            json!({"type": "kb", "kb": {"threshold": 1.5}}),
            "kb.threshold",
        ),
        (json!({"type": "carrier_pigeon"}), "bot"),
        (json!({"type": "kb", "color": "blue"}), "bot"),
    ] {
        let res = app.put("/v1/bot", &app.admin_token, body.clone()).await;
        res.assert_error(422, "invalid_bot");
        let message = res.body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{body}: {message}"
        );
    }
    assert_eq!(
        app.get("/v1/bot", &app.admin_token).await.body["type"],
        "none",
        "nothing half-applied"
    );

    let config = json!({"type": "llm", "kb": {"threshold": 0.4, "max_articles": 2},
        "webhook": {"url": "https://bot.example/hook", "secret": "whsec_c2VjcmV0", "timeout_ms": 3000},
        "llm": {"base_url": "https://api.example/v1", "model": "m-1", "api_key": "sk-secret", "timeout_ms": 10000}});
    let res = app.put("/v1/bot", &app.admin_token, config).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(res.body["llm"]["api_key"], "***");
    let (_, supervisor) = app.person("sup@test.example", "supervisor").await;
    let shown = app.get("/v1/bot", &supervisor).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(shown.body["type"], "llm");
    assert_eq!(shown.body["webhook"]["secret"], "***");
    assert_eq!(shown.body["llm"]["api_key"], "***");
    assert_eq!(shown.body["llm"]["model"], "m-1");
    assert!(!shown.body.to_string().contains("sk-secret"));
    // Secrets stay out of the audit trail too.
    let events = app
        .instance
        .store
        .events_by_seq(&(1..500).collect::<Vec<_>>())
        .await
        .unwrap();
    let updated: Vec<_> = events
        .iter()
        .filter(|e| e.kind() == "bot_updated")
        .collect();
    assert_eq!(updated.len(), 1);
    assert!(
        !updated[0].body.to_json().to_string().contains("sk-secret"),
        "{}",
        updated[0].body.to_json()
    );

    // Writing back what was read keeps the secrets; the stored key is the original.
    let mut edited = shown.body.clone();
    edited["llm"]["model"] = json!("m-2");
    let res = app.put("/v1/bot", &app.admin_token, edited).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let tenant = baton_core::TenantId::parse(app.tenant.as_str()).unwrap();
    let stored = app
        .instance
        .store
        .setting(&tenant, "bot")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["llm"]["api_key"], "sk-secret");
    assert_eq!(stored["llm"]["model"], "m-2");
    assert_eq!(stored["webhook"]["secret"], "whsec_c2VjcmV0");

    // Only admins change it; agents cannot read it.
    app.put("/v1/bot", &supervisor, json!({"type": "none"}))
        .await
        .assert_error(403, "forbidden");
    let (_, agent) = app.person("agent@test.example", "agent").await;
    app.get("/v1/bot", &agent)
        .await
        .assert_error(403, "forbidden");
    assert_eq!(app.get("/v1/bot", &app.api_key).await.status, 403);
}

// ---------------------------------------------------------------------------------------------
// LLM for agents: the brief's summary and a copilot draft

#[tokio::test]
async fn a_configured_llm_writes_the_brief_summary_and_a_draft() {
    let Some(app) = BotApp::spawn(Backend::Sqlite, "bots_llm_summary").await else {
        return;
    };
    app.staff().await;
    let server = BotServer::start(Mode::Json(completion(
        Some("Ann wants a refund for order 1234; the bot could not help; she asked for a person."),
        None,
    )))
    .await;
    app.set_bot(llm_config(&server.url, 2000)).await;
    let id = app.start(None).await;
    app.customer_says(
        &id,
        "I want a refund for order 1234, let me talk to a human",
    )
    .await;
    let conv = app.conversation_json(&id).await;
    assert_eq!(conv["state"], "queued", "{conv}");
    let brief = &conv["brief"];
    assert_eq!(brief["summary_source"], "llm", "{brief}");
    assert!(
        brief["summary"]
            .as_str()
            .unwrap()
            .starts_with("Ann wants a refund"),
        "{brief}"
    );
    // The handoff event carries the same brief.
    let events = app
        .get(&format!("/v1/conversations/{id}/events"), &app.admin_token)
        .await;
    let built = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "brief_built")
        .cloned();
    assert_eq!(
        built.expect("brief_built event")["data"]["brief"]["summary_source"],
        "llm"
    );
    let drafts = app
        .get(&format!("/v1/conversations/{id}/drafts"), &app.admin_token)
        .await;
    assert_eq!(drafts.status, 200, "{}", drafts.body);
    assert!(
        drafts.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == "llm:reply" && d["source"] == "llm"),
        "{}",
        drafts.body
    );
}

// ---------------------------------------------------------------------------------------------
// The bot's turn is a durable job

/// A customer message whose instance died before its bot answered: the message's transaction
/// enqueued the bot's turn as a job, and once the lease runs out a job worker (here, the
/// server's own) runs it. Run a second time, the turn stores its reply once.
async fn a_bot_turn_outlives_the_instance_that_took_the_message(backend: Backend, name: &str) {
    use baton_core::conversation::Actor;
    use baton_engine::service::{self, Detection, NewMessage};
    let Some(app) = BotApp::spawn(backend, name).await else {
        return;
    };
    app.seed_demo_kb().await;
    app.set_bot(json!({"type": "kb"})).await;
    let id = app.start(None).await;
    let store = app.instance.store.clone();
    let tenant = baton_core::TenantId::parse(app.tenant.as_str()).unwrap();
    let conversation = baton_core::ConversationId::parse(&id).unwrap();
    let detector = baton_core::escalation::Detector::with_defaults();
    // What the pipeline does up to the commit; the instance "dies" before it runs the turn.
    let outcome = service::post_message(
        store.as_ref(),
        &tenant,
        &conversation,
        NewMessage {
            role: baton_core::MessageRole::Customer,
            text: "Where is my package? How can I track my order?".into(),
            external_id: None,
            bot: None,
        },
        &Actor::Customer,
        baton_server::now(),
        Some(Detection {
            detector: &detector,
            business_open: None,
            payload: None,
            review_below: None,
            bot: true,
        }),
    )
    .await
    .unwrap();
    let job = outcome
        .bot_job
        .expect("the message enqueued the bot's turn");
    assert_eq!(
        service::parse_bot_job(&job),
        Some((conversation.clone(), outcome.message.id.clone(), false))
    );
    // Leased to the instance that took the message: no worker runs it yet.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(app.bot_messages(&id).await.is_empty());
    // The lease runs out (as BOT_JOB_LEASE_MS after a crash): the job worker answers.
    let mut tx = store.begin().await.unwrap();
    tx.set_timer(&tenant, &job, Some(baton_server::now()))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let bot = loop {
        let bot = app.bot_messages(&id).await;
        if !bot.is_empty() || tokio::time::Instant::now() > deadline {
            break bot;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(bot.len(), 1, "{bot:?}");
    assert_eq!(bot[0]["bot"]["intent"], "track-your-order", "{}", bot[0]);
    // The same turn run again (its instance died after the reply, before removing the row).
    baton_engine::bots::runner::run_job(&app.state.engine, &tenant, &job)
        .await
        .unwrap();
    assert_eq!(app.bot_messages(&id).await.len(), 1);
}

#[tokio::test]
async fn a_bot_turn_outlives_its_instance_sqlite() {
    a_bot_turn_outlives_the_instance_that_took_the_message(Backend::Sqlite, "bots_job_sqlite")
        .await;
}

#[tokio::test]
async fn a_bot_turn_outlives_its_instance_postgres() {
    a_bot_turn_outlives_the_instance_that_took_the_message(Backend::Postgres, "bots_job_pg").await;
}
