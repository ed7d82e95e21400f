//! Slack and Microsoft Teams notifications through incoming webhooks (configured at
//! `/v1/notifications`), with bursts folded into one digest.
//!
//! Each job becomes a [`Notice`] (customer, reason, queue, wait, a console link; the brief's
//! summary when it goes out alone). Events map as: `handoff_requested` → handoff,
//! `offer_expired` → an offer nobody accepted in time, `overflow_step` / `queue_changed` → the
//! customer waited beyond the queue's target (its overflow plan is how a queue says how long is
//! too long). A subscription with a `queue` skips other queues' conversations, and the last two
//! kinds are skipped once the conversation no longer waits.
//!
//! Throttle: several notices for one subscription in one worker round are posted as one digest.
//! If this subscription posted less than `min_interval_secs` ago, the notices are held (the
//! delivery stays pending, `last_error` says why) until the window closes, and then go out as
//! one digest with whatever else arrived meanwhile. So a burst gives at most one post per window,
//! not one per handoff. The last-post times live in this process's memory: after a restart, or
//! with several instances, a window may open once more than strictly needed.
//!
//! Failures are classified by `baton_channels::webhook::PostError`: 429 (with `Retry-After`),
//! 408, 5xx and network errors are retried; other answers (Slack's `invalid_payload`,
//! `channel_is_archived`...) dead-letter at once.

use super::{Attempt, Job};
use crate::AppState;
use baton_channels::notice::{Notice, NoticeKind};
use baton_channels::{slack, teams};
use baton_core::conversation::EventKind;
use baton_core::{Conversation, ConversationState, QueueId, Timestamp};
use baton_store::Queue;
use baton_store::outbox::{Delivery, Subscription, SubscriptionKind};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// When each subscription last posted (by subscription id), in this process.
static LAST_POST: LazyLock<Mutex<HashMap<String, Timestamp>>> = LazyLock::new(Mutex::default);

/// The default digest window, in seconds.
const DEFAULT_MIN_INTERVAL_SECS: i64 = 30;

fn last_post(subscription: &str) -> Option<Timestamp> {
    LAST_POST
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(subscription)
        .copied()
}

fn record_post(subscription: &str, at: Timestamp) {
    let mut map = LAST_POST.lock().unwrap_or_else(|e| e.into_inner());
    // Forget windows long closed (deleted subscriptions), so the map stays small.
    map.retain(|_, t| at.millis_since(*t) < 24 * 3600 * 1000);
    map.insert(subscription.to_string(), at);
}

/// Sends a burst of jobs for one subscription.
pub async fn deliver(
    state: &AppState,
    subscription: &Subscription,
    jobs: &[Job],
) -> Vec<(Delivery, Attempt)> {
    let now = crate::now();
    let mut results = Vec::with_capacity(jobs.len());
    let mut ready: Vec<(&Job, Notice)> = Vec::new();
    let mut queues: Option<Vec<Queue>> = None;
    for job in jobs {
        match prepare(state, subscription, job, &mut queues, now).await {
            Ok(Ok(notice)) => ready.push((job, notice)),
            Ok(Err(why)) => results.push((job.delivery.clone(), Attempt::Skipped(why))),
            Err(e) => results.push((job.delivery.clone(), Attempt::retry(e))),
        }
    }
    if ready.is_empty() {
        return results;
    }
    let all = |attempt: Attempt, ready: &[(&Job, Notice)], results: &mut Vec<_>| {
        for (job, _) in ready {
            results.push((job.delivery.clone(), attempt.clone()));
        }
    };
    let Some(url) = subscription.config["url"].as_str() else {
        all(
            Attempt::permanent("the notification has no url"),
            &ready,
            &mut results,
        );
        return results;
    };
    if let Some(refused) = state.engine.outbound.refusal(url) {
        all(Attempt::retry(refused), &ready, &mut results);
        return results;
    }
    let window_ms = subscription.config["min_interval_secs"]
        .as_i64()
        .unwrap_or(DEFAULT_MIN_INTERVAL_SECS)
        .max(0)
        * 1000;
    if let Some(last) = last_post(&subscription.id)
        && now.millis_since(last) < window_ms
    {
        let until = last.plus_millis(window_ms);
        let why = format!(
            "held for a digest: this notification posted less than {} s ago",
            window_ms / 1000
        );
        all(Attempt::Deferred { until, why }, &ready, &mut results);
        return results;
    }
    let message = if let [(job, notice)] = ready.as_slice() {
        let mut notice = notice.clone();
        notice.summary = summary(state, job, now).await;
        match subscription.kind {
            SubscriptionKind::Teams => teams::render(&notice),
            _ => slack::render(&notice),
        }
    } else {
        let notices: Vec<Notice> = ready.iter().map(|(_, n)| n.clone()).collect();
        match subscription.kind {
            SubscriptionKind::Teams => teams::render_digest(&notices),
            _ => slack::render_digest(&notices),
        }
    };
    let http = state.engine.bots.http();
    let post = async {
        match subscription.kind {
            SubscriptionKind::Slack => slack::post(http, url, &message).await,
            _ => teams::post(http, url, &message).await,
        }
    };
    let attempt = match tokio::time::timeout(baton_channels::REQUEST_TIMEOUT, post).await {
        Err(_) => Attempt::retry(format!(
            "no answer within {} s",
            baton_channels::REQUEST_TIMEOUT.as_secs()
        )),
        Ok(Ok(())) => {
            record_post(&subscription.id, now);
            Attempt::Delivered
        }
        Ok(Err(e)) => Attempt::Failed {
            retryable: e.retryable(),
            error: e.to_string(),
            retry_after: e.retry_after(),
        },
    };
    all(attempt, &ready, &mut results);
    results
}

