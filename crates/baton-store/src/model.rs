//! The records the store keeps, beside the core's conversation projection.

use baton_core::conversation::{Actor, BotTurn, EventKind};
use baton_core::{
    AgentId, AgentStatus, ApiKeyId, ConversationId, ConversationState, CustomerId, MessageId,
    MessageRole, QueueId, Role, TenantId, Timestamp,
};
use serde::{Deserialize, Serialize};

/// A company using Baton.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: Timestamp,
}

/// An integration key. The secret itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Its id.
    pub id: ApiKeyId,
    /// Its tenant.
    pub tenant: TenantId,
    /// What it is for.
    pub name: String,
    /// The first characters of the secret, to recognise it in lists.
    pub prefix: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// When it was revoked; revoked keys authenticate nothing.
    pub revoked_at: Option<Timestamp>,
}

/// A skill an agent has, with a level from 1 to 10.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Skill {
    /// Skill name, e.g. `billing`.
    pub name: String,
    /// 1 (basic) to 10 (expert).
    pub level: u8,
}

/// A person who logs in: agent, supervisor or admin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Its id.
    pub id: AgentId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Login email, unique within the tenant.
    pub email: String,
    /// Display name shown to customers.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// Availability.
    pub status: AgentStatus,
    /// When `status` last changed.
    pub status_changed_at: Timestamp,
    /// Skills with levels.
    pub skills: Vec<Skill>,
    /// Languages spoken (BCP 47 primary tags such as `en`, `es`).
    pub languages: Vec<String>,
    /// Queues (teams) they belong to.
    pub queues: Vec<QueueId>,
    /// Maximum concurrent conversations.
    pub capacity: u32,
    /// Creation time.
    pub created_at: Timestamp,
    /// When they were deactivated (history kept; no login, no offers); `None` while active.
    #[serde(default)]
    pub deactivated_at: Option<Timestamp>,
}

/// A logged-in session. The token is only stored as its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The tenant.
    pub tenant: TenantId,
    /// The agent.
    pub agent: AgentId,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// A queue (team) that conversations wait in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    /// Its id.
    pub id: QueueId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Display name.
    pub name: String,
    /// Skills an agent needs for this queue.
    pub skills: Vec<Skill>,
    /// Languages served (empty: any).
    pub languages: Vec<String>,
    /// Routing strategy name (`round_robin`, `longest_idle`, `least_busy`, `best_match`).
    pub strategy: String,
    /// How long an offer waits for an answer.
    pub offer_timeout_secs: u32,
    /// Everything else the router reads (overflow steps, hours, weights), as JSON.
    pub settings: serde_json::Value,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A customer of a tenant, identified by the tenant's own `external_id` when given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// Its id.
    pub id: CustomerId,
    /// Its tenant.
    pub tenant: TenantId,
    /// The tenant's id for this customer.
    pub external_id: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Preferred language.
    pub language: Option<String>,
    /// Tier, e.g. `vip`.
    pub tier: Option<String>,
    /// Free attributes.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A conversation as read outside a transaction, for a message to it
/// ([`crate::Store::conversation_read`]).
#[derive(Debug, Clone)]
pub struct ConversationRead {
    /// The conversation.
    pub conversation: baton_core::Conversation,
    /// Its customer (`None` only if the record is gone).
    pub customer: Option<Customer>,
    /// The tenant's message that already carries the external id asked about, if any.
    pub existing: Option<Message>,
    /// The last transcript entries asked for, oldest first.
    pub recent: Vec<Message>,
    /// What the transaction that takes it checks at commit, and what appending needs.
    pub(crate) seen: Seen,
}

/// The stored state a [`ConversationRead`] was read from.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// The conversation's row as stored.
    pub data: String,
    /// Its customer's id and tier.
    pub customer: Option<String>,
    pub tier: Option<String>,
    /// The hash of its last event.
    pub head: Option<String>,
    /// Its analytics facts as stored.
    pub facts: Option<String>,
    /// Whether the tenant has an enabled subscription.
    pub subscribed: bool,
}

/// One transcript entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Its id.
    pub id: MessageId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its conversation.
    pub conversation: ConversationId,
    /// Order within the store (increasing).
    pub seq: i64,
    /// Who wrote it.
    pub role: MessageRole,
    /// The text.
    pub text: String,
    /// The agent who wrote it (agent turns and notes).
    pub agent: Option<AgentId>,
    /// The channel's id for it (deduplication key).
    pub external_id: Option<String>,
    /// Bot metadata.
    pub bot: Option<BotTurn>,
    /// The file it carries, if any (its text is then the file's name).
    pub attachment: Option<baton_core::conversation::AttachmentRef>,
    /// When it was stored.
    pub created_at: Timestamp,
}

