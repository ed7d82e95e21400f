//! Routing in the server: the pure [`Router`] of `baton_core::routing`, run against the store.
//!
//! [`Dispatcher::route`] is one routing pass for one tenant, in one transaction:
//!
//! 1. begin, and take the tenant lock ([`Tx::lock_tenant`]: a PostgreSQL advisory transaction
//!    lock; SQLite's single writer), so routing passes of a tenant never interleave, on any
//!    instance, and neither do the commands that change ownership (they take the same lock);
//! 2. rebuild the tenant's [`Router`] from the store inside that transaction: queues, agents,
//!    the open conversations with their pending offer, decline list and overflow stage, and
//!    the tenant's [routing memory](#memory);
//! 3. [`Router::route_all`] at `now` (which also fires due timers: offer expiries, overflow
//!    steps, sticky windows);
//! 4. apply every [`Decision`] as a core command on the locked conversation
//!    ([`Tx::conversation_for_update`]), persisting events exactly like
//!    [`service::run_command`](crate::service::run_command); a command the core refuses (the
//!    conversation changed meanwhile) is skipped and logged at debug level, never failing the
//!    pass;
//! 5. store the router's next deadline as the tenant's `routing` timer, the routing memory,
//!    and commit.
//!
//! The router is rebuilt on every pass rather than cached in one instance: a pass is O(open
//! conversations + agents) of the tenant, and any instance may run the next one.
//! `longest_idle` uses the later of the agent's last status change and their latest current
//! assignment.
//!
//! # Memory
//!
//! What a router learns and the stored records do not hold is kept per tenant in the
//! `routing_memory` table ([`RoutingMemory`], written only when it changed): the round-robin
//! rotation and the moving mean handle times per queue and per agent ([`Memory`]), learned from
//! the conversations that left an agent since the last pass (closed, or transferred away: the
//! time from assignment to the close or the pass); and, per waiting conversation, the
//! customer's language (profile `language`, else the conversation attribute `language`; the
//! primary subtag, lowercase) and their previous agent (the agent of their latest earlier
//! conversation), looked up once when it is first routed. Estimated waits use the learned
//! handle times; `best_match` uses the language, the previous agent and each agent's handle
//! time; sticky routing (`sticky_window_secs`) waits for the previous agent.
//!
//! # Transfers
//!
//! A transfer waits for its target while the owner keeps the conversation (state `assigned`,
//! `transfer` set). A transfer to a named agent is an offer to that agent with the accept
//! window of the target queue (or the conversation's queue): the dispatcher lapses it when
//! due, which cancels the transfer. A transfer to a queue enters the router as a waiting
//! conversation of that queue (priority and waiting time from the request, overflow steps
//! off), never offered to the owner; its offers, declines and lapses work as for any queued
//! conversation, and the owner's capacity stays taken until someone accepts. While the target
//! queue is closed it waits (it is not deferred). The owner or a supervisor may withdraw it.
//!
//! # Decisions as commands
//!
//! | decision | command |
//! |---|---|
//! | `Offer` | `Offer` with the explanation (shown as `routing` on the conversation) |
//! | `Assign` (auto-accept) | `Offer`, then `Accept` as that agent |
//! | `OfferExpired`, `ReleaseOffer` | `ExpireOffer` (only if that agent's offer is still out) |
//! | `Defer` (`after_hours`: the queue is closed; `no_agent_available`: nobody who may take it is online, i.e. `available` or `busy`) | `Defer`: the customer is told and asked for an email, the bot keeps helping |
//! | `Requeue` (the queue opened or an eligible agent came online; oldest first) | `Requeue` |
//! | `RaisePriority` | `SetPriority`, then `RecordOverflowStep` |
//! | `MoveQueue` | `ChangeQueue` (the overflow plan restarts in the new queue) |
//! | `Widen` | `RecordOverflowStep` |
//! | `PositionsChanged` | `SetPosition` on every waiting conversation of the queue whose position or estimated wait changed (a `queue_positions` event) |
//!
//! # Defaults
//!
//! A conversation without a queue (or whose queue was deleted) waits in the tenant's *default
//! queue*: the first queue by id. Agents who list no queue work the default queue. A tenant
//! without any queue routes through a built-in queue `default` (longest idle, 30 s offers) that
//! every agent works. Agents with status `available` get offers; `busy` agents count as staffed
//! but get none; `away` and `offline` agents lose their pending offers.
//!
//! # Queue settings
//!
//! `Queue::settings` is a JSON object; every field is optional:
//!
//! ```json
//! {
//!   "auto_accept": false,
//!   "aging_per_minute": 1.0,
//!   "sticky_window_secs": 0,
//!   "weights": {"skill": 1, "language": 1, "previous_agent": 2, "handle_time": 0.5, "csat": 0.5},
//!   "overflow": [
//!     {"after_secs": 60,  "action": {"type": "raise_priority", "by": 10}},
//!     {"after_secs": 120, "action": {"type": "widen", "lower_skills": [{"skill": "billing", "min_level": 1}], "add_languages": ["en"]}},
//!     {"after_secs": 300, "action": {"type": "move_to_queue", "queue": "general"}}
//!   ],
//!   "hours": {"tz": "Europe/Berlin", "weekly": {"mon": [["09:00", "17:00"]]}, "holidays": []},
//!   "transfer": {"sip_uri": "sip:support@pbx.example.com", "phone": "+15550100"}
//! }
//! ```
//!
//! - `auto_accept`: offers are accepted on the agent's behalf at once.
//! - `aging_per_minute`: priority points a waiting conversation gains per minute (0-1000).
//! - `sticky_window_secs`: a returning customer waits this long for their previous agent.
//! - `weights`: the `best_match` score weights (each 0-100).
//! - `overflow`: steps by time spent in the queue; when no eligible agent is staffed at all
//!   they run at once. `move_to_queue` must name another existing queue.
//! - `hours`: the queue's business hours (as `/v1/business-hours`); while closed, its waiting
//!   conversations are deferred (`after_hours`) and requeued when it opens. Without `hours` a
//!   queue follows the tenant's business hours (`PUT /v1/business-hours`); without either it
//!   is always open.
//! - `transfer`: where a contact center transfers this queue's calls (`sip_uri`, `phone`, or
//!   both). Routing ignores it; the handoff webhook carries it in `data.transfer`.
//!
//! [`parse_queue_settings`] validates the object (unknown fields are refused); the queues API
//! answers 422 with its message.