/// The notice for a job, or why there is none (`Ok(Err(why))`); `Err` when the store failed.
async fn prepare(
    state: &AppState,
    subscription: &Subscription,
    job: &Job,
    queues: &mut Option<Vec<Queue>>,
    now: Timestamp,
) -> Result<Result<Notice, String>, String> {
    let event = job.event.event();
    let kind = match event {
        Some(EventKind::HandoffRequested { .. }) => NoticeKind::Handoff,
        Some(EventKind::OfferExpired { .. }) => NoticeKind::OfferUnanswered,
        Some(EventKind::OverflowStep { .. } | EventKind::QueueChanged { .. }) => {
            NoticeKind::WaitOverTarget
        }
        _ => {
            let other = job.event.kind();
            return Ok(Err(format!("'{other}' is not a notification event")));
        }
    };
    let Some(conv) = &job.conversation else {
        return Ok(Err("the conversation no longer exists".into()));
    };
    if kind != NoticeKind::Handoff
        && !matches!(
            conv.state,
            ConversationState::Queued | ConversationState::Deferred
        )
    {
        return Ok(Err(format!(
            "the conversation no longer waits (it is {})",
            conv.state.as_str()
        )));
    }
    let store = state.store().as_ref();
    if queues.is_none() {
        *queues = Some(
            store
                .queues(&conv.tenant)
                .await
                .map_err(|e| format!("reading the queues: {e}"))?,
        );
    }
    let queues = queues.as_deref().unwrap_or_default();
    let named = match event {
        Some(EventKind::HandoffRequested { queue, .. }) => {
            queue.clone().or_else(|| conv.queue.clone())
        }
        Some(EventKind::QueueChanged { queue }) => Some(queue.clone()),
        _ => conv.queue.clone(),
    };
    let queue = effective_queue(named, queues);
    if let Some(wanted) = subscription.config["queue"].as_str()
        && queue.as_str() != wanted
    {
        return Ok(Err(format!(
            "the conversation is in queue '{queue}', this notification is for '{wanted}'"
        )));
    }
    let customer = store
        .customer(&conv.tenant, &conv.customer)
        .await
        .map_err(|e| format!("reading the customer: {e}"))?;
    let customer = customer
        .and_then(|c| c.name.or(c.external_id).or(c.email).or(c.phone))
        .unwrap_or_else(|| "A customer".into());
    let handoff_reason = conv
        .handoff
        .as_ref()
        .map(|h| readable(&h.reason))
        .unwrap_or_default();
    let reason = match event {
        Some(EventKind::HandoffRequested { reason, note, .. }) => {
            let mut reason = readable(if reason.is_empty() { "handoff" } else { reason });
            if let Some(note) = note.as_deref().filter(|n| !n.is_empty()) {
                reason = format!("{reason} ({note})");
            }
            reason
        }
        Some(EventKind::OfferExpired { agent }) => {
            let agent = store
                .agent(&conv.tenant, agent)
                .await
                .map_err(|e| format!("reading the agent: {e}"))?
                .map(|a| a.name);
            let who = agent.unwrap_or_else(|| "an agent".to_string());
            with_handoff(format!("offer to {who} went unanswered"), &handoff_reason)
        }
        Some(EventKind::OverflowStep { stage }) => with_handoff(
            format!("waited beyond the queue's target (overflow step {stage})"),
            &handoff_reason,
        ),
        _ => with_handoff(
            format!("waited beyond the queue's target; moved to {queue}"),
            &handoff_reason,
        ),
    };
    let queue_name = queues
        .iter()
        .find(|q| q.id == queue)
        .map_or_else(|| queue.to_string(), |q| q.name.clone());
    Ok(Ok(Notice {
        kind,
        conversation_id: conv.id.to_string(),
        customer,
        reason,
        summary: None,
        queue: Some(queue_name),
        wait_secs: wait_secs(conv, now),
        console_url: console_url(state, conv),
    }))
}

