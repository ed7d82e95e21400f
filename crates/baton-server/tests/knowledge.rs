//! Knowledge base articles and search, the handoff brief, and tenant extractors.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn article(app: &TestApp, id: &str, title: &str, body: &str, tags: &[&str]) {
    let res = app
        .post(
            "/v1/kb/articles",
            &app.admin_token,
            json!({"id": id, "title": title, "body": body, "tags": tags, "language": "en"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
}

#[tokio::test]
async fn articles_are_managed_and_searched_per_tenant() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, "kb_articles").await else {
        return;
    };
    let (_, agent) = app.person("kb@test.example", "agent").await;
    article(
        &app,
        "refund-policy",
        "Refund policy",
        "We refund **damaged** items within 30 days of delivery. Send a photo.",
        &["billing"],
    )
    .await;
    article(
        &app,
        "track-order",
        "Track your order",
        "Use the tracking number from your shipping email.",
        &["delivery"],
    )
    .await;

    // Validation and permissions; nothing half-written.
    app.post(
        "/v1/kb/articles",
        &app.admin_token,
        json!({"title": "", "body": "x"}),
    )
    .await
    .assert_error(422, "missing_field");
    app.post(
        "/v1/kb/articles",
        &app.admin_token,
        json!({"id": "Bad Id!", "title": "t", "body": "x"}),
    )
    .await
    .assert_error(422, "invalid_field");
    app.post(
        "/v1/kb/articles",
        &app.admin_token,
        json!({"id": "refund-policy", "title": "t", "body": "x"}),
    )
    .await
    .assert_error(409, "article_exists");
    app.post(
        "/v1/kb/articles",
        &agent,
        json!({"title": "t", "body": "x"}),
    )
    .await
    .assert_error(403, "forbidden");
    assert_eq!(
        app.get("/v1/kb/articles", &agent).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Agents and bots search; stemming finds "refunded" for "refund".
    let hits = app
        .get(
            "/v1/kb/search?q=can%20my%20damaged%20item%20be%20refunded",
            &agent,
        )
        .await;
    assert_eq!(hits.status, 200, "{}", hits.body);
    assert_eq!(hits.body["items"][0]["id"], "refund-policy");
    assert!(hits.body["confidence"].as_f64().unwrap() > 0.0);
    let by_bot = app
        .get("/v1/kb/search?q=tracking%20number", &app.api_key)
        .await;
    assert_eq!(by_bot.body["items"][0]["id"], "track-order");
    app.get("/v1/kb/search?q=x&limit=0", &agent)
        .await
        .assert_error(422, "invalid_limit");

    // Edits and deletions show in the next search.
    let res = app
        .put("/v1/kb/articles/track-order", &app.admin_token, json!({"title": "Where is my parcel", "body": "Parcels arrive in 3 days.", "language": "en"}))
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let hits = app.get("/v1/kb/search?q=parcel", &agent).await;
    assert_eq!(hits.body["items"][0]["title"], "Where is my parcel");
    let gone = send(
        &app.client,
        Method::DELETE,
        &app.url("/v1/kb/articles/track-order"),
        Some(&app.admin_token),
        None,
    )
    .await;
    assert_eq!(gone.status, 204);
    assert_eq!(
        app.get("/v1/kb/search?q=parcel", &agent).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    app.get("/v1/kb/articles/track-order", &agent)
        .await
        .assert_error(404, "not_found");

    // Another tenant never sees these articles, only its own (the positive control: its search
    // does find refund articles).
    let (_, other_key, other_admin) = create_tenant(app.instance.store.as_ref(), "Other").await;
    let login = send(
        &app.client,
        Method::POST,
        &app.url("/v1/auth/login"),
        None,
        Some(json!({"email": other_admin, "password": PASSWORD})),
    )
    .await;
    let other_admin_token = login.body["token"].as_str().unwrap().to_string();
    let created = app
        .post(
            "/v1/kb/articles",
            &other_admin_token,
            json!({"id": "other-refunds", "title": "Refunds at Other", "body": "Other refunds in 5 days.", "language": "en"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let other = app.get("/v1/kb/search?q=refund", &other_key).await;
    let ids: Vec<&str> = other.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["other-refunds"], "{}", other.body);
}

#[tokio::test]
async fn the_brief_tells_the_agent_everything() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, "kb_brief").await else {
        return;
    };
    app.staff().await;
    let (_, agent) = app.person("sara@test.example", "agent").await;
    article(
        &app,
        "refund-policy",
        "Refund policy for damaged items",
        "We refund damaged items within 30 days. Send a photo of the damage.",
        &["refund"],
    )
    .await;
    let res = app
        .post("/v1/conversations", &app.api_key, json!({"customer": {"external_id": "c-7", "name": "John Miller", "email": "john@example.com"}}))
        .await;
    let id = res.body["id"].as_str().unwrap().to_string();
    let path = |p: &str| format!("/v1/conversations/{id}{p}");
    let before = app.get(&path(""), &agent).await;
    assert_eq!(
        before.body["brief"],
        Value::Null,
        "no brief before a handoff"
    );
    for (role, text, extra) in [
        (
            "customer",
            "Hi, order A-1234 arrived damaged. I paid $49.99 and want my money back.",
            json!({}),
        ),
        (
            "bot",
            "I'm sorry! Could you send a photo of the damage?",
            json!({"bot": {"confidence": 0.45, "intent": "refund"}}),
        ),
        (
            "customer",
            "I already sent it twice. This is ridiculous, let me talk to a person.",
            json!({}),
        ),
    ] {
        let mut body = json!({"role": role, "text": text});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = app.post(&path("/messages"), &app.api_key, body).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let conv = app.get(&path(""), &agent).await;
    assert_eq!(conv.body["state"], "queued", "{}", conv.body);
    let brief = &conv.body["brief"];
    assert!(brief.is_object(), "{}", conv.body);
    let summary = brief["summary"].as_str().unwrap();
    assert!(summary.contains("A-1234"), "{summary}");
    let fields: Vec<(String, String)> = brief["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        fields
            .iter()
            .any(|(n, v)| n == "order_id" && v.contains("A-1234")),
        "{fields:?}"
    );
    assert!(
        fields
            .iter()
            .any(|(n, v)| n == "amount" && v.contains("49.99")),
        "{fields:?}"
    );
    assert!(
        brief["fields"][0]["message_id"]
            .as_str()
            .unwrap()
            .starts_with("msg_")
    );
    assert_eq!(
        brief["articles"][0]["id"], "refund-policy",
        "{}",
        brief["articles"]
    );
    assert!(
        brief["greeting"].as_str().unwrap().contains("John"),
        "{}",
        brief["greeting"]
    );
    assert!(
        brief["greeting"].as_str().unwrap().contains("sara"),
        "the agent's name: {}",
        brief["greeting"]
    );
    assert!(!brief["bot_attempts"].as_array().unwrap().is_empty());
    assert!(!brief["next_steps"].as_array().unwrap().is_empty());
    assert!(brief["sentiment"]["trajectory"].as_array().unwrap().len() >= 2);
    // "I want my money back" was already a refund request: the topic rule handed over first.
    assert_eq!(
        brief["handoff"]["reason"], "sensitive_topic:refund",
        "{}",
        brief["handoff"]
    );
    assert!(
        brief["handoff"]["at"].as_str().unwrap().ends_with('Z'),
        "times are RFC 3339"
    );
    assert!(!brief["reasons"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn tenants_add_their_own_extractors() {
    let Some(app) = TestApp::spawn(Backend::Sqlite, "kb_extractors").await else {
        return;
    };
    let bad = app
        .put(
            "/v1/extractors",
            &app.admin_token,
            json!([{"name": "ticket", "pattern": "TCK-(\\d{6}"}]),
        )
        .await;
    bad.assert_error(422, "invalid_extractor");
    assert!(
        bad.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ticket"),
        "{}",
        bad.body
    );
    assert_eq!(
        app.get("/v1/extractors", &app.admin_token).await.body,
        json!([])
    );
    let ok = app
        .put(
            "/v1/extractors",
            &app.admin_token,
            json!([{"name": "ticket_id", "pattern": "TCK-\\d{6}"}]),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let id = app.conversation().await;
    app.post(
        &format!("/v1/conversations/{id}/messages"),
        &app.api_key,
        json!({"role": "customer", "text": "About my ticket TCK-004211, still nothing"}),
    )
    .await;
    app.post(
        &format!("/v1/conversations/{id}/handoff"),
        &app.api_key,
        json!({"reason": "customer_request"}),
    )
    .await;
    let conv = app
        .get(&format!("/v1/conversations/{id}"), &app.admin_token)
        .await;
    let fields = conv.body["brief"]["fields"].as_array().unwrap();
    assert!(
        fields
            .iter()
            .any(|f| f["name"] == "ticket_id" && f["value"] == "TCK-004211"),
        "{fields:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_id_sqlite() {
    concurrent_creates_of_one_id(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_id_postgres() {
    concurrent_creates_of_one_id(Backend::Postgres).await;
}

/// Creates of one article id racing each other: exactly one 201, the others 409, and the
/// stored article is the one that was created (no last writer winning silently).
async fn concurrent_creates_of_one_id(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "kb_race").await else {
        return;
    };
    let attempts = 8;
    let url = app.url("/v1/kb/articles");
    let results = futures::future::join_all((0..attempts).map(|i| {
        send(
            &app.client,
            Method::POST,
            &url,
            Some(&app.admin_token),
            Some(json!({"id": "race", "title": format!("Version {i}"), "body": format!("Body {i}"), "language": "en"})),
        )
    }))
    .await;
    let created: Vec<&Res> = results.iter().filter(|r| r.status == 201).collect();
    assert_eq!(created.len(), 1, "{results:?}");
    for r in results.iter().filter(|r| r.status != 201) {
        r.assert_error(409, "article_exists");
    }
    let stored = app.get("/v1/kb/articles/race", &app.admin_token).await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(
        stored.body["title"], created[0].body["title"],
        "{}",
        stored.body
    );
}