use crate::model::{Agent, Queue, StoredEvent};
use crate::service::{load, persist};
use crate::{Store, StoreError, StoreResult, Tx};
use baton_core::conversation::{self, Actor, Command};
use baton_core::hours::{Calendar, CalendarSpec};
use baton_core::routing::{
    AgentInfo, AgentStats, ConversationInfo, Decision, Eligibility, MatchWeights, Memory,
    OverflowAction, OverflowStep, QueueConfig, Router, RouterConfig, RoutingState,
    SkillRequirement, Strategy,
};
use baton_core::{AgentId, Conversation, ConversationId, ConversationState, QueueId, TenantId};
use baton_core::{AgentStatus, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The kind of the timer that wakes the tenant's router.
pub const ROUTING_TIMER: &str = "routing";

/// The queue of a tenant that has no queues configured.
pub const BUILTIN_QUEUE: &str = "default";

/// The tenant setting that holds its business hours (a [`CalendarSpec`]).
pub const BUSINESS_HOURS: &str = "business_hours";

/// What a tenant's routing passes remember from one pass to the next (see the module docs).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RoutingMemory {
    /// What the router learned.
    #[serde(default)]
    pub router: Memory,
    /// Who held each assigned conversation at the end of the last pass.
    #[serde(default)]
    pub held: BTreeMap<ConversationId, Held>,
    /// What was looked up once about each waiting conversation.
    #[serde(default)]
    pub seen: BTreeMap<ConversationId, Seen>,
}

/// An assignment as the last pass saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    /// The agent.
    pub agent: AgentId,
    /// The queue it was handled from.
    pub queue: QueueId,
    /// Since when.
    pub since: Timestamp,
}

/// What the router needs to know about a waiting conversation's customer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Seen {
    /// The customer's language (primary subtag, lowercase).
    #[serde(default)]
    pub language: Option<String>,
    /// The agent of the customer's latest earlier conversation.
    #[serde(default)]
    pub previous_agent: Option<AgentId>,
}

/// The primary subtag of a language tag, lowercase (`pt-BR` → `pt`); `None` when empty.
pub fn primary_language(tag: &str) -> Option<String> {
    let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
    (!primary.is_empty() && primary.len() <= 8 && primary.chars().all(|c| c.is_ascii_alphabetic()))
        .then(|| primary.to_ascii_lowercase())
}

/// The routing fields of [`Queue::settings`]. See the module docs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    /// Offers are accepted on the agent's behalf at once.
    #[serde(default)]
    pub auto_accept: bool,
    /// Priority points gained per minute of waiting.
    #[serde(default)]
    pub aging_per_minute: Option<f64>,
    /// A returning customer waits this long for their previous agent (0: off).
    #[serde(default)]
    pub sticky_window_secs: u64,
    /// `best_match` weights.
    #[serde(default)]
    pub weights: Option<MatchWeights>,
    /// Overflow steps.
    #[serde(default)]
    pub overflow: Vec<OverflowStep>,
    /// Business hours of the queue.
    #[serde(default)]
    pub hours: Option<CalendarSpec>,
    /// Where a contact center transfers this queue's calls. The router ignores it; the handoff
    /// webhook carries it (`data.transfer`) for voice integrations.
    #[serde(default)]
    pub transfer: Option<TransferTarget>,
}

