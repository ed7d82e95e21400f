//! Analytics, the audit view and the operational metrics over HTTP, on real servers over SQLite
//! and PostgreSQL. The figures' arithmetic is checked exactly on known histories in the core
//! (`baton_core::analytics` tests); here: that the API serves them from what really happened,
//! with filters, drill-down, CSV, roles and errors.

#[macro_use]
mod common;

use common::*;
use serde_json::{Value, json};

on_both_backends!(
    figures_from_real_conversations,
    audit_trail_and_metrics,
    csv_cells_cannot_be_formulas
);

async fn start(app: &TestApp, external: &str, tier: &str) -> String {
    let res = app
        .post(
            "/v1/conversations",
            &app.api_key,
            json!({"customer": {"external_id": external, "tier": tier}, "channel": "web"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    res.body["id"].as_str().unwrap().to_string()
}

async fn say(app: &TestApp, id: &str, token: &str, body: Value) {
    let res = app
        .post(&format!("/v1/conversations/{id}/messages"), token, body)
        .await;
    assert!(res.status.is_success(), "{}", res.body);
}

async fn ok(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let res = app.post(path, token, body).await;
    assert!(res.status.is_success(), "{path}: {}", res.body);
    res.body
}

async fn figures_from_real_conversations(backend: Backend) {
    let test_started = std::time::Instant::now();
    let Some(app) = TestApp::spawn(backend, "analytics_figures").await else {
        return;
    };
    app.staff().await;
    let (agent_id, agent) = app.person("ana@analytics.example", "agent").await;
    let (_, supervisor) = app.person("sue@analytics.example", "supervisor").await;
    let key = app.api_key.clone();

    // 1. The bot resolves it.
    let bot_only = start(&app, "c-bot", "free").await;
    say(
        &app,
        &bot_only,
        &key,
        json!({"role": "customer", "text": "What are your opening hours?"}),
    )
    .await;
    say(
        &app,
        &bot_only,
        &key,
        json!({"role": "bot", "text": "9 to 5.", "bot": {"confidence": 0.9}}),
    )
    .await;
    ok(
        &app,
        &format!("/v1/conversations/{bot_only}/close"),
        &key,
        json!({}),
    )
    .await;
    ok(
        &app,
        &format!("/v1/conversations/{bot_only}/csat"),
        &key,
        json!({"score": 5}),
    )
    .await;

    // 2. Handed off, claimed, answered, closed by the agent, rated 4.
    let helped = start(&app, "c-help", "gold").await;
    ok(
        &app,
        &format!("/v1/conversations/{helped}/handoff"),
        &key,
        json!({"reason": "customer_request"}),
    )
    .await;
    ok(
        &app,
        &format!("/v1/conversations/{helped}/claim"),
        &agent,
        json!({}),
    )
    .await;
    say(&app, &helped, &agent, json!({"text": "Hi, I'm Ana."})).await;
    ok(
        &app,
        &format!("/v1/conversations/{helped}/close"),
        &agent,
        json!({"resolution": "solved"}),
    )
    .await;
    ok(
        &app,
        &format!("/v1/conversations/{helped}/csat"),
        &key,
        json!({"score": 4}),
    )
    .await;

    // 3. Handed off; the customer leaves while waiting.
    let left = start(&app, "c-left", "free").await;
    ok(
        &app,
        &format!("/v1/conversations/{left}/handoff"),
        &key,
        json!({"reason": "sensitive_topic:refund"}),
    )
    .await;
    ok(
        &app,
        &format!("/v1/conversations/{left}/close"),
        &key,
        json!({}),
    )
    .await;

    let s = app.get("/v1/analytics/summary", &supervisor).await;
    assert_eq!(s.status, 200, "{}", s.body);
    let b = &s.body;
    assert_eq!(b["conversations"], 3, "{b}");
    assert_eq!(b["handed_off"], 2);
    assert!((b["handoff_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    assert!((b["containment_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(b["abandonment_rate"], 0.5);
    assert_eq!(b["csat_after_handoff"], 4.0);
    assert_eq!(b["csat_bot_only"], 5.0);
    assert_eq!(b["resolved_after_handoff"], 1);
    // The agents answered during this test: a real, positive delay shorter than the test.
    let first_response = b["median_first_response_seconds"].as_f64().unwrap();
    assert!(
        first_response > 0.0 && first_response <= test_started.elapsed().as_secs_f64(),
        "{first_response} s is not within the test's {:?}",
        test_started.elapsed()
    );
    let reasons: Vec<&str> = b["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["customer_request", "sensitive_topic:refund"]);
    assert_eq!(b["requested_by"][0]["key"], "api");

    // Filters: the gold customer only; a reason family.
    let gold = app
        .get("/v1/analytics/summary?tier=gold", &supervisor)
        .await;
    assert_eq!(gold.body["conversations"], 1);
    let refunds = app
        .get("/v1/analytics/summary?reason=sensitive_topic", &supervisor)
        .await;
    assert_eq!(refunds.body["conversations"], 1);
    assert_eq!(refunds.body["abandoned"], 1);
    let mine = app
        .get(
            &format!("/v1/analytics/summary?agent={agent_id}"),
            &supervisor,
        )
        .await;
    assert_eq!(mine.body["conversations"], 1);
    // A range before any of it: nothing.
    let before = app
        .get(
            "/v1/analytics/summary?from=2020-01-01&to=2020-01-31",
            &supervisor,
        )
        .await;
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(before.body["conversations"], 0);
    assert_eq!(before.body["handoff_rate"], Value::Null);

    // Drill-down names the conversations behind a figure.
    let d = app
        .get("/v1/analytics/conversations?figure=abandoned", &supervisor)
        .await;
    assert_eq!(d.body["total"], 1, "{}", d.body);
    assert_eq!(d.body["items"][0]["id"], left.as_str());
    let d = app
        .get("/v1/analytics/conversations?figure=contained", &supervisor)
        .await;
    assert_eq!(d.body["items"][0]["id"], bot_only.as_str());
    let d = app
        .get(
            "/v1/analytics/conversations?figure=handed_off&tier=gold",
            &supervisor,
        )
        .await;
    assert_eq!(d.body["items"][0]["id"], helped.as_str());

    // Per agent and per day.
    let a = app.get("/v1/analytics/agents", &supervisor).await;
    let ana = a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["agent"] == agent_id.as_str())
        .unwrap_or_else(|| panic!("{}", a.body));
    assert_eq!(ana["name"], "ana");
    assert_eq!(
        (ana["conversations"].as_u64(), ana["closed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(ana["csat"], 4.0);
    let t = app.get("/v1/analytics/timeseries", &supervisor).await;
    let points = t.body["points"].as_array().unwrap();
    assert_eq!(points.len(), 31, "{}", t.body);
    let total: u64 = points
        .iter()
        .map(|p| p["conversations"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 3);

    // CSV export.
    let csv = app
        .client
        .get(app.url("/v1/analytics/summary?format=csv"))
        .bearer_auth(&supervisor)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    assert!(text.starts_with("figure,value\n"), "{text}");
    assert!(text.contains("\nhanded_off,2\n"), "{text}");
    assert!(text.contains("\nreasons.customer_request,1\n"), "{text}");
    let csv = app
        .client
        .get(app.url("/v1/analytics/conversations?figure=abandoned&format=csv"))
        .bearer_auth(&supervisor)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.lines().nth(1).unwrap().starts_with(&left), "{csv}");

    // Supervisors and admins only; bad input is a clear 422.
    app.get("/v1/analytics/summary", &agent)
        .await
        .assert_error(403, "forbidden");
    app.get("/v1/analytics/summary", &key)
        .await
        .assert_error(403, "forbidden");
    app.get("/v1/analytics/summary?from=yesterday", &supervisor)
        .await
        .assert_error(422, "invalid_time");
    app.get(
        "/v1/analytics/summary?from=2026-02-01&to=2026-01-01",
        &supervisor,
    )
    .await
    .assert_error(422, "invalid_range");
    app.get(
        "/v1/analytics/summary?from=2020-01-01&to=2026-01-01",
        &supervisor,
    )
    .await
    .assert_error(422, "range_too_long");
    app.get("/v1/analytics/summary?format=xml", &supervisor)
        .await
        .assert_error(422, "invalid_format");
    app.get("/v1/analytics/conversations?figure=vibes", &supervisor)
        .await
        .assert_error(422, "invalid_figure");
}

async fn audit_trail_and_metrics(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "analytics_audit").await else {
        return;
    };
    app.staff().await;
    let (_, agent) = app.person("al@audit.example", "agent").await;
    let (_, supervisor) = app.person("sam@audit.example", "supervisor").await;
    let created = app
        .post(
            "/v1/queues",
            &app.admin_token,
            json!({"id": "billing", "name": "Billing"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let updated = app
        .put(
            "/v1/queues/billing",
            &app.admin_token,
            json!({"id": "billing", "name": "Billing & refunds"}),
        )
        .await;
    assert!(updated.status.is_success(), "{}", updated.body);

    let audit = app.get("/v1/audit?kind=queue", &supervisor).await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    let items = audit.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", audit.body);
    assert_eq!(items[0]["type"], "queue_updated");
    assert_eq!(items[0]["data"]["before"]["name"], "Billing");
    assert_eq!(items[0]["data"]["after"]["name"], "Billing & refunds");
    assert_eq!(items[0]["actor"]["id"], app.admin_id.as_str());
    assert_eq!(items[1]["type"], "queue_created");
    // Agents created by the admin are in it too; agents themselves may not read it.
    let agents = app
        .get(
            &format!("/v1/audit?kind=agent&agent={}", app.admin_id),
            &supervisor,
        )
        .await;
    assert!(
        agents.body["items"].as_array().unwrap().len() >= 2,
        "{}",
        agents.body
    );
    app.get("/v1/audit", &agent)
        .await
        .assert_error(403, "forbidden");
    app.get("/v1/audit?kind=DROP%20TABLE", &supervisor)
        .await
        .assert_error(422, "invalid_kind");

    // Operations: a waiting conversation shows in the queue gauges and the handoff counter.
    let id = app.queued_conversation().await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "baton_conversations{state=\"queued\"} 1",
        "baton_queue_depth{",
        "baton_queue_oldest_wait_seconds{",
        "baton_agents{status=\"offline\"}",
        "baton_offers_pending",
        "baton_deliveries{state=\"pending\"}",
        "baton_oldest_pending_delivery_age_seconds",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
    // The group-commit counters are SQLite's writer's: PostgreSQL has none.
    assert_eq!(
        metrics.contains("baton_sqlite_write_transactions_total"),
        backend == Backend::Sqlite,
        "{metrics}"
    );
    let _ = id;
}

/// A customer's tier (free text from the integration) that a spreadsheet would run as a
/// formula is written with a leading `'` in the CSV export.
async fn csv_cells_cannot_be_formulas(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "analytics_csv").await else {
        return;
    };
    app.staff().await;
    let tiers = ["=1+2", "@SUM(A1)", "+cmd", "-2+3", "gold"];
    for (i, tier) in tiers.iter().enumerate() {
        let id = start(&app, &format!("c-{i}"), tier).await;
        app.hand_off(&id, None).await;
    }
    let csv = app
        .client
        .get(app.url("/v1/analytics/conversations?figure=handed_off&format=csv"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let tier_cells: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    assert_eq!(tier_cells.len(), tiers.len(), "{csv}");
    for tier in &tiers[..4] {
        let defused = format!("'{tier}");
        assert!(
            tier_cells.contains(&defused.as_str()),
            "{tier} not defused: {csv}"
        );
    }
    assert!(tier_cells.contains(&"gold"), "{csv}");
    assert!(
        tier_cells
            .iter()
            .all(|c| !c.starts_with(['=', '+', '-', '@'])),
        "{csv}"
    );
}
