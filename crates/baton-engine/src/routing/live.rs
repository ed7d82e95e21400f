//! One tenant's live router: the core [`Router`] held in memory, fed one changed record at a
//! time, and the transaction that carries its decisions out.
//!
//! It is built once from the store ([`TenantRouter::build`]: queues, agents, open
//! conversations, what it remembered) and then only told what changed: a conversation
//! ([`Change::Conversation`]: its projection is read and reconciled with what the router
//! believes), an agent ([`Change::Agent`]), or the configuration ([`Change::Config`]: rebuilt).
//! Nothing it does per change is linear in the number of open conversations.
//!
//! Its decisions commit in one transaction per batch ([`TenantRouter::apply`]) that first checks
//! the fence: this instance still holds the tenant's routing lease at the epoch it was built
//! under (PostgreSQL share-locks the lease row until commit). Each decision is then checked
//! against the stored truth: the core refuses a command the conversation no longer allows,
//! and an offer is made only to an agent who is `available` with room by the stored count of
//! what they own and what is offered to them. A refused decision means the router was behind:
//! the conversations it touched are reconciled again at once.

use super::backlog::Backlog;
use super::decisions::{commands, transfer_decision};
use super::settings::primary_language;
use super::snapshot::{
    RoutingMemory, Seen, Setup, agent_info, conversation_info, held_outside, setup,
    tenant_calendar, waiting,
};
use crate::service::{self, load, persist};
use baton_core::Timestamp;
use baton_core::conversation::{self, Actor, Command, Conversation};
use baton_core::routing::{ConversationInfo, Decision, Memory, Router, RoutingState};
use baton_core::{AgentId, AgentStatus, ConversationId, ConversationState, QueueId, TenantId};
use baton_store::{Agent, Store, StoreError, StoreResult, Tx};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// How often learned figures are written back at most (ms).
const MEMORY_EVERY_MS: i64 = 10_000;
/// How often queues with business hours are looked at while open (ms): a queue closes at most
/// this late.
const HOURS_CHECK_MS: i64 = 30_000;

/// Open conversations read per page while a router is built.
const BUILD_PAGE: u32 = 500;

/// Decisions committed per transaction. A batch can be as long as a queue's line (a queue
/// losing its last staffed agent defers every conversation in it; staff coming back requeues
/// them all): split, customers' and agents' commands interleave with it at the writer instead
/// of waiting for all of it.
const APPLY_CHUNK: usize = 64;

/// Something that changed and that the router must learn.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Change {
    /// A conversation changed (any event of it).
    Conversation(ConversationId),
    /// An agent was created or changed.
    Agent(AgentId),
    /// Queues or business hours changed: rebuild.
    Config,
}

/// What happened to a batch of decisions.
#[derive(Debug, Default)]
pub struct Applied {
    /// Conversations whose decision was refused: the router was behind on them.
    pub stale: Vec<ConversationId>,
    /// The lease was lost: this router must stop.
    pub lost_lease: bool,
}

/// One tenant's live router. See the module docs.
#[derive(Debug)]
pub struct TenantRouter {
    tenant: TenantId,
    store: Arc<dyn Store>,
    holder: String,
    epoch: i64,
    setup: Setup,
    router: Router,
    agents: HashMap<AgentId, Agent>,
    /// Pending transfers and the agent each takes capacity from beside what the router sees
    /// ([`held_outside`]): the owner of a queue transfer, the target of a named one.
    transferring: HashMap<ConversationId, AgentId>,
    /// Conversations with a pending transfer (the router only offers and lapses them).
    transfers: BTreeSet<ConversationId>,
    /// Offers of transfers to a named agent, which lapse outside the router.
    direct: BTreeSet<(Timestamp, ConversationId)>,
    direct_due: HashMap<ConversationId, Timestamp>,
    /// First-reply timers of assigned conversations (queues with `first_reply_secs`).
    first_reply: BTreeSet<(Timestamp, ConversationId)>,
    first_reply_due: HashMap<ConversationId, Timestamp>,
    /// Conversations whose first-reply time passed, to flag and offer onward in the next batch.
    overdue: Vec<ConversationId>,
    /// What the router learned (rotation and handle times), as last taken from it.
    router_memory: Memory,
    /// `router_memory` as last saved.
    router_memory_saved: Memory,
    /// Conversations the router holds with nothing looked up about their customer: not
    /// waiting when first seen. Looked up when they start waiting. Every other conversation it
    /// holds has its customer's language and previous agent in the router itself, and those
    /// are what is saved as [`RoutingMemory::seen`]: no copy per waiting conversation.
    unlooked: HashSet<ConversationId>,
    /// What is saved as [`RoutingMemory::seen`] changed since it was last saved. A flag, not a
    /// copy to compare: it has an entry per waiting conversation.
    seen_changed: bool,
    memory_saved_at: Timestamp,
    next_hours_check: Option<Timestamp>,
    /// Decisions taken (the router's state has them) but not yet committed: the tail of a
    /// batch longer than [`APPLY_CHUNK`], after the agents' work. The next batch commits its
    /// next chunk, so the router keeps taking changes while a long line is requeued.
    backlog: Backlog,
}