/// A voice transfer target of a queue: a SIP URI, a phone number, or both.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferTarget {
    /// `sip:` or `sips:` URI, e.g. `sip:support@pbx.example.com`.
    #[serde(default)]
    pub sip_uri: Option<String>,
    /// E.164 phone number, e.g. `+15550100`.
    #[serde(default)]
    pub phone: Option<String>,
}

/// Parses and validates a queue's settings. `queue` is the queue's own id and `queues` every
/// queue of the tenant (targets of `move_to_queue`). The error says what to fix.
pub fn parse_queue_settings(
    value: &serde_json::Value,
    queue: &QueueId,
    queues: &[QueueId],
) -> Result<QueueSettings, String> {
    let settings: QueueSettings =
        serde_json::from_value(value.clone()).map_err(|e| format!("settings: {e}"))?;
    if let Some(a) = settings.aging_per_minute
        && !(a.is_finite() && (0.0..=1000.0).contains(&a))
    {
        return Err("settings.aging_per_minute must be between 0 and 1000".into());
    }
    if settings.sticky_window_secs > 86_400 {
        return Err("settings.sticky_window_secs must be at most 86400".into());
    }
    if let Some(w) = &settings.weights {
        for (name, v) in [
            ("skill", w.skill),
            ("language", w.language),
            ("previous_agent", w.previous_agent),
            ("handle_time", w.handle_time),
            ("csat", w.csat),
        ] {
            if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                return Err(format!("settings.weights.{name} must be between 0 and 100"));
            }
        }
    }
    if settings.overflow.len() > 20 {
        return Err("settings.overflow has at most 20 steps".into());
    }
    for (i, step) in settings.overflow.iter().enumerate() {
        if step.after_secs > 7 * 86_400 {
            return Err(format!(
                "settings.overflow[{i}].after_secs must be at most 604800"
            ));
        }
        match &step.action {
            OverflowAction::MoveToQueue { queue: target } if target == queue => {
                return Err(format!(
                    "settings.overflow[{i}]: a queue cannot overflow to itself"
                ));
            }
            OverflowAction::MoveToQueue { queue: target } if !queues.contains(target) => {
                return Err(format!("settings.overflow[{i}]: unknown queue '{target}'"));
            }
            OverflowAction::RaisePriority { by: 0 } => {
                return Err(format!(
                    "settings.overflow[{i}]: raise_priority needs by >= 1"
                ));
            }
            _ => {}
        }
    }
    if let Some(hours) = &settings.hours {
        Calendar::new(hours.clone()).map_err(|e| format!("settings.hours.{e}"))?;
    }
    if let Some(t) = &settings.transfer {
        if t.sip_uri.is_none() && t.phone.is_none() {
            return Err("settings.transfer needs sip_uri or phone".into());
        }
        if let Some(uri) = &t.sip_uri
            && (!(uri.starts_with("sip:") || uri.starts_with("sips:"))
                || uri.len() > 256
                || uri.chars().any(char::is_whitespace))
        {
            return Err("settings.transfer.sip_uri must be a sip: or sips: URI".into());
        }
        if let Some(phone) = &t.phone {
            let digits = phone.strip_prefix('+').unwrap_or_default();
            if !(4..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(
                    "settings.transfer.phone must be an E.164 number such as +15550100".into(),
                );
            }
        }
    }
    Ok(settings)
}

/// Routes tenants against the store. Stateless (see the module docs); one per server.
#[derive(Debug, Default)]
pub struct Dispatcher {}

/// What a tenant's routing state was built from (one pass).
struct Snapshot {
    config: RouterConfig,
    agents: Vec<AgentInfo>,
    conversations: Vec<ConversationInfo>,
    /// Closed queues with hours: when they open next.
    openings: Vec<Timestamp>,
    /// Offer timeout per queue, for auto-accepted assignments.
    timeouts: HashMap<QueueId, u64>,
}

impl Dispatcher {
    /// A dispatcher.
    pub fn new() -> Self {
        Dispatcher::default()
    }