/// What an event says: a conversation's event as the core defines it, typed, or a tenant-wide
/// record (agents, configuration, keys, erasures) with its own JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    /// A conversation's event.
    Conversation(EventKind),
    /// A tenant-wide record, or a conversation event this version cannot read (written by
    /// another version): its kind and JSON as stored.
    Record {
        /// Snake-case type name.
        kind: String,
        /// The body.
        data: serde_json::Value,
    },
}

impl EventBody {
    /// A tenant-wide record.
    pub fn record(kind: impl Into<String>, data: serde_json::Value) -> Self {
        EventBody::Record {
            kind: kind.into(),
            data,
        }
    }

    /// Snake-case type name (`handoff_requested`, `agent_created`...).
    pub fn kind(&self) -> &str {
        match self {
            EventBody::Conversation(event) => event.name(),
            EventBody::Record { kind, .. } => kind,
        }
    }

    /// The body as JSON, for views and webhooks (a conversation event's carries its `type`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            EventBody::Conversation(event) => {
                serde_json::to_value(event).expect("events serialize")
            }
            EventBody::Record { data, .. } => data.clone(),
        }
    }

    /// The body as stored.
    pub(crate) fn to_text(&self) -> serde_json::Result<String> {
        match self {
            EventBody::Conversation(event) => serde_json::to_string(event),
            EventBody::Record { data, .. } => serde_json::to_string(data),
        }
    }

    /// The body of a stored row: typed when it is a conversation event this version knows.
    pub(crate) fn from_text(
        kind: String,
        conversation: bool,
        data: &str,
    ) -> serde_json::Result<Self> {
        if conversation
            && let Ok(event) = serde_json::from_str::<EventKind>(data)
            && event.name() == kind
        {
            return Ok(EventBody::Conversation(event));
        }
        Ok(EventBody::Record {
            kind,
            data: serde_json::from_str(data)?,
        })
    }

    /// [`EventBody::from_text`] from JSON already parsed.
    fn from_json(kind: String, conversation: bool, data: serde_json::Value) -> Self {
        if conversation
            && let Ok(event) = EventKind::deserialize(&data)
            && event.name() == kind
        {
            return EventBody::Conversation(event);
        }
        EventBody::Record { kind, data }
    }
}

/// An event to append: conversation events carry a core [`EventKind`]; tenant-wide events
/// (agent status, configuration changes) carry their own JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The tenant.
    pub tenant: TenantId,
    /// The conversation, for conversation events.
    pub conversation: Option<ConversationId>,
    /// Who did it.
    pub actor: Actor,
    /// What happened.
    pub body: EventBody,
    /// When.
    pub at: Timestamp,
}

impl NewEvent {
    /// A conversation event from the core.
    pub fn conversation(
        tenant: &TenantId,
        conversation: &ConversationId,
        event: &EventKind,
        actor: &Actor,
        at: Timestamp,
    ) -> Self {
        NewEvent {
            tenant: tenant.clone(),
            conversation: Some(conversation.clone()),
            actor: actor.clone(),
            body: EventBody::Conversation(event.clone()),
            at,
        }
    }

    /// A tenant-wide record (configuration changes, agents, keys).
    pub fn tenant(
        tenant: &TenantId,
        kind: impl Into<String>,
        actor: &Actor,
        data: serde_json::Value,
        at: Timestamp,
    ) -> Self {
        NewEvent {
            tenant: tenant.clone(),
            conversation: None,
            actor: actor.clone(),
            body: EventBody::record(kind, data),
            at,
        }
    }

    /// Snake-case type name.
    pub fn kind(&self) -> &str {
        self.body.kind()
    }
}

/// An event as stored: the append-only log that feeds the live views and the audit trail.
/// Its JSON form (PostgreSQL's NOTIFY payloads) is `{seq, tenant, conversation, kind, actor,
/// data, at}`, `data` as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Position in the log (increasing, unique across the store).
    pub seq: i64,
    /// The tenant.
    pub tenant: TenantId,
    /// The conversation, for conversation events.
    pub conversation: Option<ConversationId>,
    /// Who did it.
    pub actor: Actor,
    /// What happened.
    pub body: EventBody,
    /// When.
    pub at: Timestamp,
}

impl StoredEvent {
    /// Snake-case type name.
    pub fn kind(&self) -> &str {
        self.body.kind()
    }

    /// The conversation event, typed (`None` for tenant-wide records).
    pub fn event(&self) -> Option<&EventKind> {
        match &self.body {
            EventBody::Conversation(event) => Some(event),
            EventBody::Record { .. } => None,
        }
    }

    /// A tenant-wide record's JSON (`None` for conversation events).
    pub fn record(&self) -> Option<&serde_json::Value> {
        match &self.body {
            EventBody::Record { data, .. } => Some(data),
            EventBody::Conversation(_) => None,
        }
    }
}

