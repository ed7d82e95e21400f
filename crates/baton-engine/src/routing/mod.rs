//! Live routing: each tenant's router lives in memory on one instance, is fed by the event
//! log, and commits its decisions under a fenced lease.
//!
//! # How it runs
//!
//! [`Routing::run`] subscribes to the store's committed events (every instance's, through
//! LISTEN/NOTIFY on PostgreSQL) and, every second, takes or renews the routing lease of every
//! tenant (`routing_leases`: holder, epoch, expiry; [`LEASE_TTL_MS`]). For each tenant whose
//! lease it holds it runs one task that owns a [`TenantRouter`]:
//!
//! - built once from the store when the lease is taken (and again after a configuration
//!   change, a lagging event stream or a store error: whenever it cannot be sure it is
//!   current);
//! - fed by the tenant's events: a conversation event reconciles that one conversation, an
//!   agent event that one agent, a queue or business-hours change rebuilds; events that arrive
//!   together are handled as one batch, and the batch's decisions commit in one transaction
//!   (a batch longer than 64 decisions, such as a long line deferred or requeued at once,
//!   commits the agents' work first and the rest a chunk per batch, while new changes keep
//!   coming in between);
//! - woken by its own timers (offer expiries, overflow steps, sticky windows, queue hours).
//!
//! Requests never wait for routing: a command commits its events and answers; the event
//! reaches the router at once and its offer follows in the next batch. When an instance dies,
//! its leases lapse within [`LEASE_TTL_MS`] and another instance takes them over (a new epoch),
//! rebuilding from the store; a router that lost its lease finds out at its next commit (the
//! fence in [`TenantRouter::apply`]) and stops.
//!
//! # Defaults
//!
//! A conversation without a queue (or whose queue was deleted) waits in the tenant's *default
//! queue*: the first queue by id. Agents who list no queue work the default queue. A tenant
//! without any queue routes through a built-in queue `default` (longest idle, 30 s offers) that
//! every agent works. Agents with status `available` get offers; `busy` agents count as staffed
//! but get none; `away` and `offline` agents are not staffed and lose their pending offers (a
//! queue nobody staffs defers its conversations). An agent who lets an offer lapse in a
//! `set_away` queue is set `away` in the batch that carries the lapse (`missed_offer`); a
//! decline keeps her out of that conversation for the queue's cool-down only. Capacity counts
//! what an agent owns and what is offered to her (a transfer offered to her by name included);
//! commands check it in their own transaction too (`service::run_commands_as`).
//!
//! # Transfers
//!
//! A transfer waits for its target while the owner keeps the conversation (state `assigned`,
//! `transfer` set). A transfer to a named agent is an offer to that agent with the accept
//! window of the target queue (or the conversation's queue): the router keeps the
//! conversation with its owner and counts the offer against the target's capacity until she
//! answers; the live router lapses it when due, which cancels the transfer. A transfer to a queue enters the router as a waiting
//! conversation of that queue (priority and waiting time from the request, overflow steps
//! off), never offered to the owner; its offers, declines and lapses work as for any queued
//! conversation, and the owner's capacity stays taken until someone accepts. While the target
//! queue is closed it waits (it is not deferred). The owner or a supervisor may withdraw it.
//!
//! # Queue positions
//!
//! Positions and estimated waits are not written as events: the conversation's position is
//! read from the live router when asked for ([`Routing::position`]).

mod backlog;
pub mod decisions;
pub mod live;
pub mod settings;
pub mod snapshot;

pub use live::{Change, TenantRouter};
pub use settings::{
    BUILTIN_QUEUE, BUSINESS_HOURS, QueueSettings, TransferTarget, parse_queue_settings,
    primary_language,
};

use baton_core::conversation::EventKind;
use baton_core::routing::Position;
use baton_core::{AgentId, ConversationId, TenantId, Timestamp};
use baton_store::{Store, StoreResult, StoredEvent};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// How long a routing lease lasts without renewal (ms). Renewed every [`RENEW_EVERY`]; an
/// instance that dies loses its tenants to another within this time.
pub const LEASE_TTL_MS: i64 = 3_000;
/// How often leases are renewed (and free ones taken).
const RENEW_EVERY: Duration = Duration::from_millis(1_000);
/// After a failed build or batch, the router waits this long before trying again.
const RETRY_AFTER: Duration = Duration::from_millis(200);
/// Rounds of re-reconciling refused decisions before a batch gives up and rebuilds.
const MAX_ROUNDS: usize = 4;

