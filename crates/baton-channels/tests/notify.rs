//! Slack and Teams: rendered content, digests, and posting to a recording HTTP server on
//! loopback with the retry classification of each answer.

use baton_channels::notice::{Notice, NoticeKind};
use baton_channels::testing::{RecordingServer, Reply};
use baton_channels::webhook::PostError;
use baton_channels::{slack, teams};
use serde_json::{Value, json};
use std::time::Duration;

fn handoff() -> Notice {
    Notice {
        kind: NoticeKind::Handoff,
        conversation_id: "01J9Z3QK".into(),
        customer: "John <Doe> & Co".into(),
        reason: "asked for a human".into(),
        summary: Some("Order #1234 is late.\nThe bot could not find it.".into()),
        queue: Some("Billing".into()),
        wait_secs: Some(245),
        console_url: "https://baton.example.com/console/conversations/01J9Z3QK".into(),
    }
}

fn many(n: usize) -> Vec<Notice> {
    let kinds = [
        NoticeKind::Handoff,
        NoticeKind::OfferUnanswered,
        NoticeKind::WaitOverTarget,
    ];
    (0..n)
        .map(|i| Notice {
            kind: kinds[i % 3],
            conversation_id: format!("c{i}"),
            customer: format!("Customer {i}"),
            reason: format!("reason {i}"),
            summary: None,
            queue: (i % 2 == 0).then(|| "Support".to_owned()),
            wait_secs: None,
            console_url: format!("https://baton.example.com/c/{i}"),
        })
        .collect()
}

/// Every string anywhere in a JSON value, joined: for "the card shows X" checks.
fn all_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(all_text).collect::<Vec<_>>().join("\n"),
        Value::Object(map) => map.values().map(all_text).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

// --- Slack ------------------------------------------------------------------------------------

#[test]
fn slack_notice_has_fallback_fields_summary_and_button() {
    let message = slack::render(&handoff());
    assert_eq!(
        message["text"],
        "New handoff: John &lt;Doe&gt; &amp; Co — asked for a human · Billing · waiting 4m 05s"
    );
    let blocks = message["blocks"].as_array().unwrap();
    let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["header", "section", "section", "actions", "context"]
    );
    assert_eq!(
        blocks[0]["text"],
        json!({"type": "plain_text", "text": "New handoff: John <Doe> & Co", "emoji": true})
    );
    let fields: Vec<&str> = blocks[1]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "*Customer*\nJohn &lt;Doe&gt; &amp; Co",
            "*Reason*\nasked for a human",
            "*Queue*\nBilling",
            "*Waiting*\n4m 05s",
        ]
    );
    assert_eq!(
        blocks[2]["text"]["text"],
        "*Summary*\nOrder #1234 is late.\nThe bot could not find it."
    );
    let button = &blocks[3]["elements"][0];
    assert_eq!(button["type"], "button");
    assert_eq!(button["text"]["text"], "Open in console");
    assert_eq!(
        button["url"],
        "https://baton.example.com/console/conversations/01J9Z3QK"
    );
    assert!(
        blocks[4]["elements"][0]["text"]
            .as_str()
            .unwrap()
            .contains("`01J9Z3QK`")
    );
}

#[test]
fn slack_notice_without_optional_parts() {
    let notice = Notice {
        kind: NoticeKind::OfferUnanswered,
        summary: None,
        queue: None,
        wait_secs: None,
        ..handoff()
    };
    let message = slack::render(&notice);
    let blocks = message["blocks"].as_array().unwrap();
    let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["header", "section", "actions", "context"]);
    assert_eq!(blocks[1]["fields"].as_array().unwrap().len(), 2);
    assert_eq!(
        message["text"],
        "Offer unanswered: John &lt;Doe&gt; &amp; Co — asked for a human"
    );
}

#[test]
fn slack_digest_counts_lists_ten_and_says_how_many_more() {
    let notices = many(13);
    let message = slack::render_digest(&notices);
    assert_eq!(
        message["text"],
        "Baton: 13 notices: 5 handoffs, 4 unanswered offers, 4 waits over target"
    );
    let blocks = message["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["text"]["text"], "Baton: 13 notices");
    assert_eq!(
        blocks[1]["text"]["text"],
        "5 handoffs, 4 unanswered offers, 4 waits over target"
    );
    let list = blocks[3]["text"]["text"].as_str().unwrap();
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 11, "{list}");
    assert_eq!(
        lines[0],
        "• <https://baton.example.com/c/0|Customer 0> — New handoff: reason 0 · Support"
    );
    assert_eq!(
        lines[1],
        "• <https://baton.example.com/c/1|Customer 1> — Offer unanswered: reason 1"
    );
    assert_eq!(lines[10], "_and 3 more_");
    assert!(!list.contains("Customer 10"));

    let small = slack::render_digest(&many(2));
    assert!(!all_text(&small).contains("more"));
    assert_eq!(
        small["blocks"][1]["text"]["text"],
        "1 handoff, 1 unanswered offer"
    );
}