/// [`StoredEvent`]'s JSON form, borrowed.
#[derive(Serialize)]
struct EventWire<'a> {
    seq: i64,
    tenant: &'a TenantId,
    conversation: &'a Option<ConversationId>,
    kind: &'a str,
    actor: &'a Actor,
    data: WireData<'a>,
    at: Timestamp,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireData<'a> {
    Event(&'a EventKind),
    Record(&'a serde_json::Value),
}

/// [`StoredEvent`]'s JSON form, read.
#[derive(Deserialize)]
struct EventWireOwned {
    seq: i64,
    tenant: TenantId,
    conversation: Option<ConversationId>,
    kind: String,
    actor: Actor,
    data: serde_json::Value,
    at: Timestamp,
}

impl Serialize for StoredEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        EventWire {
            seq: self.seq,
            tenant: &self.tenant,
            conversation: &self.conversation,
            kind: self.kind(),
            actor: &self.actor,
            data: match &self.body {
                EventBody::Conversation(event) => WireData::Event(event),
                EventBody::Record { data, .. } => WireData::Record(data),
            },
            at: self.at,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for StoredEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = EventWireOwned::deserialize(deserializer)?;
        Ok(StoredEvent {
            seq: wire.seq,
            body: EventBody::from_json(wire.kind, wire.conversation.is_some(), wire.data),
            tenant: wire.tenant,
            conversation: wire.conversation,
            actor: wire.actor,
            at: wire.at,
        })
    }
}

/// Filters for listing conversations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationFilter {
    /// Only in this state.
    pub state: Option<baton_core::ConversationState>,
    /// Only in this queue.
    pub queue: Option<QueueId>,
    /// `queue` is the tenant's default queue, which also holds the routed conversations
    /// without a queue or whose queue no longer exists (see [`AgentScope`]).
    pub queue_is_default: bool,
    /// Only assigned to this agent.
    pub assignee: Option<AgentId>,
    /// Only of this customer.
    pub customer: Option<CustomerId>,
    /// Created at or after.
    pub since: Option<Timestamp>,
    /// Created before.
    pub until: Option<Timestamp>,
    /// Only conversations this agent may see (see [`AgentScope`]); `None`: all.
    pub visible_to: Option<AgentScope>,
    /// Only conversations matching this search (see [`SearchText`]).
    pub search: Option<SearchText>,
}

/// What an agent typed in the search box, parsed: words matched against the transcript by the
/// database's full-text index (SQLite FTS5, PostgreSQL `tsvector`), each word as a prefix and
/// all of them required; or the whole text against the customer's name, email and external id
/// (case-insensitive substring) and the conversation's id (whole, or its last characters as
/// the console shows them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText {
    text: String,
    words: Vec<String>,
}

impl SearchText {
    /// At most this many words are matched.
    pub const MAX_WORDS: usize = 8;

    /// Parses a search; `None` when it has nothing to look for.
    pub fn parse(raw: &str) -> Option<SearchText> {
        let text = raw.trim().to_lowercase();
        if text.is_empty() {
            return None;
        }
        let mut words: Vec<String> = Vec::new();
        for w in text.split(|c: char| !c.is_alphanumeric()) {
            if !w.is_empty() && !words.iter().any(|x| x == w) && words.len() < Self::MAX_WORDS {
                words.push(w.to_string());
            }
        }
        Some(SearchText { text, words })
    }