/// The current time in milliseconds (the engine's clock).
fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    Timestamp::from_millis(ms as i64)
}

enum Input {
    Event(Arc<StoredEvent>),
    Rebuild,
    Barrier(oneshot::Sender<()>),
    Position(ConversationId, oneshot::Sender<Option<Position>>),
    WhyNot(
        ConversationId,
        AgentId,
        oneshot::Sender<Option<Vec<String>>>,
    ),
}

struct Handle {
    epoch: i64,
    inputs: mpsc::UnboundedSender<Input>,
    task: tokio::task::JoinHandle<()>,
}

/// Live routing of one instance. See the module docs.
#[derive(Clone)]
pub struct Routing {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    holder: String,
    tenants: Mutex<HashMap<TenantId, Handle>>,
    /// The seq of the last event handed to the tenant routers.
    dispatched: watch::Sender<i64>,
}

impl std::fmt::Debug for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routing")
            .field("holder", &self.inner.holder)
            .finish_non_exhaustive()
    }
}

impl Routing {
    /// Routing over `store`, under a fresh holder id for this instance. Nothing runs until
    /// [`Routing::run`].
    pub fn new(store: Arc<dyn Store>) -> Routing {
        let holder = format!("{}-{}", std::process::id(), baton_store::ids::new_suffix());
        Routing {
            inner: Arc::new(Inner {
                store,
                holder,
                tenants: Mutex::new(HashMap::new()),
                dispatched: watch::channel(0).0,
            }),
        }
    }

