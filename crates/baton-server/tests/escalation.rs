//! Escalation through the API: default rules, button payloads, custom rules, business hours.

mod common;

use common::*;
use serde_json::{Value, json};

async fn say(app: &TestApp, id: &str, role: &str, text: &str, extra: Value) -> Res {
    let mut body = json!({"role": role, "text": text});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let res = app
        .post(
            &format!("/v1/conversations/{id}/messages"),
            &app.api_key,
            body,
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    res
}

async fn start(app: &TestApp, tier: Option<&str>) -> String {
    let res = app
        .post(
            "/v1/conversations",
            &app.api_key,
            json!({"customer": {"name": "Ann", "tier": tier}, "channel": "web"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    res.body["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn explicit_requests_escalate_and_negations_do_not() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, "esc_explicit").await else {
        return;
    };
    app.staff().await;
    let calm = start(&app, None).await;
    let res = say(
        &app,
        &calm,
        "customer",
        "I don't need an agent, just tell me the opening hours",
        json!({}),
    )
    .await;
    assert_eq!(res.body["state"], "bot");
    assert_eq!(res.body["escalation"]["decision"], Value::Null);
    assert_eq!(
        res.body["escalation"]["signals"]["human_request"]["detected"], false,
        "{}",
        res.body["escalation"]
    );

    let id = start(&app, None).await;
    let res = say(
        &app,
        &id,
        "customer",
        "this is useless, can I talk to a real person please",
        json!({}),
    )
    .await;
    assert_eq!(res.body["state"], "queued", "{}", res.body["escalation"]);
    assert_eq!(
        res.body["escalation"]["decision"]["reason"],
        "human_request"
    );
    assert_eq!(
        res.body["conversation"]["handoff"]["reason"],
        "human_request"
    );
    let fired: Vec<&str> = res.body["escalation"]["fired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(fired.contains(&"human_request"), "{fired:?}");
    // The conversation API shows the latest evaluation; the audit trail holds each one.
    let conv = app
        .get(&format!("/v1/conversations/{id}"), &app.admin_token)
        .await;
    assert_eq!(
        conv.body["escalation"]["decision"]["reason"],
        "human_request"
    );
    // The brief is a follow-up job of the handoff: recorded after it, outside the request.
    app.settle().await;
    let events = app
        .get(&format!("/v1/conversations/{id}/events"), &app.admin_token)
        .await;
    let kinds: Vec<&str> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        // The routing pass announces the place in line around the brief.
        .filter(|k| *k != "queue_positions")
        .collect();
    assert_eq!(
        kinds,
        [
            "started",
            "message_added",
            "escalation_evaluated",
            "handoff_requested",
            "brief_built"
        ]
    );
    assert_eq!(events.body["items"][3]["actor"]["type"], "system");

    // A "Talk to a person" button is a request with certainty, whatever the text.
    let button = start(&app, None).await;
    let res = say(
        &app,
        &button,
        "customer",
        "👤",
        json!({"payload": "talk_to_human"}),
    )
    .await;
    assert_eq!(res.body["state"], "queued", "{}", res.body["escalation"]);
}

#[tokio::test]
async fn topics_route_to_existing_teams_and_vips_get_priority() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, "esc_topics").await else {
        return;
    };
    // Someone is online, so a handoff waits in line (nobody online: deferred).
    app.staff().await;
    let q = app
        .post(
            "/v1/queues",
            &app.admin_token,
            json!({"id": "billing", "name": "Billing"}),
        )
        .await;
    assert_eq!(q.status, 201);
    let id = start(&app, Some("vip")).await;
    let res = say(
        &app,
        &id,
        "customer",
        "I was charged twice and I want a refund for order 1234",
        json!({}),
    )
    .await;
    assert_eq!(res.body["state"], "queued", "{}", res.body["escalation"]);
    assert_eq!(res.body["conversation"]["queue"], "billing");
    assert_eq!(res.body["conversation"]["priority"], 80, "VIP priority");
    assert_eq!(
        res.body["conversation"]["handoff"]["reason"],
        "sensitive_topic:refund"
    );
    // "retention" does not exist in this tenant: cancellations still hand over, to no queue,
    // so they wait in the default queue (the first by id), which is named as theirs.
    let other = start(&app, None).await;
    let res = say(
        &app,
        &other,
        "customer",
        "please cancel my subscription",
        json!({}),
    )
    .await;
    assert_eq!(res.body["state"], "queued", "{}", res.body["escalation"]);
    assert_eq!(res.body["conversation"]["queue"], "billing");
}

#[tokio::test]
async fn two_low_confidence_bot_turns_escalate() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, "esc_confidence").await else {
        return;
    };
    // Someone is online, so a handoff waits in line (nobody online: deferred).
    app.staff().await;
    let id = start(&app, None).await;
    say(
        &app,
        &id,
        "customer",
        "my widget shows error E42 after the update",
        json!({}),
    )
    .await;
    let first = say(
        &app,
        &id,
        "bot",
        "Try restarting it.",
        json!({"bot": {"confidence": 0.3}}),
    )
    .await;
    assert_eq!(first.body["state"], "bot");
    say(&app, &id, "customer", "I did, still E42", json!({})).await;
    let second = say(
        &app,
        &id,
        "bot",
        "Maybe check the cable?",
        json!({"bot": {"confidence": 0.35}}),
    )
    .await;
    assert_eq!(
        second.body["state"], "queued",
        "{}",
        second.body["escalation"]
    );
    assert_eq!(
        second.body["escalation"]["decision"]["reason"],
        "low_confidence"
    );
    assert_eq!(
        second.body["escalation"]["signals"]["low_confidence_streak"], 2,
        "{}",
        second.body["escalation"]["signals"]
    );
}

#[tokio::test]
async fn custom_rules_are_validated_whole_and_take_effect() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, "esc_rules").await else {
        return;
    };
    // Someone is online, so a handoff waits in line (nobody online: deferred).
    app.staff().await;
    let defaults = app.get("/v1/rules", &app.admin_token).await;
    assert_eq!(defaults.status, 200, "{}", defaults.body);
    assert_eq!(defaults.body["defaults"], true);
    assert!(defaults.body["rules"].as_array().unwrap().len() >= 10);

    // A broken condition deep inside is refused with its path; nothing changes.
    let broken = json!({"rules": [
        {"id": "ok", "name": "fine", "when": {"signal": "vip"}, "actions": [{"type": "priority", "value": 60}]},
        {"id": "bad", "name": "broken", "when": {"any": [{"signal": "vip"}, {"signal": "moon_phase"}]}, "actions": [{"type": "escalate"}]}
    ]});
    let res = app.put("/v1/rules", &app.admin_token, broken).await;
    res.assert_error(422, "invalid_rules");
    assert!(
        res.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/rules/1/when/any/1"),
        "{}",
        res.body
    );
    let bad_regex = json!({"rules": [{"id": "r", "name": "r", "when": {"text_matches": "(unclosed"}, "actions": [{"type": "escalate"}]}]});
    app.put("/v1/rules", &app.admin_token, bad_regex)
        .await
        .assert_error(422, "invalid_rules");
    assert_eq!(
        app.get("/v1/rules", &app.admin_token).await.body["defaults"],
        true
    );
    let (_, supervisor) = app.person("sup@test.example", "supervisor").await;
    app.put("/v1/rules", &supervisor, json!({"rules": []}))
        .await
        .assert_error(403, "forbidden");
    assert_eq!(app.get("/v1/rules", &supervisor).await.status, 200);

    // A valid rule set replaces the defaults and applies to the next message.
    let custom = json!({"rules": [
        {"id": "chargeback", "name": "Chargeback threats go to a person", "reason": "chargeback",
         "when": {"text_matches": "(?i)charge ?back"}, "actions": [{"type": "escalate"}, {"type": "priority", "value": 90}]}
    ]});
    let res = app.put("/v1/rules", &app.admin_token, custom).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let id = start(&app, None).await;
    let plain = say(
        &app,
        &id,
        "customer",
        "I want to talk to a human",
        json!({}),
    )
    .await;
    assert_eq!(
        plain.body["state"], "bot",
        "the default human_request rule is gone"
    );
    let res = say(
        &app,
        &id,
        "customer",
        "otherwise I file a chargeback with my bank",
        json!({}),
    )
    .await;
    assert_eq!(res.body["state"], "queued", "{}", res.body["escalation"]);
    assert_eq!(res.body["conversation"]["priority"], 90);
    assert_eq!(res.body["conversation"]["handoff"]["reason"], "chargeback");
    // The change is in the tenant audit trail with before and after.
    let events = app
        .instance
        .store
        .events_by_seq(&(1..2000).collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind() == "rules_updated" && e.body.to_json()["before"].is_null())
    );
}