    /// The whole search, trimmed and lowercased.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Its words (letters and digits), lowercased, without repeats.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// An FTS5 query: every word, quoted, as a prefix, all required.
    pub fn fts5_query(&self) -> Option<String> {
        if self.words.is_empty() {
            return None;
        }
        Some(
            self.words
                .iter()
                .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    /// A PostgreSQL `to_tsquery('simple', ...)` text: every word as a prefix, all required.
    /// Words hold only letters and digits, so nothing in them is tsquery syntax.
    pub fn tsquery(&self) -> Option<String> {
        if self.words.is_empty() {
            return None;
        }
        Some(
            self.words
                .iter()
                .map(|w| format!("{w}:*"))
                .collect::<Vec<_>>()
                .join(" & "),
        )
    }

    /// `LIKE` pattern for a case-insensitive substring match of the whole text.
    pub fn like_pattern(&self) -> String {
        let mut p = String::with_capacity(self.text.len() + 2);
        p.push('%');
        for c in self.text.chars() {
            if matches!(c, '%' | '_' | '\\') {
                p.push('\\');
            }
            p.push(c);
        }
        p.push('%');
        p
    }
}

/// What an agent with the `agent` role may see: conversations assigned or offered to them,
/// the waiting (`queued`), `deferred` and `assigned` conversations of the queues they work, and
/// the ones they owned last once they are `closed` (or reopened to the `bot` since).
/// Supervisors, admins and API keys see every conversation of their tenant.
///
/// A queue's conversations are those whose `queue` is that queue; the tenant's *default queue*
/// (the first by id) also holds the conversations without a queue or whose queue no longer
/// exists, as in routing (`crate::routing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentScope {
    /// The agent.
    pub agent: AgentId,
    /// The existing queues they work (their listed ones, or the default queue when they list
    /// none that exists).
    pub queues: Vec<QueueId>,
    /// Whether they work the default queue, and so see conversations waiting without one.
    pub default_queue: bool,
}

impl AgentScope {
    /// The scope of `agent` in a tenant whose queues have the ids `tenant_queues` (any order).
    /// A tenant without queues routes everything through a built-in default queue that every
    /// agent works.
    pub fn new(agent: &Agent, tenant_queues: &[QueueId]) -> Self {
        let default = tenant_queues.iter().min();
        let mut queues: Vec<QueueId> = agent
            .queues
            .iter()
            .filter(|q| tenant_queues.contains(q))
            .cloned()
            .collect();
        queues.sort();
        queues.dedup();
        if queues.is_empty()
            && let Some(d) = default
        {
            queues.push(d.clone());
        }
        let default_queue = match default {
            Some(d) => queues.contains(d),
            None => true,
        };
        AgentScope {
            agent: agent.id.clone(),
            queues,
            default_queue,
        }
    }
}

/// What decides who may see a conversation (see [`AgentScope::sees`]): the columns the
/// visibility rule of `GET /v1/conversations` reads, in one small row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sight {
    /// Its state.
    pub state: ConversationState,
    /// The queue it waits or waited in.
    pub queue: Option<QueueId>,
    /// Whether that queue exists (a deleted queue's conversations count as the default queue's).
    pub queue_exists: bool,
    /// The agent who holds it.
    pub assignee: Option<AgentId>,
    /// The agent a pending offer is out to.
    pub offer_agent: Option<AgentId>,
    /// The last agent who held it.
    pub last_agent: Option<AgentId>,
}

impl AgentScope {
    /// Whether the agent may see a conversation with this [`Sight`]: the same rule as the
    /// store's visibility filter (a test holds the two together on both databases). Theirs:
    /// held by them, offered to them, or last held by them and closed or back with the bot;
    /// their teams': waiting, deferred or assigned in a queue they work (the default queue
    /// also holding those without an existing queue).
    pub fn sees(&self, sight: &Sight) -> bool {
        let me = Some(&self.agent);
        if sight.assignee.as_ref() == me || sight.offer_agent.as_ref() == me {
            return true;
        }
        if sight.last_agent.as_ref() == me
            && matches!(
                sight.state,
                ConversationState::Closed | ConversationState::Bot
            )
        {
            return true;
        }
        let open = matches!(
            sight.state,
            ConversationState::Queued | ConversationState::Deferred | ConversationState::Assigned
        );
        let in_team = sight
            .queue
            .as_ref()
            .is_some_and(|q| self.queues.contains(q));
        let in_default = self.default_queue && (sight.queue.is_none() || !sight.queue_exists);
        open && (in_team || in_default)
    }
}

/// A page request: at most `limit` items after `cursor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// 1 to 500.
    pub limit: u32,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            limit: 50,
            cursor: None,
        }
    }
}

/// A page of results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Cursor for the next page; `None` on the last one.
    pub next_cursor: Option<String>,
}

/// What a stored idempotency key says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// First use: run the request, then record its response.
    Claimed,
    /// Already answered: replay this.
    Replay {
        /// HTTP status.
        status: u16,
        /// Response body.
        body: String,
    },
    /// The first request with this key is still running.
    InProgress,
    /// The first request's command committed (the mark is written in its own transaction),
    /// but its answer was never recorded: the process died in between. It must not run again.
    Committed,
    /// The key was used for a different request.
    Mismatch,
}

/// Which database is behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// What SQLite's one writer has done since the store opened (group commit's efficiency): how
/// many write transactions it ran, in how many commits, how long transactions held it and how
/// long its commits took (the fsync). Counters: rates come from two readings.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WriterStats {
    /// Write transactions committed.
    pub transactions: u64,
    /// Commits (each one fsync; each holds one or more transactions).
    pub commits: u64,
    /// Seconds the writer was held by transactions (their turn, from first to last statement).
    pub held_seconds: f64,
    /// Seconds spent in round trips that committed: a `COMMIT` sent alone, or sent with the
    /// writes of the batch's last transactions (then also counted in `held_seconds`).
    pub commit_seconds: f64,
}

/// A knowledge-base article (Markdown body). Searched through the server's index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KbArticle {
    /// Id (a slug, unique per tenant).
    pub id: String,
    /// Its tenant.
    pub tenant: TenantId,
    /// Title.
    pub title: String,
    /// Body in Markdown.
    pub body: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Language (`en`, `es`...).
    pub language: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}