    /// This instance's lease holder id.
    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    /// Routes until `stop` turns true; then stops every tenant router and gives their leases
    /// up.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        let mut events = self.inner.store.subscribe();
        // Leases are taken and renewed beside the event loop, so a slow database write never
        // holds up the dispatch of events.
        let (wake, mut woken) = mpsc::unbounded_channel::<TenantId>();
        let leases = {
            let routing = self.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let mut renew = tokio::time::interval(RENEW_EVERY);
                renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = stop.changed() => return,
                        _ = renew.tick() => routing.renew_all().await,
                        Some(tenant) = woken.recv() => routing.ensure(&tenant).await,
                    }
                }
            })
        };
        loop {
            if *stop.borrow() {
                break;
            }
            tokio::select! {
                _ = stop.changed() => break,
                received = events.recv() => match received {
                    Ok(event) => self.dispatch(event, &wake),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "routing fell behind the event stream; rebuilding every tenant");
                        let tenants = self.inner.tenants.lock().unwrap_or_else(|e| e.into_inner());
                        for handle in tenants.values() {
                            let _ = handle.inputs.send(Input::Rebuild);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
        }
        leases.abort();
        let _ = leases.await;
        let handles: Vec<(TenantId, Handle)> = self
            .inner
            .tenants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .collect();
        for (tenant, handle) in handles {
            handle.task.abort();
            let _ = handle.task.await;
            let released = self
                .inner
                .store
                .acquire_routing_lease(&tenant, &self.inner.holder, now(), -1)
                .await;
            if let Err(e) = released {
                tracing::debug!(%tenant, error = %e, "routing lease not given up; it lapses");
            }
        }
    }

    fn dispatch(&self, event: Arc<StoredEvent>, wake: &mpsc::UnboundedSender<TenantId>) {
        let seq = event.seq;
        let tenant = event.tenant.clone();
        let routed = {
            let tenants = self.inner.tenants.lock().unwrap_or_else(|e| e.into_inner());
            match tenants.get(&tenant) {
                Some(handle) => {
                    if change_of(&event).is_some() {
                        let _ = handle.inputs.send(Input::Event(event));
                    }
                    true
                }
                None => false,
            }
        };
        if !routed {
            // A tenant this instance does not route yet (new, or another instance's).
            let _ = wake.send(tenant);
        }
        self.inner.dispatched.send_if_modified(|s| {
            let newer = seq > *s;
            if newer {
                *s = seq;
            }
            newer
        });
    }

    async fn renew_all(&self) {
        let mut tenants: BTreeSet<TenantId> = match self.inner.store.tenant_ids().await {
            Ok(ids) => ids.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list tenants for routing leases");
                return;
            }
        };
        tenants.extend(
            self.inner
                .tenants
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .keys()
                .cloned(),
        );
        for tenant in tenants {
            self.ensure(&tenant).await;
        }
    }

    /// Takes or renews the tenant's lease; starts its router when newly held, stops it when
    /// the lease went to another instance.
    async fn ensure(&self, tenant: &TenantId) {
        let granted = self
            .inner
            .store
            .acquire_routing_lease(tenant, &self.inner.holder, now(), LEASE_TTL_MS)
            .await;
        let mut tenants = self.inner.tenants.lock().unwrap_or_else(|e| e.into_inner());
        match granted {
            Ok(Some(epoch)) => {
                let running = tenants
                    .get(tenant)
                    .is_some_and(|h| h.epoch == epoch && !h.task.is_finished());
                if running {
                    return;
                }
                if let Some(old) = tenants.remove(tenant) {
                    old.task.abort();
                }
                let (inputs, rx) = mpsc::unbounded_channel();
                let task = tokio::spawn(run_tenant(
                    self.inner.store.clone(),
                    tenant.clone(),
                    self.inner.holder.clone(),
                    epoch,
                    rx,
                ));
                tracing::info!(%tenant, epoch, holder = %self.inner.holder, "routing this tenant");
                tenants.insert(
                    tenant.clone(),
                    Handle {
                        epoch,
                        inputs,
                        task,
                    },
                );
            }
            Ok(None) => {
                if let Some(old) = tenants.remove(tenant) {
                    tracing::info!(%tenant, "routing lease held by another instance; stopped routing this tenant");
                    old.task.abort();
                }
            }
            Err(e) => tracing::warn!(%tenant, error = %e, "cannot take or renew the routing lease"),
        }
    }

    /// Waits until the tenant's router has handled every event committed before this call
    /// and committed its decisions about them (at most `limit`). Returns false when this
    /// instance does not route the tenant or the wait timed out. For tests and tools that
    /// need "routing has caught up"; requests never call it.
    pub async fn settled(&self, tenant: &TenantId, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        let Ok(target) = self.inner.store.last_event_seq().await else {
            return false;
        };
        let mut dispatched = self.inner.dispatched.subscribe();
        let caught_up = tokio::time::timeout_at(deadline, dispatched.wait_for(|s| *s >= target));
        if !matches!(caught_up.await, Ok(Ok(_))) {
            return false;
        }
        if !self.routes(tenant) {
            self.ensure(tenant).await;
        }
        let (done, wait) = oneshot::channel();
        if !self.send(tenant, Input::Barrier(done)) {
            return false;
        }
        matches!(tokio::time::timeout_at(deadline, wait).await, Ok(Ok(())))
    }

    /// Whether this instance routes the tenant now.
    pub fn routes(&self, tenant: &TenantId) -> bool {
        self.inner
            .tenants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)
            .is_some_and(|h| !h.task.is_finished())
    }

    /// Where a waiting conversation stands in its queue, from the live router (`None` when it
    /// is not waiting, or this instance does not route its tenant).
    pub async fn position(&self, tenant: &TenantId, id: &ConversationId) -> Option<Position> {
        let (answer, wait) = oneshot::channel();
        if !self.send(tenant, Input::Position(id.clone(), answer)) {
            return None;
        }
        tokio::time::timeout(Duration::from_secs(2), wait)
            .await
            .ok()?
            .ok()?
    }

    /// Why a conversation is not offered to `agent` now (see
    /// [`baton_core::routing::Router::why_not`]), and whether the live router said so (true)
    /// or, on an instance that does not route the tenant, the stored state
    /// ([`live::why_not_stored`]). `None` when it is not routed (closed, with the bot).
    pub async fn why_not(
        &self,
        tenant: &TenantId,
        id: &ConversationId,
        agent: &AgentId,
    ) -> StoreResult<Option<(Vec<String>, bool)>> {
        let (answer, wait) = oneshot::channel();
        if self.send(tenant, Input::WhyNot(id.clone(), agent.clone(), answer))
            && let Ok(Ok(live)) = tokio::time::timeout(Duration::from_secs(2), wait).await
        {
            return Ok(live.map(|why| (why, true)));
        }
        let stored =
            live::why_not_stored(self.inner.store.as_ref(), tenant, id, agent, now()).await?;
        Ok(stored.map(|why| (why, false)))
    }

    /// Makes the tenant's router rebuild from the store (e.g. after a change it cannot see in
    /// the event log).
    pub fn rebuild(&self, tenant: &TenantId) {
        self.send(tenant, Input::Rebuild);
    }

    fn send(&self, tenant: &TenantId, input: Input) -> bool {
        self.inner
            .tenants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)
            .is_some_and(|h| h.inputs.send(input).is_ok())
    }
}