    /// One routing pass for `tenant` at `now`; returns the events it appended (also published
    /// live on commit).
    pub async fn route(
        &self,
        store: &dyn Store,
        tenant: &TenantId,
        now: Timestamp,
    ) -> StoreResult<Vec<StoredEvent>> {
        let business_hours = tenant_calendar(store, tenant).await?;
        let mut tx = store.begin().await?;
        tx.lock_tenant(tenant).await?;
        let queues = tx.tenant_queues(tenant).await?;
        let agents = tx.tenant_agents(tenant).await?;
        let mut open = tx.open_conversations(tenant).await?;
        let stored_memory = tx.routing_memory(tenant).await?;
        let mut memory: RoutingMemory = stored_memory
            .clone()
            .and_then(|v| {
                serde_json::from_value(v)
                    .map_err(|e| {
                        tracing::warn!(%tenant, error = %e, "routing memory unreadable; starting afresh");
                    })
                    .ok()
            })
            .unwrap_or_default();
        // Offers held by agents who went away or offline (or were removed) are withdrawn first;
        // the router then sees those conversations waiting, with that agent as a decliner.
        let present: HashMap<&AgentId, AgentStatus> =
            agents.iter().map(|a| (&a.id, a.status)).collect();
        let mut stored = Vec::new();
        for conv in open.iter_mut() {
            let Some(offer) = &conv.offer else { continue };
            if matches!(
                present.get(&offer.agent),
                Some(AgentStatus::Available | AgentStatus::Busy)
            ) {
                continue;
            }
            let (events, after) = apply(
                tx.as_mut(),
                tenant,
                &conv.id,
                &Command::ExpireOffer,
                &Actor::System,
                now,
            )
            .await?;
            stored.extend(events);
            if let Some(after) = after {
                *conv = after;
            }
        }
        // Transfers to a named agent are not the router's: lapse their offers when due.
        let mut direct_deadlines = Vec::new();
        for conv in open.iter_mut() {
            let (Some(t), Some(offer)) = (&conv.transfer, &conv.offer) else {
                continue;
            };
            if t.to_agent.is_none() {
                continue;
            }
            if offer.expires_at > now {
                direct_deadlines.push(offer.expires_at);
                continue;
            }
            let (events, after) = apply(
                tx.as_mut(),
                tenant,
                &conv.id,
                &Command::ExpireOffer,
                &Actor::System,
                now,
            )
            .await?;
            stored.extend(events);
            if let Some(after) = after {
                *conv = after;
            }
        }
        let handled = departures(store, tenant, &memory, &open, now).await?;
        remember_customers(store, tx.as_mut(), tenant, &mut memory, &open).await?;
        let snapshot = build(
            &queues,
            &agents,
            &open,
            business_hours.as_ref(),
            &memory.seen,
            now,
        );
        let openings = snapshot.openings.clone();
        let timeouts = snapshot.timeouts;
        let mut router = match Router::new(snapshot.config, snapshot.agents, snapshot.conversations)
        {
            Ok(router) => router,
            Err(e) => {
                // `build` drops what the router would refuse; this is a bug, not bad data.
                tracing::error!(%tenant, error = %e, "cannot build the router; routing skipped");
                return Ok(Vec::new());
            }
        };
        router.remember(&memory.router);
        for (queue, agent, secs) in &handled {
            router.record_handle_time(queue, agent, *secs);
        }
        let decisions = router.route_all(now);
        let known: HashMap<&ConversationId, &Conversation> =
            open.iter().map(|c| (&c.id, c)).collect();
        let mut positions = BTreeSet::new();
        let mut auto_assigned = Vec::new();
        for decision in decisions {
            if let Decision::PositionsChanged { queue } = decision {
                positions.insert(queue);
                continue;
            }
            let Some(id) = decision.conversation().cloned() else {
                continue;
            };
            let transfer = known.get(&id).is_some_and(|c| c.transfer.is_some());
            if transfer && !transfer_decision(&decision) {
                continue;
            }
            if let Decision::Assign {
                agent, explanation, ..
            } = &decision
            {
                auto_assigned.push((id.clone(), agent.clone(), explanation.queue.clone()));
            }
            for (command, actor) in commands(&decision, &timeouts, now) {
                stored.extend(
                    apply(tx.as_mut(), tenant, &id, &command, &actor, now)
                        .await?
                        .0,
                );
            }
        }
        for queue in positions {
            for p in router.queue_positions(&queue) {
                let unchanged = known.get(&p.conversation).is_none_or(|c| {
                    c.state != ConversationState::Queued
                        || c.offer.is_some()
                        || (c.position == Some(p.position)
                            && c.estimated_wait_secs == p.estimated_wait_secs)
                });
                if unchanged {
                    continue;
                }
                let command = Command::SetPosition {
                    position: p.position,
                    estimated_wait_secs: p.estimated_wait_secs,
                };
                stored.extend(
                    apply(
                        tx.as_mut(),
                        tenant,
                        &p.conversation,
                        &command,
                        &Actor::System,
                        now,
                    )
                    .await?
                    .0,
                );
            }
        }
        let next = router
            .next_timer()
            .into_iter()
            .chain(openings)
            .chain(direct_deadlines)
            .min();
        tx.set_timer(tenant, ROUTING_TIMER, next).await?;
        memory.router = router.memory();
        memory.held = held(&open, &auto_assigned, &default_queue(&queues), now);
        let memory = serde_json::to_value(&memory)?;
        if stored_memory.as_ref() != Some(&memory) {
            tx.put_routing_memory(tenant, &memory, now).await?;
        }
        tx.commit().await?;
        Ok(stored)
    }
}

