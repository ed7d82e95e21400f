//! Baton persistence.
//!
//! One [`Store`] trait with two implementations, SQLite (embedded default) and PostgreSQL
//! (scale-out). Both run the same SQL text (written with `$n` placeholders, which both drivers
//! accept), generated once by a macro in [`sql`], with separate migration folders.
//!
//! Writes go through a [`Tx`]: a command is one transaction that appends events and updates
//! projections. The store only persists: the commands that decide what to write (load, decide
//! in the core, persist) are `baton_engine::service`.

pub mod attachments;
pub mod error;
pub mod idempotency;
pub mod ids;
pub mod live;
pub mod maintenance;
pub mod model;
pub mod outbox;
pub mod reports;
mod sql;
pub mod testing;

pub use attachments::{Attachment, Attachments};
pub use error::{StoreError, StoreResult};
pub use maintenance::Maintenance;
pub use model::*;
pub use outbox::Outbox;
pub use reports::Reports;
pub use sql::{ConnectOptions, connect, connect_with};

use async_trait::async_trait;
use baton_core::{
    AgentId, ApiKeyId, Conversation, ConversationId, CustomerId, MessageId, QueueId, TenantId,
    Timestamp,
};
use std::sync::Arc;
use tokio::sync::broadcast;

/// How long a claimed timer is hidden from other instances (see [`Store::due_timers`]).
pub const TIMER_LEASE_MS: i64 = 30_000;

/// The kind of a follow-up job's timer that records a conversation's handoff brief:
/// `brief:{conversation id}`. Enqueued, due at once, in the transaction of the command whose
/// events hand the conversation off; taken ([`Tx::take_timer`]) in the transaction that
/// records the brief, so a brief is recorded once even when two workers ran the job.
pub const BRIEF_JOB: &str = "brief:";

/// The kind of a follow-up job's timer that runs the bot's turn on a customer message:
/// `bot:{conversation id}:{message id}`, ending in `:button` when the message is a "Talk to a
/// person" press. Enqueued in the message's transaction, already leased to the instance that
/// took the message (which runs the turn at once and removes the row when done); any
/// instance's job worker runs it when that instance died first.
pub const BOT_JOB: &str = "bot:";