/// Whether a conversation event can change who waits for or holds a conversation. Every
/// variant is named, so a new one must be decided here.
fn moves_routing(event: &EventKind) -> bool {
    use EventKind as E;
    match event {
        E::Reopened
        | E::HandoffRequested { .. }
        | E::Offered { .. }
        | E::OfferDeclined { .. }
        | E::OfferExpired { .. }
        | E::Assigned { .. }
        | E::TransferRequested { .. }
        | E::TransferCancelled { .. }
        | E::Transferred { .. }
        | E::Deferred { .. }
        | E::Requeued
        | E::PriorityChanged { .. }
        | E::Closed { .. }
        | E::QueueChanged { .. }
        | E::OverflowStep { .. }
        | E::FirstReplyOverdue { .. } => true,
        E::Started { .. }
        | E::MessageAdded { .. }
        | E::EscalationEvaluated { .. }
        | E::BotReplyHeld { .. }
        | E::BotReplyApproved { .. }
        | E::BotReplyRejected { .. }
        | E::BriefBuilt { .. }
        | E::DraftUsed { .. }
        | E::CsatRecorded { .. }
        | E::CustomerEmailSet { .. }
        | E::QueuePositions { .. }
        | E::CapacityOverridden { .. } => false,
    }
}

/// What an event means to the router. A conversation event this version cannot read counts
/// as a change (the router re-reads the conversation).
fn change_of(event: &StoredEvent) -> Option<Change> {
    if let Some(id) = &event.conversation {
        return event
            .event()
            .is_none_or(moves_routing)
            .then(|| Change::Conversation(id.clone()));
    }
    match event.kind() {
        "agent_created" | "agent_updated" | "agent_status_changed" => event
            .record()
            .and_then(|data| data.get("agent"))
            .and_then(|a| a.as_str())
            .and_then(|a| AgentId::parse(a).ok())
            .map(Change::Agent),
        "queue_created" | "queue_updated" | "queue_deleted" | "business_hours_updated" => {
            Some(Change::Config)
        }
        _ => None,
    }
}