/// The tenant's business hours, when set and valid.
async fn tenant_calendar(store: &dyn Store, tenant: &TenantId) -> StoreResult<Option<Calendar>> {
    let Some(value) = store.setting(tenant, BUSINESS_HOURS).await? else {
        return Ok(None);
    };
    let calendar = serde_json::from_value::<CalendarSpec>(value)
        .map_err(|e| e.to_string())
        .and_then(|spec| Calendar::new(spec).map_err(|e| e.to_string()));
    Ok(calendar
        .map_err(|e| {
            tracing::warn!(%tenant, error = %e, "stored business hours invalid; queues without hours stay open");
        })
        .ok())
}

/// The queue a conversation without a (known) queue waits in.
fn default_queue(queues: &[Queue]) -> QueueId {
    queues
        .first()
        .map(|q| q.id.clone())
        .unwrap_or_else(|| QueueId::parse(BUILTIN_QUEUE).expect("valid id"))
}

/// Whether a router decision about a pending queue transfer is carried out: offers and their
/// end. A transfer is not deferred, requeued, moved or reprioritised (see the module docs).
fn transfer_decision(decision: &Decision) -> bool {
    matches!(
        decision,
        Decision::Offer { .. }
            | Decision::Assign { .. }
            | Decision::OfferExpired { .. }
            | Decision::ReleaseOffer { .. }
    )
}

/// Handle times of the conversations that left their agent since the last pass: `(queue,
/// agent, seconds)`.
async fn departures(
    store: &dyn Store,
    tenant: &TenantId,
    memory: &RoutingMemory,
    open: &[Conversation],
    now: Timestamp,
) -> StoreResult<Vec<(QueueId, AgentId, f64)>> {
    let current: HashMap<&ConversationId, &Conversation> =
        open.iter().map(|c| (&c.id, c)).collect();
    let mut out = Vec::new();
    for (id, held) in &memory.held {
        let ended = match current.get(id) {
            Some(c)
                if c.state == ConversationState::Assigned
                    && c.assignee.as_ref() == Some(&held.agent) =>
            {
                continue;
            }
            // Transferred away or requeued since the last pass, which ran right before.
            Some(_) => now,
            None => match store.conversation(tenant, id).await? {
                Some(c) if c.state == ConversationState::Closed => c.closed_at.unwrap_or(now),
                _ => continue,
            },
        };
        let secs = ended.millis_since(held.since).max(0) as f64 / 1000.0;
        out.push((held.queue.clone(), held.agent.clone(), secs));
    }
    Ok(out)
}

/// Looks up, once per waiting conversation, its customer's language and previous agent, and
/// forgets conversations that are no longer open.
async fn remember_customers(
    store: &dyn Store,
    tx: &mut dyn Tx,
    tenant: &TenantId,
    memory: &mut RoutingMemory,
    open: &[Conversation],
) -> StoreResult<()> {
    let ids: BTreeSet<&ConversationId> = open.iter().map(|c| &c.id).collect();
    memory.seen.retain(|id, _| ids.contains(id));
    for c in open {
        let waiting = matches!(
            c.state,
            ConversationState::Queued | ConversationState::Deferred
        ) || c.transfer.is_some();
        if !waiting || memory.seen.contains_key(&c.id) {
            continue;
        }
        let profile = store.customer(tenant, &c.customer).await?;
        let language = profile
            .and_then(|p| p.language)
            .or_else(|| {
                c.attributes
                    .get("language")
                    .and_then(|v| v.as_str())
                    .map(String::from)
            })
            .and_then(|l| primary_language(&l));
        let previous_agent = tx.previous_agent(tenant, &c.customer, &c.id).await?;
        memory.seen.insert(
            c.id.clone(),
            Seen {
                language,
                previous_agent,
            },
        );
    }
    Ok(())
}

/// Who holds which conversation after this pass.
fn held(
    open: &[Conversation],
    auto_assigned: &[(ConversationId, AgentId, QueueId)],
    default: &QueueId,
    now: Timestamp,
) -> BTreeMap<ConversationId, Held> {
    let mut held: BTreeMap<ConversationId, Held> = open
        .iter()
        .filter(|c| c.state == ConversationState::Assigned)
        .filter_map(|c| {
            Some((
                c.id.clone(),
                Held {
                    agent: c.assignee.clone()?,
                    queue: c.queue.clone().unwrap_or_else(|| default.clone()),
                    since: c.assigned_at.unwrap_or(c.updated_at),
                },
            ))
        })
        .collect();
    for (id, agent, queue) in auto_assigned {
        held.insert(
            id.clone(),
            Held {
                agent: agent.clone(),
                queue: queue.clone(),
                since: now,
            },
        );
    }
    held
}

