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
