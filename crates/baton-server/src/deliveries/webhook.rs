//! Outbound webhooks, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256>`), the same scheme Baton uses to call webhook
//! bots. The `webhook-id` is the delivery id, stable across retries, so receivers can
//! deduplicate. The body is `{"type", "timestamp", "data"}`; the handoff event carries the full
//! brief so a ticketing system can open a ticket with the context.

use super::{Attempt, Job};
use crate::AppState;
use crate::dto::{ConversationView, EventView, rfc3339};
use baton_core::MessageRole;
use baton_core::conversation::EventKind;
use baton_engine::bots::webhook::{sign, signing_key};
use serde_json::{Value, json};

/// The public event types a webhook can subscribe to, with the log's event kind behind each.
pub const PUBLIC_EVENTS: [(&str, &str); 11] = [
    ("conversation.started", "started"),
    ("conversation.handoff_requested", "handoff_requested"),
    ("conversation.offered", "offered"),
    ("conversation.assigned", "assigned"),
    ("conversation.message", "message_added"),
    ("conversation.transfer_requested", "transfer_requested"),
    ("conversation.transfer_cancelled", "transfer_cancelled"),
    ("conversation.transferred", "transferred"),
    ("conversation.deferred", "deferred"),
    ("conversation.closed", "closed"),
    ("conversation.csat", "csat_recorded"),
];

/// `conversation.handoff_requested` for `handoff_requested`.
pub fn public_event_name(kind: &str) -> Option<&'static str> {
    PUBLIC_EVENTS
        .iter()
        .find(|(_, k)| *k == kind)
        .map(|(p, _)| *p)
}

/// `handoff_requested` for `conversation.handoff_requested`.
pub fn internal_event_kind(public: &str) -> Option<&'static str> {
    PUBLIC_EVENTS
        .iter()
        .find(|(p, _)| *p == public)
        .map(|(_, k)| *k)
}

/// The JSON body for a job (`None` when there is nothing to announce, e.g. an internal note).
pub async fn body(state: &AppState, job: &Job) -> Result<Option<Value>, String> {
    let event = &job.event;
    let Some(name) = public_event_name(event.kind()) else {
        return Ok(None);
    };
    if let Some(EventKind::MessageAdded { message }) = event.event()
        && message.role == MessageRole::Note
    {
        return Ok(None);
    }
    let mut data = json!({ "event": EventView::from(event) });
    if let Some(conv) = &job.conversation {
        let store = state.store().as_ref();
        let customer = store
            .customer(&conv.tenant, &conv.customer)
            .await
            .map_err(|e| format!("reading the customer: {e}"))?;
        data["conversation"] = serde_json::to_value(ConversationView::new(conv.clone(), customer))
            .unwrap_or(Value::Null);
        if let Some(EventKind::HandoffRequested { .. }) = event.event() {
            let brief = baton_engine::brief::build(&state.engine, conv, None, crate::now())
                .await
                .map_err(|e| format!("building the brief: {e:?}"))?;
            data["brief"] = brief
                .as_ref()
                .map_or(Value::Null, baton_engine::brief::to_json);
            // What a contact center needs to move a call: the transfer target of the queue it
            // waits in (the tenant's default queue when none was named).
            let queues = store
                .queues(&conv.tenant)
                .await
                .map_err(|e| format!("reading the queues: {e}"))?;
            let queue = super::slack::effective_queue(conv.queue.clone(), &queues);
            if let Some(q) = queues.iter().find(|q| q.id == queue)
                && let Some(transfer) = q.settings.get("transfer")
            {
                data["transfer"] = json!({ "queue": queue, "target": transfer });
            }
        }
    }
    Ok(Some(json!({
        "type": name,
        "timestamp": rfc3339(event.at),
        "data": data,
    })))
}

/// Sends one job.
pub async fn deliver(state: &AppState, job: &Job) -> Attempt {
    let config = &job.subscription.config;
    let Some(url) = config["url"].as_str() else {
        return Attempt::permanent("the subscription has no url");
    };
    if let Some(refused) = state.engine.outbound.refusal(url) {
        return Attempt::retry(refused);
    }
    let key = match signing_key(config["secret"].as_str().unwrap_or_default()) {
        Ok(k) => k,
        Err(e) => return Attempt::permanent(format!("the signing secret is unusable: {e}")),
    };
    let body = match body(state, job).await {
        Ok(Some(b)) => b.to_string(),
        Ok(None) => return Attempt::Skipped("not a public event".into()),
        Err(e) => return Attempt::retry(e),
    };
    let timestamp = crate::now().millis() / 1000;
    let id = &job.delivery.id;
    let signature = sign(&key, id, timestamp, body.as_bytes());
    let sent = state
        .engine
        .bots
        .http()
        .post(url)
        // A receiver that never answers must not stall the worker.
        .timeout(baton_channels::REQUEST_TIMEOUT)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Attempt::Delivered,
        // Gone: the receiver says it will never want this again.
        Ok(r) if r.status().as_u16() == 410 => Attempt::permanent("HTTP 410 Gone"),
        Ok(r) => {
            let retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map(std::time::Duration::from_secs);
            Attempt::Failed {
                retryable: true,
                error: format!("HTTP {}", r.status().as_u16()),
                retry_after,
            }
        }
        Err(e) => Attempt::retry(format!("request failed: {}", e.without_url())),
    }
}