/// Runs one command of the router on the locked conversation; a refusal is skipped. Returns
/// the events appended and the conversation after the command (if it exists).
async fn apply(
    tx: &mut dyn Tx,
    tenant: &TenantId,
    id: &ConversationId,
    command: &Command,
    actor: &Actor,
    now: Timestamp,
) -> StoreResult<(Vec<StoredEvent>, Option<Conversation>)> {
    let mut conv = match load(tx, tenant, id).await {
        Ok(conv) => conv,
        Err(StoreError::NotFound(_)) => return Ok((Vec::new(), None)),
        Err(e) => return Err(e),
    };
    if let Command::ExpireOffer = command
        && conv.offer.is_none()
    {
        return Ok((Vec::new(), Some(conv)));
    }
    let before = conv.clone();
    match conversation::execute(&mut conv, command, actor, now) {
        Ok(events) if events.is_empty() => Ok((Vec::new(), Some(conv))),
        Ok(events) => Ok((persist(tx, &conv, &events, actor, now).await?, Some(conv))),
        Err(e) => {
            tracing::debug!(%tenant, conversation = %id, ?command, error = %e,
                "routing decision refused by the conversation; skipped");
            Ok((Vec::new(), Some(before)))
        }
    }
}

/// The commands (and their actors) a decision maps to. See the module docs.
fn commands(
    decision: &Decision,
    timeouts: &HashMap<QueueId, u64>,
    now: Timestamp,
) -> Vec<(Command, Actor)> {
    let system = |c| (c, Actor::System);
    match decision {
        Decision::Offer {
            agent,
            expires_at,
            explanation,
            ..
        } => vec![system(Command::Offer {
            agent: agent.clone(),
            expires_at: *expires_at,
            explanation: serde_json::to_value(explanation).ok(),
        })],
        Decision::Assign {
            agent, explanation, ..
        } => {
            let secs = timeouts
                .get(&explanation.queue)
                .copied()
                .unwrap_or(30)
                .max(1);
            vec![
                system(Command::Offer {
                    agent: agent.clone(),
                    expires_at: now.plus_millis((secs as i64) * 1000),
                    explanation: serde_json::to_value(explanation).ok(),
                }),
                (Command::Accept, Actor::Agent { id: agent.clone() }),
            ]
        }
        Decision::OfferExpired { .. } | Decision::ReleaseOffer { .. } => {
            vec![system(Command::ExpireOffer)]
        }
        Decision::Defer { reason, .. } => vec![system(Command::Defer {
            reason: reason.clone(),
        })],
        Decision::Requeue { .. } => vec![system(Command::Requeue)],
        Decision::RaisePriority {
            priority, stage, ..
        } => vec![
            system(Command::SetPriority(*priority)),
            system(Command::RecordOverflowStep { stage: *stage }),
        ],
        Decision::MoveQueue { queue, .. } => {
            vec![system(Command::ChangeQueue {
                queue: queue.clone(),
            })]
        }
        Decision::Widen { stage, .. } => {
            vec![system(Command::RecordOverflowStep { stage: *stage })]
        }
        Decision::PositionsChanged { .. } => Vec::new(),
    }
}