impl TenantRouter {
    /// Builds the tenant's router from the store and returns it with its first decisions
    /// (everything routable now, offers held by agents who are gone withdrawn).
    pub async fn build(
        store: Arc<dyn Store>,
        tenant: &TenantId,
        holder: &str,
        epoch: i64,
        now: Timestamp,
    ) -> StoreResult<(TenantRouter, Vec<Decision>)> {
        let business_hours = tenant_calendar(store.as_ref(), tenant).await?;
        let mut queues = store.queues(tenant).await?;
        queues.sort_by(|a, b| a.id.cmp(&b.id));
        let agents = store.agents(tenant).await?;
        let mut memory: RoutingMemory = store
            .routing_memory(tenant)
            .await?
            .and_then(|v| {
                serde_json::from_value(v)
                    .map_err(|e| tracing::warn!(%tenant, error = %e, "routing memory unreadable; starting afresh"))
                    .ok()
            })
            .unwrap_or_default();
        let setup = setup(&queues, business_hours.as_ref(), now);
        let agents: HashMap<AgentId, Agent> =
            agents.into_iter().map(|a| (a.id.clone(), a)).collect();
        let mut live = TenantRouter {
            tenant: tenant.clone(),
            store: store.clone(),
            holder: holder.to_string(),
            epoch,
            router: Router::new(setup.config.clone(), Vec::new(), Vec::new())
                .map_err(|e| StoreError::Corrupt(format!("routing configuration: {e}")))?,
            setup,
            agents,
            transferring: HashMap::new(),
            transfers: BTreeSet::new(),
            direct: BTreeSet::new(),
            direct_due: HashMap::new(),
            first_reply: BTreeSet::new(),
            first_reply_due: HashMap::new(),
            overdue: Vec::new(),
            router_memory_saved: memory.router.clone(),
            router_memory: memory.router,
            unlooked: HashSet::new(),
            seen_changed: false,
            memory_saved_at: now,
            next_hours_check: None,
            backlog: Backlog::default(),
        };
        let mut released = Vec::new();
        let mut busy_since: HashMap<AgentId, Timestamp> = HashMap::new();
        let mut infos = Vec::new();
        // A page of stored documents at a time: all of a long line's at once held several
        // times the router's own memory of it (about 7 KB each) at every start.
        let mut after: Option<ConversationId> = None;
        loop {
            let page = store
                .open_conversations(tenant, after.as_ref(), BUILD_PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for c in &page {
                live.build_one(
                    c,
                    &mut memory.seen,
                    &mut busy_since,
                    &mut released,
                    &mut infos,
                )
                .await?;
            }
            if page.len() < BUILD_PAGE as usize {
                break;
            }
        }
        let mut counts: HashMap<&AgentId, u32> = HashMap::new();
        for owner in live.transferring.values() {
            *counts.entry(owner).or_default() += 1;
        }
        let agent_infos = live
            .agents
            .values()
            .map(|a| {
                let idle = busy_since
                    .get(&a.id)
                    .map_or(a.status_changed_at, |t| (*t).max(a.status_changed_at));
                agent_info(
                    a,
                    &live.setup,
                    counts.get(&a.id).copied().unwrap_or(0),
                    idle,
                )
            })
            .collect();
        live.router = Router::new(live.setup.config.clone(), agent_infos, infos)
            .map_err(|e| StoreError::Corrupt(format!("routing state: {e}")))?;
        live.router.remember(&live.router_memory);
        // What was saved about conversations closed since: gone with the next save.
        live.seen_changed |= !memory.seen.is_empty();
        let mut decisions = released;
        decisions.extend(live.router.route_all(now));
        live.schedule_hours(now);
        Ok((live, decisions))
    }

    /// [`TenantRouter::build`]'s look at one open conversation: when its agent last took one,
    /// the capacity a transfer holds, its timers, and what the router is to be given.
    async fn build_one(
        &mut self,
        c: &Conversation,
        saved: &mut BTreeMap<ConversationId, Seen>,
        busy_since: &mut HashMap<AgentId, Timestamp>,
        released: &mut Vec<Decision>,
        infos: &mut Vec<ConversationInfo>,
    ) -> StoreResult<()> {
        if let (ConversationState::Assigned, Some(a), Some(at)) =
            (c.state, &c.assignee, c.assigned_at)
        {
            let e = busy_since.entry(a.clone()).or_insert(at);
            *e = (*e).max(at);
        }
        if let Some(from) = held_outside(c) {
            self.transferring.insert(c.id.clone(), from.clone());
        }
        self.track(c);
        let seen = match saved.remove(&c.id) {
            Some(seen) => Some(seen),
            None => self.seen_of(c).await?,
        };
        let Some(mut info) = conversation_info(c, &self.setup, seen.as_ref()) else {
            self.unlooked.remove(&c.id);
            return Ok(());
        };
        // Offers held by agents who went away or offline are withdrawn first; the router
        // then sees the conversation waiting (a withdrawn offer is not a decline).
        if let RoutingState::Offered { agent, .. } = &info.state
            && !self
                .agents
                .get(agent)
                .is_some_and(|a| matches!(a.status, AgentStatus::Available | AgentStatus::Busy))
            && c.transfer.as_ref().is_none_or(|t| t.to_agent.is_none())
        {
            released.push(Decision::ReleaseOffer {
                conversation: c.id.clone(),
                agent: agent.clone(),
                reason: "agent_gone".into(),
            });
            info.state = RoutingState::Waiting;
        }
        infos.push(info);
        Ok(())
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// Whether decisions wait to be committed ([`apply`](Self::apply) commits the next
    /// chunk): the caller comes back at once, and "settled" waits for them.
    pub fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Conversations with decisions waiting to be committed.
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    /// When [`TenantRouter::tick`] next has something to do.
    pub fn next_wake(&self) -> Option<Timestamp> {
        [
            self.router.next_timer(),
            self.direct.first().map(|(at, _)| *at),
            self.first_reply.first().map(|(at, _)| *at),
            self.next_hours_check,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires what is due at `now`: offer expiries, overflow steps, sticky windows, queues
    /// opening or closing, lapsed offers of transfers to a named agent. Returns the router's
    /// decisions and the direct transfers to lapse.
    pub fn tick(&mut self, now: Timestamp) -> (Vec<Decision>, Vec<ConversationId>) {
        let mut out = Vec::new();
        if self.next_hours_check.is_some_and(|at| at <= now) {
            for (queue, calendar) in self.setup.calendars.clone() {
                match self
                    .router
                    .set_queue_open(&queue, calendar.is_open(now), now)
                {
                    Ok(d) => out.extend(d),
                    Err(e) => tracing::warn!(tenant = %self.tenant, error = %e, "queue hours"),
                }
            }
            self.schedule_hours(now);
        }
        out.extend(self.router.tick(now));
        let mut lapsed = Vec::new();
        while let Some((at, _)) = self.direct.first() {
            if *at > now {
                break;
            }
            let (_, id) = self.direct.pop_first().expect("first exists");
            self.direct_due.remove(&id);
            lapsed.push(id);
        }
        while let Some((at, _)) = self.first_reply.first() {
            if *at > now {
                break;
            }
            let (_, id) = self.first_reply.pop_first().expect("first exists");
            self.first_reply_due.remove(&id);
            self.overdue.push(id);
        }
        (out, lapsed)
    }

    fn schedule_hours(&mut self, now: Timestamp) {
        self.next_hours_check = if self.setup.calendars.is_empty() {
            None
        } else {
            let soon = now.plus_millis(HOURS_CHECK_MS);
            Some(self.setup.next_opening(now).map_or(soon, |at| at.min(soon)))
        };
    }

    /// Learns what changed and returns the router's decisions. `Change::Config` is not handled
    /// here (the caller rebuilds).
    pub async fn learn(
        &mut self,
        changes: impl IntoIterator<Item = Change>,
        now: Timestamp,
    ) -> StoreResult<Vec<Decision>> {
        let changes: Vec<Change> = changes.into_iter().collect();
        self.commit_backlog_of(&changes, now).await?;
        let mut out = Vec::new();
        for change in changes {
            match change {
                Change::Agent(id) => self.agent_changed(&id, now, &mut out).await?,
                Change::Conversation(id) => self.reconcile(&id, now, &mut out).await?,
                Change::Config => {}
            }
        }
        Ok(out)
    }

    /// Commits the backlog's decisions about the changed conversations ahead of the rest, so
    /// that reading them finds what the router already decided. One refused there is read and
    /// reconciled right after; a lost lease is found by the next batch's fence.
    async fn commit_backlog_of(&mut self, changes: &[Change], now: Timestamp) -> StoreResult<()> {
        if self.backlog.is_empty() {
            return Ok(());
        }
        let mut ahead = Vec::new();
        for change in changes {
            if let Change::Conversation(id) = change {
                ahead.extend(self.backlog.take(id));
            }
        }
        if !ahead.is_empty() {
            self.apply_chunk(ahead, Vec::new(), false, now, &mut Applied::default())
                .await?;
        }
        Ok(())
    }

    async fn agent_changed(
        &mut self,
        id: &AgentId,
        now: Timestamp,
        out: &mut Vec<Decision>,
    ) -> StoreResult<()> {
        match self.store.agent(&self.tenant, id).await? {
            Some(agent) => {
                self.agents.insert(id.clone(), agent);
            }
            None => {
                // Removed: they take nothing any more.
                if let Some(a) = self.agents.get_mut(id) {
                    a.status = AgentStatus::Offline;
                }
            }
        }
        self.feed_agent(id, now, out);
        Ok(())
    }

    fn feed_agent(&mut self, id: &AgentId, now: Timestamp, out: &mut Vec<Decision>) {
        let Some(agent) = self.agents.get(id) else {
            return;
        };
        let transferring = self.transferring.values().filter(|a| *a == id).count() as u32;
        let info = agent_info(agent, &self.setup, transferring, agent.status_changed_at);
        out.extend(self.router.agent_changed(info, now));
    }

    /// Remembers what the router does not track about a conversation: a pending transfer, the
    /// lapse time of a transfer offer to a named agent.
    fn track(&mut self, c: &Conversation) {
        if c.transfer.is_some() && c.state == ConversationState::Assigned {
            self.transfers.insert(c.id.clone());
        } else {
            self.transfers.remove(&c.id);
        }
        let due = match (&c.transfer, &c.offer) {
            (Some(t), Some(offer)) if t.to_agent.is_some() => Some(offer.expires_at),
            _ => None,
        };
        if let Some(old) = self.direct_due.remove(&c.id) {
            self.direct.remove(&(old, c.id.clone()));
        }
        if let Some(at) = due {
            self.direct_due.insert(c.id.clone(), at);
            self.direct.insert((at, c.id.clone()));
        }
        // The first-reply timer: checked again against the stored conversation when due (an
        // agent's reply does not reach the router).
        let reply_due = match (c.state, c.agent_replied, &c.transfer, c.assigned_at) {
            (ConversationState::Assigned, false, None, Some(at)) => self
                .setup
                .first_reply
                .get(&self.queue_of(c))
                .map(|timer| timer.due(at, c.first_reply_alerted)),
            _ => None,
        };
        if let Some(old) = self.first_reply_due.remove(&c.id) {
            self.first_reply.remove(&(old, c.id.clone()));
        }
        if let Some(at) = reply_due {
            self.first_reply_due.insert(c.id.clone(), at);
            self.first_reply.insert((at, c.id.clone()));
        }
    }

    /// The queue a conversation is routed in (its own, else the default queue).
    fn queue_of(&self, c: &Conversation) -> QueueId {
        c.queue
            .clone()
            .filter(|q| self.setup.queue_ids.contains(q))
            .unwrap_or_else(|| self.setup.default_queue.clone())
    }

    /// The first-reply timer of a conversation is due: its owner is alerted
    /// (`first_reply_overdue`) and, once the queue's grace time has passed too, it is offered
    /// to the queue's other agents (a queue transfer by the system; she keeps it until one
    /// accepts). Nothing happens when she replied, or it moved on, meanwhile.
    async fn first_reply_overdue(
        &self,
        tx: &mut dyn Tx,
        id: &ConversationId,
        now: Timestamp,
    ) -> StoreResult<()> {
        let Some(conv) = tx.conversation_for_update(&self.tenant, id).await? else {
            return Ok(());
        };
        let queue = self.queue_of(&conv);
        let Some(&timer) = self.setup.first_reply.get(&queue) else {
            return Ok(());
        };
        let Some(assigned_at) = conv.assigned_at else {
            return Ok(());
        };
        if conv.state != ConversationState::Assigned
            || conv.agent_replied
            || conv.transfer.is_some()
        {
            return Ok(());
        }
        let mut alerted = conv.first_reply_alerted;
        if !alerted {
            if timer.due(assigned_at, false) > now {
                return Ok(());
            }
            let flag = Command::FlagFirstReplyOverdue {
                after_secs: timer.after_secs,
            };
            if !self.run(tx, id, &flag, &Actor::System, None, now).await? {
                return Ok(());
            }
            alerted = true;
        }
        if !alerted || timer.due(assigned_at, true) > now {
            return Ok(());
        }
        let waited = timer.after_secs.saturating_add(timer.grace_secs);
        let transfer = Command::Transfer {
            to_agent: None,
            to_queue: Some(queue),
            note: format!("No first reply within {waited} s: offered to the team."),
            expires_at: now.plus_millis(30_000),
            override_owner: true,
        };
        self.run(tx, id, &transfer, &Actor::System, None, now)
            .await?;
        Ok(())
    }

    /// What the router is to know about `c`'s customer: what it holds already, else looked
    /// up if `c` waits (and then saved with the memory), else nothing for now.
    async fn seen_of(&mut self, c: &Conversation) -> StoreResult<Option<Seen>> {
        if !self.unlooked.contains(&c.id)
            && let Some((language, previous)) = self.router.customer_of(&c.id)
        {
            return Ok(Some(Seen {
                language: language.map(String::from),
                previous_agent: previous.cloned(),
            }));
        }
        if waiting(c) {
            let seen = look_up(self.store.as_ref(), &self.tenant, c).await?;
            self.unlooked.remove(&c.id);
            self.seen_changed = true;
            return Ok(Some(seen));
        }
        self.unlooked.insert(c.id.clone());
        Ok(None)
    }

    /// Brings the router's view of one conversation in line with its stored projection.
    async fn reconcile(
        &mut self,
        id: &ConversationId,
        now: Timestamp,
        out: &mut Vec<Decision>,
    ) -> StoreResult<()> {
        let conv = self.store.conversation(&self.tenant, id).await?;
        let from = conv.as_ref().and_then(held_outside).cloned();
        let before = match &from {
            Some(owner) => self.transferring.insert(id.clone(), owner.clone()),
            None => self.transferring.remove(id),
        };
        self.reconcile_conversation(id, conv, now, out).await?;
        // After the conversation itself, so that the agent the transfer held capacity from is
        // never seen with that room before the conversation counts for her (an accepted
        // transfer): the router would offer her one too many.
        if before != from {
            for owner in [before, from].into_iter().flatten() {
                self.feed_agent(&owner, now, out);
            }
        }
        Ok(())
    }

    async fn reconcile_conversation(
        &mut self,
        id: &ConversationId,
        conv: Option<Conversation>,
        now: Timestamp,
        out: &mut Vec<Decision>,
    ) -> StoreResult<()> {
        let info = match &conv {
            Some(c) => {
                self.track(c);
                let seen = self.seen_of(c).await?;
                conversation_info(c, &self.setup, seen.as_ref())
            }
            None => None,
        };
        let current = self.router.conversation_state(id);
        tracing::debug!(tenant = %self.tenant, conversation = %id, ?current, stored = ?info.as_ref().map(|i| &i.state), "reconcile");
        let Some(info) = info else {
            if current.is_some() {
                out.extend(self.router.conversation_closed(id, now));
                self.seen_changed |= !self.unlooked.contains(id);
            }
            self.unlooked.remove(id);
            return Ok(());
        };
        // The router's own queue and priority, not a copy of what it was last given: a
        // priority raised by overflow comes back stored and is then already the router's.
        let placed = self.router.placement(id);
        if let Some(current) = &current
            && same_state(current, &info.state)
            && let Some((queue, priority)) = placed
            && *queue == info.queue
        {
            if priority != info.priority {
                match self.router.priority_changed(id, info.priority, now) {
                    Ok(d) => out.extend(d),
                    Err(e) => tracing::warn!(tenant = %self.tenant, error = %e, "priority"),
                }
            }
            return Ok(());
        }
        let result = if info.state == RoutingState::Waiting {
            self.router.conversation_queued(info, now)
        } else {
            self.router.upsert_conversation(info, now)
        };
        match result {
            Ok(d) => out.extend(d),
            Err(e) => {
                tracing::warn!(tenant = %self.tenant, conversation = %id, error = %e,
                    "the router refused a stored conversation");
            }
        }
        Ok(())
    }

    /// Carries out decisions (and lapses of direct transfer offers) in fenced transactions of
    /// at most [`APPLY_CHUNK`] decisions: the agents' work, and one chunk of the rest and of
    /// what waits from the batches before; the others wait ([`Backlog::plan`]).
    pub async fn apply(
        &mut self,
        decisions: Vec<Decision>,
        lapsed: Vec<ConversationId>,
        now: Timestamp,
    ) -> StoreResult<Applied> {
        let decisions: Vec<Decision> = decisions
            .into_iter()
            .filter(|d| !matches!(d, Decision::PositionsChanged { .. }))
            .collect();
        let decisions = self.backlog.plan(decisions, APPLY_CHUNK);
        self.router_memory = self.router.memory();
        let save_memory = (self.seen_changed || self.router_memory != self.router_memory_saved)
            && now.millis_since(self.memory_saved_at) >= MEMORY_EVERY_MS;
        let mut applied = Applied::default();
        tracing::debug!(tenant = %self.tenant, ?decisions, ?lapsed, "routing batch");
        if decisions.is_empty() && lapsed.is_empty() && self.overdue.is_empty() && !save_memory {
            return Ok(applied);
        }
        // Each chunk is fenced and committed on its own. The router has taken every decision
        // already; one that a later chunk finds refused (the conversation changed between the
        // commits) comes back as stale, as within one transaction.
        let mut chunk = decisions;
        let mut lapsed = Some(lapsed);
        loop {
            let rest = if chunk.len() > APPLY_CHUNK {
                chunk.split_off(APPLY_CHUNK)
            } else {
                Vec::new()
            };
            let last = rest.is_empty();
            self.apply_chunk(
                chunk,
                lapsed.take().unwrap_or_default(),
                last && save_memory,
                now,
                &mut applied,
            )
            .await?;
            if applied.lost_lease || last {
                break;
            }
            chunk = rest;
        }
        if save_memory && !applied.lost_lease {
            self.router_memory_saved = self.router_memory.clone();
            self.seen_changed = false;
            self.memory_saved_at = now;
        }
        Ok(applied)
    }

    /// One transaction of [`apply`](Self::apply): the lease checked, the agents' rows locked,
    /// the decisions run (and the lapsed offers and overdue first replies, in the first chunk).
    async fn apply_chunk(
        &mut self,
        decisions: Vec<Decision>,
        lapsed: Vec<ConversationId>,
        save_memory: bool,
        now: Timestamp,
        applied: &mut Applied,
    ) -> StoreResult<()> {
        let mut tx = self.store.begin().await?;
        tx.lock_tenant(&self.tenant).await?;
        if !tx
            .routing_lease_held(&self.tenant, &self.holder, self.epoch)
            .await?
        {
            applied.lost_lease = true;
            return Ok(());
        }
        // The agents' rows first, sorted, then conversations: the order commands take them in
        // (`service::run_commands_as`), so a batch and a command never wait on each other in a
        // circle. What each may still take is read under its lock.
        let mut loads: HashMap<AgentId, Option<u32>> = HashMap::new();
        let agents: BTreeSet<&AgentId> = decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Offer { agent, .. }
                | Decision::Assign { agent, .. }
                | Decision::AgentAway { agent, .. } => Some(agent),
                _ => None,
            })
            .collect();
        for agent in agents {
            let room = self.room(tx.as_mut(), agent).await?;
            loads.insert(agent.clone(), room);
        }
        for id in std::mem::take(&mut self.overdue) {
            self.first_reply_overdue(tx.as_mut(), &id, now).await?;
        }
        for id in lapsed {
            if !self
                .run(
                    tx.as_mut(),
                    &id,
                    &Command::ExpireOffer,
                    &Actor::System,
                    None,
                    now,
                )
                .await?
            {
                applied.stale.push(id);
            }
        }
        // What each agent holds by the stored count, less what this batch offered them.
        for decision in decisions {
            if let Decision::AgentAway { agent, reason } = &decision {
                // Only an agent still `available` is set away; one who changed her status
                // meanwhile keeps it (the router learns it from her event).
                service::set_agent_away(tx.as_mut(), &self.tenant, agent, reason, now).await?;
                loads.insert(agent.clone(), None);
                continue;
            }
            let Some(id) = decision.conversation().cloned() else {
                continue;
            };
            if self.transfers.contains(&id) && !transfer_decision(&decision) {
                continue;
            }
            if let Decision::Offer { agent, .. } | Decision::Assign { agent, .. } = &decision {
                let room = match loads.get(agent) {
                    Some(room) => *room,
                    None => {
                        let room = self.room(tx.as_mut(), agent).await?;
                        loads.insert(agent.clone(), room);
                        room
                    }
                };
                if room.is_none_or(|r| r == 0) {
                    tracing::debug!(tenant = %self.tenant, conversation = %id, %agent,
                        "offer refused by the fence: agent unavailable or at capacity");
                    applied.stale.push(id);
                    continue;
                }
                loads.insert(agent.clone(), room.map(|r| r - 1));
            }
            let expected = match &decision {
                Decision::OfferExpired { agent, .. } | Decision::ReleaseOffer { agent, .. } => {
                    Some(agent)
                }
                _ => None,
            };
            let back_at = match &decision {
                Decision::Defer { .. } => self
                    .router
                    .placement(&id)
                    .and_then(|(queue, _)| self.setup.back_at(queue, now)),
                _ => None,
            };
            for (command, actor) in commands(&decision, &self.setup.timeouts, back_at, now) {
                if !self
                    .run(tx.as_mut(), &id, &command, &actor, expected, now)
                    .await?
                {
                    applied.stale.push(id.clone());
                    break;
                }
            }
        }
        if save_memory {
            // Written straight to text from the router: a JSON tree of `seen` would be a
            // transient copy as large as the waiting line.
            let saved = SavedMemory {
                router: &self.router_memory,
                live: &self.router,
                unlooked: &self.unlooked,
            };
            tx.put_routing_memory(&self.tenant, &serde_json::to_string(&saved)?, now)
                .await?;
        }
        tx.commit().await
    }

    /// How many more conversations the agent may be offered, by the stored truth; `None` when
    /// they are not available (or gone).
    async fn room(&self, tx: &mut dyn Tx, agent: &AgentId) -> StoreResult<Option<u32>> {
        let Some(stored) = tx.agent_for_update(&self.tenant, agent).await? else {
            return Ok(None);
        };
        if stored.status != AgentStatus::Available {
            return Ok(None);
        }
        let load = tx.agent_load(&self.tenant, agent).await?;
        Ok(Some(stored.capacity.saturating_sub(load)))
    }

    /// Runs one command of the router on the locked conversation. False when it was refused
    /// (the conversation changed meanwhile), or when an offer to lapse is no longer out to
    /// `expected`.
    async fn run(
        &self,
        tx: &mut dyn Tx,
        id: &ConversationId,
        command: &Command,
        actor: &Actor,
        expected: Option<&AgentId>,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut conv = match load(tx, &self.tenant, id).await {
            Ok(conv) => conv,
            Err(StoreError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        if let Command::ExpireOffer = command {
            let out_to = conv.offer.as_ref().map(|o| &o.agent);
            if out_to.is_none() || expected.is_some_and(|a| Some(a) != out_to) {
                return Ok(false);
            }
        }
        match conversation::execute(&mut conv, command, actor, now) {
            Ok(events) if events.is_empty() => Ok(true),
            Ok(events) => {
                persist(tx, &conv, &events, actor, now).await?;
                Ok(true)
            }
            Err(e) => {
                tracing::debug!(tenant = %self.tenant, conversation = %id, ?command, error = %e,
                    "routing decision refused by the conversation");
                Ok(false)
            }
        }
    }

    /// Why `agent` is not offered the conversation now (see
    /// [`Router::why_not`](baton_core::routing::Router::why_not)).
    pub fn why_not(
        &self,
        id: &ConversationId,
        agent: &AgentId,
        now: Timestamp,
    ) -> Option<Vec<String>> {
        self.router.why_not(id, agent, now)
    }

    /// Where a waiting conversation stands in its queue, with the estimated wait.
    pub fn position(&self, id: &ConversationId) -> Option<baton_core::routing::Position> {
        self.router.position_of(id)
    }
}

/// [`RoutingMemory`] as saved by a live router: `seen` is what its router holds about each
/// conversation's customer, the unlooked ones left out.
struct SavedMemory<'a> {
    router: &'a Memory,
    live: &'a Router,
    unlooked: &'a HashSet<ConversationId>,
}

impl serde::Serialize for SavedMemory<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        /// [`Seen`], borrowed from the router.
        #[derive(serde::Serialize)]
        struct SeenRef<'a> {
            language: Option<&'a str>,
            previous_agent: Option<&'a AgentId>,
        }
        struct SeenMap<'a>(&'a SavedMemory<'a>);
        impl serde::Serialize for SeenMap<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let SavedMemory { live, unlooked, .. } = self.0;
                s.collect_map(
                    live.customers()
                        .filter(|(id, ..)| !unlooked.contains(*id))
                        .map(|(id, language, previous_agent)| {
                            (
                                id,
                                SeenRef {
                                    language,
                                    previous_agent,
                                },
                            )
                        }),
                )
            }
        }
        let mut out = s.serialize_struct("RoutingMemory", 2)?;
        out.serialize_field("router", self.router)?;
        out.serialize_field("seen", &SeenMap(self))?;
        out.end()
    }
}