/// Persistence for Baton. Every call that touches tenant data takes the tenant id.
#[async_trait]
pub trait Store:
    Outbox + Reports + Maintenance + Attachments + Send + Sync + std::fmt::Debug + 'static
{
    /// Which database this is.
    fn backend(&self) -> Backend;
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Checks the database answers (readiness).
    async fn ping(&self) -> StoreResult<()>;
    /// SQLite: what its one writer has done so far; `None` on PostgreSQL.
    fn writer_stats(&self) -> Option<WriterStats>;
    /// The latest time until which any of `keys` is refused logins (see
    /// [`Store::login_failed`]), when that is after `now`.
    async fn login_locked_until(
        &self,
        keys: &[&str],
        now: Timestamp,
    ) -> StoreResult<Option<Timestamp>>;
    /// Counts a failed login against `key`: `limit` failures within `window_ms` lock the key
    /// until that window ends. Every instance sees the count.
    async fn login_failed(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Forgets the failures of `key` (a successful login).
    async fn login_succeeded(&self, key: &str) -> StoreResult<()>;
    /// Starts a write transaction. Dropping it without `commit` rolls back.
    async fn begin(&self) -> StoreResult<Box<dyn Tx>>;
    /// Events committed from now on, by this process or (PostgreSQL) any instance.
    fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>>;

    /// A tenant.
    async fn tenant(&self, id: &TenantId) -> StoreResult<Option<Tenant>>;
    /// Every tenant's id (routing takes their leases at start).
    async fn tenant_ids(&self) -> StoreResult<Vec<TenantId>>;
    /// Takes or renews the tenant's routing lease for `holder` until `now + ttl_ms`: granted
    /// when nobody holds it, it expired, or `holder` already holds it. Returns the lease's
    /// epoch when granted (it grows on every takeover), `None` when another holder has it.
    async fn acquire_routing_lease(
        &self,
        tenant: &TenantId,
        holder: &str,
        now: Timestamp,
        ttl_ms: i64,
    ) -> StoreResult<Option<i64>>;
    /// The `seq` of the newest committed event (0 for an empty log).
    async fn last_event_seq(&self) -> StoreResult<i64>;
    /// What the tenant's router learned and stored last, if anything.
    async fn routing_memory(&self, tenant: &TenantId) -> StoreResult<Option<serde_json::Value>>;
    /// The agent who last handled one of the customer's other conversations (their latest
    /// one with an agent), from the analytics facts.
    async fn previous_agent(
        &self,
        tenant: &TenantId,
        customer: &CustomerId,
        except: &ConversationId,
    ) -> StoreResult<Option<AgentId>>;
    /// The live (not revoked) key with this secret hash.
    async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>>;
    /// A tenant's keys, newest first.
    async fn api_keys(&self, tenant: &TenantId) -> StoreResult<Vec<ApiKey>>;
    /// One agent.
    async fn agent(&self, tenant: &TenantId, id: &AgentId) -> StoreResult<Option<Agent>>;
    /// The active (not deactivated) agent with this login email and their password hash (the
    /// first by id, when several tenants use the email).
    async fn agent_for_login(&self, email: &str) -> StoreResult<Option<(Agent, String)>> {
        Ok(self.agents_for_login(email).await?.into_iter().next())
    }
    /// Every active agent with this login email (emails are unique per tenant) and their
    /// password hashes, by id.
    async fn agents_for_login(&self, email: &str) -> StoreResult<Vec<(Agent, String)>>;
    /// A tenant's agents, by name.
    async fn agents(&self, tenant: &TenantId) -> StoreResult<Vec<Agent>>;
    /// The session with this token hash, if it has not expired at `now`.
    async fn session(&self, token_hash: &str, now: Timestamp) -> StoreResult<Option<Session>>;
    /// One queue.
    async fn queue(&self, tenant: &TenantId, id: &QueueId) -> StoreResult<Option<Queue>>;
    /// A tenant's queues, by name.
    async fn queues(&self, tenant: &TenantId) -> StoreResult<Vec<Queue>>;
    /// One customer.
    async fn customer(&self, tenant: &TenantId, id: &CustomerId) -> StoreResult<Option<Customer>>;
    /// One conversation.
    async fn conversation(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
    ) -> StoreResult<Option<Conversation>>;
    /// What a message to a conversation starts from, read outside any transaction: the
    /// conversation, its customer (`None` only if its record is gone), the tenant's message
    /// that already carries `external_id` (a channel's id for it), and what appending to the
    /// conversation needs next, with its last `history` transcript entries (what the
    /// detector reads). A write transaction can take it as read ([`Tx::adopt`]).
    async fn conversation_read(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        external_id: Option<&str>,
        history: u32,
    ) -> StoreResult<Option<ConversationRead>>;
    /// What decides who may see a conversation ([`AgentScope::sees`]), `None` if it is not the
    /// tenant's: one row that serves every agent's decision at once.
    async fn conversation_sight(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
    ) -> StoreResult<Option<Sight>>;
    /// One conversation, only if the agent of `scope` may see it (see [`AgentScope`]).
    async fn visible_conversation(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        scope: &AgentScope,
    ) -> StoreResult<Option<Conversation>>;
    /// Conversations, newest first.
    async fn conversations(
        &self,
        tenant: &TenantId,
        filter: &ConversationFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Conversation>>;
    /// A conversation's transcript, oldest first.
    async fn messages(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>>;
    /// The last `limit` transcript entries of a conversation, oldest first (outside a
    /// transaction).
    async fn recent_messages(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
    /// The message with this channel id in this tenant, if any (outside a transaction).
    async fn message_with_external_id(
        &self,
        tenant: &TenantId,
        external_id: &str,
    ) -> StoreResult<Option<Message>>;
    /// One transcript entry of a conversation.
    async fn message(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        id: &MessageId,
    ) -> StoreResult<Option<Message>>;
    /// A conversation's events, oldest first.
    async fn events(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        page: &PageRequest,
    ) -> StoreResult<Page<StoredEvent>>;
    /// Events with `seq` in `seqs` (used to fan out notifications from other instances).
    async fn events_by_seq(&self, seqs: &[i64]) -> StoreResult<Vec<StoredEvent>>;
    /// The tenant whose public widget key has this hash.
    async fn widget_key_tenant(&self, key_hash: &str) -> StoreResult<Option<TenantId>>;
    /// The (tenant, conversation) a live customer token with this hash is scoped to.
    async fn customer_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<(TenantId, ConversationId)>>;
    /// A tenant's configuration document stored under `key` (rules, hours...).
    async fn setting(&self, tenant: &TenantId, key: &str)
    -> StoreResult<Option<serde_json::Value>>;
    /// One knowledge-base article.
    async fn kb_article(&self, tenant: &TenantId, id: &str) -> StoreResult<Option<KbArticle>>;
    /// A tenant's knowledge-base articles, by id.
    async fn kb_articles(&self, tenant: &TenantId) -> StoreResult<Vec<KbArticle>>;
    /// One page of a tenant's open conversations as the router tracks them (`queued`,
    /// `assigned` and `deferred`), by id: at most `limit` after `after`. Paged so that reading
    /// a long line holds one page of documents at a time.
    async fn open_conversations(
        &self,
        tenant: &TenantId,
        after: Option<&ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<Conversation>>;
    /// The earliest due time of any persisted timer (all tenants).
    async fn next_timer_due(&self) -> StoreResult<Option<Timestamp>>;
    /// Claims up to `limit` timers due at `now` (earliest first): each claimed timer is pushed
    /// back by a lease of [`TIMER_LEASE_MS`], so other instances skip it while this one works
    /// (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite has one writer). Whoever handles the timer
    /// sets it to its real next deadline; an instance dying mid-way only delays it by the lease.
    async fn due_timers(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<(TenantId, String)>>;
    /// Number of conversations per state, across tenants (for `/metrics`).
    async fn conversation_counts(&self) -> StoreResult<Vec<(String, i64)>>;

    /// Claims an idempotency key for a request with this fingerprint.
    async fn idempotency_claim(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> StoreResult<IdempotencyClaim>;
    /// Records the response of a claimed key.
    async fn idempotency_complete(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> StoreResult<()>;
    /// Forgets a claimed key whose request failed on the server side, so a retry can run.
    async fn idempotency_release(&self, scope: &str, key: &str) -> StoreResult<()>;
}

/// One write transaction. Each command of Baton is exactly one of these.
#[async_trait]
pub trait Tx: Send {
    /// Serializes routing decisions for a tenant until commit (PostgreSQL advisory lock;
    /// SQLite write transactions are already serialized).
    async fn lock_tenant(&mut self, tenant: &TenantId) -> StoreResult<()>;

    /// Whether `holder` still holds the tenant's routing lease at `epoch`. On PostgreSQL the
    /// lease row is share-locked until commit, so no takeover lands in between.
    async fn routing_lease_held(
        &mut self,
        tenant: &TenantId,
        holder: &str,
        epoch: i64,
    ) -> StoreResult<bool>;
    /// Serializes transactions that take the same `key` until commit (PostgreSQL advisory
    /// transaction lock on the key's hash; SQLite write transactions are already serialized).
    async fn lock_key(&mut self, key: &str) -> StoreResult<()>;
    /// The customer's newest conversation on `channel` that is not closed, if any.
    async fn open_conversation_on(
        &mut self,
        tenant: &TenantId,
        customer: &CustomerId,
        channel: &str,
    ) -> StoreResult<Option<ConversationId>>;
    /// How many conversations count against the agent's capacity: the ones they own and the
    /// ones offered to them (offers are reservations).
    async fn agent_load(&mut self, tenant: &TenantId, agent: &AgentId) -> StoreResult<u32>;

    /// Inserts a tenant.
    async fn insert_tenant(&mut self, tenant: &Tenant) -> StoreResult<()>;
    /// Inserts an API key with the hash of its secret.
    async fn insert_api_key(&mut self, key: &ApiKey, hash: &str) -> StoreResult<()>;
    /// Revokes a key; false when there is no such live key.
    async fn revoke_api_key(
        &mut self,
        tenant: &TenantId,
        id: &ApiKeyId,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Inserts an agent. A taken email is [`StoreError::Conflict`].
    async fn insert_agent(&mut self, agent: &Agent, password_hash: &str) -> StoreResult<()>;
    /// Locks and reads an agent.
    async fn agent_for_update(
        &mut self,
        tenant: &TenantId,
        id: &AgentId,
    ) -> StoreResult<Option<Agent>>;
    /// Updates an agent's profile and status (not email or password).
    async fn update_agent(&mut self, agent: &Agent) -> StoreResult<()>;
    /// Changes an agent's password hash.
    async fn set_agent_password(
        &mut self,
        tenant: &TenantId,
        id: &AgentId,
        password_hash: &str,
    ) -> StoreResult<()>;
    /// Inserts a session.
    async fn insert_session(&mut self, token_hash: &str, session: &Session) -> StoreResult<()>;
    /// Deletes a session.
    async fn delete_session(&mut self, token_hash: &str) -> StoreResult<()>;
    /// Deletes every session of an agent; returns how many there were.
    async fn delete_agent_sessions(
        &mut self,
        tenant: &TenantId,
        agent: &AgentId,
    ) -> StoreResult<u64>;
    /// Inserts or replaces a queue.
    async fn upsert_queue(&mut self, queue: &Queue) -> StoreResult<()>;
    /// Deletes a queue; false when there is none.
    async fn delete_queue(&mut self, tenant: &TenantId, id: &QueueId) -> StoreResult<bool>;
    /// Finds a customer by the tenant's external id.
    async fn customer_by_external_id(
        &mut self,
        tenant: &TenantId,
        external_id: &str,
    ) -> StoreResult<Option<Customer>>;
    /// Locks and reads a customer (row lock on PostgreSQL).
    async fn customer_for_update(
        &mut self,
        tenant: &TenantId,
        id: &CustomerId,
    ) -> StoreResult<Option<Customer>>;
    /// Inserts or updates a customer (by id).
    async fn upsert_customer(&mut self, customer: &Customer) -> StoreResult<()>;
    /// Inserts a new conversation projection.
    async fn insert_conversation(&mut self, conversation: &Conversation) -> StoreResult<()>;
    /// Locks and reads a conversation (row lock on PostgreSQL).
    async fn conversation_for_update(
        &mut self,
        tenant: &TenantId,
        id: &ConversationId,
    ) -> StoreResult<Option<Conversation>>;
    /// Writes a conversation projection back.
    async fn save_conversation(&mut self, conversation: &Conversation) -> StoreResult<()>;
    /// Takes `read` ([`Store::conversation_read`]) as this transaction's view of the
    /// conversation instead of reading it again under a lock: the transaction checks before
    /// its commit that none of it changed meanwhile (the conversation, its event chain, its
    /// analytics facts, its customer's tier, whether the tenant has subscriptions), and fails
    /// with [`StoreError::Stale`] if it did, having written nothing. It also does not look for
    /// the message's `external_id` again: a message that takes one meanwhile makes the insert
    /// fail with `external_id_reused`. On SQLite the check travels with the writes (one round
    /// trip to the writer); on PostgreSQL the conversation's update makes it (no lock, locked
    /// read or `external_id` lookup of its own). `false` (a conversation the transaction has
    /// already read, or another one adopted): read it with [`Tx::conversation_for_message`].
    async fn adopt(&mut self, read: &ConversationRead) -> StoreResult<bool>;
    /// [`Tx::conversation_for_update`], with the tenant's message that carries `external_id`
    /// (a channel's id for it), if any: one round trip on SQLite.
    async fn conversation_for_message(
        &mut self,
        tenant: &TenantId,
        id: &ConversationId,
        external_id: Option<&str>,
    ) -> StoreResult<Option<(Conversation, Option<Message>)>>;
    /// The last `limit` transcript entries of a conversation, oldest first.
    async fn recent_messages(
        &mut self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
    /// Stores (replaces) a tenant's configuration document under `key`.
    async fn put_setting(
        &mut self,
        tenant: &TenantId,
        key: &str,
        value: &serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Makes `key_hash` the tenant's only public widget key.
    async fn replace_widget_key(&mut self, tenant: &TenantId, key_hash: &str) -> StoreResult<()>;
    /// Stores a customer token scoped to one conversation.
    async fn insert_customer_token(
        &mut self,
        token_hash: &str,
        tenant: &TenantId,
        conversation: &ConversationId,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    /// Inserts or replaces a knowledge-base article.
    async fn put_kb_article(&mut self, article: &KbArticle) -> StoreResult<()>;
    /// Inserts a new knowledge-base article; false (nothing written) when its id exists.
    async fn insert_kb_article(&mut self, article: &KbArticle) -> StoreResult<bool>;
    /// Deletes a knowledge-base article; false when there is none.
    async fn delete_kb_article(&mut self, tenant: &TenantId, id: &str) -> StoreResult<bool>;
    /// Inserts or replaces an outbox subscription (by id).
    async fn put_subscription(&mut self, subscription: &outbox::Subscription) -> StoreResult<()>;
    /// Deletes a subscription and its undelivered deliveries; false when there is none.
    async fn delete_subscription(&mut self, tenant: &TenantId, id: &str) -> StoreResult<bool>;
    /// How many files a conversation holds and their total size in bytes.
    async fn attachment_usage(
        &mut self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> StoreResult<(u64, u64)>;
    /// Stores an attachment's record and bytes (after the message that carries it).
    async fn insert_attachment(&mut self, attachment: &Attachment, bytes: &[u8])
    -> StoreResult<()>;
    /// A tenant's agents, read inside this transaction.
    async fn tenant_agents(&mut self, tenant: &TenantId) -> StoreResult<Vec<Agent>>;
    /// A tenant's queues, by id, read inside this transaction.
    async fn tenant_queues(&mut self, tenant: &TenantId) -> StoreResult<Vec<Queue>>;
    /// Stores what the tenant's router learned (a JSON document).
    async fn put_routing_memory(
        &mut self,
        tenant: &TenantId,
        memory_json: &str,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Removes the tenant's timer of this kind; false when there was none (another worker
    /// took it first).
    async fn take_timer(&mut self, tenant: &TenantId, kind: &str) -> StoreResult<bool>;
    /// Sets (or with `None` removes) the tenant's timer of this kind.
    async fn set_timer(
        &mut self,
        tenant: &TenantId,
        kind: &str,
        due: Option<Timestamp>,
    ) -> StoreResult<()>;
    /// Appends an event; returns it with its `seq`.
    async fn append_event(&mut self, event: &NewEvent) -> StoreResult<StoredEvent>;
    /// Appends events in the given order, as [`Tx::append_event`] does each, with one statement.
    async fn append_events(&mut self, events: &[NewEvent]) -> StoreResult<Vec<StoredEvent>> {
        self.append(&mut [], events).await
    }
    /// Inserts transcript entries (assigning each its `seq`), then appends events as
    /// [`Tx::append_events`] does; on SQLite all of it in one round trip to the database.
    async fn append(
        &mut self,
        messages: &mut [Message],
        events: &[NewEvent],
    ) -> StoreResult<Vec<StoredEvent>>;
    /// Commits, then publishes the appended events to live subscribers.
    async fn commit(self: Box<Self>) -> StoreResult<()>;
    /// [`Tx::append`] and [`Tx::commit`] together: on SQLite the append goes with the commit
    /// in one round trip to the database. Returns the appended events.
    async fn append_and_commit(
        mut self: Box<Self>,
        messages: &mut [Message],
        events: &[NewEvent],
    ) -> StoreResult<Vec<StoredEvent>> {
        let stored = self.append(messages, events).await?;
        self.commit().await?;
        Ok(stored)
    }
}
