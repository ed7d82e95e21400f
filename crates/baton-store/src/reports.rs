//! Reading the log for people: analytics facts, the tenant-wide audit view, the tamper-evidence
//! check of the event hash chain, and live operational gauges.

use crate::StoreResult;
use crate::model::{Page, PageRequest, StoredEvent};
use async_trait::async_trait;
use baton_core::analytics::FactsRow;
use baton_core::{TenantId, Timestamp};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Filters for the tenant-wide audit view.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// Only events of this kind (`queue_updated`), or of kinds starting with it and `_`
    /// (`queue` matches `queue_created`, `queue_updated`, `queue_deleted`).
    pub kind: Option<String>,
    /// Only events by this agent.
    pub agent: Option<baton_core::AgentId>,
    /// At or after.
    pub since: Option<Timestamp>,
    /// Before.
    pub until: Option<Timestamp>,
}

/// The first event whose hash does not follow from its chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokenLink {
    /// The event's position in the log.
    pub seq: i64,
    /// Its tenant.
    pub tenant: String,
    /// Its conversation (tenant-wide events chain per tenant).
    pub conversation: Option<String>,
    /// Its kind.
    pub kind: String,
    /// What does not add up.
    pub problem: String,
}

/// The result of checking every hash chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainReport {
    /// Events checked.
    pub events: u64,
    /// Chains (conversations and tenants) checked.
    pub chains: u64,
    /// The first broken link in log order, if any.
    pub broken: Option<BrokenLink>,
}

/// Live figures for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    /// Conversations per state.
    pub conversations: Vec<(String, i64)>,
    /// Per (tenant, queue): waiting conversations and the longest wait so far, in ms.
    pub queues: Vec<QueueGauge>,
    /// Agents per status.
    pub agents: Vec<(String, i64)>,
    /// Offers waiting for an answer.
    pub offers_pending: i64,
}

/// One queue's backlog.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueGauge {
    /// Tenant.
    pub tenant: String,
    /// Queue id (`""` for conversations waiting without a queue).
    pub queue: String,
    /// Waiting conversations.
    pub depth: i64,
    /// When the one waiting longest entered the queue.
    pub oldest: Option<Timestamp>,
}

/// Reading the log.
#[async_trait]
pub trait Reports: Send + Sync {
    /// Facts (and customer tier) of a tenant's conversations that started in `[from, to)`,
    /// oldest first.
    async fn facts_rows(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<FactsRow>>;
    /// One conversation's facts (what senders need: was it deferred, when did the customer
    /// last write), without reading its events.
    async fn facts(
        &self,
        tenant: &TenantId,
        conversation: &baton_core::ConversationId,
    ) -> StoreResult<Option<baton_core::analytics::Facts>>;
    /// Tenant-wide events (configuration, agents, keys), newest first.
    async fn audit_events(
        &self,
        tenant: &TenantId,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<StoredEvent>>;
    /// Recomputes every event's hash from its chain and names the first that does not match.
    async fn verify_log(&self) -> StoreResult<ChainReport>;
    /// Rebuilds the analytics facts of every conversation (of one tenant, when given) from the
    /// events; returns how many.
    async fn rebuild_facts(&self, tenant: Option<&TenantId>) -> StoreResult<u64>;
    /// Live operational figures across tenants.
    async fn gauges(&self) -> StoreResult<Gauges>;
}

/// The hash of an event: SHA-256 over the previous hash of its chain and the event exactly as
/// stored, hex encoded. Any change to a stored event, or removing or reordering one, changes the
/// hashes from there on.
pub fn event_hash(
    prev: Option<&str>,
    tenant: &str,
    conversation: Option<&str>,
    kind: &str,
    actor: &str,
    data: &str,
    at: i64,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev.unwrap_or(""),
        tenant,
        conversation.unwrap_or(""),
        kind,
        actor,
        data,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.update(at.to_be_bytes());
    hex::encode(h.finalize())
}

/// The hex SHA-256 of an event's stored data, as an erasure records it.
pub fn data_digest(data: &str) -> String {
    hex::encode(Sha256::digest(data.as_bytes()))
}