/// Builds the router's inputs from the stored records (pure).
fn build(
    queues: &[Queue],
    agents: &[Agent],
    open: &[Conversation],
    business_hours: Option<&Calendar>,
    seen: &BTreeMap<ConversationId, Seen>,
    now: Timestamp,
) -> Snapshot {
    let ids: Vec<QueueId> = queues.iter().map(|q| q.id.clone()).collect();
    let builtin = QueueId::parse(BUILTIN_QUEUE).expect("valid id");
    let default = default_queue(queues);
    let mut configs = Vec::new();
    let mut openings = Vec::new();
    let mut timeouts = HashMap::new();
    for q in queues {
        let settings = parse_queue_settings(&q.settings, &q.id, &ids).unwrap_or_else(|e| {
            // Validated on the way in; a later deletion of an overflow target lands here.
            tracing::warn!(tenant = %q.tenant, queue = %q.id, error = %e,
                "queue settings partly invalid; ignoring the invalid overflow steps");
            lenient_settings(&q.settings, &ids)
        });
        let mut cfg = QueueConfig::new(q.id.clone());
        cfg.strategy = Strategy::parse(&q.strategy).unwrap_or_default();
        cfg.eligibility = Eligibility {
            required_skills: q
                .skills
                .iter()
                .map(|s| SkillRequirement {
                    skill: s.name.clone(),
                    min_level: s.level,
                })
                .collect(),
            languages: q
                .languages
                .iter()
                .filter_map(|l| primary_language(l))
                .collect(),
        };
        cfg.offer_timeout_secs = u64::from(q.offer_timeout_secs.max(1));
        cfg.auto_accept = settings.auto_accept;
        cfg.overflow = settings.overflow;
        if let Some(a) = settings.aging_per_minute {
            cfg.aging_per_minute = a;
        }
        cfg.sticky_window_secs = settings.sticky_window_secs;
        if let Some(w) = settings.weights {
            cfg.weights = w;
        }
        let own = settings.hours.and_then(|h| Calendar::new(h).ok());
        if let Some(calendar) = own.as_ref().or(business_hours) {
            cfg.open = calendar.is_open(now);
            if !cfg.open
                && let Some(at) = calendar.next_open(now)
            {
                openings.push(at);
            }
        }
        timeouts.insert(q.id.clone(), cfg.offer_timeout_secs);
        configs.push(cfg);
    }
    if queues.is_empty() {
        let mut cfg = QueueConfig::new(builtin.clone());
        if let Some(calendar) = business_hours {
            cfg.open = calendar.is_open(now);
            if !cfg.open
                && let Some(at) = calendar.next_open(now)
            {
                openings.push(at);
            }
        }
        configs.push(cfg);
    }
    // An owner keeps a conversation they asked to transfer to a queue until someone accepts:
    // the router sees it waiting in the target queue, so it takes one unit of the owner's
    // capacity here instead.
    let mut transferring: HashMap<&AgentId, u32> = HashMap::new();
    for c in open {
        if let (Some(t), ConversationState::Assigned) = (&c.transfer, c.state)
            && t.to_agent.is_none()
        {
            *transferring.entry(&t.from_agent).or_default() += 1;
        }
    }
    let mut busy_since: HashMap<&AgentId, Timestamp> = HashMap::new();
    for c in open {
        if let (ConversationState::Assigned, Some(a), Some(at)) =
            (c.state, &c.assignee, c.assigned_at)
        {
            let e = busy_since.entry(a).or_insert(at);
            *e = (*e).max(at);
        }
    }
    let agent_infos = agents
        .iter()
        .map(|a| {
            let mut member: Vec<QueueId> = a
                .queues
                .iter()
                .filter(|q| ids.contains(q))
                .cloned()
                .collect();
            if member.is_empty() {
                member.push(default.clone());
            }
            let idle_since = busy_since
                .get(&a.id)
                .map_or(a.status_changed_at, |t| (*t).max(a.status_changed_at));
            AgentInfo {
                id: a.id.clone(),
                status: a.status,
                skills: a
                    .skills
                    .iter()
                    .map(|s| (s.name.clone(), s.level))
                    .collect::<BTreeMap<_, _>>(),
                languages: a
                    .languages
                    .iter()
                    .filter_map(|l| primary_language(l))
                    .collect(),
                queues: member,
                capacity: a
                    .capacity
                    .saturating_sub(transferring.get(&a.id).copied().unwrap_or(0)),
                idle_since,
                stats: AgentStats::default(),
            }
        })
        .collect();
    let conversations = open
        .iter()
        .filter_map(|c| {
            let seen = seen.get(&c.id);
            if let Some(t) = &c.transfer {
                return queue_transfer(c, t, &ids, seen);
            }
            let state = match (c.state, &c.offer, &c.assignee) {
                (ConversationState::Queued, Some(offer), _) => RoutingState::Offered {
                    agent: offer.agent.clone(),
                    expires_at: offer.expires_at,
                },
                (ConversationState::Queued, None, _) => RoutingState::Waiting,
                (ConversationState::Assigned, _, Some(agent)) => RoutingState::Assigned {
                    agent: agent.clone(),
                    since: c.assigned_at.unwrap_or(c.updated_at),
                },
                (ConversationState::Deferred, _, _) => RoutingState::Deferred,
                _ => return None,
            };
            let queue = c
                .queue
                .clone()
                .filter(|q| ids.contains(q))
                .unwrap_or_else(|| default.clone());
            let stays_in_queue = c.queue.as_ref() == Some(&queue);
            Some(ConversationInfo {
                id: c.id.clone(),
                queue,
                priority: c.priority,
                queued_at: c.queued_at.unwrap_or(c.created_at),
                language: seen.and_then(|s| s.language.clone()),
                channel: c.channel.clone(),
                declined_by: c.declined_by.clone(),
                previous_agent: seen.and_then(|s| s.previous_agent.clone()),
                overflow_stage: if stays_in_queue { c.overflow_stage } else { 0 },
                entered_queue_at: c.entered_queue_at,
                state,
            })
        })
        .collect();
    Snapshot {
        config: RouterConfig {
            queues: configs,
            channel_weights: BTreeMap::new(),
        },
        agents: agent_infos,
        conversations,
        openings,
        timeouts,
    }
}

/// A pending transfer to a queue, as the router sees it: waiting (or offered) in the target
/// queue, never to its owner, with no overflow. Transfers to a named agent are not routed.
fn queue_transfer(
    c: &Conversation,
    t: &conversation::PendingTransfer,
    queues: &[QueueId],
    seen: Option<&Seen>,
) -> Option<ConversationInfo> {
    let queue = t.to_queue.clone().filter(|q| queues.contains(q))?;
    if t.to_agent.is_some() || c.state != ConversationState::Assigned {
        return None;
    }
    let state = match &c.offer {
        Some(offer) => RoutingState::Offered {
            agent: offer.agent.clone(),
            expires_at: offer.expires_at,
        },
        None => RoutingState::Waiting,
    };
    let mut declined_by = c.declined_by.clone();
    declined_by.push(t.from_agent.clone());
    Some(ConversationInfo {
        id: c.id.clone(),
        queue,
        priority: c.priority,
        queued_at: t.requested_at,
        language: seen.and_then(|s| s.language.clone()),
        channel: c.channel.clone(),
        declined_by,
        previous_agent: None,
        overflow_stage: u32::MAX,
        entered_queue_at: Some(t.requested_at),
        state,
    })
}