/// The link that opens the conversation in the agent console (`#c/{id}`, see
/// `assets/console/app.js`).
pub fn console_url(state: &AppState, conv: &Conversation) -> String {
    format!(
        "{}/console#c/{}",
        state.public_url.trim_end_matches('/'),
        conv.id
    )
}

/// The queue a conversation waits in: the one named if it still exists, else the tenant's
/// default queue (the first by id; `default` when there are none), as the router does.
pub(super) fn effective_queue(named: Option<QueueId>, queues: &[Queue]) -> QueueId {
    if let Some(q) = named
        && queues.iter().any(|x| x.id == q)
    {
        return q;
    }
    queues
        .iter()
        .map(|q| q.id.clone())
        .min()
        .unwrap_or_else(|| {
            QueueId::parse(baton_engine::routing::BUILTIN_QUEUE).expect("a valid queue id")
        })
}

/// How long the customer has waited for a person so far (or waited, once assigned).
fn wait_secs(conv: &Conversation, now: Timestamp) -> Option<u64> {
    let since = conv.queued_at?;
    let until = match (conv.state, conv.assigned_at) {
        (ConversationState::Assigned, Some(at)) if at >= since => at,
        _ => now,
    };
    u64::try_from(until.millis_since(since) / 1000).ok()
}

/// `customer_request` → `customer request`.
fn readable(reason: &str) -> String {
    reason.replace('_', " ")
}

fn with_handoff(what: String, handoff_reason: &str) -> String {
    if handoff_reason.is_empty() {
        what
    } else {
        format!("{what}; handed off for {handoff_reason}")
    }
}

/// The brief's summary (template, or the LLM's when one wrote it).
async fn summary(state: &AppState, job: &Job, now: Timestamp) -> Option<String> {
    let conv = job.conversation.as_ref()?;
    match baton_engine::brief::build(&state.engine, conv, None, now).await {
        Ok(Some(brief)) => Some(brief.summary),
        Ok(None) => None,
        Err(e) => {
            // A notification without a summary beats no notification.
            tracing::warn!(conversation = %conv.id, error = %e, "no brief for the notification");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(id: &str) -> Queue {
        Queue {
            id: QueueId::parse(id).unwrap(),
            tenant: baton_core::TenantId::parse("ten_x").unwrap(),
            name: id.to_uppercase(),
            skills: Vec::new(),
            languages: Vec::new(),
            strategy: "longest_idle".into(),
            offer_timeout_secs: 30,
            settings: serde_json::json!({}),
            created_at: Timestamp::from_millis(0),
        }
    }

    #[test]
    fn the_effective_queue_falls_back_like_the_router() {
        let queues = [queue("support"), queue("billing")];
        let billing = QueueId::parse("billing").unwrap();
        assert_eq!(effective_queue(Some(billing.clone()), &queues), billing);
        assert_eq!(effective_queue(None, &queues), billing);
        let gone = QueueId::parse("gone").unwrap();
        assert_eq!(effective_queue(Some(gone), &queues), billing);
        assert_eq!(effective_queue(None, &[]).as_str(), "default");
    }

    #[test]
    fn the_digest_window_is_remembered_per_subscription() {
        let at = Timestamp::from_millis(1_000_000);
        record_post("sub_test_window", at);
        assert_eq!(last_post("sub_test_window"), Some(at));
        assert_eq!(last_post("sub_never_posted"), None);
    }
}