#[tokio::test]
async fn slack_post_success_and_retry_classification() {
    let server = RecordingServer::start(vec![
        Reply::new(200, "ok"),
        Reply::new(429, "rate_limited").header("Retry-After", "30"),
        Reply::new(500, "internal_error"),
        Reply::new(404, "no_service"),
        Reply::new(400, "invalid_payload"),
    ])
    .await;
    let http = baton_channels::http_client();
    let url = server.url("/services/T000/B000/XXXX");
    let message = slack::render(&handoff());

    slack::post(&http, &url, &message).await.unwrap();
    let rate = slack::post(&http, &url, &message).await.unwrap_err();
    let down = slack::post(&http, &url, &message).await.unwrap_err();
    let gone = slack::post(&http, &url, &message).await.unwrap_err();
    let bad = slack::post(&http, &url, &message).await.unwrap_err();

    assert!(matches!(rate, PostError::RateLimited { .. }) && rate.retryable());
    assert_eq!(rate.retry_after(), Some(Duration::from_secs(30)));
    assert!(matches!(down, PostError::Unavailable { status: 500, .. }) && down.retryable());
    assert!(matches!(gone, PostError::Rejected { status: 404, .. }) && !gone.retryable());
    assert_eq!(
        gone.to_string(),
        "Slack rejected the message (HTTP 404): no_service"
    );
    assert!(!bad.retryable() && bad.to_string().contains("invalid_payload"));

    let requests = server.requests();
    assert_eq!(requests.len(), 5);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/services/T000/B000/XXXX");
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(requests[0].json(), message);
}

#[tokio::test]
async fn webhook_errors_never_show_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/services/T000/B000/SECRETPART");
    let e = slack::post(&baton_channels::http_client(), &url, &json!({"text": "x"}))
        .await
        .unwrap_err();
    assert!(
        matches!(e, PostError::Network { .. }) && e.retryable(),
        "{e:?}"
    );
    assert!(!format!("{e} {e:?}").contains("SECRETPART"), "{e:?}");

    let e = teams::post(&baton_channels::http_client(), "not a url", &json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(e, PostError::InvalidUrl { .. }) && !e.retryable(),
        "{e}"
    );
}

// --- Teams ------------------------------------------------------------------------------------

#[test]
fn teams_notice_is_an_adaptive_card_with_facts_and_open_url() {
    let message = teams::render(&handoff());
    assert_eq!(message["type"], "message");
    let attachment = &message["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    let body = card["body"].as_array().unwrap();
    assert_eq!(body[0]["type"], "TextBlock");
    assert_eq!(body[0]["text"], "New handoff: John <Doe> & Co");
    assert_eq!(body[0]["weight"], "Bolder");
    assert_eq!(
        body[1],
        json!({"type": "FactSet", "facts": [
            {"title": "Customer", "value": "John <Doe> & Co"},
            {"title": "Reason", "value": "asked for a human"},
            {"title": "Queue", "value": "Billing"},
            {"title": "Waiting", "value": "4m 05s"},
        ]})
    );
    assert!(all_text(&card["body"]).contains("Order #1234 is late.\nThe bot could not find it."));
    assert!(all_text(&card["body"]).contains("Conversation 01J9Z3QK"));
    assert_eq!(
        card["actions"],
        json!([{"type": "Action.OpenUrl", "title": "Open in console", "url": "https://baton.example.com/console/conversations/01J9Z3QK"}])
    );
}

#[test]
fn teams_digest_counts_lists_ten_and_says_how_many_more() {
    let message = teams::render_digest(&many(12));
    let body = message["attachments"][0]["content"]["body"]
        .as_array()
        .unwrap();
    assert_eq!(body[0]["text"], "Baton: 12 notices");
    assert_eq!(
        body[1]["text"],
        "4 handoffs, 4 unanswered offers, 4 waits over target"
    );
    let lines: Vec<&str> = body[2..]
        .iter()
        .map(|b| b["text"].as_str().unwrap())
        .collect();
    assert_eq!(lines.len(), 11);
    assert_eq!(
        lines[0],
        "[Customer 0](https://baton.example.com/c/0) — New handoff: reason 0 · Support"
    );
    assert_eq!(
        lines[2],
        "[Customer 2](https://baton.example.com/c/2) — Wait over target: reason 2 · Support"
    );
    assert_eq!(lines[10], "and 2 more");
}

#[tokio::test]
async fn teams_post_success_and_retry_classification() {
    let server = RecordingServer::start(vec![
        Reply::new(202, ""),
        Reply::new(200, "1"),
        Reply::new(429, "").header("Retry-After", "5"),
        Reply::new(502, "Bad Gateway"),
        Reply::new(404, "{\"error\":{\"code\":\"WorkflowNotFound\"}}"),
    ])
    .await;
    let http = baton_channels::http_client();
    let url = server.url("/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=SECRET");
    let message = teams::render(&handoff());

    teams::post(&http, &url, &message).await.unwrap();
    teams::post(&http, &url, &message).await.unwrap();
    let rate = teams::post(&http, &url, &message).await.unwrap_err();
    let down = teams::post(&http, &url, &message).await.unwrap_err();
    let gone = teams::post(&http, &url, &message).await.unwrap_err();
    assert!(rate.retryable() && rate.retry_after() == Some(Duration::from_secs(5)));
    assert!(down.retryable() && down.status() == Some(502));
    assert!(!gone.retryable() && gone.status() == Some(404));
    assert!(
        gone.to_string()
            .starts_with("Teams rejected the message (HTTP 404)"),
        "{gone}"
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 5);
    assert_eq!(
        requests[0].query.as_deref(),
        Some("api-version=1&sig=SECRET")
    );
    assert_eq!(requests[0].json(), message);
}