/// The task that owns one tenant's router while this instance holds its lease.
async fn run_tenant(
    store: Arc<dyn Store>,
    tenant: TenantId,
    holder: String,
    epoch: i64,
    mut inputs: mpsc::UnboundedReceiver<Input>,
) {
    let mut live: Option<TenantRouter> = None;
    let mut pending: BTreeSet<Change> = BTreeSet::new();
    let mut barriers: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        if live.is_none() {
            pending.clear();
            match build(&store, &tenant, &holder, epoch).await {
                Ok(Some(router)) => live = Some(router),
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(%tenant, error = %e, "cannot (re)build the router; retrying");
                    tokio::time::sleep(RETRY_AFTER).await;
                    continue;
                }
            }
            // A rebuild handled everything that came before the barriers waiting for it (once
            // its first decisions are all committed).
            if !live.as_ref().is_some_and(TenantRouter::has_backlog) {
                for done in barriers.drain(..) {
                    let _ = done.send(());
                }
            }
        }
        let router = live.as_mut().expect("built above");
        // Decisions left to commit: a batch at once (it commits their next chunk), after what
        // arrived meanwhile.
        let wake = if router.has_backlog() {
            Some(now())
        } else {
            router.next_wake()
        };
        let sleep = async {
            match wake {
                Some(at) => {
                    let ms = at.millis_since(now()).max(0) as u64;
                    tokio::time::sleep(Duration::from_millis(ms)).await
                }
                None => std::future::pending().await,
            }
        };
        let mut rebuild = false;
        // When the batch's oldest change was made (its event's time), for the batch's log line.
        let mut oldest: Option<Timestamp> = None;
        let mut take = |input: Input, router: &TenantRouter| match input {
            Input::Event(event) => match change_of(&event) {
                Some(Change::Config) => rebuild = true,
                Some(change) => {
                    oldest = Some(oldest.map_or(event.at, |o| o.min(event.at)));
                    pending.insert(change);
                }
                None => {}
            },
            Input::Rebuild => rebuild = true,
            Input::Barrier(done) => barriers.push(done),
            Input::Position(id, answer) => {
                let _ = answer.send(router.position(&id));
            }
            Input::WhyNot(id, agent, answer) => {
                let _ = answer.send(router.why_not(&id, &agent, now()));
            }
        };
        let mut timer = false;
        tokio::select! {
            input = inputs.recv() => match input {
                Some(input) => take(input, router),
                None => return,
            },
            _ = sleep => timer = true,
        }
        // Everything that arrived meanwhile joins the batch.
        while let Ok(input) = inputs.try_recv() {
            take(input, router);
        }
        if rebuild {
            live = None;
            continue;
        }
        let now = now();
        let (mut decisions, lapsed) = if timer {
            router.tick(now)
        } else {
            (Vec::new(), Vec::new())
        };
        let changes = std::mem::take(&mut pending);
        let count = changes.len();
        let started = std::time::Instant::now();
        let result = match router.learn(changes, now).await {
            Ok(more) => {
                decisions.extend(more);
                let learned = started.elapsed();
                let decided = decisions.len();
                let settled = settle(router, decisions, lapsed).await;
                // What an operator (or a benchmark) needs to see where an offer's time went:
                // how late the batch's changes reached the router, reading them, committing.
                tracing::debug!(
                    %tenant,
                    changes = count,
                    decisions = decided,
                    behind_ms = oldest.map(|o| now.millis_since(o)),
                    learn_us = learned.as_micros() as u64,
                    commit_us = (started.elapsed() - learned).as_micros() as u64,
                    backlog = router.backlog_len(),
                    "routing batch"
                );
                settled
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "routing batch failed; rebuilding");
                live = None;
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        }
        if !router.has_backlog() {
            for done in barriers.drain(..) {
                let _ = done.send(());
            }
        }
    }
}

/// Builds the tenant's router from the store and carries out its first decisions. Ok(None):
/// the lease is lost.
async fn build(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    holder: &str,
    epoch: i64,
) -> baton_store::StoreResult<Option<TenantRouter>> {
    let (mut router, decisions) =
        TenantRouter::build(store.clone(), tenant, holder, epoch, now()).await?;
    Ok(settle(&mut router, decisions, Vec::new())
        .await?
        .then_some(router))
}

/// Applies a batch and re-reconciles what its fence refused, a few rounds at most. Ok(false):
/// the lease is lost.
async fn settle(
    router: &mut TenantRouter,
    mut decisions: Vec<baton_core::routing::Decision>,
    mut lapsed: Vec<ConversationId>,
) -> baton_store::StoreResult<bool> {
    for _ in 0..MAX_ROUNDS {
        let applied = router.apply(decisions, lapsed, now()).await?;
        if applied.lost_lease {
            tracing::info!(tenant = %router.tenant(), "routing lease lost; this instance stops routing the tenant");
            return Ok(false);
        }
        if applied.stale.is_empty() {
            return Ok(true);
        }
        let changes = applied.stale.into_iter().map(Change::Conversation);
        decisions = router.learn(changes, now()).await?;
        lapsed = Vec::new();
    }
    Err(baton_store::StoreError::Conflict {
        code: "routing_behind",
        message: "the router kept disagreeing with the store".into(),
    })
}
