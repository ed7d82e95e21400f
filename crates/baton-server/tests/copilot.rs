//! The agent copilot: drafts with recorded choices, canned responses, review mode.

mod common;

use common::*;
use serde_json::{Value, json};

async fn assigned_to(app: &TestApp, token: &str) -> String {
    let id = app.conversation().await;
    let r = app
        .post(
            &format!("/v1/conversations/{id}/messages"),
            &app.api_key,
            json!({"role": "customer", "text": "How do I reset my password? The link expired."}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Handed off by the channel, then claimed by the agent (agents cannot see, let alone take
    // over, conversations that are still with the bot).
    let handed = app
        .post(
            &format!("/v1/conversations/{id}/handoff"),
            &app.api_key,
            json!({"reason": "customer_request"}),
        )
        .await;
    assert_eq!(handed.status, 200, "{}", handed.body);
    let claimed = app
        .post(&format!("/v1/conversations/{id}/claim"), token, json!({}))
        .await;
    assert_eq!(claimed.status, 200, "{}", claimed.body);
    id
}

#[tokio::test]
async fn drafts_come_from_the_knowledge_base_and_canned_responses() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, "copilot_drafts").await else {
        return;
    };
    let (_, agent) = app.person("eva@test.example", "agent").await;
    let a = app
        .post("/v1/kb/articles", &app.admin_token, json!({"id": "password-reset", "title": "Reset your password",
            "body": "Open Sign in, choose Forgot password and follow the link we email you. Links expire after one hour."}))
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let canned = json!([
        {"id": "reset-link", "title": "Password link expired", "text": "Hi {customer_name}, I'm {agent_name}. I've sent you a fresh reset link.", "tags": ["password", "expired"]},
        {"id": "refund", "title": "Refund issued", "text": "Your refund is on its way.", "tags": ["refund"]}
    ]);
    app.put(
        "/v1/canned-responses",
        &app.admin_token,
        json!([{"id": "x", "title": "", "text": "t"}]),
    )
    .await
    .assert_error(422, "missing_field");
    app.put("/v1/canned-responses", &agent, canned.clone())
        .await
        .assert_error(403, "forbidden");
    assert_eq!(
        app.put("/v1/canned-responses", &app.admin_token, canned)
            .await
            .status,
        200
    );

    let id = assigned_to(&app, &agent).await;
    let drafts = app
        .get(&format!("/v1/conversations/{id}/drafts"), &agent)
        .await;
    assert_eq!(drafts.status, 200, "{}", drafts.body);
    let items = drafts.body["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"kb:password-reset"), "{ids:?}");
    assert!(ids.contains(&"canned:reset-link"), "{ids:?}");
    assert!(
        !ids.contains(&"canned:refund"),
        "irrelevant canned responses are left out: {ids:?}"
    );
    let canned_text = items
        .iter()
        .find(|d| d["id"] == "canned:reset-link")
        .unwrap()["text"]
        .as_str()
        .unwrap();
    assert!(
        canned_text.contains("Hi John") && canned_text.contains("I'm eva"),
        "{canned_text}"
    );

    // Sending as is, editing, ignoring: each is an event; sent drafts reach the transcript.
    let sent = app
        .post(
            &format!("/v1/conversations/{id}/drafts/use"),
            &agent,
            json!({"draft_id": "canned:reset-link", "action": "sent", "text": canned_text}),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let edited = app
        .post(&format!("/v1/conversations/{id}/drafts/use"), &agent, json!({"draft_id": "kb:password-reset", "action": "edited", "text": "Hi John, use Forgot password on the sign-in page."}))
        .await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert_eq!(
        app.post(
            &format!("/v1/conversations/{id}/drafts/use"),
            &agent,
            json!({"draft_id": "kb:password-reset", "action": "ignored"})
        )
        .await
        .status,
        200
    );
    app.post(
        &format!("/v1/conversations/{id}/drafts/use"),
        &agent,
        json!({"draft_id": "kb:password-reset", "action": "sent"}),
    )
    .await
    .assert_error(422, "missing_field");
    app.post(
        &format!("/v1/conversations/{id}/drafts/use"),
        &agent,
        json!({"draft_id": "magic:1", "action": "sent", "text": "x"}),
    )
    .await
    .assert_error(422, "invalid_field");
    let events = app
        .get(&format!("/v1/conversations/{id}/events"), &agent)
        .await;
    let uses: Vec<&str> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "draft_used")
        .map(|e| e["data"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(uses, ["sent", "edited", "ignored"]);
    let messages = app
        .get(&format!("/v1/conversations/{id}/messages"), &agent)
        .await;
    let agent_turns = messages.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "agent")
        .count();
    assert_eq!(agent_turns, 2);

    // Another agent cannot use drafts on a conversation they do not own.
    let (_, other) = app.person("otto@test.example", "agent").await;
    app.post(
        &format!("/v1/conversations/{id}/drafts/use"),
        &other,
        json!({"draft_id": "kb:password-reset", "action": "ignored"}),
    )
    .await
    .assert_error(409, "not_assignee");
}

/// A handed-off conversation of a customer who writes `text`, with `profile` as their
/// customer fields, claimed by the agent.
async fn claimed_with(app: &TestApp, token: &str, profile: Value, text: &str) -> String {
    let r = app
        .post(
            "/v1/conversations",
            &app.api_key,
            json!({"customer": profile, "channel": "web"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = app
        .post(
            &format!("/v1/conversations/{id}/messages"),
            &app.api_key,
            json!({"role": "customer", "text": text}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    for path in ["handoff", "claim"] {
        let (who, body) = if path == "handoff" {
            (app.api_key.as_str(), json!({"reason": "customer_request"}))
        } else {
            (token, json!({}))
        };
        let r = app
            .post(&format!("/v1/conversations/{id}/{path}"), who, body)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    id
}

#[tokio::test]
async fn drafts_and_the_greeting_speak_the_customers_language_and_fit_the_question() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn(backend, "copilot_language").await else {
            continue;
        };
        let (_, agent) = app.person("eva@test.example", "agent").await;
        for article in [
            json!({"id": "charged-twice", "title": "Charged twice for one order",
                "body": "Sometimes a payment shows twice while the bank holds the amount. The hold drops within three business days. If both charges remain after that, we refund the duplicate at once.",
                "tags": ["billing"]}),
            json!({"id": "pause-subscription", "title": "Pause your subscription",
                "body": "You can pause your subscription for up to three months from Settings. You are not charged while it is paused.",
                "tags": ["subscription"]}),
            json!({"id": "es-cobro-doble", "title": "Cobro duplicado de un pedido", "language": "es",
                "body": "A veces un pago aparece dos veces mientras el banco retiene el importe. La retención desaparece en tres días hábiles. Si los dos cobros siguen después, te reembolsamos el duplicado enseguida.",
                "tags": ["facturacion"]}),
            json!({"id": "pt-cobranca-duplicada", "title": "Cobrança duplicada de um pedido", "language": "pt",
                "body": "Às vezes um pagamento aparece duas vezes enquanto o banco retém o valor. A retenção some em três dias úteis.",
                "tags": ["cobranca"]}),
        ] {
            let r = app.post("/v1/kb/articles", &app.admin_token, article).await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
        let canned = json!([
            {"id": "refund", "title": "Refund issued", "text": "Your refund is on its way.", "tags": ["refund", "charge"]},
            {"id": "es-reembolso", "title": "Reembolso emitido", "language": "es", "text": "Tu reembolso ya está en camino.", "tags": ["reembolso", "cobro"]},
            {"id": "cardigan", "title": "Cardigan sizes", "text": "Our cardigans run small.", "tags": ["cardigan"]}
        ]);
        let r = app
            .put("/v1/canned-responses", &app.admin_token, canned)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        app.put(
            "/v1/canned-responses",
            &app.admin_token,
            json!([{"id": "x", "title": "X", "text": "t", "language": "not a language"}]),
        )
        .await
        .assert_error(422, "invalid_language");
        let drafts = |id: String| {
            let app = &app;
            let agent = agent.clone();
            async move {
                let r = app
                    .get(&format!("/v1/conversations/{id}/drafts"), &agent)
                    .await;
                assert_eq!(r.status, 200, "{}", r.body);
                r.body["items"].as_array().unwrap().clone()
            }
        };

        // A Spanish-speaking customer (the profile says so): Spanish drafts only, a Spanish
        // greeting, Spanish articles in the brief; nothing Portuguese or English.
        let es = claimed_with(
            &app,
            &agent,
            json!({"external_id": "c-es", "name": "Lucía Gómez", "language": "es-ES"}),
            "Me habéis hecho un cobro doble del pedido 12345, quiero el reembolso",
        )
        .await;
        let items = drafts(es.clone()).await;
        let ids: Vec<&str> = items.iter().map(|d| d["id"].as_str().unwrap()).collect();
        assert_eq!(ids.first(), Some(&"kb:es-cobro-doble"), "{ids:?}");
        assert!(ids.contains(&"canned:es-reembolso"), "{ids:?}");
        assert!(
            ids.iter()
                .all(|i| !i.contains("pt-") && *i != "canned:refund"),
            "{ids:?}"
        );
        let text = items[0]["text"].as_str().unwrap();
        assert!(
            text.starts_with("Hola, Lucía: Si los dos cobros siguen después, te reembolsamos")
                && !text.contains('…')
                && text.ends_with("en nuestro artículo “Cobro duplicado de un pedido”."),
            "{text}"
        );
        app.settle().await;
        let conv = app.get(&format!("/v1/conversations/{es}"), &agent).await;
        let brief = &conv.body["brief"];
        assert_eq!(brief["reply_language"], "es", "{brief}");
        assert!(
            brief["greeting"]
                .as_str()
                .unwrap()
                .starts_with("Hola, Lucía, soy eva."),
            "{brief}"
        );
        let articles: Vec<&str> = brief["articles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert!(
            articles.iter().all(|a| a.starts_with("es-")),
            "{articles:?}"
        );

        // An English double charge: the billing article first, whole sentences (no "…"), and
        // not the subscription article one shared word brings up; no unrelated canned reply.
        let en = claimed_with(
            &app,
            &agent,
            json!({"external_id": "c-en", "name": "Maya Chen"}),
            "I was charged twice for the same order, please refund the duplicate charge",
        )
        .await;
        let items = drafts(en).await;
        let ids: Vec<&str> = items.iter().map(|d| d["id"].as_str().unwrap()).collect();
        assert_eq!(ids.first(), Some(&"kb:charged-twice"), "{ids:?}");
        assert!(ids.contains(&"canned:refund"), "{ids:?}");
        assert!(!ids.contains(&"canned:cardigan"), "{ids:?}");
        for d in &items {
            let text = d["text"].as_str().unwrap();
            assert!(!text.contains('…'), "{text}");
        }
        assert!(
            items[0]["text"]
                .as_str()
                .unwrap()
                .starts_with("Hi Maya, Sometimes a payment shows twice"),
            "{}",
            items[0]["text"]
        );

        // A language Baton does not write, with no canned response in it: no drafts, no
        // greeting.
        let ja = claimed_with(
            &app,
            &agent,
            json!({"external_id": "c-ja", "name": "Ken", "language": "ja"}),
            "二重に請求されました。返金してください。",
        )
        .await;
        assert!(drafts(ja.clone()).await.is_empty());
        app.settle().await;
        let conv = app.get(&format!("/v1/conversations/{ja}"), &agent).await;
        assert_eq!(conv.body["brief"]["greeting"], Value::Null, "{}", conv.body);
        assert_eq!(conv.body["brief"]["reply_language"], "ja");
    }
}

#[tokio::test]
async fn review_mode_holds_low_confidence_bot_replies() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, "copilot_review").await else {
        return;
    };
    // Replies held while the bot has the conversation: a supervisor reviews them (agents see
    // conversations only once they reach their queue).
    let (_, agent) = app.person("rita@test.example", "supervisor").await;
    app.put(
        "/v1/review",
        &app.admin_token,
        json!({"enabled": true, "threshold": 1.5}),
    )
    .await
    .assert_error(422, "invalid_review");
    assert_eq!(
        app.put(
            "/v1/review",
            &app.admin_token,
            json!({"enabled": true, "threshold": 0.6})
        )
        .await
        .status,
        200
    );
    let id = app.conversation().await;
    let path = |p: &str| format!("/v1/conversations/{id}{p}");
    app.post(
        &path("/messages"),
        &app.api_key,
        json!({"role": "customer", "text": "Can I pay with a gift card?"}),
    )
    .await;

    let sure = app
        .post(
            &path("/messages"),
            &app.api_key,
            json!({"role": "bot", "text": "Yes, at checkout.", "bot": {"confidence": 0.9}}),
        )
        .await;
    assert_eq!(
        sure.status, 201,
        "confident replies go straight out: {}",
        sure.body
    );
    let unsure = app
        .post(
            &path("/messages"),
            &app.api_key,
            json!({"role": "bot", "text": "Maybe, I think so?", "bot": {"confidence": 0.3}}),
        )
        .await;
    assert_eq!(unsure.status, 202, "{}", unsure.body);
    assert_eq!(unsure.body["held"], true);
    let held_id = unsure.body["message"]["id"].as_str().unwrap().to_string();

    // The customer-facing transcript does not have it; agents see it as held.
    let channel_view = app.get(&path("/messages"), &app.api_key).await;
    assert_eq!(channel_view.body["items"].as_array().unwrap().len(), 2);
    let conv = app.get(&path(""), &agent).await;
    assert_eq!(conv.body["held"][0]["id"], held_id.as_str());
    assert_eq!(conv.body["held"][0]["confidence"], 0.3);

    // Approve with an edit: it reaches the transcript as the bot's turn.
    app.post(&path("/held/msg_nope/approve"), &agent, json!({}))
        .await
        .assert_error(409, "no_held_reply");
    let approved = app
        .post(
            &path(&format!("/held/{held_id}/approve")),
            &agent,
            json!({"text": "Yes: gift cards work at checkout."}),
        )
        .await;
    assert_eq!(approved.status, 201, "{}", approved.body);
    assert_eq!(approved.body["role"], "bot");
    assert_eq!(approved.body["text"], "Yes: gift cards work at checkout.");
    let after = app.get(&path("/messages"), &app.api_key).await;
    assert_eq!(after.body["items"].as_array().unwrap().len(), 3);
    assert_eq!(app.get(&path(""), &agent).await.body["held"], json!([]));

    // A rejected reply never reaches the customer.
    let again = app
        .post(
            &path("/messages"),
            &app.api_key,
            json!({"role": "bot", "text": "Not sure.", "bot": {"confidence": 0.1}}),
        )
        .await;
    let second = again.body["message"]["id"].as_str().unwrap().to_string();
    let rejected = app
        .post(&path(&format!("/held/{second}/reject")), &agent, json!({}))
        .await;
    assert_eq!(rejected.status, 200, "{}", rejected.body);
    assert_eq!(
        app.get(&path("/messages"), &app.api_key).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let events = app.get(&path("/events"), &agent).await;
    let kinds: Vec<&str> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .filter(|k| k.starts_with("bot_reply"))
        .collect();
    assert_eq!(
        kinds,
        [
            "bot_reply_held",
            "bot_reply_approved",
            "bot_reply_held",
            "bot_reply_rejected"
        ]
    );
    let _ = Value::Null;
}