/// The customer's language and previous agent of a waiting conversation, from the store.
async fn look_up(store: &dyn Store, tenant: &TenantId, c: &Conversation) -> StoreResult<Seen> {
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
    let previous_agent = store.previous_agent(tenant, &c.customer, &c.id).await?;
    Ok(Seen {
        language,
        previous_agent,
    })
}

/// Why `agent` is not offered a conversation now, worked out from the stored state alone: what
/// an instance that does not route the tenant answers (the router of the instance that does
/// may know a few seconds more). The same rules as the live router's
/// [`Router::why_not`](baton_core::routing::Router::why_not), asked of a router that holds
/// just this conversation and this agent, with her load and the line read from the store.
/// `None` when the conversation does not exist or is not routed (closed, with the bot).
pub async fn why_not_stored(
    store: &dyn Store,
    tenant: &TenantId,
    id: &ConversationId,
    agent: &AgentId,
    now: Timestamp,
) -> StoreResult<Option<Vec<String>>> {
    let Some(conv) = store.conversation(tenant, id).await? else {
        return Ok(None);
    };
    let business_hours = tenant_calendar(store, tenant).await?;
    let mut queues = store.queues(tenant).await?;
    queues.sort_by(|a, b| a.id.cmp(&b.id));
    let setup = setup(&queues, business_hours.as_ref(), now);
    let memory: RoutingMemory = store
        .routing_memory(tenant)
        .await?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let seen = match memory.seen.get(&conv.id) {
        Some(seen) => Some(seen.clone()),
        None if waiting(&conv) => Some(look_up(store, tenant, &conv).await?),
        None => None,
    };
    let Some(info) = conversation_info(&conv, &setup, seen.as_ref()) else {
        return Ok(None);
    };
    let me = store.agent(tenant, agent).await?;
    let load = match &me {
        Some(_) => {
            let mut tx = store.begin().await?;
            tx.agent_load(tenant, agent).await?
        }
        None => 0,
    };
    let agents: Vec<_> = me
        .iter()
        .map(|a| agent_info(a, &setup, 0, a.status_changed_at))
        .collect();
    let mut router = Router::new(setup.config.clone(), agents, vec![info])
        .map_err(|e| StoreError::Corrupt(format!("routing state: {e}")))?;
    router.remember(&memory.router);
    let Some(mut why) = router.why_not(id, agent, now) else {
        return Ok(None);
    };
    let holds_it = conv.assignee.as_ref() == Some(agent)
        || conv.offer.as_ref().is_some_and(|o| &o.agent == agent);
    if let Some(a) = me.filter(|_| !holds_it)
        && load >= a.capacity
    {
        why.push(format!(
            "you are at capacity ({load} of {} in use)",
            a.capacity
        ));
    }
    if why.is_empty()
        && waiting(&conv)
        && let Some(p) = conv.position.filter(|p| *p > 1)
    {
        why.push(format!("{} conversation(s) are ahead of it in line", p - 1));
    }
    Ok(Some(why))
}

/// Whether the router's state and the stored one agree (who holds it, not since when).
fn same_state(a: &RoutingState, b: &RoutingState) -> bool {
    match (a, b) {
        (RoutingState::Waiting, RoutingState::Waiting)
        | (RoutingState::Deferred, RoutingState::Deferred) => true,
        (RoutingState::Offered { agent: x, .. }, RoutingState::Offered { agent: y, .. })
        | (RoutingState::Assigned { agent: x, .. }, RoutingState::Assigned { agent: y, .. }) => {
            x == y
        }
        _ => false,
    }
}
