//! The outbox worker: claims due deliveries, hands each to the sender for its subscription's
//! kind, and records the outcome. Failures are retried with exponential backoff and full jitter
//! for up to [`GIVE_UP_AFTER_MS`] after the event, then dead-lettered (listed at
//! `GET /v1/deliveries?state=dead`, redelivered on request). Several instances may run the
//! worker on one PostgreSQL: claims use `FOR UPDATE SKIP LOCKED`, so each delivery goes out once
//! per attempt, and one conversation's deliveries to one subscription go out in event order.

mod email;
mod slack;
mod webhook;
mod whatsapp;

use crate::AppState;
use baton_core::{Conversation, Timestamp};
use baton_store::outbox::{Delivery, DeliveryOutcome, Subscription, SubscriptionKind};
use baton_store::{StoreResult, StoredEvent};
use std::collections::HashMap;
use std::time::Duration;

pub use webhook::{PUBLIC_EVENTS, internal_event_kind, public_event_name};

/// How long after the event a failing delivery is retried before it is dead-lettered.
pub const GIVE_UP_AFTER_MS: i64 = 24 * 3600 * 1000;
/// The first retry waits up to this long; each further one doubles it.
const BASE_BACKOFF_MS: i64 = 5_000;
/// No retry waits longer than this.
const MAX_BACKOFF_MS: i64 = 3600 * 1000;
/// Deliveries claimed per round.
const BATCH: u32 = 32;
/// How often the worker looks for due deliveries when nothing wakes it.
const POLL: Duration = Duration::from_millis(500);

/// The worker's settings, per server instance ([`crate::AppState::deliveries`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Whether `serve` runs the worker. Tests that drive [`round`] themselves turn it off.
    pub run_worker: bool,
    /// The first retry waits up to this long (ms); each further one doubles it.
    pub base_backoff_ms: i64,
    /// No retry waits less than this (ms), so a storm of failures cannot spin.
    pub min_backoff_ms: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            run_worker: true,
            base_backoff_ms: BASE_BACKOFF_MS,
            min_backoff_ms: 1_000,
        }
    }
}

/// One delivery with what a sender needs.
#[derive(Debug, Clone)]
pub struct Job {
    /// The outbox row.
    pub delivery: Delivery,
    /// Its subscription.
    pub subscription: Subscription,
    /// The event to announce.
    pub event: StoredEvent,
    /// The conversation as it is now, for conversation events.
    pub conversation: Option<Conversation>,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// Delivered.
    Delivered,
    /// Nothing to send for this event.
    Skipped(String),
    /// Not sent yet on purpose (a Slack or Teams digest window is open): try again at `until`.
    Deferred {
        /// When the window closes.
        until: Timestamp,
        /// Why it waits (kept as the row's `last_error` for operators).
        why: String,
    },
    /// Failed; `retryable` says whether another attempt can help.
    Failed {
        /// Whether to try again.
        retryable: bool,
        /// What went wrong (shown to admins; never a secret).
        error: String,
        /// The receiver asked to wait this long (HTTP 429 `Retry-After`).
        retry_after: Option<Duration>,
    },
}

impl Attempt {
    /// A failure another attempt may fix.
    pub fn retry(error: impl Into<String>) -> Attempt {
        Attempt::Failed {
            retryable: true,
            error: error.into(),
            retry_after: None,
        }
    }

    /// A failure no retry will fix.
    pub fn permanent(error: impl Into<String>) -> Attempt {
        Attempt::Failed {
            retryable: false,
            error: error.into(),
            retry_after: None,
        }
    }
}

/// The wait before retry number `attempts` (1 = first retry): full jitter over an exponential
/// ceiling, `jitter` in `[0, 1)`.
pub fn backoff_ms(attempts: u32, jitter: f64) -> i64 {
    Settings::default().backoff_ms(attempts, jitter)
}

impl Settings {
    /// [`backoff_ms`] with these settings.
    pub fn backoff_ms(&self, attempts: u32, jitter: f64) -> i64 {
        let ceiling = self
            .base_backoff_ms
            .saturating_mul(1i64 << attempts.saturating_sub(1).min(30))
            .min(MAX_BACKOFF_MS);
        ((ceiling as f64 * jitter) as i64).max(self.min_backoff_ms)
    }
}

