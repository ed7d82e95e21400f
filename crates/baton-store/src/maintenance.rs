//! Operating the database: online backups, the migration state `baton doctor` reports, the
//! database's clock, and pruning what the retention settings say is no longer kept.

use crate::StoreResult;
use async_trait::async_trait;
use baton_core::{Actor, ConversationId, CustomerId, TenantId, Timestamp};
use serde::Serialize;
use std::path::Path;

/// How long finished data is kept; `None` keeps it forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Delivered, skipped and dead outbox rows, counted from when they finished.
    pub deliveries_ms: Option<i64>,
    /// Idempotency records, counted from the request.
    pub idempotency_ms: Option<i64>,
    /// Login sessions and widget customer tokens, counted from their expiry; stale login
    /// throttling rows too.
    pub expired_sessions_ms: Option<i64>,
    /// Closed conversations (their messages, events, facts and deliveries), counted from their
    /// last change.
    pub closed_conversations_ms: Option<i64>,
}

/// Rows removed by one [`Maintenance::prune`] pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Outbox rows.
    pub deliveries: u64,
    /// Idempotency records.
    pub idempotency: u64,
    /// Sessions, customer tokens and login throttling rows.
    pub sessions: u64,
    /// Closed conversations.
    pub conversations: u64,
}

impl Pruned {
    /// Whether nothing was removed.
    pub fn is_empty(&self) -> bool {
        *self == Pruned::default()
    }
}

/// Which migrations a database has, against those this build knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MigrationStatus {
    /// Known and applied.
    pub applied: Vec<i64>,
    /// Known to this build and not applied yet (the next start applies them).
    pub pending: Vec<i64>,
    /// Applied by another (newer) build and unknown to this one.
    pub unknown: Vec<i64>,
    /// Applied with different contents than this build's file of the same number.
    pub changed: Vec<i64>,
    /// Started and not finished.
    pub failed: Vec<i64>,
}

/// What an erasure removed, as recorded in its `customer_erased` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Erasure {
    /// The customer.
    pub customer: CustomerId,
    /// Their conversations, whose text was erased.
    pub conversations: Vec<ConversationId>,
    /// Transcript entries whose text was replaced.
    pub messages: u64,
    /// Events whose personal content was replaced.
    pub events: u64,
    /// The `customer_erased` event in the tenant's chain that records it.
    pub event_seq: i64,
    /// When.
    pub at: Timestamp,
}

/// The kind of the tenant-wide event that records an erasure.
pub const CUSTOMER_ERASED: &str = "customer_erased";

/// Database upkeep.
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// Writes a consistent copy of the whole database to `dest` (a new file) while others keep
    /// writing: SQLite's `VACUUM INTO`, one read transaction. PostgreSQL answers
    /// [`crate::StoreError::Config`] pointing at `pg_dump`.
    async fn backup_to(&self, dest: &Path) -> StoreResult<()>;
    /// The migration state, read without changing anything.
    async fn migration_status(&self) -> StoreResult<MigrationStatus>;
    /// The database server's clock (PostgreSQL); `None` for an embedded database.
    async fn database_now(&self) -> StoreResult<Option<Timestamp>>;
    /// When the newest event was written, if any.
    async fn newest_event_at(&self) -> StoreResult<Option<Timestamp>>;
    /// Removes what `retention` no longer keeps at `now`, at most `batch` rows of a kind per
    /// transaction (a closed conversation counts as one), until none is left. Safe to run
    /// from several instances at once.
    async fn prune(&self, retention: &Retention, now: Timestamp, batch: u32)
    -> StoreResult<Pruned>;
    /// Erases one customer's personal data in one transaction: their profile (name, email,
    /// phone, external id, language, attributes), the text of every message of their
    /// conversations, the personal content of those conversations' events
    /// ([`baton_core::EventKind::erased`]) and projections, their widget tokens and the stored
    /// answers of idempotent requests about them. Each changed event keeps its hash; a
    /// `customer_erased` event by `actor` in the tenant's chain lists them (seq, hash, digest of
    /// the erased content), which is how `verify_log` checks them afterwards. Refuses
    /// ([`crate::StoreError::Conflict`] `customer_has_open_conversations`) while one of their
    /// conversations is not closed, and ([`crate::StoreError::Corrupt`]) when a chain it would
    /// touch does not verify.
    async fn erase_customer(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
        actor: &Actor,
        now: Timestamp,
    ) -> StoreResult<Erasure>;
}