/// Stored settings that no longer validate (an overflow target was deleted): keep what still
/// makes sense.
fn lenient_settings(value: &serde_json::Value, queues: &[QueueId]) -> QueueSettings {
    let mut settings: QueueSettings = serde_json::from_value(value.clone()).unwrap_or_default();
    settings.overflow.retain(|s| match &s.action {
        OverflowAction::MoveToQueue { queue } => queues.contains(queue),
        _ => true,
    });
    if settings
        .hours
        .as_ref()
        .is_some_and(|h| Calendar::new(h.clone()).is_err())
    {
        settings.hours = None;
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(s: &str) -> QueueId {
        QueueId::parse(s).unwrap()
    }

    #[test]
    fn settings_are_validated() {
        let ids = [q("billing"), q("general")];
        let ok = json!({
            "auto_accept": true,
            "overflow": [
                {"after_secs": 60, "action": {"type": "raise_priority", "by": 10}},
                {"after_secs": 300, "action": {"type": "move_to_queue", "queue": "general"}}
            ],
            "hours": {"tz": "Europe/Berlin", "weekly": {"mon": [["09:00", "17:00"]]}}
        });
        let parsed = parse_queue_settings(&ok, &q("billing"), &ids).unwrap();
        assert!(parsed.auto_accept);
        assert_eq!(parsed.overflow.len(), 2);
        let voice =
            json!({"transfer": {"sip_uri": "sip:support@pbx.example.com", "phone": "+15550100"}});
        let parsed = parse_queue_settings(&voice, &q("billing"), &ids).unwrap();
        assert_eq!(parsed.transfer.unwrap().phone.as_deref(), Some("+15550100"));
        assert_eq!(
            parse_queue_settings(&json!({}), &q("billing"), &ids).unwrap(),
            QueueSettings::default()
        );
        for bad in [
            json!({"unknown": 1}),
            json!({"auto_accept": "yes"}),
            json!({"aging_per_minute": -1}),
            json!({"overflow": [{"after_secs": 1, "action": {"type": "move_to_queue", "queue": "nope"}}]}),
            json!({"overflow": [{"after_secs": 1, "action": {"type": "move_to_queue", "queue": "billing"}}]}),
            json!({"overflow": [{"after_secs": 1, "action": {"type": "teleport"}}]}),
            json!({"hours": {"tz": "Mars/Olympus"}}),
            json!({"weights": {"skill": 1000}}),
            json!({"transfer": {}}),
            json!({"transfer": {"sip_uri": "http://pbx"}}),
            json!({"transfer": {"phone": "555-0100"}}),
            json!({"transfer": {"fax": "+15550100"}}),
        ] {
            assert!(
                parse_queue_settings(&bad, &q("billing"), &ids).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn deleted_overflow_targets_are_dropped() {
        let value = json!({"overflow": [
            {"after_secs": 60, "action": {"type": "raise_priority", "by": 10}},
            {"after_secs": 300, "action": {"type": "move_to_queue", "queue": "gone"}}
        ]});
        let settings = lenient_settings(&value, &[q("billing")]);
        assert_eq!(settings.overflow.len(), 1);
    }

    #[test]
    fn assign_is_offer_then_accept_by_the_agent() {
        let agent = AgentId::parse("agt_1").unwrap();
        let decision = Decision::Assign {
            conversation: ConversationId::parse("conv_1").unwrap(),
            agent: agent.clone(),
            explanation: baton_core::routing::Explanation {
                queue: q("billing"),
                strategy: Strategy::LongestIdle,
                candidates: vec![],
                winner_reason: "only one".into(),
            },
        };
        let now = Timestamp::from_millis(1_000);
        let cmds = commands(&decision, &HashMap::new(), now);
        assert!(matches!(
            &cmds[0],
            (
                Command::Offer {
                    explanation: Some(_),
                    ..
                },
                Actor::System
            )
        ));
        assert_eq!(cmds[1], (Command::Accept, Actor::Agent { id: agent }));
        let defer = |reason: &str| Decision::Defer {
            conversation: ConversationId::parse("conv_1").unwrap(),
            reason: reason.into(),
        };
        for reason in ["no_agent_available", "after_hours"] {
            assert_eq!(
                commands(&defer(reason), &HashMap::new(), now),
                vec![(
                    Command::Defer {
                        reason: reason.into()
                    },
                    Actor::System
                )]
            );
        }
    }
}