/// What to record for an attempt of `delivery` made at `now`.
pub fn outcome(delivery: &Delivery, attempt: Attempt, now: Timestamp) -> DeliveryOutcome {
    outcome_with(&Settings::default(), delivery, attempt, now)
}

/// [`outcome`] with these retry settings.
pub fn outcome_with(
    settings: &Settings,
    delivery: &Delivery,
    attempt: Attempt,
    now: Timestamp,
) -> DeliveryOutcome {
    match attempt {
        Attempt::Delivered => DeliveryOutcome::Delivered,
        Attempt::Skipped(why) => DeliveryOutcome::Skipped(why),
        Attempt::Deferred { until, why } => DeliveryOutcome::Retry {
            at: until.max(now),
            error: why,
        },
        Attempt::Failed {
            retryable: false,
            error,
            ..
        } => DeliveryOutcome::Dead(error),
        Attempt::Failed {
            retryable: true,
            error,
            retry_after,
        } => {
            let wait = settings
                .backoff_ms(delivery.attempts + 1, rand::random::<f64>())
                .max(retry_after.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
            let at = now.plus_millis(wait);
            if at.millis_since(delivery.created_at) > GIVE_UP_AFTER_MS {
                DeliveryOutcome::Dead(format!("{error} (gave up after 24 hours of retries)"))
            } else {
                DeliveryOutcome::Retry { at, error }
            }
        }
    }
}

/// Runs until `stopped` turns true. Looks for due deliveries every [`POLL`], and at once after
/// an event of a tenant that has a subscription (only such events can have enqueued one);
/// a burst of events wakes it once.
pub async fn run_worker(state: AppState, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let mut events = state.store().subscribe();
    let mut subscribed = Subscribed::default();
    loop {
        if *stopped.borrow() {
            return;
        }
        match round(&state).await {
            // A full batch: there may be more right away.
            Ok(n) if n >= BATCH as usize => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "delivery round failed"),
        }
        let wake = async {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                let wakes = match events.recv().await {
                    Ok(event) => subscribed.wakes(&state, &event).await,
                    Err(RecvError::Lagged(_)) => {
                        subscribed.forget_all();
                        true
                    }
                    Err(RecvError::Closed) => std::future::pending().await,
                };
                if wakes {
                    // What is already queued is covered by the round about to run.
                    while let Ok(event) = events.try_recv() {
                        subscribed.note(&event);
                    }
                    return;
                }
            }
        };
        tokio::select! {
            _ = stopped.changed() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = wake => {}
        }
    }
}

/// Which tenants have a subscription, as far as the worker knows: most have none, and their
/// events cannot have enqueued a delivery, so they need no round. Read once per tenant, and
/// again after a change of its subscriptions (a `webhook_*`, `notification_*`,
/// `email_notification_*` or `whatsapp_channel_*` event, on any instance).
#[derive(Debug, Default)]
struct Subscribed {
    tenants: HashMap<baton_core::TenantId, bool>,
}

impl Subscribed {
    /// Whether `event` may have enqueued a delivery. When the subscriptions cannot be read,
    /// it may have.
    async fn wakes(&mut self, state: &AppState, event: &StoredEvent) -> bool {
        self.note(event);
        if let Some(known) = self.tenants.get(&event.tenant) {
            return *known;
        }
        match state.store().subscriptions(&event.tenant, None).await {
            Ok(subs) => {
                let any = subs.iter().any(|s| s.enabled);
                self.tenants.insert(event.tenant.clone(), any);
                any
            }
            Err(_) => true,
        }
    }

    /// Forgets what it knew of a tenant whose subscriptions `event` changed.
    fn note(&mut self, event: &StoredEvent) {
        if changes_subscriptions(event) {
            self.tenants.remove(&event.tenant);
        }
    }

    fn forget_all(&mut self) {
        self.tenants.clear();
    }
}