#[tokio::test]
async fn closed_hours_defer_requests_for_a_person() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, "esc_hours").await else {
        return;
    };
    app.put(
        "/v1/business-hours",
        &app.admin_token,
        json!({"tz": "Mars/Olympus_Mons", "weekly": {}}),
    )
    .await
    .assert_error(422, "invalid_business_hours");
    let never_open = json!({"tz": "Europe/Berlin", "weekly": {}, "holidays": []});
    let res = app
        .put("/v1/business-hours", &app.admin_token, never_open)
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let id = start(&app, None).await;
    let res = say(
        &app,
        &id,
        "customer",
        "I need to speak to an agent",
        json!({}),
    )
    .await;
    assert_eq!(res.body["state"], "deferred", "{}", res.body["escalation"]);
    assert_eq!(res.body["escalation"]["decision"]["action"], "defer");
    assert_eq!(res.body["escalation"]["decision"]["capture_email"], true);
}

/// Messages posted at once to one conversation are each evaluated on the transcript as it
/// stands when they commit: the detector runs before the write transaction, on what was read
/// before it, and again inside it when another message got in between. Each evaluation counts
/// itself and the customer turns committed before it, so the counts are 1..=N, each once.
async fn concurrent_turns_are_evaluated_on_the_current_transcript(backend: Backend, name: &str) {
    let Some(app) = TestApp::spawn(backend, name).await else {
        return;
    };
    let id = start(&app, None).await;
    const N: u64 = 16;
    let url = app.url(&format!("/v1/conversations/{id}/messages"));
    let posts = (0..N).map(|i| {
        send(
            &app.client,
            reqwest::Method::POST,
            &url,
            Some(&app.api_key),
            Some(json!({"role": "customer", "text": format!("what are your opening hours, question {i}")})),
        )
    });
    let mut counts: Vec<u64> = futures::future::join_all(posts)
        .await
        .into_iter()
        .map(|res| {
            assert_eq!(res.status, 201, "{}", res.body);
            res.body["escalation"]["signals"]["customer_turns"]
                .as_u64()
                .unwrap_or_else(|| panic!("no turn count in {}", res.body))
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=N).collect::<Vec<_>>());
}

#[tokio::test]
async fn concurrent_turns_are_evaluated_on_the_current_transcript_sqlite() {
    concurrent_turns_are_evaluated_on_the_current_transcript(Backend::Sqlite, "esc_concurrent")
        .await;
}

#[tokio::test]
async fn concurrent_turns_are_evaluated_on_the_current_transcript_postgres() {
    concurrent_turns_are_evaluated_on_the_current_transcript(Backend::Postgres, "esc_concurrent")
        .await;
}
