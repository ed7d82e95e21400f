//! The transactional outbox: subscriptions say who wants which events; the store writes one
//! delivery row per (event, matching subscription) in the transaction that appends the event, so
//! a committed event is never lost to a crash and a rolled-back one is never announced. Workers
//! claim due rows, deliver them, and record the outcome.

use crate::StoreResult;
use crate::model::{Page, PageRequest};
use async_trait::async_trait;
use baton_core::{ConversationId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

/// How long a claimed delivery is hidden from other workers (see [`Outbox::claim_deliveries`]).
pub const DELIVERY_LEASE_MS: i64 = 60_000;

/// Where a subscription delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionKind {
    /// A signed HTTP POST (Standard Webhooks).
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// A Microsoft Teams incoming webhook.
    Teams,
    /// Email through the instance's SMTP server.
    Email,
    /// The WhatsApp Cloud API channel (outbound bot and agent messages).
    Whatsapp,
}

impl SubscriptionKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionKind::Webhook => "webhook",
            SubscriptionKind::Slack => "slack",
            SubscriptionKind::Teams => "teams",
            SubscriptionKind::Email => "email",
            SubscriptionKind::Whatsapp => "whatsapp",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<SubscriptionKind> {
        Some(match s {
            "webhook" => SubscriptionKind::Webhook,
            "slack" => SubscriptionKind::Slack,
            "teams" => SubscriptionKind::Teams,
            "email" => SubscriptionKind::Email,
            "whatsapp" => SubscriptionKind::Whatsapp,
            _ => return None,
        })
    }
}

/// Who wants to hear about which events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// `sub_...`.
    pub id: String,
    /// The tenant.
    pub tenant: TenantId,
    /// Where it delivers.
    pub kind: SubscriptionKind,
    /// The conversation event kinds (`handoff_requested`, `assigned`...) it wants.
    pub events: Vec<String>,
    /// Only conversations on this channel, when set.
    pub channel: Option<String>,
    /// Kind-specific settings (URL, signing secret, queue...).
    pub config: serde_json::Value,
    /// Paused subscriptions get no new deliveries.
    pub enabled: bool,
    /// When it was created.
    pub created_at: Timestamp,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its (next) attempt.
    Pending,
    /// Delivered.
    Delivered,
    /// Nothing to send for this event (e.g. an email subscription and a bot turn).
    Skipped,
    /// Gave up: out of attempts or a permanent error. Redeliver on request.
    Dead,
}

impl DeliveryState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Skipped => "skipped",
            DeliveryState::Dead => "dead",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<DeliveryState> {
        Some(match s {
            "pending" => DeliveryState::Pending,
            "delivered" => DeliveryState::Delivered,
            "skipped" => DeliveryState::Skipped,
            "dead" => DeliveryState::Dead,
            _ => return None,
        })
    }
}

/// One event on its way to one subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// `dlv_{seq}_{subscription}`: also the `webhook-id`, stable across retries.
    pub id: String,
    /// The tenant.
    pub tenant: TenantId,
    /// The subscription.
    pub subscription: String,
    /// The conversation, for conversation events (deliveries of one conversation to one
    /// subscription go out in event order).
    pub conversation: Option<ConversationId>,
    /// The event.
    pub event_seq: i64,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Timestamp,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// When the event happened.
    pub created_at: Timestamp,
    /// When it was delivered, skipped or given up.
    pub finished_at: Option<Timestamp>,
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    /// Delivered.
    Delivered,
    /// Nothing to send (with why, kept as `last_error` for operators).
    Skipped(String),
    /// Failed; try again at this time.
    Retry {
        /// When.
        at: Timestamp,
        /// What went wrong.
        error: String,
    },
    /// Failed for good.
    Dead(String),
}

/// Backlog per state, for `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryStats {
    /// The state.
    pub state: DeliveryState,
    /// How many rows.
    pub count: i64,
    /// Total attempts made on them.
    pub attempts: i64,
    /// The oldest one's event time.
    pub oldest: Option<Timestamp>,
}

/// The outbox side of the store.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// A tenant's subscriptions (of one kind, when given), oldest first.
    async fn subscriptions(
        &self,
        tenant: &TenantId,
        kind: Option<SubscriptionKind>,
    ) -> StoreResult<Vec<Subscription>>;
    /// One subscription.
    async fn subscription(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<Subscription>>;
    /// A tenant's deliveries (in one state, when given), newest first.
    async fn deliveries(
        &self,
        tenant: &TenantId,
        state: Option<DeliveryState>,
        page: &PageRequest,
    ) -> StoreResult<Page<Delivery>>;
    /// One delivery.
    async fn delivery(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<Delivery>>;
    /// Claims up to `limit` due pending deliveries, oldest event first, skipping any that has
    /// an earlier pending delivery of the same conversation to the same subscription (order is
    /// kept). Claimed rows are pushed back by [`DELIVERY_LEASE_MS`] so other workers pass them by
    /// (PostgreSQL: `FOR UPDATE SKIP LOCKED`); a worker dying mid-way only delays them.
    async fn claim_deliveries(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Delivery>>;
    /// Records an attempt's outcome (counts the attempt).
    async fn finish_delivery(
        &self,
        id: &str,
        outcome: &DeliveryOutcome,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Puts a dead (or delivered) delivery back in line now; false when there is none.
    async fn redeliver(&self, tenant: &TenantId, id: &str, now: Timestamp) -> StoreResult<bool>;
    /// The earliest due time of any pending delivery.
    async fn next_delivery_due(&self) -> StoreResult<Option<Timestamp>>;
    /// Rows, attempts and oldest event per state, across tenants.
    async fn delivery_stats(&self) -> StoreResult<Vec<DeliveryStats>>;
}

/// `,a,b,`: the stored form of a subscription's event list, matched with `LIKE '%,kind,%'`.
pub(crate) fn events_column(events: &[String]) -> String {
    format!(",{},", events.join(","))
}