/// Whether `event` records a change of its tenant's subscriptions (the audit families of
/// `baton_engine::service::save_subscription` and `delete_subscription`).
fn changes_subscriptions(event: &StoredEvent) -> bool {
    event.conversation.is_none()
        && [
            "webhook_",
            "notification_",
            "email_notification_",
            "whatsapp_channel_",
        ]
        .iter()
        .any(|family| event.kind().starts_with(family))
}

/// One round: claim, send, record. Returns how many deliveries were claimed.
pub async fn round(state: &AppState) -> StoreResult<usize> {
    let store = state.store().as_ref();
    let claimed = store.claim_deliveries(crate::now(), BATCH).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let count = claimed.len();
    let seqs: Vec<i64> = claimed.iter().map(|d| d.event_seq).collect();
    let events: HashMap<i64, StoredEvent> = store
        .events_by_seq(&seqs)
        .await?
        .into_iter()
        .map(|e| (e.seq, e))
        .collect();
    let mut subscriptions: HashMap<String, Option<Subscription>> = HashMap::new();
    let mut conversations: HashMap<String, Option<Conversation>> = HashMap::new();
    // Jobs grouped per subscription (Slack and Teams turn a burst into one digest).
    let mut groups: Vec<(Subscription, Vec<Job>)> = Vec::new();
    for delivery in claimed {
        let key = delivery.subscription.clone();
        if !subscriptions.contains_key(&key) {
            let sub = store.subscription(&delivery.tenant, &key).await?;
            subscriptions.insert(key.clone(), sub);
        }
        let (Some(subscription), Some(event)) = (
            subscriptions[&key].clone(),
            events.get(&delivery.event_seq).cloned(),
        ) else {
            let why = "its subscription or event no longer exists";
            store
                .finish_delivery(
                    &delivery.id,
                    &DeliveryOutcome::Skipped(why.into()),
                    crate::now(),
                )
                .await?;
            continue;
        };
        let conversation = match &delivery.conversation {
            Some(id) => {
                if !conversations.contains_key(id.as_str()) {
                    let c = store.conversation(&delivery.tenant, id).await?;
                    conversations.insert(id.to_string(), c);
                }
                conversations[id.as_str()].clone()
            }
            None => None,
        };
        let job = Job {
            delivery,
            subscription: subscription.clone(),
            event,
            conversation,
        };
        match groups.iter_mut().find(|(s, _)| s.id == subscription.id) {
            Some((_, jobs)) => jobs.push(job),
            None => groups.push((subscription, vec![job])),
        }
    }
    for (subscription, jobs) in groups {
        let results: Vec<(Delivery, Attempt)> = match subscription.kind {
            SubscriptionKind::Slack | SubscriptionKind::Teams => {
                slack::deliver(state, &subscription, &jobs).await
            }
            SubscriptionKind::Webhook => each(state, &jobs, webhook::deliver).await,
            SubscriptionKind::Email => each(state, &jobs, email::deliver).await,
            SubscriptionKind::Whatsapp => each(state, &jobs, whatsapp::deliver).await,
        };
        for (delivery, attempt) in results {
            let now = crate::now();
            state
                .metrics
                .delivery_attempt(subscription.kind.as_str(), &attempt);
            let outcome = outcome_with(&state.deliveries, &delivery, attempt, now);
            if let DeliveryOutcome::Dead(error) = &outcome {
                tracing::warn!(delivery = %delivery.id, %error, "delivery dead-lettered");
            }
            store.finish_delivery(&delivery.id, &outcome, now).await?;
        }
    }
    Ok(count)
}

async fn each<'a, F, Fut>(state: &'a AppState, jobs: &'a [Job], send: F) -> Vec<(Delivery, Attempt)>
where
    F: Fn(&'a AppState, &'a Job) -> Fut,
    Fut: std::future::Future<Output = Attempt>,
{
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        out.push((job.delivery.clone(), send(state, job).await));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_ms(1, 0.999_999), 4_999);
        assert_eq!(backoff_ms(2, 0.5), 5_000);
        assert_eq!(backoff_ms(3, 0.5), 10_000);
        assert_eq!(backoff_ms(40, 0.5), MAX_BACKOFF_MS / 2);
        assert_eq!(backoff_ms(1, 0.0), 1_000);
    }
}
